//! Interact, the customer's side: the customer API under `/api/interact/v1` (its routes in
//! [`router`]; who arrives at a widget in `arrival`; [`api`]: session creation, end, state with
//! queue position and agent name; `messages`; a replayable event
//! stream in `stream`; the session token as an extractor in `session`; the widget's look and
//! availability, messages left when nobody is there and the survey in `feedback`; uploads in
//! `files`), domain templates for
//! Restrict Access ([`origin`]), the input rules ([`validate`]), the embeddable widget and the preview page ([`pages`]), and the inactivity timeout
//! ([`inactivity`]). The customer's session itself (rows, events, the order of messages and
//! ends) is beneath the edges, in [`crate::customer`]; agent replies come with the Teams relay.

pub mod api;
mod arrival;
mod feedback;
mod files;
pub mod inactivity;
mod messages;
pub mod origin;
pub mod pages;
mod session;
mod stream;
pub mod validate;

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::app::AppState;
use crate::http::extract::MAX_JSON_BODY_BYTES;
use crate::http::problem::{ApiResult, Refused};
use arrival::find_contact;
use session::{cors, session_contact};

/// `/api/interact/v1`: the customer API the widget uses (and the public Interact SDK surface).
pub fn router() -> Router<AppState> {
    let json = Router::new()
        .route(
            "/contacts/{contact}/sessions",
            post(api::create_session).options(preflight_contact),
        )
        .route(
            "/sessions/{session}",
            get(api::session_state).options(preflight_session),
        )
        .route(
            "/sessions/{session}/messages",
            post(messages::send_message).options(preflight_session),
        )
        .route(
            "/sessions/{session}/end",
            post(api::end_session).options(preflight_session),
        )
        .route(
            "/sessions/{session}/events",
            get(stream::events).options(preflight_session),
        )
        .route(
            "/contacts/{contact}/widget",
            get(feedback::widget_config).options(preflight_contact),
        )
        .route(
            "/contacts/{contact}/offline-messages",
            post(feedback::leave_message).options(preflight_contact),
        )
        .route(
            "/sessions/{session}/survey",
            post(feedback::survey).options(preflight_session),
        );
    // The JSON routes take small bodies (a larger announced one is refused unread); an upload
    // reads its own body, within its own cap, once the request is allowed.
    crate::http::body::limit(json, MAX_JSON_BODY_BYTES)
        .route(
            "/sessions/{session}/files",
            post(files::upload).options(preflight_session),
        )
        .route("/files/{id}", get(files::serve))
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
