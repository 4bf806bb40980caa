//! Concurrent customer event streams (SSE) held open by one server process, its memory per
//! stream, and the fan-out latency from a customer's message to its stream.
//!
//! The server is the real binary in its own process (so client and server sockets do not
//! share one file-descriptor limit); sessions are written straight into its store.
//!
//! `cargo bench --bench sse_load [-- STREAMS SAMPLES]` (defaults 10000 and 250; the customer
//! API allows 300 messages a minute per address, so SAMPLES stays below that).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use switchboard::directory::model::Service;
use switchboard::directory::store::{self as docs, Kind};
use switchboard::security::hash_secret;
use switchboard::store::AsConn;
use tokio::sync::Mutex;

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let streams: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let samples: usize = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(250)
        .min(290);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(streams, samples));
}

async fn run(streams: usize, samples: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("sse.db").display());
    let pool = switchboard::store::connect(&url).await.expect("store");
    let service: Service = serde_json::from_value(json!({
        "id": "s", "name": "S", "licenses": {"contactCenter": true}, "modalities": {"instantMessage": true},
        "interact": {"enabled": true, "instantMessage": true, "contactId": "bench", "widgetKey": "k"}
    }))
    .expect("service");
    docs::put(&pool, "t", Kind::Service, "s", &service, None, 0)
        .await
        .expect("service");
    let mut tokens = Vec::with_capacity(streams);
    let mut tx = switchboard::store::begin_write(&pool).await.expect("tx");
    for i in 0..streams {
        let (session, token) = (
            format!("bench-{i}"),
            format!("token-{i}-{}", uuid::Uuid::new_v4()),
        );
        switchboard::db!(tx.conn(), |c| {
            sqlx::query(
            "INSERT INTO interact_sessions (session_id, tenant_id, contact_id, token_hash, state, created_at, last_activity_at)
             VALUES ($1, 't', 'bench', $2, 'queued', 0, 9000000000000)",
        )
        .bind(&session)
        .bind(hash_secret(&token))
        .execute(c)
        .await
        .map(|_| ())
        .expect("session")
        });
        tokens.push((session, token));
    }
    tx.commit().await.expect("commit");
    pool.close().await;

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .current_dir(dir.path())
        .env("SWITCHBOARD_SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("SWITCHBOARD_STORE__URL", &url)
        .env("SWITCHBOARD_LOG__FILTER", "warn")
        .spawn()
        .expect("server");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    for _ in 0..100 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let idle_rss = rss_kib(server.id());

    // Open every stream; each records when a marked message arrives.
    let arrivals: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let opened = Arc::new(tokio::sync::Semaphore::new(0));
    let started = Instant::now();
    for (session, token) in &tokens {
        let (client, url, arrivals, opened) = (
            client.clone(),
            format!("{base}/api/interact/v1/sessions/{session}/events?token={token}"),
            Arc::clone(&arrivals),
            Arc::clone(&opened),
        );
        tokio::spawn(async move {
            let Ok(mut response) = client.get(url).send().await else {
                return;
            };
            opened.add_permits(1);
            while let Ok(Some(chunk)) = response.chunk().await {
                let text = String::from_utf8_lossy(&chunk);
                if let Some(start) = text.find("mark-") {
                    let mark: String = text[start..].chars().take_while(|c| *c != '"').collect();
                    arrivals.lock().await.insert(mark, Instant::now());
                }
            }
        });
    }
    let all_open = tokio::time::timeout(
        Duration::from_secs(120),
        opened.acquire_many(streams as u32),
    )
    .await;
    let open_time = started.elapsed();
    assert!(all_open.is_ok(), "not every stream opened in time");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let loaded_rss = rss_kib(server.id());

    // Fan-out: a customer message to one session reaches that session's stream.
    let mut latencies = Vec::with_capacity(samples);
    for i in 0..samples {
        let (session, token) = &tokens[(i * 7919) % streams];
        let mark = format!("mark-{i}");
        let sent = Instant::now();
        let response = client
            .post(format!(
                "{base}/api/interact/v1/sessions/{session}/messages"
            ))
            .bearer_auth(token)
            .json(&json!({"text": mark, "clientMessageId": mark}))
            .send()
            .await
            .expect("send");
        assert!(response.status().is_success(), "{}", response.status());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(at) = arrivals.lock().await.get(&mark) {
                latencies.push(at.saturating_duration_since(sent));
                break;
            }
            assert!(Instant::now() < deadline, "{mark} never arrived");
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
    latencies.sort();
    let pct = |p: f64| {
        latencies[((latencies.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3
    };
    println!(
        "{streams} SSE streams open in {:.1} s; server RSS {idle_rss} KiB idle, {loaded_rss} KiB with every stream open",
        open_time.as_secs_f64()
    );
    println!(
        "memory per open stream: {:.1} KiB; message to stream fan-out over {samples} samples: p50 {:.2} ms, p99 {:.2} ms",
        (loaded_rss.saturating_sub(idle_rss)) as f64 / streams as f64,
        pct(0.5),
        pct(0.99)
    );
    let _ = server.kill();
    let _ = server.wait();
}
