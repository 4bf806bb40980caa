//! An agent's message, edit or deletion in a conversation with the bot, carried out: a card
//! button of a client without Universal Actions (`Action.Submit`), text for a customer, or a
//! command. Called while answering the activity, or after it (`in_order`) when a file is to be
//! fetched or earlier messages of the conversation are still queued.

use serde_json::Value;

use crate::app::App;
use crate::botframework::activity::{Activity, InboundActivity};
use crate::botframework::connector::ConnectorCall;

use super::actions;
use super::agents::{self, Actor};
use super::answer::{Answer, Relayed};
use super::{barge_in, card_activity, commands, is_personal, relay, supervise};

/// Carries out a `message`, `messageUpdate` or `messageDelete` activity of `actor`.
pub(super) async fn agent_message(
    app: &App,
    actor: &Actor,
    inbound: &InboundActivity,
) -> anyhow::Result<()> {
    let activity = &inbound.activity;
    let conversation = inbound.conversation_id.as_str();
    let reply = |activity: Activity| ConnectorCall::Send {
        conversation_id: conversation.to_owned(),
        activity,
    };
    if activity.kind != "message" {
        let done = if activity.kind == "messageUpdate" {
            relay::edited(app, actor, activity, conversation).await?
        } else {
            relay::deleted(app, actor, activity, conversation).await?
        };
        if let Relayed::Done(Some(note)) = done {
            app.outbox
                .send(&inbound.service_url, &reply(Activity::message(note)))
                .await?;
        }
        return Ok(());
    }
    // Action.Submit from a client without Universal Actions: `value` carries the verb.
    if let Some(verb) = activity
        .value
        .as_ref()
        .and_then(|v| v.get("verb"))
        .and_then(Value::as_str)
    {
        let data = activity.value.clone().unwrap_or(Value::Null);
        let answer = actions::act(app, actor, verb, &data).await?;
        let call = match (answer, &activity.reply_to_id) {
            (Answer::Card(card), Some(card_id)) => ConnectorCall::Update {
                conversation_id: conversation.to_owned(),
                activity_id: card_id.clone(),
                activity: card_activity(card),
            },
            (Answer::Card(card), None) => reply(card_activity(card)),
            (Answer::Message(text), _) => reply(Activity::message(text)),
        };
        app.outbox.send(&inbound.service_url, &call).await?;
        return Ok(());
    }
    let answer = match commands::message(app, actor, activity, conversation).await? {
        Relayed::Done(note) => note.map(Activity::message),
        Relayed::Card(card) => Some(card_activity(card)),
        Relayed::Command(text) => Some(agents::command(app, actor, &text, true).await?),
        Relayed::NoChatroom if is_personal(activity) => {
            let text = activity.text.as_deref().unwrap_or_default().trim();
            match barge_in::barged(app, actor, conversation, text).await? {
                Some(Relayed::Done(note)) => note.map(Activity::message),
                Some(_) => None,
                None => {
                    let word = text.trim_start_matches('/');
                    let chats = if word.eq_ignore_ascii_case("chats") {
                        supervise::chats(app, actor).await?
                    } else {
                        None
                    };
                    match chats {
                        Some(card) => Some(card_activity(card)),
                        None => Some(agents::command(app, actor, text, false).await?),
                    }
                }
            }
        }
        Relayed::NoChatroom => None,
    };
    if let Some(answer) = answer {
        app.outbox
            .send(&inbound.service_url, &reply(answer))
            .await?;
    }
    Ok(())
}

/// Carries out a message queued by `in_order` (its sender is checked again: the queue holds
/// only agents' activities).
pub(super) async fn queued(app: &App, inbound: &InboundActivity) -> anyhow::Result<()> {
    match super::actor_of(&inbound.activity) {
        Some(actor) => agent_message(app, &actor, inbound).await,
        None => Ok(()),
    }
}
