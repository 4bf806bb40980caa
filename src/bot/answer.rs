//! The vocabulary the bot's handlers share: what a user who pressed a button is shown
//! ([`Answer`]), and how a card action's data is read ([`string_field`]).

use serde_json::Value;

/// What the user who pressed a button is shown.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Replaces the card.
    Card(Value),
    /// A short note.
    Message(String),
}

/// A card action's data field as text (Teams sends ids as strings or numbers).
pub(crate) fn string_field(data: &Value, key: &str) -> Option<String> {
    match data.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
