//! Teams activity handling: registration (install / uninstall), the personal-chat commands,
//! card buttons (`adaptiveCard/action` invokes and `Action.Submit` messages), and the chatroom
//! relay from agents to customers. The conversation reference of every verified activity is
//! stored first, so proactive messages work after a restart.
//!
//! A message in a conversation holding an open chatroom goes to [`commands`] first: in a group
//! chat it is for the customer; in the agent's personal chat (the fallback when Graph cannot
//! make a group chat) text starting with `/` is a command and the rest goes to the chat the
//! agent chose ([`at_hand`]). What is for the customer goes through [`relay`]. Without an open
//! chatroom, a personal-chat message is a command.
//!
//! Teams re-sends an activity it got no answer to within 15 s:
//! [`crate::botframework::resends`] makes a re-send do nothing. An agent's message with a file
//! is answered at once and carried out after the answer, in order with what follows it in the
//! conversation ([`in_order`]); `agent_says` carries out an agent's message either way.

pub mod actions;
mod agent_says;
pub mod agents;
pub mod answer;
pub(crate) mod at_hand;
pub mod barge_in;
pub mod canned;
mod commands;
pub mod ending;
pub mod files;
pub mod in_order;
pub mod invitation_cards;
pub mod reads;
pub mod relay;
pub mod store;
pub mod supervise;
pub mod tab;
pub mod teams_html;
pub mod teams_worker;
pub mod transfer;
pub mod undelivered;
mod whatsapp;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::botframework::activity::Activity;
use crate::botframework::auth::VerifiedActivity;
use crate::http::problem::Problem;
use crate::store::conversations::ConversationReference;

pub use crate::botframework::activity::{ADAPTIVE_CARD, card_activity};

use agent_says::agent_message;
use agent_says::queued;
use agents::Actor;
use answer::Answer;

/// `POST /api/messages`: only reachable with a [`VerifiedActivity`].
pub async fn messages(State(state): State<AppState>, verified: VerifiedActivity) -> Response {
    let inbound = verified.inbound();
    let activity = &inbound.activity;
    let reference = reference_of(&verified);
    if let Err(e) = state
        .references
        .record(&reference, state.clock.now_ms())
        .await
    {
        // Answering 500 makes the Bot Framework retry the delivery: nothing is lost.
        tracing::error!(error = %e, "storing a conversation reference failed");
        return Problem::internal().into_response();
    }
    tracing::debug!(
        activity.kind = %activity.kind,
        activity.channel = activity.channel_id.as_deref().unwrap_or(""),
        tenant.id = activity.tenant_id().as_deref().unwrap_or(""),
        "activity received"
    );
    let is_invoke = activity.kind == "invoke";
    // A re-send (Teams got no answer within 15 s) is acknowledged and does nothing else.
    let key = crate::botframework::resends::key_of(inbound);
    let mut handling = None;
    if let Some(key) = &key {
        match state
            .resends
            .begin(&state.pool, key, state.clock.now_ms())
            .await
        {
            Ok(Some(h)) => handling = Some(h),
            Ok(None) => {
                tracing::info!(activity.kind = %activity.kind, "re-sent activity ignored");
                return StatusCode::OK.into_response();
            }
            Err(e) => {
                tracing::error!(error = %e, "looking up a re-sent activity failed");
                return Problem::internal().into_response();
            }
        }
    }
    match dispatch(&state, &verified).await {
        Ok(response) => {
            if let Some(handling) = handling
                && let Err(e) = state
                    .resends
                    .handled(&state.pool, handling, state.clock.now_ms())
                    .await
            {
                // Handled all the same: only a re-send of it would be handled again.
                tracing::error!(error = %e, "recording a handled activity failed");
            }
            response
        }
        Err(e) => {
            tracing::error!(activity.kind = %activity.kind, error = format!("{e:#}"), "handling an activity failed");
            if is_invoke {
                // The card shows the error; the client does not retry an invoke.
                invoke_response(
                    500,
                    "application/vnd.microsoft.error",
                    json!({"code": "InternalError", "message": "Switchboard could not do that; try again."}),
                )
            } else {
                Problem::internal().into_response()
            }
        }
    }
}

fn invoke_response(status: u16, kind: &str, value: Value) -> Response {
    (
        StatusCode::OK,
        Json(json!({"statusCode": status, "type": kind, "value": value})),
    )
        .into_response()
}

fn answer_response(answer: Answer) -> Response {
    match answer {
        Answer::Card(card) => invoke_response(200, ADAPTIVE_CARD, card),
        Answer::Message(text) => invoke_response(
            200,
            "application/vnd.microsoft.activity.message",
            json!(text),
        ),
    }
}

/// The human an activity comes from (bots and activities without a tenant have none).
fn actor_of(activity: &Activity) -> Option<Actor> {
    let from = activity.from.as_ref()?;
    if from.role.as_deref() == Some("bot") || from.id.starts_with("28:") {
        return None;
    }
    if activity.recipient.as_ref().is_some_and(|r| r.id == from.id) {
        return None;
    }
    Some(Actor {
        tenant: activity.tenant_id()?,
        user_id: from
            .aad_object_id
            .clone()
            .unwrap_or_else(|| from.id.clone())
            .to_ascii_lowercase(),
        channel_user_id: from.id.clone(),
        name: from.name.clone(),
    })
}

fn is_personal(activity: &Activity) -> bool {
    activity.conversation.as_ref().is_some_and(|c| {
        c.conversation_type.as_deref().unwrap_or("personal") == "personal"
            && c.is_group != Some(true)
    })
}

async fn dispatch(app: &AppState, verified: &VerifiedActivity) -> anyhow::Result<Response> {
    let inbound = verified.inbound();
    let activity = &inbound.activity;
    let conversation = inbound.conversation_id.as_str();
    let Some(actor) = actor_of(activity) else {
        // Our own echoes, other bots, activities without a tenant: acknowledged, not acted on.
        return Ok(StatusCode::OK.into_response());
    };
    match activity.kind.as_str() {
        "installationUpdate" if is_personal(activity) => {
            match activity.action.as_deref() {
                Some("add" | "add-upgrade") => {
                    agents::register(app, &actor, inbound).await?;
                }
                Some("remove") => {
                    crate::registration::unregister(app, &actor.tenant, &actor.user_id).await?
                }
                _ => {}
            }
            Ok(StatusCode::OK.into_response())
        }
        "conversationUpdate" if is_personal(activity) => {
            let bot = activity.recipient.as_ref().map(|r| r.id.as_str());
            let has_bot = |members: &Option<Vec<_>>| {
                members
                    .iter()
                    .flatten()
                    .any(|m: &crate::botframework::activity::ChannelAccount| {
                        Some(m.id.as_str()) == bot
                    })
            };
            if has_bot(&activity.members_added) {
                agents::register(app, &actor, inbound).await?;
            } else if has_bot(&activity.members_removed) {
                crate::registration::unregister(app, &actor.tenant, &actor.user_id).await?;
            }
            Ok(StatusCode::OK.into_response())
        }
        "invoke" if activity.name.as_deref() == Some("adaptiveCard/action") => {
            let action = activity.value.as_ref().and_then(|v| v.get("action"));
            let Some(action) = action else {
                return Ok(invoke_response(
                    400,
                    "application/vnd.microsoft.error",
                    json!({"code": "BadRequest", "message": "Missing value property"}),
                ));
            };
            if action.get("type").and_then(Value::as_str) != Some("Action.Execute") {
                return Ok(invoke_response(
                    400,
                    "application/vnd.microsoft.error",
                    json!({"code": "NotSupported", "message": "only Action.Execute is supported"}),
                ));
            }
            let verb = action
                .get("verb")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let data = action.get("data").cloned().unwrap_or(Value::Null);
            Ok(answer_response(
                actions::act(app, &actor, verb, &data).await?,
            ))
        }
        "invoke" if activity.name.as_deref() == Some("composeExtension/query") => {
            let body = canned::query(app, &actor, activity).await?;
            Ok((StatusCode::OK, Json(body)).into_response())
        }
        "invoke" => Ok(Problem::new(
            StatusCode::NOT_IMPLEMENTED,
            "invoke_not_handled",
            format!(
                "invoke {:?} is not handled",
                activity.name.as_deref().unwrap_or_default()
            ),
        )
        .into_response()),
        "message" | "messageUpdate" | "messageDelete" => {
            // A file to fetch is fetched after the answer; what follows it waits its turn.
            if in_order::wanted(app, inbound) {
                in_order::enqueue(app, inbound).await?;
            } else {
                agent_message(app, &actor, inbound).await?;
            }
            Ok(StatusCode::OK.into_response())
        }
        "typing" => {
            relay::typing(app, &actor, conversation).await?;
            Ok(StatusCode::OK.into_response())
        }
        "event" if activity.name.as_deref() == Some(reads::READ_RECEIPT) => {
            let last = activity
                .value
                .as_ref()
                .and_then(|v| v.get("lastReadMessageId"))
                .and_then(Value::as_str);
            if let Some(last) = last {
                // Answered at once; applied when the post it names has its outcome recorded.
                tokio::spawn(reads::receipt_with_retries(
                    app.clone(),
                    conversation.to_owned(),
                    last.to_owned(),
                ));
            }
            Ok(StatusCode::OK.into_response())
        }
        // Every other type, known or not, is acknowledged (Teams adds new ones over time).
        _ => Ok(StatusCode::OK.into_response()),
    }
}

fn reference_of(verified: &VerifiedActivity) -> ConversationReference {
    let inbound = verified.inbound();
    let activity = &inbound.activity;
    let from_user = activity
        .from
        .as_ref()
        .filter(|f| f.role.as_deref() != Some("bot"));
    ConversationReference {
        channel_id: activity.channel_id.clone().unwrap_or_default(),
        conversation_id: inbound.conversation_id.clone(),
        service_url: inbound.service_url.as_str().to_owned(),
        tenant_id: activity.tenant_id(),
        conversation_type: activity
            .conversation
            .as_ref()
            .and_then(|c| c.conversation_type.clone()),
        bot_id: activity
            .recipient
            .as_ref()
            .map(|r| r.id.clone())
            .unwrap_or_default(),
        user_id: from_user.map(|f| f.id.clone()),
        user_aad_object_id: from_user.and_then(|f| f.aad_object_id.clone()),
    }
}
