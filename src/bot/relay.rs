//! Agent → customer: what an agent writes for the customer of a chatroom reaches the
//! customer's event stream. The bot's own messages and other bots are ignored; attachments the
//! customer cannot receive are answered with a note to the agent, never dropped silently.
//! Which chatroom a message is for, and what is a command, [`super::commands`] decides.

use std::time::Duration;

use crate::app::App;
use crate::botframework::activity::Activity;
use crate::customer::store::{self as customer_store, CustomerEvent};
use crate::directory::model::User;
use crate::directory::store::{self as docs, Kind};

use super::agents::Actor;
use super::answer::{Relayed, note};
use super::store::{self, Chatroom};
use super::teams_html::{self, Converted};

/// The longest text a customer is sent at once (characters).
const MAX_TEXT: usize = 4000;

/// Typing indicators are passed on at most this often per session.
const TYPING_EVERY: Duration = Duration::from_secs(3);

/// The `<at>` texts of the message's mentions of the bot itself (left out of what the
/// customer sees; a mention of anyone else keeps the name).
fn bot_mentions(activity: &Activity) -> Vec<String> {
    let bot = activity.recipient.as_ref().map(|r| r.id.as_str());
    activity
        .entities
        .iter()
        .flatten()
        .filter(|e| e.get("type").and_then(|t| t.as_str()) == Some("mention"))
        .filter(|e| e.pointer("/mentioned/id").and_then(|v| v.as_str()) == bot)
        .filter_map(|e| e.get("text").and_then(|t| t.as_str()))
        .map(|t| {
            t.trim_start_matches("<at>")
                .trim_end_matches("</at>")
                .to_owned()
        })
        .collect()
}

/// The agent's message as the customer is shown it: from Teams' HTML copy of it when there
/// is one, else from its text (HTML unless Teams says it is plain).
/// Quotes are left out: [`for_room`] puts back those of the chat's own lines.
pub(super) fn converted(activity: &Activity) -> Converted {
    converted_quoting(activity, &|_| false)
}

/// The agent's message for the customer of `room`. A quote reaches the customer only when it
/// quotes this chat's own lines (the customer's messages posted here, the agent's messages
/// relayed to them); a quote of anything else the bot posted — a whisper, a monitor's mirror
/// line, a notice, another chat's line — is left out, whoever's name it carries.
pub(super) async fn for_room(
    app: &App,
    room: &Chatroom,
    activity: &Activity,
    message: Converted,
) -> anyhow::Result<Converted> {
    for_chat(
        app,
        &room.conversation_id,
        &room.session_id,
        activity,
        message,
    )
    .await
}

/// [`for_room`] by the chat's conversation and session.
pub(super) async fn for_chat(
    app: &App,
    conversation: &str,
    session: &str,
    activity: &Activity,
    message: Converted,
) -> anyhow::Result<Converted> {
    let mut ids = Vec::new();
    for source in activity
        .attachments
        .iter()
        .flatten()
        .filter(|a| a.content_type == "text/html")
        .filter_map(|a| a.content.as_ref().and_then(|c| c.as_str()))
        .chain(activity.text.as_deref())
    {
        ids.extend(teams_html::quoted_ids(source));
    }
    if ids.is_empty() {
        return Ok(message);
    }
    let mut relayable = std::collections::HashSet::new();
    for id in ids {
        if store::line_of_chat(&app.pool, conversation, session, &id).await? {
            relayable.insert(id);
        }
    }
    Ok(converted_quoting(activity, &|id| relayable.contains(id)))
}

fn converted_quoting(activity: &Activity, relayable: &dyn Fn(&str) -> bool) -> Converted {
    let mentions = bot_mentions(activity);
    let html_copy = activity
        .attachments
        .iter()
        .flatten()
        .find(|a| a.content_type == "text/html")
        .and_then(|a| a.content.as_ref())
        .and_then(|c| c.as_str());
    let entities = activity.entities.as_deref().unwrap_or_default();
    let text = activity.text.as_deref().unwrap_or_default();
    let expand =
        |source: &str, html: bool| teams_html::expand_quotes_of(source, entities, html, relayable);
    let mut message = match html_copy {
        Some(html) => teams_html::convert_quoting(&expand(html, true), &mentions, relayable),
        None if activity.text_format.as_deref() == Some("plain") => {
            teams_html::plain_message(&expand(text, false), &mentions)
        }
        None => teams_html::convert_quoting(&expand(text, true), &mentions, relayable),
    };
    let cards = cards_text(activity);
    if !cards.is_empty() {
        if let Some(html) = message.html.as_mut() {
            html.push_str("<p>");
            for (i, line) in cards.lines().enumerate() {
                if i > 0 {
                    html.push_str("<br>");
                }
                teams_html::escape_into(line, html);
            }
            html.push_str("</p>");
        }
        if !message.text.is_empty() {
            message.text.push('\n');
        }
        message.text.push_str(&cards);
    }
    message
}

/// Attachments a customer cannot receive (files, images); cards (their text is sent) and the
/// HTML copy of the text that Teams adds are not counted.
fn foreign_attachments(activity: &Activity) -> usize {
    activity
        .attachments
        .iter()
        .flatten()
        .filter(|a| {
            a.content_type != "text/html"
                && a.content_type != super::files::DOWNLOAD_INFO
                && !is_card(&a.content_type)
        })
        .count()
}

fn is_card(content_type: &str) -> bool {
    matches!(
        content_type,
        crate::botframework::activity::ADAPTIVE_CARD
            | "application/vnd.microsoft.card.hero"
            | "application/vnd.microsoft.card.thumbnail"
    )
}

/// The text of the cards an agent sent (a canned answer inserted from the message extension,
/// another app's card): an Adaptive Card's TextBlocks, rich text runs and facts, a hero or
/// thumbnail card's title, subtitle and text — markdown escapes undone.
fn cards_text(activity: &Activity) -> String {
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(o) => {
                let kind = o.get("type").and_then(|t| t.as_str());
                let text = o.get("text").and_then(|t| t.as_str());
                match (kind, text) {
                    (Some("TextBlock" | "TextRun"), Some(t)) => out.push(t.to_owned()),
                    (Some("Fact"), _) | (None, _)
                        if o.contains_key("title") && o.contains_key("value") =>
                    {
                        let field = |k: &str| o.get(k).and_then(|t| t.as_str()).unwrap_or_default();
                        out.push(format!("{}: {}", field("title"), field("value")));
                    }
                    _ => {}
                }
                for (key, child) in o {
                    if key != "text" && key != "actions" && key != "selectAction" {
                        walk(child, out);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut parts = Vec::new();
    for a in activity.attachments.iter().flatten() {
        let Some(content) = a.content.as_ref() else {
            continue;
        };
        if a.content_type == crate::botframework::activity::ADAPTIVE_CARD {
            walk(
                content.get("body").unwrap_or(&serde_json::Value::Null),
                &mut parts,
            );
        } else if is_card(&a.content_type) {
            for key in ["title", "subtitle", "text"] {
                if let Some(t) = content.get(key).and_then(|t| t.as_str()) {
                    parts.push(t.to_owned());
                }
            }
        }
    }
    parts
        .iter()
        .map(|p| crate::cards::markdown::unescape(p.trim()))
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Sends an agent's message to the customer of `room`, remembering which event it became.
pub(super) async fn to_customer(
    app: &App,
    actor: &Actor,
    room: &Chatroom,
    activity: &Activity,
    mut message: Converted,
) -> anyhow::Result<Relayed> {
    let dropped = foreign_attachments(activity);
    let (sent, refused) =
        super::files::from_agent(app, &room.tenant_id, &room.session_id, activity).await?;
    for file in &sent {
        if !message.text.is_empty() {
            message.text.push('\n');
        }
        message.text.push_str(&format!(
            "📎 {} ({}): {}",
            file.name,
            super::files::human_size(file.size),
            file.link
        ));
        if let Some(html) = message.html.as_mut() {
            html.push_str("<p>📎 <a href=\"");
            teams_html::escape_into(&file.link, html);
            html.push_str("\">");
            teams_html::escape_into(&file.name, html);
            html.push_str("</a></p>");
        }
    }
    let text = message.text.as_str();
    if !text.is_empty() {
        let name =
            match docs::get::<User>(&app.pool, &actor.tenant, Kind::User, &actor.user_id).await? {
                Some(u) => u.value.display_name,
                None => actor.name.clone().unwrap_or_else(|| "Agent".into()),
            };
        let event = CustomerEvent::Message {
            from: "agent".into(),
            text: text.chars().take(MAX_TEXT).collect(),
            name: Some(name),
            html: message.html.filter(|_| text.chars().count() <= MAX_TEXT),
        };
        let now = app.clock.now_ms();
        let mut tx = crate::store::begin_write(&app.pool).await?;
        let seq =
            customer_store::append_unless_ended_in(&mut tx, &room.session_id, &event, now).await?;
        if let (Some(seq), Some(id)) = (seq, activity.id.as_deref()) {
            store::record_relayed(&mut tx, &room.conversation_id, id, &room.session_id, seq)
                .await?;
        }
        tx.commit().await?;
        if seq.is_some() {
            super::supervise::mirror(app, &room.session_id, &event_name(&event), text).await?;
        }
        if seq.is_none() {
            // The chat ended before this arrived (its room closes a moment later).
            return Ok(note(
                "This chat has ended: nothing was sent to the customer.",
            ));
        }
        app.events.notify(&room.session_id);
    }
    if !refused.is_empty() {
        let what = if text.is_empty() {
            "Nothing was sent"
        } else {
            "Only the rest was sent"
        };
        return Ok(note(format!("{what}: {}.", refused.join("; "))));
    }
    if message.images > 0 {
        return Ok(note(
            "Teams does not pass on images or files put in a message: the customer saw them \
             described in words. Share a link instead.",
        ));
    }
    Ok(match (dropped, text.is_empty()) {
        (0, true) => note("Nothing was sent to the customer: the message was empty."),
        (0, false) => Relayed::Done(None),
        (_, true) => note(
            "The customer cannot receive files or images: nothing was sent. Describe it in words \
             or share a link.",
        ),
        (_, false) => note("The customer cannot receive files or images: only your text was sent."),
    })
}

/// Who wrote an agent's message event (for the monitors' mirror).
fn event_name(event: &CustomerEvent) -> String {
    match event {
        CustomerEvent::Message {
            name: Some(name), ..
        } => name.clone(),
        _ => "Agent".into(),
    }
}

/// Passes an agent's typing indicator on to the customer of the chat at hand (throttled).
pub async fn typing(app: &App, actor: &Actor, conversation: &str) -> anyhow::Result<()> {
    let Some(room) = super::at_hand::chat_at_hand(app, actor, conversation).await? else {
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

mod edits;
pub use edits::{deleted, edited};
