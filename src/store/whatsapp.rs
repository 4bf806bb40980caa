//! WhatsApp's tables: webhook items (`whatsapp_inbound`), stored once each before the webhook
//! is answered (a retry of a message, same `wamid`, or of a status, same `wamid` and status,
//! finds its row) and handled in the order they arrived; the customers' sessions
//! (`whatsapp_sessions`); the messages sent and their delivery status (`whatsapp_outbound`);
//! and each tenant's Cloud API credentials (`tenant_whatsapp`).

use sqlx::{Row, SqliteConnection};

use crate::store::Pool;
use crate::whatsapp_cloud::webhook::Inbound;

/// Webhooks stored by one task, those that arrive while a commit runs sharing the next one
/// (group commit), so commits per second do not bound webhooks per second. Each webhook is
/// answered once its items are durably stored.
pub struct InboundWriter {
    queue: tokio::sync::mpsc::UnboundedSender<Write>,
}

struct Write {
    items: Vec<Inbound>,
    reply: tokio::sync::oneshot::Sender<sqlx::Result<usize>>,
}

/// Webhooks committed in one transaction at most.
const WRITE_BATCH: usize = 512;

impl InboundWriter {
    /// Starts the writer; `stored` is woken after each commit that stored something new.
    pub fn start(
        pool: Pool,
        clock: std::sync::Arc<dyn crate::clock::Clock>,
        stored: std::sync::Arc<tokio::sync::Notify>,
    ) -> Self {
        let (queue, mut writes) = tokio::sync::mpsc::unbounded_channel::<Write>();
        tokio::spawn(async move {
            while let Some(first) = writes.recv().await {
                let mut batch = vec![first];
                while batch.len() < WRITE_BATCH {
                    match writes.try_recv() {
                        Ok(write) => batch.push(write),
                        Err(_) => break,
                    }
                }
                let now = clock.now_ms();
                let stored_all = async {
                    let mut tx = super::begin_write(&pool).await?;
                    let mut news = Vec::with_capacity(batch.len());
                    for write in &batch {
                        news.push(store_new_in(&mut tx, &write.items, now).await?);
                    }
                    tx.commit().await?;
                    Ok::<_, sqlx::Error>(news)
                }
                .await;
                match stored_all {
                    Ok(news) => {
                        if news.iter().any(|n| *n > 0) {
                            stored.notify_one();
                        }
                        for (write, new) in batch.into_iter().zip(news) {
                            let _ = write.reply.send(Ok(new));
                        }
                    }
                    Err(e) => {
                        let message = e.to_string();
                        for write in batch {
                            let _ = write
                                .reply
                                .send(Err(sqlx::Error::Protocol(message.clone())));
                        }
                    }
                }
            }
        });
        InboundWriter { queue }
    }

    /// Stores a webhook's items; how many were new.
    pub async fn store(&self, items: Vec<Inbound>) -> sqlx::Result<usize> {
        if items.is_empty() {
            return Ok(0);
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.queue
            .send(Write { items, reply })
            .map_err(|_| sqlx::Error::PoolClosed)?;
        answer.await.map_err(|_| sqlx::Error::PoolClosed)?
    }
}

/// Stores the items not stored before, numbered in arrival order; how many were new.
async fn store_new_in(
    tx: &mut SqliteConnection,
    items: &[Inbound],
    now: i64,
) -> sqlx::Result<usize> {
    let mut new = 0;
    for item in items {
        let result = sqlx::query(
            "INSERT INTO whatsapp_inbound (dedupe_key, phone_number_id, kind, wamid, item, received_at, arrival)
             VALUES ($1, $2, $3, $4, $5, $6,
                     (SELECT COALESCE(MAX(arrival), 0) + 1 FROM whatsapp_inbound))
             ON CONFLICT (dedupe_key) DO NOTHING",
        )
        .bind(&item.dedupe_key)
        .bind(&item.phone_number_id)
        .bind(item.kind.as_str())
        .bind(&item.wamid)
        .bind(item.item.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        new += usize::try_from(result.rows_affected()).unwrap_or(0);
    }
    Ok(new)
}

/// A stored webhook item not yet handled.
#[derive(Debug, Clone)]
pub struct PendingItem {
    pub dedupe_key: String,
    pub phone_number_id: String,
    pub kind: String,
    pub wamid: String,
    pub item: String,
}

/// Up to `limit` unhandled items, in arrival order.
pub async fn pending(pool: &Pool, limit: i64) -> sqlx::Result<Vec<PendingItem>> {
    let rows = sqlx::query(
        "SELECT dedupe_key, phone_number_id, kind, wamid, item FROM whatsapp_inbound
         WHERE handled_at IS NULL ORDER BY COALESCE(arrival, 0), received_at LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(PendingItem {
                dedupe_key: r.try_get("dedupe_key")?,
                phone_number_id: r.try_get("phone_number_id")?,
                kind: r.try_get("kind")?,
                wamid: r.try_get("wamid")?,
                item: r.try_get("item")?,
            })
        })
        .collect()
}

/// How long the key of a handled item is kept: Meta retries a webhook for about 7 days.
pub const DEDUPE_KEEP_MS: i64 = 8 * 24 * 3600 * 1000;

/// Deletes the keys of items handled more than [`DEDUPE_KEEP_MS`] ago.
pub async fn purge_handled(pool: &Pool, now: i64) -> sqlx::Result<u64> {
    Ok(
        sqlx::query(
            "DELETE FROM whatsapp_inbound WHERE handled_at IS NOT NULL AND handled_at < $1",
        )
        .bind(now.saturating_sub(DEDUPE_KEEP_MS))
        .execute(pool)
        .await?
        .rows_affected(),
    )
}

/// Marks an item handled and empties it: what the customer wrote is in their session now
/// (under its retention); the key stays, so a retry of the item is still known.
pub async fn handled(conn: &mut SqliteConnection, dedupe_key: &str, now: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE whatsapp_inbound SET handled_at = $2, item = '{}' WHERE dedupe_key = $1")
        .bind(dedupe_key)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

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

fn session_of(r: &sqlx::sqlite::SqliteRow) -> sqlx::Result<WaSession> {
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
}

/// The customer's open session on a business number.
pub async fn open_session(
    conn: &mut SqliteConnection,
    phone_number_id: &str,
    customer_key: &str,
) -> sqlx::Result<Option<WaSession>> {
    let row = sqlx::query(&format!(
        "SELECT {SESSION_COLUMNS} FROM whatsapp_sessions
         WHERE phone_number_id = $1 AND customer_key = $2 AND ended_at IS NULL"
    ))
    .bind(phone_number_id)
    .bind(customer_key)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(session_of).transpose()
}

/// A session by id.
pub async fn session(pool: &Pool, session_id: &str) -> sqlx::Result<Option<WaSession>> {
    let row = sqlx::query(&format!(
        "SELECT {SESSION_COLUMNS} FROM whatsapp_sessions WHERE session_id = $1"
    ))
    .bind(session_id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(session_of).transpose()
}

/// The ids of the sessions not ended.
pub async fn open_sessions(pool: &Pool) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar("SELECT session_id FROM whatsapp_sessions WHERE ended_at IS NULL")
        .fetch_all(pool)
        .await
}

/// Stores a new session (its customer session row is the caller's).
pub async fn create_session(conn: &mut SqliteConnection, s: &WaSession) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO whatsapp_sessions (session_id, tenant_id, phone_number_id, customer_key, recipient_field, recipient, last_inbound_at, last_inbound_wamid, sent_seq)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&s.session_id)
    .bind(&s.tenant_id)
    .bind(&s.phone_number_id)
    .bind(&s.customer_key)
    .bind(&s.recipient_field)
    .bind(&s.recipient)
    .bind(s.last_inbound_at)
    .bind(&s.last_inbound_wamid)
    .bind(s.sent_seq)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records the customer's latest message (the 24-hour window runs from it).
pub async fn inbound(
    conn: &mut SqliteConnection,
    session_id: &str,
    at: i64,
    wamid: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE whatsapp_sessions SET last_inbound_at = CASE WHEN last_inbound_at > $2 THEN last_inbound_at ELSE $2 END, last_inbound_wamid = $3
         WHERE session_id = $1",
    )
    .bind(session_id)
    .bind(at)
    .bind(wamid)
    .execute(conn)
    .await?;
    Ok(())
}

/// Moves the session's sent mark to `seq` (and ends it, when `ended`).
pub async fn sent_up_to(
    conn: &mut SqliteConnection,
    session_id: &str,
    seq: i64,
    ended: Option<i64>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE whatsapp_sessions SET sent_seq = CASE WHEN sent_seq > $2 THEN sent_seq ELSE $2 END, ended_at = COALESCE(ended_at, $3)
         WHERE session_id = $1",
    )
    .bind(session_id)
    .bind(seq)
    .bind(ended)
    .execute(conn)
    .await?;
    Ok(())
}

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

async fn outbound_row(conn: &mut SqliteConnection, wamid: &str) -> sqlx::Result<Outbound> {
    let r = sqlx::query(
        "SELECT wamid, session_id, seq, status, error_code, error_title, agent_told
         FROM whatsapp_outbound WHERE wamid = $1",
    )
    .bind(wamid)
    .fetch_one(conn)
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
}

/// Records that the Cloud API accepted the message of `session`'s event `seq` as `wamid`.
pub async fn record_sent(
    conn: &mut SqliteConnection,
    wamid: &str,
    session_id: &str,
    seq: i64,
    now: i64,
) -> sqlx::Result<Outbound> {
    sqlx::query(
        "INSERT INTO whatsapp_outbound (wamid, session_id, seq, status, status_rank, updated_at)
         VALUES ($1, $2, $3, 'accepted', 0, $4)
         ON CONFLICT (wamid) DO UPDATE SET session_id = excluded.session_id, seq = excluded.seq",
    )
    .bind(wamid)
    .bind(session_id)
    .bind(seq)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    outbound_row(conn, wamid).await
}

/// Records a delivery status (only forward); returns the message's row.
pub async fn record_status(
    conn: &mut SqliteConnection,
    wamid: &str,
    status: &str,
    error: Option<(i64, &str)>,
    now: i64,
) -> sqlx::Result<Outbound> {
    let rank = status_rank(status);
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
    .execute(&mut *conn)
    .await?;
    outbound_row(conn, wamid).await
}

/// Marks a failure as reported to the agent.
pub async fn agent_told(conn: &mut SqliteConnection, wamid: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE whatsapp_outbound SET agent_told = 1 WHERE wamid = $1")
        .bind(wamid)
        .execute(conn)
        .await?;
    Ok(())
}

/// The delivery status of each message sent in a session, by the customer event it carried.
pub async fn statuses_of(pool: &Pool, session_id: &str) -> sqlx::Result<Vec<(i64, String)>> {
    let rows = sqlx::query(
        "SELECT seq, status FROM whatsapp_outbound WHERE session_id = $1 AND seq IS NOT NULL ORDER BY seq",
    )
    .bind(session_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("seq")?, r.try_get("status")?)))
        .collect()
}

/// A tenant's Cloud API credentials.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Credentials {
    pub access_token: Option<String>,
    pub business_account_id: Option<String>,
    pub updated_at: Option<i64>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_token", &self.access_token.as_ref().map(|_| "[set]"))
            .field("business_account_id", &self.business_account_id)
            .finish()
    }
}

/// The tenant's credentials (all unset when never stored).
pub async fn credentials(conn: &mut SqliteConnection, tenant: &str) -> sqlx::Result<Credentials> {
    let row = sqlx::query(
        "SELECT access_token, business_account_id, updated_at FROM tenant_whatsapp WHERE tenant_id = $1",
    )
    .bind(tenant)
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        Ok(Credentials {
            access_token: r.try_get("access_token")?,
            business_account_id: r.try_get("business_account_id")?,
            updated_at: r.try_get("updated_at")?,
        })
    })
    .transpose()
    .map(Option::unwrap_or_default)
}

/// Replaces the tenant's credentials.
pub async fn set_credentials(
    conn: &mut SqliteConnection,
    tenant: &str,
    credentials: &Credentials,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO tenant_whatsapp (tenant_id, access_token, business_account_id, updated_at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id) DO UPDATE SET access_token = excluded.access_token,
             business_account_id = excluded.business_account_id, updated_at = excluded.updated_at",
    )
    .bind(tenant)
    .bind(&credentials.access_token)
    .bind(&credentials.business_account_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// A customer's media file.
#[derive(Clone, PartialEq, Eq)]
pub struct MediaRow {
    pub id: String,
    pub tenant_id: String,
    pub session_id: String,
    pub media_id: String,
    pub kind: String,
    pub mime_type: Option<String>,
    pub filename: Option<String>,
    pub state: String,
    pub error: Option<String>,
    pub bytes: Option<Vec<u8>>,
}

/// Records a media file to fetch.
pub async fn add_media(conn: &mut SqliteConnection, m: &MediaRow, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO whatsapp_media (id, tenant_id, session_id, media_id, kind, mime_type, filename, state, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8)",
    )
    .bind(&m.id)
    .bind(&m.tenant_id)
    .bind(&m.session_id)
    .bind(&m.media_id)
    .bind(&m.kind)
    .bind(&m.mime_type)
    .bind(&m.filename)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

fn media_of(r: &sqlx::sqlite::SqliteRow, with_bytes: bool) -> sqlx::Result<MediaRow> {
    Ok(MediaRow {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        session_id: r.try_get("session_id")?,
        media_id: r.try_get("media_id")?,
        kind: r.try_get("kind")?,
        mime_type: r.try_get("mime_type")?,
        filename: r.try_get("filename")?,
        state: r.try_get("state")?,
        error: r.try_get("error")?,
        bytes: if with_bytes {
            r.try_get("bytes")?
        } else {
            None
        },
    })
}

/// Media waiting to be fetched, oldest first.
pub async fn pending_media(pool: &Pool, limit: i64) -> sqlx::Result<Vec<MediaRow>> {
    let rows = sqlx::query(
        "SELECT id, tenant_id, session_id, media_id, kind, mime_type, filename, state, error
         FROM whatsapp_media WHERE state = 'pending' ORDER BY created_at LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(|r| media_of(r, false)).collect()
}

/// A media file with its bytes.
pub async fn media(pool: &Pool, id: &str) -> sqlx::Result<Option<MediaRow>> {
    let row = sqlx::query(
        "SELECT id, tenant_id, session_id, media_id, kind, mime_type, filename, state, error, bytes
         FROM whatsapp_media WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(|r| media_of(r, true)).transpose()
}

/// Stores a fetched file, or why it could not be fetched.
pub async fn media_fetched(
    pool: &Pool,
    id: &str,
    result: Result<(Vec<u8>, Option<String>), String>,
) -> sqlx::Result<()> {
    let mut tx = super::begin_write(pool).await?;
    match result {
        Ok((bytes, mime)) => {
            sqlx::query(
                "UPDATE whatsapp_media SET state = 'stored', size = $2, bytes = $3,
                     mime_type = COALESCE($4, mime_type) WHERE id = $1",
            )
            .bind(id)
            .bind(i64::try_from(bytes.len()).unwrap_or(i64::MAX))
            .bind(bytes)
            .bind(mime)
            .execute(&mut *tx)
            .await?;
        }
        Err(error) => {
            sqlx::query("UPDATE whatsapp_media SET state = 'failed', error = $2 WHERE id = $1")
                .bind(id)
                .bind(error)
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await
}
