//! Versioned JSON documents per tenant and kind. Every write states the version it replaces
//! (`None` to create), so two admins cannot silently overwrite each other.

use crate::store::{AsConn, AsPool};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Kinds of directory documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Tenant,
    Service,
    User,
    Workflow,
    Calendar,
    CannedAnswer,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Tenant => "tenant",
            Kind::Service => "service",
            Kind::User => "user",
            Kind::Workflow => "workflow",
            Kind::Calendar => "calendar",
            Kind::CannedAnswer => "cannedAnswer",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{kind} {id} was changed by someone else (version {actual:?}, expected {expected:?})")]
    Conflict {
        kind: &'static str,
        id: String,
        expected: Option<i64>,
        actual: Option<i64>,
    },
    #[error("stored {kind} {id} is not valid: {message}")]
    Corrupt {
        kind: &'static str,
        id: String,
        message: String,
    },
    /// Another document (of any tenant or kind) already holds a public identifier this one
    /// gives; the database's unique index refused it.
    #[error("{0} is already taken by another document")]
    Claimed(PublicId),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The public identifiers one document holds at a time, across every tenant and kind: they
/// route customers (a contact id stands in a company's snippet, a number on its WhatsApp
/// profile), so the database keeps each unique (migration `public_ids_unique`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicId {
    ContactId,
    WhatsAppNumber,
}

impl PublicId {
    /// The problem code of a refusal.
    pub fn code(self) -> &'static str {
        match self {
            PublicId::ContactId => "contact_id_claimed",
            PublicId::WhatsAppNumber => "phone_number_claimed",
        }
    }

    /// Its JSON pointer in a document.
    pub fn pointer(self) -> &'static str {
        match self {
            PublicId::ContactId => "/interact/contactId",
            PublicId::WhatsAppNumber => "/whatsapp/phoneNumberId",
        }
    }

    fn index(self) -> &'static str {
        match self {
            PublicId::ContactId => "directory_contact_id",
            PublicId::WhatsAppNumber => "directory_whatsapp_number",
        }
    }
}

impl std::fmt::Display for PublicId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PublicId::ContactId => "the Interact contact id",
            PublicId::WhatsAppNumber => "the WhatsApp phone number id",
        })
    }
}

/// A write refused by one of the public identifiers' unique indexes, as [`StoreError::Claimed`].
/// PostgreSQL names the index as the error's constraint; SQLite only in its message, in single
/// quotes.
fn claimed(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e
        && db.is_unique_violation()
    {
        for id in [PublicId::ContactId, PublicId::WhatsAppNumber] {
            if db.constraint() == Some(id.index())
                || db.message().contains(&format!("'{}'", id.index()))
            {
                return StoreError::Claimed(id);
            }
        }
    }
    StoreError::Database(e)
}

/// A stored document and its version.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    pub value: T,
    pub version: i64,
}

/// Creates (`expected: None`) or replaces the document at `expected` version; returns the new
/// version.
pub async fn put<T: Serialize>(
    pool: &(impl AsPool + ?Sized),
    tenant: &str,
    kind: Kind,
    id: &str,
    value: &T,
    expected: Option<i64>,
    now_ms: i64,
) -> Result<i64, StoreError> {
    let mut conn = crate::store::acquire(pool).await?;
    put_in(&mut conn, tenant, kind, id, value, expected, now_ms).await
}

/// [`put`] inside the caller's transaction.
pub async fn put_in<T: Serialize>(
    conn: &mut (impl AsConn + ?Sized),
    tenant: &str,
    kind: Kind,
    id: &str,
    value: &T,
    expected: Option<i64>,
    now_ms: i64,
) -> Result<i64, StoreError> {
    let body = serde_json::to_string(value).map_err(|e| StoreError::Corrupt {
        kind: kind.name(),
        id: id.to_owned(),
        message: e.to_string(),
    })?;
    let affected = match expected {
        None => crate::db!(conn.conn(), |c| {
            sqlx::query(
                "INSERT INTO directory_documents (tenant_id, kind, id, body, version, updated_at)
                 VALUES ($1, $2, $3, $4, 1, $5) ON CONFLICT (tenant_id, kind, id) DO NOTHING",
            )
            .bind(tenant)
            .bind(kind.name())
            .bind(id)
            .bind(&body)
            .bind(now_ms)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        }),
        Some(version) => crate::db!(conn.conn(), |c| {
            sqlx::query(
                "UPDATE directory_documents SET body = $4, version = version + 1, updated_at = $6
                 WHERE tenant_id = $1 AND kind = $2 AND id = $3 AND version = $5",
            )
            .bind(tenant)
            .bind(kind.name())
            .bind(id)
            .bind(&body)
            .bind(version)
            .bind(now_ms)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        }),
    }
    .map_err(claimed)?;
    if affected == 1 {
        return Ok(expected.map_or(1, |v| v + 1));
    }
    let actual = version(&mut *conn, tenant, kind, id).await?;
    Err(StoreError::Conflict {
        kind: kind.name(),
        id: id.to_owned(),
        expected,
        actual,
    })
}

/// Removes the public identifiers (contact id, WhatsApp number) from a stored document, inside
/// the caller's transaction that then writes its new version: an import that swaps them between
/// two documents would otherwise trip the unique indexes half way.
pub async fn release_public_ids_in(
    conn: &mut (impl AsConn + ?Sized),
    tenant: &str,
    kind: Kind,
    id: &str,
) -> Result<(), StoreError> {
    // PostgreSQL writes the body back re-serialised by jsonb (key order, spacing): the same
    // document once read.
    let sql = conn.conn().pick(
        "UPDATE directory_documents
         SET body = json_remove(body, '$.interact.contactId', '$.whatsapp')
         WHERE tenant_id = $1 AND kind = $2 AND id = $3",
        "UPDATE directory_documents
         SET body = CAST((CAST(body AS jsonb) #- '{interact,contactId}') - 'whatsapp' AS text)
         WHERE tenant_id = $1 AND kind = $2 AND id = $3",
    );
    crate::db!(conn.conn(), |c| {
        sqlx::query(sql)
            .bind(tenant)
            .bind(kind.name())
            .bind(id)
            .execute(c)
            .await
            .map(|_| ())
    })?;
    Ok(())
}

async fn version(
    conn: &mut (impl AsConn + ?Sized),
    tenant: &str,
    kind: Kind,
    id: &str,
) -> Result<Option<i64>, StoreError> {
    Ok(crate::db!(conn.conn(), |c| {
        sqlx::query_scalar(
            "SELECT version FROM directory_documents WHERE tenant_id = $1 AND kind = $2 AND id = $3",
        )
        .bind(tenant)
        .bind(kind.name())
        .bind(id)
        .fetch_optional(c)
        .await
    })?)
}

pub async fn get<T: DeserializeOwned>(
    pool: &(impl AsPool + ?Sized),
    tenant: &str,
    kind: Kind,
    id: &str,
) -> Result<Option<Versioned<T>>, StoreError> {
    let row: Option<(String, i64)> = crate::db!(pool.on(), |c| {
        sqlx::query_as("SELECT body, version FROM directory_documents WHERE tenant_id = $1 AND kind = $2 AND id = $3")
            .bind(tenant)
            .bind(kind.name())
            .bind(id)
            .fetch_optional(c)
            .await
    })?;
    row.map(|(body, version)| decode(kind, id, body, version))
        .transpose()
}

/// Every document of a kind in a tenant, by id.
pub async fn list<T: DeserializeOwned>(
    pool: &(impl AsPool + ?Sized),
    tenant: &str,
    kind: Kind,
) -> Result<Vec<Versioned<T>>, StoreError> {
    let rows: Vec<(String, String, i64)> = crate::db!(pool.on(), |c| {
        sqlx::query_as("SELECT id, body, version FROM directory_documents WHERE tenant_id = $1 AND kind = $2 ORDER BY id")
            .bind(tenant)
            .bind(kind.name())
            .fetch_all(c)
            .await
    })?;
    rows.into_iter()
        .map(|(id, body, version)| decode(kind, &id, body, version))
        .collect()
}

fn decode<T: DeserializeOwned>(
    kind: Kind,
    id: &str,
    body: String,
    version: i64,
) -> Result<Versioned<T>, StoreError> {
    let value = serde_json::from_str(&body).map_err(|e| StoreError::Corrupt {
        kind: kind.name(),
        id: id.to_owned(),
        message: e.to_string(),
    })?;
    Ok(Versioned { value, version })
}

/// Stores default settings for a tenant the store does not know yet (`create-key --new-tenant`).
pub async fn create_tenant(
    pool: &(impl AsPool + ?Sized),
    tenant: &str,
    now: i64,
) -> anyhow::Result<()> {
    let tenant = tenant.trim().to_ascii_lowercase();
    let settings = super::Tenant {
        id: tenant.clone(),
        name: String::new(),
        im_enabled: true,
        http_allowed_networks: Vec::new(),
    };
    put(pool, &tenant, Kind::Tenant, &tenant, &settings, None, now).await?;
    Ok(())
}

/// Deletes the document at `expected` version.
pub async fn delete(
    pool: &(impl AsPool + ?Sized),
    tenant: &str,
    kind: Kind,
    id: &str,
    expected: i64,
) -> Result<(), StoreError> {
    let mut conn = crate::store::acquire(pool).await?;
    delete_in(&mut conn, tenant, kind, id, expected).await
}

/// [`delete`] inside the caller's transaction.
pub async fn delete_in(
    conn: &mut (impl AsConn + ?Sized),
    tenant: &str,
    kind: Kind,
    id: &str,
    expected: i64,
) -> Result<(), StoreError> {
    let affected = crate::db!(conn.conn(), |c| {
        sqlx::query(
            "DELETE FROM directory_documents WHERE tenant_id = $1 AND kind = $2 AND id = $3 AND version = $4",
        )
        .bind(tenant)
        .bind(kind.name())
        .bind(id)
        .bind(expected)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    if affected == 1 {
        return Ok(());
    }
    Err(StoreError::Conflict {
        kind: kind.name(),
        id: id.to_owned(),
        expected: Some(expected),
        actual: version(&mut *conn, tenant, kind, id).await?,
    })
}
