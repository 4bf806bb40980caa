//! Files customers upload in the widget: which types are taken (checked against the bytes,
//! not only the declared type), and their rows.

use sqlx::Row;

use crate::store::Pool;

/// The types a customer may upload: images, PDF and plain text.
pub const TYPES: [&str; 6] = [
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
];

/// Whether `bytes` are what `content_type` says (a file named `.png` that is a script is not
/// a PNG): the format's signature, or valid UTF-8 without NUL for text.
pub fn looks_like(content_type: &str, bytes: &[u8]) -> bool {
    match content_type {
        "image/png" => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "image/jpeg" => bytes.starts_with(&[0xFF, 0xD8, 0xFF]),
        "image/gif" => bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a"),
        "image/webp" => bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP",
        "application/pdf" => bytes.starts_with(b"%PDF-"),
        "text/plain" => std::str::from_utf8(bytes).is_ok_and(|t| !t.contains('\0')),
        _ => false,
    }
}

/// A stored upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

pub async fn store(
    pool: &Pool,
    tenant: &str,
    session: &str,
    file: &StoredFile,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO interact_files (id, tenant_id, session_id, name, content_type, size, bytes, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&file.id)
    .bind(tenant)
    .bind(session)
    .bind(&file.name)
    .bind(&file.content_type)
    .bind(i64::try_from(file.bytes.len()).unwrap_or(i64::MAX))
    .bind(&file.bytes)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn find(pool: &Pool, id: &str) -> sqlx::Result<Option<StoredFile>> {
    let row = sqlx::query("SELECT id, name, content_type, bytes FROM interact_files WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.map(|r| {
        Ok(StoredFile {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            content_type: r.try_get("content_type")?,
            bytes: r.try_get("bytes")?,
        })
    })
    .transpose()
}

/// What the card of a file shows: its name, type and size, and when it was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    pub name: String,
    pub content_type: String,
    pub size: usize,
}

/// A file's facts and when it was stored (Unix ms), without its bytes.
pub async fn find_meta(pool: &Pool, id: &str) -> sqlx::Result<Option<(FileMeta, i64)>> {
    let row = sqlx::query(
        "SELECT name, content_type, size, created_at FROM interact_files WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.map(|r| {
        let size: i64 = r.try_get("size")?;
        Ok((
            FileMeta {
                name: r.try_get("name")?,
                content_type: r.try_get("content_type")?,
                size: usize::try_from(size).unwrap_or(0),
            },
            r.try_get("created_at")?,
        ))
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_the_type_its_bytes_say() {
        assert!(looks_like("image/png", b"\x89PNG\r\n\x1a\n...."));
        assert!(!looks_like("image/png", b"<script>alert(1)</script>"));
        assert!(looks_like("application/pdf", b"%PDF-1.7\n"));
        assert!(looks_like("text/plain", "Grüße\nline".as_bytes()));
        assert!(!looks_like("text/plain", &[0xff, 0xfe, 0x00]));
        assert!(looks_like("image/webp", b"RIFF\x10\0\0\0WEBPVP8 "));
        assert!(!looks_like("text/html", b"<p>hi</p>"));
    }
}
