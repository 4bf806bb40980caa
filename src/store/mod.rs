//! Persistence: sqlx on SQLite (WAL) by default or on PostgreSQL ([`postgres`]), the schema in
//! `migrations/sqlite/` and `migrations/postgres/`, applied at start. Every statement is written
//! once for both backends ([`backend`]: [`Db`], [`AsPool`], [`AsConn`], [`crate::db!`]), with a
//! backend-specific text only where the dialects differ.

pub mod api_keys;
pub mod backend;
pub mod consents;
pub mod conversations;
pub mod outbox;
pub mod postgres;
pub mod registrations;
pub mod superset;
pub mod whatsapp;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub(crate) use backend::on_executor;
pub use backend::{AsConn, AsPool, Db, Executor, IntoExecutor, On, PoolConn, acquire};

pub type Pool = Db;
pub type Transaction<'a> = sqlx::Transaction<'a, sqlx::Sqlite>;

pub use backend::WriteTurn;

/// A write transaction that holds its store's turn to write ([`WriteTurn`]) until it commits or
/// is dropped. Hold it for SQL only: never await anything else (an engine, a network call)
/// inside it.
pub struct WriteTransaction {
    tx: Tx,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
    /// Woken once the transaction has committed: the worker of what it queued (the outbox).
    wakes: Option<std::sync::Arc<tokio::sync::Notify>>,
}

enum Tx {
    Sqlite(Transaction<'static>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// Waits for the store's turn to write (a bare pool, as a test may pass, has none), then begins
/// a transaction. On SQLite it holds the write lock
/// from its start (`BEGIN IMMEDIATE`; SQLite's busy handler waits out a single-statement write
/// made outside the turn): a deferred transaction that read first would fail with
/// `SQLITE_BUSY_SNAPSHOT` ("database is locked", no waiting) whenever such a write committed
/// between its first read and its first write. On PostgreSQL the turn alone keeps one
/// process's writes one after another, as on SQLite (ids commit in the order they are taken,
/// and counters such as a session's event numbers, `MAX + 1`, need no more: only the instance
/// that owns the tenants writes them); and once the process owns the tenants, the transaction
/// first checks that its lease is still the current one ([`postgres::Fence::check`]), so a
/// former owner commits nothing.
pub async fn begin_write(pool: &(impl AsPool + ?Sized)) -> sqlx::Result<WriteTransaction> {
    let turn = match pool.turn() {
        Some(turn) => Some(std::sync::Arc::clone(turn).lock_owned().await),
        None => None,
    };
    let tx = match pool.on() {
        On::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
        On::Postgres(p) => {
            let mut tx = p.begin().await?;
            if let Some(fence) = pool.fence() {
                fence.check(&mut tx).await?;
            }
            Tx::Postgres(tx)
        }
    };
    Ok(WriteTransaction {
        tx,
        _turn: turn,
        wakes: None,
    })
}

impl WriteTransaction {
    /// Commits, then wakes the worker of what the transaction queued.
    pub async fn commit(self) -> sqlx::Result<()> {
        match self.tx {
            Tx::Sqlite(tx) => tx.commit().await?,
            Tx::Postgres(tx) => tx.commit().await?,
        }
        if let Some(wakes) = self.wakes {
            wakes.notify_one();
        }
        Ok(())
    }

    /// Has `worker` woken once this transaction commits (not if it rolls back): whoever
    /// queues work in a transaction registers its worker here, so that no caller has to
    /// remember to wake it.
    pub fn wake_on_commit(&mut self, worker: &std::sync::Arc<tokio::sync::Notify>) {
        self.wakes = Some(std::sync::Arc::clone(worker));
    }

    pub async fn rollback(self) -> sqlx::Result<()> {
        match self.tx {
            Tx::Sqlite(tx) => tx.rollback().await,
            Tx::Postgres(tx) => tx.rollback().await,
        }
    }
}

impl AsConn for WriteTransaction {
    fn conn(&mut self) -> On<&mut sqlx::SqliteConnection, &mut sqlx::PgConnection> {
        match &mut self.tx {
            Tx::Sqlite(tx) => On::Sqlite(tx),
            Tx::Postgres(tx) => On::Postgres(tx),
        }
    }
}

/// Opens the database at `url` (an SQLite file, created if needed, or PostgreSQL) for a command
/// that runs beside a server (the CLI, a test, a benchmark). On SQLite it applies pending
/// migrations only when no server holds the file, and otherwise waits until the server has
/// applied them; on PostgreSQL sqlx's advisory lock keeps concurrent migrations apart.
pub async fn connect(url: &str) -> anyhow::Result<Pool> {
    if is_postgres(url) {
        return Ok(Db::Postgres(
            postgres::open(url).await?,
            std::sync::Arc::new(postgres::Fence::default()),
            WriteTurn::default(),
        ));
    }
    let (pool, options) = open(url).await?;
    match Claim::try_take(&options)? {
        Some(claim) => {
            migrate(&pool).await?;
            drop(claim);
        }
        None => wait_for_migrations(&pool).await?,
    }
    Ok(Db::Sqlite(pool, WriteTurn::default()))
}

/// `url` as it may be logged: a PostgreSQL URL without its password.
pub fn loggable_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if is_postgres(url) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("****"));
            }
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        Err(_) if is_postgres(url) => "postgres://(unreadable URL)".to_owned(),
        Err(_) => url.to_owned(),
    }
}

/// Whether `url` names a PostgreSQL database.
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Opens the database at `url` for `switchboard serve`. On SQLite the claim on the file is
/// taken before the migrations run, so instances started together never race them, and a
/// second instance on a file another process serves refuses to start. On PostgreSQL the
/// migrations run under sqlx's advisory lock, and the instances share the database: which one
/// owns the tenants is the cluster's lease ([`crate::cluster`]); the instance's sessions are
/// named `application_name`, and its writes are fenced once it owns the tenants.
pub async fn connect_to_serve(url: &str, application_name: &str) -> anyhow::Result<(Pool, Claim)> {
    if is_postgres(url) {
        let fence = std::sync::Arc::new(postgres::Fence::default());
        let pool =
            postgres::open_fenced(url, application_name, std::sync::Arc::clone(&fence)).await?;
        return Ok((
            Db::Postgres(pool, fence, WriteTurn::default()),
            Claim::Shared,
        ));
    }
    let (pool, options) = open(url).await?;
    let Some(claim) = Claim::try_take(&options)? else {
        pool.close().await;
        anyhow::bail!(
            "the SQLite database {:?} is in use by another process (another `switchboard serve`?). \
             An SQLite file serves one instance at a time; several instances need a shared \
             PostgreSQL store",
            options.get_filename()
        );
    };
    migrate(&pool).await?;
    Ok((Db::Sqlite(pool, WriteTurn::default()), claim))
}

async fn open(url: &str) -> anyhow::Result<(sqlx::SqlitePool, SqliteConnectOptions)> {
    if !url.starts_with("sqlite:") {
        anyhow::bail!(
            "store.url is not supported: it must start with sqlite: or postgres:// (postgresql://)"
        );
    }
    let options = SqliteConnectOptions::from_str(url)
        .with_context(|| format!("store.url {url:?} is not a valid SQLite URL"))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5))
        // Once a checkpoint has reset the WAL, its file is cut back to this size.
        .pragma("journal_size_limit", (64 * 1024 * 1024).to_string())
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        // Reads run side by side; the hot write transactions take turns through
        // `begin_write`, so a few connections are enough.
        .max_connections(4)
        // A SQLite connection is a local file: pinging it before each use only costs a round
        // trip to its worker thread.
        .test_before_acquire(false)
        .connect_with(options.clone())
        .await
        .with_context(|| format!("opening the database {url:?}"))?;
    Ok((pool, options))
}

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

async fn migrate(pool: &sqlx::SqlitePool) -> anyhow::Result<()> {
    MIGRATIONS
        .run(pool)
        .await
        .context("applying database migrations")
}

/// Waits (up to 30 s) until every migration this binary knows is applied, by the server that
/// holds the file.
async fn wait_for_migrations(pool: &sqlx::SqlitePool) -> anyhow::Result<()> {
    let known: Vec<i64> = MIGRATIONS
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| m.version)
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(pool)
                .await
                .unwrap_or_default();
        let missing: Vec<i64> = known
            .iter()
            .copied()
            .filter(|v| !applied.contains(v))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            anyhow::bail!(
                "the database is served by another process that has not applied migrations \
                 {missing:?} within 30 s (is it an older version of switchboard?)"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One process's hold on its database, released when the claim is dropped or the process ends,
/// however it ends. On SQLite, an exclusive advisory lock (`flock`) on the database file itself
/// (SQLite's own locks are POSIX record locks, which are independent of it); a PostgreSQL
/// database is shared by its instances (the cluster's lease says which owns the tenants).
pub enum Claim {
    File(Option<std::fs::File>),
    Shared,
}

impl Claim {
    /// The claim, `None` if another process (or another open file in this one) holds it, and
    /// `Ok(Some)` with nothing held for an in-memory database.
    fn try_take(options: &SqliteConnectOptions) -> anyhow::Result<Option<Claim>> {
        let path = options.get_filename();
        if path.as_os_str().is_empty() || path == std::path::Path::new(":memory:") {
            return Ok(Some(Claim::File(None)));
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .open(path)
            .with_context(|| format!("opening {path:?} to claim it"))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Claim::File(Some(file)))),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("claiming {path:?}"))
            }
        }
    }
}

/// Connections set aside for the reads every inbound message makes (its conversation's open
/// chatrooms, the sender's registration): a read through the pool also costs acquiring a
/// connection and the ping sqlx sends when it is returned, each a round trip to SQLite's
/// worker thread. They are detached from the pool, so closing the pool does not wait for them.
pub struct HotReads {
    conns: Vec<tokio::sync::Mutex<backend::Connection>>,
    next: std::sync::atomic::AtomicUsize,
}

impl HotReads {
    pub async fn open(pool: &(impl AsPool + ?Sized), count: usize) -> sqlx::Result<Self> {
        let mut conns = Vec::with_capacity(count.max(1));
        for _ in 0..count.max(1) {
            let conn = match pool.on() {
                On::Sqlite(p) => backend::Connection::Sqlite(p.acquire().await?.detach()),
                On::Postgres(p) => backend::Connection::Postgres(p.acquire().await?.detach()),
            };
            conns.push(tokio::sync::Mutex::new(conn));
        }
        Ok(HotReads {
            conns,
            next: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// A free connection if there is one, else the next in turn once it is free.
    pub async fn conn(&self) -> tokio::sync::MutexGuard<'_, backend::Connection> {
        for conn in &self.conns {
            if let Ok(guard) = conn.try_lock() {
                return guard;
            }
        }
        let i = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % self.conns.len();
        self.conns[i].lock().await
    }
}

/// Opens the database only if it already exists (for read-only commands such as `check`).
pub async fn open_existing(url: &str) -> anyhow::Result<Option<Pool>> {
    if is_postgres(url) {
        return connect(url).await.map(Some);
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .map(|p| p.split('?').next().unwrap_or(p));
    match path {
        Some(":memory:") | None => Ok(None),
        Some(p) if !std::path::Path::new(p).exists() => Ok(None),
        Some(_) => connect(url).await.map(Some),
    }
}

/// Whether the database answers (for `/readyz`).
pub async fn ping(pool: &(impl AsPool + ?Sized)) -> bool {
    crate::db!(pool.on(), |c| sqlx::query("SELECT 1")
        .execute(c)
        .await
        .is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A write transaction that reads before it writes is not refused when a single-statement
    /// write outside the turn commits in between (a deferred `BEGIN` fails there with
    /// `SQLITE_BUSY_SNAPSHOT`, at once, whatever the busy timeout): the outside write waits.
    #[tokio::test]
    async fn a_write_transaction_that_reads_first_holds_the_write_lock() {
        let dir = tempfile::tempdir().expect("tempdir");
        let Db::Sqlite(pool, _) =
            connect(&format!("sqlite://{}", dir.path().join("t.db").display()))
                .await
                .expect("store")
        else {
            panic!("an sqlite: URL opens SQLite");
        };
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(&pool)
            .await
            .expect("table");
        let mut tx = begin_write(&pool).await.expect("begin");
        let before: i64 = crate::db!(tx.conn(), |c| sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(c)
            .await
            .expect("read"));
        let outside = tokio::spawn({
            let pool = pool.clone();
            async move { sqlx::query("INSERT INTO t VALUES (1)").execute(&pool).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        crate::db!(tx.conn(), |c| sqlx::query("INSERT INTO t VALUES (2)")
            .execute(c)
            .await
            .map(|_| ())
            .expect("the transaction writes after its read"));
        tx.commit().await.expect("commit");
        outside
            .await
            .expect("task")
            .expect("the outside write waited for the transaction");
        let after: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(&pool)
            .await
            .expect("count");
        assert_eq!((before, after), (0, 2));
    }
}
