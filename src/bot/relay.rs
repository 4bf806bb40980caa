//! Agent → customer: what an agent writes in a chatroom reaches the customer's event stream.
//! The bot's own messages and other bots are ignored; attachments the customer cannot receive
//! are answered with a note to the agent, never dropped silently.
//!
//! A group chat holds one chatroom: everything in it but `end` is for the customer. The agent's
//! personal chat with the bot (the fallback when Graph cannot make a group chat) may hold
//! several, and it is where the bot's commands are typed. While a chatroom is open there, text
//! starting with `/` is a command (`//` sends a text that starts with `/`), anything else goes
//! to the agent's *current* chat only: the one open chat, or the one they chose with
//! `/switch N` (listed by `/chats`). When that is unclear (a chat opened since they chose, or
//! the chosen one ended while another was open) nothing is sent: the agent is asked to choose.
//! `/end` ends the current chat and moves on to another open one, saying so. The choice is
//! stored, so it survives a restart.

use std::time::Duration;

use crate::app::App;
use crate::botframework::activity::Activity;
use crate::customer::store::{self as customer_store, CustomerEvent};
use crate::directory::model::User;
use crate::directory::store::{self as docs, Kind};

use super::agents::Actor;
use super::canned;
use super::store::{self, Chatroom, Focus, PERSONAL};
use super::teams_html::{self, Converted};

/// The longest text a customer is sent at once (characters).
const MAX_TEXT: usize = 4000;

/// Typing indicators are passed on at most this often per session.
const TYPING_EVERY: Duration = Duration::from_secs(3);

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

/// The open chatrooms of `actor`'s tenant in `conversation`, oldest first (the order `/chats`
/// numbers them in).
async fn open_rooms(app: &App, conversation: &str, actor: &Actor) -> anyhow::Result<Vec<Chatroom>> {
    let mut rooms =
        store::open_chatrooms_in(&mut *app.hot_reads.conn().await, conversation).await?;
    rooms.retain(|r| r.tenant_id == actor.tenant);
    rooms.reverse();
    Ok(rooms)
}

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
async fn for_room(
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

/// Relays an agent's message, or carries out what it asks for in a personal chat.
pub async fn message(
    app: &App,
    actor: &Actor,
    activity: &Activity,
    conversation: &str,
) -> anyhow::Result<Relayed> {
    let rooms = open_rooms(app, conversation, actor).await?;
    let Some(newest) = rooms.last() else {
        return Ok(Relayed::NoChatroom);
    };
    let message = converted(activity);
    let text = message.text.clone();
    // In a group chatroom only its agent, and a supervisor of its service who barged in, write
    // to the customer: someone who lost the right stays a member of the Teams chat.
    if newest.mode != PERSONAL
        && newest.user_id != actor.user_id
        && !super::supervise::supervises_now(app, actor, newest).await?
    {
        tracing::info!(session.id = %newest.session_id, "a message from a chat member who is neither its agent nor its supervisor was not relayed");
        return Ok(note(
            "Nothing was sent: only this chat's agent and the supervisors of its service write to the customer.",
        ));
    }
    if newest.mode != PERSONAL {
        if text.eq_ignore_ascii_case("end") {
            return Ok(note(
                super::ending::end_chat(app, actor, &newest.session_id).await?,
            ));
        }
        if let Some(name) = canned_name(&text) {
            return canned::send(app, actor, newest, activity, name).await;
        }
        if text.eq_ignore_ascii_case("transfer") {
            return Ok(Relayed::Card(
                super::transfer::card(app, actor, newest).await?,
            ));
        }
        // Never the customer's: the answer to a whisper goes to its supervisor only.
        if let Said::Reply(answer) = said(&text) {
            return Ok(note(
                super::supervise::reply(app, actor, newest, answer).await?,
            ));
        }
        let message = for_room(app, newest, activity, message).await?;
        return to_customer(app, actor, newest, activity, message).await;
    }
    let focus = store::focus_in(&app.pool, conversation).await?;
    let current = current(&rooms, focus.as_ref());
    let now = app.clock.now_ms();
    match said(&text) {
        Said::Command(command) => Ok(Relayed::Command(command.to_owned())),
        Said::Chats => Ok(note(format!(
            "Open chats here:\n{}\nWrite /switch and a number to choose the chat you write to.",
            list(&rooms, current)
        ))),
        Said::Transfer => match current {
            Some(room) => Ok(Relayed::Card(
                super::transfer::card(app, actor, room).await?,
            )),
            None => Ok(note(format!(
                "Which chat? Choose with /switch and a number, then write /transfer again:\n{}",
                list(&rooms, None)
            ))),
        },
        Said::Reply(answer) => match current {
            Some(room) => Ok(note(
                super::supervise::reply(app, actor, room, answer).await?,
            )),
            None => Ok(note(format!(
                "Nothing was sent: which chat's whisper do you answer? Choose with /switch and a \
                 number, then write /reply again:\n{}",
                list(&rooms, None)
            ))),
        },
        Said::Canned(name) => match current {
            Some(room) => canned::send(app, actor, room, activity, name).await,
            None => Ok(note(format!(
                "Nothing was sent: which chat is it for? Choose with /switch and a number, then \
                 write again:\n{}",
                list(&rooms, None)
            ))),
        },
        Said::Switch(which) => {
            let Some(room) = pick(&rooms, which) else {
                let what = if which.is_empty() {
                    "Which chat?".to_owned()
                } else {
                    format!("There is no chat {which:?} here.")
                };
                return Ok(note(format!(
                    "{what} Write /switch and one of these numbers:\n{}",
                    list(&rooms, current)
                )));
            };
            let focus = Focus {
                session_id: room.session_id.clone(),
                seen: rooms.iter().map(|r| r.session_id.clone()).collect(),
            };
            store::set_focus(&app.pool, conversation, Some(&focus), now).await?;
            tracing::info!(session.id = %room.session_id, "agent chose the chat they write to");
            Ok(note(format!("Now writing to {}", label(room))))
        }
        Said::End => match current {
            Some(room) => Ok(note(end(app, actor, &rooms, room, current).await?)),
            None => Ok(note(format!(
                "Nothing was ended: which chat? Choose it with /switch and a number, then write \
                 /end (or press End chat on its card):\n{}",
                list(&rooms, None)
            ))),
        },
        Said::Text(said) => match current {
            Some(room) => {
                // `//…` was unescaped: its formatting is not the text's any more.
                let message = if said.len() == text.len() {
                    for_room(app, room, activity, message).await?
                } else {
                    Converted {
                        text: said.to_owned(),
                        html: None,
                        images: message.images,
                    }
                };
                to_customer(app, actor, room, activity, message).await
            }
            None => Ok(note(format!(
                "Nothing was sent: which chat is it for? Choose with /switch and a number, then \
                 write again:\n{}",
                list(&rooms, None)
            ))),
        },
    }
}

/// A note back to the agent.
fn note(text: impl Into<String>) -> Relayed {
    Relayed::Done(Some(text.into()))
}

/// What an agent's text in a personal chat holding chatrooms asks for.
#[derive(Debug, PartialEq, Eq)]
enum Said<'a> {
    /// Text for the customer.
    Text(&'a str),
    /// `/end` (or `end` alone, as in a group chat): end the current chat.
    End,
    /// `/chats`: list the open chats.
    Chats,
    /// `/switch N`: write to chat N (or the one chat whose customer's name starts so).
    Switch(&'a str),
    /// `/canned NAME`: send a canned answer (`/canned` alone lists them).
    Canned(&'a str),
    /// `/transfer`: the transfer card for the current chat.
    Transfer,
    /// `/reply TEXT`: answers the supervisor who last whispered in the current chat.
    Reply(&'a str),
    /// Any other command, for the bot's commands.
    Command(&'a str),
}

/// `canned NAME` (or `canned` alone) typed in a group chatroom: the NAME. A name has no
/// spaces, so a sentence that starts with the word ("Canned food ships today") is a message.
fn canned_name(text: &str) -> Option<&str> {
    let (word, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let rest = rest.trim();
    (word.eq_ignore_ascii_case("canned") && !rest.contains(char::is_whitespace)).then_some(rest)
}

/// The chat an agent acts on in `conversation`: a group chatroom's customer, or the current
/// chat of their personal chat (`None` when there is none, or it is unclear which).
pub(super) async fn chat_at_hand(
    app: &App,
    actor: &Actor,
    conversation: &str,
) -> anyhow::Result<Option<Chatroom>> {
    let rooms = open_rooms(app, conversation, actor).await?;
    match rooms.last() {
        None => Ok(None),
        Some(newest) if newest.mode != PERSONAL => Ok(Some(newest.clone())),
        Some(_) => {
            let focus = store::focus_in(&app.pool, conversation).await?;
            Ok(current(&rooms, focus.as_ref()).cloned())
        }
    }
}

fn said(text: &str) -> Said<'_> {
    let Some(command) = text.strip_prefix('/') else {
        return if text.eq_ignore_ascii_case("end") {
            Said::End
        } else {
            Said::Text(text)
        };
    };
    if command.starts_with('/') {
        return Said::Text(command);
    }
    let (word, rest) = command
        .split_once(char::is_whitespace)
        .unwrap_or((command, ""));
    let rest = rest.trim();
    match word.to_ascii_lowercase().as_str() {
        "end" if rest.is_empty() => Said::End,
        "chats" if rest.is_empty() => Said::Chats,
        "switch" => Said::Switch(rest),
        "canned" => Said::Canned(rest),
        "transfer" if rest.is_empty() => Said::Transfer,
        "reply" => Said::Reply(rest),
        _ => Said::Command(text),
    }
}

/// The chat an agent's text in a personal chat goes to. `None` while that is unclear: several
/// chats are open and a chat opened since the agent chose, or the chat they chose has ended
/// while another one was open.
fn current<'a>(rooms: &'a [Chatroom], focus: Option<&Focus>) -> Option<&'a Chatroom> {
    let seen = |r: &Chatroom| focus.is_some_and(|f| f.seen.contains(&r.session_id));
    if let Some(f) = focus
        && let Some(chosen) = rooms.iter().find(|r| r.session_id == f.session_id)
    {
        return rooms.iter().all(seen).then_some(chosen);
    }
    match rooms {
        // One chat, opened after the agent's last choice (or with no choice ever made).
        [only] if !seen(only) => Some(only),
        _ => None,
    }
}

/// The chat `/switch which` means: its number in the list, or the one chat whose customer's
/// name starts with `which`.
fn pick<'a>(rooms: &'a [Chatroom], which: &str) -> Option<&'a Chatroom> {
    if let Ok(n) = which.parse::<usize>() {
        return n.checked_sub(1).and_then(|i| rooms.get(i));
    }
    let which = which.to_lowercase();
    if which.is_empty() {
        return None;
    }
    let mut named = rooms.iter().filter(|r| {
        r.brief
            .customer
            .display_name
            .to_lowercase()
            .starts_with(&which)
    });
    match (named.next(), named.next()) {
        (Some(room), None) => Some(room),
        _ => None,
    }
}

/// How a chat is named to the agent: the customer's name and the service.
fn label(room: &Chatroom) -> String {
    let name: String = room
        .brief
        .customer
        .display_name
        .trim()
        .chars()
        .take(60)
        .collect();
    let name = if name.is_empty() {
        "Customer".into()
    } else {
        name
    };
    format!(
        "{name} ({})",
        super::invitation_cards::service(&room.brief).name
    )
}

/// The numbered list of open chats, the current one marked.
fn list(rooms: &[Chatroom], current: Option<&Chatroom>) -> String {
    rooms
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mark = if current.is_some_and(|c| c.session_id == r.session_id) {
                " – you write to this chat"
            } else {
                ""
            };
            format!("{}. {}{mark}", i + 1, label(r))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Ends a chat of a personal chat. When it was the current one (or none was), the agent then
/// writes to the oldest other open chat, and is told so.
async fn end(
    app: &App,
    actor: &Actor,
    rooms: &[Chatroom],
    room: &Chatroom,
    current: Option<&Chatroom>,
) -> anyhow::Result<String> {
    if let Err(why) = super::ending::try_end_chat(app, actor, &room.session_id).await? {
        return Ok(why.into());
    }
    let ended = format!("The chat with {} has ended.", label(room));
    if let Some(current) = current.filter(|c| c.session_id != room.session_id) {
        return Ok(format!("{ended} You still write to {}.", label(current)));
    }
    let others: Vec<&Chatroom> = rooms
        .iter()
        .filter(|r| r.session_id != room.session_id)
        .collect();
    let now = app.clock.now_ms();
    let conversation = &room.conversation_id;
    let Some(next) = others.first() else {
        store::set_focus(&app.pool, conversation, None, now).await?;
        return Ok(ended);
    };
    // The ended chat closes a moment later: it counts as seen, so it makes nothing unclear.
    let focus = Focus {
        session_id: next.session_id.clone(),
        seen: rooms.iter().map(|r| r.session_id.clone()).collect(),
    };
    store::set_focus(&app.pool, conversation, Some(&focus), now).await?;
    let mut text = format!("{ended} Now writing to {}.", label(next));
    if others.len() > 1 {
        text.push_str(" Other chats are open here: /chats lists them, /switch chooses one.");
    }
    Ok(text)
}

/// Ends a chat of a personal chat from its card's End chat button; the answer says, as for
/// `/end`, which chat the agent writes to now.
pub async fn end_from_card(app: &App, actor: &Actor, room: &Chatroom) -> anyhow::Result<String> {
    let rooms = open_rooms(app, &room.conversation_id, actor).await?;
    let focus = store::focus_in(&app.pool, &room.conversation_id).await?;
    end(app, actor, &rooms, room, current(&rooms, focus.as_ref())).await
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

/// Passes an agent's typing indicator on to the customer of the current chat (throttled).
pub async fn typing(app: &App, actor: &Actor, conversation: &str) -> anyhow::Result<()> {
    let rooms = open_rooms(app, conversation, actor).await?;
    let room = match rooms.last() {
        None => return Ok(()),
        Some(newest) if newest.mode != PERSONAL => newest,
        Some(_) => {
            let focus = store::focus_in(&app.pool, conversation).await?;
            match current(&rooms, focus.as_ref()) {
                Some(room) => room,
                None => return Ok(()),
            }
        }
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

#[cfg(test)]
mod tests;
