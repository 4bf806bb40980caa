//! Switchboard routes website chats into Microsoft Teams.
//!
//! Data flows one way: **edges** (HTTP: bot, later interact, preferences, admin) turn wire
//! formats into domain commands → the **engine** decides → **effects** are executed by
//! **adapters** (Bot Connector, Graph, …) whose results come back as events. The **store**
//! persists state and an outbox of effects.
//!
//! | module | owns |
//! |---|---|
//! | [`config`] | typed settings: defaults → `switchboard.toml` → environment |
//! | [`telemetry`] | `tracing` setup |
//! | [`clock`] | injected time |
//! | [`startup`] | [`startup::Application::build`]: wiring, listener, workers, graceful shutdown |
//! | [`http`] | router, problem+json envelope, health endpoints |
//! | [`botframework`] | Activity wire types, inbound JWT validation, Connector client, outbox delivery |
//! | [`bot`] | Teams activity handling behind `POST /api/messages` |
//! | [`admin`] | the admin API (`/api/admin/v1`): API keys, directory documents, live view |
//! | [`reporting`] | `/metrics` (Prometheus text) |
//! | [`preferences`] | the `/preferences` page: Entra ID sign-in, bot registration, admin consent |
//! | [`cards`] | Adaptive Cards templating engine, card catalog, Teams limits checks |
//! | [`store`] | sqlx persistence (SQLite, WAL), migrations, conversation references, outbox, the engine's effect queue |
//! | [`webhooks`] | tenant webhook endpoints, events of engine effects, signed delivery via the outbox |
//!
//! Inbound: `POST /api/messages` → [`botframework::auth::VerifiedActivity`] extractor (size,
//! header, JWT, activity, endorsements, serviceurl, tenant) → [`bot::messages`] → store.
//! Outbound: a caller queues a [`botframework::connector::ConnectorCall`] in the outbox inside
//! its transaction → [`botframework::delivery::Dispatcher`] delivers it through
//! [`botframework::connector::ConnectorClient`] in per-conversation order.
//! Engine effects: the actor records them in its command's transaction, then hands them to
//! their consumer's in-memory inbox ([`store::effects::EffectQueue`]): customer events
//! ([`customer::events`]), Teams ([`bot::effects`], sessions in parallel, each in order),
//! workflow HTTP requests ([`engine::http_worker`]). The table is read only at start.

pub mod admin;
pub mod app;
pub mod bot;
pub mod botframework;
pub mod cards;
pub mod cli;
pub mod clock;
pub mod config;
pub mod customer;
pub mod demo;
pub mod directory;
pub mod distribution;
pub mod engine;
pub mod entra;
pub mod graph;
pub mod http;
pub mod interact;
pub mod manifest;
pub mod preferences;
pub mod registration;
pub mod reporting;
pub mod security;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tenant_file;
pub mod webhooks;
pub mod workflow;
