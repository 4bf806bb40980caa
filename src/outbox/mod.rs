//! The outbox: calls to Teams (Bot Connector), to tenants' webhook endpoints and to the WhatsApp
//! Cloud API, queued in the transaction of whatever caused them and delivered after its commit.
//! After a restart or an outage nothing is lost, and calls of one lane (a conversation, a
//! session's webhook events to one endpoint, a WhatsApp session) arrive in the order they were
//! queued. Queuing a call inside a [`WriteTransaction`] has its commit wake the dispatcher, so no
//! caller wakes it by hand. Each row's [`Operation`] says who delivers it.
//!
//! Each lane (service URL + conversation) has at most one call in flight; the next call of a
//! lane starts only when the previous one is delivered or given up and that outcome is stored.
//! A call that keeps failing with a retryable error is parked with a persisted deadline
//! (`Retry-After` or backoff) and given up after `outbox.max_age`. A crash after the Connector
//! accepted a call but before its outcome was stored re-sends that one call after restart: the
//! Connector API has no idempotency key, so this window (one call per lane) is the least the
//! protocol allows.
//!
//! Work is pushed, not found: the dispatcher holds every pending call in memory, per lane. It
//! reads the table once at start and then, each time a commit wakes it, only the rows added
//! since (by id). Outcomes finished together are stored in one transaction. The table is
//! written to record and read to recover, never scanned to find the next call.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::botframework::connector::{ConnectorCall, ConnectorClient, ConnectorError};
use crate::botframework::service_url::ServiceUrl;
use crate::clock::Clock;
use crate::config::OutboxSettings;
use crate::store::{Pool, WriteTransaction, outbox};

mod dispatcher;
pub(crate) mod lanes;
pub use dispatcher::Dispatcher;

/// Calls delivered at the same time, across lanes (Connector and WhatsApp sends).
const MAX_IN_FLIGHT: usize = 64;
/// Tenant webhook attempts at the same time: a pool of their own, so that slow or dead
/// endpoints never delay a chat (each endpoint also has its own cap and circuit breaker,
/// [`crate::webhooks::health`]).
const MAX_WEBHOOKS_IN_FLIGHT: usize = 16;
/// Longest sleep when nothing is due; commits wake the worker, this is a safety net for rows
/// committed by another process.
const IDLE_SCAN: Duration = Duration::from_secs(5);
/// How often delivered and given-up calls past their retention are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(3600);
/// Attempts that end in a Connector 500 before a call is given up: Teams' `ServiceError` is
/// often transient, but a call it keeps refusing is not retried for a day.
const SERVER_ERROR_ATTEMPTS: u32 = 5;
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
    /// WhatsApp sends delivered or given up, for the WhatsApp edge to record and report.
    whatsapp_outcomes: tokio::sync::mpsc::UnboundedSender<WhatsAppOutcome>,
    whatsapp_outcomes_rx:
        std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<WhatsAppOutcome>>>,
    /// Calls queued by [`Outbox::send`], committed together by one task.
    sends: tokio::sync::mpsc::UnboundedSender<SendRequest>,
    /// The calls of [`Outbox::send`] committed since the dispatcher last looked, as their rows
    /// read: it takes them from here instead of reading them back ([`Fresh`]).
    fresh: Arc<Fresh>,
    /// Tenant webhook endpoints' in-flight attempts and circuit breakers.
    pub webhook_health: Arc<crate::webhooks::health::Health>,
    /// Teams calls given up (their outbox ids), once that is stored: the bot tells whoever
    /// the call was for, so that nothing fails silently.
    given_up: tokio::sync::mpsc::UnboundedSender<OutboxId>,
    given_up_rx: std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<OutboxId>>>,
}

/// The end of a WhatsApp send: the wamid the Cloud API gave it (none for a read receipt), or
/// why it was given up.
#[derive(Debug)]
pub struct WhatsAppOutcome {
    pub send: crate::whatsapp_cloud::client::CloudSend,
    pub result: Result<Option<String>, crate::whatsapp_cloud::client::CloudError>,
}

/// A call for [`Outbox::send`], and where to answer once it is committed.
struct SendRequest {
    lane: String,
    service_url: String,
    operation: &'static str,
    payload: String,
    reply: tokio::sync::oneshot::Sender<Result<OutboxId, String>>,
}

/// Calls committed in one transaction at most.
const SEND_BATCH: usize = 256;

/// Rows held for the dispatcher at most; past that they are dropped, and it reads them.
const MAX_FRESH: usize = 16_384;

/// Calls committed by [`Outbox::send`], in commit order, as the rows the dispatcher would read.
/// It takes them only while their ids follow on from the highest it holds: rows committed
/// another way (in a caller's transaction, by another process) leave a gap, and then it reads
/// the store as before, so no row is ever skipped.
/// Its own wake-up tells the dispatcher that only these are new; every other wake-up
/// (`Outbox::wake`, a transaction's commit) has it read the store.
#[derive(Default)]
pub(crate) struct Fresh {
    /// The calls, and whether some were dropped since the dispatcher last took them.
    calls: std::sync::Mutex<(Vec<outbox::PendingCall>, bool)>,
    pub(crate) wake: Notify,
}

impl Fresh {
    fn push(&self, calls: impl IntoIterator<Item = outbox::PendingCall>) {
        if let Ok(mut fresh) = self.calls.lock() {
            fresh.0.extend(calls);
            if fresh.0.len() > MAX_FRESH {
                fresh.0.clear();
                fresh.1 = true;
            }
        }
        self.wake.notify_one();
    }

    /// The calls that follow on from `high_water` without a gap, and whether that was all
    /// of them (else the store must be read).
    pub(crate) fn take_after(&self, high_water: i64) -> (Vec<outbox::PendingCall>, bool) {
        let Ok(mut fresh) = self.calls.lock() else {
            return (Vec::new(), false);
        };
        let (mut taken, dropped) = std::mem::take(&mut *fresh);
        drop(fresh);
        taken.sort_by_key(|c| c.id);
        let mut next = high_water + 1;
        let mut run = Vec::with_capacity(taken.len());
        let mut whole = !dropped;
        for call in taken {
            if call.id < next {
                continue;
            }
            if call.id != next {
                whole = false;
                break;
            }
            next += 1;
            run.push(call);
        }
        (run, whole)
    }
}

/// Commits the calls of [`Outbox::send`]: those that arrive while a commit runs share the
/// next one (group commit), so commits per second do not bound calls per second.
async fn commit_sends(
    pool: Pool,
    clock: Arc<dyn Clock>,
    fresh: Arc<Fresh>,
    mut sends: tokio::sync::mpsc::UnboundedReceiver<SendRequest>,
) {
    while let Some(first) = sends.recv().await {
        let mut batch = vec![first];
        while batch.len() < SEND_BATCH {
            match sends.try_recv() {
                Ok(send) => batch.push(send),
                Err(_) => break,
            }
        }
        let now = clock.now_ms();
        let committed = async {
            let calls: Vec<outbox::NewCall<'_>> = batch
                .iter()
                .map(|send| outbox::NewCall {
                    lane: &send.lane,
                    service_url: &send.service_url,
                    operation: send.operation,
                    call: &send.payload,
                })
                .collect();
            let mut tx = crate::store::begin_write(&pool).await?;
            let ids = outbox::enqueue_many(&mut tx, &calls, now).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(ids)
        }
        .await;
        match committed {
            Ok(ids) => {
                fresh.push(
                    batch
                        .iter()
                        .zip(&ids)
                        .map(|(send, id)| outbox::PendingCall {
                            id: *id,
                            lane: send.lane.clone(),
                            service_url: send.service_url.clone(),
                            operation: send.operation.to_owned(),
                            call: send.payload.clone(),
                            attempts: 0,
                            next_attempt_at: now,
                            created_at: now,
                        }),
                );
                for (send, id) in batch.into_iter().zip(ids) {
                    let _ = send.reply.send(Ok(id));
                }
            }
            Err(e) => {
                let error = e.to_string();
                for send in batch {
                    let _ = send.reply.send(Err(error.clone()));
                }
            }
        }
    }
}

impl Outbox {
    pub fn new(pool: Pool, clock: Arc<dyn Clock>) -> Self {
        let (blocked, blocked_rx) = tokio::sync::mpsc::unbounded_channel();
        let (sends, sends_rx) = tokio::sync::mpsc::unbounded_channel();
        let (whatsapp_outcomes, whatsapp_outcomes_rx) = tokio::sync::mpsc::unbounded_channel();
        let wake = Arc::new(Notify::new());
        let (given_up, given_up_rx) = tokio::sync::mpsc::unbounded_channel();
        let fresh = Arc::new(Fresh::default());
        tokio::spawn(commit_sends(
            pool.clone(),
            Arc::clone(&clock),
            Arc::clone(&fresh),
            sends_rx,
        ));
        Outbox {
            pool,
            clock,
            wake,
            blocked,
            blocked_rx: std::sync::Mutex::new(Some(blocked_rx)),
            whatsapp_outcomes,
            whatsapp_outcomes_rx: std::sync::Mutex::new(Some(whatsapp_outcomes_rx)),
            sends,
            fresh,
            webhook_health: Arc::default(),
            given_up,
            given_up_rx: std::sync::Mutex::new(Some(given_up_rx)),
        }
    }

    /// The conversations whose user blocked or uninstalled the bot, as the Connector reports
    /// them (one receiver: the first caller takes it).
    pub fn take_blocked(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<String>> {
        self.blocked_rx.lock().ok()?.take()
    }

    /// The Teams calls given up, by outbox id, after their outcome is stored (one receiver:
    /// the first caller takes it).
    pub fn take_given_up(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<OutboxId>> {
        self.given_up_rx.lock().ok()?.take()
    }

    /// The WhatsApp sends delivered or given up (one receiver: the first caller takes it).
    pub fn take_whatsapp_outcomes(
        &self,
    ) -> Option<tokio::sync::mpsc::UnboundedReceiver<WhatsAppOutcome>> {
        self.whatsapp_outcomes_rx.lock().ok()?.take()
    }

    /// Queues a Cloud API send inside the caller's transaction (its lane: the customer's
    /// session); the commit wakes the dispatcher.
    pub async fn enqueue_whatsapp(
        &self,
        tx: &mut WriteTransaction,
        send: &crate::whatsapp_cloud::client::CloudSend,
    ) -> anyhow::Result<OutboxId> {
        let payload = serde_json::to_string(send)?;
        self.queue(
            tx,
            &outbox::NewCall {
                lane: &send.lane(),
                service_url: "whatsapp",
                operation: crate::whatsapp_cloud::client::OPERATION,
                call: &payload,
            },
        )
        .await
    }

    /// The tenant stored with `conversation`'s reference, if any (`None` too when the store
    /// cannot say: the call then goes by its conversation's limits alone).
    pub async fn tenant_of_conversation(&self, conversation: &str) -> Option<String> {
        crate::store::conversations::find(&self.pool, "msteams", conversation)
            .await
            .ok()
            .flatten()
            .and_then(|reference| reference.tenant_id)
    }

    /// Queues one row in the caller's transaction, whose commit then wakes the dispatcher.
    async fn queue(
        &self,
        tx: &mut WriteTransaction,
        call: &outbox::NewCall<'_>,
    ) -> anyhow::Result<OutboxId> {
        tx.wake_on_commit(&self.wake);
        Ok(outbox::enqueue(tx, call, self.clock.now_ms()).await?)
    }

    /// Queues a call inside the caller's transaction; the commit wakes the dispatcher.
    pub async fn enqueue(
        &self,
        tx: &mut WriteTransaction,
        service_url: &ServiceUrl,
        call: &ConnectorCall,
    ) -> anyhow::Result<OutboxId> {
        let payload = serde_json::to_string(call)?;
        self.queue(
            tx,
            &outbox::NewCall {
                lane: &lane(service_url, call),
                service_url: service_url.as_str(),
                operation: call.name(),
                call: &payload,
            },
        )
        .await
    }

    /// Queues, inside the caller's transaction, an update of the activity that the queued call
    /// `sent` creates: its id is only known once that call is delivered, which the lane order
    /// guarantees happens first. If `sent` was given up, so is the update. The commit wakes the
    /// dispatcher.
    pub async fn enqueue_update_of(
        &self,
        tx: &mut WriteTransaction,
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
        self.queue(
            tx,
            &outbox::NewCall {
                lane: &lane(service_url, &call),
                service_url: service_url.as_str(),
                operation: UPDATE_OF,
                call: &payload,
            },
        )
        .await
    }

    /// Queues one call, committed with the other calls sent at the same time, and wakes the
    /// worker; answers once the call is durably stored.
    pub async fn send(
        &self,
        service_url: &ServiceUrl,
        call: &ConnectorCall,
    ) -> anyhow::Result<OutboxId> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.sends
            .send(SendRequest {
                lane: lane(service_url, call),
                service_url: service_url.as_str().to_owned(),
                operation: call.name(),
                payload: serde_json::to_string(call)?,
                reply,
            })
            .map_err(|_| anyhow::anyhow!("the outbox has stopped"))?;
        answer
            .await
            .map_err(|_| anyhow::anyhow!("the outbox stopped before storing the call"))?
            .map_err(|e| anyhow::anyhow!("storing an outbox call failed: {e}"))
    }

    /// What wakes the worker, for code that commits calls without holding the outbox.
    pub fn waker(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
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

/// What a queued call is, by who delivers it: read once from the row's stored operation
/// name, then matched on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// A Bot Connector call, its operation named by [`ConnectorCall::name`].
    Connector,
    /// A Connector update of the activity an earlier call created (its id known only once
    /// that call is delivered).
    UpdateOf,
    /// A tenant webhook delivery ([`crate::webhooks`]).
    Webhook,
    /// A WhatsApp Cloud API send ([`crate::whatsapp_cloud`]).
    WhatsApp,
}

impl Operation {
    /// The operation of a row by its stored name: every name that is not one of the others
    /// is a Connector call's.
    pub fn of(stored: &str) -> Self {
        match stored {
            UPDATE_OF => Operation::UpdateOf,
            crate::webhooks::OPERATION => Operation::Webhook,
            crate::whatsapp_cloud::client::OPERATION => Operation::WhatsApp,
            _ => Operation::Connector,
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: i64) -> outbox::PendingCall {
        outbox::PendingCall {
            id,
            lane: "l".into(),
            service_url: "http://x/".into(),
            operation: "send".into(),
            call: "{}".into(),
            attempts: 0,
            next_attempt_at: 0,
            created_at: 0,
        }
    }

    fn ids(calls: &[outbox::PendingCall]) -> Vec<i64> {
        calls.iter().map(|c| c.id).collect()
    }

    #[test]
    fn fresh_calls_are_taken_only_while_they_follow_on_without_a_gap() {
        let fresh = Fresh::default();
        fresh.push([call(5), call(3), call(4)]);
        let (run, whole) = fresh.take_after(2);
        assert_eq!((ids(&run), whole), (vec![3, 4, 5], true));
        // Held already (read from the store meanwhile), then a gap: the store must be read.
        fresh.push([call(6), call(7), call(9), call(10)]);
        let (run, whole) = fresh.take_after(6);
        assert_eq!((ids(&run), whole), (vec![7], false));
        // What was left after the gap is not kept: the store read finds it.
        assert_eq!(ids(&fresh.take_after(8).0), Vec::<i64>::new());
        let (run, whole) = fresh.take_after(8);
        assert!(run.is_empty() && whole);
    }

    #[test]
    fn calls_dropped_past_the_bound_have_the_dispatcher_read_the_store() {
        let fresh = Fresh::default();
        fresh.push((1..=MAX_FRESH as i64 + 1).map(call));
        let (run, whole) = fresh.take_after(0);
        assert!(run.is_empty() && !whole, "dropped: the store must be read");
        let (run, whole) = fresh.take_after(0);
        assert!(run.is_empty() && whole, "told once");
    }
}
