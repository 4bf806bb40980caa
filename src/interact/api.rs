//! `/api/interact/v1`: the customer API the widget uses (and the public Interact SDK surface).
//! Handlers answer [`ApiResult`]; the session token is the [`CustomerSession`] extractor.
//! Messages are in [`super::messages`], the event stream in [`super::stream`].

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::Deserialize;
use serde_json::json;

use super::messages::send_message;
use super::session::{CustomerSession, any_origin, cors, session_contact};
use super::stream::events;
use super::validate::{CustomerEmail, DisplayName, MessageText};
use crate::app::AppState;
use crate::customer::store::{self, CustomerEvent, CustomerState, InteractSession};
use crate::directory::contacts::{self, Contact, Target};
use crate::engine::messages::{Command, Customer};
use crate::engine::sync::{Scope, sync};
use crate::http::client_ip::ClientIp;
use crate::http::extract::{JsonBody, MAX_JSON_BODY_BYTES};
use crate::http::problem::{ApiResult, Refused};
use crate::security::{hash_secret, same_hash};

pub fn router() -> Router<AppState> {
    let json = Router::new()
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
        .route(
            "/contacts/{contact}/widget",
            get(super::feedback::widget_config).options(preflight_contact),
        )
        .route(
            "/contacts/{contact}/offline-messages",
            post(super::feedback::leave_message).options(preflight_contact),
        )
        .route(
            "/sessions/{session}/survey",
            post(super::feedback::survey).options(preflight_session),
        );
    // The JSON routes take small bodies (a larger announced one is refused unread); an upload
    // reads its own body, within its own cap, once the request is allowed.
    crate::http::body::limit(json, MAX_JSON_BODY_BYTES)
        .route(
            "/sessions/{session}/files",
            post(super::files::upload).options(preflight_session),
        )
        .route("/files/{id}", get(super::files::serve))
}

pub(super) fn bad_request(code: &str, detail: &str) -> Refused {
    Refused::new(StatusCode::BAD_REQUEST, code, detail)
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

/// The contact, or a 404 `unknown_contact` the page can read (a wrong `data-contact`).
pub(super) async fn find_contact(app: &AppState, contact: &str) -> Result<Contact, Refused> {
    contacts::find(&app.pool, contact).await?.ok_or_else(|| {
        Refused::new(StatusCode::NOT_FOUND, "unknown_contact", "no such contact")
            .with(&any_origin())
    })
}

/// Whether `presented` is the contact's widget key (compared in constant time).
fn key_matches(contact: &Contact, presented: &str) -> bool {
    contact
        .interact()
        .widget_key
        .as_deref()
        .is_some_and(|k| same_hash(&hash_secret(k), &hash_secret(presented)))
}

async fn preflight_contact(
    State(app): State<AppState>,
    Path(contact): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    let contact = find_contact(&app, &contact).await?;
    Ok(preflight_headers(cors(&contact, &headers)?))
}

async fn preflight_session(
    State(app): State<AppState>,
    Path(params): Path<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> ApiResult {
    let Some(session) = params.get("session") else {
        return Err(Refused::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such session",
        ));
    };
    let (_, contact) = session_contact(&app, session).await?;
    Ok(preflight_headers(cors(&contact, &headers)?))
}

/// Who a customer says they are in the widget's forms (a chat, a message left).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CustomerForm {
    widget_key: String,
    display_name: String,
    email: String,
    privacy_consent: bool,
}

#[derive(Deserialize)]
struct CreateSession {
    #[serde(flatten)]
    form: CustomerForm,
    #[serde(default)]
    message: Option<String>,
}

/// A customer at a contact's widget: the contact, the page's CORS headers, and the customer.
pub(super) struct Arrival {
    pub contact: Contact,
    pub cors: HeaderMap,
    pub customer: Customer,
    widget_key: String,
}

impl Arrival {
    /// A 400 the page can read.
    pub fn refuse(&self, code: &str, detail: &str) -> Refused {
        bad_request(code, detail).with(&self.cors)
    }

    /// Refuses a widget key that is not the contact's.
    pub fn require_key(&self) -> Result<(), Refused> {
        require_key(&self.contact, &self.widget_key, &self.cors)
    }
}

/// Checks a widget form as far as the contact and the customer go: the client's new-session
/// limit, the contact, the page's origin, the name, email and consent. Every refusal is
/// readable by the page (a wrong contact and a rate limit by any), so the widget can tell the
/// customer why. The widget key is the caller's to check, after its own fields.
pub(super) async fn arrive(
    app: &AppState,
    client: &str,
    contact_id: &str,
    headers: &HeaderMap,
    form: CustomerForm,
) -> Result<Arrival, Refused> {
    app.limits
        .new_session(client)
        .map_err(|l| Refused::from(l).with(&any_origin()))?;
    let contact = find_contact(app, contact_id).await?;
    let cors = cors(&contact, headers)?;
    let refuse = |code: &str, detail: &str| bad_request(code, detail).with(&cors);
    let name =
        DisplayName::parse(&form.display_name).map_err(|e| refuse("invalid_display_name", e))?;
    let email = CustomerEmail::parse(&form.email).map_err(|e| refuse("invalid_email", e))?;
    if !form.privacy_consent {
        return Err(refuse("consent_required", "privacyConsent must be true"));
    }
    Ok(Arrival {
        contact,
        cors,
        customer: Customer {
            display_name: name.as_str().to_owned(),
            email: email.as_str().to_owned(),
        },
        widget_key: form.widget_key,
    })
}

/// Refuses (403, readable by the page) a widget key that is not the contact's.
pub(super) fn require_key(
    contact: &Contact,
    presented: &str,
    cors: &HeaderMap,
) -> Result<(), Refused> {
    if key_matches(contact, presented) {
        return Ok(());
    }
    Err(Refused::new(
        StatusCode::FORBIDDEN,
        "invalid_widget_key",
        "the widget key does not match this contact",
    )
    .with(cors))
}

async fn create_session(
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
    let row = InteractSession {
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

async fn session_state(State(app): State<AppState>, session: CustomerSession) -> ApiResult {
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

async fn end_session(State(app): State<AppState>, session: CustomerSession) -> ApiResult {
    // Answered once the session is ended in the store: a message sent after this is refused.
    crate::customer::ending::customer_left(&app, session.tenant(), session.id(), false).await?;
    Ok((
        StatusCode::OK,
        session.cors,
        axum::Json(json!({"ended": true})),
    )
        .into_response())
}
