//! Webhook items (`whatsapp_inbound`): stored once each, by one writer with group commit, before
//! the webhook is answered; handled in arrival order; their keys kept while Meta retries.

use std::collections::HashSet;

use serde_json::{Value, json};
use sqlx::Row;

use crate::store::{AsConn, AsPool, Pool};

/// What an item of a webhook is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundKind {
    /// A message from a customer (`value.messages[]`), stored with its sender's contact.
    Message,
    /// A delivery status of a message we sent (`value.statuses[]`).
    Status,
}

impl InboundKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InboundKind::Message => "message",
            InboundKind::Status => "status",
        }
    }
}

/// One item of a verified webhook, as it is stored (`whatsapp_cloud::webhook::parse` makes
/// them).
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    /// `message:<wamid>` or `status:<wamid>:<status>`: a retry of the same item has the same key.
    pub dedupe_key: String,
    /// The business number it came to (`metadata.phone_number_id`): routes it to a service.
    pub phone_number_id: String,
    pub kind: InboundKind,
    pub wamid: String,
    /// The message with `contact` (its sender's `contacts[]` entry), or the status, as sent.
    pub item: Value,
}

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
                    let mut tx = crate::store::begin_write(&pool).await?;
                    let news = store_new_in(&mut tx, &batch, now).await?;
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

/// Stores the writes' items not stored before (one statement for the whole batch), numbered in
/// arrival order; how many of each write's were new.
async fn store_new_in(
    tx: &mut (impl AsConn + ?Sized),
    batch: &[Write],
    now: i64,
) -> sqlx::Result<Vec<usize>> {
    let rows: Vec<Value> = batch
        .iter()
        .flat_map(|w| &w.items)
        .map(|i| {
            json!([
                i.dedupe_key,
                i.phone_number_id,
                i.kind.as_str(),
                i.wamid,
                i.item.to_string()
            ])
        })
        .collect();
    // `WHERE true`: SQLite's upsert after a SELECT needs it to parse. The arrival numbers
    // continue the highest stored: safe with one writer at a time (SQLite's, or one process's
    // turn on PostgreSQL); two processes writing to one PostgreSQL may hand out the same
    // numbers, and their items then keep the order of `received_at` among themselves.
    let sql = tx.conn().pick(
        "INSERT INTO whatsapp_inbound (dedupe_key, phone_number_id, kind, wamid, item, received_at, arrival)
         SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'),
                json_extract(value, '$[3]'), json_extract(value, '$[4]'), $2,
                (SELECT COALESCE(MAX(arrival), 0) FROM whatsapp_inbound) + key + 1
         FROM json_each($1) WHERE true
         ON CONFLICT (dedupe_key) DO NOTHING
         RETURNING dedupe_key",
        "INSERT INTO whatsapp_inbound (dedupe_key, phone_number_id, kind, wamid, item, received_at, arrival)
         SELECT j.value->>0, j.value->>1, j.value->>2, j.value->>3, j.value->>4, $2,
                (SELECT COALESCE(MAX(arrival), 0) FROM whatsapp_inbound) + j.k
         FROM json_array_elements(CAST($1 AS json)) WITH ORDINALITY AS j(value, k)
         ON CONFLICT (dedupe_key) DO NOTHING
         RETURNING dedupe_key",
    );
    let rows = Value::Array(rows).to_string();
    let stored: Vec<String> = crate::db!(tx.conn(), |c| {
        sqlx::query_scalar(sql)
            .bind(&rows)
            .bind(now)
            .fetch_all(c)
            .await
    })?;
    let mut stored: HashSet<String> = stored.into_iter().collect();
    // A key sent twice in the batch was stored for its first sender only.
    Ok(batch
        .iter()
        .map(|w| {
            w.items
                .iter()
                .filter(|i| stored.remove(&i.dedupe_key))
                .count()
        })
        .collect())
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
pub async fn pending(pool: &(impl AsPool + ?Sized), limit: i64) -> sqlx::Result<Vec<PendingItem>> {
    crate::db!(pool.on(), |c| {
        sqlx::query(
            "SELECT dedupe_key, phone_number_id, kind, wamid, item FROM whatsapp_inbound
         WHERE handled_at IS NULL ORDER BY COALESCE(arrival, 0), received_at LIMIT $1",
        )
        .bind(limit)
        .fetch_all(c)
        .await?
        .iter()
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
    })
}

/// How long the key of a handled item is kept: Meta retries a webhook for about 7 days.
pub const DEDUPE_KEEP_MS: i64 = 8 * 24 * 3600 * 1000;

/// Deletes the keys of items handled more than [`DEDUPE_KEEP_MS`] ago.
pub async fn purge_handled(pool: &(impl AsPool + ?Sized), now: i64) -> sqlx::Result<u64> {
    crate::db!(pool.on(), |c| {
        sqlx::query("DELETE FROM whatsapp_inbound WHERE handled_at IS NOT NULL AND handled_at < $1")
            .bind(now.saturating_sub(DEDUPE_KEEP_MS))
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })
}

/// Marks items handled and empties them: what the customer wrote is in their session now
/// (under its retention); the key stays, so a retry of the item is still known. One statement.
pub async fn handled_all(
    conn: &mut (impl AsConn + ?Sized),
    dedupe_keys: &[String],
    now: i64,
) -> sqlx::Result<()> {
    if dedupe_keys.is_empty() {
        return Ok(());
    }
    let sql = conn.conn().pick(
        "UPDATE whatsapp_inbound SET handled_at = $2, item = '{}'
         WHERE dedupe_key IN (SELECT value FROM json_each($1))",
        "UPDATE whatsapp_inbound SET handled_at = $2, item = '{}'
         WHERE dedupe_key IN (SELECT value FROM json_array_elements_text(CAST($1 AS json)) AS t(value))",
    );
    let keys = serde_json::to_string(dedupe_keys).unwrap_or_default();
    crate::db!(conn.conn(), |c| {
        sqlx::query(sql)
            .bind(&keys)
            .bind(now)
            .execute(c)
            .await
            .map(|_| ())
    })
}
