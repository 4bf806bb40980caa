//! The WhatsApp edge: Meta's webhook at `/api/whatsapp/webhook`.
//!
//! - `GET`: the subscription handshake. With `hub.mode=subscribe` and the configured
//!   `whatsapp.verify_token` (compared in constant time), it answers 200 with `hub.challenge` as
//!   plain text, never sniffed (`nosniff`) nor cached. Otherwise it answers 403.
//! - `POST`: a body announced larger than [`MAX_WEBHOOK_BYTES`] is refused on its head (413
//!   `body_too_large`), as is one without a well-formed `X-Hub-Signature-256` (401); the body is
//!   then read with that cap, never buffering more. The signature is checked over the raw bytes
//!   with `whatsapp.app_secret` before anything is parsed (else 401, nothing stored). The
//!   verified items are stored once each (`store::whatsapp`), and only then is the webhook
//!   answered 200, so an item Meta sent is never lost and a retry is never stored twice.
//!   Without an app secret every webhook is refused (403).
//!
//!
//! Behind it: [`inbound`] turns the stored items into sessions (in arrival order), [`courier`]
//! carries each session's events to WhatsApp through the outbox, and [`outcomes`] records what
//! became of each send and tells the agent when a message did not reach the customer.

mod courier;
pub mod inbound;
mod media;
mod outcomes;
pub mod simulator;

use std::collections::HashMap;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use secrecy::ExposeSecret;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::app::AppState;
use crate::http::body::{BodyError, announced_over, read_capped, too_large};
use crate::http::problem::{ApiResult, Refused};
use crate::security::{hash_secret, same_hash};
use crate::whatsapp_cloud::webhook::{self, PresentedSignature, SignatureError};

/// The largest webhook body taken. Meta batches at most a few hundred small items per call.
pub const MAX_WEBHOOK_BYTES: usize = 1024 * 1024;

/// The longest `hub.challenge` echoed back (Meta's are short numbers).
const MAX_CHALLENGE_CHARS: usize = 256;

/// Starts the WhatsApp workers; they stop with `shutdown`.
pub fn start(app: &AppState, shutdown: &CancellationToken) -> Vec<tokio::task::JoinHandle<()>> {
    let (tap, notices) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    if app.events.set_tap(tap) {
        tasks.push(tokio::spawn(courier::run(
            app.clone(),
            notices,
            shutdown.clone(),
        )));
    }
    if let Some(outcomes) = app.outbox.take_whatsapp_outcomes() {
        tasks.push(tokio::spawn(outcomes::run(
            app.clone(),
            outcomes,
            shutdown.clone(),
        )));
    }
    tasks.push(tokio::spawn(media::run(
        app.clone(),
        std::sync::Arc::clone(&app.whatsapp_media),
        shutdown.clone(),
    )));
    tasks.push(tokio::spawn(inbound::run(
        app.clone(),
        std::sync::Arc::clone(&app.whatsapp_inbound),
        shutdown.clone(),
    )));
    tasks
}

/// The webhook, the agents' media links and the simulator; no route here takes a body over
/// [`MAX_WEBHOOK_BYTES`] (refused on its announced length, see [`crate::http::body::limit`]).
pub fn router(simulator: Option<std::sync::Arc<simulator::Simulator>>) -> Router<AppState> {
    let router = Router::new()
        .route("/api/whatsapp/webhook", get(handshake).post(receive))
        .route("/api/whatsapp/media/{id}", get(media::serve))
        .merge(simulator::router(simulator));
    crate::http::body::limit(router, MAX_WEBHOOK_BYTES)
}

async fn handshake(
    State(app): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let forbidden = || {
        Refused::new(
            StatusCode::FORBIDDEN,
            "verification_failed",
            "the subscription mode or verify token is wrong",
        )
    };
    let Some(expected) = &app.settings.whatsapp.verify_token else {
        return Err(Refused::new(
            StatusCode::FORBIDDEN,
            "whatsapp_not_configured",
            "whatsapp.verify_token is not set",
        ));
    };
    let presented = query.get("hub.verify_token").map(String::as_str);
    let token_ok = presented
        .is_some_and(|t| same_hash(&hash_secret(t), &hash_secret(expected.expose_secret())));
    if query.get("hub.mode").map(String::as_str) != Some("subscribe") || !token_ok {
        tracing::info!("WhatsApp subscription handshake refused");
        return Err(forbidden());
    }
    let challenge = query.get("hub.challenge").map_or("", String::as_str);
    if challenge.chars().count() > MAX_CHALLENGE_CHARS {
        return Err(Refused::new(
            StatusCode::BAD_REQUEST,
            "invalid_challenge",
            "hub.challenge is too long",
        ));
    }
    // The challenge is the caller's text: never sniffed as anything but plain text.
    let mut response = (StatusCode::OK, challenge.to_owned()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `POST`: refused on its head when it can be (no app secret, an announced body over
/// [`MAX_WEBHOOK_BYTES`], no usable signature header), then read with that cap, so no more than
/// the cap is ever buffered for the signature check.
async fn receive(State(app): State<AppState>, headers: HeaderMap, body: Body) -> ApiResult {
    let Some(secret) = &app.settings.whatsapp.app_secret else {
        return Err(Refused::new(
            StatusCode::FORBIDDEN,
            "whatsapp_not_configured",
            "whatsapp.app_secret is not set: no webhook can be verified",
        ));
    };
    if announced_over(&headers, MAX_WEBHOOK_BYTES) {
        return Err(too_large(MAX_WEBHOOK_BYTES).into());
    }
    let refused = |e: SignatureError| {
        tracing::info!(code = e.code(), "WhatsApp webhook refused");
        Refused::new(StatusCode::UNAUTHORIZED, e.code(), &e.to_string())
    };
    let presented = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    let signature = PresentedSignature::parse(presented).map_err(refused)?;
    let body = read_capped(body, MAX_WEBHOOK_BYTES)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => Refused::from(too_large(MAX_WEBHOOK_BYTES)),
            BodyError::Unreadable => Refused::new(
                StatusCode::BAD_REQUEST,
                "body_unreadable",
                "the body could not be read",
            ),
        })?;
    signature
        .verify(secret.expose_secret().as_bytes(), &body)
        .map_err(refused)?;
    let payload: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        Refused::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            &format!("the body is not JSON: {e}"),
        )
    })?;
    let parsed = webhook::parse(&payload);
    if !parsed.errors.is_empty() {
        tracing::warn!(codes = ?parsed.errors, "WhatsApp reported webhook errors");
    }
    if parsed.skipped > 0 {
        tracing::warn!(
            skipped = parsed.skipped,
            "WhatsApp webhook items without a number or id"
        );
    }
    let received = parsed.items.len();
    let new = app.whatsapp_writer.store(parsed.items).await?;
    tracing::debug!(items = received, new, "WhatsApp webhook stored");
    Ok(axum::Json(json!({
        "received": received,
        "new": new,
        "duplicates": received - new,
    }))
    .into_response())
}
