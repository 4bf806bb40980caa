//! Typed settings, layered: built-in defaults → `switchboard.toml` → the Bot Framework SDKs'
//! conventional variables (`MicrosoftAppId`, …) → `SWITCHBOARD_…` environment variables
//! (`__` nests: `SWITCHBOARD_BOT__OPENID_METADATA_URL`).
//!
//! This is the only module that reads the environment, and it does so through the map handed
//! to [`Settings::load`], so tests never touch the process environment. Everything is parsed
//! into typed values here: a bad value fails at boot with a message naming the key.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use config::{Config, Environment, File, FileFormat};
use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use self::raw::RawSettings;

mod keys;
mod networks;
mod raw;
mod service_urls;

pub use self::networks::{Network, TrustedProxies, canonical_ip};
pub use self::service_urls::{InvalidPattern, ServiceUrlAllowList};

/// Default Bot Framework OpenID metadata document for channel (Teams) tokens.
pub const DEFAULT_OPENID_METADATA_URL: &str =
    "https://login.botframework.com/v1/.well-known/openidconfiguration";
/// Default Microsoft Graph base URL.
pub const DEFAULT_GRAPH_BASE_URL: &str = "https://graph.microsoft.com/v1.0";
/// Default Entra ID authority (sign-in, admin consent).
pub const DEFAULT_AUTHORITY_URL: &str = "https://login.microsoftonline.com";
/// Connector service URL for users not heard from yet (reference §5).
pub const DEFAULT_SERVICE_URL: &str = "https://smba.trafficmanager.net/teams/";
/// Host patterns of the Bot Connector service for Teams (reference §2, "Implications" 4).
pub const DEFAULT_ALLOWED_SERVICE_URLS: &[&str] = &[
    "https://smba.trafficmanager.net",
    "https://*.botframework.com",
    "https://smba.infra.*.teams.microsoft.com",
    "https://smba.infra.*.teams.microsoft.us",
];
/// Service URLs added in anonymous dev mode: the Agents Playground on loopback (no token is
/// ever sent in that mode).
pub const DEV_ALLOWED_SERVICE_URLS: &[&str] = &["http://localhost:*", "http://127.0.0.1:*"];
/// The file types whose bytes Switchboard checks (`customer::files::looks_like`): images, PDF
/// and plain text. `interact.file_types` is some of them, all by default.
pub const FILE_TYPES: [&str; 6] = [
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
];

/// The Bot Framework SDKs' environment variables (and `RUST_LOG`) and the keys they stand for.
const SDK_VARIABLES: &[(&str, &str)] = &[
    ("MicrosoftAppId", "BOT__APP_ID"),
    ("MicrosoftAppPassword", "BOT__APP_PASSWORD"),
    ("MicrosoftAppType", "BOT__APP_TYPE"),
    ("MicrosoftAppTenantId", "BOT__TENANT_ID"),
    ("RUST_LOG", "LOG__FILTER"),
];

/// Validated settings of one Switchboard process.
#[derive(Debug, Clone)]
pub struct Settings {
    pub server: ServerSettings,
    pub metrics: MetricsSettings,
    pub store: StoreSettings,
    pub cluster: ClusterSettings,
    pub bot: BotSettings,
    pub graph: GraphSettings,
    pub outbox: OutboxSettings,
    pub log: LogSettings,
    pub cards: CardSettings,
    pub interact: InteractSettings,
    pub preferences: PreferencesSettings,
    pub reporting: ReportingSettings,
    pub whatsapp: WhatsAppSettings,
}

/// Default base URL of Meta's Graph API for the WhatsApp Business Cloud API.
pub const DEFAULT_WHATSAPP_GRAPH_BASE_URL: &str = "https://graph.facebook.com/v24.0";

/// The WhatsApp channel (Meta's WhatsApp Business Cloud API).
#[derive(Debug, Clone)]
pub struct WhatsAppSettings {
    /// The Meta app's App Secret: every webhook's `X-Hub-Signature-256` is checked with it.
    /// Without it every webhook is refused.
    pub app_secret: Option<SecretString>,
    /// The token Meta's subscription handshake must present. Without it the handshake is
    /// refused.
    pub verify_token: Option<SecretString>,
    /// Graph API base URL (tests point it at a mock).
    pub graph_base_url: Url,
}

/// Reporting and transcripts.
#[derive(Debug, Clone)]
pub struct ReportingSettings {
    /// KPIs count a queued task as accepted within SLA when accepted within this long.
    pub acceptance_sla: Duration,
    /// Transcripts (and everything else holding what customers wrote) are deleted this long
    /// after their session ended.
    pub transcript_retention: Duration,
}

/// The Preferences page: users sign in with Entra ID (OAuth2 authorization code + PKCE).
#[derive(Debug, Clone)]
pub struct PreferencesSettings {
    /// The Entra ID authority, e.g. `https://login.microsoftonline.com`; the sign-in, token,
    /// metadata and admin-consent endpoints hang off `{authority}/{tenant}/…`.
    pub authority_url: Url,
    /// How long a sign-in lasts.
    pub session_ttl: Duration,
}

/// The customer side.
#[derive(Debug, Clone)]
pub struct InteractSettings {
    /// A session without customer activity for this long is ended.
    pub inactivity: Duration,
    /// The largest file a customer may upload in the widget (0: no uploads); also the
    /// largest an agent may send.
    pub upload_max_bytes: usize,
    /// How long the link to a file sent in a chat works.
    pub file_link: Duration,
    /// The file types chats take, both ways (`interact.file_types`; empty: none): widget
    /// uploads, agents' files and WhatsApp media.
    pub file_types: Vec<&'static str>,
    /// Bytes of uploads one chat may keep stored (`interact.upload_session_max_bytes`).
    pub upload_session_max_bytes: u64,
    /// Bytes of customers' files (uploads and WhatsApp media) one tenant may keep stored
    /// (`interact.upload_tenant_max_bytes`).
    pub upload_tenant_max_bytes: u64,
    /// Uploads one client address may start per minute (`interact.uploads_per_minute`).
    pub uploads_per_minute: usize,
}

#[derive(Debug, Clone)]
pub struct CardSettings {
    /// Folder of restyled card templates (`{name}.json`) replacing the built-in ones.
    pub dir: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    /// An `EnvFilter` directive, e.g. `info` or `switchboard=debug,info`.
    pub filter: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub bind: SocketAddr,
    pub public_url: Option<Url>,
    /// A request head must arrive within this long of the connection opening (or of the
    /// previous response on a kept-alive connection).
    pub header_read_timeout: Duration,
    /// Time to produce a response (a long-lived event stream only needs its first bytes).
    pub request_timeout: Duration,
    /// A connection on which no byte moves either way for this long while it waits on the
    /// peer is closed.
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_address: usize,
    /// Customer event streams open at once for one session (a newer one ends the oldest).
    pub max_streams_per_session: usize,
    /// Customer event streams open at once from one client address (more get 429).
    pub max_streams_per_address: usize,
    /// Peers whose `Forwarded` / `X-Forwarded-For` name the client.
    pub trusted_proxies: TrustedProxies,
    /// The largest tenant file the admin API's `import` takes (`server.import_max_bytes`).
    pub import_max_bytes: usize,
}

/// `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct MetricsSettings {
    /// When set, `/metrics` requires `Authorization: Bearer <token>`.
    pub token: Option<SecretString>,
}

#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub url: String,
}

/// Several instances on one PostgreSQL store (DESIGN §8b).
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    /// How the other instances reach this one; by default the bound address (a wildcard bind
    /// is reached on loopback).
    pub advertise_url: Option<Url>,
    /// How long the owner's lease lasts without a heartbeat: a paused or cut-off owner is taken
    /// over this long after its last heartbeat (a dead process at once).
    pub lease: Duration,
}

/// Whether the bot's Entra app registration is single- or multi-tenant (`MicrosoftAppType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum AppType {
    SingleTenant,
    MultiTenant,
}

/// How inbound requests are authenticated.
#[derive(Debug, Clone)]
pub enum BotAuth {
    /// No app id configured: requests without a token are accepted and no outbound token is
    /// requested. Only allowed on a loopback bind address.
    Anonymous,
    /// Bot Framework JWTs are required inbound and client-credentials tokens are sent outbound.
    Credentials(BotCredentials),
}

#[derive(Debug, Clone)]
pub struct BotCredentials {
    pub app_id: String,
    pub app_password: SecretString,
    pub app_type: AppType,
    pub tenant_id: Option<String>,
    pub token_url: Url,
}

#[derive(Debug, Clone)]
pub struct BotSettings {
    pub auth: BotAuth,
    pub openid_metadata_url: Url,
    pub allowed_service_urls: ServiceUrlAllowList,
    pub allowed_tenants: Vec<String>,
    /// Full JWKS refresh interval (reference §1.3: 24 h).
    pub jwks_refresh_interval: Duration,
    /// Least time between two refreshes caused by an unknown `kid`.
    pub jwks_unknown_kid_interval: Duration,
    pub chatroom: ChatroomMode,
    /// The Connector service URL used to reach a user before Teams has sent us anything from
    /// them (reference §5: `https://smba.trafficmanager.net/teams/`).
    pub service_url: Url,
}

impl BotSettings {
    pub fn app_id(&self) -> Option<&str> {
        match &self.auth {
            BotAuth::Anonymous => None,
            BotAuth::Credentials(c) => Some(&c.app_id),
        }
    }
}

#[derive(Debug, Clone)]
pub struct GraphSettings {
    pub base_url: Url,
    /// Token endpoint for app-only Graph tokens; `{tenant}` stands for the customer tenant.
    pub token_url: String,
    /// The Teams app's id in the tenant's app catalog (installed into chatrooms).
    pub teams_app_id: Option<String>,
}

/// Where a connected chat takes place in Teams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatroomMode {
    /// A Teams group chat created with Graph (falls back to `personal` when Graph is not
    /// configured or the tenant has not consented).
    Group,
    /// The agent's personal chat with the bot.
    Personal,
}

/// Delivery of the outbox of outbound calls.
#[derive(Debug, Clone)]
pub struct OutboxSettings {
    /// First retry delay when the Connector gives no `Retry-After`; doubled per attempt.
    pub retry_base: Duration,
    /// Largest delay between two attempts.
    pub retry_max: Duration,
    /// A call still undelivered after this long is given up and marked failed.
    pub max_age: Duration,
    /// Attempts made in one go (in memory) before the row is parked with a persisted deadline.
    pub attempts_per_claim: u32,
    /// Delivered and given-up calls are deleted this long after they were queued.
    pub retention: Duration,
    /// Connector requests a second to one tenant, over all its conversations (Teams allows an
    /// app 50 per tenant).
    pub tenant_requests_per_second: usize,
}

impl Settings {
    /// Loads settings from the optional TOML file and the given environment map.
    ///
    /// `config_file` that is `Some` must exist when `required` is true; the default file
    /// (`switchboard.toml` in the working directory) is optional.
    pub fn load(
        config_file: Option<(&Path, bool)>,
        env: &HashMap<String, String>,
    ) -> anyhow::Result<Settings> {
        let mut builder = Config::builder()
            .set_default("server.bind", "127.0.0.1:3978")?
            .set_default("server.header_read_timeout_secs", 10)?
            .set_default("server.request_timeout_secs", 30)?
            .set_default("server.idle_timeout_secs", 60)?
            .set_default("server.max_connections", 10_000)?
            .set_default("server.max_connections_per_address", 256)?
            .set_default("server.max_streams_per_session", 4)?
            .set_default("server.max_streams_per_address", 64)?
            .set_default("server.trusted_proxies", Vec::<String>::new())?
            .set_default("server.import_max_bytes", 10 * 1024 * 1024)?
            .set_default("store.url", "sqlite://switchboard.db")?
            .set_default("cluster.lease_secs", 10)?
            .set_default("bot.openid_metadata_url", DEFAULT_OPENID_METADATA_URL)?
            .set_default(
                "bot.allowed_service_urls",
                DEFAULT_ALLOWED_SERVICE_URLS.to_vec(),
            )?
            .set_default("bot.allowed_tenants", Vec::<String>::new())?
            .set_default("bot.jwks_refresh_interval_secs", 24 * 3600)?
            .set_default("bot.jwks_unknown_kid_interval_secs", 300)?
            .set_default("graph.base_url", DEFAULT_GRAPH_BASE_URL)?
            .set_default("bot.chatroom", "group")?
            .set_default("outbox.retry_base_ms", 1000)?
            .set_default("outbox.retry_max_ms", 60_000)?
            .set_default("outbox.max_age_secs", 24 * 3600)?
            .set_default("outbox.attempts_per_claim", 4)?
            .set_default("outbox.retention_secs", 7 * 24 * 3600)?
            .set_default("outbox.tenant_requests_per_second", 50)?
            .set_default("interact.inactivity_secs", 30 * 60)?
            .set_default("interact.upload_max_bytes", 10 * 1024 * 1024)?
            .set_default("interact.file_link_hours", 72)?
            .set_default("interact.upload_session_max_bytes", 50 * 1024 * 1024)?
            .set_default(
                "interact.upload_tenant_max_bytes",
                2_i64 * 1024 * 1024 * 1024,
            )?
            .set_default("interact.uploads_per_minute", 10)?
            .set_default("bot.service_url", DEFAULT_SERVICE_URL)?
            .set_default("preferences.authority_url", DEFAULT_AUTHORITY_URL)?
            .set_default("preferences.session_hours", 8)?
            .set_default("reporting.acceptance_sla_secs", 30)?
            .set_default("reporting.transcript_retention_days", 90)?
            .set_default("log.filter", "info")?
            .set_default("log.format", "text")?;

        if let Some((path, required)) = config_file {
            builder =
                builder.add_source(File::from(path).format(FileFormat::Toml).required(required));
        }

        let sdk_vars: HashMap<String, String> = SDK_VARIABLES
            .iter()
            .filter_map(|(var, key)| {
                env.get(*var)
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| ((*key).to_owned(), v.clone()))
            })
            .collect();
        builder = builder.add_source(
            Environment::default()
                .separator("__")
                .source(Some(sdk_vars)),
        );

        keys::check_variables(env)?;
        // Settings are `SWITCHBOARD_SECTION__KEY`; other variables of the prefix are not ours.
        let own_vars: HashMap<String, String> = env
            .iter()
            .filter(|(k, _)| k.starts_with("SWITCHBOARD_") && k.contains("__"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        builder = builder.add_source(
            Environment::with_prefix("SWITCHBOARD")
                .prefix_separator("_")
                .separator("__")
                .list_separator(",")
                .with_list_parse_key("bot.allowed_service_urls")
                .with_list_parse_key("bot.allowed_tenants")
                .with_list_parse_key("server.trusted_proxies")
                .with_list_parse_key("interact.file_types")
                .try_parsing(true)
                .source(Some(own_vars)),
        );

        let raw: RawSettings = builder
            .build()
            .context("reading configuration")?
            .try_deserialize()
            .map_err(|e| match keys::explain(&e.to_string()) {
                Some(explained) => anyhow::anyhow!(explained),
                None => {
                    anyhow::Error::new(e).context("configuration has a value of the wrong type")
                }
            })?;
        Settings::try_from(raw)
    }

    /// Loads settings from the process environment and `config_file` (default: an optional
    /// `switchboard.toml` in the working directory).
    pub fn from_process_env(config_file: Option<&Path>) -> anyhow::Result<Settings> {
        let env: HashMap<String, String> = std::env::vars().collect();
        match config_file {
            Some(path) => Settings::load(Some((path, true)), &env),
            None => Settings::load(Some((Path::new("switchboard.toml"), false)), &env),
        }
    }

    /// True when the bot runs without credentials (anonymous dev mode).
    pub fn is_anonymous(&self) -> bool {
        matches!(self.bot.auth, BotAuth::Anonymous)
    }
}

#[cfg(test)]
mod tests;
