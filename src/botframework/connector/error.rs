//! Why a Connector call failed, classified from the status and the error body: what is retried,
//! after how long, and the stable code reported.

use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;

/// Why a Connector call failed.
#[derive(Debug, thiserror::Error, Clone)]
pub enum ConnectorError {
    #[error("service URL {0} is not on the allow-list; no call was made")]
    NotAllowed(String),
    #[error(transparent)]
    Token(#[from] crate::botframework::tokens::TokenError),
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

pub(super) fn classify(
    status: StatusCode,
    body: &[u8],
    retry_after: Option<Duration>,
) -> ConnectorError {
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

/// A transport error without the URL (which may carry ids we do not want in logs twice).
pub(super) fn transport_reason(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        "request failed".into()
    }
}
