//! Persistence of customer sessions, their event streams and idempotent message sends.

use sqlx::Row;

pub use super::session::{CustomerEvent, CustomerState, StoredSession};
use crate::store::{AsConn, AsPool};

pub async fn create(
    pool: &(impl AsPool + ?Sized),
    row: &StoredSession,
    now: i64,
) -> sqlx::Result<()> {
    crate::db!(pool.on(), |c| {
        sqlx::query(
            "INSERT INTO interact_sessions (session_id, tenant_id, contact_id, token_hash, state, created_at, last_activity_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(&row.session_id)
        .bind(&row.tenant_id)
        .bind(&row.contact_id)
        .bind(&row.token_hash)
        .bind(row.state.as_str())
        .bind(now)
        .execute(c)
        .await?;
    });
    Ok(())
}

pub async fn find(
    pool: &(impl AsPool + ?Sized),
    session: &str,
) -> sqlx::Result<Option<StoredSession>> {
    let row: Option<(String, String, String, String, String)> = crate::db!(pool.on(), |c| {
        sqlx::query_as("SELECT session_id, tenant_id, contact_id, token_hash, state FROM interact_sessions WHERE session_id = $1")
            .bind(session)
            .fetch_optional(c)
            .await
    })?;
    row.map(|(session_id, tenant_id, contact_id, token_hash, stored)| {
        Ok(StoredSession {
            session_id,
            tenant_id,
            contact_id,
            token_hash,
            state: CustomerState::parse(&stored).ok_or_else(|| sqlx::Error::ColumnDecode {
                index: "state".into(),
                source: format!("unknown session state {stored:?}").into(),
            })?,
        })
    })
    .transpose()
}

/// Appends an event (and records a state change on the session); returns its sequence number.
pub async fn append(
    pool: &(impl AsPool + ?Sized),
    session: &str,
    event: &CustomerEvent,
    now: i64,
) -> sqlx::Result<i64> {
    let mut tx = crate::store::begin_write(pool).await?;
    let seq = append_in(&mut tx, session, event, now).await?;
    tx.commit().await?;
    Ok(seq)
}

/// [`append`] inside the caller's transaction. The event's `seq` is a counter (the session's
/// last plus one) that relies on one writer at a time: SQLite's write lock, on PostgreSQL the
/// process's turn to write ([`crate::store::begin_write`]) in the one instance that owns the
/// tenants (the others forward every request that writes; [`crate::cluster`]).
pub async fn append_in(
    tx: &mut (impl AsConn + ?Sized),
    session: &str,
    event: &CustomerEvent,
    now: i64,
) -> sqlx::Result<i64> {
    // One statement that writes: the transaction takes the write lock at once instead of
    // upgrading a read, which SQLite refuses ("database is locked") when another writer got in
    // between.
    let json = serde_json::to_string(event).unwrap_or_default();
    let seq: i64 = crate::db!(tx.conn(), |c| {
        sqlx::query_scalar(
            "INSERT INTO interact_events (session_id, seq, event, created_at)
             SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3 FROM interact_events WHERE session_id = $1
             RETURNING seq",
        )
        .bind(session)
        .bind(&json)
        .bind(now)
        .fetch_one(c)
        .await
    })?;
    if let CustomerEvent::State { state, .. } = event {
        // Ended is final: a state converted late (said before the end) does not reopen it.
        crate::db!(tx.conn(), |c| {
            sqlx::query(
                "UPDATE interact_sessions SET state = $2, last_activity_at = $3
                 WHERE session_id = $1 AND state <> 'ended'",
            )
            .bind(session)
            .bind(state.as_str())
            .bind(now)
            .execute(c)
            .await?;
        });
    }
    Ok(seq)
}

/// What became of a customer's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Stored, with its sequence number.
    New(i64),
    /// Its client message id was accepted before: nothing stored again.
    Duplicate,
    /// The session has ended: nothing stored.
    Ended,
}

/// Stores a customer's message (its client message id, its event and the activity time) in
/// one transaction, unless the session has ended or the id was accepted before.
pub async fn accept_message(
    pool: &(impl AsPool + ?Sized),
    session: &str,
    client_message_id: &str,
    event: &CustomerEvent,
    now: i64,
) -> sqlx::Result<Accepted> {
    let mut tx = crate::store::begin_write(pool).await?;
    // On SQLite the transaction holds the write lock from its start: an end recorded by
    // another connection is either before (refused) or after (it waits for us). PostgreSQL
    // takes no such lock; within the process the session's gate (`customer::ending`) keeps a
    // message and an end apart.
    let inserted = crate::db!(tx.conn(), |c| {
        sqlx::query(
            "INSERT INTO interact_messages (session_id, client_message_id)
             SELECT $1, $2 WHERE NOT EXISTS
                 (SELECT 1 FROM interact_sessions WHERE session_id = $1 AND state = 'ended')
             ON CONFLICT (session_id, client_message_id) DO NOTHING",
        )
        .bind(session)
        .bind(client_message_id)
        .execute(c)
        .await?
        .rows_affected()
    });
    if inserted == 0 {
        let duplicate = seen(&mut tx, session, client_message_id).await?;
        tx.commit().await?;
        return Ok(if duplicate {
            Accepted::Duplicate
        } else {
            Accepted::Ended
        });
    }
    let seq = append_in(&mut tx, session, event, now).await?;
    touch_all(&mut tx, &[session.to_owned()], now).await?;
    tx.commit().await?;
    Ok(Accepted::New(seq))
}

/// Creates these sessions (one statement).
pub async fn create_all(
    tx: &mut (impl AsConn + ?Sized),
    rows: &[StoredSession],
    now: i64,
) -> sqlx::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let rows: Vec<[&str; 4]> = rows
        .iter()
        .map(|r| {
            [
                r.session_id.as_str(),
                r.tenant_id.as_str(),
                r.contact_id.as_str(),
                r.token_hash.as_str(),
            ]
        })
        .collect();
    let on = tx.conn();
    let sql = on.pick(
        "INSERT INTO interact_sessions (session_id, tenant_id, contact_id, token_hash, state, created_at, last_activity_at)
         SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'),
                json_extract(value, '$[3]'), $2, $3, $3
         FROM json_each($1)",
        "INSERT INTO interact_sessions (session_id, tenant_id, contact_id, token_hash, state, created_at, last_activity_at)
         SELECT t.value->>0, t.value->>1, t.value->>2, t.value->>3, $2, $3, $3
         FROM json_array_elements(CAST($1 AS json)) AS t(value)",
    );
    crate::db!(on, |c| {
        sqlx::query(sql)
            .bind(serde_json::to_string(&rows).unwrap_or_default())
            .bind(CustomerState::Connecting.as_str())
            .bind(now)
            .execute(c)
            .await?;
    });
    Ok(())
}

/// Takes these `(session, client message id)` pairs, except those taken before and those of
/// ended sessions: the pairs taken (one statement). The caller appends their events.
pub async fn accept_all(
    tx: &mut (impl AsConn + ?Sized),
    pairs: &[(String, String)],
) -> sqlx::Result<std::collections::HashSet<(String, String)>> {
    if pairs.is_empty() {
        return Ok(Default::default());
    }
    let on = tx.conn();
    let sql = on.pick(
        "INSERT INTO interact_messages (session_id, client_message_id)
         SELECT json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]') FROM json_each($1) AS j
         WHERE NOT EXISTS (SELECT 1 FROM interact_sessions s
                           WHERE s.session_id = json_extract(j.value, '$[0]') AND s.state = 'ended')
         ON CONFLICT (session_id, client_message_id) DO NOTHING
         RETURNING session_id, client_message_id",
        "INSERT INTO interact_messages (session_id, client_message_id)
         SELECT j.value->>0, j.value->>1 FROM json_array_elements(CAST($1 AS json)) AS j(value)
         WHERE NOT EXISTS (SELECT 1 FROM interact_sessions s
                           WHERE s.session_id = j.value->>0 AND s.state = 'ended')
         ON CONFLICT (session_id, client_message_id) DO NOTHING
         RETURNING session_id, client_message_id",
    );
    let taken: Vec<(String, String)> = crate::db!(on, |c| {
        sqlx::query_as(sql)
            .bind(serde_json::to_string(pairs).unwrap_or_default())
            .fetch_all(c)
            .await
    })?;
    Ok(taken.into_iter().collect())
}

/// Appends `(session, event)` pairs in their order, each after its session's last event (one
/// statement). States are not among them: [`append_in`] also records those on the session.
/// The same counter as [`append_in`], under the same one-writer condition.
pub async fn append_all(
    tx: &mut (impl AsConn + ?Sized),
    events: &[(String, CustomerEvent)],
    now: i64,
) -> sqlx::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    debug_assert!(
        !events
            .iter()
            .any(|(_, e)| matches!(e, CustomerEvent::State { .. }))
    );
    let rows: Vec<(&str, String)> = events
        .iter()
        .map(|(session, event)| {
            (
                session.as_str(),
                serde_json::to_string(event).unwrap_or_default(),
            )
        })
        .collect();
    let on = tx.conn();
    let sql = on.pick(
        "INSERT INTO interact_events (session_id, seq, event, created_at)
         SELECT j.sid,
                COALESCE((SELECT MAX(e.seq) FROM interact_events e WHERE e.session_id = j.sid), 0)
                    + ROW_NUMBER() OVER (PARTITION BY j.sid ORDER BY j.k),
                j.event, $2
         FROM (SELECT key AS k, json_extract(value, '$[0]') AS sid, json_extract(value, '$[1]') AS event
               FROM json_each($1)) AS j",
        "INSERT INTO interact_events (session_id, seq, event, created_at)
         SELECT j.sid,
                COALESCE((SELECT MAX(e.seq) FROM interact_events e WHERE e.session_id = j.sid), 0)
                    + ROW_NUMBER() OVER (PARTITION BY j.sid ORDER BY j.k),
                j.event, $2
         FROM (SELECT t.k, t.value->>0 AS sid, t.value->>1 AS event
               FROM json_array_elements(CAST($1 AS json)) WITH ORDINALITY AS t(value, k)) AS j",
    );
    crate::db!(on, |c| {
        sqlx::query(sql)
            .bind(serde_json::to_string(&rows).unwrap_or_default())
            .bind(now)
            .execute(c)
            .await?;
    });
    Ok(())
}

/// Sets the last customer activity of `sessions` to `now` (one statement).
pub async fn touch_all(
    tx: &mut (impl AsConn + ?Sized),
    sessions: &[String],
    now: i64,
) -> sqlx::Result<()> {
    if sessions.is_empty() {
        return Ok(());
    }
    let on = tx.conn();
    let sql = on.pick(
        "UPDATE interact_sessions SET last_activity_at = $2
         WHERE session_id IN (SELECT value FROM json_each($1))",
        "UPDATE interact_sessions SET last_activity_at = $2
         WHERE session_id IN (SELECT value FROM json_array_elements_text(CAST($1 AS json)) AS t(value))",
    );
    crate::db!(on, |c| {
        sqlx::query(sql)
            .bind(serde_json::to_string(sessions).unwrap_or_default())
            .bind(now)
            .execute(c)
            .await?;
    });
    Ok(())
}

/// Appends an event unless the session has ended (one statement); `None` when it had.
/// On SQLite the statement runs on its own (SQLite's write lock orders it among the writers);
/// on PostgreSQL it takes the process's turn to write, which its `seq` counter needs (see
/// [`append_in`]).
pub async fn append_unless_ended(
    pool: &(impl AsPool + ?Sized),
    session: &str,
    event: &CustomerEvent,
    now: i64,
) -> sqlx::Result<Option<i64>> {
    if pool.on().is_postgres() {
        let mut tx = crate::store::begin_write(pool).await?;
        let seq = append_unless_ended_in(&mut tx, session, event, now).await?;
        tx.commit().await?;
        return Ok(seq);
    }
    crate::db!(pool.on(), |c| {
        sqlx::query_scalar(APPEND_UNLESS_ENDED)
            .bind(session)
            .bind(serde_json::to_string(event).unwrap_or_default())
            .bind(now)
            .fetch_optional(c)
            .await
    })
}

/// [`append_unless_ended`] inside the caller's transaction.
pub async fn append_unless_ended_in(
    tx: &mut (impl AsConn + ?Sized),
    session: &str,
    event: &CustomerEvent,
    now: i64,
) -> sqlx::Result<Option<i64>> {
    crate::db!(tx.conn(), |c| {
        sqlx::query_scalar(APPEND_UNLESS_ENDED)
            .bind(session)
            .bind(serde_json::to_string(event).unwrap_or_default())
            .bind(now)
            .fetch_optional(c)
            .await
    })
}

const APPEND_UNLESS_ENDED: &str = "INSERT INTO interact_events (session_id, seq, event, created_at)
     SELECT $1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM interact_events WHERE session_id = $1), $2, $3
     WHERE NOT EXISTS (SELECT 1 FROM interact_sessions WHERE session_id = $1 AND state = 'ended')
     RETURNING seq";

/// Records that the session has ended for the customer (their stream is told by the event
/// that follows). From then on [`accept_message`] refuses their messages.
pub async fn mark_ended(
    pool: &(impl AsPool + ?Sized),
    session: &str,
    now: i64,
) -> sqlx::Result<()> {
    crate::db!(pool.on(), |c| {
        sqlx::query(
            "UPDATE interact_sessions SET state = 'ended', last_activity_at = $2 WHERE session_id = $1",
        )
        .bind(session)
        .bind(now)
        .execute(c)
        .await?;
    });
    Ok(())
}

/// Ends the session with an `ended` event unless it has ended already; `true` when it did.
pub async fn end_once(
    pool: &(impl AsPool + ?Sized),
    session: &str,
    now: i64,
) -> sqlx::Result<bool> {
    let mut tx = crate::store::begin_write(pool).await?;
    let ended = crate::db!(tx.conn(), |c| {
        sqlx::query(
            "UPDATE interact_sessions SET state = 'ended', last_activity_at = $2
             WHERE session_id = $1 AND state <> 'ended'",
        )
        .bind(session)
        .bind(now)
        .execute(c)
        .await?
        .rows_affected()
    }) == 1;
    if ended {
        let event = CustomerEvent::State {
            state: CustomerState::Ended,
            agent: None,
        };
        append_in(&mut tx, session, &event, now).await?;
    }
    tx.commit().await?;
    Ok(ended)
}

/// Events after `after`, in order.
pub async fn events_after(
    pool: &(impl AsPool + ?Sized),
    session: &str,
    after: i64,
) -> sqlx::Result<Vec<(i64, CustomerEvent)>> {
    Ok(timed_events_after(pool, session, after)
        .await?
        .into_iter()
        .map(|(seq, _, event)| (seq, event))
        .collect())
}

/// [`events_after`] with when each was stored (ms): `(seq, at, event)`.
pub async fn timed_events_after(
    pool: &(impl AsPool + ?Sized),
    session: &str,
    after: i64,
) -> sqlx::Result<Vec<(i64, i64, CustomerEvent)>> {
    crate::db!(pool.on(), |c| {
        Ok(sqlx::query(
            "SELECT seq, created_at, event FROM interact_events WHERE session_id = $1 AND seq > $2 ORDER BY seq",
        )
        .bind(session)
        .bind(after)
        .fetch_all(c)
        .await?
        .into_iter()
        .filter_map(|r| {
            let seq: i64 = r.try_get("seq").ok()?;
            let at: i64 = r.try_get("created_at").ok()?;
            let event = serde_json::from_str(&r.try_get::<String, _>("event").ok()?).ok()?;
            Some((seq, at, event))
        })
        .collect())
    })
}

/// Whether a client message id was already accepted for the session.
pub async fn seen<'e>(
    executor: impl crate::store::IntoExecutor<'e>,
    session: &str,
    client_message_id: &str,
) -> sqlx::Result<bool> {
    Ok(crate::store::on_executor!(executor.executor(), |c| {
        sqlx::query(
            "SELECT 1 AS x FROM interact_messages WHERE session_id = $1 AND client_message_id = $2",
        )
        .bind(session)
        .bind(client_message_id)
        .fetch_optional(c)
        .await?
        .is_some()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: &str) -> CustomerEvent {
        CustomerEvent::CustomerMessage {
            text: format!("text of {id}"),
            client_message_id: id.to_owned(),
        }
    }

    /// The set-based writes of a WhatsApp pass: messages taken once each and never into an
    /// ended session, their events numbered after each session's last one, in the order given.
    #[tokio::test]
    async fn many_messages_are_taken_once_and_numbered_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pool =
            crate::store::connect(&format!("sqlite://{}", dir.path().join("t.db").display()))
                .await
                .expect("store");
        let row = |id: &str| StoredSession {
            session_id: id.to_owned(),
            tenant_id: "t".into(),
            contact_id: "c".into(),
            token_hash: "!".into(),
            state: CustomerState::Connecting,
        };
        let mut tx = crate::store::begin_write(&pool).await.expect("begin");
        create_all(&mut tx, &[row("a"), row("b"), row("gone")], 1)
            .await
            .expect("create");
        tx.commit().await.expect("commit");
        assert_eq!(
            accept_message(&pool, "a", "m0", &message("m0"), 2)
                .await
                .expect("accept"),
            Accepted::New(1)
        );
        append(
            &pool,
            "gone",
            &CustomerEvent::State {
                state: CustomerState::Ended,
                agent: None,
            },
            3,
        )
        .await
        .expect("end");

        let pairs: Vec<(String, String)> = [
            ("a", "m0"),
            ("a", "m1"),
            ("b", "m2"),
            ("a", "m3"),
            ("gone", "m4"),
        ]
        .map(|(s, m)| (s.to_owned(), m.to_owned()))
        .to_vec();
        let mut tx = crate::store::begin_write(&pool).await.expect("begin");
        let taken = accept_all(&mut tx, &pairs).await.expect("accept all");
        let expected: std::collections::HashSet<(String, String)> =
            pairs[1..4].iter().cloned().collect();
        assert_eq!(
            taken, expected,
            "m0 was taken before; the ended session takes nothing"
        );
        let events: Vec<(String, CustomerEvent)> = pairs[1..4]
            .iter()
            .map(|(s, m)| (s.clone(), message(m)))
            .collect();
        append_all(&mut tx, &events, 4).await.expect("append all");
        tx.commit().await.expect("commit");

        let ids = |events: Vec<(i64, CustomerEvent)>| -> Vec<(i64, String)> {
            events
                .into_iter()
                .filter_map(|(seq, e)| match e {
                    CustomerEvent::CustomerMessage {
                        client_message_id, ..
                    } => Some((seq, client_message_id)),
                    _ => None,
                })
                .collect()
        };
        let a = ids(events_after(&pool, "a", 0).await.expect("a"));
        assert_eq!(a, [(1, "m0".into()), (2, "m1".into()), (3, "m3".into())]);
        let b = ids(events_after(&pool, "b", 0).await.expect("b"));
        assert_eq!(b, [(1, "m2".into())]);
    }
}
