//! Admin API keys: `sbk_<id>_<secret>`. The id finds the key; the secret (256 bits) is stored
//! only as its SHA-256 hash and compared in constant time. A key belongs to one tenant and can
//! be revoked.

use sqlx::Row;

use crate::security::{hash_secret as hash, new_secret, same_hash};
use crate::store::AsPool;

const PREFIX: &str = "sbk_";

/// A key as listed (never with its secret).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyInfo {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// Whether the store knows `tenant`: it has settings or directory documents, or one of its
/// admins granted consent on the Preferences page.
pub async fn tenant_known(pool: &(impl AsPool + ?Sized), tenant: &str) -> anyhow::Result<bool> {
    let tenant = tenant.trim().to_ascii_lowercase();
    let known: Option<i64> = crate::db!(pool.on(), |c| {
        sqlx::query_scalar(
            "SELECT CAST(1 AS BIGINT) FROM directory_documents WHERE tenant_id = $1
             UNION ALL SELECT CAST(1 AS BIGINT) FROM tenant_consents WHERE tenant_id = $1 LIMIT 1",
        )
        .bind(&tenant)
        .fetch_optional(c)
        .await
    })?;
    Ok(known.is_some())
}

/// Creates a key for `tenant`; returns its id and the whole key (shown once).
pub async fn create(
    pool: &(impl AsPool + ?Sized),
    tenant: &str,
    name: &str,
    now: i64,
) -> anyhow::Result<(String, String)> {
    let tenant = tenant.trim();
    anyhow::ensure!(!tenant.is_empty(), "the tenant id is empty");
    let id: String = new_secret()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(12)
        .collect();
    let secret = new_secret();
    crate::db!(pool.on(), |c| {
        sqlx::query(
            "INSERT INTO api_keys (id, tenant_id, name, secret_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(tenant.to_ascii_lowercase())
        .bind(name)
        .bind(hash(&secret))
        .bind(now)
        .execute(c)
        .await
        .map(|_| ())
    })?;
    Ok((id.clone(), format!("{PREFIX}{id}_{secret}")))
}

/// Revokes a key; `false` when there is no such key (or it was already revoked).
pub async fn revoke(pool: &(impl AsPool + ?Sized), id: &str, now: i64) -> anyhow::Result<bool> {
    let affected = crate::db!(pool.on(), |c| {
        sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(c)
            .await
            .map(|done| done.rows_affected())
    })?;
    Ok(affected == 1)
}

pub async fn list(pool: &(impl AsPool + ?Sized)) -> anyhow::Result<Vec<KeyInfo>> {
    let keys = crate::db!(pool.on(), |c| {
        sqlx::query(
            "SELECT id, tenant_id, name, created_at, revoked_at FROM api_keys ORDER BY tenant_id, created_at",
        )
        .fetch_all(c)
        .await?
        .iter()
        .map(|r| {
            Ok(KeyInfo {
                id: r.try_get("id")?,
                tenant_id: r.try_get("tenant_id")?,
                name: r.try_get("name")?,
                created_at: r.try_get("created_at")?,
                revoked_at: r.try_get("revoked_at")?,
            })
        })
        .collect::<sqlx::Result<Vec<_>>>()
    })?;
    Ok(keys)
}

/// The tenant and key id of a presented key, if it is valid and not revoked.
pub async fn verify(
    pool: &(impl AsPool + ?Sized),
    presented: &str,
) -> sqlx::Result<Option<(String, String)>> {
    let Some((id, secret)) = presented
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.split_once('_'))
    else {
        return Ok(None);
    };
    let row: Option<(String, String)> = crate::db!(pool.on(), |c| {
        sqlx::query_as(
            "SELECT tenant_id, secret_hash FROM api_keys WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .fetch_optional(c)
        .await
    })?;
    let Some((tenant, stored)) = row else {
        return Ok(None);
    };
    if !same_hash(&stored, &hash(secret)) {
        return Ok(None);
    }
    Ok(Some((tenant, id.to_owned())))
}
