//! Recording webhook deliveries in the outbox, inside the engine's transaction, and listing
//! them for the admin API. One outbox row per (event, endpoint): lane
//! `webhook|{tenant}|{endpoint}|{session}` (so each endpoint receives a session's events in
//! order, one at a time), `service_url` the endpoint's URL when the event happened (for
//! reading the table only: delivery uses the URL and secret configured at delivery time), and
//! `call` a [`Delivery`] holding the exact body that is signed and sent.

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;

use sqlx::Row;
use tokio::sync::Notify;

use super::endpoints;
use super::events::events_of;
use crate::clock::rfc3339;
use crate::engine::actor::EffectRecorder;
use crate::engine::messages::Effect;
use crate::store::outbox::{self, NewCall};
use crate::store::{AsPool, WriteTransaction};

/// The outbox operation of webhook deliveries.
pub const OPERATION: &str = "webhook";

/// An outbox row's `call`: where the body goes and what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub tenant: String,
    pub endpoint: String,
    /// `X-Switchboard-Delivery`: the same on every retry, so a receiver can drop duplicates.
    pub delivery: String,
    /// `X-Switchboard-Event`.
    pub event: String,
    pub session: String,
    /// The JSON body, byte for byte what is signed and sent.
    pub body: String,
}

/// The lane of one session's deliveries to one endpoint.
pub fn lane(tenant: &str, endpoint: &str, session: &str) -> String {
    format!("{OPERATION}|{tenant}|{endpoint}|{session}")
}

/// The engine's [`EffectRecorder`]: each batch of transitions queues its webhook deliveries
/// ([`record`]) in its own transaction, and the commit wakes the outbox's dispatcher.
pub struct Recorder {
    dispatcher: Arc<Notify>,
}

impl Recorder {
    /// A recorder waking `dispatcher` after a commit that queued deliveries.
    pub fn new(dispatcher: Arc<Notify>) -> Self {
        Recorder { dispatcher }
    }
}

impl EffectRecorder for Recorder {
    fn record<'a>(
        &'a self,
        tx: &'a mut WriteTransaction,
        tenant: &'a str,
        effects: &'a [Vec<Effect>],
        now: i64,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            record(tx, &self.dispatcher, tenant, effects.iter().flatten(), now).await?;
            Ok(())
        })
    }
}

/// Queues the webhook deliveries of engine transitions (their `effects` at `now`) in the
/// caller's transaction, with one read of the endpoints and multi-row inserts; returns how many
/// rows were queued (wake the outbox after commit when some were). Costs nothing but a scan of
/// the effects when none is an event.
pub async fn record<'a>(
    tx: &mut WriteTransaction,
    dispatcher: &Arc<Notify>,
    tenant: &str,
    effects: impl IntoIterator<Item = &'a Effect>,
    now: i64,
) -> anyhow::Result<usize> {
    record_events(
        tx,
        dispatcher,
        tenant,
        &events_of(tenant, effects, now),
        now,
    )
    .await
}

/// Queues these events for every endpoint of the tenant in the caller's transaction; returns
/// how many rows were queued. The commit wakes the outbox's `dispatcher`.
pub async fn record_events(
    tx: &mut WriteTransaction,
    dispatcher: &Arc<Notify>,
    tenant: &str,
    events: &[super::events::WebhookEvent],
    now: i64,
) -> anyhow::Result<usize> {
    if events.is_empty() {
        return Ok(0);
    }
    let targets = endpoints::list(&mut *tx, tenant).await?;
    let mut rows = Vec::with_capacity(events.len() * targets.len());
    for event in events {
        let body = event.body(&uuid::Uuid::new_v4().to_string());
        for endpoint in &targets {
            let delivery = Delivery {
                tenant: tenant.to_owned(),
                endpoint: endpoint.id.clone(),
                delivery: uuid::Uuid::new_v4().to_string(),
                event: event.kind.name().to_owned(),
                session: event.session.clone(),
                body: body.clone(),
            };
            rows.push((
                lane(tenant, &endpoint.id, &event.session),
                endpoint.url.as_str(),
                serde_json::to_string(&delivery)?,
            ));
        }
    }
    let calls: Vec<NewCall<'_>> = rows
        .iter()
        .map(|(lane, url, call)| NewCall {
            lane,
            service_url: url,
            operation: OPERATION,
            call,
        })
        .collect();
    if !calls.is_empty() {
        outbox::enqueue_many(&mut *tx, &calls, now).await?;
        tx.wake_on_commit(dispatcher);
    }
    Ok(calls.len())
}

/// The tenant's most recent deliveries, newest first, as the admin API lists them.
pub async fn recent(
    pool: &(impl AsPool + ?Sized),
    tenant: &str,
    limit: i64,
) -> sqlx::Result<Vec<Value>> {
    // Lanes of the tenant sort between `webhook|{tenant}|` and `webhook|{tenant}}` ('}' follows '|').
    let from = format!("{OPERATION}|{tenant}|");
    let to = format!("{OPERATION}|{tenant}}}");
    // The range is in byte order: SQLite's, and the `"C"` collation of `lane` on PostgreSQL.
    crate::db!(pool.on(), |c| {
        sqlx::query(
        "SELECT id, call, state, attempts, last_error, next_attempt_at, created_at, delivered_at
         FROM outbox
         WHERE operation = $1 AND lane >= $2 AND lane < $3
         ORDER BY id DESC LIMIT $4",
    )
    .bind(OPERATION)
    .bind(&from)
    .bind(&to)
    .bind(limit)
    .fetch_all(c)
    .await?
    .into_iter()
        .map(|r| {
            let call: String = r.try_get("call")?;
            let delivery: Option<Delivery> = serde_json::from_str(&call).ok();
            let state: String = r.try_get("state")?;
            let time = |ms: Option<i64>| ms.map(rfc3339);
            Ok(json!({
                "delivery": delivery.as_ref().map(|d| &d.delivery),
                "event": delivery.as_ref().map(|d| &d.event),
                "session": delivery.as_ref().map(|d| &d.session),
                "endpoint": delivery.as_ref().map(|d| &d.endpoint),
                "state": state,
                "attempts": r.try_get::<i64, _>("attempts")?,
                "lastError": r.try_get::<Option<String>, _>("last_error")?,
                "createdAt": rfc3339(r.try_get("created_at")?),
                "deliveredAt": time(r.try_get("delivered_at")?),
                "nextAttemptAt": (state == "pending").then(|| r.try_get("next_attempt_at").map(rfc3339)).transpose()?,
            }))
        })
        .collect()
    })
}
