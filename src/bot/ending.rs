//! An agent ends a chat: from the chatroom (`end`), from the card's button, or from My Sessions.

use crate::app::App;

use super::agents::Actor;
use super::answer::Handled;
use super::store;

/// Ends a connected chat on the agent's side.
pub async fn end_chat(app: &App, actor: &Actor, session: &str) -> anyhow::Result<String> {
    Ok(match try_end_chat(app, actor, session).await? {
        Ok(()) => "The chat has ended.".into(),
        Err(why) => why.into(),
    })
}

/// Ends a connected chat on the agent's side; `Err` says why it was not ended.
pub async fn try_end_chat(app: &App, actor: &Actor, session: &str) -> Handled<()> {
    let Some(room) = store::chatroom_of(&app.pool, session).await? else {
        return Ok(Err("This chat is not known."));
    };
    if room.user_id != actor.user_id || room.tenant_id != actor.tenant {
        return Ok(Err("Only the agent of this chat can end it."));
    }
    if room.closed_at.is_some() {
        return Ok(Err("This chat has already ended."));
    }
    // Once this returns, the customer's messages are refused (`customer::ending`).
    if !crate::customer::ending::agent_ended(app, &actor.tenant, session).await? {
        return Ok(Err("This chat has already ended."));
    }
    Ok(Ok(()))
}
