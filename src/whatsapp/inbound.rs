//! From stored webhook items to sessions, in the order they arrived (one worker, so one
//! customer's messages never overtake each other):
//! - a message from a customer with an open session on that number joins it (stored once, by
//!   its wamid; it restarts the 24-hour window); otherwise it starts a session on the number's
//!   service, channel `whatsapp`, the customer named by their WhatsApp profile;
//! - a delivery status is recorded (only forward); a `failed` one is told to the agent.
//!
//! A pass takes up to [`BATCH`] items in one write transaction that also marks them handled,
//! so a restart (or a failed pass) resumes where the last commit stopped and nothing is taken
//! twice; what the pass tells others (the engine, the event hub, the media fetcher) follows
//! its commit, the engine's commands sent together so the engine commits them together.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::app::AppState;
use crate::customer::store::{self as customer_store, CustomerEvent, CustomerState};
use crate::directory::contacts;
use crate::directory::model::Service;
use crate::engine::messages::{Command, Customer};
use crate::engine::sync::{Scope, sync};
use crate::store::WriteTransaction;
use crate::store::whatsapp::Outbound;
use crate::store::whatsapp::{self as wa_store, PendingItem, WaSession};
use crate::whatsapp_cloud::client::{self, CloudSend};
use crate::whatsapp_cloud::message;
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

/// What one pass learns once, and what it does after its commit.
#[derive(Default)]
struct Pass {
    /// Each number's service (with its tenant).
    services: HashMap<String, Option<(String, Service)>>,
    /// Services to bring into their engine before the commands.
    sync: Vec<(String, Service)>,
    /// Engine commands, in order per tenant.
    commands: BTreeMap<String, Vec<Command>>,
    /// Sessions started (their events are carried to WhatsApp from now on).
    started: Vec<String>,
    /// Sessions with new customer events.
    notify: Vec<String>,
    /// Sessions found ended.
    ended: Vec<String>,
    /// Sent messages whose status changed.
    statuses: Vec<(String, Outbound)>,
    received: u64,
    media: bool,
    /// Open sessions' ids by (number, customer key), read once for the pass and kept current.
    open: HashMap<(String, String), String>,
    /// Items handled, marked so at the end of the pass in one statement.
    handled: Vec<String>,
    /// Sessions with a new customer message: their latest `(at, wamid)`, and their activity
    /// time, set at the end of the pass.
    latest: BTreeMap<String, (i64, String)>,
    /// The customers' messages, in order, written together at the end of the pass.
    planned: Vec<Planned>,
    /// Sessions started by the pass, written together at its end.
    new_sessions: Vec<(customer_store::StoredSession, WaSession)>,
}

/// A customer's message bound for a session (`start`: the session it starts).
struct Planned {
    tenant: String,
    service: Option<Service>,
    session: String,
    dedupe_key: String,
    wamid: String,
    said: message::CustomerMessage,
    at: i64,
    media_key: Option<String>,
}

impl Pass {
    async fn service(
        &mut self,
        app: &AppState,
        number: &str,
    ) -> anyhow::Result<Option<(String, Service)>> {
        if let Some(found) = self.services.get(number) {
            return Ok(found.clone());
        }
        let found = contacts::whatsapp_service(&app.pool, number).await?;
        self.services.insert(number.to_owned(), found.clone());
        Ok(found)
    }

    /// Writes what the pass planned, a few statements for the whole pass: the sessions it
    /// starts, its customers' messages (each taken once, by its wamid) and their events, the
    /// sessions' windows and activity, and the items handled. Then it knows what to tell.
    async fn write(&mut self, tx: &mut WriteTransaction, now: i64) -> anyhow::Result<()> {
        let (rows, wa_rows): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.new_sessions).into_iter().unzip();
        customer_store::create_all(tx, &rows, now).await?;
        wa_store::create_sessions(tx, &wa_rows).await?;
        let pairs: Vec<(String, String)> = self
            .planned
            .iter()
            .map(|p| (p.session.clone(), p.wamid.clone()))
            .collect();
        let taken = customer_store::accept_all(tx, &pairs).await?;
        let mut events = Vec::new();
        for planned in std::mem::take(&mut self.planned) {
            self.handled.push(planned.dedupe_key.clone());
            // Taken before: a duplicate, nothing more.
            if !taken.contains(&(planned.session.clone(), planned.wamid.clone())) {
                continue;
            }
            events.push((
                planned.session.clone(),
                CustomerEvent::CustomerMessage {
                    text: planned.said.text.clone(),
                    client_message_id: planned.wamid.clone(),
                },
            ));
            self.take(tx, planned, now).await?;
        }
        customer_store::append_all(tx, &events, now).await?;
        let latest: Vec<(String, i64, String)> = self
            .latest
            .iter()
            .map(|(session, (at, wamid))| (session.clone(), *at, wamid.clone()))
            .collect();
        wa_store::inbound_all(tx, &latest).await?;
        let touched: Vec<String> = self.latest.keys().cloned().collect();
        customer_store::touch_all(tx, &touched, now).await?;
        wa_store::handled_all(tx, &self.handled, now).await?;
        Ok(())
    }

    /// A message taken into its session: its media to fetch, the session's window, and what
    /// the engine and the event hub are told after the commit.
    async fn take(
        &mut self,
        tx: &mut WriteTransaction,
        planned: Planned,
        now: i64,
    ) -> anyhow::Result<()> {
        let Planned {
            tenant,
            service,
            session,
            wamid,
            said,
            at,
            media_key,
            ..
        } = planned;
        if let Some((m, key)) = said.media.as_ref().zip(media_key) {
            let row = wa_store::MediaRow {
                id: key,
                tenant_id: tenant.clone(),
                session_id: session.clone(),
                media_id: m.id.as_str().to_owned(),
                kind: m.kind.clone(),
                mime_type: m.mime_type.clone(),
                filename: m.filename.clone(),
                state: "pending".into(),
                error: None,
                bytes: None,
            };
            wa_store::add_media(tx, &row, now).await?;
            self.media = true;
        }
        self.received += 1;
        let Some(service) = service else {
            let latest = self
                .latest
                .entry(session.clone())
                .or_insert((at, String::new()));
            *latest = (latest.0.max(at), wamid);
            self.notify.push(session.clone());
            self.send(
                &tenant,
                Command::CustomerMessage {
                    session,
                    text: said.text,
                    seq: None,
                },
            );
            return Ok(());
        };
        self.started.push(session.clone());
        self.sync_once(&tenant, &service);
        self.send(
            &tenant,
            Command::StartSession {
                session: session.clone(),
                service: service.id.clone(),
                channel: "whatsapp".into(),
                customer: Customer {
                    display_name: said.display_name,
                    email: String::new(),
                },
                parameters: BTreeMap::new(),
                first_message: Some(said.text),
            },
        );
        tracing::info!(tenant.id = %tenant, session.id = %session, "WhatsApp session started");
        Ok(())
    }

    fn send(&mut self, tenant: &str, command: Command) {
        self.commands
            .entry(tenant.to_owned())
            .or_default()
            .push(command);
    }

    fn sync_once(&mut self, tenant: &str, service: &Service) {
        if !self
            .sync
            .iter()
            .any(|(t, s)| t == tenant && s.id == service.id)
        {
            self.sync.push((tenant.to_owned(), service.clone()));
        }
    }

    /// After the commit.
    async fn finish(self, app: &AppState) -> anyhow::Result<()> {
        app.whatsapp_counts.received(self.received);
        if self.media {
            app.whatsapp_media.notify_one();
        }
        for session in &self.ended {
            app.events.unwatch(session);
        }
        for session in &self.started {
            app.events.watch(session);
        }
        for session in &self.notify {
            app.events.notify(session);
        }
        // The engine knows the service before a session starts on it.
        for (tenant, service) in &self.sync {
            sync(
                &app.pool,
                &app.engines,
                tenant,
                Scope::SessionService(service),
            )
            .await?;
        }
        for (tenant, commands) in self.commands {
            app.engines.get(&tenant).await?.send_all(commands).await?;
        }
        for (state, row) in &self.statuses {
            app.whatsapp_counts.status(state);
            super::outcomes::tell_if_failed(app, row).await?;
        }
        Ok(())
    }
}

/// Handles up to a batch of items; `false` when there was none.
async fn pass(app: &AppState) -> anyhow::Result<bool> {
    let items = wa_store::pending(&app.pool, BATCH).await?;
    if items.is_empty() {
        return Ok(false);
    }
    let now = app.clock.now_ms();
    // Everything the engine said before (an end too) is recorded before these messages.
    crate::customer::events::drain(&app.pool, &app.events, now).await?;
    let mut pass = Pass::default();
    let mut tx = crate::store::begin_write(&app.pool).await?;
    // Each message read once (`None`: no sender), and their customers' open sessions at once.
    let said: Vec<Option<message::CustomerMessage>> = items
        .iter()
        .map(|i| match i.kind.as_str() {
            "message" => Ok(message::read(&serde_json::from_str(&i.item)?)),
            _ => Ok(None),
        })
        .collect::<serde_json::Result<_>>()?;
    let keys: Vec<(String, String)> = items
        .iter()
        .zip(&said)
        .filter_map(|(i, s)| Some((i.phone_number_id.clone(), s.as_ref()?.identity.key.clone())))
        .collect();
    for (open, ended) in wa_store::open_sessions_of(&mut tx, &keys).await? {
        if ended {
            // Its end is not passed on yet: the customer's next message starts a new session.
            wa_store::sent_up_to(&mut tx, &open.session_id, 0, Some(now)).await?;
            pass.ended.push(open.session_id);
        } else {
            pass.open
                .insert((open.phone_number_id, open.customer_key), open.session_id);
        }
    }
    for (item, said) in items.iter().zip(said) {
        match item.kind.as_str() {
            "message" => message(app, &mut tx, &mut pass, item, said, now).await?,
            "status" => status(&mut tx, &mut pass, item, now).await?,
            _ => pass.handled.push(item.dedupe_key.clone()),
        }
    }
    pass.write(&mut tx, now).await?;
    tx.commit().await?;
    pass.finish(app).await?;
    Ok(true)
}

async fn message(
    app: &AppState,
    tx: &mut WriteTransaction,
    pass: &mut Pass,
    item: &PendingItem,
    said: Option<message::CustomerMessage>,
    now: i64,
) -> anyhow::Result<()> {
    let Some(mut said) = said else {
        tracing::warn!(
            whatsapp.number = %item.phone_number_id,
            "WhatsApp message without a sender ignored"
        );
        pass.handled.push(item.dedupe_key.clone());
        return Ok(());
    };
    let Some((tenant, service)) = pass.service(app, &item.phone_number_id).await? else {
        tracing::warn!(
            whatsapp.number = %item.phone_number_id,
            "WhatsApp message to a number no service takes"
        );
        pass.handled.push(item.dedupe_key.clone());
        return Ok(());
    };
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
    let at = said.sent_at.unwrap_or(now).min(now);
    let open_key = (item.phone_number_id.clone(), said.identity.key.clone());
    let mut planned = Planned {
        tenant: tenant.clone(),
        service: None,
        session: String::new(),
        dedupe_key: item.dedupe_key.clone(),
        wamid: item.wamid.clone(),
        said,
        at,
        media_key,
    };
    if let Some(open) = pass.open.get(&open_key) {
        planned.session = open.clone();
        pass.planned.push(planned);
        return Ok(());
    }
    let said = &planned.said;
    if let Err(refusal) = service.can_receive_im_on(Channel::WhatsApp) {
        tracing::warn!(tenant.id = %tenant, service.id = %service.id, reason = %refusal,
            "WhatsApp message to a service that takes no chats");
        // The customer is told, once per message, rather than left waiting.
        let send = CloudSend {
            tenant: tenant.clone(),
            session: format!("unavailable:{}", said.identity.key),
            seq: 0,
            phone_number_id: item.phone_number_id.clone(),
            body: client::text_body(
                said.identity.field,
                &said.identity.address,
                "Sorry, we cannot take chats on WhatsApp at the moment.",
            ),
        };
        app.outbox.enqueue_whatsapp(tx, &send).await?;
        pass.handled.push(item.dedupe_key.clone());
        return Ok(());
    }
    let session = uuid::Uuid::new_v4().to_string();
    let row = customer_store::StoredSession {
        session_id: session.clone(),
        tenant_id: tenant.clone(),
        contact_id: format!("whatsapp:{}", item.phone_number_id),
        token_hash: NO_TOKEN.to_owned(),
        state: CustomerState::Connecting,
    };
    // The customer's own message (the session's first event) is not sent back to them.
    let wa = WaSession {
        session_id: session.clone(),
        tenant_id: tenant,
        phone_number_id: item.phone_number_id.clone(),
        customer_key: said.identity.key.clone(),
        recipient_field: said.identity.field.to_owned(),
        recipient: said.identity.address.clone(),
        last_inbound_at: at,
        last_inbound_wamid: Some(item.wamid.clone()),
        sent_seq: 1,
        ended_at: None,
    };
    pass.new_sessions.push((row, wa));
    pass.open.insert(open_key, session.clone());
    planned.session = session;
    planned.service = Some(service);
    pass.planned.push(planned);
    Ok(())
}

async fn status(
    tx: &mut WriteTransaction,
    pass: &mut Pass,
    item: &PendingItem,
    now: i64,
) -> anyhow::Result<()> {
    let status: Value = serde_json::from_str(&item.item)?;
    let state = status["status"].as_str().unwrap_or_default().to_owned();
    let error = status["errors"].get(0);
    let code = error.and_then(|e| e["code"].as_i64());
    let title = error
        .and_then(|e| e.pointer("/error_data/details").or_else(|| e.get("title")))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let row =
        wa_store::record_status(tx, &item.wamid, &state, code.map(|c| (c, title)), now).await?;
    pass.handled.push(item.dedupe_key.clone());
    pass.statuses.push((state, row));
    Ok(())
}
