//! The settings as read (strings and numbers from the TOML file and the environment) and their
//! conversion into the typed [`Settings`]: every value parsed and checked here, a bad one named
//! by its key.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use super::{
    AppType, BotAuth, BotCredentials, BotSettings, CardSettings, ChatroomMode, ClusterSettings,
    DEFAULT_WHATSAPP_GRAPH_BASE_URL, DEV_ALLOWED_SERVICE_URLS, FILE_TYPES, GraphSettings,
    InteractSettings, LogFormat, LogSettings, MetricsSettings, Network, OutboxSettings,
    PreferencesSettings, ReportingSettings, ServerSettings, ServiceUrlAllowList, Settings,
    StoreSettings, TrustedProxies, WhatsAppSettings,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSettings {
    server: RawServer,
    #[serde(default)]
    metrics: RawMetrics,
    store: RawStore,
    cluster: RawCluster,
    bot: RawBot,
    graph: RawGraph,
    outbox: RawOutbox,
    log: RawLog,
    #[serde(default)]
    cards: RawCards,
    interact: RawInteract,
    preferences: RawPreferences,
    reporting: RawReporting,
    #[serde(default)]
    whatsapp: RawWhatsApp,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWhatsApp {
    app_secret: Option<SecretString>,
    verify_token: Option<SecretString>,
    graph_base_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReporting {
    acceptance_sla_secs: u64,
    transcript_retention_days: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPreferences {
    authority_url: String,
    session_hours: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInteract {
    inactivity_secs: u64,
    upload_max_bytes: u64,
    file_link_hours: u64,
    /// The file types chats take (a subset of the types Switchboard can check).
    #[serde(default)]
    file_types: Option<Vec<String>>,
    upload_session_max_bytes: u64,
    upload_tenant_max_bytes: u64,
    uploads_per_minute: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCards {
    dir: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    filter: String,
    format: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    bind: String,
    public_url: Option<String>,
    header_read_timeout_secs: u64,
    request_timeout_secs: u64,
    idle_timeout_secs: u64,
    max_connections: usize,
    max_connections_per_address: usize,
    max_streams_per_session: usize,
    max_streams_per_address: usize,
    #[serde(default)]
    trusted_proxies: Vec<String>,
    import_max_bytes: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    token: Option<SecretString>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    url: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    advertise_url: Option<String>,
    lease_secs: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBot {
    app_id: Option<String>,
    app_password: Option<SecretString>,
    app_type: Option<String>,
    tenant_id: Option<String>,
    openid_metadata_url: String,
    token_url: Option<String>,
    allowed_service_urls: Vec<String>,
    #[serde(default)]
    allowed_tenants: Vec<String>,
    jwks_refresh_interval_secs: u64,
    jwks_unknown_kid_interval_secs: u64,
    chatroom: String,
    service_url: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGraph {
    base_url: String,
    token_url: Option<String>,
    teams_app_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutbox {
    retry_base_ms: u64,
    retry_max_ms: u64,
    max_age_secs: u64,
    attempts_per_claim: u32,
    retention_secs: u64,
    tenant_requests_per_second: u64,
}

/// `value` when it is `min` or more; a value out of range is refused, never clamped.
fn at_least(key: &str, value: u64, min: u64) -> anyhow::Result<u64> {
    if value < min {
        bail!("{key} must be at least {min}, not {value}");
    }
    Ok(value)
}

/// `value` when it is in `range`.
fn within(key: &str, value: u64, range: std::ops::RangeInclusive<u64>) -> anyhow::Result<u64> {
    if !range.contains(&value) {
        bail!(
            "{key} must be {} to {}, not {value}",
            range.start(),
            range.end()
        );
    }
    Ok(value)
}

/// `interact.file_types`: each one of the types whose content Switchboard checks (all of them
/// when not set).
fn file_types(configured: Option<Vec<String>>) -> anyhow::Result<Vec<&'static str>> {
    let known = FILE_TYPES;
    let Some(configured) = configured else {
        return Ok(known.to_vec());
    };
    let mut types = Vec::new();
    for t in configured
        .iter()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
    {
        let Some(found) = known.iter().copied().find(|k| k.eq_ignore_ascii_case(t)) else {
            bail!(
                "interact.file_types: {t:?} is not a type Switchboard can check; use some of {}",
                known.join(", ")
            );
        };
        if !types.contains(&found) {
            types.push(found);
        }
    }
    Ok(types)
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// A secret that is set and not blank.
fn non_empty_secret(value: Option<SecretString>) -> Option<SecretString> {
    value.filter(|t| !secrecy::ExposeSecret::expose_secret(t).trim().is_empty())
}

fn parse_url(key: &str, value: &str) -> anyhow::Result<Url> {
    Url::parse(value).with_context(|| format!("{key} is not a valid URL: {value:?}"))
}

fn login_token_url(tenant: &str) -> anyhow::Result<Url> {
    parse_url(
        "token URL",
        &format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"),
    )
}

/// The listener's limits, each checked against what still lets the service work.
fn server_limits(
    raw: &RawServer,
    bind: SocketAddr,
    public_url: Option<Url>,
) -> anyhow::Result<ServerSettings> {
    let secs = |key: &str, value: u64, range: std::ops::RangeInclusive<u64>| {
        within(&format!("server.{key}"), value, range).map(Duration::from_secs)
    };
    let count = |key: &str, value: usize| {
        at_least(&format!("server.{key}"), value as u64, 1).map(|_| value)
    };
    let header_read_timeout = secs(
        "header_read_timeout_secs",
        raw.header_read_timeout_secs,
        1..=300,
    )?;
    let request_timeout = secs("request_timeout_secs", raw.request_timeout_secs, 1..=600)?;
    // Event streams send a heartbeat every 15 s; a quieter connection is not idle sooner.
    let idle_timeout = secs("idle_timeout_secs", raw.idle_timeout_secs, 20..=3600)?;
    let mut networks = Vec::new();
    for text in raw
        .trusted_proxies
        .iter()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
    {
        let network = if text.contains('/') {
            Network::parse(text)
        } else {
            let prefix = if text.contains(':') { 128 } else { 32 };
            Network::parse(&format!("{text}/{prefix}"))
        };
        networks.push(network.with_context(|| {
            format!("server.trusted_proxies: {text:?} is not an address or a CIDR network")
        })?);
    }
    Ok(ServerSettings {
        bind,
        public_url,
        header_read_timeout,
        request_timeout,
        idle_timeout,
        max_connections: count("max_connections", raw.max_connections)?,
        max_connections_per_address: count(
            "max_connections_per_address",
            raw.max_connections_per_address,
        )?,
        max_streams_per_session: count("max_streams_per_session", raw.max_streams_per_session)?,
        max_streams_per_address: count("max_streams_per_address", raw.max_streams_per_address)?,
        trusted_proxies: TrustedProxies::new(networks),
        import_max_bytes: usize::try_from(within(
            "server.import_max_bytes",
            raw.import_max_bytes,
            64 * 1024..=100 * 1024 * 1024,
        )?)
        .unwrap_or(usize::MAX),
    })
}

impl TryFrom<RawSettings> for Settings {
    type Error = anyhow::Error;

    fn try_from(raw: RawSettings) -> anyhow::Result<Self> {
        let bind: SocketAddr = raw.server.bind.parse().with_context(|| {
            format!("server.bind is not an address:port: {:?}", raw.server.bind)
        })?;
        let public_url = non_empty(raw.server.public_url.clone())
            .map(|u| parse_url("server.public_url", &u))
            .transpose()?;
        let server = server_limits(&raw.server, bind, public_url)?;

        let tenant_id = non_empty(raw.bot.tenant_id);
        let app_type = match non_empty(raw.bot.app_type).as_deref() {
            None => AppType::MultiTenant,
            Some(t) if t.eq_ignore_ascii_case("SingleTenant") => AppType::SingleTenant,
            Some(t) if t.eq_ignore_ascii_case("MultiTenant") => AppType::MultiTenant,
            Some(other) => bail!(
                "bot.app_type must be SingleTenant or MultiTenant, not {other:?} \
                 (user-assigned managed identities are not supported yet)"
            ),
        };

        let auth = match non_empty(raw.bot.app_id) {
            None => {
                if !bind.ip().is_loopback() {
                    bail!(
                        "anonymous dev mode (no bot.app_id) is refused on the non-loopback \
                         address {bind}: set bot.app_id and bot.app_password, or bind to 127.0.0.1"
                    );
                }
                BotAuth::Anonymous
            }
            Some(app_id) => {
                let app_password = raw.bot.app_password.context(
                    "bot.app_password (or MicrosoftAppPassword) is required when bot.app_id is set",
                )?;
                let token_url = match non_empty(raw.bot.token_url) {
                    Some(u) => parse_url("bot.token_url", &u)?,
                    None => match (app_type, &tenant_id) {
                        (AppType::SingleTenant, Some(t)) => login_token_url(t)?,
                        (AppType::SingleTenant, None) => bail!(
                            "bot.tenant_id (or MicrosoftAppTenantId) is required for a \
                             SingleTenant bot"
                        ),
                        (AppType::MultiTenant, _) => login_token_url("botframework.com")?,
                    },
                };
                if app_type == AppType::SingleTenant && tenant_id.is_none() {
                    bail!(
                        "bot.tenant_id (or MicrosoftAppTenantId) is required for a SingleTenant bot"
                    );
                }
                BotAuth::Credentials(BotCredentials {
                    app_id,
                    app_password,
                    app_type,
                    tenant_id: tenant_id.clone(),
                    token_url,
                })
            }
        };

        let mut patterns: Vec<String> = raw
            .bot
            .allowed_service_urls
            .into_iter()
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect();
        if matches!(auth, BotAuth::Anonymous) {
            patterns.extend(DEV_ALLOWED_SERVICE_URLS.iter().map(|p| (*p).to_owned()));
        }
        let allowed_service_urls = ServiceUrlAllowList::parse(&patterns)
            .context("bot.allowed_service_urls has an invalid entry")?;

        let graph_token_url = match non_empty(raw.graph.token_url) {
            Some(u) => {
                parse_url("graph.token_url", &u.replace("{tenant}", "common"))?;
                u
            }
            None => "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token".to_owned(),
        };

        Ok(Settings {
            server,
            metrics: MetricsSettings {
                token: raw
                    .metrics
                    .token
                    .filter(|t| !secrecy::ExposeSecret::expose_secret(t).trim().is_empty()),
            },
            store: StoreSettings {
                // The URL is not repeated: a PostgreSQL URL may carry a password.
                url: if ["sqlite:", "postgres://", "postgresql://"]
                    .iter()
                    .any(|scheme| raw.store.url.starts_with(scheme))
                {
                    raw.store.url
                } else {
                    bail!(
                        "store.url is not supported: it must start with sqlite: (one instance, \
                         an SQLite file) or postgres:// (PostgreSQL)"
                    )
                },
            },
            cluster: ClusterSettings {
                advertise_url: non_empty(raw.cluster.advertise_url)
                    .map(|u| parse_url("cluster.advertise_url", &u))
                    .transpose()?,
                lease: Duration::from_secs(within(
                    "cluster.lease_secs",
                    raw.cluster.lease_secs,
                    3..=60,
                )?),
            },
            bot: BotSettings {
                auth,
                openid_metadata_url: parse_url(
                    "bot.openid_metadata_url",
                    &raw.bot.openid_metadata_url,
                )?,
                allowed_service_urls,
                allowed_tenants: raw
                    .bot
                    .allowed_tenants
                    .into_iter()
                    .map(|t| t.trim().to_ascii_lowercase())
                    .filter(|t| !t.is_empty())
                    .collect(),
                jwks_refresh_interval: Duration::from_secs(raw.bot.jwks_refresh_interval_secs),
                jwks_unknown_kid_interval: Duration::from_secs(
                    raw.bot.jwks_unknown_kid_interval_secs,
                ),
                chatroom: super::keys::choice(
                    "bot.chatroom",
                    &raw.bot.chatroom,
                    &[
                        ("group", ChatroomMode::Group),
                        ("personal", ChatroomMode::Personal),
                    ],
                )?,
                service_url: parse_url("bot.service_url", &raw.bot.service_url)?,
            },
            graph: GraphSettings {
                base_url: parse_url("graph.base_url", &raw.graph.base_url)?,
                token_url: graph_token_url,
                teams_app_id: non_empty(raw.graph.teams_app_id),
            },
            outbox: OutboxSettings {
                retry_base: Duration::from_millis(at_least(
                    "outbox.retry_base_ms",
                    raw.outbox.retry_base_ms,
                    1,
                )?),
                retry_max: Duration::from_millis(at_least(
                    "outbox.retry_max_ms",
                    raw.outbox.retry_max_ms,
                    raw.outbox.retry_base_ms,
                )?),
                max_age: Duration::from_secs(at_least(
                    "outbox.max_age_secs",
                    raw.outbox.max_age_secs,
                    1,
                )?),
                attempts_per_claim: u32::try_from(at_least(
                    "outbox.attempts_per_claim",
                    u64::from(raw.outbox.attempts_per_claim),
                    1,
                )?)
                .unwrap_or(u32::MAX),
                retention: Duration::from_secs(raw.outbox.retention_secs),
                tenant_requests_per_second: usize::try_from(within(
                    "outbox.tenant_requests_per_second",
                    raw.outbox.tenant_requests_per_second,
                    1..=100_000,
                )?)
                .unwrap_or(50),
            },
            log: LogSettings {
                filter: match tracing_subscriber::EnvFilter::builder().parse(&raw.log.filter) {
                    Ok(_) => raw.log.filter,
                    Err(e) => bail!(
                        "log.filter {:?} is not a filter like info or switchboard=debug,warn: {e}",
                        raw.log.filter
                    ),
                },
                format: super::keys::choice(
                    "log.format",
                    &raw.log.format,
                    &[("text", LogFormat::Text), ("json", LogFormat::Json)],
                )?,
            },
            cards: CardSettings {
                dir: non_empty(raw.cards.dir).map(std::path::PathBuf::from),
            },
            interact: InteractSettings {
                inactivity: Duration::from_secs(at_least(
                    "interact.inactivity_secs",
                    raw.interact.inactivity_secs,
                    60,
                )?),
                upload_max_bytes: usize::try_from(within(
                    "interact.upload_max_bytes",
                    raw.interact.upload_max_bytes,
                    0..=100 * 1024 * 1024,
                )?)
                .unwrap_or(0),
                file_link: Duration::from_secs(
                    3600 * within(
                        "interact.file_link_hours",
                        raw.interact.file_link_hours,
                        1..=24 * 365,
                    )?,
                ),
                file_types: file_types(raw.interact.file_types)?,
                upload_session_max_bytes: raw.interact.upload_session_max_bytes,
                upload_tenant_max_bytes: raw.interact.upload_tenant_max_bytes,
                uploads_per_minute: usize::try_from(within(
                    "interact.uploads_per_minute",
                    raw.interact.uploads_per_minute,
                    1..=10_000,
                )?)
                .unwrap_or(1),
            },
            preferences: PreferencesSettings {
                authority_url: parse_url(
                    "preferences.authority_url",
                    &raw.preferences.authority_url,
                )?,
                session_ttl: Duration::from_secs(
                    within(
                        "preferences.session_hours",
                        raw.preferences.session_hours,
                        1..=24 * 30,
                    )? * 3600,
                ),
            },
            whatsapp: WhatsAppSettings {
                app_secret: non_empty_secret(raw.whatsapp.app_secret),
                verify_token: non_empty_secret(raw.whatsapp.verify_token),
                graph_base_url: parse_url(
                    "whatsapp.graph_base_url",
                    raw.whatsapp
                        .graph_base_url
                        .as_deref()
                        .unwrap_or(DEFAULT_WHATSAPP_GRAPH_BASE_URL),
                )?,
            },
            reporting: ReportingSettings {
                acceptance_sla: Duration::from_secs(at_least(
                    "reporting.acceptance_sla_secs",
                    raw.reporting.acceptance_sla_secs,
                    1,
                )?),
                transcript_retention: match raw.reporting.transcript_retention_days {
                    0 => anyhow::bail!(
                        "reporting.transcript_retention_days must be at least 1 (days)"
                    ),
                    days => Duration::from_secs(days.saturating_mul(86_400)),
                },
            },
        })
    }
}
