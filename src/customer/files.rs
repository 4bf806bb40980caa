//! Files customers upload in the widget: which types are taken (checked against the bytes,
//! not only the declared type), the name a file is downloaded under (its extension always the
//! checked type's), the storage a chat and a tenant may use, and their rows.

use sqlx::Row;

use crate::store::AsPool;

/// Whether `bytes` are what `content_type` says (a file named `.png` that is a script is not
/// a PNG): the format's signature, or valid UTF-8 without NUL for text. It knows every type of
/// [`crate::config::FILE_TYPES`], the types `interact.file_types` may name.
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

/// The extensions of a checked type, the usual one first.
fn extensions(content_type: &str) -> &'static [&'static str] {
    match content_type {
        "image/png" => &["png"],
        "image/jpeg" => &["jpg", "jpeg"],
        "image/gif" => &["gif"],
        "image/webp" => &["webp"],
        "application/pdf" => &["pdf"],
        "text/plain" => &["txt"],
        _ => &[],
    }
}

/// The name a file of `content_type` is downloaded under: `name` when its extension is one
/// of the type's, otherwise `name` with the type's extension added (`invoice.html` checked as
/// text is `invoice.html.txt`, `setup.exe` checked as PNG is `setup.exe.png`), so what opens
/// the download is what the bytes were checked to be.
pub fn download_name(name: &str, content_type: &str) -> String {
    let known = extensions(content_type);
    let Some(usual) = known.first() else {
        return name.to_owned();
    };
    let matches = name.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty() && known.iter().any(|k| k.eq_ignore_ascii_case(ext))
    });
    if matches {
        name.to_owned()
    } else {
        format!("{name}.{usual}")
    }
}

/// The media type of a `Content-Type` value: its essence, lower case, without parameters.
pub fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// How many bytes of files a chat and its tenant may keep stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub session: u64,
    pub tenant: u64,
}

/// Which budget a file does not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exhausted {
    Session,
    Tenant,
}

/// The bytes of files stored now for a chat (both ways) and for its tenant (the chats' files
/// and WhatsApp media).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub session: u64,
    pub tenant: u64,
}

impl Usage {
    /// Whether `more` bytes still fit `budget`; which budget is full if not.
    pub fn fits(&self, more: u64, budget: Budget) -> Result<(), Exhausted> {
        if self.session.saturating_add(more) > budget.session {
            return Err(Exhausted::Session);
        }
        if self.tenant.saturating_add(more) > budget.tenant {
            return Err(Exhausted::Tenant);
        }
        Ok(())
    }
}

const TENANT_BYTES: &str =
    "(SELECT COALESCE(SUM(size), 0) FROM interact_files WHERE tenant_id = $1)
     + (SELECT COALESCE(SUM(size), 0) FROM whatsapp_media WHERE tenant_id = $1)";

/// The bytes stored now for `session` (none when `None`) and for `tenant`. The sums are cast:
/// PostgreSQL's `SUM` of a BIGINT is a NUMERIC.
pub async fn usage(
    pool: &(impl AsPool + ?Sized),
    tenant: &str,
    session: Option<&str>,
) -> sqlx::Result<Usage> {
    let sql = format!(
        "SELECT CAST((SELECT COALESCE(SUM(size), 0) FROM interact_files WHERE session_id = $2) AS BIGINT),
                CAST({TENANT_BYTES} AS BIGINT)"
    );
    let (session_bytes, tenant_bytes): (i64, i64) = crate::db!(pool.on(), |c| {
        sqlx::query_as(&sql)
            .bind(tenant)
            .bind(session.unwrap_or_default())
            .fetch_one(c)
            .await
    })?;
    let bytes = |n: i64| u64::try_from(n).unwrap_or(0);
    Ok(Usage {
        session: if session.is_some() {
            bytes(session_bytes)
        } else {
            0
        },
        tenant: bytes(tenant_bytes),
    })
}

/// Stores a customer's upload if it fits the chat's and the tenant's budgets, checked and
/// written in one statement (two uploads at once cannot both take the last room).
pub async fn store_within(
    pool: &(impl AsPool + ?Sized),
    tenant: &str,
    session: &str,
    file: &StoredFile,
    now: i64,
    budget: Budget,
) -> sqlx::Result<Result<(), Exhausted>> {
    let size = i64::try_from(file.bytes.len()).unwrap_or(i64::MAX);
    let limit = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let sql = format!(
        "INSERT INTO interact_files (id, tenant_id, session_id, name, content_type, size, bytes, created_at)
         SELECT $2, $1, $3, $4, $5, $6, $7, $8
         WHERE (SELECT COALESCE(SUM(size), 0) FROM interact_files WHERE session_id = $3) + $6 <= $9
           AND {TENANT_BYTES} + $6 <= $10"
    );
    let written = crate::db!(pool.on(), |c| {
        sqlx::query(&sql)
            .bind(tenant)
            .bind(&file.id)
            .bind(session)
            .bind(&file.name)
            .bind(&file.content_type)
            .bind(size)
            .bind(&file.bytes)
            .bind(now)
            .bind(limit(budget.session))
            .bind(limit(budget.tenant))
            .execute(c)
            .await?
            .rows_affected()
    });
    if written == 1 {
        return Ok(Ok(()));
    }
    let used = usage(pool, tenant, Some(session)).await?;
    Ok(Err(used
        .fits(file.bytes.len() as u64, budget)
        .err()
        .unwrap_or(Exhausted::Tenant)))
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
    pool: &(impl AsPool + ?Sized),
    tenant: &str,
    session: &str,
    file: &StoredFile,
    now: i64,
) -> sqlx::Result<()> {
    crate::db!(pool.on(), |c| {
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
        .execute(c)
        .await?;
    });
    Ok(())
}

pub async fn find(pool: &(impl AsPool + ?Sized), id: &str) -> sqlx::Result<Option<StoredFile>> {
    crate::db!(pool.on(), |c| {
        sqlx::query("SELECT id, name, content_type, bytes FROM interact_files WHERE id = $1")
            .bind(id)
            .fetch_optional(c)
            .await?
            .map(|r| {
                Ok(StoredFile {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    content_type: r.try_get("content_type")?,
                    bytes: r.try_get("bytes")?,
                })
            })
            .transpose()
    })
}

/// What the card of a file shows: its name, type and size, and when it was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    pub name: String,
    pub content_type: String,
    pub size: usize,
}

/// A file's facts and when it was stored (Unix ms), without its bytes.
pub async fn find_meta(
    pool: &(impl AsPool + ?Sized),
    id: &str,
) -> sqlx::Result<Option<(FileMeta, i64)>> {
    let row: Option<(String, String, i64, i64)> = crate::db!(pool.on(), |c| {
        sqlx::query_as(
            "SELECT name, content_type, size, created_at FROM interact_files WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(c)
        .await
    })?;
    Ok(row.map(|(name, content_type, size, created_at)| {
        (
            FileMeta {
                name,
                content_type,
                size: usize::try_from(size).unwrap_or(0),
            },
            created_at,
        )
    }))
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

    #[test]
    fn every_type_the_settings_may_name_is_checked_and_has_an_extension() {
        let samples: [(&str, &[u8]); 6] = [
            ("image/png", b"\x89PNG\r\n\x1a\n...."),
            ("image/jpeg", &[0xFF, 0xD8, 0xFF, 0xE0]),
            ("image/gif", b"GIF89a...."),
            ("image/webp", b"RIFF\x10\0\0\0WEBPVP8 "),
            ("application/pdf", b"%PDF-1.7\n"),
            ("text/plain", b"hello"),
        ];
        for t in crate::config::FILE_TYPES {
            let (_, sample) = samples
                .iter()
                .find(|(s, _)| *s == t)
                .unwrap_or_else(|| panic!("{t} has no sample here"));
            assert!(looks_like(t, sample), "{t}: its sample is not recognised");
            assert!(!extensions(t).is_empty(), "{t} has no extension");
        }
    }

    #[test]
    fn a_download_name_ends_in_its_checked_type() {
        assert_eq!(
            download_name("invoice.html", "text/plain"),
            "invoice.html.txt"
        );
        assert_eq!(
            download_name("Invoice.hta", "text/plain"),
            "Invoice.hta.txt"
        );
        assert_eq!(
            download_name("report.pdf.exe", "application/pdf"),
            "report.pdf.exe.pdf"
        );
        assert_eq!(download_name("setup.exe", "image/png"), "setup.exe.png");
        assert_eq!(download_name("photo.JPEG", "image/jpeg"), "photo.JPEG");
        assert_eq!(download_name("notes.txt", "text/plain"), "notes.txt");
        assert_eq!(download_name(".png", "image/png"), ".png.png");
        assert_eq!(essence("Image/PNG; x=y"), "image/png");
    }

    #[test]
    fn a_file_fits_while_both_budgets_have_room() {
        let budget = Budget {
            session: 10,
            tenant: 100,
        };
        let used = Usage {
            session: 4,
            tenant: 90,
        };
        assert_eq!(used.fits(6, budget), Ok(()));
        assert_eq!(used.fits(7, budget), Err(Exhausted::Session));
        let full = Usage {
            session: 0,
            tenant: 98,
        };
        assert_eq!(full.fits(3, budget), Err(Exhausted::Tenant));
    }
}
