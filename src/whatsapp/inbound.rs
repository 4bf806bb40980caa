//! From stored webhook items to sessions, in the order they arrived (one worker, so one
//! customer's messages never overtake each other):
//! - a message from a customer with an open session on that number joins it (stored once, by
//!   its wamid; it restarts the 24-hour window); otherwise it starts a session on the number's
//!   service, channel `whatsapp`, the customer named by their WhatsApp profile;
//! - a delivery status is recorded (only forward); a `failed` one is told to the agent.
//!
//! Each item is marked handled in the transaction that records it, so a restart resumes where
//! it stopped and nothing is taken twice.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::app::AppState;
use crate::customer::store::{self as customer_store, Accepted, CustomerEvent, CustomerState};
use crate::directory::contacts;
use crate::engine::messages::{Command, Customer};
use crate::engine::sync::{Scope, sync};
use crate::store::whatsapp::{self as wa_store, PendingItem, WaSession};
use crate::whatsapp_cloud::client::{self, Send};
use crate::whatsapp_cloud::message::{self, CustomerMessage};
use crate::workflow::Channel;

/// Items read per pass.
const BATCH: i64 = 256;

/// The token hash of a WhatsApp session's customer row: no token hashes to it, so the
/// Interact API never opens a WhatsApp session.
pub const NO_TOKEN: &str = "!whatsapp";

/// Runs until `shutdown`, woken by each stored webhook.
pub async fn run(app: AppState, wake: Arc<Notify>, shutdown: CancellationToken) {
    loop {
        match pass(&app).await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    "handling WhatsApp webhooks failed"
                );
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = wake.notified() => {}
        }
    }
}

/// Handles up to a batch of items; `false` when there was none.
async fn pass(app: &AppState) -> anyhow::Result<bool> {
    let items = wa_store::pending(&app.pool, BATCH).await?;
    if items.is_empty() {
        return Ok(false);
    }
    for item in &items {
        match item.kind.as_str() {
            "message" => message(app, item).await?,
            "status" => status(app, item).await?,
            _ => done(app, item).await?,
        }
    }
    Ok(true)
}

async fn done(app: &AppState, item: &PendingItem) -> anyhow::Result<()> {
    let mut conn = app.pool.acquire().await?;
    wa_store::handled(&mut conn, &item.dedupe_key, app.clock.now_ms()).await?;
    Ok(())
}

async fn message(app: &AppState, item: &PendingItem) -> anyhow::Result<()> {
    let stored: Value = serde_json::from_str(&item.item)?;
    let Some(said) = message::read(&stored) else {
        tracing::warn!(
            whatsapp.number = %item.phone_number_id,
            "WhatsApp message without a sender ignored"
        );
        return done(app, item).await;
    };
    let Some((tenant, service)) =
        contacts::whatsapp_service(&app.pool, &item.phone_number_id).await?
    else {
        tracing::warn!(
            whatsapp.number = %item.phone_number_id,
            "WhatsApp message to a number no service takes"
        );
        return done(app, item).await;
    };
    let now = app.clock.now_ms();
    let mut said = said;
    // Media: the agent gets a link to the copy fetched for them.
    let media_key = said
        .media
        .as_ref()
        .map(|_| uuid::Uuid::new_v4().simple().to_string());
    if let Some(key) = &media_key {
        said.text = format!(
            "{}\nOpen it: {}/api/whatsapp/media/{key}",
            said.text, app.public_base
        );
    }
    let media_row = |session: &str| {
        said.media
            .as_ref()
            .zip(media_key.as_ref())
            .map(|(m, key)| wa_store::MediaRow {
                id: key.clone(),
                tenant_id: tenant.clone(),
                session_id: session.to_owned(),
                media_id: m.id.clone(),
                kind: m.kind.clone(),
                mime_type: m.mime_type.clone(),
                filename: m.filename.clone(),
                state: "pending".into(),
                error: None,
                bytes: None,
            })
    };
    let event = CustomerEvent::CustomerMessage {
        text: said.text.clone(),
        client_message_id: item.wamid.clone(),
    };
    if let Some(open) =
        wa_store::open_session(&app.pool, &item.phone_number_id, &said.identity.key).await?
    {
        let session = open.session_id.as_str();
        let _gate = app.session_gates.enter(session).await;
        crate::customer::events::drain(&app.pool, &app.events, now).await?;
        let mut tx = crate::store::begin_write(&app.pool).await?;
        let accepted =
            customer_store::accept_message_in(&mut tx, session, &item.wamid, &event, now).await?;
        match accepted {
            Accepted::New(_) => {
                let at = said.sent_at.unwrap_or(now).min(now);
                wa_store::inbound(&mut tx, session, at, &item.wamid).await?;
                if let Some(row) = media_row(session) {
                    wa_store::add_media(&mut tx, &row, now).await?;
                }
            }
            // The session ended since (its end not yet passed on): the message starts a new one.
            Accepted::Ended => wa_store::sent_up_to(&mut tx, session, 0, Some(now)).await?,
            Accepted::Duplicate => {}
        }
        if accepted != Accepted::Ended {
            wa_store::handled(&mut tx, &item.dedupe_key, now).await?;
        }
        tx.commit().await?;
        match accepted {
            Accepted::New(_) => {
                app.whatsapp_counts.received();
                if media_key.is_some() {
                    app.whatsapp_media.notify_one();
                }
                app.events.notify(session);
                app.engines
                    .get(&tenant)
                    .await?
                    .send(Command::CustomerMessage {
                        session: session.to_owned(),
                        text: said.text,
                    })
                    .await?;
                return Ok(());
            }
            Accepted::Duplicate => return Ok(()),
            Accepted::Ended => app.events.unwatch(session),
        }
    }
    let media = media_row("");
    start(app, item, &tenant, &service, said, event, media).await
}

/// Starts a session on `service` with the customer's first message.
async fn start(
    app: &AppState,
    item: &PendingItem,
    tenant: &str,
    service: &crate::directory::model::Service,
    said: CustomerMessage,
    event: CustomerEvent,
    media: Option<wa_store::MediaRow>,
) -> anyhow::Result<()> {
    let now = app.clock.now_ms();
    if let Err(refusal) = service.can_receive_im_on(Channel::WhatsApp) {
        tracing::warn!(tenant.id = %tenant, service.id = %service.id, reason = %refusal,
            "WhatsApp message to a service that takes no chats");
        // The customer is told, once per message, rather than left waiting.
        let send = Send {
            tenant: tenant.to_owned(),
            session: format!("unavailable:{}", said.identity.key),
            seq: 0,
            phone_number_id: item.phone_number_id.clone(),
            body: client::text_body(
                said.identity.field,
                &said.identity.address,
                "Sorry, we cannot take chats on WhatsApp at the moment.",
            ),
        };
        let mut tx = crate::store::begin_write(&app.pool).await?;
        app.outbox.enqueue_whatsapp(&mut tx, &send).await?;
        wa_store::handled(&mut tx, &item.dedupe_key, now).await?;
        tx.commit().await?;
        app.outbox.wake();
        return Ok(());
    }
    let session = uuid::Uuid::new_v4().to_string();
    let at = said.sent_at.unwrap_or(now).min(now);
    let mut tx = crate::store::begin_write(&app.pool).await?;
    customer_store::create(
        &mut *tx,
        &customer_store::InteractSession {
            session_id: session.clone(),
            tenant_id: tenant.to_owned(),
            contact_id: format!("whatsapp:{}", item.phone_number_id),
            token_hash: NO_TOKEN.to_owned(),
            state: CustomerState::Connecting,
        },
        now,
    )
    .await?;
    wa_store::create_session(
        &mut tx,
        &WaSession {
            session_id: session.clone(),
            tenant_id: tenant.to_owned(),
            phone_number_id: item.phone_number_id.clone(),
            customer_key: said.identity.key.clone(),
            recipient_field: said.identity.field.to_owned(),
            recipient: said.identity.address.clone(),
            last_inbound_at: at,
            last_inbound_wamid: Some(item.wamid.clone()),
            sent_seq: 0,
            ended_at: None,
        },
    )
    .await?;
    customer_store::accept_message_in(&mut tx, &session, &item.wamid, &event, now).await?;
    if let Some(mut row) = media {
        row.session_id.clone_from(&session);
        wa_store::add_media(&mut tx, &row, now).await?;
    }
    // The customer's own message is not sent back to them.
    wa_store::sent_up_to(&mut tx, &session, 1, None).await?;
    wa_store::handled(&mut tx, &item.dedupe_key, now).await?;
    tx.commit().await?;
    app.whatsapp_counts.received();
    app.whatsapp_media.notify_one();
    app.events.watch(&session);
    sync(
        &app.pool,
        &app.engines,
        tenant,
        Scope::SessionService(service),
    )
    .await?;
    app.engines
        .get(tenant)
        .await?
        .send(Command::StartSession {
            session: session.clone(),
            service: service.id.clone(),
            channel: "whatsapp".into(),
            customer: Customer {
                display_name: said.display_name,
                email: String::new(),
            },
            parameters: BTreeMap::new(),
            first_message: Some(said.text),
        })
        .await?;
    tracing::info!(tenant.id = %tenant, session.id = %session, "WhatsApp session started");
    Ok(())
}

async fn status(app: &AppState, item: &PendingItem) -> anyhow::Result<()> {
    let status: Value = serde_json::from_str(&item.item)?;
    let state = status["status"].as_str().unwrap_or_default();
    let error = status["errors"].get(0);
    let code = error.and_then(|e| e["code"].as_i64());
    let title = error
        .and_then(|e| e.pointer("/error_data/details").or_else(|| e.get("title")))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let now = app.clock.now_ms();
    let mut tx = crate::store::begin_write(&app.pool).await?;
    let row =
        wa_store::record_status(&mut tx, &item.wamid, state, code.map(|c| (c, title)), now).await?;
    wa_store::handled(&mut tx, &item.dedupe_key, now).await?;
    tx.commit().await?;
    app.whatsapp_counts.status(state);
    super::outcomes::tell_if_failed(app, &row).await?;
    Ok(())
}
