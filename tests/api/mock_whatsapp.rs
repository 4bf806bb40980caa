//! A mock of the WhatsApp Business Cloud API on loopback, as faithful as the tests need:
//! - `POST /v24.0/{phone-number-id}/messages` checks the Bearer token (else 401, code 190),
//!   records the body, and answers Meta's success shape (`messages[0].id`; `{"success":true}`
//!   for a read receipt) or, on demand, Meta's error body (`error.code`,
//!   `error_data.details`) with its HTTP status;
//! - after a successful send it posts the statuses back to Switchboard's webhook, signed with
//!   the app secret as Meta signs them (`sent`, `delivered`; or `failed` with an error);
//! - customers' messages are posted to the webhook the same way.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use switchboard::whatsapp_cloud::webhook::signature;
use tokio::net::TcpListener;

pub const TOKEN: &str = "EAAG-system-user-token";
pub const APP_SECRET: &str = "meta-app-secret";
pub const VERIFY_TOKEN: &str = "verify-me";
pub const NUMBER: &str = "106540352242922";
pub const ACCOUNT: &str = "102290129340398";

/// How the mock answers the next send.
#[derive(Debug, Clone)]
pub enum Answer {
    /// HTTP `status` with `error.code` = `code`.
    Error { status: u16, code: i64 },
    /// Accepted (a message id), then reported `failed` with `code`.
    AcceptThenFail { code: i64 },
}

/// A send the mock received.
#[derive(Debug, Clone)]
pub struct Sent {
    pub number: String,
    pub body: Value,
    /// The wamid answered (none for an error or a read receipt).
    pub wamid: Option<String>,
}

#[derive(Default)]
struct MockState {
    sent: Mutex<Vec<Sent>>,
    answers: Mutex<VecDeque<Answer>>,
    webhook: Mutex<Option<String>>,
    next: AtomicU64,
    statuses: std::sync::atomic::AtomicBool,
}

pub struct MockCloud {
    pub base_url: String,
    state: Arc<MockState>,
    http: reqwest::Client,
}

impl MockCloud {
    pub async fn start() -> Arc<Self> {
        let state = Arc::new(MockState::default());
        state.statuses.store(true, Ordering::SeqCst);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base_url = format!("http://{}", listener.local_addr().expect("addr"));
        let router = Router::new()
            .route("/v24.0/{number}/messages", post(messages))
            .route("/v24.0/{media}", axum::routing::get(media_info))
            .route("/download/{media}", axum::routing::get(download))
            .route(
                "/v24.0/{account}/message_templates",
                axum::routing::get(templates),
            )
            .with_state(Arc::clone(&state));
        tokio::spawn(async move {
            axum::serve(listener, router).await.expect("serve");
        });
        Arc::new(MockCloud {
            base_url,
            state,
            http: reqwest::Client::new(),
        })
    }

    /// `whatsapp.graph_base_url` for Switchboard.
    pub fn graph_base_url(&self) -> String {
        format!("{}/v24.0", self.base_url)
    }

    /// Where statuses and customers' messages are posted.
    pub fn deliver_to(&self, switchboard: &str) {
        *self.state.webhook.lock().expect("lock") =
            Some(format!("{switchboard}/api/whatsapp/webhook"));
    }

    /// Whether statuses are posted back after sends (on by default).
    pub fn post_statuses(&self, on: bool) {
        self.state.statuses.store(on, Ordering::SeqCst);
    }

    /// Answers the next sends as given, in order.
    pub fn answer_next(&self, answers: impl IntoIterator<Item = Answer>) {
        self.state.answers.lock().expect("lock").extend(answers);
    }

    pub fn sent(&self) -> Vec<Sent> {
        self.state.sent.lock().expect("lock").clone()
    }

    /// The texts of the text messages sent to `to` and accepted, in order.
    pub fn texts_to(&self, to: &str) -> Vec<String> {
        self.sent()
            .into_iter()
            .filter(|s| s.wamid.is_some() && s.body["to"] == to && s.body["type"] == "text")
            .filter_map(|s| s.body["text"]["body"].as_str().map(str::to_owned))
            .collect()
    }

    /// Posts a signed webhook; returns the HTTP status.
    pub async fn post_webhook(&self, value: Value) -> u16 {
        post_signed(&self.http, &self.state, value).await
    }

    /// A customer's text message, as Meta posts it.
    pub async fn customer_says(&self, wa_id: &str, name: &str, wamid: &str, text: &str) -> u16 {
        self.post_webhook(json!({
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": NUMBER},
            "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": wamid, "timestamp": now_secs(), "type": "text",
                          "text": {"body": text}}]
        }))
        .await
    }
}

fn now_secs() -> String {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        .to_string()
}

async fn post_signed(http: &reqwest::Client, state: &MockState, value: Value) -> u16 {
    let Some(url) = state.webhook.lock().expect("lock").clone() else {
        return 0;
    };
    let body = json!({"object": "whatsapp_business_account",
        "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": value}]}]})
    .to_string();
    let signed = signature(APP_SECRET.as_bytes(), body.as_bytes());
    http.post(url)
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signed)
        .body(body)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

fn status_value(wamid: &str, to: &str, status: &str, error: Option<i64>) -> Value {
    let mut item =
        json!({"id": wamid, "status": status, "timestamp": now_secs(), "recipient_id": to});
    if let Some(code) = error {
        item["errors"] = json!([{"code": code, "title": "Re-engagement message",
            "message": "Re-engagement message",
            "error_data": {"details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number."}}]);
    }
    json!({"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": NUMBER},
        "statuses": [item]})
}

fn error_body(code: i64) -> Value {
    let (message, details) = match code {
        131_047 => (
            "Re-engagement message",
            "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
        ),
        130_429 => (
            "Rate limit hit",
            "Cloud API message throughput has been reached.",
        ),
        131_056 => (
            "(Business Account, Consumer Account) pair rate limit hit",
            "Too many messages sent from this phone number to the same phone number in a short period of time.",
        ),
        190 => (
            "Invalid OAuth access token",
            "The access token could not be decrypted.",
        ),
        _ => ("Error", "Something went wrong."),
    };
    json!({"error": {"message": message, "type": "OAuthException", "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details},
        "fbtrace_id": "AbCdEf"}})
}

/// A page a customer sends as a document (`M-HTML`, `text/html`).
pub const HTML: &[u8] = b"<html><script>alert(document.domain)</script></html>";

/// The bytes of a test image (`M-IMAGE`); `M-HUGE` announces 20 MB.
pub const IMAGE: &[u8] = b"\xff\xd8\xff\xe0 not really a jpeg";

fn authorised(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"))
}

/// `GET /{media-id}`: where to download it.
async fn media_info(Path(media): Path<String>, headers: HeaderMap) -> Response {
    if !authorised(&headers) {
        return (StatusCode::UNAUTHORIZED, axum::Json(error_body(190))).into_response();
    }
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let (size, mime) = match media.as_str() {
        "M-IMAGE" => (IMAGE.len(), "image/jpeg"),
        "M-HUGE" => (20 * 1024 * 1024, "application/pdf"),
        "M-HTML" => (HTML.len(), "text/html"),
        _ => return (StatusCode::BAD_REQUEST, axum::Json(error_body(100))).into_response(),
    };
    axum::Json(
        json!({"messaging_product": "whatsapp", "url": format!("http://{host}/download/{media}"),
        "mime_type": mime, "sha256": "abc", "file_size": size, "id": media}),
    )
    .into_response()
}

/// The download, with the same token.
async fn download(Path(media): Path<String>, headers: HeaderMap) -> Response {
    if !authorised(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match media.as_str() {
        "M-IMAGE" => ([("content-type", "image/jpeg")], IMAGE).into_response(),
        "M-HTML" => ([("content-type", "text/html")], HTML).into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `GET /{waba-id}/message_templates`: two pages, one template not approved.
async fn templates(
    Path(account): Path<String>,
    headers: HeaderMap,
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let authorised = headers.get("authorization").and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {TOKEN}"));
    if !authorised {
        return (StatusCode::UNAUTHORIZED, axum::Json(error_body(190))).into_response();
    }
    if account != ACCOUNT {
        return (StatusCode::BAD_REQUEST, axum::Json(error_body(100))).into_response();
    }
    if query.get("after").map(String::as_str) == Some("page2") {
        return axum::Json(json!({"data": [
            {"name": "hello_world", "language": "en_US", "status": "APPROVED", "category": "UTILITY",
             "components": [{"type": "BODY", "text": "Hello World"}], "id": "2"}
        ], "paging": {"cursors": {"before": "b", "after": "c"}}}))
        .into_response();
    }
    axum::Json(json!({"data": [
        {"name": "order_update", "language": "en_US", "status": "APPROVED", "category": "UTILITY",
         "components": [{"type": "BODY", "text": "Hello {{1}}, your order {{2}} has news."}], "id": "1"},
        {"name": "promo", "language": "en_US", "status": "REJECTED", "category": "MARKETING",
         "components": [{"type": "BODY", "text": "Buy now"}], "id": "3"}
    ], "paging": {"cursors": {"before": "a", "after": "page2"},
        "next": format!("http://{host}/v24.0/{account}/message_templates?limit=100&after=page2")}}))
    .into_response()
}

async fn messages(
    State(state): State<Arc<MockState>>,
    Path(number): Path<String>,
    headers: HeaderMap,
    body: axum::Json<Value>,
) -> Response {
    let body = body.0;
    let authorised = headers.get("authorization").and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {TOKEN}"));
    let record = |wamid: Option<String>| {
        state.sent.lock().expect("lock").push(Sent {
            number: number.clone(),
            body: body.clone(),
            wamid,
        });
    };
    if !authorised {
        record(None);
        return (StatusCode::UNAUTHORIZED, axum::Json(error_body(190))).into_response();
    }
    if body["messaging_product"] != "whatsapp" {
        record(None);
        return (StatusCode::BAD_REQUEST, axum::Json(error_body(100))).into_response();
    }
    if body.get("status").is_some() {
        record(None);
        return axum::Json(json!({"success": true})).into_response();
    }
    let answer = state.answers.lock().expect("lock").pop_front();
    if let Some(Answer::Error { status, code }) = answer {
        record(None);
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
        return (status, axum::Json(error_body(code))).into_response();
    }
    let wamid = format!("wamid.OUT{}", state.next.fetch_add(1, Ordering::SeqCst) + 1);
    record(Some(wamid.clone()));
    let to = body["to"]
        .as_str()
        .or_else(|| body["recipient"].as_str())
        .unwrap_or_default()
        .to_owned();
    let fail = match answer {
        Some(Answer::AcceptThenFail { code }) => Some(code),
        _ => None,
    };
    if state.statuses.load(Ordering::SeqCst) || fail.is_some() {
        // Statuses come later, on their own connection.
        let state = Arc::clone(&state);
        let (wamid, to) = (wamid.clone(), to.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            match fail {
                Some(code) => {
                    post_signed(
                        &http,
                        &state,
                        status_value(&wamid, &to, "failed", Some(code)),
                    )
                    .await;
                }
                None => {
                    // Out of order, as Meta may: delivered before sent.
                    post_signed(&http, &state, status_value(&wamid, &to, "delivered", None)).await;
                    post_signed(&http, &state, status_value(&wamid, &to, "sent", None)).await;
                }
            }
        });
    }
    axum::Json(json!({"messaging_product": "whatsapp",
        "contacts": [{"input": to, "wa_id": to}],
        "messages": [{"id": wamid}]}))
    .into_response()
}
