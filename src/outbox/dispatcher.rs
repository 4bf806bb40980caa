//! The outbox's dispatcher: reads due calls in lanes (one per conversation, in order),
//! delivers up to `MAX_IN_FLIGHT` at once through the Connector client, settles each (done,
//! retry with backoff, given up), and drains on shutdown. Queuing calls is [`super::Outbox`]'s.

use super::*;

mod pools;
mod whatsapp;

use pools::Lanes;

use crate::webhooks::health::{Admit, AttemptOutcome, Health};

/// The worker that drains the outbox.
pub struct Dispatcher {
    outbox: Arc<Outbox>,
    connector: Arc<ConnectorClient>,
    settings: OutboxSettings,
    webhooks: crate::webhooks::Sender,
    /// The Cloud API client WhatsApp sends go through.
    whatsapp: Option<Arc<crate::whatsapp_cloud::client::CloudClient>>,
    /// Connector 500s each pending call has met in this process, by outbox id (bounded by
    /// [`SERVER_ERROR_ATTEMPTS`]; forgotten once the call is settled for good).
    server_errors: std::sync::Mutex<HashMap<i64, u32>>,
    /// The tenant of each conversation called (for Teams' limit per tenant), as stored with
    /// its conversation reference.
    tenants: moka::sync::Cache<String, Option<String>>,
}

/// Rows read from the store per query when catching up.
const READ_BATCH: i64 = 4096;

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
            whatsapp: None,
            server_errors: std::sync::Mutex::default(),
            tenants: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(std::time::Duration::from_secs(3600))
                .build(),
        }
    }

    /// Delivers WhatsApp sends through `client`.
    pub fn with_whatsapp(
        mut self,
        client: Arc<crate::whatsapp_cloud::client::CloudClient>,
    ) -> Self {
        self.whatsapp = Some(client);
        self
    }

    /// Runs until `shutdown` is cancelled, then waits briefly for calls in flight.
    pub async fn run(self, shutdown: CancellationToken) {
        let this = Arc::new(self);
        let mut lanes = Lanes::default();
        let mut tasks: JoinSet<Attempted> = JoinSet::new();
        let mut hooks: JoinSet<Attempted> = JoinSet::new();
        let health = Arc::clone(&this.outbox.webhook_health);
        let mut next_purge = tokio::time::Instant::now();
        let mut catch_up = true;
        let mut take_fresh = false;
        loop {
            if tokio::time::Instant::now() >= next_purge {
                this.purge().await;
                next_purge += PURGE_EVERY;
            }
            if take_fresh {
                take_fresh = false;
                let (fresh, whole) = this.outbox.fresh.take_after(lanes.high_water);
                lanes.add(fresh);
                // A gap: a row committed another way comes first.
                catch_up |= !whole;
            }
            if catch_up {
                catch_up = false;
                this.read_new(&mut lanes, &shutdown).await;
            }
            let now = this.outbox.clock.now_ms();
            lanes.unpark(now);
            while tasks.len() < MAX_IN_FLIGHT {
                let Some(head) = lanes.next_ready(now) else {
                    break;
                };
                let this = Arc::clone(&this);
                let span = tracing::info_span!("outbox.deliver", outbox.id = head.id, outbox.operation = %head.operation);
                tasks.spawn(
                    async move {
                        let call = head.clone();
                        (call, this.deliver(head).await)
                    }
                    .instrument(span),
                );
            }
            while hooks.len() < MAX_WEBHOOKS_IN_FLIGHT {
                let Some(head) = lanes.next_hook(&health, now) else {
                    break;
                };
                let this = Arc::clone(&this);
                let span = tracing::info_span!("outbox.deliver", outbox.id = head.id, outbox.operation = %head.operation);
                hooks.spawn(
                    async move {
                        let call = head.clone();
                        (call, this.deliver_webhook(head).await)
                    }
                    .instrument(span),
                );
            }
            // After the heads not due and the breakers that opened parked their lanes.
            let next_deadline = lanes.next_deadline();
            let sleep = next_deadline.map_or(IDLE_SCAN, |at| {
                Duration::from_millis(u64::try_from(at - now).unwrap_or(0)).min(IDLE_SCAN)
            });
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = this.outbox.wake.notified() => catch_up = true,
                () = this.outbox.fresh.wake.notified() => take_fresh = true,
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    // Record every attempt finished by now in one transaction.
                    let settled = finished(done, &mut tasks);
                    this.record(&settled, &shutdown).await;
                    this.settled(&mut lanes, settled);
                }
                Some(done) = hooks.join_next(), if !hooks.is_empty() => {
                    let settled = finished(done, &mut hooks);
                    this.record(&settled, &shutdown).await;
                    this.settled(&mut lanes, settled);
                }
                () = tokio::time::sleep(sleep) => {
                    // Nothing was due for a while: look for rows another process committed
                    // without waking this one (an indexed read of ids above the highest held).
                    catch_up = next_deadline.is_none() && tasks.is_empty() && hooks.is_empty();
                }
            }
        }
        let drain = async {
            let mut settled = Vec::new();
            while let Some(done) = tasks.join_next().await {
                if let Ok(done) = done {
                    settled.push(done);
                }
            }
            // A webhook attempt in flight is retried after restart rather than waited for.
            hooks.abort_all();
            settled
        };
        match tokio::time::timeout(DRAIN_TIMEOUT, drain).await {
            Ok(settled) => {
                let settlements: Vec<_> = settled.into_iter().map(|(_, s)| s).collect();
                if let Err(e) = outbox::settle(&this.outbox.pool, &settlements).await {
                    tracing::warn!(error = %e, "outbox results at shutdown not recorded; those calls will be sent again after restart");
                }
            }
            Err(_) => tracing::warn!(
                "outbox calls still in flight at shutdown will be retried after restart"
            ),
        }
        tracing::debug!(
            outbox.pending = lanes.pending(),
            "outbox dispatcher stopped"
        );
    }

    /// Moves each lane on after its head's outcome was recorded: a webhook endpoint's waiting
    /// lanes try again, and a Teams call given up is handed to whoever tells its recipient.
    fn settled(&self, lanes: &mut Lanes, settled: Vec<Attempted>) {
        for (call, settlement) in settled {
            match (&settlement, endpoint_of(&call.lane)) {
                (_, Some((tenant, endpoint))) => {
                    lanes.endpoint_freed((tenant.to_owned(), endpoint.to_owned()));
                }
                (outbox::Settlement::Failed { id, .. }, None) => {
                    self.forget_server_errors(*id);
                    let _ = self.outbox.given_up.send(*id);
                }
                (outbox::Settlement::Delivered { id, .. }, None) => self.forget_server_errors(*id),
                (outbox::Settlement::Retry { .. }, None) => {}
            }
            lanes.settled(call, &settlement);
        }
    }

    /// Reads the calls committed since the highest id held (all pending calls at start), after
    /// taking those [`super::Fresh`] holds that follow on from it.
    async fn read_new(&self, lanes: &mut Lanes, shutdown: &CancellationToken) {
        let (fresh, _) = self.outbox.fresh.take_after(lanes.high_water);
        lanes.add(fresh);
        loop {
            match outbox::pending_after(&self.outbox.pool, lanes.high_water, READ_BATCH).await {
                Ok(calls) => {
                    let full = calls.len() as i64 == READ_BATCH;
                    lanes.add(calls);
                    if !full {
                        return;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "reading the outbox failed");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
    }

    /// Records settlements; a lane moves on only once its head's outcome is stored, so a crash
    /// re-sends at most the one call per lane that was in flight.
    async fn record(&self, settled: &[Attempted], shutdown: &CancellationToken) {
        let settlements: Vec<_> = settled.iter().map(|(_, s)| s.clone()).collect();
        loop {
            match outbox::settle(&self.outbox.pool, &settlements).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::error!(error = %e, "recording outbox results failed; retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
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

    /// The call of an outbox row, with an `update_of` resolved to the activity id it needs.
    async fn decode(
        &self,
        head: &outbox::PendingCall,
        operation: Operation,
    ) -> Result<ConnectorCall, &'static str> {
        if operation != Operation::UpdateOf {
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

    /// Attempts one call; the outcome is recorded by the caller, with others.
    /// The tenant a Connector call counts against: the one it names, else the one stored with
    /// its conversation's reference (read once per conversation).
    async fn tenant_of(&self, call: &ConnectorCall) -> Option<String> {
        if let Some(tenant) = call.tenant() {
            return Some(tenant);
        }
        let conversation = call.conversation()?;
        if let Some(known) = self.tenants.get(conversation) {
            return known;
        }
        let found = self.outbox.tenant_of_conversation(conversation).await;
        self.tenants.insert(conversation.to_owned(), found.clone());
        found
    }

    async fn deliver(&self, head: outbox::PendingCall) -> outbox::Settlement {
        let operation = Operation::of(&head.operation);
        match operation {
            Operation::Webhook => return self.deliver_webhook(head).await,
            Operation::WhatsApp => return self.deliver_whatsapp(head).await,
            Operation::Connector | Operation::UpdateOf => {}
        }
        let call = match self.decode(&head, operation).await {
            Ok(call) => call,
            Err(reason) => return give_up(&head, head.attempts, reason),
        };
        let Ok(service_url) = ServiceUrl::parse(&head.service_url) else {
            return give_up(&head, head.attempts, "invalid_service_url");
        };
        let now = self.outbox.clock.now_ms();
        let max_age = i64::try_from(self.settings.max_age.as_millis()).unwrap_or(i64::MAX);
        if now - head.created_at > max_age {
            return give_up(&head, head.attempts, "expired");
        }
        let tenant = self.tenant_of(&call).await;
        let result = self
            .connector
            .execute_for(tenant.as_deref(), &service_url, &call)
            .await;
        let now = self.outbox.clock.now_ms();
        match result {
            Ok(delivered) => {
                self.connector
                    .stats()
                    .delivered_after((now - head.created_at).max(0) as f64 / 1000.0);
                let attempts = head.attempts + i64::from(delivered.attempts);
                tracing::debug!(
                    outbox.id = head.id,
                    outbox.attempts = attempts,
                    "outbox call delivered"
                );
                outbox::Settlement::Delivered {
                    id: head.id,
                    attempts,
                    result_id: delivered.id,
                    at: now,
                    keep_payload: false,
                }
            }
            Err(failed) if failed.error.is_retryable() => {
                let attempts = head.attempts + i64::from(failed.attempts);
                self.retry_later(
                    &head,
                    attempts,
                    failed.error.retry_after(),
                    failed.error.code(),
                    now,
                )
            }
            Err(failed) if self.server_error_again(&head, &failed.error) => {
                let attempts = head.attempts + i64::from(failed.attempts);
                self.retry_later(&head, attempts, None, failed.error.code(), now)
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
                give_up(&head, attempts, &failed.error.code())
            }
        }
    }

    fn forget_server_errors(&self, id: i64) {
        self.server_errors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&id);
    }

    /// Whether a call that met a Connector 500 is tried again: up to
    /// [`SERVER_ERROR_ATTEMPTS`] 500s per call.
    fn server_error_again(&self, head: &outbox::PendingCall, error: &ConnectorError) -> bool {
        if !matches!(error, ConnectorError::Status { status: 500, .. }) {
            return false;
        }
        let mut seen = self
            .server_errors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = seen.entry(head.id).or_insert(0);
        *n += 1;
        if *n < SERVER_ERROR_ATTEMPTS {
            return true;
        }
        seen.remove(&head.id);
        false
    }

    /// Parks a call until the receiver's `Retry-After` or the next backoff step (at least the
    /// first one).
    fn retry_later(
        &self,
        head: &outbox::PendingCall,
        attempts: i64,
        retry_after: Option<Duration>,
        error: String,
        now: i64,
    ) -> outbox::Settlement {
        let backoff = self.connector.backoff();
        let delay = backoff
            .delay_for(u32::try_from(attempts).unwrap_or(u32::MAX), retry_after)
            .max(backoff.delay(1));
        let delay_ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
        tracing::warn!(
            outbox.id = head.id,
            outbox.operation = %head.operation,
            outbox.attempts = attempts,
            outbox.error = %error,
            retry.delay_ms = delay_ms,
            "outbox call parked for a later retry"
        );
        outbox::Settlement::Retry {
            id: head.id,
            attempts,
            next_attempt_at: now.saturating_add(delay_ms),
            error,
        }
    }

    /// A tenant webhook ([`crate::webhooks`]): one attempt, then delivered, parked with the
    /// Connector's backoff (or the receiver's `Retry-After`), or given up. Its payload is kept
    /// after delivery: the admin API lists deliveries from it.
    async fn deliver_webhook(&self, head: outbox::PendingCall) -> outbox::Settlement {
        let max_age = i64::try_from(self.settings.max_age.as_millis()).unwrap_or(i64::MAX);
        let result = if self.outbox.clock.now_ms() - head.created_at > max_age {
            Err(crate::webhooks::sender::WebhookFailure {
                retryable: false,
                retry_after: None,
                code: "expired".to_owned(),
            })
        } else {
            self.webhooks.deliver(&head.call).await
        };
        let (attempts, now) = (head.attempts + 1, self.outbox.clock.now_ms());
        if let Some((tenant, endpoint)) = endpoint_of(&head.lane) {
            let outcome = match &result {
                Ok(()) => AttemptOutcome::Delivered,
                // Our side, not the endpoint's.
                Err(f) if f.code == "store_unavailable" || f.code == "client_unavailable" => {
                    AttemptOutcome::Neutral
                }
                Err(f) if f.retryable => AttemptOutcome::Unhealthy,
                Err(_) => AttemptOutcome::Neutral,
            };
            self.outbox
                .webhook_health
                .finished(tenant, endpoint, outcome, now);
        }
        match result {
            Ok(()) => outbox::Settlement::Delivered {
                id: head.id,
                attempts,
                result_id: None,
                at: now,
                keep_payload: true,
            },
            Err(failed) if failed.retryable => {
                self.retry_later(&head, attempts, failed.retry_after, failed.code, now)
            }
            Err(failed) => give_up(&head, attempts, &failed.code),
        }
    }
}

/// A call attempted, and what became of it.
type Attempted = (outbox::PendingCall, outbox::Settlement);

/// The outcomes of the attempts finished by now: `first`, and those of `set` done too.
fn finished(
    first: Result<Attempted, tokio::task::JoinError>,
    set: &mut JoinSet<Attempted>,
) -> Vec<Attempted> {
    let mut settled = Vec::new();
    let mut push = |done: Result<Attempted, tokio::task::JoinError>| match done {
        Ok(done) => settled.push(done),
        Err(e) => tracing::error!(error = %e, "an outbox delivery task failed"),
    };
    push(first);
    while let Some(done) = set.try_join_next() {
        push(done);
    }
    settled
}

/// The `(tenant, endpoint)` of a webhook lane (`webhook|tenant|endpoint|session`); `None` for
/// every other lane.
fn endpoint_of(lane: &str) -> Option<(&str, &str)> {
    let rest = lane
        .strip_prefix(crate::webhooks::OPERATION)?
        .strip_prefix('|')?;
    let mut parts = rest.splitn(3, '|');
    Some((parts.next()?, parts.next()?))
}

fn give_up(head: &outbox::PendingCall, attempts: i64, reason: &str) -> outbox::Settlement {
    tracing::warn!(
        outbox.id = head.id,
        outbox.error = reason,
        "outbox call given up"
    );
    outbox::Settlement::Failed {
        id: head.id,
        attempts,
        error: reason.to_owned(),
    }
}
