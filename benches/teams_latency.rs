//! Latency of the Teams path under load: from "customer creates a session" to "invitation card
//! POSTed to the Connector", and from "customer message" to "posted in the chatroom", with new
//! sessions arriving at a steady rate (default 100/s for 10 s).
//!
//! Everything runs in this process on loopback: the real service (anonymous mode, so chatrooms
//! are the agents' personal chats and no Graph call is made), a Connector that records when
//! each call arrives and makes the invited agent accept at once (an `adaptiveCard/action`
//! invoke), and the customers (each from its own 127.x source address, since session creation
//! is rate-limited per address). The workflow queues at once (no delays).
//!
//! `cargo bench --bench teams_latency [-- RATE SECONDS AGENTS]`

#[path = "common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::Uri;
use axum::response::IntoResponse;
use serde_json::{Value, json};
use switchboard::directory::model::Service;
use switchboard::directory::store::{self as docs, Kind};

const TENANT: &str = "bench-tenant";

#[derive(Default)]
struct Seen {
    invited: HashMap<String, Instant>,
    started: HashMap<String, Instant>,
    relayed: HashMap<String, Instant>,
}

struct Mock {
    seen: Mutex<Seen>,
    app: String,
    service_url: Mutex<String>,
    http: reqwest::Client,
}

async fn connector(
    State(mock): State<Arc<Mock>>,
    uri: Uri,
    body: Bytes,
) -> axum::response::Response {
    let now = Instant::now();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let conversation = uri.path().split('/').nth(4).unwrap_or_default().to_owned();
    let card = body.pointer("/attachments/0/content/body");
    let headline = card
        .and_then(|b| b[0]["text"].as_str())
        .unwrap_or_default()
        .to_owned();
    if headline == "New chat request" {
        let name = card
            .and_then(|b| b[2]["text"].as_str())
            .unwrap_or_default()
            .to_owned();
        let id = body.to_string();
        let id = id
            .split("\"invitationId\":\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_default()
            .to_owned();
        mock.seen.lock().expect("lock").invited.insert(name, now);
        let agent: usize = conversation
            .trim_start_matches("personal-")
            .parse()
            .unwrap_or(0);
        let mock = Arc::clone(&mock);
        tokio::spawn(async move {
            let mut invoke = common::agent_activity(
                &mock.service_url.lock().expect("lock").clone(),
                TENANT,
                agent,
                "invoke",
            );
            invoke["name"] = json!("adaptiveCard/action");
            invoke["value"] = json!({"action": {"type": "Action.Execute",
                "verb": "im.invitation.accept", "data": {"invitationId": id}}});
            let _ = mock
                .http
                .post(format!("{}/api/messages", mock.app))
                .json(&invoke)
                .send()
                .await;
        });
    } else if headline == "Chat started" {
        let name = card
            .and_then(|b| b[2]["text"].as_str())
            .unwrap_or_default()
            .to_owned();
        mock.seen.lock().expect("lock").started.insert(name, now);
    } else if let Some(text) = body["text"].as_str()
        && let Some(rest) = text.strip_prefix("**")
        && let Some((name, message)) = rest.split_once("**: ")
        && message.starts_with("ping")
    {
        mock.seen
            .lock()
            .expect("lock")
            .relayed
            .insert(name.to_owned(), now);
    }
    (
        axum::http::StatusCode::CREATED,
        axum::Json(json!({"id": uuid::Uuid::new_v4().to_string()})),
    )
        .into_response()
}

fn main() {
    let [rate, seconds, agents] = common::numbers([100, 10, 300]);
    common::runtime().block_on(run(rate, seconds, agents));
}

async fn run(rate: usize, seconds: usize, agents: usize) {
    let (state, address, _store) = common::start_service(&[]).await;

    let mock = Arc::new(Mock {
        seen: Mutex::new(Seen::default()),
        app: address.clone(),
        service_url: Mutex::new(String::new()),
        http: reqwest::Client::new(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    *mock.service_url.lock().expect("lock") =
        format!("http://{}/bench/", listener.local_addr().expect("addr"));
    let router = axum::Router::new()
        .fallback(connector)
        .with_state(Arc::clone(&mock));
    tokio::spawn(async move { axum::serve(listener, router).await });

    // The directory: one service, `agents` agents with no after-contact work.
    let workflow = json!({"id": "w", "name": "W", "start": "a", "activities": {
        "a": {"type": "Accept", "next": "q"},
        "q": {"type": "QueueTask", "ringTimeoutSeconds": 30, "exits": {"queued": "wait", "failed": "end"}},
        "wait": {"type": "Delay", "seconds": 3600, "next": "wait"},
        "end": {"type": "Disconnect"}
    }});
    let members: Vec<String> = (0..agents).map(|i| format!("agent{i}")).collect();
    let service: Service = serde_json::from_value(json!({
        "id": "s", "name": "Support", "workflow": "w", "members": members,
        "licenses": {"contactCenter": true}, "modalities": {"instantMessage": true},
        "distribution": {"acwSeconds": 0},
        "interact": {"enabled": true, "instantMessage": true, "contactId": "bench", "widgetKey": "k"}
    }))
    .expect("service");
    docs::put(&state.pool, TENANT, Kind::Workflow, "w", &workflow, None, 0)
        .await
        .expect("workflow");
    docs::put(&state.pool, TENANT, Kind::Service, "s", &service, None, 0)
        .await
        .expect("service");
    let service_url = mock.service_url.lock().expect("lock").clone();
    common::install_agents(&state, &address, &service_url, TENANT, agents).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let total = rate * seconds;
    let started = Arc::new(Mutex::new(HashMap::<String, Instant>::new()));
    let sent = Arc::new(Mutex::new(HashMap::<String, Instant>::new()));
    let mut tasks = Vec::new();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let begin = Instant::now();
    for i in 0..total {
        let due = begin + interval * u32::try_from(i).unwrap_or(u32::MAX);
        tokio::time::sleep_until(due.into()).await;
        let (address, mock, started, sent) = (
            address.clone(),
            Arc::clone(&mock),
            Arc::clone(&started),
            Arc::clone(&sent),
        );
        tasks.push(tokio::spawn(async move {
            let source = IpAddr::V4(Ipv4Addr::new(127, 1, (i / 250) as u8, (i % 250 + 1) as u8));
            let client = reqwest::Client::builder()
                .local_address(source)
                .build()
                .expect("client");
            let name = format!("Customer {i}");
            started.lock().expect("lock").insert(name.clone(), Instant::now());
            let created: Value = client
                .post(format!("{address}/api/interact/v1/contacts/bench/sessions"))
                .json(&json!({"widgetKey": "k", "displayName": name, "email": format!("c{i}@example.com"), "privacyConsent": true}))
                .send()
                .await
                .expect("create")
                .json()
                .await
                .expect("json");
            let (Some(session), Some(token)) = (created["sessionId"].as_str(), created["token"].as_str()) else {
                eprintln!("session not created: {created}");
                return;
            };
            // Wait for the chatroom, then write.
            let deadline = Instant::now() + Duration::from_secs(20);
            while !mock.seen.lock().expect("lock").started.contains_key(&name) {
                if Instant::now() > deadline {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            sent.lock().expect("lock").insert(name.clone(), Instant::now());
            let _ = client
                .post(format!("{address}/api/interact/v1/sessions/{session}/messages"))
                .bearer_auth(token)
                .json(&json!({"text": "ping", "clientMessageId": "1"}))
                .send()
                .await;
            while !mock.seen.lock().expect("lock").relayed.contains_key(&name) {
                if Instant::now() > deadline {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let _ = client
                .post(format!("{address}/api/interact/v1/sessions/{session}/end"))
                .bearer_auth(token)
                .send()
                .await;
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = begin.elapsed();
    let seen = mock.seen.lock().expect("lock");
    let started = started.lock().expect("lock");
    let sent = sent.lock().expect("lock");
    let invite: Vec<Duration> = started
        .iter()
        .filter_map(|(n, t0)| Some(seen.invited.get(n)?.duration_since(*t0)))
        .collect();
    let relay: Vec<Duration> = sent
        .iter()
        .filter_map(|(n, t0)| Some(seen.relayed.get(n)?.duration_since(*t0)))
        .collect();
    println!(
        "{total} sessions at {rate}/s over {:.1} s, {agents} agents (in-process, 2 worker threads)",
        elapsed.as_secs_f64()
    );
    common::report("create session -> invitation POSTed", invite, total);
    common::report("customer message -> posted in chatroom", relay, total);
}
