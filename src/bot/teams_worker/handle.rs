//! One effect carried out: the calls it needs, queued in one transaction with marking it done.

use crate::app::App;
use crate::botframework::service_url::ServiceUrl;
use crate::cards::data::{Id, Invitation as InvitationCard, SessionEnded, UserText};
use crate::engine::effects::Handed;
use crate::engine::messages::{AgentStateChange, Effect};

use crate::bot::card_activity;
use crate::bot::invitation_cards::{customer, final_card, outcome_name, service};
use crate::bot::store::{self, Invitation};
use crate::store::registrations;

use super::chatroom::{acw_card, open_chatroom};
use super::{attributed, done, notice, parameters, send, skip};

pub(super) async fn handle(app: &App, handed: &Handed) -> anyhow::Result<()> {
    let (id, tenant, effect) = (handed.id, handed.tenant.as_str(), handed.effect.clone());
    let now = app.clock.now_ms();
    match effect {
        Effect::SendInvitation {
            offer,
            session,
            user,
            brief,
            ring_seconds,
            transfer,
        } => {
            let Some(reg) = registrations::registered(&app.pool, tenant, &user).await? else {
                tracing::warn!(effect.id = %id, user.id = %user, "invitation for a user who is not registered");
                return skip(app, id).await;
            };
            let transfer = match transfer {
                Some(note) => {
                    Some(super::chatroom::transfer_info(app, &session, &brief, note).await?)
                }
                None => None,
            };
            let card = app.cards.render_data_in(
                &InvitationCard {
                    invitation: Id {
                        id: offer.to_string(),
                    },
                    service: service(&brief),
                    customer: customer(&brief),
                    wait_seconds: u64::try_from((now - brief.since) / 1000).unwrap_or(0),
                    parameters: parameters(&brief),
                    first_message: brief.first_message.clone().map(UserText::new),
                    transfer,
                },
                reg.locale.as_deref(),
            )?;
            let url = ServiceUrl::parse(&reg.service_url)?;
            let mut tx = crate::store::begin_write(&app.pool).await?;
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
                },
                now,
            )
            .await?;
            done(&mut tx, id).await?;
            tx.commit().await?;
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
            let mut tx = crate::store::begin_write(&app.pool).await?;
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
        }
        Effect::OpenChatroom {
            session,
            user,
            brief,
        } => open_chatroom(app, id, tenant, &session, &user, brief).await?,
        Effect::RelayToAgent {
            session, text, seq, ..
        } => {
            let Some(room) = store::chatroom_of(&app.pool, &session).await? else {
                tracing::warn!(effect.id = %id, session.id = %session, "customer message for a session without a chatroom");
                return skip(app, id).await;
            };
            let customer = &room.brief.customer.display_name;
            let activity = match crate::bot::files::upload_card(app, customer, &text).await? {
                Some(card) => card_activity(card),
                None => attributed(customer, &text),
            };
            // Remember which call posted which customer message: in a personal chat Teams
            // reports what the agent read, and in any chat a quote of it may be relayed back
            // to this customer (and only a quote of this chat's lines).
            let url = ServiceUrl::parse(&room.service_url)?;
            let mut tx = crate::store::begin_write(&app.pool).await?;
            let posted = app
                .outbox
                .enqueue(&mut tx, &url, &send(&room.conversation_id, activity))
                .await?;
            if let Some(seq) = seq {
                crate::bot::reads::posted(&mut tx, &room.conversation_id, posted, &session, seq)
                    .await?;
            }
            done(&mut tx, id).await?;
            tx.commit().await?;
            if let Err(e) = crate::bot::supervise::mirror(
                app,
                &session,
                &room.brief.customer.display_name,
                &text,
            )
            .await
            {
                tracing::warn!(session.id = %session, error = %e, "mirroring to monitors failed");
            }
        }
        Effect::NoteToAgent {
            session,
            text,
            offer_templates,
            ..
        } => {
            let Some(room) = store::chatroom_of(&app.pool, &session).await? else {
                return skip(app, id).await;
            };
            let (text, card) = if offer_templates {
                match super::whatsapp::templates_card(app, tenant, &session, &room.brief).await {
                    Ok(card) => (text, Some(card)),
                    Err(why) => (format!("{text} {why}"), None),
                }
            } else {
                (text, None)
            };
            let url = ServiceUrl::parse(&room.service_url)?;
            let mut tx = crate::store::begin_write(&app.pool).await?;
            let chat = &room.conversation_id;
            app.outbox
                .enqueue(&mut tx, &url, &send(chat, notice(&text)))
                .await?;
            if let Some(card) = card {
                app.outbox
                    .enqueue(&mut tx, &url, &send(chat, card_activity(card)))
                    .await?;
            }
            done(&mut tx, id).await?;
            tx.commit().await?;
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
                ended_by,
            })?;
            let url = ServiceUrl::parse(&room.service_url)?;
            let mut tx = crate::store::begin_write(&app.pool).await?;
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
            app.chatroom_conversations.removed(&room.conversation_id);
            crate::bot::supervise::chat_ended(app, &session, &room.brief.customer.display_name)
                .await?;
        }
        Effect::HandOver { session, to, .. } => {
            let Some(room) = store::chatroom_of(&app.pool, &session).await? else {
                return skip(app, id).await;
            };
            let text = format!(
                "{to} has this chat now. What you write here no longer reaches the customer."
            );
            let url = ServiceUrl::parse(&room.service_url)?;
            let mut tx = crate::store::begin_write(&app.pool).await?;
            app.outbox
                .enqueue(
                    &mut tx,
                    &url,
                    &send(&room.conversation_id, super::notice(&text)),
                )
                .await?;
            store::close_chatroom(&mut tx, &session, now).await?;
            done(&mut tx, id).await?;
            tx.commit().await?;
            app.chatroom_conversations.removed(&room.conversation_id);
            tracing::info!(session.id = %session, "chat transferred: the first chatroom closed");
        }
        Effect::AgentState {
            user,
            state: AgentStateChange::Acw { until },
        } => acw_card(app, id, tenant, &user, until).await?,
        // Nothing to send: RONA and the end of ACW show in the status card; a refused accept
        // is answered by the invoke itself.
        Effect::AgentState { .. } | Effect::InvitationUnavailable { .. } => skip(app, id).await?,
        Effect::ToCustomer { .. }
        | Effect::QueuePosition { .. }
        | Effect::CollectInformation { .. }
        | Effect::HttpRequest { .. }
        | Effect::Report(_) => skip(app, id).await?,
    }
    Ok(())
}
