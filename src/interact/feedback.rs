//! What the widget asks besides the chat itself: how to present a contact and whether anyone
//! takes its chats now (`GET …/contacts/{contact}/widget`), a message left when nobody does
//! (`POST …/contacts/{contact}/offline-messages`), and the survey after a chat
//! (`POST …/sessions/{session}/survey`).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use super::arrival::{Arrival, CustomerForm, arrive, find_contact, require_key};
use super::session::{CustomerSession, cors};
use super::validate::MessageText;
use crate::app::AppState;
use crate::customer::feedback::{self, OfflineMessage};
use crate::customer::store::CustomerState;
use crate::directory::contacts::Target;
use crate::directory::widget_look::Side;
use crate::http::client_ip::ClientIp;
use crate::http::extract::JsonBody;
use crate::http::problem::ApiResult;

/// The longest survey comment taken.
const MAX_COMMENT_CHARS: usize = 2000;

#[derive(Deserialize)]
pub(super) struct KeyQuery {
    #[serde(default)]
    key: String,
}

/// `GET /contacts/{contact}/widget?key=`: the contact's look, whether anyone takes its chats
/// now, and what the widget may offer (leave a message, survey, uploads).
pub(super) async fn widget_config(
    State(app): State<AppState>,
    Path(contact_id): Path<String>,
    Query(query): Query<KeyQuery>,
    headers: HeaderMap,
) -> ApiResult {
    let contact = find_contact(&app, &contact_id).await?;
    let cors_headers = cors(&contact, &headers)?;
    require_key(&contact, &query.key, &cors_headers)?;
    let name = match &contact.target {
        Target::Service(s) => s.name.clone(),
        Target::User(u) => u.display_name.clone(),
    };
    let takes_chats = contact.takes_chats().is_ok();
    // Someone takes the chats now: an agent of the service present, or the person themselves.
    let available = takes_chats
        && match &contact.target {
            Target::Service(s) => {
                app.engines
                    .get(&contact.tenant)
                    .await?
                    .staffed(&s.id)
                    .await?
            }
            Target::User(u) => app
                .engines
                .get(&contact.tenant)
                .await?
                .agent(&u.id)
                .await?
                .is_some_and(|a| {
                    a.registered
                        && a.on_duty
                        && a.presence == crate::distribution::Presence::Available
                }),
        };
    let look = contact.interact().widget.clone().unwrap_or_default();
    let body = json!({
        "title": look.title.unwrap_or(name),
        "greeting": look.greeting,
        "accentColor": look.accent_color,
        "position": look.position.unwrap_or(Side::Right),
        "logoUrl": look.logo_url,
        "repliesIn": look.replies_in,
        "available": available,
        "offlineMessages": takes_chats,
        "survey": true,
        "uploads": (app.settings.interact.upload_max_bytes > 0
            && !app.settings.interact.file_types.is_empty())
        .then(|| json!({
            "maxBytes": app.settings.interact.upload_max_bytes,
            "types": app.settings.interact.file_types,
        })),
    });
    Ok((cors_headers, axum::Json(body)).into_response())
}

#[derive(Deserialize)]
pub(super) struct LeaveMessage {
    #[serde(flatten)]
    form: CustomerForm,
    message: String,
}

/// `POST /contacts/{contact}/offline-messages`: stored for the tenant's admins and told to its
/// systems (`offlineMessage.received`). Limited per client as new sessions are.
pub(super) async fn leave_message(
    State(app): State<AppState>,
    ClientIp(client): ClientIp,
    Path(contact_id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<LeaveMessage>,
) -> ApiResult {
    let arrival = arrive(&app, &client.to_string(), &contact_id, &headers, body.form).await?;
    if body.message.trim().is_empty() {
        return Err(arrival.refuse("invalid_message", "message must not be empty"));
    }
    let message =
        MessageText::parse(&body.message).map_err(|e| arrival.refuse("invalid_message", e))?;
    arrival.require_key()?;
    let Arrival {
        contact,
        cors: cors_headers,
        customer,
        ..
    } = arrival;
    let service = match &contact.target {
        Target::Service(s) => s.id.clone(),
        Target::User(_) => String::new(),
    };
    let left = OfflineMessage {
        id: uuid::Uuid::new_v4().to_string(),
        tenant: contact.tenant.clone(),
        contact: contact_id,
        service,
        customer,
        message: message.as_str().to_owned(),
        created_at: String::new(),
        handled_at: None,
    };
    feedback::leave(&app.pool, &app.outbox.waker(), &left, app.clock.now_ms()).await?;
    tracing::info!(tenant.id = %left.tenant, offline_message.id = %left.id, "customer left a message");
    Ok((
        StatusCode::CREATED,
        cors_headers,
        axum::Json(json!({"id": left.id})),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Survey {
    rating: i64,
    #[serde(default)]
    comment: Option<String>,
}

/// `POST /sessions/{session}/survey`: once per session, after it ended.
pub(super) async fn survey(
    State(app): State<AppState>,
    session: CustomerSession,
    JsonBody(body): JsonBody<Survey>,
) -> ApiResult {
    let rating = u8::try_from(body.rating)
        .ok()
        .filter(|r| (1..=5).contains(r))
        .ok_or_else(|| {
            session.refuse(
                StatusCode::BAD_REQUEST,
                "invalid_rating",
                "rating must be a whole number from 1 to 5",
            )
        })?;
    let comment = body
        .comment
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    if comment.is_some_and(|c| c.chars().count() > MAX_COMMENT_CHARS) {
        return Err(session.refuse(
            StatusCode::BAD_REQUEST,
            "invalid_comment",
            &format!("comment must be at most {MAX_COMMENT_CHARS} characters"),
        ));
    }
    if session.row.state != CustomerState::Ended {
        return Err(session.refuse(
            StatusCode::CONFLICT,
            "session_not_ended",
            "the survey is taken once the chat has ended",
        ));
    }
    let now = app.clock.now_ms();
    if !feedback::give_survey(
        &app.pool,
        session.tenant(),
        session.id(),
        rating,
        comment,
        now,
    )
    .await?
    {
        return Err(session.refuse(
            StatusCode::CONFLICT,
            "survey_already_given",
            "this chat's survey was already given",
        ));
    }
    tracing::info!(tenant.id = %session.tenant(), session.id = %session.id(), rating, "survey given");
    Ok((StatusCode::NO_CONTENT, session.cors).into_response())
}
