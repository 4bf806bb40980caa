//! The axum extractor that makes `/api/messages` handlers receive only verified activities.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRef, FromRequest, Request};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::{InboundAuth, InboundError, VerifiedActivity};

/// Largest accepted activity body (issue: 256 KiB → 413 beyond).
pub const MAX_ACTIVITY_BYTES: usize = 256 * 1024;

impl<S> FromRequest<S> for VerifiedActivity
where
    Arc<InboundAuth>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = InboundError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let auth = Arc::<InboundAuth>::from_ref(state);
        let (parts, body) = request.into_parts();
        let declared_too_large = parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
            .is_some_and(|len| len > MAX_ACTIVITY_BYTES);
        if declared_too_large {
            return Err(InboundError::BodyTooLarge {
                limit: MAX_ACTIVITY_BYTES,
            });
        }
        let authorization = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .map(http::HeaderValue::as_bytes);
        let caller = auth.verify_caller(authorization).await?;
        let body = read_limited(body).await?;
        auth.accept(caller, &body)
    }
}

async fn read_limited(body: Body) -> Result<bytes::Bytes, InboundError> {
    match Limited::new(body, MAX_ACTIVITY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(InboundError::BodyTooLarge {
                limit: MAX_ACTIVITY_BYTES,
            })
        }
        Err(_) => Err(InboundError::BodyUnreadable),
    }
}
