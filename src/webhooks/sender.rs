//! Delivers one webhook: looks up the endpoint's URL and secret as configured now (a rotated
//! secret applies to deliveries still pending; a deleted endpoint fails them), refuses internal
//! networks exactly as SendHttpRequest does (same resolver and filter, the vetted addresses
//! pinned, no redirects), signs and POSTs the body, and classifies the answer for the outbox.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use secrecy::ExposeSecret;
use sha2::Sha256;
use url::Url;

use super::endpoints;
use super::record::Delivery;
use crate::clock::Clock;
use crate::engine::http_request::{self, TargetRefused};
use crate::store::Pool;

/// How long one attempt may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The longest `Retry-After` honoured as given.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

pub const SIGNATURE_HEADER: &str = "x-switchboard-signature";
pub const TIMESTAMP_HEADER: &str = "x-switchboard-timestamp";
pub const EVENT_HEADER: &str = "x-switchboard-event";
pub const DELIVERY_HEADER: &str = "x-switchboard-delivery";

/// Why an attempt did not deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookFailure {
    /// Worth another attempt later (408, 429, 5xx, network errors).
    pub retryable: bool,
    /// The receiver's `Retry-After`, when it sent one.
    pub retry_after: Option<Duration>,
    /// A stable code for the deliveries list (`http_500`, `timeout`, `endpoint_removed`…).
    pub code: String,
}

impl WebhookFailure {
    fn retry(code: &str) -> Self {
        WebhookFailure {
            retryable: true,
            retry_after: None,
            code: code.to_owned(),
        }
    }

    fn fail(code: &str) -> Self {
        WebhookFailure {
            retryable: false,
            retry_after: None,
            code: code.to_owned(),
        }
    }
}

/// `sha256=` and the hex HMAC-SHA256 of `"{timestamp}.{body}"` under `secret`.
pub fn signature(secret: &[u8], timestamp: i64, body: &str) -> String {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// What an answer means: 2xx delivered; 408, 429 and 5xx retried (after `Retry-After`, if
/// given); anything else (3xx: redirects are not followed; other 4xx) failed.
pub fn classify(status: StatusCode, retry_after: Option<Duration>) -> Result<(), WebhookFailure> {
    if status.is_success() {
        return Ok(());
    }
    let code = format!("http_{}", status.as_u16());
    let retryable = status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error();
    Err(WebhookFailure {
        retryable,
        retry_after: retry_after
            .filter(|_| retryable)
            .map(|d| d.min(MAX_RETRY_AFTER)),
        code,
    })
}

/// Sends webhook deliveries (the outbox rows of operation `webhook`).
pub struct Sender {
    pool: Pool,
    clock: Arc<dyn Clock>,
}

impl Sender {
    pub fn new(pool: Pool, clock: Arc<dyn Clock>) -> Self {
        Sender { pool, clock }
    }

    /// One attempt at the delivery an outbox row's `call` describes.
    pub async fn deliver(&self, payload: &str) -> Result<(), WebhookFailure> {
        let delivery: Delivery =
            serde_json::from_str(payload).map_err(|_| WebhookFailure::fail("undecodable_call"))?;
        let target = endpoints::target(&self.pool, &delivery.tenant, &delivery.endpoint)
            .await
            .map_err(|_| WebhookFailure::retry("store_unavailable"))?
            .ok_or_else(|| WebhookFailure::fail("endpoint_removed"))?;
        let allowed = http_request::allowed_networks(&self.pool, &delivery.tenant)
            .await
            .map_err(|_| WebhookFailure::retry("store_unavailable"))?;
        let url = Url::parse(&target.url).map_err(|_| WebhookFailure::fail("invalid_url"))?;
        let addrs = match http_request::vet(&url, &allowed).await {
            Ok(addrs) => addrs,
            Err(TargetRefused::BadUrl) => return Err(WebhookFailure::fail("invalid_url")),
            Err(TargetRefused::Unresolvable) => return Err(WebhookFailure::retry("unresolvable")),
            Err(TargetRefused::Internal(_)) => {
                return Err(WebhookFailure::fail("private_network_refused"));
            }
        };
        if url.scheme() != "https" && !addrs.iter().all(|a| a.ip().is_loopback()) {
            return Err(WebhookFailure::fail("not_https"));
        }
        let host = url.host_str().unwrap_or_default().to_owned();
        let client = http_request::pinned_client(&host, &addrs, TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|_| WebhookFailure::retry("client_unavailable"))?;
        let timestamp = self.clock.now_ms().div_euclid(1000);
        let signed = signature(
            target.secret.expose_secret().as_bytes(),
            timestamp,
            &delivery.body,
        );
        let sent = client
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signed)
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(EVENT_HEADER, &delivery.event)
            .header(DELIVERY_HEADER, &delivery.delivery)
            .body(delivery.body)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) if e.is_timeout() => return Err(WebhookFailure::retry("timeout")),
            Err(_) => return Err(WebhookFailure::retry("connect_failed")),
        };
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| crate::botframework::retry::parse_retry_after(v, SystemTime::now()));
        let result = classify(response.status(), retry_after);
        tracing::info!(
            tenant.id = %delivery.tenant,
            session.id = %delivery.session,
            webhook.endpoint = %delivery.endpoint,
            webhook.event = %delivery.event,
            http.status = response.status().as_u16(),
            "webhook attempted"
        );
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_hmac_of_timestamp_dot_body() {
        // Computed independently with
        // `printf '%s' '1700000000.{"a":1}' | openssl dgst -sha256 -hmac Jefe`.
        assert_eq!(
            signature(b"Jefe", 1_700_000_000, r#"{"a":1}"#),
            "sha256=fa5f6481efc59da48b19c9dc10196c9953e5651f8304b3a318b6b87d70272e0a"
        );
    }

    #[test]
    fn answers_are_delivered_retried_or_failed() {
        assert_eq!(classify(StatusCode::NO_CONTENT, None), Ok(()));
        for status in [408, 429, 500, 502, 503] {
            let f = classify(StatusCode::from_u16(status).expect("status"), None)
                .expect_err("not delivered");
            assert!(f.retryable, "{status}");
            assert_eq!(f.code, format!("http_{status}"));
        }
        for status in [301, 400, 401, 404, 410] {
            let f = classify(StatusCode::from_u16(status).expect("status"), None)
                .expect_err("not delivered");
            assert!(!f.retryable, "{status}");
        }
        let later = classify(
            StatusCode::SERVICE_UNAVAILABLE,
            Some(Duration::from_secs(7)),
        )
        .expect_err("retry");
        assert_eq!(later.retry_after, Some(Duration::from_secs(7)));
        let capped = classify(
            StatusCode::TOO_MANY_REQUESTS,
            Some(Duration::from_secs(86_400)),
        )
        .expect_err("retry");
        assert_eq!(capped.retry_after, Some(MAX_RETRY_AFTER));
    }
}
