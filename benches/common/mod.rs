//! What the load benches share: their command-line numbers, the 2-worker runtime, latency
//! percentiles, and a Teams agent's activity as the channel sends it.
// Each bench uses what it needs of this module.
#![allow(dead_code)]

use std::time::Duration;

use serde_json::{Value, json};
use switchboard::store::AsPool;

/// The bench's positional arguments (flags such as `--bench` skipped), each falling back to its
/// default.
pub fn numbers<const N: usize>(defaults: [usize; N]) -> [usize; N] {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut values = defaults;
    for (i, value) in values.iter_mut().enumerate() {
        if let Some(n) = args.get(i).and_then(|a| a.parse().ok()) {
            *value = n;
        }
    }
    values
}

/// The settings of a service on loopback that takes activities from the mock Bot Framework at
/// `metadata_url` / `token_url` and answers through its Connector: SQLite at `store_url`, no
/// log below warnings, and no cap per tenant on calls (the loopback Connector has none, and a
/// bench measures Switchboard, not Teams' 50 requests a second per tenant).
pub fn connector_env(
    store_url: String,
    metadata_url: String,
    token_url: String,
) -> std::collections::HashMap<String, String> {
    std::collections::HashMap::from([
        ("SWITCHBOARD_SERVER__BIND".into(), "127.0.0.1:0".into()),
        ("SWITCHBOARD_STORE__URL".into(), store_url),
        ("SWITCHBOARD_BOT__OPENID_METADATA_URL".into(), metadata_url),
        ("SWITCHBOARD_BOT__TOKEN_URL".into(), token_url),
        (
            "SWITCHBOARD_BOT__ALLOWED_SERVICE_URLS".into(),
            "http://127.0.0.1:*".into(),
        ),
        ("SWITCHBOARD_LOG__FILTER".into(), "warn".into()),
        (
            "SWITCHBOARD_OUTBOX__TENANT_REQUESTS_PER_SECOND".into(),
            "100000".into(),
        ),
    ])
}

/// The runtime of a bench: two workers, as the machine has two cores.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Prints `name: n=… of expected  p50=… p99=… max=…`.
pub fn report(name: &str, mut values: Vec<Duration>, expected: usize) {
    values.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name}: n={} of {expected}  p50={:.1} ms  p99={:.1} ms  max={:.1} ms",
        values.len(),
        ms(percentile(&values, 0.5)),
        ms(percentile(&values, 0.99)),
        ms(values.last().copied().unwrap_or_default()),
    );
}

/// An activity of agent `agent` (`agentN`, in their personal chat `personal-N`) in `tenant`.
pub fn agent_activity(service_url: &str, tenant: &str, agent: usize, kind: &str) -> Value {
    json!({
        "type": kind, "id": uuid::Uuid::new_v4().to_string(),
        "serviceUrl": service_url, "channelId": "msteams",
        "from": {"id": format!("29:agent{agent}"), "name": format!("Agent {agent}"), "aadObjectId": format!("agent{agent}")},
        "conversation": {"id": format!("personal-{agent}"), "conversationType": "personal", "tenantId": tenant},
        "recipient": {"id": "28:bench-bot", "name": "Bench"},
        "channelData": {"tenant": {"id": tenant}}
    })
}

/// The real service (anonymous mode, a fresh store, errors logged only) with `env` on top,
/// running on a free loopback port: its state, its address, and the store's folder (kept
/// while it runs).
pub async fn start_service(
    env: &[(&str, String)],
) -> (switchboard::app::AppState, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut settings: std::collections::HashMap<String, String> = [
        ("SWITCHBOARD_SERVER__BIND", "127.0.0.1:0".to_owned()),
        (
            "SWITCHBOARD_STORE__URL",
            format!("sqlite://{}", dir.path().join("bench.db").display()),
        ),
        ("SWITCHBOARD_LOG__FILTER", "error".to_owned()),
        // The loopback Connector has no limit per tenant, and the bench measures Switchboard,
        // not Teams' cap of 50 requests a second per tenant.
        (
            "SWITCHBOARD_OUTBOX__TENANT_REQUESTS_PER_SECOND",
            "100000".to_owned(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    settings.extend(env.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    let settings = switchboard::config::Settings::load(None, &settings).expect("settings");
    let app = switchboard::startup::Application::build(settings)
        .await
        .expect("build");
    let address = format!("http://{}", app.local_addr().expect("addr"));
    let state = app.state();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    (state, address, dir)
}

/// Stores `n` agents (`agent0`…) with the IM license, active in service `s` of `tenant`, and
/// installs the bot for each as Teams would (their personal chats at `service_url`).
pub async fn install_agents(
    state: &switchboard::app::AppState,
    address: &str,
    service_url: &str,
    tenant: &str,
    n: usize,
) {
    use switchboard::directory::store::{self as docs, Kind};
    let http = reqwest::Client::new();
    for i in 0..n {
        let user: switchboard::directory::model::User = serde_json::from_value(
            json!({"id": format!("agent{i}"), "upn": format!("agent{i}@example.com"),
            "displayName": format!("Agent {i}"), "licenses": {"im": true}, "activeIn": ["s"]}),
        )
        .expect("user");
        docs::put(&state.pool, tenant, Kind::User, &user.id, &user, None, 0)
            .await
            .expect("user");
        let mut install = agent_activity(service_url, tenant, i, "installationUpdate");
        install["action"] = json!("add");
        let r = http
            .post(format!("{address}/api/messages"))
            .json(&install)
            .send()
            .await
            .expect("install");
        assert_eq!(r.status(), 200);
    }
}

/// A `SELECT COUNT(*) …` on the service's database, whichever backend it is.
pub async fn count(pool: &(impl AsPool + ?Sized), sql: &str) -> i64 {
    switchboard::db!(pool.on(), |c| sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(c)
        .await)
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}
