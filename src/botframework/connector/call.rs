//! The calls the Connector takes, as values (stored in the outbox, carried out later), and the
//! HTTP request each one is.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::botframework::activity::{Activity, ConversationParameters};
use crate::botframework::service_url::ServiceUrl;

use super::error::ConnectorError;

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

    /// The tenant the call names: a new conversation's parameters, or its activity's
    /// `channelData.tenant` / `conversation.tenantId`.
    pub fn tenant(&self) -> Option<String> {
        match self {
            ConnectorCall::CreateConversation { parameters } => parameters.tenant_id.clone(),
            ConnectorCall::Send { activity, .. }
            | ConnectorCall::Reply { activity, .. }
            | ConnectorCall::Update { activity, .. } => activity.tenant_id(),
            ConnectorCall::Delete { .. } => None,
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

pub(super) fn request_parts(
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

pub(super) fn json<T: Serialize>(value: &T) -> Result<serde_json::Value, ConnectorError> {
    serde_json::to_value(value).map_err(|e| ConnectorError::InvalidResponse(e.to_string()))
}
