//! The one error envelope of every HTTP edge: `application/problem+json` (RFC 9457) with a
//! stable `code`. 5xx bodies carry no internals. [`Refused`] carries a ready answer through `?`,
//! and [`ApiResult`] is what a handler that refuses that way returns.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use crate::botframework::auth::InboundError;

/// A problem+json body.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<Option<String>>) -> Self {
        Problem {
            kind: format!("urn:switchboard:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            code: code.to_owned(),
            detail: detail.into(),
        }
    }

    pub fn internal() -> Self {
        Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", None)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(self)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

/// A refusal from a helper (boxed: a `Response` is large).
pub struct Refused(Box<Response>);

impl From<Response> for Refused {
    fn from(response: Response) -> Self {
        Refused(Box::new(response))
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        *self.0
    }
}

impl From<Problem> for Refused {
    fn from(problem: Problem) -> Self {
        Refused::from(problem.into_response())
    }
}

/// A store failure: 500 with no internals, the cause logged.
impl From<sqlx::Error> for Refused {
    fn from(e: sqlx::Error) -> Self {
        Refused::from(internal(e))
    }
}

/// A directory store failure: 500 with no internals, the cause logged.
impl From<crate::directory::store::StoreError> for Refused {
    fn from(e: crate::directory::store::StoreError) -> Self {
        Refused::from(internal(e))
    }
}

/// Any other failure (the engine gone, a store call through `anyhow`): 500 with no internals,
/// the cause and its chain logged.
impl From<anyhow::Error> for Refused {
    fn from(e: anyhow::Error) -> Self {
        Refused::from(internal(format!("{e:#}")))
    }
}

impl Refused {
    /// A problem+json refusal.
    pub fn new(status: StatusCode, code: &str, detail: &str) -> Self {
        Refused::from(Problem::new(status, code, detail.to_owned()))
    }

    /// The same refusal with extra headers (the CORS headers of the customer API).
    pub fn with(self, headers: &axum::http::HeaderMap) -> Self {
        let mut response = *self.0;
        for (name, value) in headers {
            response.headers_mut().insert(name, value.clone());
        }
        Refused::from(response)
    }
}

/// A problem+json answer with extra members (e.g. `problems`).
pub fn problem_with(problem: Problem, extra: Value) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut body = serde_json::to_value(&problem).unwrap_or_else(|_| json!({}));
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let mut r = (status, axum::Json(body)).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    r
}

/// 500 with no internals; the cause is logged.
pub fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "request failed");
    Problem::internal().into_response()
}

/// What a handler answers: a response, or a refusal carried by `?`.
pub type ApiResult = Result<Response, Refused>;

impl IntoResponse for InboundError {
    fn into_response(self) -> Response {
        let problem = match &self {
            InboundError::BodyTooLarge { .. } => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                self.to_string(),
            ),
            InboundError::BodyUnreadable => {
                Problem::new(StatusCode::BAD_REQUEST, "body_unreadable", self.to_string())
            }
            InboundError::Unauthorized(auth) => {
                if let crate::botframework::auth::AuthError::KeysUnavailable(reason) = auth {
                    tracing::error!(reason = %reason, "Bot Framework signing keys unavailable");
                }
                tracing::info!(auth.code = auth.code(), "inbound activity refused");
                let mut response =
                    Problem::new(StatusCode::UNAUTHORIZED, auth.code(), auth.to_string())
                        .into_response();
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"switchboard\""),
                );
                return response;
            }
            InboundError::InvalidActivity(e) => {
                Problem::new(StatusCode::BAD_REQUEST, "invalid_activity", e.to_string())
            }
            InboundError::TenantRefused => {
                tracing::info!("inbound activity from a tenant that is not allowed");
                Problem::new(
                    StatusCode::FORBIDDEN,
                    "tenant_not_allowed",
                    self.to_string(),
                )
            }
        };
        problem.into_response()
    }
}
