//! Messages sent to customers (`whatsapp_outbound`) and their delivery status, only forward.

use sqlx::Row;

use crate::store::{AsConn, AsPool};

/// How far a delivery status has come (a status only moves forward).
pub fn status_rank(status: &str) -> i64 {
    match status {
        "accepted" => 0,
        "sent" => 1,
        "delivered" => 2,
        "read" => 3,
        "failed" => 4,
        _ => -1,
    }
}

/// A sent message's row after an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound {
    pub wamid: String,
    pub session_id: Option<String>,
    pub seq: Option<i64>,
    pub status: String,
    pub error_code: Option<i64>,
    pub error_title: Option<String>,
    pub agent_told: bool,
}

async fn outbound_row(conn: &mut (impl AsConn + ?Sized), wamid: &str) -> sqlx::Result<Outbound> {
    crate::db!(conn.conn(), |c| {
        let r = sqlx::query(
            "SELECT wamid, session_id, seq, status, error_code, error_title, agent_told
             FROM whatsapp_outbound WHERE wamid = $1",
        )
        .bind(wamid)
        .fetch_one(c)
        .await?;
        Ok(Outbound {
            wamid: r.try_get("wamid")?,
            session_id: r.try_get("session_id")?,
            seq: r.try_get("seq")?,
            status: r.try_get("status")?,
            error_code: r.try_get("error_code")?,
            error_title: r.try_get("error_title")?,
            agent_told: r.try_get::<i64, _>("agent_told")? != 0,
        })
    })
}

/// Records that the Cloud API accepted the message of `session`'s event `seq` as `wamid`.
pub async fn record_sent(
    conn: &mut (impl AsConn + ?Sized),
    wamid: &str,
    session_id: &str,
    seq: i64,
    now: i64,
) -> sqlx::Result<Outbound> {
    crate::db!(conn.conn(), |c| {
        sqlx::query(
        "INSERT INTO whatsapp_outbound (wamid, session_id, seq, status, status_rank, updated_at)
         VALUES ($1, $2, $3, 'accepted', 0, $4)
         ON CONFLICT (wamid) DO UPDATE SET session_id = excluded.session_id, seq = excluded.seq",
    )
    .bind(wamid)
    .bind(session_id)
    .bind(seq)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ())
    })?;
    outbound_row(conn, wamid).await
}

/// Records a delivery status (only forward); returns the message's row.
pub async fn record_status(
    conn: &mut (impl AsConn + ?Sized),
    wamid: &str,
    status: &str,
    error: Option<(i64, &str)>,
    now: i64,
) -> sqlx::Result<Outbound> {
    let rank = status_rank(status);
    crate::db!(conn.conn(), |c| {
        sqlx::query(
        "INSERT INTO whatsapp_outbound (wamid, status, status_rank, error_code, error_title, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (wamid) DO UPDATE SET status = excluded.status, status_rank = excluded.status_rank,
             error_code = COALESCE(excluded.error_code, whatsapp_outbound.error_code),
             error_title = COALESCE(excluded.error_title, whatsapp_outbound.error_title),
             updated_at = excluded.updated_at
         WHERE excluded.status_rank > whatsapp_outbound.status_rank",
    )
    .bind(wamid)
    .bind(status)
    .bind(rank)
    .bind(error.map(|e| e.0))
    .bind(error.map(|e| e.1))
    .bind(now)
    .execute(c)
    .await
    .map(|_| ())
    })?;
    outbound_row(conn, wamid).await
}

/// Marks a failure as reported to the agent.
pub async fn agent_told(conn: &mut (impl AsConn + ?Sized), wamid: &str) -> sqlx::Result<()> {
    crate::db!(conn.conn(), |c| {
        sqlx::query("UPDATE whatsapp_outbound SET agent_told = 1 WHERE wamid = $1")
            .bind(wamid)
            .execute(c)
            .await
            .map(|_| ())
    })
}

/// The delivery status of each message sent in a session, by the customer event it carried.
pub async fn statuses_of(
    pool: &(impl AsPool + ?Sized),
    session_id: &str,
) -> sqlx::Result<Vec<(i64, String)>> {
    crate::db!(pool.on(), |c| {
        sqlx::query_as(
            "SELECT seq, status FROM whatsapp_outbound WHERE session_id = $1 AND seq IS NOT NULL ORDER BY seq",
        )
        .bind(session_id)
        .fetch_all(c)
        .await
    })
}

/// Sends the Cloud API took (their outbox row delivered, with a wamid) whose wamid is not
/// recorded with its message: a crash came between the two. `(wamid, send payload)`.
pub async fn unrecorded_sends(
    pool: &(impl AsPool + ?Sized),
) -> sqlx::Result<Vec<(String, String)>> {
    crate::db!(pool.on(), |c| {
        sqlx::query_as(
            "SELECT o.result_id, o.call FROM outbox o
         WHERE o.operation = 'whatsapp.send' AND o.state = 'delivered' AND o.result_id IS NOT NULL
           AND o.call <> ''
           AND NOT EXISTS (SELECT 1 FROM whatsapp_outbound w
                           WHERE w.wamid = o.result_id AND w.session_id IS NOT NULL)",
        )
        .fetch_all(c)
        .await
    })
}
