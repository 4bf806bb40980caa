//! What the buttons on our cards do (`Action.Execute` verbs, also arriving as `Action.Submit`
//! messages from older clients), and the cards that show an invitation's final state.

use serde_json::Value;

use crate::app::App;
use crate::cards::data::{
    self, Id, InvitationAccepted, InvitationDeclined, InvitationMissed, InvitationTaken,
    InvitationWithdrawn, UserText, WithdrawReason,
};
use crate::distribution::{CancelReason, OfferOutcome};
use crate::engine::messages::{Brief, Command, Effect};

use super::agents::{self, Actor};
use super::store::{self, Invitation};

/// What the user who pressed a button is shown.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Replaces the card.
    Card(Value),
    /// A short note.
    Message(String),
}

pub fn customer(brief: &Brief) -> data::Customer {
    data::Customer {
        display_name: UserText::new(brief.customer.display_name.clone()),
        email: Some(UserText::new(brief.customer.email.clone()))
            .filter(|_| !brief.customer.email.is_empty()),
    }
}

pub fn service(brief: &Brief) -> data::Service {
    data::Service {
        name: if brief.service.is_empty() {
            "Direct chat".into()
        } else {
            brief.service.clone()
        },
    }
}

/// The card of an invitation in its final state.
pub fn final_card(
    app: &App,
    invitation: &Invitation,
    outcome: &OfferOutcome,
    accepted_by: Option<&str>,
) -> anyhow::Result<Value> {
    let b = &invitation.brief;
    let id = Id {
        id: invitation.offer_id.to_string(),
    };
    let card = match outcome {
        OfferOutcome::Accepted => app.cards.render_data(&InvitationAccepted {
            invitation: id,
            service: service(b),
            customer: customer(b),
            chat_url: None,
        })?,
        OfferOutcome::Declined => app.cards.render_data(&InvitationDeclined {
            invitation: id,
            service: service(b),
            customer: customer(b),
        })?,
        OfferOutcome::Rona => app.cards.render_data(&InvitationMissed {
            invitation: id,
            service: service(b),
            customer: customer(b),
            ring_seconds: u64::try_from(invitation.ring_seconds).unwrap_or(0),
        })?,
        OfferOutcome::Cancelled(CancelReason::Taken) => {
            app.cards.render_data(&InvitationTaken {
                invitation: id,
                service: service(b),
                customer: customer(b),
                accepted_by: UserText::new(accepted_by.unwrap_or("another agent")),
            })?
        }
        OfferOutcome::Cancelled(reason) => app.cards.render_data(&InvitationWithdrawn {
            invitation: id,
            service: service(b),
            customer: customer(b),
            reason: if *reason == CancelReason::CustomerLeft {
                WithdrawReason::CustomerLeft
            } else {
                WithdrawReason::Cancelled
            },
        })?,
    };
    Ok(card)
}

/// The stored name of an offer outcome.
pub fn outcome_name(outcome: &OfferOutcome) -> &'static str {
    match outcome {
        OfferOutcome::Accepted => "accepted",
        OfferOutcome::Declined => "declined",
        OfferOutcome::Rona => "missed",
        OfferOutcome::Cancelled(CancelReason::Taken) => "taken",
        OfferOutcome::Cancelled(_) => "withdrawn",
    }
}

pub(super) fn string_field(data: &Value, key: &str) -> Option<String> {
    match data.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

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
            super::relay::end_from_card(app, actor, &room).await?,
        ));
    }
    Ok(Answer::Message(end_chat(app, actor, &session).await?))
}

/// Ends a connected chat on the agent's side.
pub async fn end_chat(app: &App, actor: &Actor, session: &str) -> anyhow::Result<String> {
    Ok(match try_end_chat(app, actor, session).await? {
        Ok(()) => "The chat has ended.".into(),
        Err(why) => why.into(),
    })
}

/// Ends a connected chat on the agent's side; `Err` says why it was not ended.
pub async fn try_end_chat(
    app: &App,
    actor: &Actor,
    session: &str,
) -> anyhow::Result<Result<(), &'static str>> {
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
