//! The vocabulary the bot's handlers share: what a user who pressed a button is shown
//! ([`Answer`]), what became of an agent's message ([`Relayed`]), and how a card action's data
//! is read ([`string_field`]).

use serde_json::Value;

/// What the user who pressed a button is shown.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Replaces the card.
    Card(Value),
    /// A short note.
    Message(String),
}

/// Why the bot did not do what a user asked, as the sentence they are shown (an expected
/// answer, such as "This chat has ended", not a failure).
pub type Refusal = &'static str;

/// What a bot action returns: done (`Ok(Ok(T))`), refused with a sentence for the user
/// (`Ok(Err(Refusal))`), or failed (`Err`: logged, and the user told to try again).
pub type Handled<T> = anyhow::Result<Result<T, Refusal>>;

/// A card action's data field as text (Teams sends ids as strings or numbers).
pub(crate) fn string_field(data: &Value, key: &str) -> Option<String> {
    match data.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// What became of an agent's activity in a conversation.
pub enum Relayed {
    /// The conversation holds no open chatroom: the activity is not for a customer.
    NoChatroom,
    /// Handled; the note (if any) is sent back to the agent.
    Done(Option<String>),
    /// A bot command (`/away`, `/status`…) typed in a personal chat holding chatrooms.
    Command(String),
    /// Handled; this card is sent back to the agent.
    Card(serde_json::Value),
}

/// A note back to the agent.
pub(super) fn note(text: impl Into<String>) -> Relayed {
    Relayed::Done(Some(text.into()))
}
