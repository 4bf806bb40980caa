//! Switchboard routes website chats into Microsoft Teams.
//!
//! Data flows one way: **edges** (HTTP: bot, interact, whatsapp, preferences, admin, reporting) turn
//! wire formats into domain commands → the **engine** decides → **effects** are executed by
//! **adapters** (Bot Connector, Graph, …) whose results come back as events. The **store**
//! persists state and an outbox of effects.
//!
//! The modules by layer, lowest first: a layer ranks by where it first appears in this table.
//! `.ci/check-imports` reads the table and the list below it in CI. A module names modules of
//! its own layer or of the layers above it in the table; an import that runs up a layer (a file
//! naming a module of a layer further down the table) must be in the list below. Some admit no
//! exception: an edge never names another edge; nothing but composition names `startup`;
//! nothing beneath the edges names an edge; a core or engine module never names an adapters,
//! app / http, edge or composition module; a shared domain module never names [`app`] nor an
//! edge or composition module. Every module `lib.rs` declares has a row.
//!
//! | layer | module | owns |
//! |---|---|---|
//! | core | [`config`] | typed settings: defaults → `switchboard.toml` → environment |
//! | core | [`telemetry`] | `tracing` setup |
//! | core | [`clock`] | injected time, RFC 3339 formatting |
//! | core | [`security`] | secrets: making, hashing, comparing in constant time |
//! | core | [`strict_json`] | JSON read with duplicate keys refused (tenant files, admin documents) |
//! | core | [`hidden_format`] | the invisible and bidi formatting characters names may not carry |
//! | core | [`workflow`] | IM workflows: model, parser, validator, interpreter (pure) |
//! | core | [`distribution`] | queues, offers, RONA, ACW, capacity (pure state machine) |
//! | core | [`cards`] | Adaptive Cards templating engine, card catalog, Teams limits checks |
//! | store | [`store`] | sqlx persistence on SQLite (WAL) or PostgreSQL, one SQL text for both, migrations, conversation references, registrations, API keys, consents, outbox |
//! | engine | [`engine`] | one actor per tenant: its messages ([`engine::messages`]: commands, effects, facts, views), the pure reducer ([`engine::core`]), its log and snapshots, its effect queue ([`engine::effects`]), the directory → engine sync, the workflow HTTP worker |
//! | engine | [`directory`] | tenants, services, users, workflows, calendars as versioned documents; contacts; document checks |
//! | adapters | [`botframework`] | Activity wire types, inbound JWT validation, Connector client |
//! | adapters | [`outbox`] | the calls queued for Teams, tenant webhooks and WhatsApp: queued in their callers' transactions, delivered per lane in order, settled, recovered after a restart |
//! | adapters | [`graph`] | Microsoft Graph client (group chats, app installation) |
//! | adapters | [`entra`] | Entra ID sign-in (OAuth2 + PKCE, id token check, admin consent link) |
//! | adapters | [`webhooks`] | tenant webhook endpoints, events of engine effects, signed delivery via the outbox |
//! | adapters | [`manifest`] | the Teams app package |
//! | adapters | [`whatsapp_cloud`] | Meta's WhatsApp Cloud API: webhook payloads and their signature, the client for sends, media and templates |
//! | shared domain | [`customer`] | the customer's session: rows, event stream, gates, ends |
//! | shared domain | [`registration`] | enrolling and unregistering a user with the bot |
//! | shared domain | [`tenant_file`] | a whole tenant as one JSON file: export, import |
//! | shared domain | [`demo`] | the demo tenant seeded in anonymous dev mode |
//! | app / http | [`app`] | [`app::App`] and [`app::AppState`]: what handlers and workers share |
//! | app / http | [`http`] | router assembly, problem+json envelope, extractors, query parser, HTML, rate and stream limits, listener, health endpoints |
//! | app / http | [`cluster`] | several instances on one PostgreSQL store: the owner's lease and fence, forwarding to the owner, customer events by `LISTEN`/`NOTIFY` |
//! | edge | [`bot`] | Teams activity handling behind `POST /api/messages` |
//! | edge | [`interact`] | the customer API (`/api/interact/v1`), widget, preview page, inactivity timeout |
//! | edge | [`preferences`] | the `/preferences` page: Entra ID sign-in, bot registration, admin consent |
//! | edge | [`admin`] | the admin API (`/api/admin/v1`): directory documents, tenant settings, live view, webhooks, tenant files |
//! | edge | [`whatsapp`] | the WhatsApp webhook (`/api/whatsapp/webhook`), inbound messages into sessions, media, send outcomes, the dev-mode simulator |
//! | edge | [`reporting`] | session and offer history, KPIs, transcripts (admin API), `/metrics` |
//! | composition | [`startup`] | [`startup::Application::build`]: wiring, the edges' routes, workers, graceful shutdown |
//! | composition | [`cli`] | the command line the binary parses (each subcommand's body is in the binary's `commands` module) |
//!
//! Imports that run up a layer (`.ci/check-imports` allows these and no others):
//! none; every file names modules of its own layer or of the layers above it in the table.
//!
//! Inbound: `POST /api/messages` → [`botframework::auth::VerifiedActivity`] extractor (size,
//! header, JWT, activity, endorsements, serviceurl, tenant) → [`bot::messages`] → store.
//! Outbound: a caller queues a [`botframework::connector::ConnectorCall`] in the outbox inside
//! its transaction → [`outbox::Dispatcher`] delivers it through
//! [`botframework::connector::ConnectorClient`] in per-conversation order.
//! Engine effects: the actor records them in its command's transaction, then hands them to
//! their consumer's in-memory inbox ([`engine::effects::EffectQueue`]): customer events
//! ([`customer::events`]), Teams ([`bot::teams_worker`], sessions in parallel, each in order),
//! workflow HTTP requests ([`engine::http_worker`]). The table is read only at start.

// The map links the crate-private edges; read it with `cargo doc --document-private-items`.
#![allow(rustdoc::private_intra_doc_links)]

pub(crate) mod admin;
pub mod app;
pub(crate) mod bot;
pub mod botframework;
pub mod cards;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod config;
pub(crate) mod customer;
pub mod demo;
pub mod directory;
pub mod distribution;
pub mod engine;
pub(crate) mod entra;
pub(crate) mod graph;
pub mod hidden_format;
pub(crate) mod http;
pub mod interact;
pub mod manifest;
pub mod outbox;
pub(crate) mod preferences;
pub(crate) mod registration;
pub mod reporting;
pub mod security;
pub mod startup;
pub mod store;
pub mod strict_json;
pub mod telemetry;
pub mod tenant_file;
pub(crate) mod webhooks;
pub(crate) mod whatsapp;
pub mod whatsapp_cloud;
pub mod workflow;
