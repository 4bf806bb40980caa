//! A customer's session: creating it (with its first message), reading its state, ending it.
//! Handlers answer [`ApiResult`]; the session token is the [`CustomerSession`] extractor. The
//! routes are in [`super::router`]; messages are in [`super::messages`], the event stream in
//! [`super::stream`].

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::Deserialize;
use serde_json::json;

use super::arrival::{Arrival, CustomerForm, arrive};
use super::session::CustomerSession;
use super::validate::MessageText;
use crate::app::AppState;
use crate::customer::store::{self, CustomerEvent, CustomerState, StoredSession};
use crate::directory::contacts::{Contact, Target};
use crate::engine::messages::{Command, Customer};
use crate::engine::sync::{Scope, sync};
use crate::http::client_ip::ClientIp;
use crate::http::extract::JsonBody;
use crate::http::problem::{ApiResult, Refused};
use crate::security::hash_secret;

#[derive(Deserialize)]
pub(super) struct CreateSession {
    #[serde(flatten)]
    form: CustomerForm,
    #[serde(default)]
    message: Option<String>,
}

pub(super) async fn create_session(
    State(app): State<AppState>,
    ClientIp(client): ClientIp,
    Path(contact_id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<CreateSession>,
) -> ApiResult {
    let arrival = arrive(&app, &client.to_string(), &contact_id, &headers, body.form).await?;
    let first = body
        .message
        .as_deref()
        .filter(|m| !m.trim().is_empty())
        .map(MessageText::parse)
        .transpose()
        .map_err(|e| arrival.refuse("invalid_message", e))?;
    arrival.require_key()?;
    let Arrival {
        contact,
        cors: cors_headers,
        customer,
        ..
    } = arrival;
    if let Err(reason) = contact.takes_chats() {
        return Err(
            Refused::new(StatusCode::FORBIDDEN, "interact_unavailable", &reason)
                .with(&cors_headers),
        );
    }

    let session = uuid::Uuid::new_v4().to_string();
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let token = URL_SAFE_NO_PAD.encode(secret);
    let now = app.clock.now_ms();
    let row = StoredSession {
        session_id: session.clone(),
        tenant_id: contact.tenant.clone(),
        contact_id,
        token_hash: hash_secret(&token),
        state: CustomerState::Connecting,
    };
    store::create(&app.pool, &row, now).await?;
    start(&app, &contact, &session, customer, first.as_ref()).await?;
    tracing::info!(tenant.id = %contact.tenant, session.id = %session, "customer session started");
    let body = json!({"sessionId": session, "token": token, "state": "connecting"});
    Ok((StatusCode::CREATED, cors_headers, axum::Json(body)).into_response())
}

/// Brings the contact's directory data into the tenant's engine and starts the session.
async fn start(
    app: &AppState,
    contact: &Contact,
    session: &str,
    customer: Customer,
    first: Option<&MessageText>,
) -> anyhow::Result<()> {
    let engine = app.engines.get(&contact.tenant).await?;
    let command = match &contact.target {
        Target::Service(service) => {
            sync(
                &app.pool,
                &app.engines,
                &contact.tenant,
                Scope::SessionService(service),
            )
            .await?;
            Command::StartSession {
                session: session.to_owned(),
                service: service.id.clone(),
                channel: "interact".into(),
                customer,
                parameters: BTreeMap::new(),
                first_message: first.map(|t| t.as_str().to_owned()),
            }
        }
        Target::User(user) => Command::StartDirectSession {
            session: session.to_owned(),
            user: user.id.clone(),
            customer,
            first_message: first.map(|t| t.as_str().to_owned()),
        },
    };
    // The customer wrote the opening message first: it is stored (and echoed) before anything
    // the workflow answers. It reaches the engine with the start only — it is what the
    // customer came with, shown to the agent, not an answer to a prompt the workflow has not
    // asked yet.
    if let Some(text) = first {
        let event = CustomerEvent::CustomerMessage {
            text: text.as_str().to_owned(),
            client_message_id: "first".to_owned(),
        };
        store::append(&app.pool, session, &event, app.clock.now_ms()).await?;
        app.events.notify(session);
    }
    engine.send(command).await?;
    Ok(())
}

pub(super) async fn session_state(
    State(app): State<AppState>,
    session: CustomerSession,
) -> ApiResult {
    let row = &session.row;
    let mut body = json!({"sessionId": row.session_id, "state": row.state});
    if row.state != CustomerState::Ended {
        let engine = app.engines.get(session.tenant()).await?;
        if let Some(view) = engine.view(session.id()).await? {
            body["state"] = json!(CustomerState::from(view.state));
            if let Some(position) = view.position {
                body["position"] = json!(position);
            }
            if let Some(agent) = view.agent {
                body["agent"] = json!({"displayName": agent});
            }
        }
    }
    Ok((session.cors, axum::Json(body)).into_response())
}

pub(super) async fn end_session(
    State(app): State<AppState>,
    session: CustomerSession,
) -> ApiResult {
    // Answered once the session is ended in the store: a message sent after this is refused.
    crate::customer::ending::customer_left(&app, session.tenant(), session.id(), false).await?;
    Ok((
        StatusCode::OK,
        session.cors,
        axum::Json(json!({"ended": true})),
    )
        .into_response())
}
