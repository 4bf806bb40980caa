//! The cost of one message, in CPU: one inbound activity (an agent's text in their personal
//! chat, verified with an RS256 channel token) → one outbox row (the bot's answer) → one
//! Connector call, delivered to the mock Bot Framework on loopback.
//!
//! The service runs in-process on a runtime of its own (2 workers, threads named `sb-app`);
//! the load generator and the mock run on the main thread's runtime (`bench-load`), so the
//! service's CPU is the process's CPU less theirs (`/proc/self/task/*/stat`). A run ends when
//! the mock has received every answer, so the figure includes delivery and its settlement, not
//! only the answer to the HTTP request. The first round warms the caches (signing keys,
//! conversation references, SQLite pages); the report is of the rounds after it.
//!
//! `cargo bench --bench message_cost [-- MESSAGES CONCURRENCY ROUNDS]` (defaults 20000, 32, 3).

mod common;
#[path = "../tests/api/mock_bf.rs"]
mod mock_bf;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mock_bf::{APP_ID, APP_PASSWORD, MockBotFramework, TENANT_ID, TestKey};
use serde_json::json;
use switchboard::config::Settings;
use switchboard::startup::Application;

/// The kernel's clock ticks a second in `/proc/*/stat` (USER_HZ, 100 on every Linux this runs on).
const TICKS_PER_SECOND: f64 = 100.0;

/// Conversations the messages are spread over (each one's reference is stored once).
const CONVERSATIONS: usize = 1000;

/// CPU time in clock ticks of the whole process, and of the load generator's threads.
fn cpu_ticks() -> (u64, u64) {
    fn ticks(stat: &str) -> Option<(String, u64)> {
        // pid (comm) state … utime stime: fields 14 and 15, counted after the comm's ')'.
        let open = stat.find('(')?;
        let close = stat.rfind(')')?;
        let comm = stat[open + 1..close].to_owned();
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let utime: u64 = fields.get(11)?.parse().ok()?;
        let stime: u64 = fields.get(12)?.parse().ok()?;
        Some((comm, utime + stime))
    }
    let process = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| ticks(&s))
        .map_or(0, |(_, t)| t);
    let pid = std::process::id().to_string();
    let mut load = 0;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
                continue;
            };
            if let Some((comm, t)) = ticks(&stat)
                && (comm.starts_with("bench-load") || task.file_name().to_string_lossy() == pid)
            {
                load += t;
            }
        }
    }
    (process, load)
}

async fn start(mock: &MockBotFramework, dir: &std::path::Path) -> String {
    let mut env = common::connector_env(
        format!("sqlite://{}", dir.join("cost.db").display()),
        mock.metadata_url(),
        mock.token_url(),
    );
    env.insert("SWITCHBOARD_BOT__APP_ID".into(), APP_ID.into());
    env.insert("SWITCHBOARD_BOT__APP_PASSWORD".into(), APP_PASSWORD.into());
    env.insert("SWITCHBOARD_BOT__APP_TYPE".into(), "SingleTenant".into());
    env.insert("SWITCHBOARD_BOT__TENANT_ID".into(), TENANT_ID.into());
    let settings = Settings::load(None, &env).expect("settings");
    let app = Application::build(settings).await.expect("build");
    let url = format!("http://{}/api/messages", app.local_addr().expect("addr"));
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    url
}

struct Round {
    messages: usize,
    elapsed: Duration,
    service_ticks: u64,
    load_ticks: u64,
}

/// Sends `messages` messages with ids from `first`, and waits for every answer to reach the
/// mock's Connector.
async fn round(
    url: &str,
    service_url: &str,
    tokens: &Arc<Vec<String>>,
    mock: &MockBotFramework,
    (first, messages, concurrency): (usize, usize, usize),
) -> Round {
    let delivered_before = mock.call_count();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .expect("client");
    let next = Arc::new(AtomicUsize::new(first));
    let end = first + messages;
    let (cpu_start, load_start) = cpu_ticks();
    let started = Instant::now();
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, url, next, tokens) =
            (client.clone(), url.to_owned(), next.clone(), tokens.clone());
        let service_url = service_url.to_owned();
        senders.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= end {
                    return;
                }
                let c = i % CONVERSATIONS;
                let body = json!({
                    "type": "message", "id": format!("m-{i}"), "serviceUrl": service_url,
                    "channelId": "msteams",
                    "from": {"id": format!("29:user-{c}"), "aadObjectId": format!("00000000-0000-0000-0000-{c:012}")},
                    "conversation": {"conversationType": "personal", "tenantId": TENANT_ID, "id": format!("a:cost-{c}")},
                    "recipient": {"id": format!("28:{APP_ID}")},
                    "text": "hello", "channelData": {"tenant": {"id": TENANT_ID}}
                });
                let answer = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("authorization", format!("Bearer {}", tokens[i % tokens.len()]))
                    .body(body.to_string())
                    .send()
                    .await
                    .expect("request");
                assert_eq!(answer.status(), 200, "message {i}");
            }
        });
    }
    while let Some(done) = senders.join_next().await {
        done.expect("sender");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while mock.call_count() < delivered_before + messages {
        assert!(
            Instant::now() < deadline,
            "answers not delivered within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    let (cpu_end, load_end) = cpu_ticks();
    let load_ticks = load_end - load_start;
    Round {
        messages,
        elapsed,
        service_ticks: (cpu_end - cpu_start).saturating_sub(load_ticks),
        load_ticks,
    }
}

fn main() {
    let [messages, concurrency, rounds] = common::numbers([20_000, 32, 3]);
    let app_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("sb-app")
        .enable_all()
        .build()
        .expect("app runtime");
    let load_runtime = tokio::runtime::Builder::new_current_thread()
        .thread_name("bench-load")
        .enable_all()
        .build()
        .expect("load runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    load_runtime.block_on(async {
        let mock = MockBotFramework::start().await;
        let service_url = mock.service_url();
        let url = {
            let mock = Arc::clone(&mock);
            let dir = dir.path().to_owned();
            app_runtime
                .spawn(async move { start(&mock, &dir).await })
                .await
                .expect("start")
        };
        let key = TestKey::one();
        let tokens: Arc<Vec<String>> = Arc::new(
            (0..8)
                .map(|i| {
                    let mut claims = mock.claims(&service_url);
                    claims["jti"] = json!(format!("cost-{i}"));
                    key.sign(&claims)
                })
                .collect(),
        );
        println!(
            "one message = one verified activity → one outbox row → one Connector call; \
             {messages} messages a round over {CONVERSATIONS} conversations, {concurrency} at a time"
        );
        let warm = round(&url, &service_url, &tokens, &mock, (0, CONVERSATIONS * 2, concurrency)).await;
        println!("warm-up: {} messages in {:.2} s", warm.messages, warm.elapsed.as_secs_f64());
        let mut per_message = Vec::new();
        for r in 0..rounds {
            let first = CONVERSATIONS * 2 + r * messages;
            let done = round(&url, &service_url, &tokens, &mock, (first, messages, concurrency)).await;
            let service_us = done.service_ticks as f64 / TICKS_PER_SECOND * 1e6 / done.messages as f64;
            let load_us = done.load_ticks as f64 / TICKS_PER_SECOND * 1e6 / done.messages as f64;
            println!(
                "round {}: {:>6} messages delivered in {:>6.2} s = {:>6.0} messages/s   service CPU {:>6.1} µs/message   (load generator and mock {:>6.1} µs/message)",
                r + 1,
                done.messages,
                done.elapsed.as_secs_f64(),
                done.messages as f64 / done.elapsed.as_secs_f64(),
                service_us,
                load_us
            );
            per_message.push(service_us);
        }
        per_message.sort_by(f64::total_cmp);
        println!(
            "service CPU per message, median of {rounds} rounds: {:.1} µs",
            per_message[per_message.len() / 2]
        );
        assert_eq!(mock.jwks_fetches(), 1, "the signing keys stay cached");
    });
}
