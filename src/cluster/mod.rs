//! Several instances on one PostgreSQL database (DESIGN §8b). One instance at a time owns the
//! tenants: it runs their engines, effect consumers, outbox, timers and WhatsApp pass. The
//! others accept every request and forward it to the owner ([`forward`]), except the health
//! endpoints, `/metrics` and customer event streams, which they serve themselves from the store,
//! woken by the owner's `NOTIFY` ([`listen`]).
//!
//! Ownership is a lease in the store (`cluster_lease`, one row) and a session advisory lock:
//! - the owner holds the lock on a connection of its own and renews the lease every
//!   `lease / 5` on it. When its process dies, PostgreSQL ends that session and releases the
//!   lock at once, and the next instance waiting for it (in `pg_advisory_lock`) takes over;
//! - a paused or cut-off owner keeps its session, but its lease passes: the others then end its
//!   sessions (`pg_terminate_backend`, by its `application_name`), which releases the lock;
//! - taking over raises the lease's `epoch`. Every write transaction of the owner checks the
//!   epoch under `FOR SHARE` ([`crate::store::postgres::Fence`]), and so does every connection
//!   it opens: a former owner that comes back cannot commit, learns that it lost the lease, and
//!   stops (its supervisor starts it again, as a follower).

pub mod forward;
pub mod listen;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use anyhow::Context;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::store::postgres::Fence;

/// Any fixed key: the session advisory lock the owner holds.
const OWNER_LOCK: i64 = 0x5357_4254_4348_0001;

/// The database's clock in ms: leases are compared on one clock, whatever the hosts' clocks say.
const NOW_MS: &str = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)";

/// The owner of the tenants, as the lease says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub instance: String,
    /// Where the other instances reach it.
    pub url: String,
    pub epoch: i64,
    /// Its lease has passed (it is taken over shortly).
    pub expired: bool,
}

/// This instance's place among the instances that share the database.
pub struct Cluster {
    /// This instance's id (a UUID, new at each start); its sessions are named after it.
    instance: String,
    advertise_url: String,
    pool: PgPool,
    fence: Arc<Fence>,
    /// Authenticates forwarded requests (made once, kept in the lease's row).
    secret: Vec<u8>,
    lease: Duration,
    /// The owner as last read from the lease.
    owner: watch::Sender<Option<Owner>>,
    /// When the lease was last read or renewed (ms since start of `epoch_base`), for `/readyz`.
    last_seen: AtomicI64,
    /// The connection that holds the owner lock, while this instance owns the tenants.
    holding: tokio::sync::Mutex<Option<PgConnection>>,
    /// The client forwarded requests go through.
    http: reqwest::Client,
    started: std::time::Instant,
}

/// The name of an instance's PostgreSQL sessions.
pub fn application_name(instance: &str) -> String {
    format!("switchboard/{instance}")
}

/// A new instance id.
pub fn new_instance_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl Cluster {
    /// Joins the instances of the database behind `pool`: makes the lease's row if this is the
    /// first instance ever, and reads the owner.
    pub async fn join(
        pool: PgPool,
        fence: Arc<Fence>,
        instance: String,
        advertise_url: String,
        lease: Duration,
    ) -> anyhow::Result<Arc<Self>> {
        let secret = crate::security::new_secret();
        sqlx::query(
            "INSERT INTO cluster_lease (id, epoch, instance, advertise_url, expires_at, secret)
             VALUES (1, 0, '', '', 0, $1) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&secret)
        .execute(&pool)
        .await
        .context("joining the cluster")?;
        let secret: String = sqlx::query_scalar("SELECT secret FROM cluster_lease WHERE id = 1")
            .fetch_one(&pool)
            .await
            .context("joining the cluster")?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(1))
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .context("building the cluster's HTTP client")?;
        let cluster = Arc::new(Cluster {
            instance,
            advertise_url: advertise_url.trim_end_matches('/').to_owned(),
            pool,
            fence,
            secret: secret.into_bytes(),
            lease,
            owner: watch::Sender::new(None),
            last_seen: AtomicI64::new(-1),
            holding: tokio::sync::Mutex::new(None),
            http,
            started: std::time::Instant::now(),
        });
        cluster.refresh().await?;
        Ok(cluster)
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    pub fn advertise_url(&self) -> &str {
        &self.advertise_url
    }

    pub(crate) fn secret(&self) -> &[u8] {
        &self.secret
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Whether this instance owns the tenants now.
    pub fn is_owner(&self) -> bool {
        self.fence.epoch().is_some() && !self.fence.lost().is_cancelled()
    }

    /// The epoch this instance holds, if it owns the tenants.
    pub fn epoch(&self) -> Option<i64> {
        self.fence
            .epoch()
            .filter(|_| !self.fence.lost().is_cancelled())
    }

    /// Cancelled when this instance has lost the lease it held.
    pub fn lost(&self) -> &CancellationToken {
        self.fence.lost()
    }

    /// The owner as last read.
    pub fn owner(&self) -> Option<Owner> {
        self.owner.borrow().clone()
    }

    /// Ready to serve (`/readyz`): the owner, with its lease; or an instance that read a live
    /// owner's lease within the last lease period.
    pub fn is_ready(&self) -> bool {
        if self.is_owner() {
            return true;
        }
        let seen = self.last_seen.load(Ordering::Relaxed);
        let fresh = seen >= 0 && self.elapsed_ms() - seen <= ms(self.lease);
        fresh && self.owner().is_some_and(|o| !o.expired && o.epoch > 0)
    }

    fn elapsed_ms(&self) -> i64 {
        i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX)
    }

    /// Reads the lease: who owns the tenants, and whether their lease has passed.
    pub async fn refresh(&self) -> anyhow::Result<Option<Owner>> {
        let row: Option<(String, String, i64, bool)> = sqlx::query_as(&format!(
            "SELECT instance, advertise_url, epoch, expires_at < {NOW_MS}
             FROM cluster_lease WHERE id = 1"
        ))
        .fetch_optional(&self.pool)
        .await
        .context("reading the cluster's lease")?;
        let owner = row.filter(|(instance, ..)| !instance.is_empty()).map(
            |(instance, url, epoch, expired)| Owner {
                instance,
                url,
                epoch,
                expired,
            },
        );
        self.last_seen.store(self.elapsed_ms(), Ordering::Relaxed);
        self.owner.send_replace(owner.clone());
        Ok(owner)
    }

    /// Takes the tenants if nobody holds them (at start). `true`: this instance owns them now.
    pub async fn try_take(&self) -> anyhow::Result<bool> {
        let mut conn = self.connection().await?;
        let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(OWNER_LOCK)
            .fetch_one(&mut conn)
            .await
            .context("claiming the tenants")?;
        if !taken {
            return Ok(false);
        }
        self.take_lease(conn).await?;
        Ok(true)
    }

    /// Waits until this instance owns the tenants: waits for the owner lock, and meanwhile
    /// reads the lease every heartbeat, ending the sessions of an owner whose lease has passed.
    /// `Ok(false)`: `stop` came first.
    pub async fn wait_to_own(&self, stop: &CancellationToken) -> anyhow::Result<bool> {
        loop {
            let mut conn = self.connection().await?;
            let locked = {
                let wait = sqlx::query("SELECT pg_advisory_lock($1)")
                    .bind(OWNER_LOCK)
                    .execute(&mut conn);
                tokio::pin!(wait);
                let mut beat = tokio::time::interval(self.heartbeat());
                beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        () = stop.cancelled() => return Ok(false),
                        locked = &mut wait => break locked,
                        _ = beat.tick() => self.end_an_expired_owner().await,
                    }
                }
            };
            match locked {
                Ok(_) => {
                    self.take_lease(conn).await?;
                    return Ok(true);
                }
                Err(error) => {
                    tracing::warn!(error = %error, "waiting for the tenants' lease failed; again in a moment");
                    tokio::select! {
                        () = stop.cancelled() => return Ok(false),
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
    }

    /// Reads the lease; when it has passed, ends the owner's sessions, which releases its lock.
    async fn end_an_expired_owner(&self) {
        match self.refresh().await {
            Ok(Some(owner)) if owner.expired && owner.instance != self.instance => {
                tracing::warn!(
                    cluster.owner = %owner.instance,
                    cluster.epoch = owner.epoch,
                    "the owner of the tenants let its lease pass; ending its database sessions"
                );
                if let Err(error) = self.end_sessions_of(&self.pool, &owner.instance).await {
                    tracing::warn!(error = %error, "ending a former owner's sessions failed");
                }
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(error = %error, "reading the cluster's lease failed"),
        }
    }

    async fn end_sessions_of<'c, E>(&self, on: E, instance: &str) -> sqlx::Result<()>
    where
        E: sqlx::PgExecutor<'c>,
    {
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE application_name = $1 AND pid <> pg_backend_pid()",
        )
        .bind(application_name(instance))
        .execute(on)
        .await
        .map(|_| ())
    }

    /// With the owner lock held on `conn`: ends the former owner's sessions (one paused inside
    /// a transaction would hold the lease's row), raises the epoch, ends them again (a session
    /// it opened in between checked the old epoch), and keeps `conn` to renew the lease on.
    async fn take_lease(&self, mut conn: PgConnection) -> anyhow::Result<()> {
        let previous: Option<String> =
            sqlx::query_scalar("SELECT instance FROM cluster_lease WHERE id = 1")
                .fetch_optional(&mut conn)
                .await
                .context("reading the cluster's lease")?;
        let previous = previous.filter(|p| !p.is_empty() && *p != self.instance);
        if let Some(previous) = &previous {
            self.end_sessions_of(&mut conn, previous).await?;
        }
        let epoch: i64 = sqlx::query_scalar(&format!(
            "UPDATE cluster_lease SET epoch = epoch + 1, instance = $1, advertise_url = $2,
                 expires_at = {NOW_MS} + $3
             WHERE id = 1 RETURNING epoch"
        ))
        .bind(&self.instance)
        .bind(&self.advertise_url)
        .bind(ms(self.lease))
        .fetch_one(&mut conn)
        .await
        .context("taking the cluster's lease")?;
        if let Some(previous) = &previous {
            self.end_sessions_of(&mut conn, previous).await?;
        }
        self.fence.hold(epoch);
        *self.holding.lock().await = Some(conn);
        self.refresh().await?;
        tracing::info!(
            cluster.epoch = epoch,
            cluster.previous = previous.as_deref().unwrap_or("(none)"),
            "this instance owns the tenants"
        );
        Ok(())
    }

    fn heartbeat(&self) -> Duration {
        self.lease / 5
    }

    /// The owner's heartbeat: renews the lease every `lease / 5` until `stop`, on the connection
    /// that holds the lock. Loses the fence when the lease passed to another instance, when
    /// that connection is gone (and with it the lock), or when no renewal got through for half
    /// a lease (a later one might come too late).
    pub async fn renew(&self, stop: CancellationToken) {
        let mut beat = tokio::time::interval(self.heartbeat());
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        beat.tick().await;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.fence.lost().cancelled() => return,
                _ = beat.tick() => {}
            }
            let Some(epoch) = self.fence.epoch() else {
                return;
            };
            let mut holding = self.holding.lock().await;
            let Some(conn) = holding.as_mut() else {
                return;
            };
            let renewed = tokio::time::timeout(
                self.lease / 2,
                sqlx::query(&format!(
                    "UPDATE cluster_lease SET expires_at = {NOW_MS} + $2
                     WHERE id = 1 AND epoch = $1"
                ))
                .bind(epoch)
                .bind(ms(self.lease))
                .execute(&mut *conn),
            )
            .await;
            match renewed {
                Ok(Ok(done)) if done.rows_affected() == 1 => {
                    self.last_seen.store(self.elapsed_ms(), Ordering::Relaxed);
                }
                Ok(Ok(_)) => {
                    tracing::error!(
                        cluster.epoch = epoch,
                        "the tenants' lease passed to another instance"
                    );
                    self.fence.lose();
                }
                Ok(Err(error)) => {
                    tracing::error!(error = %error, "renewing the tenants' lease failed: the lock went with its connection");
                    self.fence.lose();
                }
                Err(_) => {
                    tracing::error!("renewing the tenants' lease took longer than half a lease");
                    self.fence.lose();
                }
            }
        }
    }

    /// Hands the tenants over at a graceful stop, once this instance has stopped writing: the
    /// lease ends now, and closing the lock's connection lets the next instance take it.
    pub async fn release(&self) {
        let Some(mut conn) = self.holding.lock().await.take() else {
            return;
        };
        if let Some(epoch) = self.fence.epoch() {
            let _ =
                sqlx::query("UPDATE cluster_lease SET expires_at = 0 WHERE id = 1 AND epoch = $1")
                    .bind(epoch)
                    .execute(&mut conn)
                    .await;
        }
        let _ = conn.close().await;
        tracing::info!("the tenants' lease is released");
    }

    /// A connection of its own (not the pool's): the lock lives as long as it does.
    async fn connection(&self) -> anyhow::Result<PgConnection> {
        Ok(self
            .pool
            .acquire()
            .await
            .context("connecting to PostgreSQL")?
            .detach())
    }
}

fn ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
