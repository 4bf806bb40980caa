//! Rate limits of the customer API: session creation per client IP, messages per session and
//! per client IP, and uploads per client IP (`interact.uploads_per_minute`, counted besides the
//! message limits). Over a limit the answer is 429 with `Retry-After`.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::botframework::ratelimit::SlidingLimiter;
use crate::http::problem::Problem;

const SESSIONS_PER_IP: &[(Duration, usize)] = &[
    (Duration::from_secs(60), 10),
    (Duration::from_secs(3600), 100),
];
const MESSAGES_PER_SESSION: &[(Duration, usize)] =
    &[(Duration::from_secs(10), 10), (Duration::from_secs(60), 40)];
const MESSAGES_PER_IP: &[(Duration, usize)] = &[(Duration::from_secs(60), 300)];

pub struct Limits {
    sessions_per_ip: SlidingLimiter,
    messages_per_session: SlidingLimiter,
    messages_per_ip: SlidingLimiter,
    uploads_per_ip: SlidingLimiter,
}

/// Uploads per client IP a minute when not configured (`interact.uploads_per_minute`).
pub const DEFAULT_UPLOADS_PER_MINUTE: usize = 10;

impl Default for Limits {
    fn default() -> Self {
        Limits::new(DEFAULT_UPLOADS_PER_MINUTE)
    }
}

impl Limits {
    /// The limits, with `uploads_per_minute` uploads per client IP a minute (and six times as
    /// many an hour).
    pub fn new(uploads_per_minute: usize) -> Self {
        let uploads = [
            (Duration::from_secs(60), uploads_per_minute),
            (
                Duration::from_secs(3600),
                uploads_per_minute.saturating_mul(6),
            ),
        ];
        Limits {
            sessions_per_ip: SlidingLimiter::new(SESSIONS_PER_IP),
            messages_per_session: SlidingLimiter::new(MESSAGES_PER_SESSION),
            messages_per_ip: SlidingLimiter::new(MESSAGES_PER_IP),
            uploads_per_ip: SlidingLimiter::new(&uploads),
        }
    }
}

/// A refused request and how long to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited(pub Duration);

impl IntoResponse for Limited {
    fn into_response(self) -> Response {
        too_many(self.0)
    }
}

impl From<Limited> for crate::http::problem::Refused {
    fn from(limited: Limited) -> Self {
        limited.into_response().into()
    }
}

fn too_many(wait: Duration) -> Response {
    let mut response = Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "too many requests; try again later".to_owned(),
    )
    .into_response();
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    if let Ok(value) = HeaderValue::from_str(&seconds.max(1).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

impl Limits {
    pub fn new_session(&self, ip: &str) -> Result<(), Limited> {
        self.sessions_per_ip.try_acquire(ip).map_err(Limited)
    }

    /// A message request from `ip`, counted before its token is checked.
    pub fn message_from(&self, ip: &str) -> Result<(), Limited> {
        self.messages_per_ip.try_acquire(ip).map_err(Limited)
    }

    /// An upload from `ip`, counted once the request has opened its session.
    pub fn upload_from(&self, ip: &str) -> Result<(), Limited> {
        self.uploads_per_ip.try_acquire(ip).map_err(Limited)
    }

    /// A new message in `session`, counted only once the request has opened the session.
    pub fn message_in(&self, session: &str) -> Result<(), Limited> {
        self.messages_per_session
            .try_acquire(session)
            .map_err(Limited)
    }
}
