//! The chat at hand: the open chatrooms of a conversation with the bot, and which of them an
//! agent acts on. A group chat holds one chatroom. The agent's personal chat with the bot (the
//! fallback when Graph cannot make a group chat) may hold several: the agent writes to the one
//! open chat, or the one they chose with `/switch N` ([`super::commands`]); when that is unclear
//! (a chat opened since they chose, or the chosen one ended while another was open) there is
//! no chat at hand. The choice is stored, so it survives a restart.

use crate::app::App;

use super::agents::Actor;
use super::store::{self, Chatroom, Focus, PERSONAL};

/// The open chatrooms of `actor`'s tenant in `conversation`, oldest first (the order `/chats`
/// numbers them in).
pub(super) async fn open_rooms(
    app: &App,
    conversation: &str,
    actor: &Actor,
) -> anyhow::Result<Vec<Chatroom>> {
    if !app.chatroom_conversations.may_hold(conversation) {
        return Ok(Vec::new());
    }
    let mut rooms =
        store::open_chatrooms_in(&mut *app.hot_reads.conn().await, conversation).await?;
    rooms.retain(|r| r.tenant_id == actor.tenant);
    rooms.reverse();
    Ok(rooms)
}

/// Reads the conversations holding open chatrooms into [`App::chatroom_conversations`], by the
/// instance that owns the tenants once it does (until then each message is looked up).
pub async fn load(app: &App) {
    app.chatroom_conversations
        .load("chatrooms", store::open_chatroom_conversations(&app.pool))
        .await;
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

/// The chat an agent's text in a personal chat goes to. `None` while that is unclear: several
/// chats are open and a chat opened since the agent chose, or the chat they chose has ended
/// while another one was open.
pub(super) fn current<'a>(rooms: &'a [Chatroom], focus: Option<&Focus>) -> Option<&'a Chatroom> {
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

/// How a chat is named to the agent: the customer's name and the service.
pub(super) fn label(room: &Chatroom) -> String {
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
pub(super) fn list(rooms: &[Chatroom], current: Option<&Chatroom>) -> String {
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
