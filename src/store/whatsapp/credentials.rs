//! Each tenant's Cloud API credentials (`tenant_whatsapp`): the access token is write-only
//! through the admin API and never printed, even by `Debug`.

use sqlx::Row;

use crate::store::AsConn;

/// A tenant's Cloud API credentials.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Credentials {
    pub access_token: Option<String>,
    pub business_account_id: Option<String>,
    pub updated_at: Option<i64>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_token", &self.access_token.as_ref().map(|_| "[set]"))
            .field("business_account_id", &self.business_account_id)
            .finish()
    }
}

/// The tenant's credentials (all unset when never stored).
pub async fn credentials(
    conn: &mut (impl AsConn + ?Sized),
    tenant: &str,
) -> sqlx::Result<Credentials> {
    crate::db!(conn.conn(), |c| {
        sqlx::query(
            "SELECT access_token, business_account_id, updated_at FROM tenant_whatsapp WHERE tenant_id = $1",
        )
        .bind(tenant)
        .fetch_optional(c)
        .await?
        .map(|r| {
            Ok(Credentials {
                access_token: r.try_get("access_token")?,
                business_account_id: r.try_get("business_account_id")?,
                updated_at: r.try_get("updated_at")?,
            })
        })
        .transpose()
        .map(Option::unwrap_or_default)
    })
}

/// Replaces the tenant's credentials.
pub async fn set_credentials(
    conn: &mut (impl AsConn + ?Sized),
    tenant: &str,
    credentials: &Credentials,
    now: i64,
) -> sqlx::Result<()> {
    crate::db!(conn.conn(), |c| {
        sqlx::query(
            "INSERT INTO tenant_whatsapp (tenant_id, access_token, business_account_id, updated_at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id) DO UPDATE SET access_token = excluded.access_token,
             business_account_id = excluded.business_account_id, updated_at = excluded.updated_at",
        )
        .bind(tenant)
        .bind(&credentials.access_token)
        .bind(&credentials.business_account_id)
        .bind(now)
        .execute(c)
        .await
        .map(|_| ())
    })
}
