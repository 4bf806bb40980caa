//! Delivers the outbox of Connector calls: after a restart or a Connector outage nothing is
//! lost, and calls to one conversation arrive in the order they were queued.
//!
//! Each lane (service URL + conversation) has at most one call in flight; the next call of a
//! lane starts only when the previous one is delivered or given up. A call that keeps failing
//! with a retryable error is parked with a persisted deadline (`Retry-After` or backoff) and
//! given up after `outbox.max_age`. A crash after the Connector accepted a call but before the
//! row was marked delivered re-sends that one call after restart: the Connector API has no
//! idempotency key, so this window (one call per lane) is the least the protocol allows.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::connector::{ConnectorCall, ConnectorClient, ConnectorError};
use super::service_url::ServiceUrl;
use crate::clock::Clock;
use crate::config::OutboxSettings;
use crate::store::{self, Pool, outbox};

/// Calls delivered at the same time, across lanes.
const MAX_IN_FLIGHT: usize = 32;
/// Heads looked at per scan.
const SCAN_LIMIT: i64 = 256;
/// Longest sleep between scans when nothing is due (a safety net; enqueues wake the worker).
const IDLE_SCAN: Duration = Duration::from_secs(5);
/// How often delivered and given-up calls past their retention are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(3600);
/// How long shutdown waits for calls in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Id of a queued call.
pub type OutboxId = i64;

/// The write side of the outbox.
pub struct Outbox {
    pool: Pool,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
    /// Conversations whose user blocked or uninstalled the bot (403 MessageWritesBlocked).
    blocked: tokio::sync::mpsc::UnboundedSender<String>,
    blocked_rx: std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<String>>>,
}

impl Outbox {
    pub fn new(pool: Pool, clock: Arc<dyn Clock>) -> Self {
        let (blocked, blocked_rx) = tokio::sync::mpsc::unbounded_channel();
        Outbox {
            pool,
            clock,
            wake: Arc::new(Notify::new()),
            blocked,
            blocked_rx: std::sync::Mutex::new(Some(blocked_rx)),
        }
    }

    /// The conversations whose user blocked or uninstalled the bot, as the Connector reports
    /// them (one receiver: the first caller takes it).
    pub fn take_blocked(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<String>> {
        self.blocked_rx.lock().ok()?.take()
    }

    /// Queues a call inside the caller's transaction. Call [`Outbox::wake`] after commit.
    pub async fn enqueue(
        &self,
        tx: &mut store::Transaction<'_>,
        service_url: &ServiceUrl,
        call: &ConnectorCall,
    ) -> anyhow::Result<OutboxId> {
        let payload = serde_json::to_string(call)?;
        let lane = lane(service_url, call);
        let id = outbox::enqueue(
            tx,
            &outbox::NewCall {
                lane: &lane,
                service_url: service_url.as_str(),
                operation: call.name(),
                call: &payload,
            },
            self.clock.now_ms(),
        )
        .await?;
        Ok(id)
    }

    /// Queues, inside the caller's transaction, an update of the activity that the queued call
    /// `sent` creates: its id is only known once that call is delivered, which the lane order
    /// guarantees happens first. If `sent` was given up, so is the update.
    pub async fn enqueue_update_of(
        &self,
        tx: &mut store::Transaction<'_>,
        service_url: &ServiceUrl,
        sent: OutboxId,
        conversation_id: &str,
        activity: crate::botframework::activity::Activity,
    ) -> anyhow::Result<OutboxId> {
        let call = ConnectorCall::Update {
            conversation_id: conversation_id.to_owned(),
            activity_id: String::new(),
            activity,
        };
        let payload = serde_json::to_string(&UpdateOf { sent, call: &call })?;
        let lane = lane(service_url, &call);
        let id = outbox::enqueue(
            tx,
            &outbox::NewCall {
                lane: &lane,
                service_url: service_url.as_str(),
                operation: UPDATE_OF,
                call: &payload,
            },
            self.clock.now_ms(),
        )
        .await?;
        Ok(id)
    }

    /// Queues one call in its own transaction and wakes the worker.
    pub async fn send(
        &self,
        service_url: &ServiceUrl,
        call: &ConnectorCall,
    ) -> anyhow::Result<OutboxId> {
        let mut tx = self.pool.begin().await?;
        let id = self.enqueue(&mut tx, service_url, call).await?;
        tx.commit().await?;
        self.wake();
        Ok(id)
    }

    /// Tells the worker that new calls were committed.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The state of a queued call.
    pub async fn entry(&self, id: OutboxId) -> anyhow::Result<Option<outbox::Entry>> {
        Ok(outbox::get(&self.pool, id).await?)
    }
}

/// Operation name of an update whose activity id comes from an earlier call.
const UPDATE_OF: &str = "update_of";

#[derive(serde::Serialize, serde::Deserialize)]
struct UpdateOf<C> {
    sent: OutboxId,
    call: C,
}

fn lane(service_url: &ServiceUrl, call: &ConnectorCall) -> String {
    match call.conversation() {
        Some(conversation) => format!("{}|{conversation}", service_url.as_str()),
        // Conversation creations are independent of each other: each is its own lane.
        None => format!("{}|create|{}", service_url.as_str(), uuid::Uuid::new_v4()),
    }
}

/// The worker that drains the outbox.
pub struct Dispatcher {
    outbox: Arc<Outbox>,
    connector: Arc<ConnectorClient>,
    settings: OutboxSettings,
    webhooks: crate::webhooks::Sender,
}

impl Dispatcher {
    pub fn new(
        outbox: Arc<Outbox>,
        connector: Arc<ConnectorClient>,
        settings: OutboxSettings,
    ) -> Self {
        Dispatcher {
            webhooks: crate::webhooks::Sender::new(outbox.pool.clone(), Arc::clone(&outbox.clock)),
            outbox,
            connector,
            settings,
        }
    }

    /// Runs until `shutdown` is cancelled, then waits briefly for calls in flight.
    pub async fn run(self, shutdown: CancellationToken) {
        let this = Arc::new(self);
        let mut in_flight: HashSet<String> = HashSet::new();
        let mut tasks: JoinSet<String> = JoinSet::new();
        let mut next_purge = tokio::time::Instant::now();
        loop {
            if tokio::time::Instant::now() >= next_purge {
                this.purge().await;
                next_purge += PURGE_EVERY;
            }
            let idle = this.start_due(&mut in_flight, &mut tasks).await;
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = this.outbox.wake.notified() => {}
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    if let Ok(lane) = done {
                        in_flight.remove(&lane);
                    } else {
                        // A panicked delivery: rebuild the in-flight set from the tasks left.
                        tracing::error!("an outbox delivery task failed");
                        in_flight.clear();
                    }
                }
                () = tokio::time::sleep(idle) => {}
            }
        }
        let drain = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(DRAIN_TIMEOUT, drain).await.is_err() {
            tracing::warn!(
                "outbox calls still in flight at shutdown will be retried after restart"
            );
        }
    }

    /// Deletes settled calls older than the retention period.
    async fn purge(&self) {
        let retention = i64::try_from(self.settings.retention.as_millis()).unwrap_or(i64::MAX);
        let before = self.outbox.clock.now_ms().saturating_sub(retention);
        match outbox::purge_settled(&self.outbox.pool, before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(outbox.purged = n, "old outbox rows deleted"),
            Err(e) => tracing::error!(error = %e, "purging the outbox failed"),
        }
    }

    /// Starts every due head whose lane is free; returns how long to sleep until the next one.
    async fn start_due(
        self: &Arc<Self>,
        in_flight: &mut HashSet<String>,
        tasks: &mut JoinSet<String>,
    ) -> Duration {
        let heads = match outbox::lane_heads(&self.outbox.pool, SCAN_LIMIT).await {
            Ok(heads) => heads,
            Err(e) => {
                tracing::error!(error = %e, "reading the outbox failed");
                return Duration::from_secs(1);
            }
        };
        let now = self.outbox.clock.now_ms();
        let mut next = IDLE_SCAN;
        for head in heads {
            if in_flight.contains(&head.lane) {
                continue;
            }
            if head.next_attempt_at > now {
                let wait =
                    Duration::from_millis(u64::try_from(head.next_attempt_at - now).unwrap_or(0));
                next = next.min(wait);
                continue;
            }
            if tasks.len() >= MAX_IN_FLIGHT {
                break;
            }
            in_flight.insert(head.lane.clone());
            let this = Arc::clone(self);
            let span = tracing::info_span!("outbox.deliver", outbox.id = head.id, outbox.operation = %head.operation);
            tasks.spawn(
                async move {
                    let lane = head.lane.clone();
                    this.deliver(head).await;
                    lane
                }
                .instrument(span),
            );
        }
        next
    }

    /// The call of an outbox row, with an `update_of` resolved to the activity id it needs.
    async fn decode(&self, head: &outbox::PendingCall) -> Result<ConnectorCall, &'static str> {
        if head.operation != UPDATE_OF {
            return serde_json::from_str(&head.call).map_err(|_| "undecodable_call");
        }
        let update: UpdateOf<ConnectorCall> =
            serde_json::from_str(&head.call).map_err(|_| "undecodable_call")?;
        let sent = outbox::get(&self.outbox.pool, update.sent)
            .await
            .map_err(|_| "store_unavailable")?;
        match (sent, update.call) {
            (
                Some(outbox::Entry {
                    result_id: Some(activity_id),
                    ..
                }),
                ConnectorCall::Update {
                    conversation_id,
                    activity,
                    ..
                },
            ) => Ok(ConnectorCall::Update {
                conversation_id,
                activity_id,
                activity,
            }),
            _ => Err("original_not_delivered"),
        }
    }

    async fn deliver(&self, head: outbox::PendingCall) {
        if head.operation == crate::webhooks::OPERATION {
            return self.deliver_webhook(head).await;
        }
        let pool = &self.outbox.pool;
        let call = match self.decode(&head).await {
            Ok(call) => call,
            Err(reason) => return self.give_up(&head, head.attempts, reason).await,
        };
        let Ok(service_url) = ServiceUrl::parse(&head.service_url) else {
            return self
                .give_up(&head, head.attempts, "invalid_service_url")
                .await;
        };
        let now = self.outbox.clock.now_ms();
        let max_age = i64::try_from(self.settings.max_age.as_millis()).unwrap_or(i64::MAX);
        if now - head.created_at > max_age {
            return self.give_up(&head, head.attempts, "expired").await;
        }
        let result = self.connector.execute(&service_url, &call).await;
        let now = self.outbox.clock.now_ms();
        match result {
            Ok(delivered) => {
                self.connector
                    .stats()
                    .delivered_after((now - head.created_at).max(0) as f64 / 1000.0);
                let attempts = head.attempts + i64::from(delivered.attempts);
                if let Err(e) =
                    outbox::mark_delivered(pool, head.id, attempts, delivered.id.as_deref(), now)
                        .await
                {
                    tracing::error!(outbox.id = head.id, error = %e, "could not mark an outbox call delivered");
                }
                tracing::debug!(
                    outbox.id = head.id,
                    outbox.attempts = attempts,
                    "outbox call delivered"
                );
            }
            Err(failed) if failed.error.is_retryable() => {
                let attempts = head.attempts + i64::from(failed.attempts);
                let backoff = self.connector.backoff();
                let delay = backoff
                    .delay_for(
                        u32::try_from(attempts).unwrap_or(u32::MAX),
                        failed.error.retry_after(),
                    )
                    .max(backoff.delay(1));
                let delay_ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
                tracing::warn!(
                    outbox.id = head.id,
                    outbox.attempts = attempts,
                    connector.error = %failed.error.code(),
                    retry.delay_ms = delay_ms,
                    "outbox call parked for a later retry"
                );
                if let Err(e) = outbox::reschedule(
                    pool,
                    head.id,
                    attempts,
                    now.saturating_add(delay_ms),
                    &failed.error.code(),
                )
                .await
                {
                    tracing::error!(outbox.id = head.id, error = %e, "could not reschedule an outbox call");
                }
            }
            Err(failed) => {
                let attempts = head.attempts + i64::from(failed.attempts);
                if matches!(failed.error, ConnectorError::WritesBlocked) {
                    tracing::info!(
                        outbox.id = head.id,
                        "the recipient blocked or uninstalled the bot"
                    );
                    if let Some(conversation) = call.conversation() {
                        let _ = self.outbox.blocked.send(conversation.to_owned());
                    }
                }
                self.give_up(&head, attempts, &failed.error.code()).await;
            }
        }
    }

    /// A tenant webhook ([`crate::webhooks`]): one attempt, then delivered, parked with the
    /// Connector's backoff (or the receiver's `Retry-After`), or given up.
    async fn deliver_webhook(&self, head: outbox::PendingCall) {
        let max_age = i64::try_from(self.settings.max_age.as_millis()).unwrap_or(i64::MAX);
        if self.outbox.clock.now_ms() - head.created_at > max_age {
            return self.give_up(&head, head.attempts, "expired").await;
        }
        let result = self.webhooks.deliver(&head.call).await;
        let (attempts, now) = (head.attempts + 1, self.outbox.clock.now_ms());
        let saved = match result {
            Ok(()) => outbox::mark_delivered(&self.outbox.pool, head.id, attempts, None, now).await,
            Err(failed) if failed.retryable => {
                let backoff = self.connector.backoff();
                let delay = backoff
                    .delay_for(
                        u32::try_from(attempts).unwrap_or(u32::MAX),
                        failed.retry_after,
                    )
                    .max(backoff.delay(1));
                let at = now.saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
                outbox::reschedule(&self.outbox.pool, head.id, attempts, at, &failed.code).await
            }
            Err(failed) => return self.give_up(&head, attempts, &failed.code).await,
        };
        if let Err(e) = saved {
            tracing::error!(outbox.id = head.id, error = %e, "could not record a webhook attempt");
        }
    }

    async fn give_up(&self, head: &outbox::PendingCall, attempts: i64, reason: &str) {
        tracing::warn!(
            outbox.id = head.id,
            outbox.error = reason,
            "outbox call given up"
        );
        if let Err(e) = outbox::mark_failed(&self.outbox.pool, head.id, attempts, reason).await {
            tracing::error!(outbox.id = head.id, error = %e, "could not mark an outbox call failed");
        }
    }
}
