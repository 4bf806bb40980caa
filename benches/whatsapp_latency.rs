//! Latency of the WhatsApp path under a steady load: from "Meta posts the signed webhook" to
//! "the message is posted in the agent's chatroom", with `CHATS` connected chats receiving
//! `RATE` customer messages per second between them for `SECONDS` seconds (default 100 chats,
//! 100 messages/s, 10 s). Also reported: first message -> invitation POSTed, while the chats
//! are being set up (all at once).
//!
//! Everything runs in this process on loopback: the real service (anonymous mode, so
//! chatrooms are the agents' personal chats), one mock answering both the Connector (recording
//! when each call arrives and making the invited agent accept at once) and the Graph API (every
//! send to the customer accepted with a wamid), and Meta (each webhook signed with the app
//! secret, one message per webhook, as Meta sends them).
//!
//! `cargo bench --bench whatsapp_latency [-- RATE SECONDS CHATS]`

#[path = "common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::Uri;
use axum::response::IntoResponse;
use serde_json::{Value, json};
use switchboard::directory::model::Service;
use switchboard::directory::store::{self as docs, Kind};
use switchboard::store::AsPool;
use switchboard::store::whatsapp::{Credentials, set_credentials};
use switchboard::whatsapp_cloud::webhook::signature;

const TENANT: &str = "bench-tenant";
const SECRET: &str = "bench-app-secret";
const NUMBER: &str = "106540352242922";

/// When each thing reached the mock, by customer name (and message number).
#[derive(Default)]
struct Seen {
    invited: HashMap<String, Instant>,
    started: HashMap<String, Instant>,
    relayed: HashMap<(String, usize), Instant>,
    sends_to_customers: usize,
}

struct Mock {
    seen: Mutex<Seen>,
    app: String,
    service_url: String,
    http: reqwest::Client,
}

/// The Connector and the Graph API in one.
async fn mock_api(
    State(mock): State<Arc<Mock>>,
    uri: Uri,
    body: Bytes,
) -> axum::response::Response {
    let now = Instant::now();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if uri.path().starts_with("/graph/") {
        mock.seen.lock().expect("lock").sends_to_customers += 1;
        return axum::Json(json!({"messaging_product": "whatsapp",
            "messages": [{"id": format!("wamid.out.{}", uuid::Uuid::new_v4().simple())}]}))
        .into_response();
    }
    let conversation = uri.path().split('/').nth(4).unwrap_or_default().to_owned();
    let card = body.pointer("/attachments/0/content/body");
    let block = |i: usize| {
        card.and_then(|b| b[i]["text"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    match block(0).as_str() {
        "New chat request" => {
            mock.seen
                .lock()
                .expect("lock")
                .invited
                .insert(block(2), now);
            let id = body
                .to_string()
                .split("\"invitationId\":\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .unwrap_or_default()
                .to_owned();
            let agent: usize = conversation
                .trim_start_matches("personal-")
                .parse()
                .unwrap_or(0);
            let mock = Arc::clone(&mock);
            tokio::spawn(async move {
                let mut invoke = common::agent_activity(&mock.service_url, TENANT, agent, "invoke");
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
        }
        "Chat started" => {
            mock.seen
                .lock()
                .expect("lock")
                .started
                .insert(block(2), now);
        }
        _ => {
            // A relayed customer message: "**Customer 7**: ping 12".
            if let Some(text) = body["text"].as_str()
                && let Some(rest) = text.strip_prefix("**")
                && let Some((name, message)) = rest.split_once("**: ")
                && let Some(n) = message.strip_prefix("ping ").and_then(|n| n.parse().ok())
            {
                mock.seen
                    .lock()
                    .expect("lock")
                    .relayed
                    .insert((name.to_owned(), n), now);
            }
        }
    }
    (
        axum::http::StatusCode::CREATED,
        axum::Json(json!({"id": uuid::Uuid::new_v4().to_string()})),
    )
        .into_response()
}

fn webhook(customer: usize, n: usize, text: &str) -> (String, String) {
    let wa_id = format!("1555{customer:07}");
    // Sent now: the 24-hour window is open, so what the customer is told goes out.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": NUMBER},
        "contacts": [{"profile": {"name": format!("Customer {customer}")}, "wa_id": wa_id}],
        "messages": [{"from": wa_id, "id": format!("wamid.{customer}.{n}"), "timestamp": now.to_string(),
                      "type": "text", "text": {"body": text}}]}}]}]})
    .to_string();
    let signed = signature(SECRET.as_bytes(), body.as_bytes());
    (body, signed)
}

fn main() {
    let [rate, seconds, chats] = common::numbers([100, 10, 100]);
    common::runtime().block_on(run(rate, seconds, chats));
}

async fn post_webhook(http: &reqwest::Client, url: &str, (body, signed): (String, String)) {
    let response = http
        .post(url)
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signed)
        .body(body)
        .send()
        .await
        .expect("webhook");
    assert_eq!(response.status(), 200, "webhook refused");
}

async fn run(rate: usize, seconds: usize, chats: usize) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let mock_base = format!("http://{}", listener.local_addr().expect("addr"));
    let (state, address, _store) = common::start_service(&[
        ("SWITCHBOARD_WHATSAPP__APP_SECRET", SECRET.to_owned()),
        (
            "SWITCHBOARD_WHATSAPP__GRAPH_BASE_URL",
            format!("{mock_base}/graph/v24.0"),
        ),
    ])
    .await;

    let mock = Arc::new(Mock {
        seen: Mutex::new(Seen::default()),
        app: address.clone(),
        service_url: format!("{mock_base}/bench/"),
        http: reqwest::Client::new(),
    });
    let router = axum::Router::new()
        .fallback(mock_api)
        .with_state(Arc::clone(&mock));
    tokio::spawn(async move { axum::serve(listener, router).await });

    // One service on the number, one agent per chat, no after-contact work.
    let workflow = json!({"id": "w", "name": "W", "start": "a", "activities": {
        "a": {"type": "Accept", "next": "q"},
        "q": {"type": "QueueTask", "ringTimeoutSeconds": 30, "exits": {"queued": "wait", "failed": "end"}},
        "wait": {"type": "Delay", "seconds": 3600, "next": "wait"},
        "end": {"type": "Disconnect"}
    }});
    let members: Vec<String> = (0..chats).map(|i| format!("agent{i}")).collect();
    let service: Service = serde_json::from_value(json!({
        "id": "s", "name": "Support", "workflow": "w", "members": members,
        "licenses": {"contactCenter": true}, "modalities": {"instantMessage": true},
        "distribution": {"acwSeconds": 0}, "whatsapp": {"phoneNumberId": NUMBER}
    }))
    .expect("service");
    docs::put(&state.pool, TENANT, Kind::Workflow, "w", &workflow, None, 0)
        .await
        .expect("workflow");
    docs::put(&state.pool, TENANT, Kind::Service, "s", &service, None, 0)
        .await
        .expect("service");
    let mut conn = state.pool.acquire().await.expect("connection");
    let credentials = Credentials {
        access_token: Some("bench-token".into()),
        business_account_id: None,
        updated_at: None,
    };
    set_credentials(&mut conn, TENANT, &credentials, 0)
        .await
        .expect("credentials");
    drop(conn);
    common::install_agents(&state, &address, &mock.service_url, TENANT, chats).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // The chats: every customer's first message at once; each is invited and accepted.
    let url = format!("{address}/api/whatsapp/webhook");
    let http = reqwest::Client::new();
    let mut opened = HashMap::new();
    for c in 0..chats {
        opened.insert(format!("Customer {c}"), Instant::now());
        post_webhook(&http, &url, webhook(c, 0, "hello")).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while mock.seen.lock().expect("lock").started.len() < chats {
        assert!(Instant::now() < deadline, "not every chat started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The load: RATE messages per second, round robin over the chats.
    let total = rate * seconds;
    let sent = Arc::new(Mutex::new(HashMap::<(String, usize), Instant>::new()));
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let begin = Instant::now();
    let mut tasks = Vec::new();
    for k in 0..total {
        let due = begin + interval * u32::try_from(k).unwrap_or(u32::MAX);
        tokio::time::sleep_until(due.into()).await;
        let (http, url, sent) = (http.clone(), url.clone(), Arc::clone(&sent));
        tasks.push(tokio::spawn(async move {
            let customer = k % chats;
            let n = k / chats + 1;
            let request = webhook(customer, n, &format!("ping {n}"));
            sent.lock()
                .expect("lock")
                .insert((format!("Customer {customer}"), n), Instant::now());
            post_webhook(&http, &url, request).await;
        }));
    }
    for task in tasks {
        task.await.expect("sender");
    }
    let offered = begin.elapsed();
    let deadline = Instant::now() + Duration::from_secs(30);
    while mock.seen.lock().expect("lock").relayed.len() < total && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sends = switchboard::db!(state.pool.on(), |c| {
        sqlx::query_as::<_, (String, i64, Option<String>)>(
            "SELECT state, COUNT(*), MAX(last_error) FROM outbox WHERE lane LIKE 'whatsapp|%' GROUP BY state",
        )
        .fetch_all(c)
        .await
    })
    .expect("outbox");
    let seen = mock.seen.lock().expect("lock");
    let sent = sent.lock().expect("lock");
    let invite: Vec<Duration> = opened
        .iter()
        .filter_map(|(name, t0)| Some(seen.invited.get(name)?.duration_since(*t0)))
        .collect();
    let relay: Vec<Duration> = sent
        .iter()
        .filter_map(|(key, t0)| Some(seen.relayed.get(key)?.duration_since(*t0)))
        .collect();
    println!(
        "whatsapp_latency: {chats} connected chats, {total} signed webhooks at {rate}/s (offered in {:.1} s; in-process, 2 worker threads)",
        offered.as_secs_f64()
    );
    common::report(
        &format!("first message -> invitation POSTed ({chats} at once)"),
        invite,
        chats,
    );
    common::report("webhook -> posted in the chatroom", relay, total);
    println!(
        "  sends to customers: {} reached the Graph mock; outbox {sends:?}",
        seen.sends_to_customers
    );
}
