//! The PostgreSQL side of the store (DESIGN §8b): the connection (TLS through rustls, `sslmode`
//! as in libpq), the schema (`migrations/postgres/`, kept equal to SQLite's: a test compares the
//! two) and, until tenants have owners among several instances, the claim of the one instance
//! that serves a database. The queries themselves are the store's, written once for both
//! backends ([`super::backend`]).

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Opens a pool on the PostgreSQL database at `url` and applies pending migrations. sqlx holds
/// a session advisory lock on the database while it migrates, so instances started together
/// apply each migration once, one after another.
pub async fn open(url: &str) -> anyhow::Result<sqlx::PgPool> {
    let options = PgConnectOptions::from_str(url)
        .context("store.url is not a valid PostgreSQL URL")?
        .application_name("switchboard");
    let pool = PgPoolOptions::new()
        .max_connections(10)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .context("connecting to PostgreSQL")?;
    MIGRATIONS
        .run(&pool)
        .await
        .context("applying database migrations")?;
    Ok(pool)
}

/// Any fixed key: the advisory lock one serving instance holds on its database.
const SERVING_LOCK: i64 = 0x5357_4254_4348_0001;

/// One serving instance per PostgreSQL database, until tenants have owners among several: a
/// session advisory lock, held on a connection of its own for as long as the instance serves,
/// and released by PostgreSQL when that connection ends, however the process ends. `None`:
/// another instance holds it.
pub async fn claim(pool: &sqlx::PgPool) -> anyhow::Result<Option<sqlx::PgConnection>> {
    let mut conn = pool
        .acquire()
        .await
        .context("connecting to PostgreSQL")?
        .detach();
    let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(SERVING_LOCK)
        .fetch_one(&mut conn)
        .await
        .context("claiming the database")?;
    Ok(taken.then_some(conn))
}
