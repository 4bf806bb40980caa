//! The Teams side of engine effects: invitation cards sent and updated in place, chatrooms
//! opened (a Graph group chat, or the agent's personal chat with the bot) and closed, customer
//! messages posted into the chatroom, and the after-contact-work card. Each effect is turned
//! into outbox calls in one transaction with marking it done, so none is lost or doubled, and
//! effects are handled in the order the engine produced them (one worker), which keeps a
//! chatroom's card, the customer's first message and everything after it in order.

use std::collections::HashMap;
use std::time::Duration;

use sqlx::Row;
use tokio_util::sync::CancellationToken;

use crate::botframework::activity::Activity;
use crate::botframework::connector::ConnectorCall;
use crate::botframework::service_url::ServiceUrl;
use crate::cards::data::{
    Acw, AfterContactWork, Id, Invitation as InvitationCard, Parameter, SessionEnded,
    SessionStarted, UserText,
};
use crate::cards::markdown;
use crate::config::ChatroomMode;
use crate::directory::model::Service;
use crate::directory::store::{self as docs, Kind};
use crate::engine::core::{AgentStateChange, Brief, Effect, EndedBy};
use crate::graph::GraphError;
use crate::interact::store::CustomerEvent;
use crate::startup::{App, AppState};
use crate::store::Transaction;

use super::actions::{customer, final_card, outcome_name, service};
use super::card_activity;
use super::store::{self, Chatroom, Invitation};

/// Effects this worker consumes.
const KINDS: &[&str] = &[
    "sendInvitation",
    "updateInvitation",
    "invitationUnavailable",
    "openChatroom",
    "relayToAgent",
    "closeChatroom",
    "agentState",
];

/// Attempts at one effect before it is set aside as failed.
const MAX_ATTEMPTS: u32 = 5;

/// Runs until `shutdown`.
pub async fn run(app: AppState, shutdown: CancellationToken) {
    let kinds = KINDS
        .iter()
        .map(|k| format!("'{k}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let select = format!(
        "SELECT id, tenant_id, effect FROM engine_effects WHERE state = 'pending' AND kind IN ({kinds})
         ORDER BY id LIMIT 64"
    );
    let mut attempts: HashMap<i64, u32> = HashMap::new();
    let mut blocked = app.outbox.take_blocked();
    loop {
        while let Some(conversation) = blocked.as_mut().and_then(|rx| rx.try_recv().ok()) {
            if let Err(e) = super::agents::unregister_conversation(&app, &conversation).await {
                tracing::error!(
                    error = format!("{e:#}"),
                    "unregistering a blocked user failed"
                );
            }
        }
        let mut progressed = false;
        match sqlx::query(&select).fetch_all(&app.pool).await {
            Ok(rows) => {
                for row in rows {
                    let (Ok(id), Ok(tenant), Ok(text)) = (
                        row.try_get::<i64, _>("id"),
                        row.try_get::<String, _>("tenant_id"),
                        row.try_get::<String, _>("effect"),
                    ) else {
                        continue;
                    };
                    match handle(&app, id, &tenant, &text).await {
                        Ok(()) => {
                            attempts.remove(&id);
                            progressed = true;
                        }
                        Err(e) => {
                            let n = attempts.entry(id).or_insert(0);
                            *n += 1;
                            tracing::warn!(
                                effect.id = id,
                                attempt = *n,
                                error = format!("{e:#}"),
                                "a Teams effect failed"
                            );
                            if *n >= MAX_ATTEMPTS {
                                attempts.remove(&id);
                                let _ = set_state(&app, id, "failed").await;
                                tracing::error!(
                                    effect.id = id,
                                    "a Teams effect was set aside after repeated failures"
                                );
                            }
                            // Keep the order: nothing after a failed effect runs before it.
                            break;
                        }
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "reading engine effects failed"),
        }
        if progressed {
            continue;
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = app.events.bot.notified() => {}
            () = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
}

async fn set_state(app: &App, id: i64, state: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE engine_effects SET state = $2 WHERE id = $1")
        .bind(id)
        .bind(state)
        .execute(&app.pool)
        .await?;
    Ok(())
}

async fn done(tx: &mut Transaction<'_>, id: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE engine_effects SET state = 'done' WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Marks an effect done that needs nothing sent.
async fn skip(app: &App, id: i64) -> anyhow::Result<()> {
    set_state(app, id, "done").await?;
    Ok(())
}

fn send(conversation: &str, activity: Activity) -> ConnectorCall {
    ConnectorCall::Send {
        conversation_id: conversation.to_owned(),
        activity,
    }
}

/// Queues one activity and marks the effect done, in one transaction.
async fn post_one(
    app: &App,
    id: i64,
    service_url: &str,
    conversation: &str,
    activity: Activity,
) -> anyhow::Result<()> {
    let url = ServiceUrl::parse(service_url)?;
    let mut tx = app.pool.begin().await?;
    app.outbox
        .enqueue(&mut tx, &url, &send(conversation, activity))
        .await?;
    done(&mut tx, id).await?;
    tx.commit().await?;
    app.outbox.wake();
    Ok(())
}

/// The workflow parameters of a brief, as card facts.
fn parameters(brief: &Brief) -> Vec<Parameter> {
    brief
        .parameters
        .iter()
        .map(|(k, v)| Parameter {
            name: k.clone(),
            value: UserText::new(v.clone()),
        })
        .collect()
}

/// A markdown message attributed to `who`.
pub fn attributed(who: &str, text: &str) -> Activity {
    let mut activity = Activity::message(format!(
        "**{}**: {}",
        markdown::escape(who),
        markdown::escape(text)
    ));
    activity.text_format = Some("markdown".into());
    activity
}

async fn handle(app: &App, id: i64, tenant: &str, text: &str) -> anyhow::Result<()> {
    let Ok(effect) = serde_json::from_str::<Effect>(text) else {
        tracing::error!(effect.id = id, "an engine effect could not be read");
        return skip(app, id).await;
    };
    let now = app.clock.now_ms();
    match effect {
        Effect::SendInvitation {
            offer,
            session,
            user,
            brief,
            ring_seconds,
        } => {
            let Some(reg) = store::registered(&app.pool, tenant, &user).await? else {
                tracing::warn!(effect.id = id, user.id = %user, "invitation for a user who is not registered");
                return skip(app, id).await;
            };
            let card = app.cards.render_data(&InvitationCard {
                invitation: Id {
                    id: offer.to_string(),
                },
                service: service(&brief),
                customer: customer(&brief),
                wait_seconds: u64::try_from((now - brief.since) / 1000).unwrap_or(0),
                parameters: parameters(&brief),
                first_message: brief.first_message.clone().map(UserText::new),
            })?;
            let url = ServiceUrl::parse(&reg.service_url)?;
            let mut tx = app.pool.begin().await?;
            let outbox_id = app
                .outbox
                .enqueue(
                    &mut tx,
                    &url,
                    &send(&reg.conversation_id, card_activity(card)),
                )
                .await?;
            store::put_invitation(
                &mut tx,
                &Invitation {
                    tenant_id: tenant.to_owned(),
                    offer_id: i64::try_from(offer)?,
                    user_id: user,
                    session_id: session,
                    conversation_id: reg.conversation_id,
                    service_url: reg.service_url,
                    outbox_id,
                    brief,
                    ring_seconds: i64::try_from(ring_seconds)?,
                    outcome: None,
                },
                now,
            )
            .await?;
            done(&mut tx, id).await?;
            tx.commit().await?;
            app.outbox.wake();
        }
        Effect::UpdateInvitation {
            offer,
            outcome,
            accepted_by,
            ..
        } => {
            let Some(inv) = store::invitation(&app.pool, tenant, i64::try_from(offer)?).await?
            else {
                return skip(app, id).await;
            };
            let card = final_card(app, &inv, &outcome, accepted_by.as_deref())?;
            let url = ServiceUrl::parse(&inv.service_url)?;
            let mut tx = app.pool.begin().await?;
            app.outbox
                .enqueue_update_of(
                    &mut tx,
                    &url,
                    inv.outbox_id,
                    &inv.conversation_id,
                    card_activity(card),
                )
                .await?;
            store::set_invitation_outcome(&mut tx, tenant, inv.offer_id, outcome_name(&outcome))
                .await?;
            done(&mut tx, id).await?;
            tx.commit().await?;
            app.outbox.wake();
        }
        Effect::OpenChatroom {
            session,
            user,
            brief,
        } => open_chatroom(app, id, tenant, &session, &user, brief).await?,
        Effect::RelayToAgent { session, text, .. } => {
            let Some(room) = store::chatroom_of(&app.pool, &session).await? else {
                tracing::warn!(effect.id = id, session.id = %session, "customer message for a session without a chatroom");
                return skip(app, id).await;
            };
            let activity = attributed(&room.brief.customer.display_name, &text);
            post_one(app, id, &room.service_url, &room.conversation_id, activity).await?;
        }
        Effect::CloseChatroom {
            session, ended_by, ..
        } => {
            let Some(room) = store::chatroom_of(&app.pool, &session).await? else {
                return skip(app, id).await;
            };
            let card = app.cards.render_data(&SessionEnded {
                session: Id {
                    id: session.clone(),
                },
                service: service(&room.brief),
                customer: customer(&room.brief),
                duration_seconds: u64::try_from((now - room.opened_at) / 1000).unwrap_or(0),
                ended_by: match ended_by {
                    EndedBy::Customer => crate::cards::data::EndedBy::Customer,
                    EndedBy::Agent => crate::cards::data::EndedBy::Agent,
                    EndedBy::System => crate::cards::data::EndedBy::System,
                },
            })?;
            let url = ServiceUrl::parse(&room.service_url)?;
            let mut tx = app.pool.begin().await?;
            app.outbox
                .enqueue(
                    &mut tx,
                    &url,
                    &send(&room.conversation_id, card_activity(card)),
                )
                .await?;
            store::close_chatroom(&mut tx, &session, now).await?;
            done(&mut tx, id).await?;
            tx.commit().await?;
            app.outbox.wake();
        }
        Effect::AgentState {
            user,
            state: AgentStateChange::Acw { until },
        } => acw_card(app, id, tenant, &user, until).await?,
        _ => skip(app, id).await?,
    }
    Ok(())
}

/// Opens the chatroom of a connected session and posts the start card and what the customer
/// wrote before the agent joined.
async fn open_chatroom(
    app: &App,
    id: i64,
    tenant: &str,
    session: &str,
    user: &str,
    brief: Brief,
) -> anyhow::Result<()> {
    let now = app.clock.now_ms();
    let Some(reg) = store::registered(&app.pool, tenant, user).await? else {
        tracing::warn!(effect.id = id, user.id = %user, "chatroom for a user who is not registered");
        return skip(app, id).await;
    };
    let (conversation, mode) = match chatroom_conversation(app, tenant, user, &brief).await {
        Some(chat) => (chat, store::GROUP),
        None => (reg.conversation_id.clone(), store::PERSONAL),
    };
    let card = app.cards.render_data(&SessionStarted {
        session: Id {
            id: session.to_owned(),
        },
        service: service(&brief),
        customer: customer(&brief),
        parameters: parameters(&brief),
    })?;
    let earlier = earlier_messages(app, session, &brief).await?;
    let url = ServiceUrl::parse(&reg.service_url)?;
    let mut tx = app.pool.begin().await?;
    store::put_chatroom(
        &mut tx,
        &Chatroom {
            session_id: session.to_owned(),
            tenant_id: tenant.to_owned(),
            user_id: user.to_owned(),
            conversation_id: conversation.clone(),
            service_url: reg.service_url.clone(),
            mode: mode.into(),
            brief: brief.clone(),
            opened_at: now,
            closed_at: None,
        },
    )
    .await?;
    app.outbox
        .enqueue(&mut tx, &url, &send(&conversation, card_activity(card)))
        .await?;
    for text in earlier {
        app.outbox
            .enqueue(
                &mut tx,
                &url,
                &send(
                    &conversation,
                    attributed(&brief.customer.display_name, &text),
                ),
            )
            .await?;
    }
    done(&mut tx, id).await?;
    tx.commit().await?;
    app.outbox.wake();
    tracing::info!(tenant.id = %tenant, session.id = %session, chatroom.mode = mode, "chatroom opened");
    Ok(())
}

/// The group chat for a chatroom, made with Graph; `None` means the personal-chat fallback
/// (configured, anonymous mode, Graph not set up or not consented in the tenant, or Graph
/// still failing after retries).
async fn chatroom_conversation(
    app: &App,
    tenant: &str,
    user: &str,
    brief: &Brief,
) -> Option<String> {
    if app.settings.bot.chatroom == ChatroomMode::Personal || app.settings.is_anonymous() {
        return None;
    }
    let topic: String = format!("{} – {}", brief.customer.display_name, service(brief).name)
        .chars()
        .take(250)
        .collect();
    let members = [user];
    let created = match retrying(|| app.graph.create_group_chat(tenant, &topic, &members)).await {
        Ok(chat) => retrying(|| app.graph.install_in_chat(tenant, &chat))
            .await
            .map(|()| chat),
        Err(e) => Err(e),
    };
    match created {
        Ok(chat) => Some(chat),
        Err(e) if e.needs_consent() => {
            tracing::warn!(tenant.id = %tenant, error = %e, "no group chat (Graph not set up or not consented): using the agent's personal chat");
            None
        }
        Err(e) => {
            // Nothing is lost: the chat goes on in the personal chat rather than waiting.
            tracing::error!(tenant.id = %tenant, error = %e, "no group chat (Graph kept failing): using the agent's personal chat");
            None
        }
    }
}

/// Calls Graph, trying again twice (after 200 and 400 ms) when the error may pass.
async fn retrying<T, F, Fut>(mut call: F) -> Result<T, GraphError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, GraphError>>,
{
    let mut delay = Duration::from_millis(200);
    for _ in 0..2 {
        match call().await {
            Err(e) if e.is_retryable() => {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            other => return other,
        }
    }
    call().await
}

/// What the customer wrote before the agent joined (the first message and answers to the
/// workflow), to post into the chatroom after the start card.
async fn earlier_messages(app: &App, session: &str, brief: &Brief) -> anyhow::Result<Vec<String>> {
    let events = crate::interact::store::events_after(&app.pool, session, 0).await?;
    let texts: Vec<String> = events
        .into_iter()
        .filter_map(|(_, e)| match e {
            CustomerEvent::CustomerMessage { text, .. } => Some(text),
            _ => None,
        })
        .collect();
    if texts.is_empty() {
        return Ok(brief.first_message.clone().into_iter().collect());
    }
    Ok(texts)
}

/// Sends the after-contact-work card to the agent's personal chat.
async fn acw_card(app: &App, id: i64, tenant: &str, user: &str, until: i64) -> anyhow::Result<()> {
    let now = app.clock.now_ms();
    let Some(reg) = store::registered(&app.pool, tenant, user).await? else {
        return skip(app, id).await;
    };
    let last: Option<(String, String)> = sqlx::query(
        "SELECT session_id, brief FROM chatrooms WHERE tenant_id = $1 AND user_id = $2
         ORDER BY closed_at DESC LIMIT 1",
    )
    .bind(tenant)
    .bind(user)
    .fetch_optional(&app.pool)
    .await?
    .map(|r| Ok::<_, sqlx::Error>((r.try_get("session_id")?, r.try_get("brief")?)))
    .transpose()?;
    let Some((session, brief)) = last else {
        return skip(app, id).await;
    };
    let brief: Brief = serde_json::from_str(&brief)?;
    let settings = docs::list::<Service>(&app.pool, tenant, Kind::Service)
        .await?
        .into_iter()
        .find(|s| s.value.name == brief.service)
        .map(|s| s.value.distribution);
    let extend = settings.as_ref().and_then(|d| d.acw_extension_seconds);
    let card = app.cards.render_data(&AfterContactWork {
        session: Id { id: session },
        service: service(&brief),
        acw: Acw {
            seconds: u64::try_from((until - now).max(0) / 1000).unwrap_or(0),
            ends_at: chrono::DateTime::from_timestamp_millis(until)
                .unwrap_or_default()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            can_extend: extend.is_some(),
            extend_seconds: u64::from(extend.unwrap_or(0)),
        },
    })?;
    post_one(
        app,
        id,
        &reg.service_url,
        &reg.conversation_id,
        card_activity(card),
    )
    .await
}
