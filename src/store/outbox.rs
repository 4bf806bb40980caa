//! The outbox: outbound calls persisted in the same transaction as the state change that
//! caused them, and delivered by a worker after commit. Rows are opaque here (an operation name
//! and a JSON payload); the adapter that delivers them owns their meaning.

use sqlx::Row;

use super::{AsConn, AsPool};

/// A call not yet delivered or given up.
#[derive(Debug, Clone)]
pub struct PendingCall {
    pub id: i64,
    pub lane: String,
    pub service_url: String,
    pub operation: String,
    pub call: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub created_at: i64,
}

/// The state of one outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: i64,
    pub state: String,
    pub attempts: i64,
    pub result_id: Option<String>,
    pub last_error: Option<String>,
}

/// A new call for the outbox.
#[derive(Debug, Clone)]
pub struct NewCall<'a> {
    pub lane: &'a str,
    pub service_url: &'a str,
    pub operation: &'a str,
    pub call: &'a str,
}

/// Adds a call inside the caller's transaction; returns its id.
pub async fn enqueue(
    conn: &mut (impl AsConn + ?Sized),
    call: &NewCall<'_>,
    now_ms: i64,
) -> sqlx::Result<i64> {
    crate::db!(conn.conn(), |c| {
        sqlx::query_scalar(
            "INSERT INTO outbox (lane, service_url, operation, call, next_attempt_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(call.lane)
        .bind(call.service_url)
        .bind(call.operation)
        .bind(call.call)
        .bind(now_ms)
        .bind(now_ms)
        .fetch_one(c)
        .await
    })
}

/// Rows per multi-row statement (at most 8 parameters each, well below SQLite's limit).
const ROWS_PER_STATEMENT: usize = 128;

/// Adds many calls inside the caller's transaction, a statement per `ROWS_PER_STATEMENT`
/// calls; returns their ids in the order of `calls`.
pub async fn enqueue_many(
    conn: &mut (impl AsConn + ?Sized),
    calls: &[NewCall<'_>],
    now_ms: i64,
) -> sqlx::Result<Vec<i64>> {
    let mut ids = Vec::with_capacity(calls.len());
    for chunk in calls.chunks(ROWS_PER_STATEMENT) {
        let mut chunk_ids: Vec<i64> = crate::db!(conn.conn(), |c| {
            let mut insert = sqlx::QueryBuilder::new(
                "INSERT INTO outbox (lane, service_url, operation, call, next_attempt_at, created_at) ",
            );
            insert.push_values(chunk, |mut row, call| {
                row.push_bind(call.lane)
                    .push_bind(call.service_url)
                    .push_bind(call.operation)
                    .push_bind(call.call)
                    .push_bind(now_ms)
                    .push_bind(now_ms);
            });
            insert.push(" RETURNING id");
            insert
                .build()
                .fetch_all(c)
                .await?
                .iter()
                .map(|r| r.try_get("id"))
                .collect::<sqlx::Result<_>>()?
        });
        // Ids grow in the order the rows are inserted; RETURNING's own order is unspecified.
        chunk_ids.sort_unstable();
        ids.extend(chunk_ids);
    }
    Ok(ids)
}

/// Pending calls with an id above `after`, in id order (at most `limit`). The dispatcher reads
/// this once at start (from 0) and then after each commit it is told of, from the highest id it
/// holds. SQLite serialises writers, so ids become visible in commit order and nothing is
/// skipped; a store whose ids may commit out of order must read by a commit-ordered key.
pub async fn pending_after(
    pool: &(impl AsPool + ?Sized),
    after: i64,
    limit: i64,
) -> sqlx::Result<Vec<PendingCall>> {
    crate::db!(pool.on(), |c| {
        sqlx::query(
            "SELECT id, lane, service_url, operation, call, attempts, next_attempt_at, created_at
             FROM outbox
             WHERE id > $1 AND state = 'pending'
             ORDER BY id
             LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(c)
        .await?
        .into_iter()
        .map(|r| {
            Ok(PendingCall {
                id: r.try_get("id")?,
                lane: r.try_get("lane")?,
                service_url: r.try_get("service_url")?,
                operation: r.try_get("operation")?,
                call: r.try_get("call")?,
                attempts: r.try_get("attempts")?,
                next_attempt_at: r.try_get("next_attempt_at")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
    })
}

/// What became of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    Delivered {
        id: i64,
        attempts: i64,
        result_id: Option<String>,
        at: i64,
        /// Whether the payload stays after delivery (else only the metadata is kept).
        keep_payload: bool,
    },
    /// Parked until `next_attempt_at`.
    Retry {
        id: i64,
        attempts: i64,
        next_attempt_at: i64,
        error: String,
    },
    Failed {
        id: i64,
        attempts: i64,
        error: String,
    },
}

/// Records the outcomes of many attempts in one transaction (group commit), a statement per
/// `ROWS_PER_STATEMENT` outcomes. A delivered call keeps its metadata until
/// retention removes it, and its payload only when asked to (the store would otherwise grow by
/// every card sent); a given-up call keeps its payload for inspection.
pub async fn settle(pool: &(impl AsPool + ?Sized), settlements: &[Settlement]) -> sqlx::Result<()> {
    let mut tx = super::begin_write(pool).await?;
    for chunk in settlements.chunks(ROWS_PER_STATEMENT) {
        crate::db!(tx.conn(), |c| {
            let mut update = sqlx::QueryBuilder::new(
                "UPDATE outbox SET state = v.column2, attempts = v.column3,
                next_attempt_at = COALESCE(v.column4, outbox.next_attempt_at),
                result_id = v.column5, delivered_at = v.column6, last_error = v.column7,
                call = CASE WHEN v.column8 THEN outbox.call ELSE '' END
             FROM (",
            );
            update.push_values(chunk, |mut row, settlement| {
                // (id, state, attempts, next attempt, result id, delivered at, error, keep payload)
                let (id, state, attempts, next_attempt_at, result_id, delivered_at, error, keep) =
                    match settlement {
                        Settlement::Delivered {
                            id,
                            attempts,
                            result_id,
                            at,
                            keep_payload,
                        } => (
                            id,
                            "delivered",
                            attempts,
                            None,
                            result_id.clone(),
                            Some(*at),
                            None,
                            *keep_payload,
                        ),
                        Settlement::Retry {
                            id,
                            attempts,
                            next_attempt_at,
                            error,
                        } => (
                            id,
                            "pending",
                            attempts,
                            Some(*next_attempt_at),
                            None,
                            None,
                            Some(error.clone()),
                            true,
                        ),
                        Settlement::Failed {
                            id,
                            attempts,
                            error,
                        } => (
                            id,
                            "failed",
                            attempts,
                            None,
                            None,
                            None,
                            Some(error.clone()),
                            true,
                        ),
                    };
                row.push_bind(*id)
                    .push_bind(state)
                    .push_bind(*attempts)
                    .push_bind(next_attempt_at)
                    .push_bind(result_id)
                    .push_bind(delivered_at)
                    .push_bind(error)
                    .push_bind(keep);
            });
            update.push(") AS v WHERE outbox.id = v.column1");
            update.build().execute(c).await?;
        });
    }
    tx.commit().await
}

pub async fn get(pool: &(impl AsPool + ?Sized), id: i64) -> sqlx::Result<Option<Entry>> {
    crate::db!(pool.on(), |c| {
        sqlx::query("SELECT id, state, attempts, result_id, last_error FROM outbox WHERE id = $1")
            .bind(id)
            .fetch_optional(c)
            .await?
            .map(|r| {
                Ok(Entry {
                    id: r.try_get("id")?,
                    state: r.try_get("state")?,
                    attempts: r.try_get("attempts")?,
                    result_id: r.try_get("result_id")?,
                    last_error: r.try_get("last_error")?,
                })
            })
            .transpose()
    })
}

/// Deletes delivered and given-up calls created before `before_ms`; returns how many.
pub async fn purge_settled(pool: &(impl AsPool + ?Sized), before_ms: i64) -> sqlx::Result<u64> {
    crate::db!(pool.on(), |c| {
        sqlx::query("DELETE FROM outbox WHERE state <> 'pending' AND created_at < $1")
            .bind(before_ms)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })
}
