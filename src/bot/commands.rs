//! What an agent writes in a conversation holding an open chatroom, carried out. A group chat
//! holds one chatroom: everything in it but `end`, `canned NAME`, `transfer` and `/reply` is for
//! the customer. In the agent's personal chat with the bot (the fallback when Graph cannot make
//! a group chat), which may hold several, text starting with `/` is a command (`//` sends a
//! text that starts with `/`), anything else goes to the chat at hand ([`super::at_hand`]):
//! when that is unclear nothing is sent and the agent is asked to choose with `/switch N`
//! (listed by `/chats`). `/end` ends the current chat and moves on to another open one, saying
//! so. What is for the customer goes through [`super::relay`].

use crate::app::App;
use crate::botframework::activity::Activity;

use super::agents::Actor;
use super::answer::{Relayed, note};
use super::at_hand::{current, label, list, open_rooms};
use super::canned;
use super::relay::{converted, for_room, to_customer};
use super::store::{self, Chatroom, Focus, PERSONAL};
use super::teams_html::Converted;

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

#[cfg(test)]
mod tests;
