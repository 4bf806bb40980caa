//! What customers leave besides a chat: a message when nobody was available (stored, and told
//! to the tenant's systems as an `offlineMessage.received` webhook in the same transaction) and
//! the satisfaction survey after a chat (one per session; its rating counts in the KPIs).

use serde::Serialize;
use sqlx::Row;

use crate::engine::messages::Customer;
use crate::store::{AsConn, AsPool};
use crate::webhooks::events::{EventData, EventKind, WebhookEvent};

/// A message a customer left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OfflineMessage {
    pub id: String,
    #[serde(skip)]
    pub tenant: String,
    pub contact: String,
    /// The service id (empty for a person's own contact).
    pub service: String,
    pub customer: Customer,
    pub message: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, once an admin marked it handled.
    pub handled_at: Option<String>,
}

/// Stores the message and queues its webhook (the commit wakes the outbox's `dispatcher`).
pub async fn leave(
    pool: &(impl AsPool + ?Sized),
    dispatcher: &std::sync::Arc<tokio::sync::Notify>,
    m: &OfflineMessage,
    now: i64,
) -> anyhow::Result<()> {
    let mut tx = crate::store::begin_write(pool).await?;
    crate::db!(tx.conn(), |c| {
        sqlx::query(
            "INSERT INTO offline_messages (id, tenant_id, contact_id, service_id, display_name, email, message, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&m.id)
        .bind(&m.tenant)
        .bind(&m.contact)
        .bind(&m.service)
        .bind(&m.customer.display_name)
        .bind(&m.customer.email)
        .bind(&m.message)
        .bind(now)
        .execute(c)
        .await?;
    });
    let event = WebhookEvent {
        kind: EventKind::OfflineMessage,
        tenant: m.tenant.clone(),
        session: m.id.clone(),
        occurred_at: now,
        data: EventData::OfflineMessage {
            contact: m.contact.clone(),
            service: m.service.clone(),
            customer: m.customer.clone(),
            message: m.message.clone(),
        },
    };
    crate::webhooks::record_events(&mut tx, dispatcher, &m.tenant, &[event], now).await?;
    tx.commit().await?;
    Ok(())
}

/// The tenant's messages, newest first: `limit` of them created before `before` (ms), only
/// those not handled yet when `open_only`.
pub async fn offline_messages(
    pool: &(impl AsPool + ?Sized),
    tenant: &str,
    before: i64,
    open_only: bool,
    limit: i64,
) -> sqlx::Result<Vec<(i64, OfflineMessage)>> {
    crate::db!(pool.on(), |c| {
        sqlx::query(
            "SELECT id, contact_id, service_id, display_name, email, message, created_at, handled_at
             FROM offline_messages
             WHERE tenant_id = $1 AND created_at < $2 AND ($3 = 0 OR handled_at IS NULL)
             ORDER BY created_at DESC, id DESC LIMIT $4",
        )
        .bind(tenant)
        .bind(before)
        .bind(i64::from(open_only))
        .bind(limit)
        .fetch_all(c)
        .await?
        .iter()
        .map(|r| {
            let created: i64 = r.try_get("created_at")?;
            let handled: Option<i64> = r.try_get("handled_at")?;
            Ok((
                created,
                OfflineMessage {
                    id: r.try_get("id")?,
                    tenant: tenant.to_owned(),
                    contact: r.try_get("contact_id")?,
                    service: r.try_get("service_id")?,
                    customer: Customer {
                        display_name: r.try_get("display_name")?,
                        email: r.try_get("email")?,
                    },
                    message: r.try_get("message")?,
                    created_at: crate::clock::rfc3339(created),
                    handled_at: handled.map(crate::clock::rfc3339),
                },
            ))
        })
        .collect()
    })
}

/// Marks a message handled (once; later calls keep the first time). `false`: no such message.
pub async fn mark_handled(
    pool: &(impl AsPool + ?Sized),
    tenant: &str,
    id: &str,
    now: i64,
) -> sqlx::Result<bool> {
    let marked = crate::db!(pool.on(), |c| {
        sqlx::query(
            "UPDATE offline_messages SET handled_at = COALESCE(handled_at, $3)
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant)
        .bind(id)
        .bind(now)
        .execute(c)
        .await?
        .rows_affected()
    });
    Ok(marked == 1)
}

/// Stores a session's survey; `false` when it already had one.
pub async fn give_survey(
    pool: &(impl AsPool + ?Sized),
    tenant: &str,
    session: &str,
    rating: u8,
    comment: Option<&str>,
    now: i64,
) -> sqlx::Result<bool> {
    let stored = crate::db!(pool.on(), |c| {
        sqlx::query(
            "INSERT INTO session_surveys (session_id, tenant_id, rating, comment, created_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (session_id) DO NOTHING",
        )
        .bind(session)
        .bind(tenant)
        .bind(i64::from(rating))
        .bind(comment)
        .bind(now)
        .execute(c)
        .await?
        .rows_affected()
    });
    Ok(stored == 1)
}
