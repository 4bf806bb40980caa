//! Agent → customer: what an agent writes in a chatroom reaches the customer's event stream.
//! The bot's own messages and other bots are ignored; attachments the customer cannot receive
//! are answered with a note to the agent, never dropped silently.

use std::time::Duration;

use crate::botframework::activity::Activity;
use crate::directory::model::User;
use crate::directory::store::{self as docs, Kind};
use crate::interact::store::{self as customer_store, CustomerEvent};
use crate::startup::App;

use super::actions::{self, Answer};
use super::agents::Actor;
use super::store::{self, Chatroom};

/// Typing indicators are passed on at most this often per session.
const TYPING_EVERY: Duration = Duration::from_secs(3);

/// What became of an agent's activity in a conversation.
pub enum Relayed {
    /// The conversation holds no open chatroom: the activity is not for a customer.
    NoChatroom,
    /// Handled; the note (if any) is sent back to the agent.
    Done(Option<String>),
}

/// The open chatroom an activity in `conversation` belongs to (the newest one, when a personal
/// chat holds several).
async fn room(app: &App, conversation: &str, actor: &Actor) -> anyhow::Result<Option<Chatroom>> {
    let rooms = store::open_chatrooms_in(&app.pool, conversation).await?;
    Ok(rooms.into_iter().find(|r| r.tenant_id == actor.tenant))
}

/// Strips Teams markup from a message: `<at>` mentions and HTML tags.
fn plain_text(activity: &Activity) -> String {
    let text = activity.text.as_deref().unwrap_or_default();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<at>") {
        out.push_str(&rest[..start]);
        match rest[start..].find("</at>") {
            Some(end) => rest = &rest[start + end + 5..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    let mut plain = String::with_capacity(out.len());
    let mut in_tag = false;
    for c in out.chars() {
        match c {
            '<' if activity.text_format.as_deref() != Some("plain") => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => plain.push(c),
            _ => {}
        }
    }
    plain
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
        .trim()
        .to_owned()
}

/// Attachments a customer cannot receive (files, images); cards and the HTML copy of the text
/// that Teams adds are not counted.
fn foreign_attachments(activity: &Activity) -> usize {
    activity
        .attachments
        .iter()
        .flatten()
        .filter(|a| a.content_type != "text/html")
        .count()
}

/// Relays an agent's message.
pub async fn message(
    app: &App,
    actor: &Actor,
    activity: &Activity,
    conversation: &str,
) -> anyhow::Result<Relayed> {
    let Some(room) = room(app, conversation, actor).await? else {
        return Ok(Relayed::NoChatroom);
    };
    let text = plain_text(activity);
    if text.eq_ignore_ascii_case("end") {
        let answer = actions::end_chat(app, actor, &room.session_id).await?;
        return Ok(Relayed::Done(match answer {
            Answer::Message(m) => Some(m),
            Answer::Card(_) => None,
        }));
    }
    let dropped = foreign_attachments(activity);
    if !text.is_empty() {
        let name =
            match docs::get::<User>(&app.pool, &actor.tenant, Kind::User, &actor.user_id).await? {
                Some(u) => u.value.display_name,
                None => actor.name.clone().unwrap_or_else(|| "Agent".into()),
            };
        let event = CustomerEvent::Message {
            from: "agent".into(),
            text: text.chars().take(4000).collect(),
            name: Some(name),
        };
        customer_store::append(&app.pool, &room.session_id, &event, app.clock.now_ms()).await?;
        app.events.notify(&room.session_id);
    }
    Ok(Relayed::Done(match (dropped, text.is_empty()) {
        (0, true) => Some("Nothing was sent to the customer: the message was empty.".into()),
        (0, false) => None,
        (_, true) => Some(
            "The customer cannot receive files or images: nothing was sent. Describe it in words \
             or share a link."
                .into(),
        ),
        (_, false) => {
            Some("The customer cannot receive files or images: only your text was sent.".into())
        }
    }))
}

/// Passes an agent's typing indicator on to the customer (throttled).
pub async fn typing(app: &App, actor: &Actor, conversation: &str) -> anyhow::Result<()> {
    let Some(room) = room(app, conversation, actor).await? else {
        return Ok(());
    };
    let now = app.clock.now_ms();
    let last = app.typing.get(&room.session_id);
    if last.is_some_and(|t| now - t < i64::try_from(TYPING_EVERY.as_millis()).unwrap_or(0)) {
        return Ok(());
    }
    app.typing.insert(room.session_id.clone(), now);
    customer_store::append(&app.pool, &room.session_id, &CustomerEvent::Typing {}, now).await?;
    app.events.notify(&room.session_id);
    Ok(())
}
