//! What every HTTP edge stands on: router assembly around the edges' routes, the error envelope
//! ([`problem`]), request bodies within a cap ([`body`]), the shared extractors, query parser,
//! HTML helpers, rate limits and stream limits, middleware (tracing, timeouts), the listener
//! ([`serve`]), the health endpoints and the landing page ([`landing`]).
//! It names no edge: [`crate::startup`] hands it their routes.

pub mod body;
pub mod client_ip;
pub mod extract;
pub mod files;
pub mod html;
pub mod landing;
pub mod limits;
pub mod problem;
pub mod query;
pub mod serve;
pub mod streams;

use axum::Router;
use axum::extract::State;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::app::AppState;
use problem::Problem;

/// Every route of the service: the health endpoints here, the `edges`' routes as the
/// composition root ([`crate::startup`]) assembles them, one problem+json 404 for the rest,
/// and the timeout and trace layers around all of it.
pub fn router(state: AppState, edges: Router<AppState>) -> Router {
    let request_timeout = state.settings.server.request_timeout;
    Router::new()
        .route("/", get(landing::landing))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(edges)
        .fallback(not_found)
        .layer(axum::middleware::from_fn(body::guard))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            count_request,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            request_timeout,
        ))
        .layer(
            TraceLayer::new(tower_http::classify::SharedClassifier::new(ServerFaults))
                .make_span_with(request_span),
        )
        .with_state(state)
}

/// Which answers the request trace logs as failures (at ERROR): the server's faults. A 501 is
/// not one — it answers a Bot Framework invoke Switchboard does not handle, which any client can
/// send, so it must not fill the log.
#[derive(Debug, Clone, Copy)]
struct ServerFaults;

impl tower_http::classify::ClassifyResponse for ServerFaults {
    type FailureClass = StatusCode;
    type ClassifyEos = tower_http::classify::NeverClassifyEos<StatusCode>;

    fn classify_response<B>(
        self,
        res: &axum::http::Response<B>,
    ) -> tower_http::classify::ClassifiedResponse<StatusCode, Self::ClassifyEos> {
        let status = res.status();
        let fault = status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED;
        tower_http::classify::ClassifiedResponse::Ready(if fault { Err(status) } else { Ok(()) })
    }

    fn classify_error<E: std::fmt::Display + 'static>(self, _error: &E) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

/// A request's span: its method and route template (`/api/whatsapp/media/{id}`), never the
/// path's values or the query, which carry secrets (a customer's event-stream `?token=`, a
/// media link's key, a sign-in `code`).
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("(no route)", axum::extract::MatchedPath::as_str);
    tracing::debug_span!("request", method = %request.method(), route)
}

/// Counts a request for `/metrics`: its method, route template and status, and how long the
/// response head took.
async fn count_request(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "(no route)".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    state.http_stats.record(
        method.as_str(),
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// The token of an `Authorization: Bearer …` value; the scheme is case-insensitive and may be
/// followed by more than one space (RFC 9110 §11.1, §11.4; RFC 7235). Every API of ours that
/// takes a bearer token reads it here (customer, admin, My Sessions tab, metrics), except
/// `/api/messages`, which keeps the exact `Bearer ` form the Bot Framework's channel
/// authentication specifies and its SDKs check.
pub fn bearer_token(value: &str) -> Option<&str> {
    bearer_credentials(value).filter(|token| !token.is_empty() && !token.contains(' '))
}

/// What follows the `Bearer` scheme (in any case), trimmed, however malformed: for a caller
/// that refuses a malformed token as a wrong one rather than as a missing one.
pub fn bearer_credentials(value: &str) -> Option<&str> {
    let (scheme, rest) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

async fn healthz() -> &'static str {
    "ok"
}

/// Ready: the store answers, and on a PostgreSQL store this instance owns the tenants or knows
/// a live owner to forward to.
async fn readyz(State(state): State<AppState>) -> Response {
    if !crate::store::ping(&state.pool).await {
        return Problem::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", None)
            .into_response();
    }
    if let Some(cluster) = &state.cluster
        && !cluster.is_ready()
    {
        return Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_owner",
            "no instance holds the tenants' lease right now (a takeover is under way)".to_owned(),
        )
        .into_response();
    }
    (StatusCode::OK, "ready").into_response()
}

/// 405 with `Allow: POST`, for a route that only takes POST.
pub async fn method_not_allowed(method: Method) -> Response {
    let mut response = Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed here; use POST"),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
    response
}

async fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "not_found", None)
}

#[cfg(test)]
mod tests {
    use super::{bearer_credentials, bearer_token};

    #[test]
    fn a_bearer_token_is_read_in_any_case_of_the_scheme() {
        for (value, token) in [
            ("Bearer abc", Some("abc")),
            ("bearer abc", Some("abc")),
            ("BEARER   abc", Some("abc")),
            ("Bearer", None),
            ("Bearer ", None),
            ("Bearer a b", None),
            ("Basic abc", None),
        ] {
            assert_eq!(bearer_token(value), token, "{value:?}");
        }
        assert_eq!(bearer_credentials("bEaReR a b "), Some("a b"));
        assert_eq!(bearer_credentials("Basic a"), None);
    }
}
