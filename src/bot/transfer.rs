//! Transfer from Teams: `transfer` in a chatroom (`/transfer` in the personal chat), or the
//! Transfer button of the session card, brings the transfer card — the tenant's services and
//! the colleagues available now, and a reason the receiver sees. Submitting it asks the engine
//! to transfer the chat; it stays with the agent until someone accepts (see
//! [`crate::distribution`]'s transfers), and a transfer that comes back is told in the chat.

use serde_json::{Value, json};

use crate::app::App;
use crate::directory::model::{Service, User};
use crate::directory::store::{self as docs, Kind};
use crate::distribution::{Presence, TransferTarget};
use crate::engine::messages::Command;

use super::agents::Actor;
use super::answer::{Answer, Handled, string_field};
use super::store::{self, Chatroom};

/// The verb of the transfer card's submit, and of the session card's Transfer button.
pub const VERB: &str = "im.transfer";
pub const OPEN_VERB: &str = "im.transfer.open";

/// Where a chat may go: `(value, title)` for each service and each colleague free now.
async fn targets(app: &App, actor: &Actor) -> anyhow::Result<Vec<(String, String)>> {
    let mut targets: Vec<(String, String)> =
        docs::list::<Service>(&app.pool, &actor.tenant, Kind::Service)
            .await?
            .into_iter()
            .map(|s| {
                (
                    format!("service:{}", s.value.id),
                    format!("Service: {}", s.value.name),
                )
            })
            .collect();
    let live = app.engines.get(&actor.tenant).await?.live().await?;
    for agent in live.agents {
        let free = agent.registered
            && agent.on_duty
            && agent.presence == Presence::Available
            && !agent.ringing
            && !agent.rona
            && !agent.acw
            && (agent.sessions as u64) < u64::from(agent.capacity);
        if !free || agent.id == actor.user_id {
            continue;
        }
        let name = docs::get::<User>(&app.pool, &actor.tenant, Kind::User, &agent.id)
            .await?
            .map_or_else(|| agent.id.clone(), |u| u.value.display_name);
        targets.push((format!("user:{}", agent.id), format!("Colleague: {name}")));
    }
    Ok(targets)
}

/// The transfer card for the chat of `room`.
pub async fn card(app: &App, actor: &Actor, room: &Chatroom) -> anyhow::Result<Value> {
    let choices: Vec<Value> = targets(app, actor)
        .await?
        .into_iter()
        .map(|(value, title)| json!({"title": title, "value": value}))
        .collect();
    let data = json!({"sessionId": room.session_id});
    Ok(json!({
        "type": "AdaptiveCard", "version": "1.5",
        "body": [
            {"type": "TextBlock", "text": "Transfer this chat", "weight": "Bolder", "size": "Medium", "wrap": true},
            {"type": "TextBlock", "wrap": true, "isSubtle": true, "spacing": "None",
             "text": "The chat stays with you until the colleague accepts; if they decline or do not answer, you are told here."},
            {"type": "Input.ChoiceSet", "id": "target", "label": "To", "isRequired": true,
             "errorMessage": "Choose a service or a colleague", "choices": choices},
            {"type": "Input.Text", "id": "reason", "label": "Why (the colleague sees it)",
             "isMultiline": true, "maxLength": 500},
        ],
        "actions": [
            {"type": "Action.Execute", "title": "Transfer", "verb": VERB, "data": data,
             "fallback": {"type": "Action.Submit", "title": "Transfer",
                          "data": {"verb": VERB, "sessionId": room.session_id}}},
            end_chat(&room.session_id),
        ],
    }))
}

/// The End chat button, kept on the cards that replace the session card.
fn end_chat(session: &str) -> Value {
    json!({"type": "Action.Execute", "title": "End chat", "verb": "im.session.end",
           "data": {"sessionId": session},
           "fallback": {"type": "Action.Submit", "title": "End chat",
                        "data": {"verb": "im.session.end", "sessionId": session}}})
}

/// The open chat `data.sessionId` names, when it is `actor`'s.
async fn own_room(app: &App, actor: &Actor, data: &Value) -> Handled<Chatroom> {
    let Some(session) = string_field(data, "sessionId") else {
        return Ok(Err("This chat is not valid."));
    };
    Ok(match store::chatroom_of(&app.pool, &session).await? {
        Some(room) if room.tenant_id != actor.tenant || room.user_id != actor.user_id => {
            Err("Only the agent of this chat can transfer it.")
        }
        Some(room) if room.closed_at.is_some() => Err("This chat has ended."),
        Some(room) => Ok(room),
        None => Err("This chat is not known."),
    })
}

/// The session card's Transfer button: the transfer card, or why there is none.
pub async fn open(app: &App, actor: &Actor, data: &Value) -> Handled<Value> {
    Ok(match own_room(app, actor, data).await? {
        Ok(room) => Ok(card(app, actor, &room).await?),
        Err(why) => Err(why),
    })
}

/// The transfer card submitted: asks the engine to transfer the chat.
pub async fn request(app: &App, actor: &Actor, data: &Value) -> anyhow::Result<Answer> {
    let room = match own_room(app, actor, data).await? {
        Ok(room) => room,
        Err(why) => return Ok(Answer::Message(why.into())),
    };
    let chosen = string_field(data, "target").unwrap_or_default();
    let Some((value, title)) = targets(app, actor)
        .await?
        .into_iter()
        .find(|(value, _)| *value == chosen)
    else {
        return Ok(Answer::Message(
            "Choose a service or a colleague who is available now.".into(),
        ));
    };
    let target = match value.split_once(':') {
        Some(("service", id)) => TransferTarget::Service(id.to_owned()),
        Some((_, id)) => TransferTarget::User(id.to_owned()),
        None => return Ok(Answer::Message("This target is not valid.".into())),
    };
    let reason = string_field(data, "reason").unwrap_or_default();
    app.engines
        .get(&actor.tenant)
        .await?
        .send(Command::Transfer {
            session: room.session_id.clone(),
            user: actor.user_id.clone(),
            target,
            reason: reason.chars().take(500).collect(),
        })
        .await?;
    tracing::info!(session.id = %room.session_id, "agent asked to transfer a chat");
    Ok(Answer::Card(json!({
        "type": "AdaptiveCard", "version": "1.5",
        "body": [
            {"type": "TextBlock", "text": "Transfer requested", "weight": "Bolder", "size": "Medium", "wrap": true},
            {"type": "TextBlock", "wrap": true, "text": format!(
                "To {}. The chat stays with you until they accept.",
                crate::cards::markdown::escape(title.split_once(": ").map_or(title.as_str(), |t| t.1)))},
        ],
        "actions": [end_chat(&room.session_id)],
    })))
}
