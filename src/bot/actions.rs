//! What the buttons on our cards do (`Action.Execute` verbs, also arriving as `Action.Submit`
//! messages from older clients): the dispatch of each verb to the module that carries it out.

use serde_json::Value;

use crate::app::App;
use crate::engine::messages::{Command, Effect};

use super::agents::{self, Actor};
use super::answer::{Answer, string_field};
use super::invitation_cards::final_card;
use super::store;

/// Carries out a card verb for `actor`.
pub async fn act(app: &App, actor: &Actor, verb: &str, data: &Value) -> anyhow::Result<Answer> {
    let answer = match verb {
        "im.invitation.accept" | "im.invitation.decline" => {
            invitation(app, actor, verb, data).await?
        }
        "im.session.end" => end_session(app, actor, data).await?,
        super::transfer::VERB => super::transfer::request(app, actor, data).await?,
        verb if super::supervise::is_verb(verb) => {
            super::supervise::act(app, actor, verb, data).await?
        }
        super::transfer::OPEN_VERB => match super::transfer::open(app, actor, data).await? {
            Ok(card) => Answer::Card(card),
            Err(why) => Answer::Message(why.into()),
        },
        "im.whatsapp.template" => super::whatsapp::send_template(app, actor, data).await?,
        "im.agent.back" => {
            agents::back(app, &actor.tenant, &actor.user_id).await?;
            Answer::Card(
                agents::status_card(
                    app,
                    &actor.tenant,
                    &actor.user_id,
                    Some("Welcome back: you receive chats again"),
                )
                .await?,
            )
        }
        "im.acw.done" | "im.acw.extend" => {
            let engine = app.engines.get(&actor.tenant).await?;
            let user = actor.user_id.clone();
            let done = verb == "im.acw.done";
            engine
                .send(if done {
                    Command::AcwDone { user }
                } else {
                    Command::AcwExtend { user }
                })
                .await?;
            Answer::Message(if done {
                "After-contact work done: you receive chats again.".into()
            } else {
                "After-contact work extended.".into()
            })
        }
        _ => Answer::Message("This button is not known to Switchboard.".into()),
    };
    Ok(answer)
}

async fn invitation(app: &App, actor: &Actor, verb: &str, data: &Value) -> anyhow::Result<Answer> {
    let Some(offer) = string_field(data, "invitationId").and_then(|s| s.parse::<i64>().ok()) else {
        return Ok(Answer::Message("This invitation is not valid.".into()));
    };
    let Some(inv) = store::invitation(&app.pool, &actor.tenant, offer).await? else {
        return Ok(Answer::Message(
            "This invitation is no longer available.".into(),
        ));
    };
    if inv.user_id != actor.user_id {
        return Ok(Answer::Message(
            "This invitation is for someone else.".into(),
        ));
    }
    let engine = app.engines.get(&actor.tenant).await?;
    let user = actor.user_id.clone();
    let offer_id = u64::try_from(offer).unwrap_or(u64::MAX);
    let command = if verb == "im.invitation.accept" {
        Command::Accept {
            offer: offer_id,
            user,
        }
    } else {
        Command::Decline {
            offer: offer_id,
            user,
        }
    };
    let effects = engine.send(command).await?;
    for effect in &effects {
        if let Effect::UpdateInvitation {
            offer: o,
            user: u,
            outcome,
            accepted_by,
            ..
        } = effect
            && *o == offer_id
            && *u == actor.user_id
        {
            return Ok(Answer::Card(final_card(
                app,
                &inv,
                outcome,
                accepted_by.as_deref(),
            )?));
        }
    }
    Ok(Answer::Message(
        "This chat is no longer available: it was taken, withdrawn or it rang out.".into(),
    ))
}

async fn end_session(app: &App, actor: &Actor, data: &Value) -> anyhow::Result<Answer> {
    let Some(session) = string_field(data, "sessionId") else {
        return Ok(Answer::Message("This chat is not valid.".into()));
    };
    if let Some(room) = store::chatroom_of(&app.pool, &session).await?
        && room.mode == store::PERSONAL
        && room.closed_at.is_none()
        && room.user_id == actor.user_id
        && room.tenant_id == actor.tenant
    {
        // The personal chat may hold other chats: say which one the agent writes to now.
        return Ok(Answer::Message(
            super::commands::end_from_card(app, actor, &room).await?,
        ));
    }
    Ok(Answer::Message(
        super::ending::end_chat(app, actor, &session).await?,
    ))
}
