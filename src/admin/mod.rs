//! The admin API (`/api/admin/v1`): API keys scoped to a tenant; services, users, workflows
//! and calendars as versioned documents with ETag / If-Match; workflow validation; the
//! Interact snippet; tenant settings (with webhook endpoints, secrets write-only); the live
//! view; webhook deliveries; a live session's parameters; messages customers left while
//! nobody was available. Errors are problem+json with a stable
//! `code`; a document that cannot be stored is refused with every problem named.

mod documents;
mod offline;
mod settings;
mod tenant;
pub mod webhooks;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::directory::store::StoreError;
use crate::http::problem::{Problem, Refused, internal, problem_with};

use self::documents::{
    create_document, delete_document, get_document, list_documents, replace_document, snippet,
    validate_workflow,
};
use self::settings::{get_settings, put_settings};
use self::tenant::{export, import, live};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/tenants/{tenant}/settings",
            get(get_settings).put(put_settings),
        )
        .route("/tenants/{tenant}/live", get(live))
        .route(
            "/tenants/{tenant}/webhooks/deliveries",
            get(webhooks::deliveries),
        )
        .route(
            "/tenants/{tenant}/sessions/{session}/parameters",
            axum::routing::put(webhooks::put_parameters),
        )
        .route("/tenants/{tenant}/offline-messages", get(offline::list))
        .route(
            "/tenants/{tenant}/offline-messages/{id}/handled",
            post(offline::handled),
        )
        .route("/tenants/{tenant}/export", get(export))
        .route("/tenants/{tenant}/import", post(import))
        .route(
            "/tenants/{tenant}/workflows/validate",
            post(validate_workflow),
        )
        .route(
            "/tenants/{tenant}/{kind}",
            get(list_documents).post(create_document),
        )
        .route(
            "/tenants/{tenant}/{kind}/{id}",
            get(get_document)
                .put(replace_document)
                .delete(delete_document),
        )
        .route("/tenants/{tenant}/{kind}/{id}/snippet", get(snippet))
}

fn not_found(what: &str, id: &str) -> Response {
    Problem::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("there is no {what} {id:?}"),
    )
    .into_response()
}

fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// The version an `If-Match` names (a strong ETag we issued).
fn if_match(headers: &HeaderMap) -> Result<i64, Refused> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Err(Problem::new(
            StatusCode::PRECONDITION_REQUIRED,
            "if_match_required",
            "send If-Match with the ETag you read, so that no one else's change is overwritten"
                .to_owned(),
        )
        .into_response()
        .into());
    };
    value
        .to_str()
        .ok()
        .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|v| v.parse::<i64>().ok())
        .ok_or_else(|| {
            Problem::new(
                StatusCode::PRECONDITION_FAILED,
                "version_conflict",
                "If-Match does not name a version of this document".to_owned(),
            )
            .into_response()
            .into()
        })
}

fn conflict(e: StoreError) -> Response {
    match e {
        StoreError::Conflict {
            kind, id, actual, ..
        } => match actual {
            Some(current) => {
                let mut r = Problem::new(
                    StatusCode::PRECONDITION_FAILED,
                    "version_conflict",
                    format!(
                        "{kind} {id} was changed by someone else (now version {current}): read it again and reapply your change"
                    ),
                )
                .into_response();
                r.headers_mut().insert(header::ETAG, etag(current));
                r
            }
            None => not_found(kind, &id),
        },
        StoreError::Claimed(public) => Problem::new(
            StatusCode::CONFLICT,
            public.code(),
            format!("{public} is already taken by another document"),
        )
        .into_response(),
        other => internal(other),
    }
}

/// A document's body: JSON, a key given twice in one object refused (400 `duplicate_key` with
/// its `path`) rather than silently the last one kept.
fn parse_body(body: &Bytes) -> Result<Value, Refused> {
    crate::strict_json::from_slice(body).map_err(|e| body_refusal(&e))
}

fn body_refusal(e: &crate::strict_json::StrictJsonError) -> Refused {
    use crate::strict_json::StrictJsonError;
    match e {
        StrictJsonError::Syntax(e) => Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            format!("the body is not JSON: {e}"),
        )
        .into_response()
        .into(),
        StrictJsonError::DuplicateKey { path, .. } => problem_with(
            Problem::new(StatusCode::BAD_REQUEST, e.code(), e.to_string()),
            json!({ "path": path }),
        )
        .into(),
    }
}

fn invalid(problems: Vec<Value>) -> Response {
    problem_with(
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_document",
            format!("{} problem(s); see `problems`", problems.len()),
        ),
        json!({ "problems": problems }),
    )
}

/// The API's answer to a document's problems: 422 `unsupported_activities` naming them when
/// that is the problem, else 422 `invalid_document` with every problem.
fn refusal(problems: Vec<Value>) -> Response {
    if let [only] = problems.as_slice()
        && only["code"] == "unsupported_activities"
    {
        return problem_with(
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unsupported_activities",
                only["message"].as_str().unwrap_or_default().to_owned(),
            ),
            json!({ "activities": only["activities"] }),
        );
    }
    invalid(problems)
}

fn with_etag(status: StatusCode, version: i64, body: Value) -> Response {
    let mut r = (status, axum::Json(body)).into_response();
    r.headers_mut().insert(header::ETAG, etag(version));
    r
}
