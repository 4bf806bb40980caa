//! Request bodies within a cap. A request whose `Content-Length` announces more than its route
//! takes is refused (413 `body_too_large`, problem+json) before a byte of the body is read; one
//! that sends more than the cap without announcing it is cut off as soon as it passes the cap,
//! so no more than the cap is ever held in memory. The listener then closes the connection
//! without reading the rest.
//!
//! Handlers that must check who is asking first (a customer's upload, the admin import) take
//! the raw [`Body`] and call [`read_capped`] once their checks pass; a group of routes that
//! takes small bodies is wrapped in [`limit`]. [`guard`], around every route, refuses any body
//! announced larger than the largest a route takes, and turns a plain-text 413 of an axum
//! extractor into problem+json.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::problem::Problem;

/// The largest body any route takes (a customer's upload at its hard cap): a larger announced
/// body is refused everywhere on its header.
pub const MAX_ANY_BODY_BYTES: usize = 100 * 1024 * 1024;

/// The body's length as its `Content-Length` announces it (none for a chunked body).
pub fn announced_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// Whether the announced body is larger than `max`.
pub fn announced_over(headers: &HeaderMap, max: usize) -> bool {
    announced_length(headers).is_some_and(|n| n > max as u64)
}

/// Why a body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// More than the cap arrived.
    TooLarge,
    /// The connection failed or the framing was broken.
    Unreadable,
}

/// Reads `body`, holding at most `max` bytes: the read stops with [`BodyError::TooLarge`] as
/// soon as more arrives.
pub async fn read_capped(body: Body, max: usize) -> Result<Bytes, BodyError> {
    match Limited::new(body, max).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(BodyError::TooLarge),
        Err(_) => Err(BodyError::Unreadable),
    }
}

/// 413 `body_too_large` naming the limit.
pub fn too_large(max: usize) -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("the body is larger than {max} bytes"),
    )
}

/// `router`'s routes take bodies of at most `max` bytes: a larger announced one is refused
/// before it is read, and axum's extractors stop reading past it.
pub fn limit<S: Clone + Send + Sync + 'static>(router: Router<S>, max: usize) -> Router<S> {
    router
        .layer(DefaultBodyLimit::max(max))
        .layer(axum::middleware::from_fn(
            move |request: Request, next: Next| async move {
                if announced_over(request.headers(), max) {
                    return too_large(max).into_response();
                }
                next.run(request).await
            },
        ))
}

/// Around every route: a body announced larger than [`MAX_ANY_BODY_BYTES`] is refused unread,
/// and a 413 that is not problem+json (an axum extractor's rejection) becomes one.
pub async fn guard(request: Request, next: Next) -> Response {
    if announced_over(request.headers(), MAX_ANY_BODY_BYTES) {
        return too_large(MAX_ANY_BODY_BYTES).into_response();
    }
    let response = next.run(request).await;
    let problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE && !problem {
        return Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "the body is larger than this route takes".to_owned(),
        )
        .into_response();
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_body_is_read_up_to_its_cap_and_no_further() {
        let body = || Body::from(vec![7u8; 1000]);
        assert_eq!(read_capped(body(), 1000).await.map(|b| b.len()), Ok(1000));
        assert_eq!(read_capped(body(), 999).await, Err(BodyError::TooLarge));
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_LENGTH, "2000000000".parse().expect("value"));
        assert!(announced_over(&headers, MAX_ANY_BODY_BYTES));
        assert!(!announced_over(&HeaderMap::new(), 0));
    }
}
