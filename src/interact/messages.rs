//! `POST /sessions/{session}/messages`: a customer's message, stored once (retries by
//! `clientMessageId` are answered like the first), then handed to the engine; rate limits per
//! address and per session; refused once the session has ended.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use super::session::CustomerSession;
use super::validate::MessageText;
use crate::app::AppState;
use crate::customer::store::{self, Accepted, CustomerEvent, CustomerState};
use crate::engine::messages::Command;
use crate::http::client_ip::ClientIp;
use crate::http::extract::JsonBody;
use crate::http::problem::{ApiResult, Refused};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SendMessage {
    text: String,
    client_message_id: String,
}

pub(super) async fn send_message(
    State(app): State<AppState>,
    ClientIp(client): ClientIp,
    session: Result<CustomerSession, Refused>,
    JsonBody(body): JsonBody<SendMessage>,
) -> ApiResult {
    // Every request counts against its address; only one that opens the session counts
    // against the session, so a stranger who knows a session id cannot silence its customer.
    let address_limited = app.limits.message_from(&client.to_string()).err();
    let session = match session {
        Ok(s) => s,
        Err(refused) => return Err(address_limited.map_or(refused, Refused::from)),
    };
    let text = MessageText::parse(&body.text)
        .map_err(|e| session.refuse(StatusCode::BAD_REQUEST, "invalid_message", e))?;
    let client_id = body.client_message_id.trim();
    if client_id.is_empty() || client_id.chars().count() > 100 {
        return Err(session.refuse(
            StatusCode::BAD_REQUEST,
            "invalid_client_message_id",
            "clientMessageId must be 1 to 100 characters",
        ));
    }
    // A retried send is answered like the first one, even after the session ended.
    let duplicate = || {
        Ok((
            StatusCode::OK,
            session.cors.clone(),
            axum::Json(json!({"accepted": true, "duplicate": true})),
        )
            .into_response())
    };
    let ended = || {
        Err(session.refuse(
            StatusCode::CONFLICT,
            "session_ended",
            "the session has ended",
        ))
    };
    // A retry of a message already taken is answered like the first time, whatever the limits.
    if store::seen(&app.pool, session.id(), client_id).await? {
        return duplicate();
    }
    if session.row.state == CustomerState::Ended {
        return ended();
    }
    if let Some(limited) = address_limited {
        return Err(Refused::from(limited).with(&session.cors));
    }
    app.limits
        .message_in(session.id())
        .map_err(|limited| Refused::from(limited).with(&session.cors))?;
    match customer_message(&app, session.tenant(), session.id(), &text, client_id).await? {
        Accepted::New(_) => Ok((
            StatusCode::ACCEPTED,
            session.cors.clone(),
            axum::Json(json!({"accepted": true})),
        )
            .into_response()),
        Accepted::Duplicate => duplicate(),
        Accepted::Ended => ended(),
    }
}

/// Stores a customer's message and hands it to the engine, unless the session has ended (see
/// [`crate::customer::ending`]: the gate keeps a concurrent end from slipping in between).
pub(super) async fn customer_message(
    app: &AppState,
    tenant: &str,
    session: &str,
    text: &MessageText,
    client_id: &str,
) -> anyhow::Result<Accepted> {
    let _gate = app.session_gates.enter(session).await;
    // Everything the engine said before (an end too) is recorded before the customer's message.
    crate::customer::events::drain(&app.pool, &app.events, app.clock.now_ms()).await?;
    let event = CustomerEvent::CustomerMessage {
        text: text.as_str().to_owned(),
        client_message_id: client_id.to_owned(),
    };
    let accepted =
        store::accept_message(&app.pool, session, client_id, &event, app.clock.now_ms()).await?;
    if !matches!(accepted, Accepted::New(_)) {
        return Ok(accepted);
    }
    app.events.notify(session);
    let engine = app.engines.get(tenant).await?;
    engine
        .send(Command::CustomerMessage {
            session: session.to_owned(),
            text: text.as_str().to_owned(),
            seq: match accepted {
                Accepted::New(seq) => Some(seq),
                _ => None,
            },
        })
        .await?;
    Ok(accepted)
}
