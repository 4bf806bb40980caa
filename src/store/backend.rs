//! One SQL text for both backends. A store function takes its database as
//! `&(impl AsPool + ?Sized)` or `&mut (impl AsConn + ?Sized)` and runs each statement through
//! [`crate::db!`], which writes the statement's code once and compiles it for SQLite and for
//! PostgreSQL: no runtime conversion of rows or arguments (not `sqlx::Any`), and the binds and
//! decodes are checked against both backends at compile time. Where the dialects differ, the
//! function picks its text with [`On::pick`] or writes two arms.
//!
//! Converted functions accept today's SQLite pool and connections as they are, so callers do not
//! change while the store is converted module by module.

use sqlx::{PgConnection, PgPool, SqliteConnection, SqlitePool};

/// Something of one backend or the other: a pool, a connection.
pub enum On<S, P> {
    Sqlite(S),
    Postgres(P),
}

impl<S, P> On<S, P> {
    /// The text of this backend's dialect.
    pub fn pick(&self, sqlite: &'static str, postgres: &'static str) -> &'static str {
        match self {
            On::Sqlite(_) => sqlite,
            On::Postgres(_) => postgres,
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, On::Postgres(_))
    }
}

/// A pool of either backend.
pub trait AsPool: Sync {
    fn on(&self) -> On<&SqlitePool, &PgPool>;

    /// The lease this pool's writes are fenced by (a PostgreSQL store served by several
    /// instances; see [`super::postgres::Fence`]).
    fn fence(&self) -> Option<&super::postgres::Fence> {
        None
    }

    /// The store's turn to write ([`WriteTurn`]); a bare pool has none.
    fn turn(&self) -> Option<&std::sync::Arc<tokio::sync::Mutex<()>>> {
        None
    }
}

/// Whose turn it is to write, one per store (every clone of a [`Db`] shares it). SQLite has
/// one writer at a time, and a writer that finds another's transaction open is put to sleep by
/// SQLite's busy handler for 1, 2, 5, 10, 15… ms before it tries again: with several writers
/// meeting inside SQLite, p99 latencies reach tens of milliseconds at a hundred sessions a
/// second. Write transactions take their turn here first, in order, without sleeping. On
/// PostgreSQL the turn keeps the owner's writes one after another as on SQLite, which the
/// store's counters (`MAX + 1`) rely on.
#[derive(Clone, Debug, Default)]
pub struct WriteTurn(std::sync::Arc<tokio::sync::Mutex<()>>);

impl AsPool for SqlitePool {
    fn on(&self) -> On<&SqlitePool, &PgPool> {
        On::Sqlite(self)
    }
}

impl AsPool for PgPool {
    fn on(&self) -> On<&SqlitePool, &PgPool> {
        On::Postgres(self)
    }
}

/// A connection (or a transaction) of either backend.
pub trait AsConn: Send {
    fn conn(&mut self) -> On<&mut SqliteConnection, &mut PgConnection>;
}

impl AsConn for SqliteConnection {
    fn conn(&mut self) -> On<&mut SqliteConnection, &mut PgConnection> {
        On::Sqlite(self)
    }
}

impl AsConn for PgConnection {
    fn conn(&mut self) -> On<&mut SqliteConnection, &mut PgConnection> {
        On::Postgres(self)
    }
}

impl AsConn for sqlx::Transaction<'_, sqlx::Sqlite> {
    fn conn(&mut self) -> On<&mut SqliteConnection, &mut PgConnection> {
        On::Sqlite(self)
    }
}

impl AsConn for sqlx::Transaction<'_, sqlx::Postgres> {
    fn conn(&mut self) -> On<&mut SqliteConnection, &mut PgConnection> {
        On::Postgres(self)
    }
}

impl AsConn for sqlx::pool::PoolConnection<sqlx::Sqlite> {
    fn conn(&mut self) -> On<&mut SqliteConnection, &mut PgConnection> {
        On::Sqlite(self)
    }
}

impl AsConn for sqlx::pool::PoolConnection<sqlx::Postgres> {
    fn conn(&mut self) -> On<&mut SqliteConnection, &mut PgConnection> {
        On::Postgres(self)
    }
}

/// Runs one block of store code on whichever backend `$on` is (an [`On`]: `pool.on()`,
/// `tx.conn()`), the block written once and compiled for each: `db!(pool.on(), |c| query.fetch_one(c).await)`.
/// Inside, `c` is `&SqlitePool`/`&PgPool` or `&mut SqliteConnection`/`&mut PgConnection`; rows
/// must be decoded inside the block.
#[macro_export]
macro_rules! db {
    ($on:expr, |$c:ident| $body:expr) => {
        match $on {
            $crate::store::On::Sqlite($c) => $body,
            $crate::store::On::Postgres($c) => $body,
        }
    };
}

/// A connection taken from a pool of either backend, until it is dropped.
pub enum PoolConn {
    Sqlite(sqlx::pool::PoolConnection<sqlx::Sqlite>),
    Postgres(sqlx::pool::PoolConnection<sqlx::Postgres>),
}

impl AsConn for PoolConn {
    fn conn(&mut self) -> On<&mut SqliteConnection, &mut PgConnection> {
        match self {
            PoolConn::Sqlite(c) => On::Sqlite(c),
            PoolConn::Postgres(c) => On::Postgres(c),
        }
    }
}

/// A connection of `pool`'s backend, for several statements in a row outside a transaction.
pub async fn acquire(pool: &(impl AsPool + ?Sized)) -> sqlx::Result<PoolConn> {
    Ok(match pool.on() {
        On::Sqlite(p) => PoolConn::Sqlite(p.acquire().await?),
        On::Postgres(p) => PoolConn::Postgres(p.acquire().await?),
    })
}

/// The store's database: an SQLite file (one instance) or PostgreSQL (several), with the fence
/// its owner's writes check.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool, WriteTurn),
    Postgres(PgPool, std::sync::Arc<super::postgres::Fence>, WriteTurn),
}

impl AsPool for Db {
    fn on(&self) -> On<&SqlitePool, &PgPool> {
        match self {
            Db::Sqlite(p, _) => On::Sqlite(p),
            Db::Postgres(p, ..) => On::Postgres(p),
        }
    }

    fn fence(&self) -> Option<&super::postgres::Fence> {
        match self {
            Db::Sqlite(..) => None,
            Db::Postgres(_, fence, _) => Some(fence),
        }
    }

    fn turn(&self) -> Option<&std::sync::Arc<tokio::sync::Mutex<()>>> {
        match self {
            Db::Sqlite(_, turn) | Db::Postgres(_, _, turn) => Some(&turn.0),
        }
    }
}

impl Db {
    /// A connection for several statements in a row outside a transaction.
    pub async fn acquire(&self) -> sqlx::Result<PoolConn> {
        acquire(self).await
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        match self {
            Db::Sqlite(p, _) => p.close().await,
            Db::Postgres(p, ..) => p.close().await,
        }
    }
}

/// Where a store function that accepts either runs: a pool (`&pool`, a statement on its own)
/// or a connection (`&mut tx`, in the caller's transaction), of either backend. The engine's
/// `effects::finish`, `effects::finish_all` and `registrations::registration_of` take one (`impl IntoExecutor`), so
/// that their callers pass what they hold, as they did an `sqlx::SqliteExecutor`.
pub enum Executor<'a> {
    Pool(On<&'a SqlitePool, &'a PgPool>),
    Conn(On<&'a mut SqliteConnection, &'a mut PgConnection>),
}

impl Executor<'_> {
    /// The text of this backend's dialect.
    pub fn pick(&self, sqlite: &'static str, postgres: &'static str) -> &'static str {
        if self.is_postgres() { postgres } else { sqlite }
    }

    pub fn is_postgres(&self) -> bool {
        match self {
            Executor::Pool(on) => on.is_postgres(),
            Executor::Conn(on) => on.is_postgres(),
        }
    }
}

/// A pool or a connection, as an [`Executor`].
pub trait IntoExecutor<'a>: Send {
    fn executor(self) -> Executor<'a>;
}

impl<'a, P: AsPool + ?Sized> IntoExecutor<'a> for &'a P {
    fn executor(self) -> Executor<'a> {
        Executor::Pool(self.on())
    }
}

impl<'a, C: AsConn + ?Sized> IntoExecutor<'a> for &'a mut C {
    fn executor(self) -> Executor<'a> {
        Executor::Conn(self.conn())
    }
}

/// [`crate::db!`] over an [`Executor`]: the block is compiled for each backend's pool and
/// connection.
macro_rules! on_executor {
    ($executor:expr, |$c:ident| $body:expr) => {
        match $executor {
            $crate::store::Executor::Pool(on) => $crate::db!(on, |$c| $body),
            $crate::store::Executor::Conn(on) => $crate::db!(on, |$c| $body),
        }
    };
}
pub(crate) use on_executor;

/// A connection of either backend, detached from its pool.
pub enum Connection {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

impl AsConn for Connection {
    fn conn(&mut self) -> On<&mut SqliteConnection, &mut PgConnection> {
        match self {
            Connection::Sqlite(c) => On::Sqlite(c),
            Connection::Postgres(c) => On::Postgres(c),
        }
    }
}
