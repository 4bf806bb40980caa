//! `/api/interact/v1`: the customer API the widget uses (and the public Interact SDK surface).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::origin;
use super::validate::{CustomerEmail, DisplayName, MessageText};
use crate::app::AppState;
use crate::customer::store::{self, Accepted, CustomerEvent, SessionRow};
use crate::directory::contacts::{self, Contact, Target};
use crate::engine::messages::{Command, Customer};
use crate::engine::sync::{Scope, sync};
use crate::http::client_ip::ClientIp;
use crate::http::problem::Problem;
use crate::security::{hash_secret, same_hash};

/// The largest customer API body: a 4,000-character message, JSON-escaped, fits many times.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/contacts/{contact}/sessions",
            post(create_session).options(preflight_contact),
        )
        .route(
            "/sessions/{session}",
            get(session_state).options(preflight_session),
        )
        .route(
            "/sessions/{session}/messages",
            post(send_message).options(preflight_session),
        )
        .route(
            "/sessions/{session}/end",
            post(end_session).options(preflight_session),
        )
        .route(
            "/sessions/{session}/events",
            get(events).options(preflight_session),
        )
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
}

fn problem(status: StatusCode, code: &str, detail: &str) -> Response {
    Problem::new(status, code, detail.to_owned()).into_response()
}

fn internal(error: impl std::fmt::Display) -> Response {
    internal_problem(error).into_response()
}

/// A refusal as a value (helpers return it; handlers turn it into a response).
fn refusal(status: StatusCode, code: &str, detail: &str) -> Problem {
    Problem::new(status, code, detail.to_owned())
}

fn internal_problem(error: impl std::fmt::Display) -> Problem {
    tracing::error!(error = %error, "interact request failed");
    Problem::internal()
}

/// JSON bodies with problem+json errors.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(refusal(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                &format!("the body is larger than {MAX_BODY_BYTES} bytes"),
            )),
            Err(rejection) => Err(refusal(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                &rejection.body_text(),
            )),
        }
    }
}

/// CORS headers for an allowed `Origin`, or a 403 without any.
fn cors(contact: &Contact, headers: &HeaderMap) -> Result<HeaderMap, Problem> {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let interact = contact.interact();
    if !origin::allowed(interact.restrict_access, &interact.domain_templates, origin) {
        return Err(refusal(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            "this site may not use this contact",
        ));
    }
    let mut out = HeaderMap::new();
    if let Some(value) = origin.and_then(|o| HeaderValue::from_str(o).ok()) {
        out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        out.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    Ok(out)
}

fn preflight_headers(mut allowed: HeaderMap) -> Response {
    allowed.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST"),
    );
    allowed.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type, last-event-id"),
    );
    allowed.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    (StatusCode::NO_CONTENT, allowed).into_response()
}

async fn preflight_contact(
    State(app): State<AppState>,
    Path(contact): Path<String>,
    headers: HeaderMap,
) -> Response {
    match contacts::find(&app.pool, &contact).await {
        Ok(Some(c)) => {
            cors(&c, &headers).map_or_else(IntoResponse::into_response, preflight_headers)
        }
        Ok(None) => problem(StatusCode::NOT_FOUND, "unknown_contact", "no such contact"),
        Err(e) => internal(e),
    }
}

async fn preflight_session(
    State(app): State<AppState>,
    Path(params): Path<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let Some(session) = params.get("session") else {
        return problem(StatusCode::NOT_FOUND, "not_found", "no such session");
    };
    match session_contact(&app, session).await {
        Ok((_, contact)) => {
            cors(&contact, &headers).map_or_else(IntoResponse::into_response, preflight_headers)
        }
        Err(r) => r.into_response(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateSession {
    widget_key: String,
    display_name: String,
    email: String,
    privacy_consent: bool,
    #[serde(default)]
    message: Option<String>,
}

async fn create_session(
    State(app): State<AppState>,
    ClientIp(client): ClientIp,
    Path(contact_id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<CreateSession>,
) -> Response {
    if let Err(limited) = app.limits.new_session(&client.to_string()) {
        return limited.into_response();
    }
    let name = match DisplayName::parse(&body.display_name) {
        Ok(n) => n,
        Err(e) => return problem(StatusCode::BAD_REQUEST, "invalid_display_name", e),
    };
    let email = match CustomerEmail::parse(&body.email) {
        Ok(e) => e,
        Err(e) => return problem(StatusCode::BAD_REQUEST, "invalid_email", e),
    };
    if !body.privacy_consent {
        return problem(
            StatusCode::BAD_REQUEST,
            "consent_required",
            "privacyConsent must be true",
        );
    }
    let first = match body
        .message
        .as_deref()
        .filter(|m| !m.trim().is_empty())
        .map(MessageText::parse)
        .transpose()
    {
        Ok(m) => m,
        Err(e) => return problem(StatusCode::BAD_REQUEST, "invalid_message", e),
    };
    let contact = match contacts::find(&app.pool, &contact_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return problem(StatusCode::NOT_FOUND, "unknown_contact", "no such contact"),
        Err(e) => return internal(e),
    };
    let key_ok = contact
        .interact()
        .widget_key
        .as_deref()
        .is_some_and(|k| same_hash(&hash_secret(k), &hash_secret(&body.widget_key)));
    if !key_ok {
        return problem(
            StatusCode::FORBIDDEN,
            "invalid_widget_key",
            "the widget key does not match this contact",
        );
    }
    let cors_headers = match cors(&contact, &headers) {
        Ok(h) => h,
        Err(r) => return r.into_response(),
    };
    let available = match &contact.target {
        Target::Service(s) => s.can_receive_im().map_err(|r| r.0),
        Target::User(u) => u
            .receives_direct_chats()
            .then_some(())
            .ok_or_else(|| "this person does not take chats".to_owned()),
    };
    if let Err(reason) = available {
        return problem(StatusCode::FORBIDDEN, "interact_unavailable", &reason);
    }

    let session = uuid::Uuid::new_v4().to_string();
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let token = URL_SAFE_NO_PAD.encode(secret);
    let now = app.clock.now_ms();
    let row = SessionRow {
        session_id: session.clone(),
        tenant_id: contact.tenant.clone(),
        contact_id,
        token_hash: hash_secret(&token),
        state: "connecting".into(),
    };
    if let Err(e) = store::create(&app.pool, &row, now).await {
        return internal(e);
    }
    let customer = Customer {
        display_name: name.as_str().to_owned(),
        email: email.as_str().to_owned(),
    };
    if let Err(e) = start(&app, &contact, &session, customer, first.as_ref()).await {
        return internal(format!("{e:#}"));
    }
    tracing::info!(tenant.id = %contact.tenant, session.id = %session, "customer session started");
    let body = json!({"sessionId": session, "token": token, "state": "connecting"});
    (StatusCode::CREATED, cors_headers, axum::Json(body)).into_response()
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

/// Stores a customer's message and hands it to the engine, unless the session has ended (see
/// [`crate::customer::ending`]: the gate keeps a concurrent end from slipping in between).
async fn customer_message(
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
        })
        .await?;
    Ok(accepted)
}

async fn session_contact(app: &AppState, session: &str) -> Result<(SessionRow, Contact), Problem> {
    let not_found = || refusal(StatusCode::NOT_FOUND, "unknown_session", "no such session");
    let row = store::find(&app.pool, session)
        .await
        .map_err(internal_problem)?
        .ok_or_else(not_found)?;
    let contact = contacts::find(&app.pool, &row.contact_id)
        .await
        .map_err(internal_problem)?
        .ok_or_else(not_found)?;
    Ok((row, contact))
}

#[derive(Deserialize, Default)]
struct TokenQuery {
    token: Option<String>,
    after: Option<i64>,
}

/// The session a request's token opens, with the CORS headers for its contact. A token for
/// another session, or none that matches, is a 404: it reveals nothing.
async fn authorise(
    app: &AppState,
    session: &str,
    headers: &HeaderMap,
    query_token: Option<&str>,
) -> Result<(SessionRow, Contact, HeaderMap), Problem> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::http::bearer_token);
    let Some(token) = bearer.or(query_token) else {
        return Err(refusal(
            StatusCode::UNAUTHORIZED,
            "missing_token",
            "send the session token as a Bearer token",
        ));
    };
    let (row, contact) = session_contact(app, session).await?;
    if !same_hash(&row.token_hash, &hash_secret(token)) {
        return Err(refusal(
            StatusCode::NOT_FOUND,
            "unknown_session",
            "no such session",
        ));
    }
    let cors_headers = cors(&contact, headers)?;
    Ok((row, contact, cors_headers))
}

async fn session_state(
    State(app): State<AppState>,
    Path(session): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (row, contact, cors_headers) = match authorise(&app, &session, &headers, None).await {
        Ok(x) => x,
        Err(r) => return r.into_response(),
    };
    let mut body = json!({"sessionId": row.session_id, "state": row.state});
    if row.state != "ended" {
        let view = match app.engines.get(&contact.tenant).await {
            Ok(engine) => engine.view(&session).await,
            Err(e) => Err(e),
        };
        match view {
            Ok(Some(view)) => {
                body["state"] = json!(crate::customer::events::state_name(view.state));
                if let Some(position) = view.position {
                    body["position"] = json!(position);
                }
                if let Some(agent) = view.agent {
                    body["agent"] = json!({"displayName": agent});
                }
            }
            Ok(None) => {}
            Err(e) => return internal(format!("{e:#}")),
        }
    }
    (cors_headers, axum::Json(body)).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendMessage {
    text: String,
    client_message_id: String,
}

async fn send_message(
    State(app): State<AppState>,
    ClientIp(client): ClientIp,
    Path(session): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<SendMessage>,
) -> Response {
    // Every request counts against its address; only one that opens the session counts
    // against the session, so a stranger who knows a session id cannot silence its customer.
    let address_limited = app.limits.message_from(&client.to_string()).err();
    let (row, contact, cors_headers) = match authorise(&app, &session, &headers, None).await {
        Ok(x) => x,
        Err(r) => {
            return address_limited.map_or_else(|| r.into_response(), IntoResponse::into_response);
        }
    };
    let text = match MessageText::parse(&body.text) {
        Ok(t) => t,
        Err(e) => return problem(StatusCode::BAD_REQUEST, "invalid_message", e),
    };
    let client_id = body.client_message_id.trim();
    if client_id.is_empty() || client_id.chars().count() > 100 {
        return problem(
            StatusCode::BAD_REQUEST,
            "invalid_client_message_id",
            "clientMessageId must be 1 to 100 characters",
        );
    }
    // A retried send is answered like the first one, even after the session ended.
    let duplicate = || {
        (
            StatusCode::OK,
            cors_headers.clone(),
            axum::Json(json!({"accepted": true, "duplicate": true})),
        )
            .into_response()
    };
    let ended = || {
        let refused = refusal(
            StatusCode::CONFLICT,
            "session_ended",
            "the session has ended",
        );
        (cors_headers.clone(), refused).into_response()
    };
    // A retry of a message already taken is answered like the first time, whatever the limits.
    match store::seen(&app.pool, &session, client_id).await {
        Ok(true) => return duplicate(),
        Ok(false) => {}
        Err(e) => return internal(e),
    }
    if row.state == "ended" {
        return ended();
    }
    if let Some(limited) = address_limited {
        return (cors_headers, limited).into_response();
    }
    if let Err(limited) = app.limits.message_in(&session) {
        return (cors_headers, limited).into_response();
    }
    match customer_message(&app, &contact.tenant, &session, &text, client_id).await {
        Ok(Accepted::New(_)) => (
            StatusCode::ACCEPTED,
            cors_headers,
            axum::Json(json!({"accepted": true})),
        )
            .into_response(),
        Ok(Accepted::Duplicate) => duplicate(),
        Ok(Accepted::Ended) => ended(),
        Err(e) => internal(format!("{e:#}")),
    }
}

async fn end_session(
    State(app): State<AppState>,
    Path(session): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (_, contact, cors_headers) = match authorise(&app, &session, &headers, None).await {
        Ok(x) => x,
        Err(r) => return r.into_response(),
    };
    // Answered once the session is ended in the store: a message sent after this is refused.
    match crate::customer::ending::customer_left(&app, &contact.tenant, &session, false).await {
        Ok(()) => (
            StatusCode::OK,
            cors_headers,
            axum::Json(json!({"ended": true})),
        )
            .into_response(),
        Err(e) => internal(format!("{e:#}")),
    }
}

/// Server-sent events: every event after `Last-Event-ID` (or `?after=`), then new ones as they
/// come, each with its sequence number as the event id; heartbeats keep proxies from closing.
async fn events(
    State(app): State<AppState>,
    ClientIp(client): ClientIp,
    Path(session): Path<String>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
) -> Response {
    let (_, _, cors_headers) =
        match authorise(&app, &session, &headers, query.token.as_deref()).await {
            Ok(x) => x,
            Err(r) => return r.into_response(),
        };
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .or(query.after)
        .unwrap_or(0);
    let Ok(slot) = app.streams.open(&session, client) else {
        let refused = refusal(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_streams",
            "too many event streams are open from this address",
        );
        let mut response = (cors_headers, refused).into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
        return response;
    };
    let signal = app.events.listen(&session);
    let state = (
        app.pool.clone(),
        session,
        after,
        signal,
        Vec::<(i64, CustomerEvent)>::new().into_iter(),
    );
    // Ends at shutdown, or when a newer stream of the session took this one's place.
    let stopping = app.stopping.clone();
    let displaced = slot.ended.clone();
    let stream = futures_util::stream::unfold(
        state,
        move |(pool, session, mut last, signal, mut pending)| {
            // The stream holds its place until it is dropped.
            let _slot = &slot;
            let stopping = stopping.clone();
            let displaced = displaced.clone();
            async move {
                loop {
                    if let Some((seq, event)) = pending.next() {
                        last = seq;
                        let sse = Event::default()
                            .id(seq.to_string())
                            .event("event")
                            .json_data(&event)
                            .unwrap_or_else(|_| Event::default().comment("unserialisable event"));
                        return Some((
                            Ok::<_, Infallible>(sse),
                            (pool, session, last, signal, pending),
                        ));
                    }
                    // Register for the signal before reading, so an event written in between is not missed.
                    let notified = signal.notified();
                    tokio::pin!(notified);
                    notified.as_mut().enable();
                    match store::events_after(&pool, &session, last).await {
                        Ok(found) if !found.is_empty() => {
                            pending = found.into_iter();
                            continue;
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::error!(error = %e, "reading customer events failed");
                            return None;
                        }
                    }
                    // At shutdown the stream ends; the widget reconnects with Last-Event-ID.
                    tokio::select! {
                        () = notified => {}
                        () = stopping.cancelled() => return None,
                        () = displaced.cancelled() => return None,
                    }
                }
            }
        },
    );
    let sse = Sse::new(stream).keep_alive(
        KeepAlive::new()
            .interval(Duration::from_secs(15))
            .text("heartbeat"),
    );
    (cors_headers, sse).into_response()
}
