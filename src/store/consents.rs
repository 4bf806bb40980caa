//! Admin consents (`tenant_consents`): when a tenant's admin granted the app its permissions,
//! and who did. The Preferences page records them; the admin API's tenant settings and the
//! CLI read them.

use crate::store::AsPool;

/// When (ms) the tenant's admin granted the permissions, if they did.
pub async fn consent_of(pool: &(impl AsPool + ?Sized), tenant: &str) -> sqlx::Result<Option<i64>> {
    crate::db!(pool.on(), |c| {
        sqlx::query_scalar("SELECT granted_at FROM tenant_consents WHERE tenant_id = $1")
            .bind(tenant)
            .fetch_optional(c)
            .await
    })
}

pub async fn record_consent(
    pool: &(impl AsPool + ?Sized),
    tenant: &str,
    by: &str,
    now: i64,
) -> sqlx::Result<()> {
    crate::db!(pool.on(), |c| {
        sqlx::query(
            "INSERT INTO tenant_consents (tenant_id, granted_by, granted_at) VALUES ($1, $2, $3)
             ON CONFLICT (tenant_id) DO UPDATE SET granted_by = excluded.granted_by,
                granted_at = excluded.granted_at",
        )
        .bind(tenant)
        .bind(by)
        .bind(now)
        .execute(c)
        .await
        .map(|_| ())
    })?;
    Ok(())
}
