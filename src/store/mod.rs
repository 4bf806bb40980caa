//! Persistence: sqlx on SQLite (WAL) by default, schema in `migrations/`, applied at start.
//! The SQL is kept portable so PostgreSQL can follow as the scale-out store.

pub mod conversations;
pub mod effects;
pub mod outbox;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub type Pool = sqlx::SqlitePool;
pub type Transaction<'a> = sqlx::Transaction<'a, sqlx::Sqlite>;

/// Opens (creating if needed) the database at `url` and applies pending migrations.
pub async fn connect(url: &str) -> anyhow::Result<Pool> {
    if !url.starts_with("sqlite:") {
        anyhow::bail!(
            "store.url {url:?} is not supported: only sqlite: URLs are supported in this version"
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
        .max_connections(8)
        // A SQLite connection is a local file: pinging it before each use only costs a round
        // trip to its worker thread.
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .with_context(|| format!("opening the database {url:?}"))?;
    sqlx::migrate!("./migrations")
        .run(&pool)
        .await
        .context("applying database migrations")?;
    Ok(pool)
}

/// Opens the database only if it already exists (for read-only commands such as `check`).
pub async fn open_existing(url: &str) -> anyhow::Result<Option<Pool>> {
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
pub async fn ping(pool: &Pool) -> bool {
    sqlx::query("SELECT 1").execute(pool).await.is_ok()
}
