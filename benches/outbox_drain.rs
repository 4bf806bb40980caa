//! Outbox drain benchmark: how fast a backlog of Connector calls is delivered once the
//! Connector answers again (after an outage), and how large the SQLite WAL grows meanwhile.
//!
//! Fills the outbox of a fresh database with CALLS pending sends spread over CONVERSATIONS
//! conversations (as an outage at load would leave them), then starts the real `Application`
//! (2 worker threads) against a loopback Connector that answers at once, and measures the
//! time until every call reached it, the delivered calls per second, the process CPU per call
//! (the in-process Connector's own cost included) and the largest WAL size, sampled every
//! 50 ms. It checks that every conversation received its calls in the order they were queued.
//!
//! `cargo bench --bench outbox_drain [-- CALLS CONVERSATIONS]` (defaults 20000 and 4096).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::Uri;
use axum::response::IntoResponse;
use serde_json::{Value, json};
use switchboard::config::Settings;
use switchboard::startup::Application;
use switchboard::store::{AsConn, AsPool, On};

#[derive(Default)]
struct Seen {
    /// Per conversation, the sequence numbers received, in arrival order.
    calls: HashMap<String, Vec<u64>>,
    total: usize,
}

async fn connector(
    State(seen): State<Arc<Mutex<Seen>>>,
    uri: Uri,
    body: Bytes,
) -> axum::response::Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let conversation = uri.path().split('/').nth(4).unwrap_or_default().to_owned();
    let n = body["text"]
        .as_str()
        .and_then(|t| t.strip_prefix("call "))
        .and_then(|t| t.parse().ok())
        .unwrap_or(u64::MAX);
    {
        let mut seen = seen.lock().expect("lock");
        seen.calls.entry(conversation).or_default().push(n);
        seen.total += 1;
    }
    (
        axum::http::StatusCode::CREATED,
        axum::Json(json!({"id": uuid::Uuid::new_v4().to_string()})),
    )
        .into_response()
}

/// CPU time (user + system) of this process so far.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    Duration::from_millis(ticks * 10)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let arg =
        |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (calls, conversations) = (arg(0, 20_000), arg(1, 4096).max(1));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(calls, conversations));
}

async fn run(calls: usize, conversations: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("bench.db");
    let wal = dir.path().join("bench.db-wal");
    let env: HashMap<String, String> = HashMap::from([
        ("SWITCHBOARD_SERVER__BIND".into(), "127.0.0.1:0".into()),
        (
            "SWITCHBOARD_STORE__URL".into(),
            format!("sqlite://{}", db.display()),
        ),
        ("SWITCHBOARD_LOG__FILTER".into(), "error".into()),
        // The loopback Connector has no limit per tenant, and the bench measures Switchboard,
        // not Teams' cap of 50 requests a second per tenant.
        (
            "SWITCHBOARD_OUTBOX__TENANT_REQUESTS_PER_SECOND".into(),
            "100000".into(),
        ),
    ]);

    let seen = Arc::new(Mutex::new(Seen::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let service_url = format!("http://{}/bench/", listener.local_addr().expect("addr"));
    let router = axum::Router::new()
        .fallback(connector)
        .with_state(Arc::clone(&seen));
    tokio::spawn(async move { axum::serve(listener, router).await });

    // The backlog, written before the service starts (as an outage would leave it).
    let settings = Settings::load(None, &env).expect("settings");
    let app = Application::build(settings).await.expect("build");
    {
        let state = app.state();
        let mut tx = switchboard::store::begin_write(&state.pool)
            .await
            .expect("begin");
        for i in 0..calls {
            let conversation = format!("conv-{}", i % conversations);
            let call = json!({"op": "send", "conversation_id": conversation,
                "activity": {"type": "message", "text": format!("call {i}")}});
            switchboard::db!(tx.conn(), |c| {
                sqlx::query(
                    "INSERT INTO outbox (lane, service_url, operation, call, next_attempt_at, created_at)
                     VALUES ($1, $2, 'send', $3, 0, $4)",
                )
                .bind(format!("{service_url}|{conversation}"))
                .bind(&service_url)
                .bind(call.to_string())
                .bind(switchboard_now())
                .execute(c)
                .await
                .map(|_| ())
            })
            .expect("insert");
        }
        tx.commit().await.expect("commit");
        // The WAL starts empty (SQLite only: PostgreSQL has no such file to measure).
        if let On::Sqlite(pool) = state.pool.on() {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(pool)
                .await
                .expect("checkpoint");
        }
    }

    let cpu_before = cpu_time();
    let begin = Instant::now();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    let mut max_wal = 0u64;
    let deadline = begin + Duration::from_secs(600);
    loop {
        max_wal = max_wal.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
        if seen.lock().expect("lock").total >= calls || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = begin.elapsed();
    let cpu = cpu_time().saturating_sub(cpu_before);
    let seen = seen.lock().expect("lock");
    let in_order = seen
        .calls
        .values()
        .all(|ns| ns.windows(2).all(|w| w[0] < w[1]));
    println!(
        "outbox_drain: {} of {calls} calls over {conversations} conversations in {:.2} s = {:.0} calls/s; \
         cpu {:.3} ms/call; max WAL {:.1} MiB; order per conversation kept: {in_order}",
        seen.total,
        elapsed.as_secs_f64(),
        seen.total as f64 / elapsed.as_secs_f64(),
        cpu.as_secs_f64() * 1000.0 / seen.total.max(1) as f64,
        max_wal as f64 / (1024.0 * 1024.0),
    );
    assert!(in_order, "calls to one conversation arrived out of order");
    assert_eq!(seen.total, calls, "not every call was delivered");
}

fn switchboard_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
