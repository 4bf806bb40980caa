//! Load benchmark for `POST /api/messages`: verified message activities per second on
//! loopback, with a warm signing-key cache, against the mock Bot Framework of the tests.
//!
//! Runs the real `Application` in-process (2 worker threads) and drives it from the same
//! process with concurrent keep-alive HTTP/1.1 clients, so the figures include the load
//! generator's own cost on the same two cores. Each run measures two configurations back to
//! back — anonymous dev mode (no JWT) and Bot Framework authentication — and prints their
//! ratio, which is steadier than either absolute figure on a noisy machine.
//!
//! `cargo bench --bench inbound_load [-- REQUESTS CONCURRENCY]` (defaults 40000 and 64).

mod common;
#[path = "../tests/api/mock_bf.rs"]
mod mock_bf;

use std::sync::Arc;
use std::time::{Duration, Instant};

use mock_bf::{APP_ID, APP_PASSWORD, MockBotFramework, TENANT_ID, TestKey};
use serde_json::json;
use switchboard::config::Settings;
use switchboard::startup::Application;

struct Run {
    label: &'static str,
    requests: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    failures: usize,
}

impl Run {
    fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
    fn percentile(&self, p: f64) -> Duration {
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[i]
    }
}

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

async fn start(mock: &MockBotFramework, anonymous: bool, dir: &std::path::Path) -> String {
    let mut env = common::connector_env(
        format!(
            "sqlite://{}",
            dir.join(if anonymous { "anon.db" } else { "auth.db" })
                .display()
        ),
        mock.metadata_url(),
        mock.token_url(),
    );
    if !anonymous {
        env.insert("SWITCHBOARD_BOT__APP_ID".into(), APP_ID.into());
        env.insert("SWITCHBOARD_BOT__APP_PASSWORD".into(), APP_PASSWORD.into());
        env.insert("SWITCHBOARD_BOT__APP_TYPE".into(), "SingleTenant".into());
        env.insert("SWITCHBOARD_BOT__TENANT_ID".into(), TENANT_ID.into());
    }
    let settings = Settings::load(None, &env).expect("settings");
    let app = Application::build(settings).await.expect("build");
    let address = format!("http://{}/api/messages", app.local_addr().expect("addr"));
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    address
}

async fn drive(
    label: &'static str,
    url: String,
    tokens: Arc<Vec<Option<String>>>,
    service_url: String,
    (first_conversation, conversations): (usize, usize),
    requests: usize,
    concurrency: usize,
) -> Run {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .expect("client");
    let body = Arc::new(move |i: usize| {
        json!({
            "type": "message", "id": format!("{i}"), "serviceUrl": service_url,
            "channelId": "msteams",
            "from": {"id": format!("29:user-{i}"), "aadObjectId": format!("00000000-0000-0000-0000-{i:012}")},
            "conversation": {"conversationType": "personal", "tenantId": TENANT_ID, "id": format!("a:conv-{i}")},
            "recipient": {"id": format!("28:{APP_ID}")},
            "text": "benchmark message", "channelData": {"tenant": {"id": TENANT_ID}}
        })
        .to_string()
    });
    let per_task = requests / concurrency;
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for t in 0..concurrency {
        let (client, url, tokens, body) =
            (client.clone(), url.clone(), tokens.clone(), body.clone());
        set.spawn(async move {
            let mut latencies = Vec::with_capacity(per_task);
            let mut failures = 0;
            for i in 0..per_task {
                let n = t * per_task + i;
                let mut request = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body(first_conversation + n % conversations));
                if let Some(token) = &tokens[n % tokens.len()] {
                    request = request.header("authorization", format!("Bearer {token}"));
                }
                let sent = Instant::now();
                match request.send().await {
                    Ok(r) if r.status() == 200 => {}
                    _ => failures += 1,
                }
                latencies.push(sent.elapsed());
            }
            (latencies, failures)
        });
    }
    let mut latencies = Vec::with_capacity(requests);
    let mut failures = 0;
    while let Some(done) = set.join_next().await {
        let (l, f) = done.expect("task");
        latencies.extend(l);
        failures += f;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    Run {
        label,
        requests: per_task * concurrency,
        elapsed,
        latencies,
        failures,
    }
}

fn report(run: &Run) {
    println!(
        "{:<24} {:>6} req in {:>6.2} s = {:>8.0} activities/s   p50 {:>7.2} ms   p99 {:>7.2} ms   failures {}",
        run.label,
        run.requests,
        run.elapsed.as_secs_f64(),
        run.per_second(),
        run.percentile(0.50).as_secs_f64() * 1e3,
        run.percentile(0.99).as_secs_f64() * 1e3,
        run.failures
    );
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let requests: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(40_000);
    let concurrency: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(64);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let dir = tempfile::tempdir().expect("tempdir");
        let mock = MockBotFramework::start().await;
        let service_url = mock.service_url();
        let rss_start = rss_kib("VmRSS:");

        // Tokens as the Bot Framework sends them: a handful, each reused for many activities.
        let key = TestKey::one();
        let tokens: Vec<Option<String>> = (0..8)
            .map(|i| {
                let mut claims = mock.claims(&service_url);
                claims["jti"] = json!(format!("bench-{i}"));
                Some(key.sign(&claims))
            })
            .collect();
        let tokens = Arc::new(tokens);
        let none = Arc::new(vec![None]);

        let anon_url = start(&mock, true, dir.path()).await;
        let auth_url = start(&mock, false, dir.path()).await;
        // Warm-up: key cache, connection pools, SQLite pages.
        drive("warm-up", auth_url.clone(), tokens.clone(), service_url.clone(), (0, 200), 2_000, concurrency).await;
        drive("warm-up", anon_url.clone(), none.clone(), service_url.clone(), (0, 200), 2_000, concurrency).await;
        assert_eq!(mock.jwks_fetches(), 1, "the key cache must be warm and stay warm");

        println!("POST /api/messages on loopback, {concurrency} concurrent keep-alive clients, 2 worker threads");
        // 200 active conversations: the steady state of a contact center, where a reference is
        // written once per conversation and then found unchanged.
        let anonymous = drive("anonymous, 200 convs", anon_url.clone(), none, service_url.clone(), (0, 200), requests, concurrency).await;
        report(&anonymous);
        let verified = drive("verified, 200 convs", auth_url.clone(), tokens.clone(), service_url.clone(), (0, 200), requests, concurrency).await;
        report(&verified);
        // Worst case: every activity opens a conversation, so every one writes a row.
        let fresh = drive("verified, all new convs", auth_url, tokens, service_url, (1_000, requests), requests, concurrency).await;
        report(&fresh);
        println!(
            "verified / anonymous throughput ratio: {:.2}",
            verified.per_second() / anonymous.per_second()
        );
        println!(
            "RSS: {} KiB at start, {} KiB now, peak {} KiB (whole process: service, mock and load generator)",
            rss_start,
            rss_kib("VmRSS:"),
            rss_kib("VmHWM:")
        );
        assert_eq!(verified.failures + anonymous.failures + fresh.failures, 0, "every request must succeed");
        assert_eq!(mock.jwks_fetches(), 1, "no key refetch under load");
    });
}
