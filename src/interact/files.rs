//! `POST /sessions/{session}/files?name=`: a customer's file (the raw body, its type in
//! `Content-Type`), checked — size (`interact.upload_max_bytes`), type (`interact.file_types`)
//! and that the bytes are of that type — stored with the session within the chat's and the
//! tenant's storage budgets, and put in the conversation as the customer's message with a link
//! the agent opens (`GET /files/{id}`, a random key; the file is deleted with the transcript).
//!
//! Nothing reads the body before the request is known to deserve it: the session and its
//! token, the rate limits, the announced size, the name, the declared type, the session's state
//! and the budgets are checked on the head alone; then at most `upload_max_bytes` are read. The
//! name the file is downloaded under always ends in its checked type's extension.

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use super::messages::customer_message;
use super::session::CustomerSession;
use super::validate::{MessageText, has_hidden_format};
use crate::app::AppState;
use crate::customer::files::{self, Budget, Exhausted, StoredFile};
use crate::customer::store::{Accepted, CustomerState};
use crate::http::body::{BodyError, announced_length, read_capped};
use crate::http::client_ip::ClientIp;
use crate::http::problem::{ApiResult, Refused};

#[derive(Deserialize)]
pub(super) struct NameQuery {
    #[serde(default)]
    name: String,
}

/// The file's name as shown: its last path segment, trimmed, 1 to 200 characters of text, with
/// no control characters and no invisible or bidirectional formatting ones (the rule of
/// display names: `invoice\u{2066}exe.pdf` would show as something else).
fn file_name(raw: &str) -> Option<String> {
    let name = raw.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    let ok = !name.is_empty()
        && name.chars().count() <= 200
        && !name.chars().any(char::is_control)
        && !has_hidden_format(name);
    ok.then(|| name.to_owned())
}

pub(super) async fn upload(
    State(app): State<AppState>,
    ClientIp(client): ClientIp,
    session: Result<CustomerSession, Refused>,
    query: Result<Query<NameQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let client = client.to_string();
    let address_limited = app.limits.message_from(&client).err();
    let session = match session {
        Ok(s) => s,
        Err(refused) => return Err(address_limited.map_or(refused, Refused::from)),
    };
    if let Some(limited) = address_limited {
        return Err(Refused::from(limited).with(&session.cors));
    }
    let interact = &app.settings.interact;
    let max = interact.upload_max_bytes;
    if max == 0 {
        return Err(session.refuse(
            StatusCode::FORBIDDEN,
            "uploads_disabled",
            "this service takes no files (interact.upload_max_bytes is 0)",
        ));
    }
    let too_large = || {
        session.refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "file_too_large",
            &format!("a file may have at most {max} bytes"),
        )
    };
    let announced = announced_length(&headers);
    if announced.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    if announced == Some(0) {
        return Err(session.refuse(StatusCode::BAD_REQUEST, "empty_file", "the file is empty"));
    }
    let name = query
        .ok()
        .and_then(|Query(q)| file_name(&q.name))
        .ok_or_else(|| {
            session.refuse(
                StatusCode::BAD_REQUEST,
                "invalid_file_name",
                "name must be 1 to 200 characters of visible text",
            )
        })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(files::essence)
        .unwrap_or_default();
    let types = &interact.file_types;
    let not_allowed = || {
        session.refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "file_type_not_allowed",
            &format!(
                "a file must be one of {} (and be what its type says)",
                types.join(", ")
            ),
        )
    };
    let Some(content_type) = types.iter().copied().find(|t| *t == content_type) else {
        return Err(not_allowed());
    };
    if session.row.state == CustomerState::Ended {
        return Err(session.refuse(
            StatusCode::CONFLICT,
            "session_ended",
            "the session has ended",
        ));
    }
    app.limits
        .upload_from(&client)
        .map_err(|limited| Refused::from(limited).with(&session.cors))?;
    app.limits
        .message_in(session.id())
        .map_err(|limited| Refused::from(limited).with(&session.cors))?;
    let budget = Budget {
        session: interact.upload_session_max_bytes,
        tenant: interact.upload_tenant_max_bytes,
    };
    let exhausted = |which: Exhausted| budget_exhausted(&session, which, budget);
    files::usage(&app.pool, session.tenant(), Some(session.id()))
        .await?
        .fits(announced.unwrap_or(1), budget)
        .map_err(exhausted)?;

    let bytes = read_capped(body, max).await.map_err(|e| match e {
        BodyError::TooLarge => too_large(),
        BodyError::Unreadable => session.refuse(
            StatusCode::BAD_REQUEST,
            "body_unreadable",
            "the file could not be read",
        ),
    })?;
    if bytes.is_empty() {
        return Err(session.refuse(StatusCode::BAD_REQUEST, "empty_file", "the file is empty"));
    }
    if !files::looks_like(content_type, &bytes) {
        return Err(not_allowed());
    }
    let file = StoredFile {
        id: uuid::Uuid::new_v4().simple().to_string(),
        name: files::download_name(&name, content_type),
        content_type: content_type.to_owned(),
        bytes: bytes.to_vec(),
    };
    drop(bytes);
    let now = app.clock.now_ms();
    files::store_within(
        &app.pool,
        session.tenant(),
        session.id(),
        &file,
        now,
        budget,
    )
    .await?
    .map_err(exhausted)?;
    let size = file.bytes.len();
    let text = format!(
        "📎 {} ({}) — open it: {}/api/interact/v1/files/{}",
        file.name,
        human_size(size),
        app.public_base,
        file.id
    );
    let text = MessageText::parse(&text)
        .map_err(|e| session.refuse(StatusCode::BAD_REQUEST, "invalid_file_name", e))?;
    let client_id = format!("file:{}", file.id);
    match customer_message(&app, session.tenant(), session.id(), &text, &client_id).await? {
        Accepted::New(_) | Accepted::Duplicate => {}
        Accepted::Ended => {
            return Err(session.refuse(
                StatusCode::CONFLICT,
                "session_ended",
                "the session has ended",
            ));
        }
    }
    tracing::info!(tenant.id = %session.tenant(), session.id = %session.id(), file.size = size, "customer sent a file");
    Ok((
        StatusCode::CREATED,
        session.cors.clone(),
        axum::Json(json!({"id": file.id, "name": file.name, "size": size, "contentType": file.content_type})),
    )
        .into_response())
}

/// 413 `upload_budget_exhausted`: the chat, or the whole service, has stored all the files it
/// may.
fn budget_exhausted(session: &CustomerSession, which: Exhausted, budget: Budget) -> Refused {
    let detail = match which {
        Exhausted::Session => format!(
            "this chat has stored all the files it may ({} bytes); send no more files in it",
            budget.session
        ),
        Exhausted::Tenant => {
            tracing::warn!(tenant.id = %session.tenant(), "the tenant's file storage budget is full");
            "this service cannot store more files now".to_owned()
        }
    };
    session.refuse(
        StatusCode::PAYLOAD_TOO_LARGE,
        "upload_budget_exhausted",
        &detail,
    )
}

fn human_size(bytes: usize) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{:.0} KB", b as f64 / 1024.0),
        b => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
    }
}

/// `GET /files/{id}`: the file behind a link sent in a chat, for `interact.file_link_hours`
/// after it was stored (then 410 `link_expired`).
pub(super) async fn serve(State(app): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let not_found = || Refused::new(StatusCode::NOT_FOUND, "not_found", "no such file");
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(not_found());
    }
    let (_, created_at) = files::find_meta(&app.pool, &id)
        .await?
        .ok_or_else(not_found)?;
    let valid_for = i64::try_from(app.settings.interact.file_link.as_millis()).unwrap_or(i64::MAX);
    if app.clock.now_ms() - created_at > valid_for {
        return Err(Refused::new(
            StatusCode::GONE,
            "link_expired",
            "this link has expired: ask for the file to be sent again",
        ));
    }
    let file = files::find(&app.pool, &id).await?.ok_or_else(not_found)?;
    Ok(crate::http::files::stored_file(
        file.bytes,
        Some(&file.content_type),
        &file.name,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_name_is_its_last_segment_of_plain_text() {
        assert_eq!(
            file_name("C:\\Users\\ada\\photo.png").as_deref(),
            Some("photo.png")
        );
        assert_eq!(file_name("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(file_name("  "), None);
        assert_eq!(file_name("a\u{202e}gnp.exe"), None);
        assert_eq!(file_name("invoice\u{2066}exe.pdf"), None);
        assert_eq!(file_name("in\u{200b}voice.pdf"), None);
        assert_eq!(file_name(&"x".repeat(201)), None);
        assert_eq!(human_size(2048), "2 KB");
    }
}
