//! The engine's effect queue, and the only code that runs SQL against `engine_effects`.
//!
//! The engine actor records each effect in the transaction of the command that produced it
//! ([`record`]) and, after the commit, hands the recorded effects to their consumers in memory
//! ([`EffectQueue::hand_over`]): each consumer has an [`Inbox`] it waits on. The table is
//! written to record what became of an effect ([`finish`]) and read once at start
//! ([`EffectQueue::recover`]) to refill the inboxes with what was still pending — never
//! scanned to discover work.
//!
//! Who consumes an effect is decided by [`Consumer::of`], an exhaustive match over the
//! engine's [`Effect`]: a new effect without a consumer does not compile.
//!
//! This module does not carry effects out; the consumers do (`customer::events`,
//! `bot::teams_worker`, `engine::http_worker`).

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use anyhow::Context;
use tokio::sync::Notify;

use super::messages::Effect;
use crate::store::{AsConn, AsPool, IntoExecutor, on_executor};

/// Who carries an effect out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Consumer {
    /// The customer's event stream (`customer::events`).
    Customer,
    /// Teams: cards, chatrooms, relays (`bot::teams_worker`).
    Teams,
    /// The workflow's outbound HTTP requests (`engine::http_worker`).
    Http,
    /// Tenant webhooks. The webhook module delivers these inside the actor's transaction, so
    /// the effect is recorded as done when it is inserted and is never left pending.
    Webhooks,
    /// Reporting facts: written by the actor to the report tables, not to `engine_effects`.
    Reporting,
}

impl Consumer {
    /// The consumer of `effect`. No `_` arm: adding an [`Effect`] variant means deciding here
    /// who carries it out.
    pub fn of(effect: &Effect) -> Consumer {
        match effect {
            Effect::ToCustomer { .. } | Effect::QueuePosition { .. } => Consumer::Customer,
            Effect::SendInvitation { .. }
            | Effect::UpdateInvitation { .. }
            | Effect::InvitationUnavailable { .. }
            | Effect::OpenChatroom { .. }
            | Effect::RelayToAgent { .. }
            | Effect::NoteToAgent { .. }
            | Effect::CloseChatroom { .. }
            | Effect::HandOver { .. }
            | Effect::AgentState { .. } => Consumer::Teams,
            Effect::HttpRequest { .. } => Consumer::Http,
            Effect::CollectInformation { .. } => Consumer::Webhooks,
            Effect::Report(_) => Consumer::Reporting,
        }
    }

    /// The state an effect of this consumer is stored with; `None`: not stored as an effect.
    fn initial_state(self) -> Option<EffectState> {
        match self {
            Consumer::Customer | Consumer::Teams | Consumer::Http => Some(EffectState::Pending),
            Consumer::Webhooks => Some(EffectState::Done),
            Consumer::Reporting => None,
        }
    }
}

/// What became of an effect. Stored as `pending`, `done`, `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EffectState {
    /// Not yet carried out (in a consumer's inbox).
    Pending,
    /// Carried out, or nothing was left to do.
    Done,
    /// Set aside after repeated failures.
    Failed,
}

impl EffectState {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            EffectState::Pending => "pending",
            EffectState::Done => "done",
            EffectState::Failed => "failed",
        }
    }
}

/// An effect's row id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EffectId(i64);

impl EffectId {
    pub fn get(self) -> i64 {
        self.0
    }

    #[cfg(test)]
    pub(crate) fn from_raw(id: i64) -> Self {
        EffectId(id)
    }
}

impl std::fmt::Display for EffectId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A recorded effect, as the actor hands it to its consumer.
#[derive(Debug, Clone, PartialEq)]
pub struct Handed {
    pub id: EffectId,
    pub tenant: String,
    /// The engine log position of the command that produced it (effects of one command share
    /// it).
    pub seq: i64,
    pub effect: Effect,
}

/// Stores `effect` in the transaction of the command that produced it. Returns what to hand
/// to the consumer after the commit; `None` for effects recorded as done at once (webhooks)
/// and for reporting facts, which are not stored here (the caller writes them).
pub async fn record(
    tx: &mut (impl AsConn + ?Sized),
    tenant: &str,
    seq: i64,
    effect: &Effect,
    at: i64,
) -> anyhow::Result<Option<Handed>> {
    let Some(state) = Consumer::of(effect).initial_state() else {
        return Ok(None);
    };
    let stored = serde_json::to_string(effect)?;
    let id: i64 = crate::db!(tx.conn(), |c| {
        sqlx::query_scalar(
            "INSERT INTO engine_effects (tenant_id, seq, effect, created_at, kind, state)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(tenant)
        .bind(seq)
        .bind(&stored)
        .bind(at)
        .bind(effect.kind())
        .bind(state.as_str())
        .fetch_one(c)
        .await
    })?;
    Ok((state == EffectState::Pending).then(|| Handed {
        id: EffectId(id),
        tenant: tenant.to_owned(),
        seq,
        effect: effect.clone(),
    }))
}

/// Records what became of an effect (in the consumer's transaction, or on its own).
pub async fn finish<'e>(
    executor: impl IntoExecutor<'e>,
    id: EffectId,
    state: EffectState,
) -> sqlx::Result<()> {
    on_executor!(executor.executor(), |c| {
        sqlx::query("UPDATE engine_effects SET state = $2 WHERE id = $1")
            .bind(id.0)
            .bind(state.as_str())
            .execute(c)
            .await
            .map(|_| ())
    })
}

/// Records what became of several effects in one statement.
pub async fn finish_all<'e>(
    executor: impl IntoExecutor<'e>,
    ids: &[EffectId],
    state: EffectState,
) -> sqlx::Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
    let ids = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into());
    let executor = executor.executor();
    let sql = executor.pick(
        "UPDATE engine_effects SET state = $2 WHERE id IN (SELECT value FROM json_each($1))",
        "UPDATE engine_effects SET state = $2
         WHERE id IN (SELECT CAST(value AS BIGINT) FROM json_array_elements_text(CAST($1 AS json)) AS t(value))",
    );
    on_executor!(executor, |c| {
        sqlx::query(sql)
            .bind(&ids)
            .bind(state.as_str())
            .execute(c)
            .await
            .map(|_| ())
    })
}

/// Pending effects by kind (the metrics gauge).
pub async fn pending_by_kind(pool: &(impl AsPool + ?Sized)) -> sqlx::Result<Vec<(String, i64)>> {
    crate::db!(pool.on(), |c| {
        sqlx::query_as(
            "SELECT kind, COUNT(*) AS n FROM engine_effects WHERE state = $1
             GROUP BY kind ORDER BY kind",
        )
        .bind(EffectState::Pending.as_str())
        .fetch_all(c)
        .await
    })
}

/// Deletes settled effects created before `before` (they quote customers); returns how many.
pub async fn purge_settled(pool: &(impl AsPool + ?Sized), before: i64) -> sqlx::Result<u64> {
    crate::db!(pool.on(), |c| {
        sqlx::query("DELETE FROM engine_effects WHERE state <> $1 AND created_at < $2")
            .bind(EffectState::Pending.as_str())
            .bind(before)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })
}

/// Every pending effect, in the order it was recorded. Unreadable ones are set aside as
/// failed; effects whose consumer records them at insert (webhooks) but were stored pending by
/// an earlier version are marked done.
async fn pending(pool: &(impl AsPool + ?Sized)) -> anyhow::Result<Vec<Handed>> {
    let rows: Vec<(i64, String, i64, String)> = crate::db!(pool.on(), |c| {
        sqlx::query_as(
            "SELECT id, tenant_id, seq, effect FROM engine_effects WHERE state = $1 ORDER BY id",
        )
        .bind(EffectState::Pending.as_str())
        .fetch_all(c)
        .await
    })?;
    let mut out = Vec::with_capacity(rows.len());
    for (id, tenant, seq, effect) in rows {
        let id = EffectId(id);
        let effect = serde_json::from_str::<Effect>(&effect);
        let settled = match &effect {
            Err(e) => {
                tracing::error!(effect.id = %id, error = %e, "a stored engine effect could not be read");
                Some(EffectState::Failed)
            }
            Ok(effect) => match Consumer::of(effect).initial_state() {
                Some(EffectState::Pending) => None,
                _ => Some(EffectState::Done),
            },
        };
        match (settled, effect) {
            (Some(state), _) => finish(pool, id, state).await?,
            (None, Ok(effect)) => out.push(Handed {
                id,
                tenant,
                seq,
                effect,
            }),
            (None, Err(_)) => {}
        }
    }
    Ok(out)
}

/// One consumer's pending effects, in order, with a signal when more arrive.
#[derive(Default)]
pub struct Inbox {
    queue: Mutex<VecDeque<Handed>>,
    arrived: Notify,
}

impl Inbox {
    fn put(&self, effects: impl IntoIterator<Item = Handed>) {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(effects);
        self.arrived.notify_one();
    }

    /// Takes up to `max` effects from the front.
    pub fn take(&self, max: usize) -> Vec<Handed> {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let n = max.min(queue.len());
        queue.drain(..n).collect()
    }

    /// Puts effects taken with [`Inbox::take`] back in front, in their order (their
    /// transaction failed).
    pub fn put_back(&self, effects: Vec<Handed>) {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        for effect in effects.into_iter().rev() {
            queue.push_front(effect);
        }
        drop(queue);
        self.arrived.notify_one();
    }

    /// Resolves when effects arrived since the last call (at once if some arrived while
    /// nobody waited). Take them with [`Inbox::take`].
    pub async fn arrived(&self) {
        self.arrived.notified().await;
    }

    /// How many effects wait.
    pub fn len(&self) -> usize {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Puts recovered effects in front of what was handed over meanwhile, dropping handed
    /// effects that the recovery also read (ids are assigned in commit order, so anything
    /// handed over with an id up to the last recovered one was read by the recovery).
    fn recovered(&self, effects: Vec<Handed>) {
        let Some(last) = effects.last().map(|h| h.id) else {
            return;
        };
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        queue.retain(|h| h.id > last);
        for effect in effects.into_iter().rev() {
            queue.push_front(effect);
        }
        drop(queue);
        self.arrived.notify_one();
    }
}

/// The consumers' inboxes: the actor hands effects over after each commit; each consumer
/// takes from its own inbox.
pub struct EffectQueue {
    customer: Inbox,
    teams: Inbox,
    http: Inbox,
    /// Hands nothing over (an engine started on its own, e.g. by a test or a tool): effects
    /// are only recorded, for the next start's recovery.
    detached: bool,
}

impl EffectQueue {
    pub fn new() -> Self {
        EffectQueue {
            customer: Inbox::default(),
            teams: Inbox::default(),
            http: Inbox::default(),
            detached: false,
        }
    }

    /// A queue that keeps nothing in memory: effects are only recorded.
    pub fn detached() -> Self {
        EffectQueue {
            detached: true,
            ..EffectQueue::new()
        }
    }

    /// The customer events' inbox.
    pub fn customer(&self) -> &Inbox {
        &self.customer
    }

    /// The Teams worker's inbox.
    pub fn teams(&self) -> &Inbox {
        &self.teams
    }

    /// The HTTP-request worker's inbox.
    pub fn http(&self) -> &Inbox {
        &self.http
    }

    fn inbox(&self, consumer: Consumer) -> Option<&Inbox> {
        match consumer {
            Consumer::Customer => Some(&self.customer),
            Consumer::Teams => Some(&self.teams),
            Consumer::Http => Some(&self.http),
            Consumer::Webhooks | Consumer::Reporting => None,
        }
    }

    /// Hands committed effects to their consumers, keeping their order per consumer.
    pub fn hand_over(&self, effects: Vec<Handed>) {
        if self.detached || effects.is_empty() {
            return;
        }
        let (mut customer, mut teams, mut http) = (Vec::new(), Vec::new(), Vec::new());
        for handed in effects {
            match Consumer::of(&handed.effect) {
                Consumer::Customer => customer.push(handed),
                Consumer::Teams => teams.push(handed),
                Consumer::Http => http.push(handed),
                Consumer::Webhooks | Consumer::Reporting => {}
            }
        }
        for (inbox, batch) in [
            (&self.customer, customer),
            (&self.teams, teams),
            (&self.http, http),
        ] {
            if !batch.is_empty() {
                inbox.put(batch);
            }
        }
    }

    /// Fills the inboxes with every effect still pending in the store (at start, before the
    /// engines run); returns how many.
    pub async fn recover(&self, pool: &(impl AsPool + ?Sized)) -> anyhow::Result<usize> {
        let pending = pending(pool)
            .await
            .context("reading the pending engine effects")?;
        let n = pending.len();
        let (mut customer, mut teams, mut http) = (Vec::new(), Vec::new(), Vec::new());
        for handed in pending {
            match Consumer::of(&handed.effect) {
                Consumer::Customer => customer.push(handed),
                Consumer::Teams => teams.push(handed),
                Consumer::Http => http.push(handed),
                Consumer::Webhooks | Consumer::Reporting => {}
            }
        }
        if !self.detached {
            for (consumer, batch) in [
                (Consumer::Customer, customer),
                (Consumer::Teams, teams),
                (Consumer::Http, http),
            ] {
                if let Some(inbox) = self.inbox(consumer) {
                    inbox.recovered(batch);
                }
            }
        }
        Ok(n)
    }
}

impl Default for EffectQueue {
    fn default() -> Self {
        EffectQueue::new()
    }
}

#[cfg(test)]
mod tests;
