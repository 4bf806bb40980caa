//! The Bot Connector REST client (reference §3): create conversation, send, reply, update,
//! delete, members. Every call
//!
//! - goes only to a service URL on the allow-list, and carries our bearer token only there;
//! - waits for the conversation's rate limit (sends, replies, updates, deletes, creates);
//! - is retried on 429 (honouring `Retry-After`), 412, 502, 503, 504 and transport errors with
//!   exponential backoff and jitter, a bounded number of times; a 401 drops the cached token
//!   and tries once more with a fresh one.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::activity::{
    Activity, ChannelAccount, ConversationParameters, ConversationResourceResponse,
    ResourceResponse,
};
use super::ratelimit::SlidingLimiter;
use super::retry::{Backoff, parse_retry_after};
use super::service_url::{ServiceUrl, ServiceUrlAllowList};
use super::tokens::{AccessTokens, BOT_FRAMEWORK_SCOPE};

/// Why a Connector call failed.
#[derive(Debug, thiserror::Error, Clone)]
pub enum ConnectorError {
    #[error("service URL {0} is not on the allow-list; no call was made")]
    NotAllowed(String),
    #[error(transparent)]
    Token(#[from] super::tokens::TokenError),
    #[error("Connector answered HTTP {status}{}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Status {
        status: u16,
        code: Option<String>,
        retry_after: Option<Duration>,
    },
    #[error("the user blocked or uninstalled the bot (MessageWritesBlocked)")]
    WritesBlocked,
    #[error("Connector unreachable: {0}")]
    Transport(String),
    #[error("Connector response unreadable: {0}")]
    InvalidResponse(String),
}

impl ConnectorError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            ConnectorError::Status { status, .. } => {
                matches!(status, 429 | 412 | 502 | 503 | 504)
            }
            ConnectorError::Transport(_) | ConnectorError::Token(_) => true,
            _ => false,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ConnectorError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Stable code for storage and metrics.
    pub fn code(&self) -> String {
        match self {
            ConnectorError::NotAllowed(_) => "service_url_not_allowed".into(),
            ConnectorError::Token(_) => "token_unavailable".into(),
            ConnectorError::Status { status, code, .. } => match code {
                Some(c) => format!("http_{status}_{c}"),
                None => format!("http_{status}"),
            },
            ConnectorError::WritesBlocked => "message_writes_blocked".into(),
            ConnectorError::Transport(_) => "transport".into(),
            ConnectorError::InvalidResponse(_) => "invalid_response".into(),
        }
    }
}

/// One outbound Connector operation, serialisable so the outbox can persist it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ConnectorCall {
    CreateConversation {
        parameters: ConversationParameters,
    },
    Send {
        conversation_id: String,
        activity: Activity,
    },
    Reply {
        conversation_id: String,
        reply_to_id: String,
        activity: Activity,
    },
    Update {
        conversation_id: String,
        activity_id: String,
        activity: Activity,
    },
    Delete {
        conversation_id: String,
        activity_id: String,
    },
}

impl ConnectorCall {
    /// The conversation this call is ordered and rate-limited within.
    pub fn conversation(&self) -> Option<&str> {
        match self {
            ConnectorCall::CreateConversation { .. } => None,
            ConnectorCall::Send {
                conversation_id, ..
            }
            | ConnectorCall::Reply {
                conversation_id, ..
            }
            | ConnectorCall::Update {
                conversation_id, ..
            }
            | ConnectorCall::Delete {
                conversation_id, ..
            } => Some(conversation_id),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            ConnectorCall::CreateConversation { .. } => "create_conversation",
            ConnectorCall::Send { .. } => "send",
            ConnectorCall::Reply { .. } => "reply",
            ConnectorCall::Update { .. } => "update",
            ConnectorCall::Delete { .. } => "delete",
        }
    }
}

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

#[derive(Deserialize)]
struct ErrorBody {
    error: Option<ErrorDetail>,
    #[serde(rename = "errorCode")]
    error_code: Option<serde_json::Value>,
    message: Option<String>,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: Option<String>,
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
            backoff,
            attempts: attempts.max(1),
        }
    }

    pub fn allows(&self, service_url: &ServiceUrl) -> bool {
        self.allowed.allows(service_url)
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
            .with_retries(service_url, None, || (Method::GET, url.clone(), None))
            .await
            .map_err(|f| f.error)?
            .0;
        parse_body(&body)
    }

    /// Runs a call with the retry policy and returns the ids it produced.
    pub async fn execute(
        &self,
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
            .with_retries(service_url, Some(&lane), || {
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
        build: impl Fn() -> (Method, url::Url, Option<serde_json::Value>),
    ) -> Result<(bytes::Bytes, u32), Failed> {
        if !self.allowed.allows(service_url) {
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

fn request_parts(
    service_url: &ServiceUrl,
    call: &ConnectorCall,
) -> Result<(Method, url::Url, Option<serde_json::Value>), ConnectorError> {
    Ok(match call {
        ConnectorCall::CreateConversation { parameters } => (
            Method::POST,
            service_url.join(&["v3", "conversations"]),
            Some(json(parameters)?),
        ),
        ConnectorCall::Send {
            conversation_id,
            activity,
        } => (
            Method::POST,
            service_url.join(&["v3", "conversations", conversation_id, "activities"]),
            Some(json(activity)?),
        ),
        ConnectorCall::Reply {
            conversation_id,
            reply_to_id,
            activity,
        } => {
            let mut activity = activity.clone();
            activity.reply_to_id = Some(reply_to_id.clone());
            (
                Method::POST,
                service_url.join(&[
                    "v3",
                    "conversations",
                    conversation_id,
                    "activities",
                    reply_to_id,
                ]),
                Some(json(&activity)?),
            )
        }
        ConnectorCall::Update {
            conversation_id,
            activity_id,
            activity,
        } => {
            let mut activity = activity.clone();
            activity.id = Some(activity_id.clone());
            (
                Method::PUT,
                service_url.join(&[
                    "v3",
                    "conversations",
                    conversation_id,
                    "activities",
                    activity_id,
                ]),
                Some(json(&activity)?),
            )
        }
        ConnectorCall::Delete {
            conversation_id,
            activity_id,
        } => (
            Method::DELETE,
            service_url.join(&[
                "v3",
                "conversations",
                conversation_id,
                "activities",
                activity_id,
            ]),
            None,
        ),
    })
}

fn json<T: Serialize>(value: &T) -> Result<serde_json::Value, ConnectorError> {
    serde_json::to_value(value).map_err(|e| ConnectorError::InvalidResponse(e.to_string()))
}

fn classify(status: StatusCode, body: &[u8], retry_after: Option<Duration>) -> ConnectorError {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    if status == StatusCode::FORBIDDEN
        && parsed
            .as_ref()
            .and_then(|b| b.message.as_deref())
            .is_some_and(|m| m.contains("MessageWritesBlocked"))
    {
        return ConnectorError::WritesBlocked;
    }
    let code = parsed.and_then(|b| {
        b.error
            .and_then(|e| e.code)
            .or_else(|| b.error_code.map(|c| c.to_string()))
    });
    ConnectorError::Status {
        status: status.as_u16(),
        code: code.map(|c| {
            c.chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .take(64)
                .collect()
        }),
        retry_after,
    }
}

fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ConnectorError> {
    serde_json::from_slice(bytes).map_err(|e| ConnectorError::InvalidResponse(e.to_string()))
}

/// A transport error without the URL (which may carry ids we do not want in logs twice).
fn transport_reason(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        "request failed".into()
    }
}
