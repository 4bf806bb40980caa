//! Persistence of customer sessions, their event streams and idempotent message sends.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::store::Pool;

/// What a customer sees happen, in order (`seq` starts at 1 per session).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum CustomerEvent {
    /// `connecting`, `queued`, `connected` (with the agent's display name) or `ended`.
    State {
        state: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent: Option<String>,
    },
    /// The customer's place in the queue (1-based) changed.
    Queue { position: usize },
    /// A message to the customer from the service (workflow) or an agent (`from` is
    /// `service` or `agent`; an agent's message carries their display name).
    Message {
        from: String,
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// The agent is typing.
    Typing {},
    /// The customer's own message, as accepted.
    CustomerMessage {
        text: String,
        client_message_id: String,
    },
    /// A question with optional choices.
    Prompt { text: String, choices: Vec<String> },
}

/// A stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub session_id: String,
    pub tenant_id: String,
    pub contact_id: String,
    pub token_hash: String,
    pub state: String,
}

/// SHA-256 of a session token, hex.
pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Compares without leaking where two hashes differ.
pub fn same_hash(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

pub async fn create(pool: &Pool, row: &SessionRow, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO interact_sessions (session_id, tenant_id, contact_id, token_hash, state, created_at, last_activity_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(&row.session_id)
    .bind(&row.tenant_id)
    .bind(&row.contact_id)
    .bind(&row.token_hash)
    .bind(&row.state)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn find(pool: &Pool, session: &str) -> sqlx::Result<Option<SessionRow>> {
    let row = sqlx::query("SELECT session_id, tenant_id, contact_id, token_hash, state FROM interact_sessions WHERE session_id = $1")
        .bind(session)
        .fetch_optional(pool)
        .await?;
    row.map(|r| {
        Ok(SessionRow {
            session_id: r.try_get("session_id")?,
            tenant_id: r.try_get("tenant_id")?,
            contact_id: r.try_get("contact_id")?,
            token_hash: r.try_get("token_hash")?,
            state: r.try_get("state")?,
        })
    })
    .transpose()
}

/// Appends an event (and records a state change on the session); returns its sequence number.
pub async fn append(
    pool: &Pool,
    session: &str,
    event: &CustomerEvent,
    now: i64,
) -> sqlx::Result<i64> {
    let mut tx = pool.begin().await?;
    let seq = append_in(&mut tx, session, event, now).await?;
    tx.commit().await?;
    Ok(seq)
}

/// [`append`] inside the caller's transaction.
pub async fn append_in(
    tx: &mut sqlx::SqliteConnection,
    session: &str,
    event: &CustomerEvent,
    now: i64,
) -> sqlx::Result<i64> {
    // One statement that writes: the transaction takes the write lock at once instead of
    // upgrading a read, which SQLite refuses ("database is locked") when another writer got in
    // between.
    let seq: i64 = sqlx::query(
        "INSERT INTO interact_events (session_id, seq, event, created_at)
         SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3 FROM interact_events WHERE session_id = $1
         RETURNING seq",
    )
    .bind(session)
    .bind(serde_json::to_string(event).unwrap_or_default())
    .bind(now)
    .fetch_one(&mut *tx)
    .await?
    .try_get("seq")?;
    if let CustomerEvent::State { state, .. } = event {
        sqlx::query(
            "UPDATE interact_sessions SET state = $2, last_activity_at = $3 WHERE session_id = $1",
        )
        .bind(session)
        .bind(state)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    Ok(seq)
}

/// Events after `after`, in order.
pub async fn events_after(
    pool: &Pool,
    session: &str,
    after: i64,
) -> sqlx::Result<Vec<(i64, CustomerEvent)>> {
    let rows = sqlx::query(
        "SELECT seq, event FROM interact_events WHERE session_id = $1 AND seq > $2 ORDER BY seq",
    )
    .bind(session)
    .bind(after)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let seq: i64 = r.try_get("seq").ok()?;
            let event = serde_json::from_str(&r.try_get::<String, _>("event").ok()?).ok()?;
            Some((seq, event))
        })
        .collect())
}

/// Records a client message id; `false` when it was seen before (a retried send).
pub async fn first_send(pool: &Pool, session: &str, client_message_id: &str) -> sqlx::Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO interact_messages (session_id, client_message_id) VALUES ($1, $2)
         ON CONFLICT (session_id, client_message_id) DO NOTHING",
    )
    .bind(session)
    .bind(client_message_id)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// Whether a client message id was already accepted for the session.
pub async fn seen(pool: &Pool, session: &str, client_message_id: &str) -> sqlx::Result<bool> {
    Ok(sqlx::query(
        "SELECT 1 AS x FROM interact_messages WHERE session_id = $1 AND client_message_id = $2",
    )
    .bind(session)
    .bind(client_message_id)
    .fetch_optional(pool)
    .await?
    .is_some())
}

/// Records customer activity (for the inactivity timeout).
pub async fn touch(pool: &Pool, session: &str, now: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE interact_sessions SET last_activity_at = $2 WHERE session_id = $1")
        .bind(session)
        .bind(now)
        .execute(pool)
        .await?;
    Ok(())
}
