//! The Bot Connector REST client (reference §3): create conversation, send, reply, update,
//! delete, members. Every call
//!
//! - goes only to a service URL on the allow-list, and carries our bearer token only there;
//! - waits for the conversation's rate limit (sends, replies, updates, deletes, creates);
//! - is retried on 429 (honouring `Retry-After`), 412, 502, 503, 504 and transport errors with
//!   exponential backoff and jitter, a bounded number of times; a 401 drops the cached token
//!   and tries once more with a fresh one.

mod call;
mod error;

pub use self::call::ConnectorCall;
use self::call::request_parts;
pub use self::error::ConnectorError;
use self::error::{classify, transport_reason};

use std::sync::Arc;
use std::time::SystemTime;

use reqwest::Method;
use serde::de::DeserializeOwned;

use super::activity::{
    Activity, ChannelAccount, ConversationParameters, ConversationResourceResponse,
    ResourceResponse,
};
use super::ratelimit::SlidingLimiter;
use super::retry::{Backoff, parse_retry_after};
use super::service_url::ServiceUrl;
use super::tokens::{AccessTokens, BOT_FRAMEWORK_SCOPE};
use crate::config::ServiceUrlAllowList;

/// What a delivered call returned: the new activity or conversation id, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivered {
    pub id: Option<String>,
    pub activity_id: Option<String>,
    pub attempts: u32,
}

/// A failed call and how many attempts it took.
#[derive(Debug, Clone)]
pub struct Failed {
    pub error: ConnectorError,
    pub attempts: u32,
}

/// The Bot Connector client.
/// What the Connector answered, for `/metrics`: calls by method and status, their latency,
/// and how long outbox calls took from queued to delivered.
#[derive(Debug, Default)]
pub struct ConnectorStats {
    /// `(method, status)` → calls; status is the HTTP code or `transport`.
    pub calls: std::sync::Mutex<std::collections::BTreeMap<(String, String), u64>>,
    /// Per method: each HTTP attempt's duration.
    pub call_seconds:
        std::sync::Mutex<std::collections::BTreeMap<String, crate::telemetry::Histogram>>,
    /// From a call entering the outbox until the Connector accepted it (retries included).
    pub delivery_seconds: std::sync::Mutex<crate::telemetry::Histogram>,
}

impl ConnectorStats {
    fn record(&self, method: &Method, status: String, seconds: f64) {
        let method = method.as_str().to_owned();
        if let Ok(mut calls) = self.calls.lock() {
            *calls.entry((method.clone(), status)).or_default() += 1;
        }
        if let Ok(mut h) = self.call_seconds.lock() {
            h.entry(method).or_default().observe(seconds);
        }
    }

    pub fn delivered_after(&self, seconds: f64) {
        if let Ok(mut h) = self.delivery_seconds.lock() {
            h.observe(seconds);
        }
    }
}

pub struct ConnectorClient {
    stats: ConnectorStats,
    http: reqwest::Client,
    tokens: Arc<AccessTokens>,
    allowed: ServiceUrlAllowList,
    limiter: SlidingLimiter,
    /// Teams' limit per app per tenant, over all of a tenant's conversations.
    tenants: SlidingLimiter,
    backoff: Backoff,
    attempts: u32,
}

impl ConnectorClient {
    pub fn new(
        http: reqwest::Client,
        tokens: Arc<AccessTokens>,
        allowed: ServiceUrlAllowList,
        backoff: Backoff,
        attempts: u32,
    ) -> Self {
        ConnectorClient {
            stats: ConnectorStats::default(),
            http,
            tokens,
            allowed,
            limiter: SlidingLimiter::new(super::ratelimit::SEND_WINDOWS),
            tenants: SlidingLimiter::new(super::ratelimit::TENANT_WINDOWS),
            backoff,
            attempts: attempts.max(1),
        }
    }

    /// At most `per_second` requests a second to one tenant (Teams: 50, the default).
    #[must_use]
    pub fn with_tenant_rate(mut self, per_second: usize) -> Self {
        self.tenants =
            SlidingLimiter::new(&[(std::time::Duration::from_secs(1), per_second.max(1))]);
        self
    }

    pub fn allows(&self, service_url: &ServiceUrl) -> bool {
        self.allowed.allows(service_url.url())
    }

    pub fn backoff(&self) -> Backoff {
        self.backoff
    }

    pub fn stats(&self) -> &ConnectorStats {
        &self.stats
    }

    /// `POST /v3/conversations`.
    pub async fn create_conversation(
        &self,
        service_url: &ServiceUrl,
        parameters: &ConversationParameters,
    ) -> Result<ConversationResourceResponse, ConnectorError> {
        let call = ConnectorCall::CreateConversation {
            parameters: parameters.clone(),
        };
        self.request(service_url, &call).await
    }

    /// `POST /v3/conversations/{id}/activities`.
    pub async fn send_to_conversation(
        &self,
        service_url: &ServiceUrl,
        conversation_id: &str,
        activity: &Activity,
    ) -> Result<ResourceResponse, ConnectorError> {
        let call = ConnectorCall::Send {
            conversation_id: conversation_id.to_owned(),
            activity: activity.clone(),
        };
        self.request(service_url, &call).await
    }

    /// `POST /v3/conversations/{id}/activities/{replyToId}`.
    pub async fn reply_to_activity(
        &self,
        service_url: &ServiceUrl,
        conversation_id: &str,
        reply_to_id: &str,
        activity: &Activity,
    ) -> Result<ResourceResponse, ConnectorError> {
        let call = ConnectorCall::Reply {
            conversation_id: conversation_id.to_owned(),
            reply_to_id: reply_to_id.to_owned(),
            activity: activity.clone(),
        };
        self.request(service_url, &call).await
    }

    /// `PUT /v3/conversations/{id}/activities/{activityId}`.
    pub async fn update_activity(
        &self,
        service_url: &ServiceUrl,
        conversation_id: &str,
        activity_id: &str,
        activity: &Activity,
    ) -> Result<ResourceResponse, ConnectorError> {
        let call = ConnectorCall::Update {
            conversation_id: conversation_id.to_owned(),
            activity_id: activity_id.to_owned(),
            activity: activity.clone(),
        };
        self.request(service_url, &call).await
    }

    /// `DELETE /v3/conversations/{id}/activities/{activityId}`.
    pub async fn delete_activity(
        &self,
        service_url: &ServiceUrl,
        conversation_id: &str,
        activity_id: &str,
    ) -> Result<(), ConnectorError> {
        let call = ConnectorCall::Delete {
            conversation_id: conversation_id.to_owned(),
            activity_id: activity_id.to_owned(),
        };
        self.execute(service_url, &call)
            .await
            .map(|_| ())
            .map_err(|f| f.error)
    }

    /// `GET /v3/conversations/{id}/members`.
    pub async fn get_conversation_members(
        &self,
        service_url: &ServiceUrl,
        conversation_id: &str,
    ) -> Result<Vec<ChannelAccount>, ConnectorError> {
        let url = service_url.join(&["v3", "conversations", conversation_id, "members"]);
        let body = self
            .with_retries(service_url, None, None, || (Method::GET, url.clone(), None))
            .await
            .map_err(|f| f.error)?
            .0;
        parse_body(&body)
    }

    /// Runs a call with the retry policy and returns the ids it produced; its tenant (for the
    /// limit per tenant) is the one the call names, if any.
    pub async fn execute(
        &self,
        service_url: &ServiceUrl,
        call: &ConnectorCall,
    ) -> Result<Delivered, Failed> {
        let tenant = call.tenant();
        self.execute_for(tenant.as_deref(), service_url, call).await
    }

    /// [`ConnectorClient::execute`] for a call of `tenant`: each attempt waits its turn within
    /// Teams' limit per app per tenant as well as the conversation's.
    pub async fn execute_for(
        &self,
        tenant: Option<&str>,
        service_url: &ServiceUrl,
        call: &ConnectorCall,
    ) -> Result<Delivered, Failed> {
        let (method, url, body) =
            request_parts(service_url, call).map_err(|error| Failed { error, attempts: 0 })?;
        let lane = format!(
            "{}|{}",
            service_url.as_str(),
            call.conversation().unwrap_or("create")
        );
        let (bytes, attempts) = self
            .with_retries(service_url, Some(&lane), tenant, || {
                (method.clone(), url.clone(), body.clone())
            })
            .await?;
        let delivered = match call {
            ConnectorCall::Delete { .. } => Delivered::default(),
            ConnectorCall::CreateConversation { .. } => {
                let r: ConversationResourceResponse =
                    parse_body(&bytes).map_err(|error| Failed { error, attempts })?;
                Delivered {
                    id: Some(r.id),
                    activity_id: r.activity_id,
                    attempts,
                }
            }
            _ => {
                // An empty body is allowed (202): the call was accepted without an id.
                let r: ResourceResponse = if bytes.is_empty() {
                    ResourceResponse::default()
                } else {
                    parse_body(&bytes).map_err(|error| Failed { error, attempts })?
                };
                Delivered {
                    id: r.id,
                    activity_id: None,
                    attempts,
                }
            }
        };
        Ok(Delivered {
            attempts,
            ..delivered
        })
    }

    async fn request<T: From<Delivered>>(
        &self,
        service_url: &ServiceUrl,
        call: &ConnectorCall,
    ) -> Result<T, ConnectorError> {
        self.execute(service_url, call)
            .await
            .map(T::from)
            .map_err(|f| f.error)
    }

    async fn with_retries(
        &self,
        service_url: &ServiceUrl,
        lane: Option<&str>,
        tenant: Option<&str>,
        build: impl Fn() -> (Method, url::Url, Option<serde_json::Value>),
    ) -> Result<(bytes::Bytes, u32), Failed> {
        if !self.allowed.allows(service_url.url()) {
            return Err(Failed {
                error: ConnectorError::NotAllowed(service_url.as_str().to_owned()),
                attempts: 0,
            });
        }
        let mut attempt = 0;
        let mut refreshed_token = false;
        loop {
            attempt += 1;
            if let Some(lane) = lane {
                self.limiter.acquire(lane).await;
            }
            if let Some(tenant) = tenant {
                self.tenants.acquire(tenant).await;
            }
            let (method, url, body) = build();
            match self.attempt(method, url, body.as_ref()).await {
                Ok(bytes) => return Ok((bytes, attempt)),
                Err(ConnectorError::Status { status: 401, .. }) if !refreshed_token => {
                    // The cached token may have been revoked or rotated: fetch a new one once.
                    refreshed_token = true;
                    self.tokens.invalidate(BOT_FRAMEWORK_SCOPE).await;
                }
                Err(error) if error.is_retryable() && attempt < self.attempts => {
                    let delay = self.backoff.delay_for(attempt, error.retry_after());
                    if delay > self.backoff.max {
                        // Longer than we wait in memory: the caller (the outbox) parks it.
                        return Err(Failed {
                            error,
                            attempts: attempt,
                        });
                    }
                    tracing::info!(
                        connector.error = %error.code(),
                        retry.attempt = attempt,
                        retry.delay_ms = delay.as_millis() as u64,
                        "Connector call will be retried"
                    );
                    tokio::time::sleep(delay).await;
                }
                Err(error) => {
                    return Err(Failed {
                        error,
                        attempts: attempt,
                    });
                }
            }
        }
    }

    async fn attempt(
        &self,
        method: Method,
        url: url::Url,
        body: Option<&serde_json::Value>,
    ) -> Result<bytes::Bytes, ConnectorError> {
        let mut request = self.http.request(method.clone(), url);
        if let Some(token) = self.tokens.token(BOT_FRAMEWORK_SCOPE).await? {
            request = request.bearer_auth(token.secret());
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let started = std::time::Instant::now();
        let response = request.send().await;
        let seconds = started.elapsed().as_secs_f64();
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                self.stats.record(&method, "transport".into(), seconds);
                return Err(ConnectorError::Transport(transport_reason(&e)));
            }
        };
        let status = response.status();
        self.stats
            .record(&method, status.as_u16().to_string(), seconds);
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ConnectorError::Transport(transport_reason(&e)))?;
        if status.is_success() {
            return Ok(bytes);
        }
        Err(classify(status, &bytes, retry_after))
    }
}

impl From<Delivered> for ResourceResponse {
    fn from(d: Delivered) -> Self {
        ResourceResponse { id: d.id }
    }
}

impl From<Delivered> for ConversationResourceResponse {
    fn from(d: Delivered) -> Self {
        ConversationResourceResponse {
            id: d.id.unwrap_or_default(),
            activity_id: d.activity_id,
            service_url: None,
        }
    }
}

fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ConnectorError> {
    serde_json::from_slice(bytes).map_err(|e| ConnectorError::InvalidResponse(e.to_string()))
}
