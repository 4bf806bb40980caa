//! Extractors every edge shares. [`JsonBody`]: a JSON body whose errors are problem+json.
//! [`Admin`]: the admin API key (`Authorization: Bearer sbk_…`, the scheme in any case)
//! checked against the store and against the tenant the path names; a request without a valid
//! key for that tenant is refused with problem+json (401 or 403) before any handler runs.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use serde::de::DeserializeOwned;

use crate::app::AppState;
use crate::http::problem::Problem;
use crate::store::api_keys;

/// The largest JSON body the customer API takes: a 4,000-character message, JSON-escaped, fits
/// many times. The router's body limit and [`JsonBody`]'s refusal name the same figure.
pub const MAX_JSON_BODY_BYTES: usize = 64 * 1024;

/// A JSON body; a body too large is a 413 `body_too_large`, one that does not parse or fit the
/// type a 400 `invalid_body` naming what is wrong.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!("the body is larger than {MAX_JSON_BODY_BYTES} bytes"),
                ))
            }
            Err(rejection) => Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                rejection.body_text(),
            )),
        }
    }
}

/// The tenant an API key may act for.
pub struct Admin {
    pub tenant: String,
    pub key_id: String,
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Response> {
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(crate::http::bearer_credentials);
        let unauthorized = |code: &str, detail: &str| {
            let mut r =
                Problem::new(StatusCode::UNAUTHORIZED, code, detail.to_owned()).into_response();
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"switchboard-admin\""),
            );
            r
        };
        let Some(presented) = presented else {
            return Err(unauthorized(
                "api_key_missing",
                "send an admin API key as `Authorization: Bearer sbk_…`",
            ));
        };
        let verified = api_keys::verify(&app.pool, presented).await.map_err(|e| {
            tracing::error!(error = %e, "API key lookup failed");
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", None).into_response()
        })?;
        let Some((tenant, key_id)) = verified else {
            tracing::info!("admin API request with an unknown or revoked key");
            return Err(unauthorized(
                "api_key_invalid",
                "the API key is unknown or revoked",
            ));
        };
        let wanted = parts
            .uri
            .path()
            .split('/')
            .skip_while(|s| *s != "tenants")
            .nth(1)
            .unwrap_or_default()
            .to_ascii_lowercase();
        if wanted != tenant {
            tracing::info!(key.id = %key_id, "admin API key used for another tenant");
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "tenant_forbidden",
                "this API key belongs to another tenant".to_owned(),
            )
            .into_response());
        }
        Ok(Admin { tenant, key_id })
    }
}
