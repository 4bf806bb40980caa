//! A customer's session as the customer sees it: its state, the events of its stream, and its
//! stored row. The same for every channel (the widget, WhatsApp); [`super::store`] keeps them.

use serde::{Deserialize, Serialize};

use crate::engine::messages::SessionState;

/// A customer session's state as the customer sees it (and as `interact_sessions.state` stores
/// it): the engine's workflow phase is `connecting`. `ended` is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CustomerState {
    Connecting,
    Queued,
    Connected,
    Ended,
}

impl CustomerState {
    pub fn as_str(self) -> &'static str {
        match self {
            CustomerState::Connecting => "connecting",
            CustomerState::Queued => "queued",
            CustomerState::Connected => "connected",
            CustomerState::Ended => "ended",
        }
    }

    /// The state `interact_sessions.state` stores (`None`: a value no version writes).
    pub(super) fn parse(stored: &str) -> Option<Self> {
        [
            CustomerState::Connecting,
            CustomerState::Queued,
            CustomerState::Connected,
            CustomerState::Ended,
        ]
        .into_iter()
        .find(|s| s.as_str() == stored)
    }
}

impl From<SessionState> for CustomerState {
    fn from(state: SessionState) -> Self {
        match state {
            SessionState::Workflow => CustomerState::Connecting,
            SessionState::Queued => CustomerState::Queued,
            SessionState::Connected => CustomerState::Connected,
            SessionState::Ended => CustomerState::Ended,
        }
    }
}

/// What a customer sees happen, in order (`seq` starts at 1 per session).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum CustomerEvent {
    /// `connecting`, `queued`, `connected` (with the agent's display name) or `ended`.
    State {
        state: CustomerState,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent: Option<String>,
    },
    /// The customer's place in the queue (1-based) changed.
    Queue { position: usize },
    /// A message to the customer from the service (workflow) or an agent (`from` is
    /// `service` or `agent`; an agent's message carries their display name, and `html`, the
    /// safe subset of its formatting, when it has any — `text` is always there).
    Message {
        from: String,
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        html: Option<String>,
    },
    /// The agent edited their message of event `seq`: this is its text now.
    MessageEdited {
        seq: i64,
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        html: Option<String>,
    },
    /// The agent deleted their message of event `seq`.
    MessageDeleted { seq: i64 },
    /// The agent has read the customer's messages up to event `up_to` (Teams read receipts,
    /// personal chats).
    Read { up_to: i64 },
    /// The customer's message of event `seq` could not be delivered to the agent (Teams
    /// refused it for good): the widget marks it "not delivered", with Retry.
    Undelivered { seq: i64 },
    /// The agent is typing.
    Typing {},
    /// The customer's own message, as accepted.
    CustomerMessage {
        text: String,
        client_message_id: String,
    },
    /// A question with optional choices.
    Prompt { text: String, choices: Vec<String> },
    /// WhatsApp: an approved template the agent sent to re-engage the customer after the
    /// 24-hour window closed (`text`: its body as filled, for the transcript).
    Template {
        name: String,
        language: String,
        values: Vec<String>,
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent: Option<String>,
    },
}

/// A stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    pub session_id: String,
    pub tenant_id: String,
    pub contact_id: String,
    pub token_hash: String,
    pub state: CustomerState,
}
