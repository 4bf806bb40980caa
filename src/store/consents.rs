//! Admin consents (`tenant_consents`): when a tenant's admin granted the app its permissions,
//! and who did. The Preferences page records them; the admin API's tenant settings and the
//! CLI read them.

use crate::store::Pool;

/// When (ms) the tenant's admin granted the permissions, if they did.
pub async fn consent_of(pool: &Pool, tenant: &str) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar("SELECT granted_at FROM tenant_consents WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_optional(pool)
        .await
}

pub async fn record_consent(pool: &Pool, tenant: &str, by: &str, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO tenant_consents (tenant_id, granted_by, granted_at) VALUES ($1, $2, $3)
         ON CONFLICT (tenant_id) DO UPDATE SET granted_by = excluded.granted_by,
            granted_at = excluded.granted_at",
    )
    .bind(tenant)
    .bind(by)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}
