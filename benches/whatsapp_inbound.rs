//! Signed WhatsApp webhooks into sessions: how many webhooks per second the real service takes
//! (signature checked over the raw bytes, items stored once) and how fast they become session
//! events (a new session per new customer, later messages joining theirs), on this machine.
//!
//! Everything runs in this process on loopback: the service (anonymous mode, a service with a
//! business number whose workflow accepts and waits) and `CLIENTS` concurrent senders posting
//! `CUSTOMERS` customers' messages, `MESSAGES` each (one message per webhook, as Meta sends
//! them). No Graph API is reached: nothing is sent back in this workflow.
//!
//! `cargo bench --bench whatsapp_inbound [-- CUSTOMERS MESSAGES CLIENTS]`

#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use switchboard::directory::model::Service;
use switchboard::directory::store::{self as docs, Kind};
use switchboard::whatsapp_cloud::webhook::signature;

const TENANT: &str = "bench-tenant";
const SECRET: &str = "bench-app-secret";
const NUMBER: &str = "106540352242922";

fn main() {
    let [customers, messages, clients] = common::numbers([1000, 5, 32]);
    common::runtime().block_on(run(customers, messages, clients));
}

fn webhook(customer: usize, n: usize) -> String {
    let wa_id = format!("1555{customer:07}");
    json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": NUMBER},
        "contacts": [{"profile": {"name": format!("Customer {customer}")}, "wa_id": wa_id}],
        "messages": [{"from": wa_id, "id": format!("wamid.{customer}.{n}"), "timestamp": "1739321024",
                      "type": "text", "text": {"body": format!("message {n} of customer {customer}")}}]}}]}]})
    .to_string()
}

async fn run(customers: usize, messages: usize, clients: usize) {
    let (state, address, _store) =
        common::start_service(&[("SWITCHBOARD_WHATSAPP__APP_SECRET", SECRET.to_owned())]).await;

    let workflow = json!({"id": "w", "name": "W", "start": "a", "activities": {
        "a": {"type": "Accept", "next": "wait"},
        "wait": {"type": "Delay", "seconds": 3600, "next": "wait"}
    }});
    let service: Service = serde_json::from_value(json!({
        "id": "s", "name": "Support", "workflow": "w",
        "licenses": {"contactCenter": true}, "modalities": {"instantMessage": true},
        "whatsapp": {"phoneNumberId": NUMBER}
    }))
    .expect("service");
    docs::put(&state.pool, TENANT, Kind::Workflow, "w", &workflow, None, 0)
        .await
        .expect("workflow");
    docs::put(&state.pool, TENANT, Kind::Service, "s", &service, None, 0)
        .await
        .expect("service");

    // Every webhook signed before the clock starts: the bench measures the service.
    let bodies: Vec<(String, String)> = (0..messages)
        .flat_map(|n| (0..customers).map(move |c| (c, n)))
        .map(|(c, n)| {
            let body = webhook(c, n);
            let sig = signature(SECRET.as_bytes(), body.as_bytes());
            (body, sig)
        })
        .collect();
    let total = bodies.len();
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let url = format!("{address}/api/whatsapp/webhook");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (bodies, next, url) = (Arc::clone(&bodies), Arc::clone(&next), url.clone());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((body, sig)) = bodies.get(i) else {
                    return latencies;
                };
                let sent = Instant::now();
                let response = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-hub-signature-256", sig)
                    .body(body.clone())
                    .send()
                    .await
                    .expect("post");
                assert_eq!(response.status(), 200, "webhook refused");
                latencies.push(sent.elapsed());
            }
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("client"));
    }
    let accepted = started.elapsed();
    // Into sessions: every item handled.
    loop {
        let pending = common::count(
            &state.pool,
            "SELECT COUNT(*) FROM whatsapp_inbound WHERE handled_at IS NULL",
        )
        .await;
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let handled = started.elapsed();
    let sessions = common::count(&state.pool, "SELECT COUNT(*) FROM whatsapp_sessions").await;
    let events = common::count(
        &state.pool,
        "SELECT COUNT(*) FROM interact_events WHERE event LIKE '{\"type\":\"customerMessage\"%'",
    )
    .await;
    assert_eq!(sessions as usize, customers, "one session per customer");
    assert_eq!(events as usize, total, "every message once in its session");
    latencies.sort();
    let p = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "whatsapp_inbound: {total} signed webhooks ({customers} customers x {messages}), {clients} clients"
    );
    println!(
        "  answered 200:   {:.0} webhooks/s ({:.2} s); latency p50 {:.1} ms, p99 {:.1} ms",
        total as f64 / accepted.as_secs_f64(),
        accepted.as_secs_f64(),
        p(0.5).as_secs_f64() * 1000.0,
        p(0.99).as_secs_f64() * 1000.0
    );
    println!(
        "  into sessions:  {:.0} messages/s ({:.2} s from the first webhook to the last message in its session)",
        total as f64 / handled.as_secs_f64(),
        handled.as_secs_f64()
    );
}
