//! The PostgreSQL side of the store (DESIGN §8b): the connection (TLS through rustls, `sslmode`
//! as in libpq), the schema (`migrations/postgres/`, kept equal to SQLite's: a test compares the
//! two) and the fence that keeps a former owner of the tenants from writing ([`Fence`]; the
//! lease itself is [`crate::cluster`]'s). The queries themselves are the store's, written once
//! for both backends ([`super::backend`]).

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio_util::sync::CancellationToken;

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Opens a pool on the PostgreSQL database at `url` and applies pending migrations, for a
/// command (the CLI, a test): its writes are not fenced. sqlx holds a session advisory lock on
/// the database while it migrates, so instances started together apply each migration once,
/// one after another.
pub async fn open(url: &str) -> anyhow::Result<sqlx::PgPool> {
    open_fenced(url, "switchboard", Arc::new(Fence::default())).await
}

/// [`open`] for an instance that serves: its connections are named `application_name` (so a
/// new owner can end a former owner's sessions, [`crate::cluster`]), and once the instance owns
/// the tenants, each new connection checks `fence` first: a former owner whose sessions were
/// ended cannot open new ones to write with.
pub async fn open_fenced(
    url: &str,
    application_name: &str,
    fence: Arc<Fence>,
) -> anyhow::Result<sqlx::PgPool> {
    let options = PgConnectOptions::from_str(url)
        .context("store.url is not a valid PostgreSQL URL")?
        .application_name(application_name);
    let pool = PgPoolOptions::new()
        .max_connections(10)
        .acquire_timeout(Duration::from_secs(5))
        .after_connect(move |conn, _| {
            let fence = Arc::clone(&fence);
            Box::pin(async move { fence.check_connection(conn).await })
        })
        .connect_with(options)
        .await
        .context("connecting to PostgreSQL")?;
    MIGRATIONS
        .run(&pool)
        .await
        .context("applying database migrations")?;
    Ok(pool)
}

/// The fencing number of the lease this process holds on the tenants (DESIGN §8b), and whether
/// it has lost it. While the process owns nothing (a follower, a command), nothing is fenced.
#[derive(Debug, Default)]
pub struct Fence {
    /// The lease's epoch this process took; 0: it holds none.
    epoch: AtomicI64,
    /// Cancelled once this process knows it no longer holds the lease.
    lost: CancellationToken,
}

impl Fence {
    /// From now on, every write transaction checks that the lease is still at `epoch`.
    pub fn hold(&self, epoch: i64) {
        self.epoch.store(epoch, Ordering::SeqCst);
    }

    /// The epoch held, if any.
    pub fn epoch(&self) -> Option<i64> {
        let epoch = self.epoch.load(Ordering::SeqCst);
        (epoch > 0).then_some(epoch)
    }

    /// The lease has passed to another instance (or could not be renewed in time): every
    /// later write fails, and whoever waits on [`Fence::lost`] stops the process.
    pub fn lose(&self) {
        self.lost.cancel();
    }

    pub fn lost(&self) -> &CancellationToken {
        &self.lost
    }

    /// In a write transaction: the lease is still this process's, and stays so until the
    /// transaction ends (`FOR SHARE`: a takeover's update of the lease waits for it). Otherwise
    /// the transaction fails, and the fence is lost for good.
    pub async fn check(&self, tx: &mut sqlx::PgConnection) -> sqlx::Result<()> {
        self.verify(tx, "SELECT epoch FROM cluster_lease WHERE id = 1 FOR SHARE")
            .await
    }

    async fn check_connection(&self, conn: &mut sqlx::PgConnection) -> sqlx::Result<()> {
        self.verify(conn, "SELECT epoch FROM cluster_lease WHERE id = 1")
            .await
    }

    async fn verify(&self, conn: &mut sqlx::PgConnection, sql: &'static str) -> sqlx::Result<()> {
        let Some(mine) = self.epoch() else {
            return Ok(());
        };
        if !self.lost.is_cancelled() {
            let current: Option<i64> = sqlx::query_scalar(sql).fetch_optional(conn).await?;
            if current == Some(mine) {
                return Ok(());
            }
            self.lose();
        }
        Err(sqlx::Error::Protocol(format!(
            "this instance's lease on the tenants (epoch {mine}) has passed to another instance: \
             its writes are refused"
        )))
    }
}
