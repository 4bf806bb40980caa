//! Chatrooms opened (a Graph group chat or the personal-chat fallback) with what the customer
//! wrote before the agent joined, and the after-contact-work card.

use std::time::Duration;

use crate::app::App;
use crate::botframework::activity::Activity;
use crate::botframework::service_url::ServiceUrl;
use crate::cards::data::{Acw, AfterContactWork, Id, SessionStarted};
use crate::cards::markdown;
use crate::config::ChatroomMode;
use crate::customer::store::{CustomerEvent, CustomerState};
use crate::directory::model::Service;
use crate::directory::store::{self as docs, Kind};
use crate::engine::effects::EffectId;
use crate::engine::messages::Brief;
use crate::graph::GraphError;

use crate::bot::card_activity;
use crate::bot::invitation_cards::{customer, service};
use crate::bot::store::{self, Chatroom};
use crate::store::AsPool;
use crate::store::registrations;

use super::{attributed, done, parameters, post_one, send, skip};

/// Opens the chatroom of a connected session and posts the start card and what the customer
/// wrote before the agent joined.
pub(super) async fn open_chatroom(
    app: &App,
    id: EffectId,
    tenant: &str,
    session: &str,
    user: &str,
    brief: Brief,
) -> anyhow::Result<()> {
    let now = app.clock.now_ms();
    let Some(reg) = registrations::registered(&app.pool, tenant, user).await? else {
        tracing::warn!(effect.id = %id, user.id = %user, "chatroom for a user who is not registered");
        return skip(app, id).await;
    };
    let (conversation, mode) = match chatroom_conversation(app, tenant, user, &brief).await {
        Some(chat) => (chat, store::GROUP),
        None => (reg.conversation_id.clone(), store::PERSONAL),
    };
    let card = app.cards.render_data_in(
        &SessionStarted {
            session: Id {
                id: session.to_owned(),
            },
            service: service(&brief),
            customer: customer(&brief),
            parameters: parameters(&brief),
            whatsapp: whatsapp_window(app, session, &brief).await?,
        },
        reg.locale.as_deref(),
    )?;
    let earlier = match so_far(app, session, &brief).await? {
        Some(summary) => vec![summary],
        None => earlier_messages(app, session, &brief).await?,
    };
    let url = ServiceUrl::parse(&reg.service_url)?;
    let mut tx = crate::store::begin_write(&app.pool).await?;
    app.chatroom_conversations.add(&conversation);
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
        let (activity, seq) = match text {
            Earlier::Customer(text, seq) => (attributed(&brief.customer.display_name, &text), seq),
            Earlier::SoFar(activity, seq) => (*activity, seq),
        };
        let posted = app
            .outbox
            .enqueue(&mut tx, &url, &send(&conversation, activity))
            .await?;
        // Lines of this chat: read receipts count them, and a quote of them may go back to
        // the customer.
        if let Some(seq) = seq {
            crate::bot::reads::posted(&mut tx, &conversation, posted, session, seq).await?;
        }
    }
    done(&mut tx, id).await?;
    tx.commit().await?;
    tracing::info!(tenant.id = %tenant, session.id = %session, chatroom.mode = mode, "chatroom opened");
    Ok(())
}

/// The group chat for a chatroom, made with Graph; `None` means the personal-chat fallback
/// (configured, anonymous mode, Graph not set up or not consented in the tenant, or Graph
/// still failing after retries).
pub(super) async fn chatroom_conversation(
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
pub(super) async fn retrying<T, F, Fut>(mut call: F) -> Result<T, GraphError>
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
/// workflow), to post into the chatroom after the start card. What they wrote after the
/// customer was told `connected` reaches the chatroom as the engine's relays (behind this
/// chatroom in its session's lane), so it is not posted twice.
/// What a new chatroom shows of the conversation before it.
pub(super) enum Earlier {
    /// A customer's message written before any agent was there (with its event's seq, when
    /// it has one).
    Customer(String, Option<i64>),
    /// A transferred chat: the conversation so far, both sides, in one message (with the seq
    /// of the customer's last message in it).
    SoFar(Box<Activity>, Option<i64>),
}

/// Lines of a transferred conversation shown: on the invitation, and in the new chatroom.
const RECENT_ON_CARD: usize = 5;
const RECENT_IN_CHAT: usize = 30;

/// The customer's and agents' messages of a session so far, oldest first: `(who, text)`.
async fn conversation(
    app: &App,
    session: &str,
    brief: &Brief,
) -> anyhow::Result<Vec<(String, String)>> {
    let events = crate::customer::store::events_after(&app.pool, session, 0).await?;
    let mut lines: Vec<(String, String)> = Vec::new();
    let mut seqs: Vec<i64> = Vec::new();
    for (seq, event) in events {
        match event {
            CustomerEvent::CustomerMessage { text, .. } => {
                lines.push((brief.customer.display_name.clone(), text));
                seqs.push(seq);
            }
            CustomerEvent::Message {
                from, text, name, ..
            } if from == "agent" => {
                lines.push((name.unwrap_or_else(|| "Agent".into()), text));
                seqs.push(seq);
            }
            CustomerEvent::MessageEdited { seq: of, text, .. } => {
                if let Some(i) = seqs.iter().position(|s| *s == of) {
                    lines[i].1 = text;
                }
            }
            CustomerEvent::MessageDeleted { seq: of } => {
                if let Some(i) = seqs.iter().position(|s| *s == of) {
                    lines.remove(i);
                    seqs.remove(i);
                }
            }
            _ => {}
        }
    }
    Ok(lines)
}

/// A transferred chat's conversation so far, as one message for the new chatroom (`None`:
/// no agent has written yet, so the chat was not transferred or nothing was said).
async fn so_far(app: &App, session: &str, brief: &Brief) -> anyhow::Result<Option<Earlier>> {
    let events = crate::customer::store::events_after(&app.pool, session, 0).await?;
    let transferred = events
        .iter()
        .any(|(_, e)| matches!(e, CustomerEvent::Message { from, .. } if from == "agent"));
    if !transferred {
        return Ok(None);
    }
    let lines = conversation(app, session, brief).await?;
    let skip = lines.len().saturating_sub(RECENT_IN_CHAT);
    let mut text = String::from("**The conversation so far:**");
    for (who, said) in &lines[skip..] {
        text.push_str(&format!(
            "\n\n**{}**: {}",
            markdown::escape(who),
            markdown::hard_breaks(&markdown::escape_with_links(said))
        ));
    }
    let mut activity = Activity::message(text);
    activity.text_format = Some("markdown".into());
    let last_customer = events
        .iter()
        .filter(|(_, e)| matches!(e, CustomerEvent::CustomerMessage { .. }))
        .map(|(seq, _)| *seq)
        .max();
    Ok(Some(Earlier::SoFar(Box::new(activity), last_customer)))
}

/// A transfer's invitation: who transfers the chat and why, and its last lines.
pub(super) async fn transfer_info(
    app: &App,
    session: &str,
    brief: &Brief,
    note: crate::engine::messages::TransferNote,
) -> anyhow::Result<crate::cards::data::TransferInfo> {
    use crate::cards::data::{ChatLine, TransferInfo, UserText};
    let lines = conversation(app, session, brief).await?;
    let skip = lines.len().saturating_sub(RECENT_ON_CARD);
    Ok(TransferInfo {
        from: UserText::new(note.from),
        reason: Some(note.reason)
            .filter(|r| !r.trim().is_empty())
            .map(UserText::new),
        recent: lines[skip..]
            .iter()
            .map(|(who, text)| ChatLine {
                who: UserText::new(who.clone()),
                text: UserText::new(text.chars().take(200).collect::<String>()),
            })
            .collect(),
    })
}

pub(super) async fn earlier_messages(
    app: &App,
    session: &str,
    brief: &Brief,
) -> anyhow::Result<Vec<Earlier>> {
    let events = crate::customer::store::events_after(&app.pool, session, 0).await?;
    let mut texts: Vec<(String, Option<i64>)> = Vec::new();
    let mut before_connected: Option<usize> = None;
    for (seq, event) in events {
        match event {
            CustomerEvent::CustomerMessage { text, .. } => texts.push((text, Some(seq))),
            CustomerEvent::State {
                state: CustomerState::Connected,
                ..
            } => {
                before_connected = Some(texts.len());
            }
            _ => {}
        }
    }
    if let Some(n) = before_connected {
        texts.truncate(n);
    }
    if texts.is_empty() {
        return Ok(brief
            .first_message
            .clone()
            .into_iter()
            .map(|text| Earlier::Customer(text, None))
            .collect());
    }
    Ok(texts
        .into_iter()
        .map(|(text, seq)| Earlier::Customer(text, seq))
        .collect())
}

/// Sends the after-contact-work card to the agent's personal chat.
pub(super) async fn acw_card(
    app: &App,
    id: EffectId,
    tenant: &str,
    user: &str,
    until: i64,
) -> anyhow::Result<()> {
    let now = app.clock.now_ms();
    let Some(reg) = registrations::registered(&app.pool, tenant, user).await? else {
        return skip(app, id).await;
    };
    // An open chatroom (no `closed_at`) comes last, on both backends.
    let last: Option<(String, String)> = crate::db!(app.pool.on(), |c| {
        sqlx::query_as(
            "SELECT session_id, brief FROM chatrooms WHERE tenant_id = $1 AND user_id = $2
             ORDER BY closed_at DESC NULLS LAST LIMIT 1",
        )
        .bind(tenant)
        .bind(user)
        .fetch_optional(c)
        .await
    })?;
    let Some((session, brief)) = last else {
        return skip(app, id).await;
    };
    let brief: Brief = serde_json::from_str(&brief)?;
    let settings = match &brief.service_id {
        Some(id) => docs::get::<Service>(&app.pool, tenant, Kind::Service, id)
            .await?
            .map(|s| s.value.distribution),
        None => None,
    };
    let extend = settings.as_ref().and_then(|d| d.acw_extension_seconds);
    let card = app.cards.render_data_in(
        &AfterContactWork {
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
        },
        reg.locale.as_deref(),
    )?;
    post_one(
        app,
        id,
        &reg.service_url,
        &reg.conversation_id,
        card_activity(card),
    )
    .await
}

/// When a WhatsApp chat's 24-hour window closes, for the session card.
async fn whatsapp_window(
    app: &App,
    session: &str,
    brief: &Brief,
) -> anyhow::Result<Option<crate::cards::data::WhatsAppWindow>> {
    if brief.channel != "whatsapp" {
        return Ok(None);
    }
    Ok(crate::store::whatsapp::session(&app.pool, session)
        .await?
        .map(|s| crate::cards::data::WhatsAppWindow {
            window_ends_at: crate::clock::rfc3339(
                s.last_inbound_at
                    .saturating_add(crate::whatsapp_cloud::WINDOW_MS),
            ),
        }))
}
