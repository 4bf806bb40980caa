//! The per-tenant actor: the only writer of its tenant's engine state. Each command is applied
//! to the core, then the command, its effects and its reporting facts are written in one
//! transaction; only then is the caller answered. Commands that wait together in the channel
//! share one transaction (group commit). After the commit the effects are handed to their
//! consumers in memory ([`super::effects::EffectQueue`]): nobody polls for them.
//! Timers are the core's stored deadlines: the actor sleeps until the next one and applies a
//! `Tick`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::core::Core;
use super::effects::{self, EffectQueue, Handed};
use super::messages::{Command, Effect, SessionView};
use crate::clock::Clock;
use crate::distribution::model::Agent;
use crate::store::{AsConn, AsPool, Pool, WriteTransaction};

/// A snapshot is taken after this many commands.
const SNAPSHOT_EVERY: i64 = 1000;
/// How often queued customers are told their place when it changed.
const POSITIONS_EVERY: Duration = Duration::from_secs(2);

/// Most commands applied and stored in one transaction.
const MAX_BATCH: usize = 64;

type Reply = oneshot::Sender<anyhow::Result<Vec<Effect>>>;

/// What else a batch of transitions writes in its own transaction, outside the engine: the
/// application's tenant webhook deliveries (`webhooks::Recorder`). The application hands it to
/// [`super::registry::Engines::new`]; the engine only calls it, so it never names what it
/// records.
pub trait EffectRecorder: Send + Sync {
    /// Writes in `tx` what the batch's `effects` (each command's, in order) mean to it, at
    /// `now`. An error fails the batch: nothing of it commits.
    fn record<'a>(
        &'a self,
        tx: &'a mut WriteTransaction,
        tenant: &'a str,
        effects: &'a [Vec<Effect>],
        now: i64,
    ) -> BoxFuture<'a, anyhow::Result<()>>;
}

enum Request {
    Command {
        command: Command,
        reply: Reply,
    },
    View {
        session: String,
        reply: oneshot::Sender<Option<SessionView>>,
    },
    Agent {
        user: String,
        reply: oneshot::Sender<Option<Agent>>,
    },
    Live {
        reply: oneshot::Sender<super::messages::Live>,
    },
    Staffed {
        service: String,
        reply: oneshot::Sender<bool>,
    },
}

/// Handle to one tenant's engine.
#[derive(Clone)]
pub struct Engine {
    tx: mpsc::Sender<Request>,
}

impl Engine {
    /// Loads the tenant's state (snapshot + log replay) and starts its actor. Effects are only
    /// recorded: nobody in this process is handed them (the next application start recovers
    /// them), and no [`EffectRecorder`] runs (no webhook delivery is queued). The application
    /// starts its engines with [`Engine::start_handing_to`].
    pub async fn start(
        pool: Pool,
        tenant: &str,
        clock: Arc<dyn Clock>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<(Engine, JoinHandle<()>)> {
        let detached = Arc::new(EffectQueue::detached());
        Self::start_handing_to(pool, tenant, clock, detached, None, shutdown).await
    }

    /// Loads the tenant's state and starts its actor, which hands every committed effect to
    /// its consumer through `effects` and has `recorder` write in each batch's transaction.
    pub async fn start_handing_to(
        pool: Pool,
        tenant: &str,
        clock: Arc<dyn Clock>,
        effects: Arc<EffectQueue>,
        recorder: Option<Arc<dyn EffectRecorder>>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<(Engine, JoinHandle<()>)> {
        let (core, seq, snapshot_seq) = load(&pool, tenant).await?;
        let (tx, rx) = mpsc::channel(1024);
        let mut actor = TenantActor {
            pool,
            tenant: tenant.to_owned(),
            clock,
            effects,
            recorder,
            core,
            seq,
            snapshot_seq,
            told: std::collections::HashMap::new(),
        };
        // A restored state may hold a queued task an agent can take now (the snapshot of
        // another version's rules): offer it before anyone asks.
        if actor.core.wants_distribution() {
            actor
                .apply(vec![Command::Tick])
                .await
                .context("the engine's start-up distribution")?;
        }
        let handle = tokio::spawn(actor.run(rx, shutdown));
        Ok((Engine { tx }, handle))
    }

    /// Applies a command; the effects are returned once they are durably stored (and handed
    /// to their consumers).
    pub async fn send(&self, command: Command) -> anyhow::Result<Vec<Effect>> {
        self.ask(|reply| Request::Command { command, reply })
            .await?
    }

    /// Sends commands in order without waiting for each answer, so the engine commits them
    /// together (its group commit); returns once all are committed.
    pub async fn send_all(&self, commands: Vec<Command>) -> anyhow::Result<()> {
        let mut answers = Vec::with_capacity(commands.len());
        for command in commands {
            let (reply, answer) = oneshot::channel();
            self.tx
                .send(Request::Command { command, reply })
                .await
                .map_err(|_| anyhow::anyhow!("the engine has stopped"))?;
            answers.push(answer);
        }
        for answer in answers {
            answer
                .await
                .map_err(|_| anyhow::anyhow!("the engine stopped before answering"))??;
        }
        Ok(())
    }

    /// What a customer may see of a session now (state, queue position, agent).
    pub async fn view(&self, session: &str) -> anyhow::Result<Option<SessionView>> {
        let session = session.to_owned();
        self.ask(|reply| Request::View { session, reply }).await
    }

    /// The distribution state of one agent (flags, sessions), if the engine knows them.
    pub async fn agent(&self, user: &str) -> anyhow::Result<Option<Agent>> {
        let user = user.to_owned();
        self.ask(|reply| Request::Agent { user, reply }).await
    }

    /// Whether anyone takes the service's chats now ([`super::core::Core::staffed`]).
    pub async fn staffed(&self, service: &str) -> anyhow::Result<bool> {
        let service = service.to_owned();
        self.ask(|reply| Request::Staffed { service, reply }).await
    }

    /// What is happening in the tenant now: sessions, agents, queues.
    pub async fn live(&self) -> anyhow::Result<super::messages::Live> {
        self.ask(|reply| Request::Live { reply }).await
    }

    async fn ask<T>(
        &self,
        request: impl FnOnce(oneshot::Sender<T>) -> Request,
    ) -> anyhow::Result<T> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(request(reply))
            .await
            .map_err(|_| anyhow::anyhow!("the engine has stopped"))?;
        answer
            .await
            .map_err(|_| anyhow::anyhow!("the engine stopped before answering"))
    }
}

struct TenantActor {
    pool: Pool,
    tenant: String,
    clock: Arc<dyn Clock>,
    effects: Arc<EffectQueue>,
    /// Writes the batch's webhook deliveries in its transaction (none for a detached engine).
    recorder: Option<Arc<dyn EffectRecorder>>,
    core: Core,
    seq: i64,
    snapshot_seq: i64,
    /// The queue place each queued customer was last told (not persisted: after a restart
    /// everyone is told again).
    told: std::collections::HashMap<String, usize>,
}

impl TenantActor {
    async fn run(mut self, mut rx: mpsc::Receiver<Request>, shutdown: CancellationToken) {
        let mut positions = tokio::time::interval(POSITIONS_EVERY);
        positions.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        // A request taken from the channel while gathering a batch, handled next.
        let mut next: Option<Request> = None;
        loop {
            let request = match next.take() {
                Some(request) => request,
                None => {
                    let wait = self.core.next_deadline().map(|t| {
                        Duration::from_millis(u64::try_from(t - self.clock.now_ms()).unwrap_or(0))
                    });
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        request = rx.recv() => match request {
                            None => break,
                            Some(request) => request,
                        },
                        _ = positions.tick() => {
                            if let Err(e) = self.publish_positions().await {
                                tracing::warn!(tenant.id = %self.tenant, error = format!("{e:#}"), "queue places not published");
                            }
                            continue;
                        }
                        () = sleep_or_forever(wait) => {
                            if let Err(e) = self.apply(vec![Command::Tick]).await {
                                tracing::error!(tenant.id = %self.tenant, error = format!("{e:#}"), "engine timer failed");
                                tokio::time::sleep(Duration::from_secs(1)).await;
                            }
                            continue;
                        }
                    }
                }
            };
            match request {
                Request::Command { command, reply } => {
                    // Group commit: the commands already waiting go into the same transaction.
                    let mut commands = vec![command];
                    let mut replies = vec![reply];
                    while commands.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(Request::Command { command, reply }) => {
                                commands.push(command);
                                replies.push(reply);
                            }
                            Ok(other) => {
                                next = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    match self.apply(commands).await {
                        Ok(results) => {
                            for (reply, effects) in replies.into_iter().zip(results) {
                                let _ = reply.send(Ok(effects));
                            }
                        }
                        Err(e) => {
                            let message = format!("{e:#}");
                            for reply in replies {
                                let _ = reply.send(Err(anyhow::anyhow!("{message}")));
                            }
                        }
                    }
                    // After the answers, and preferably when nobody waits: a snapshot
                    // serialises the whole state.
                    self.snapshot_if_due(rx.is_empty() && next.is_none()).await;
                }
                Request::View { session, reply } => {
                    let _ = reply.send(self.core.view(&session));
                }
                Request::Agent { user, reply } => {
                    let _ = reply.send(self.core.distribution.agents.get(&user).cloned());
                }
                Request::Live { reply } => {
                    let _ = reply.send(self.core.live(self.clock.now_ms()));
                }
                Request::Staffed { service, reply } => {
                    let _ = reply.send(self.core.staffed(&service));
                }
            }
        }
        if let Err(e) = self.snapshot().await {
            tracing::warn!(tenant.id = %self.tenant, error = format!("{e:#}"), "no engine snapshot at shutdown; the log will be replayed");
        }
    }

    /// Applies `commands` one after another, stores them with their effects and facts in one
    /// transaction, then hands the effects to their consumers. Returns each command's
    /// effects. If the store refuses, the state goes back to what the store holds and every
    /// command of the batch fails.
    async fn apply(&mut self, commands: Vec<Command>) -> anyhow::Result<Vec<Vec<Effect>>> {
        let now = self.clock.now_ms();
        let mut seq = self.seq;
        // (seq, command, index of its effects in `results`) of each command that changes
        // something.
        let mut logged: Vec<(i64, Command, usize)> = Vec::new();
        let mut results: Vec<Vec<Effect>> = Vec::with_capacity(commands.len());
        for command in commands {
            if self.core.is_noop(&command) {
                results.push(Vec::new());
                continue;
            }
            let effects = self.core.handle(command.clone(), now);
            seq += 1;
            logged.push((seq, command, results.len()));
            results.push(effects);
        }
        if logged.is_empty() {
            return Ok(results);
        }
        let handed = match self.persist(&logged, &results, now).await {
            Ok(handed) => handed,
            Err(e) => {
                // The store refused the transitions: go back to what the store holds.
                let (core, seq, snapshot_seq) = load(&self.pool, &self.tenant).await?;
                (self.core, self.seq, self.snapshot_seq) = (core, seq, snapshot_seq);
                return Err(e.context("persisting an engine transition"));
            }
        };
        self.seq = seq;
        for (_, _, index) in &logged {
            for effect in &results[*index] {
                if let Effect::Report(fact) = effect {
                    super::facts::log(&self.tenant, fact);
                }
            }
        }
        self.effects.hand_over(handed);
        Ok(results)
    }

    /// Writes the log rows, effects and facts of `logged` in one transaction; returns the
    /// effects to hand over.
    async fn persist(
        &self,
        logged: &[(i64, Command, usize)],
        results: &[Vec<Effect>],
        now: i64,
    ) -> anyhow::Result<Vec<Handed>> {
        let mut tx = crate::store::begin_write(&self.pool).await?;
        let mut handed = Vec::new();
        // The log rows in one statement: `[[seq, command], …]`.
        let rows = logged
            .iter()
            .map(|(seq, command, _)| Ok((seq, serde_json::to_string(command)?)))
            .collect::<serde_json::Result<Vec<_>>>()?;
        let rows = serde_json::to_string(&rows)?;
        let sql = tx.conn().pick(
            "INSERT INTO engine_log (tenant_id, seq, at, command)
             SELECT $1, json_extract(value, '$[0]'), $2, json_extract(value, '$[1]')
             FROM json_each($3)",
            "INSERT INTO engine_log (tenant_id, seq, at, command)
             SELECT $1, CAST(t.value->>0 AS BIGINT), $2, t.value->>1
             FROM json_array_elements(CAST($3 AS json)) AS t(value)",
        );
        crate::db!(tx.conn(), |c| {
            sqlx::query(sql)
                .bind(&self.tenant)
                .bind(now)
                .bind(&rows)
                .execute(c)
                .await
                .map(|_| ())
        })?;
        for (seq, _, index) in logged {
            for effect in &results[*index] {
                match effect {
                    Effect::Report(fact) => {
                        super::facts::report(&mut tx, &self.tenant, fact).await?
                    }
                    other => {
                        if let Some(h) =
                            effects::record(&mut tx, &self.tenant, *seq, other, now).await?
                        {
                            handed.push(h);
                        }
                    }
                }
            }
        }
        // Webhook deliveries commit with their transitions, as outbox rows. `results` holds
        // the logged commands' effects (a command that changed nothing has none).
        if let Some(recorder) = &self.recorder {
            recorder.record(&mut tx, &self.tenant, results, now).await?;
        }
        tx.commit().await?;
        Ok(handed)
    }

    /// Hands a `queuePosition` effect over for every queued customer whose place changed
    /// since they were last told.
    async fn publish_positions(&mut self) -> anyhow::Result<()> {
        let now: std::collections::HashMap<String, usize> = self
            .core
            .queue_positions()
            .map(|(s, p)| (s.to_owned(), p))
            .collect();
        let changed: Vec<Effect> = now
            .iter()
            .filter(|(s, p)| self.told.get(*s) != Some(*p))
            .map(|(s, p)| Effect::QueuePosition {
                session: s.clone(),
                position: *p,
            })
            .collect();
        if !changed.is_empty() {
            let at = self.clock.now_ms();
            let mut tx = crate::store::begin_write(&self.pool).await?;
            let mut handed = Vec::new();
            for effect in &changed {
                if let Some(h) =
                    effects::record(&mut tx, &self.tenant, self.seq, effect, at).await?
                {
                    handed.push(h);
                }
            }
            tx.commit().await?;
            self.effects.hand_over(handed);
        }
        self.told = now;
        Ok(())
    }

    /// Takes a snapshot when [`SNAPSHOT_EVERY`] commands were logged since the last one and
    /// the actor is `idle`, or when ten times as many were, idle or not.
    async fn snapshot_if_due(&mut self, idle: bool) {
        let since = self.seq - self.snapshot_seq;
        if (idle && since >= SNAPSHOT_EVERY) || since >= 10 * SNAPSHOT_EVERY {
            let started = std::time::Instant::now();
            match self.snapshot().await {
                Ok(()) => tracing::debug!(
                    tenant.id = %self.tenant,
                    engine.seq = self.seq,
                    elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                    "engine snapshot taken"
                ),
                // The commands are stored: a missing snapshot only means a longer replay.
                Err(e) => {
                    tracing::warn!(tenant.id = %self.tenant, error = format!("{e:#}"), "engine snapshot failed")
                }
            }
        }
    }

    async fn snapshot(&mut self) -> anyhow::Result<()> {
        let state = serde_json::to_string(&self.core)?;
        let taken_at = self.clock.now_ms();
        crate::db!(self.pool.on(), |c| {
            sqlx::query(
                "INSERT INTO engine_snapshots (tenant_id, seq, state, taken_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant_id) DO UPDATE SET seq = excluded.seq, state = excluded.state, taken_at = excluded.taken_at",
            )
            .bind(&self.tenant)
            .bind(self.seq)
            .bind(&state)
            .bind(taken_at)
            .execute(c)
            .await
            .map(|_| ())
        })?;
        crate::db!(self.pool.on(), |c| {
            sqlx::query("DELETE FROM engine_log WHERE tenant_id = $1 AND seq <= $2")
                .bind(&self.tenant)
                .bind(self.seq)
                .execute(c)
                .await
                .map(|_| ())
        })?;
        self.snapshot_seq = self.seq;
        Ok(())
    }
}

async fn sleep_or_forever(wait: Option<Duration>) {
    match wait {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

/// The last snapshot plus every logged command after it, replayed.
async fn load(pool: &(impl AsPool + ?Sized), tenant: &str) -> anyhow::Result<(Core, i64, i64)> {
    let snapshot: Option<(i64, String)> = crate::db!(pool.on(), |c| {
        sqlx::query_as("SELECT seq, state FROM engine_snapshots WHERE tenant_id = $1")
            .bind(tenant)
            .fetch_optional(c)
            .await
    })?;
    let (mut core, snapshot_seq) = match snapshot {
        Some((seq, state)) => {
            let core: Core = serde_json::from_str(&state).context("reading the engine snapshot")?;
            (core.restore(), seq)
        }
        None => (Core::default(), 0),
    };
    let rows: Vec<(i64, i64, String)> = crate::db!(pool.on(), |c| {
        sqlx::query_as(
            "SELECT seq, at, command FROM engine_log WHERE tenant_id = $1 AND seq > $2 ORDER BY seq",
        )
        .bind(tenant)
        .bind(snapshot_seq)
        .fetch_all(c)
        .await
    })?;
    let mut seq = snapshot_seq;
    for (row_seq, at, command) in rows {
        let command: Command = serde_json::from_str(&command).context("reading the engine log")?;
        // The effects were stored when the command first ran; replay only rebuilds the state.
        let _ = core.handle(command, at);
        seq = row_seq;
    }
    Ok((core, seq, snapshot_seq))
}
