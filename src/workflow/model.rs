//! The workflow model of DESIGN.md §4: a named graph of activities. Activities with one
//! continuation use `next`; branching ones use `exits`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A parsed workflow (not yet validated).
#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    pub id: String,
    pub name: String,
    pub start: String,
    /// Activities by id, in the order the document lists them.
    pub activities: Vec<(String, Activity)>,
}

impl Workflow {
    pub fn activity(&self, id: &str) -> Option<&Activity> {
        self.activities
            .iter()
            .find(|(k, _)| k == id)
            .map(|(_, a)| a)
    }
}

/// One activity and where it continues.
#[derive(Debug, Clone, PartialEq)]
pub struct Activity {
    pub kind: Kind,
    pub next: Option<String>,
    pub exits: BTreeMap<String, String>,
}

/// How a session is distributed by `QueueTask`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Distribution {
    Direct,
    Broadcast,
}

/// Queue priority set by `DistributionPriority`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Priority {
    Low,
    Normal,
    High,
    Strict,
}

/// Operators of `CheckParameter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Equals,
    NotEquals,
    Contains,
    StartsWith,
    Regex,
    GreaterThan,
    LessThan,
    IsEmpty,
}

/// One condition of `CheckParameter`; the first that holds picks its exit.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub parameter: String,
    pub operator: Operator,
    pub value: Option<String>,
    pub exit: String,
}

/// The supported activity types with their fields (defaults applied), and the voice-only
/// types that are recognised but unsupported for IM.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Accept,
    Message {
        text: String,
    },
    CollectInformation {
        parameters: Vec<String>,
        timeout_seconds: u32,
    },
    Disconnect {
        text: Option<String>,
    },
    InputCustomer {
        prompt: String,
        parameter: String,
        choices: Vec<String>,
        pattern: Option<String>,
        timeout_seconds: u32,
    },
    SaveToParameter {
        parameter: String,
        value: String,
    },
    Transfer {
        service: String,
    },
    Delay {
        seconds: u32,
    },
    AvailabilityBasedRouting {
        service: Option<String>,
    },
    CheckOpeningHours,
    CheckParameter {
        conditions: Vec<Condition>,
    },
    GetAvailableUsers {
        parameter: String,
    },
    GetQueuePosition {
        parameter: String,
    },
    QueueTask {
        ring_timeout_seconds: u32,
        distribution: Distribution,
    },
    CheckTask,
    CancelTask,
    DistributionPriority {
        priority: Priority,
    },
    SendHttpRequest {
        method: String,
        url: String,
        headers: BTreeMap<String, String>,
        body: Option<String>,
        timeout_seconds: u32,
        /// Parameter name → JSON pointer into the response body.
        save_to: BTreeMap<String, String>,
    },
    /// A voice-workflow activity (`Announcement`, `PlayMusic`, …): recognised, not supported
    /// for IM.
    Unsupported {
        type_name: String,
    },
}

/// Voice activity types that exist in the seeds' product but have no IM meaning.
pub const VOICE_ONLY: &[&str] = &[
    "Announcement",
    "InputCustomerAdvanced",
    "PlayMusic",
    "VoiceMessage",
    "Reply",
    "DisconnectAsHandled",
    "MarkAsHandled",
    "Forward",
    "StandbyDuty",
    "VirtualUser",
    "WaitForParameter",
    "Queue",
];

impl Kind {
    pub fn type_name(&self) -> &str {
        match self {
            Kind::Accept => "Accept",
            Kind::Message { .. } => "Message",
            Kind::CollectInformation { .. } => "CollectInformation",
            Kind::Disconnect { .. } => "Disconnect",
            Kind::InputCustomer { .. } => "InputCustomer",
            Kind::SaveToParameter { .. } => "SaveToParameter",
            Kind::Transfer { .. } => "Transfer",
            Kind::Delay { .. } => "Delay",
            Kind::AvailabilityBasedRouting { .. } => "AvailabilityBasedRouting",
            Kind::CheckOpeningHours => "CheckOpeningHours",
            Kind::CheckParameter { .. } => "CheckParameter",
            Kind::GetAvailableUsers { .. } => "GetAvailableUsers",
            Kind::GetQueuePosition { .. } => "GetQueuePosition",
            Kind::QueueTask { .. } => "QueueTask",
            Kind::CheckTask => "CheckTask",
            Kind::CancelTask => "CancelTask",
            Kind::DistributionPriority { .. } => "DistributionPriority",
            Kind::SendHttpRequest { .. } => "SendHttpRequest",
            Kind::Unsupported { type_name } => type_name,
        }
    }

    /// The exits this activity can take; `None` when it continues with `next`, and an empty
    /// list when it ends the session.
    pub fn exits(&self) -> Option<Vec<String>> {
        let names = |list: &[&str]| Some(list.iter().map(|s| (*s).to_owned()).collect());
        match self {
            Kind::Accept
            | Kind::Message { .. }
            | Kind::SaveToParameter { .. }
            | Kind::Delay { .. }
            | Kind::GetAvailableUsers { .. }
            | Kind::CancelTask
            | Kind::DistributionPriority { .. } => None,
            Kind::Disconnect { .. } | Kind::Unsupported { .. } => Some(Vec::new()),
            Kind::CollectInformation { .. } => names(&["collected", "timeout"]),
            Kind::InputCustomer { choices, .. } => {
                let mut exits = choices.clone();
                exits.push("other".into());
                exits.push("timeout".into());
                Some(exits)
            }
            Kind::Transfer { .. } => names(&["failed"]),
            Kind::AvailabilityBasedRouting { .. } => names(&["available", "busy", "unavailable"]),
            Kind::CheckOpeningHours => names(&["open", "closed", "holiday"]),
            Kind::CheckParameter { conditions } => {
                let mut exits: Vec<String> = Vec::new();
                for c in conditions {
                    if !exits.contains(&c.exit) {
                        exits.push(c.exit.clone());
                    }
                }
                exits.push("default".into());
                Some(exits)
            }
            Kind::GetQueuePosition { .. } => names(&["queued", "notQueued"]),
            Kind::QueueTask { .. } => names(&["queued", "failed"]),
            Kind::CheckTask => names(&["queued", "ringing", "connected", "notQueued"]),
            Kind::SendHttpRequest { .. } => names(&["success", "failure"]),
        }
    }

    /// Whether the session waits here (so a loop through it is not a busy loop).
    pub fn waits(&self) -> bool {
        matches!(
            self,
            Kind::Delay { .. } | Kind::InputCustomer { .. } | Kind::CollectInformation { .. }
        )
    }
}
