//! The reporting read path over HTTP against a store holding N ended sessions (and 2 offers
//! each), for N = 10,000 and 100,000 in one run so that the ratio shows how it scales:
//! KPIs over everything, the first page of the history, a page deep in it (following `next`),
//! a filtered page, and a CSV page of 1,000 rows. The facts are inserted directly (this
//! measures reading them, not the engine).
//!
//! `cargo bench --bench reports [-- RUNS]`

use std::collections::HashMap;
use std::time::{Duration, Instant};

use switchboard::config::Settings;
use switchboard::startup::Application;
use switchboard::store::{AsConn, AsPool};

const TENANT: &str = "bench-tenant";

fn main() {
    let runs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let small = runtime.block_on(run(10_000, runs));
    let large = runtime.block_on(run(100_000, runs));
    println!(
        "\n{:<28} {:>14} {:>14} {:>8}",
        "request (median)", "10k sessions", "100k sessions", "ratio"
    );
    for ((name, a), (_, b)) in small.iter().zip(&large) {
        println!(
            "{name:<28} {:>11.2} ms {:>11.2} ms {:>7.1}x",
            a.as_secs_f64() * 1000.0,
            b.as_secs_f64() * 1000.0,
            b.as_secs_f64() / a.as_secs_f64()
        );
    }
}

async fn seed(pool: &(impl AsPool + ?Sized), n: usize) {
    let mut tx = switchboard::store::begin_write(pool).await.expect("tx");
    for i in 0..n {
        let t0 = 1_700_000_000_000_i64 + (i as i64) * 1000;
        let service = ["support", "sales", "billing"][i % 3];
        let channel = if i % 10 == 0 { "whatsapp" } else { "interact" };
        let (outcome, accepted) = match i % 5 {
            0 => ("abandoned", None),
            _ => ("handled", Some(t0 + 20_000 + (i as i64 % 40) * 1000)),
        };
        let agent = accepted.map(|_| format!("agent{}", i % 50));
        switchboard::db!(tx.conn(), |c| {
            sqlx::query(
                "INSERT INTO report_sessions (tenant_id, session_id, service, channel, outcome, agent,
                    created_at, queued_at, offered_at, accepted_at, ended_at, transferred_from)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10, '[]')",
            )
            .bind(TENANT)
            .bind(format!("s{i:07}"))
            .bind(service)
            .bind(channel)
            .bind(outcome)
            .bind(&agent)
            .bind(t0)
            .bind(t0 + 5_000)
            .bind(accepted)
            .bind(t0 + 300_000)
            .execute(c)
            .await
            .map(|_| ())
        })
        .expect("session");
        for k in 0..2 {
            switchboard::db!(tx.conn(), |c| {
                sqlx::query(
                    "INSERT INTO report_offers (tenant_id, offer_id, session_id, service, user_id, outcome, ended_at, channel)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(TENANT)
                .bind((i * 2 + k) as i64)
                .bind(format!("s{i:07}"))
                .bind(service)
                .bind(format!("agent{}", (i + k) % 50))
                .bind(if k == 0 { "declined" } else { "accepted" })
                .bind(t0 + 10_000 + k as i64 * 1000)
                .bind(channel)
                .execute(c)
                .await
                .map(|_| ())
            })
            .expect("offer");
        }
    }
    tx.commit().await.expect("commit");
}

async fn run(n: usize, runs: usize) -> Vec<(&'static str, Duration)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let env: HashMap<String, String> = HashMap::from([
        ("SWITCHBOARD_SERVER__BIND".into(), "127.0.0.1:0".into()),
        (
            "SWITCHBOARD_STORE__URL".into(),
            format!("sqlite://{}", dir.path().join("bench.db").display()),
        ),
        ("SWITCHBOARD_LOG__FILTER".into(), "error".into()),
    ]);
    let settings = Settings::load(None, &env).expect("settings");
    let app = Application::build(settings).await.expect("build");
    let address = format!("http://{}", app.local_addr().expect("addr"));
    let state = app.state();
    seed(&state.pool, n).await;
    let (_, key) = switchboard::store::api_keys::create(&state.pool, TENANT, "bench", 0)
        .await
        .expect("key");
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    let http = reqwest::Client::new();
    let base = format!("{address}/api/admin/v1/tenants/{TENANT}");

    // A cursor half way through the history, found by following `next` from the start.
    let mut deep = format!("{base}/reports/sessions?limit=1000");
    for _ in 0..n / 2000 {
        let page: serde_json::Value = http
            .get(&deep)
            .bearer_auth(&key)
            .send()
            .await
            .expect("page")
            .json()
            .await
            .expect("json");
        deep = format!("{address}{}", page["next"].as_str().expect("next"));
    }
    let deep = deep.replace("limit=1000", "limit=100");

    let requests = [
        ("kpis, whole history", format!("{base}/reports/kpis")),
        (
            "sessions, first page (100)",
            format!("{base}/reports/sessions"),
        ),
        ("sessions, page half way", deep),
        (
            "sessions, service+outcome",
            format!("{base}/reports/sessions?service=sales&outcome=abandoned"),
        ),
        ("offers, first page (100)", format!("{base}/reports/offers")),
        (
            "sessions CSV (1000 rows)",
            format!("{base}/reports/sessions?format=csv&limit=1000"),
        ),
    ];
    let mut out = Vec::new();
    for (name, url) in requests {
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let started = Instant::now();
            let response = http.get(&url).bearer_auth(&key).send().await.expect("get");
            assert!(
                response.status().is_success(),
                "{name}: {}",
                response.status()
            );
            let _ = response.bytes().await.expect("body");
            times.push(started.elapsed());
        }
        times.sort();
        out.push((name, times[times.len() / 2]));
    }
    out
}
