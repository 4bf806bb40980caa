//! What handlers and workers share: [`App`], one per running service, behind the cheap
//! [`AppState`] handle every axum handler and worker receives.
//!
//! This module sits beneath the HTTP edges (`admin`, `bot`, `interact`, `preferences`,
//! `reporting`): they name it, never `startup`, which only builds the `App`
//! (`startup::Application::build`) and composes the routes. It holds no logic
//! beyond accessors and the conversions into what the shared domain's functions take of it
//! ([`crate::customer::ending::Deps`], [`crate::registration::Deps`]), which never name `App`.

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::FromRef;
use tokio_util::sync::CancellationToken;

use crate::botframework::auth::InboundAuth;
use crate::botframework::connector::ConnectorClient;
use crate::cards::CardCatalog;
use crate::clock::Clock;
use crate::config::Settings;
use crate::customer::events::EventHub;
use crate::engine::effects::EffectQueue;
use crate::engine::registry::Engines;
use crate::outbox::Outbox;
use crate::store::conversations::ConversationReferences;
use crate::store::{self, Pool};

/// Shared state of the running service.
#[derive(Clone)]
pub struct AppState(Arc<App>);

impl AppState {
    /// Wraps the service's one `App` (built by `startup::Application::build`).
    pub fn new(app: App) -> Self {
        AppState(Arc::new(app))
    }
}

/// What handlers and workers share.
pub struct App {
    /// The typed settings the service started with.
    pub settings: Settings,
    /// The store (SQLite, WAL): every write and the reads off the hot path.
    pub pool: Pool,
    /// The time everything reads (a virtual clock in tests).
    pub clock: Arc<dyn Clock>,
    /// Validates inbound Bot Framework JWTs (the `VerifiedActivity` extractor reads it).
    pub inbound_auth: Arc<InboundAuth>,
    /// The Bot Connector client the outbox delivers through.
    pub connector: Arc<ConnectorClient>,
    /// Connector calls queued in a transaction, delivered by the dispatcher.
    pub outbox: Arc<Outbox>,
    /// Stored Teams conversation references, per user and per conversation.
    pub references: ConversationReferences,
    /// The Adaptive Cards the bot renders.
    pub cards: Arc<CardCatalog>,
    /// One engine (actor) per tenant, started on first use.
    pub engines: Arc<Engines>,
    /// Engine effects on their way to their consumers (in memory; recovered at start).
    pub effects: Arc<EffectQueue>,
    /// Customer-visible session events, fanned out to the open event streams.
    pub events: Arc<EventHub>,
    /// Per-client request rate limits of the customer API.
    pub limits: crate::http::limits::Limits,
    /// Orders each session's messages and ends (see `customer::ending`).
    pub session_gates: crate::customer::gates::SessionGates,
    /// The Microsoft Graph client (calendars, user lookups).
    pub graph: Arc<crate::graph::GraphClient>,
    /// The conversations that may hold an open chatroom (a superset of `chatrooms`), so that a
    /// message in any other costs no read.
    pub chatroom_conversations: store::superset::Superset,
    /// The personal conversations in which a supervisor may have barged in (a superset of
    /// `chat_barge_ins`), so that a message in any other costs no read.
    pub barge_in_conversations: store::superset::Superset,
    /// Activities being handled now, so that Teams' re-sends of them do nothing.
    pub resends: crate::botframework::resends::Resends,
    /// Agents' messages carried out after the answer, in order per conversation.
    pub in_order: crate::botframework::in_order::InOrder,
    /// When each session last showed the customer that the agent is typing.
    pub typing: moka::sync::Cache<String, i64>,
    /// The service's public origin (`server.public_url`, else the bound address).
    pub public_base: String,
    /// Entra ID sign-in for the Preferences page (`None` in anonymous dev mode).
    pub signin: Option<Arc<crate::entra::Signin>>,
    /// Cancelled when the service starts shutting down: long-lived responses (customer event
    /// streams) end, so the graceful shutdown does not wait for their clients to leave.
    pub stopping: CancellationToken,
    /// Connections for the reads every inbound message makes.
    pub hot_reads: store::HotReads,
    /// The open HTTP connections, within the `server.*` limits.
    pub connections: Arc<crate::http::serve::Connections>,
    /// Customer event streams open now, per session and per client address.
    pub streams: crate::http::streams::Streams,
    /// Stores verified WhatsApp webhooks (group commit).
    pub whatsapp_writer: crate::store::whatsapp::InboundWriter,
    /// Woken when a WhatsApp webhook stored new items.
    pub whatsapp_inbound: Arc<tokio::sync::Notify>,
    /// Woken when a WhatsApp message brought media to fetch.
    pub whatsapp_media: Arc<tokio::sync::Notify>,
    /// WhatsApp messages counted for `/metrics`.
    pub whatsapp_counts: crate::whatsapp_cloud::Counts,
    /// HTTP requests answered, by route and status, for `/metrics`.
    pub http_stats: crate::telemetry::HttpStats,
    /// The WhatsApp Cloud API client (sends go through the outbox; templates are listed here).
    pub whatsapp_cloud: Arc<crate::whatsapp_cloud::client::CloudClient>,
    /// The instances sharing a PostgreSQL store, and which owns the tenants (`None` on SQLite,
    /// where this process owns them all).
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
    /// The one outbound HTTP client (timeouts, a user agent, no redirects:
    /// [`crate::startup::http_client`]); the adapters hold clones of it.
    pub http: reqwest::Client,
}

impl App {
    /// The Preferences page's public address.
    pub fn preferences_url(&self) -> String {
        format!("{}/preferences", self.public_base)
    }
}

impl<'a> From<&'a App> for crate::customer::ending::Deps<'a> {
    fn from(app: &'a App) -> Self {
        crate::customer::ending::Deps {
            pool: &app.pool,
            clock: &*app.clock,
            engines: &app.engines,
            events: &app.events,
            gates: &app.session_gates,
        }
    }
}

impl<'a> From<&'a AppState> for crate::customer::ending::Deps<'a> {
    fn from(app: &'a AppState) -> Self {
        Self::from(&**app)
    }
}

impl<'a> From<&'a App> for crate::registration::Deps<'a> {
    fn from(app: &'a App) -> Self {
        crate::registration::Deps {
            pool: &app.pool,
            clock: &*app.clock,
            engines: &app.engines,
            outbox: &app.outbox,
            cards: &app.cards,
            preferences_url: app.preferences_url(),
        }
    }
}

impl<'a> From<&'a AppState> for crate::registration::Deps<'a> {
    fn from(app: &'a AppState) -> Self {
        Self::from(&**app)
    }
}

impl Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

impl FromRef<AppState> for Arc<InboundAuth> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.inbound_auth)
    }
}
