//! WhatsApp webhook items (`whatsapp_inbound`), stored once each before the webhook is answered:
//! a retry of a message (same `wamid`) or of a status (same `wamid` and status) finds its row.

use crate::store::Pool;
use crate::whatsapp_cloud::webhook::Inbound;

/// Stores the items not stored before, in one transaction; returns how many were new.
pub async fn store_new(pool: &Pool, items: &[Inbound], now: i64) -> sqlx::Result<usize> {
    if items.is_empty() {
        return Ok(0);
    }
    let mut tx = super::begin_write(pool).await?;
    let mut new = 0;
    for item in items {
        let result = sqlx::query(
            "INSERT INTO whatsapp_inbound (dedupe_key, phone_number_id, kind, wamid, item, received_at)
             VALUES ($1, $2, $3, $4, $5, $6)
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
    tx.commit().await?;
    Ok(new)
}
