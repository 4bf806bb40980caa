//! IM workflows (DESIGN.md §4): the JSON model with every supported activity and its exits,
//! its parser (unknown fields and types are errors with their JSON path), and the validator
//! (structure, parameters, the supported-activity matrix per channel), and the interpreter
//! ([`interpret::Run`]), a pure state machine the engine drives with events and the time.

pub mod fill;
pub mod interpret;
pub mod model;
mod parse;
mod validate;

use serde::Serialize;
use serde_json::Value;

pub use model::Workflow;
pub use parse::parse;
pub use validate::{ServiceNames, unknown_transfer_targets, unsupported_activities, validate};

use model::Kind;

/// One problem in a workflow document, at a JSON pointer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub path: String,
    pub code: &'static str,
    pub message: String,
}

impl Finding {
    pub fn new(path: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Finding {
            path: path.into(),
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        write!(f, "{path}: {} ({})", self.message, self.code)
    }
}

/// The channel a session arrives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Interact,
    WhatsApp,
}

impl Channel {
    pub fn parse(name: &str) -> Option<Channel> {
        match name.to_ascii_lowercase().as_str() {
            "interact" => Some(Channel::Interact),
            "whatsapp" => Some(Channel::WhatsApp),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Channel::Interact => "Interact",
            Channel::WhatsApp => "WhatsApp",
        }
    }

    /// The seeds' supported-activity matrix (DESIGN.md §4); `SendHttpRequest` is ours, for
    /// Interact.
    pub fn supports(self, kind: &Kind) -> bool {
        match kind {
            Kind::Unsupported { .. } => false,
            Kind::Accept
            | Kind::Message { .. }
            | Kind::Disconnect { .. }
            | Kind::Delay { .. }
            | Kind::QueueTask { .. }
            | Kind::CheckTask
            | Kind::CancelTask => true,
            _ => self == Channel::Interact,
        }
    }
}

/// Parses and validates a workflow document.
pub fn check(document: &Value, channel: Option<Channel>) -> Result<Workflow, Vec<Finding>> {
    let workflow = parse(document)?;
    let problems = validate(&workflow, channel);
    if problems.is_empty() {
        Ok(workflow)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests;
