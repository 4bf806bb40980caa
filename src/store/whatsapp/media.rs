//! Customers' media files (`whatsapp_media`), fetched after their message and kept with the
//! session.

use sqlx::Row;

use crate::store::{AsConn, AsPool};

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
pub async fn add_media(
    conn: &mut (impl AsConn + ?Sized),
    m: &MediaRow,
    now: i64,
) -> sqlx::Result<()> {
    crate::db!(conn.conn(), |c| {
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
    .execute(c)
    .await
    .map(|_| ())
    })
}

/// A row of either backend as a [`MediaRow`] (its bytes when `with_bytes`).
macro_rules! media_of {
    ($r:expr, $with_bytes:expr) => {{
        let r = $r;
        let read = || -> sqlx::Result<MediaRow> {
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
                bytes: if $with_bytes {
                    r.try_get("bytes")?
                } else {
                    None
                },
            })
        };
        read()
    }};
}

/// Media waiting to be fetched, oldest first.
pub async fn pending_media(
    pool: &(impl AsPool + ?Sized),
    limit: i64,
) -> sqlx::Result<Vec<MediaRow>> {
    crate::db!(pool.on(), |c| {
        sqlx::query(
            "SELECT id, tenant_id, session_id, media_id, kind, mime_type, filename, state, error
             FROM whatsapp_media WHERE state = 'pending' ORDER BY created_at LIMIT $1",
        )
        .bind(limit)
        .fetch_all(c)
        .await?
        .iter()
        .map(|r| media_of!(r, false))
        .collect()
    })
}

/// When a media file's message arrived (ms), which its link's lifetime counts from.
pub async fn media_created_at(
    pool: &(impl AsPool + ?Sized),
    id: &str,
) -> sqlx::Result<Option<i64>> {
    crate::db!(pool.on(), |c| {
        sqlx::query_scalar("SELECT created_at FROM whatsapp_media WHERE id = $1")
            .bind(id)
            .fetch_optional(c)
            .await
    })
}

/// A media file with its bytes.
pub async fn media(pool: &(impl AsPool + ?Sized), id: &str) -> sqlx::Result<Option<MediaRow>> {
    crate::db!(pool.on(), |c| {
        sqlx::query(
            "SELECT id, tenant_id, session_id, media_id, kind, mime_type, filename, state, error, bytes
             FROM whatsapp_media WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(c)
        .await?
        .as_ref()
        .map(|r| media_of!(r, true))
        .transpose()
    })
}

/// Stores a fetched file, or why it could not be fetched.
pub async fn media_fetched(
    pool: &(impl AsPool + ?Sized),
    id: &str,
    result: Result<(Vec<u8>, Option<String>), String>,
) -> sqlx::Result<()> {
    let mut tx = crate::store::begin_write(pool).await?;
    match result {
        Ok((bytes, mime)) => {
            let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
            crate::db!(tx.conn(), |c| {
                sqlx::query(
                    "UPDATE whatsapp_media SET state = 'stored', size = $2, bytes = $3,
                         mime_type = COALESCE($4, mime_type) WHERE id = $1",
                )
                .bind(id)
                .bind(size)
                .bind(bytes)
                .bind(mime)
                .execute(c)
                .await
                .map(|_| ())
            })?;
        }
        Err(error) => {
            crate::db!(tx.conn(), |c| {
                sqlx::query("UPDATE whatsapp_media SET state = 'failed', error = $2 WHERE id = $1")
                    .bind(id)
                    .bind(error)
                    .execute(c)
                    .await
                    .map(|_| ())
            })?;
        }
    }
    tx.commit().await
}
