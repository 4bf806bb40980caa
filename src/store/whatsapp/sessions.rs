//! Customers' WhatsApp sessions (`whatsapp_sessions`): who the customer is, their 24-hour
//! window, and how far their events have been queued for sending.

use sqlx::Row;

use crate::store::{AsConn, AsPool};

/// A customer's WhatsApp session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaSession {
    pub session_id: String,
    pub tenant_id: String,
    pub phone_number_id: String,
    pub customer_key: String,
    /// `to` or `recipient`.
    pub recipient_field: String,
    pub recipient: String,
    pub last_inbound_at: i64,
    pub last_inbound_wamid: Option<String>,
    pub sent_seq: i64,
    pub ended_at: Option<i64>,
}

const SESSION_COLUMNS: &str = "session_id, tenant_id, phone_number_id, customer_key, recipient_field, recipient, last_inbound_at, last_inbound_wamid, sent_seq, ended_at";

/// A row of either backend with [`SESSION_COLUMNS`] as a [`WaSession`].
macro_rules! session_of {
    ($r:expr) => {{
        let r = $r;
        let read = || -> sqlx::Result<WaSession> {
            Ok(WaSession {
                session_id: r.try_get("session_id")?,
                tenant_id: r.try_get("tenant_id")?,
                phone_number_id: r.try_get("phone_number_id")?,
                customer_key: r.try_get("customer_key")?,
                recipient_field: r.try_get("recipient_field")?,
                recipient: r.try_get("recipient")?,
                last_inbound_at: r.try_get("last_inbound_at")?,
                last_inbound_wamid: r.try_get("last_inbound_wamid")?,
                sent_seq: r.try_get("sent_seq")?,
                ended_at: r.try_get("ended_at")?,
            })
        };
        read()
    }};
}

/// The open sessions of these `(phone number id, customer key)` pairs, each with whether its
/// customer session has ended meanwhile (its end not yet passed on here). One statement.
pub async fn open_sessions_of(
    conn: &mut (impl AsConn + ?Sized),
    keys: &[(String, String)],
) -> sqlx::Result<Vec<(WaSession, bool)>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let pairs = conn.conn().pick(
        "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each($1)",
        "SELECT t.value->>0, t.value->>1 FROM json_array_elements(CAST($1 AS json)) AS t(value)",
    );
    let sql = format!(
        "SELECT {SESSION_COLUMNS},
                EXISTS (SELECT 1 FROM interact_sessions i
                        WHERE i.session_id = whatsapp_sessions.session_id AND i.state = 'ended') AS customer_ended
         FROM whatsapp_sessions
         WHERE ended_at IS NULL AND (phone_number_id, customer_key) IN
             ({pairs})"
    );
    let keys = serde_json::to_string(keys).unwrap_or_default();
    crate::db!(conn.conn(), |c| {
        sqlx::query(&sql)
            .bind(&keys)
            .fetch_all(c)
            .await?
            .iter()
            .map(|r| Ok((session_of!(r)?, r.try_get("customer_ended")?)))
            .collect()
    })
}

/// Stores new sessions (their customer session rows are the caller's). One statement.
pub async fn create_sessions(
    conn: &mut (impl AsConn + ?Sized),
    rows: &[WaSession],
) -> sqlx::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|s| {
            serde_json::json!([
                s.session_id,
                s.tenant_id,
                s.phone_number_id,
                s.customer_key,
                s.recipient_field,
                s.recipient,
                s.last_inbound_at,
                s.last_inbound_wamid,
                s.sent_seq
            ])
        })
        .collect();
    let sql = conn.conn().pick(
        "INSERT INTO whatsapp_sessions (session_id, tenant_id, phone_number_id, customer_key, recipient_field, recipient, last_inbound_at, last_inbound_wamid, sent_seq)
         SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'),
                json_extract(value, '$[3]'), json_extract(value, '$[4]'), json_extract(value, '$[5]'),
                json_extract(value, '$[6]'), json_extract(value, '$[7]'), json_extract(value, '$[8]')
         FROM json_each($1)",
        "INSERT INTO whatsapp_sessions (session_id, tenant_id, phone_number_id, customer_key, recipient_field, recipient, last_inbound_at, last_inbound_wamid, sent_seq)
         SELECT t.value->>0, t.value->>1, t.value->>2, t.value->>3, t.value->>4, t.value->>5,
                CAST(t.value->>6 AS BIGINT), t.value->>7, CAST(t.value->>8 AS BIGINT)
         FROM json_array_elements(CAST($1 AS json)) AS t(value)",
    );
    let rows = serde_json::Value::Array(rows).to_string();
    crate::db!(conn.conn(), |c| {
        sqlx::query(sql).bind(&rows).execute(c).await.map(|_| ())
    })
}

/// The customers' latest messages: `(session, at, wamid)`, at most one per session (the
/// window runs from the latest `at`; the wamid is the one to mark read). One statement.
pub async fn inbound_all(
    conn: &mut (impl AsConn + ?Sized),
    latest: &[(String, i64, String)],
) -> sqlx::Result<()> {
    if latest.is_empty() {
        return Ok(());
    }
    let sql = conn.conn().pick(
        "UPDATE whatsapp_sessions
         SET last_inbound_at = MAX(last_inbound_at, j.at), last_inbound_wamid = j.wamid
         FROM (SELECT json_extract(value, '$[0]') AS sid, json_extract(value, '$[1]') AS at,
                      json_extract(value, '$[2]') AS wamid FROM json_each($1)) AS j
         WHERE whatsapp_sessions.session_id = j.sid",
        "UPDATE whatsapp_sessions
         SET last_inbound_at = GREATEST(last_inbound_at, j.at), last_inbound_wamid = j.wamid
         FROM (SELECT t.value->>0 AS sid, CAST(t.value->>1 AS BIGINT) AS at, t.value->>2 AS wamid
               FROM json_array_elements(CAST($1 AS json)) AS t(value)) AS j
         WHERE whatsapp_sessions.session_id = j.sid",
    );
    let latest = serde_json::to_string(latest).unwrap_or_default();
    crate::db!(conn.conn(), |c| {
        sqlx::query(sql).bind(&latest).execute(c).await.map(|_| ())
    })
}

/// These sessions (those that exist), each with its events after its sent mark, in order:
/// one statement for any number of sessions. Events this version cannot read are skipped.
pub async fn sessions_with_unsent(
    pool: &(impl AsPool + ?Sized),
    ids: &[String],
) -> sqlx::Result<Vec<(WaSession, Vec<(i64, String)>)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let columns: Vec<String> = SESSION_COLUMNS
        .split(", ")
        .map(|c| format!("s.{c}"))
        .collect();
    let on = pool.on();
    let listed = on.pick(
        "SELECT value FROM json_each($1)",
        "SELECT value FROM json_array_elements_text(CAST($1 AS json)) AS t(value)",
    );
    let sql = format!(
        "SELECT {}, e.seq AS event_seq, e.event AS event
         FROM whatsapp_sessions s
         LEFT JOIN interact_events e ON e.session_id = s.session_id AND e.seq > s.sent_seq
         WHERE s.session_id IN ({listed})
         ORDER BY s.session_id, e.seq",
        columns.join(", ")
    );
    let ids = serde_json::to_string(ids).unwrap_or_default();
    crate::db!(on, |c| {
        let rows = sqlx::query(&sql).bind(&ids).fetch_all(c).await?;
        let mut found: Vec<(WaSession, Vec<(i64, String)>)> = Vec::new();
        for row in &rows {
            let id: String = row.try_get("session_id")?;
            if found.last().is_none_or(|(s, _)| s.session_id != id) {
                found.push((session_of!(row)?, Vec::new()));
            }
            let seq: Option<i64> = row.try_get("event_seq")?;
            let event: Option<String> = row.try_get("event")?;
            if let (Some(seq), Some(event), Some((_, events))) = (seq, event, found.last_mut()) {
                events.push((seq, event));
            }
        }
        Ok(found)
    })
}

/// A session by id.
pub async fn session(
    pool: &(impl AsPool + ?Sized),
    session_id: &str,
) -> sqlx::Result<Option<WaSession>> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM whatsapp_sessions WHERE session_id = $1");
    crate::db!(pool.on(), |c| {
        sqlx::query(&sql)
            .bind(session_id)
            .fetch_optional(c)
            .await?
            .as_ref()
            .map(|r| session_of!(r))
            .transpose()
    })
}

/// The ids of the sessions not ended.
pub async fn open_sessions(pool: &(impl AsPool + ?Sized)) -> sqlx::Result<Vec<String>> {
    crate::db!(pool.on(), |c| {
        sqlx::query_scalar("SELECT session_id FROM whatsapp_sessions WHERE ended_at IS NULL")
            .fetch_all(c)
            .await
    })
}

/// Moves the session's sent mark to `seq` (and ends it, when `ended`).
pub async fn sent_up_to(
    conn: &mut (impl AsConn + ?Sized),
    session_id: &str,
    seq: i64,
    ended: Option<i64>,
) -> sqlx::Result<()> {
    crate::db!(conn.conn(), |c| {
        sqlx::query(
        "UPDATE whatsapp_sessions SET sent_seq = CASE WHEN sent_seq > $2 THEN sent_seq ELSE $2 END, ended_at = COALESCE(ended_at, $3)
         WHERE session_id = $1",
    )
    .bind(session_id)
    .bind(seq)
    .bind(ended)
    .execute(c)
    .await
    .map(|_| ())
    })
}

/// What the live view shows of an open WhatsApp session: when the customer last wrote (the
/// 24-hour window runs from it) and how many messages to them are in each delivery status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveWhatsApp {
    pub last_inbound_at: i64,
    /// `(status, count)`, by status.
    pub statuses: Vec<(String, i64)>,
}

/// The tenant's open WhatsApp sessions, for the live view.
pub async fn live(
    pool: &(impl AsPool + ?Sized),
    tenant: &str,
) -> sqlx::Result<std::collections::HashMap<String, LiveWhatsApp>> {
    // `last_inbound_at` is not grouped by: it depends on the session id, the primary key.
    let rows: Vec<(String, i64, Option<String>, i64)> = crate::db!(pool.on(), |c| {
        sqlx::query_as(
            "SELECT s.session_id, s.last_inbound_at, o.status, COUNT(o.wamid) AS n
             FROM whatsapp_sessions s LEFT JOIN whatsapp_outbound o ON o.session_id = s.session_id
             WHERE s.tenant_id = $1 AND s.ended_at IS NULL
             GROUP BY s.session_id, o.status ORDER BY s.session_id, o.status",
        )
        .bind(tenant)
        .fetch_all(c)
        .await
    })?;
    let mut live = std::collections::HashMap::<String, LiveWhatsApp>::new();
    for (session_id, last_inbound_at, status, n) in rows {
        let entry = live.entry(session_id).or_default();
        entry.last_inbound_at = last_inbound_at;
        if let Some(status) = status {
            entry.statuses.push((status, n));
        }
    }
    Ok(live)
}
