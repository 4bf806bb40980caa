//! A tenant's webhook endpoints: an id, a URL and a secret, stored in `tenant_webhooks` (not in
//! the tenant document, so the secret never reaches the engine log, a snapshot or an export).
//! The secret is write-only: listings name the id and URL only; it is read only to sign a
//! delivery. What an admin writes is checked first ([`super::validate`]).

use std::collections::BTreeMap;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::store::{AsConn, AsPool};

/// An endpoint as the admin API and the tenant file show it (never with its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    pub id: String,
    pub url: String,
}

/// An endpoint as an admin writes it. The secret may be left out to keep the stored one.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndpointInput {
    pub id: String,
    pub url: String,
    #[serde(default)]
    pub secret: Option<SecretString>,
}

/// What an endpoint is called with at delivery time.
pub(crate) struct Target {
    pub url: String,
    pub secret: SecretString,
}

/// The tenant's endpoints, by id.
pub async fn list(conn: &mut (impl AsConn + ?Sized), tenant: &str) -> sqlx::Result<Vec<Endpoint>> {
    let rows: Vec<(String, String)> = crate::db!(conn.conn(), |c| {
        sqlx::query_as(
            "SELECT endpoint_id, url FROM tenant_webhooks WHERE tenant_id = $1 ORDER BY endpoint_id",
        )
        .bind(tenant)
        .fetch_all(c)
        .await
    })?;
    Ok(rows
        .into_iter()
        .map(|(id, url)| Endpoint { id, url })
        .collect())
}

/// The URL and secret of one endpoint, as configured now.
pub(crate) async fn target(
    pool: &(impl AsPool + ?Sized),
    tenant: &str,
    endpoint: &str,
) -> sqlx::Result<Option<Target>> {
    crate::db!(pool.on(), |c| {
        sqlx::query(
            "SELECT url, secret FROM tenant_webhooks WHERE tenant_id = $1 AND endpoint_id = $2",
        )
        .bind(tenant)
        .bind(endpoint)
        .fetch_optional(c)
        .await?
        .map(|r| {
            Ok(Target {
                url: r.try_get("url")?,
                secret: SecretString::from(r.try_get::<String, _>("secret")?),
            })
        })
        .transpose()
    })
}

/// Writes checked endpoints inside the caller's transaction: each listed one is created or
/// updated (a missing secret keeps the stored one); with `replace`, the tenant's other
/// endpoints are deleted. Returns the changes as `webhook/{id}` with what happened.
pub async fn store(
    conn: &mut (impl AsConn + ?Sized),
    tenant: &str,
    inputs: &[EndpointInput],
    replace: bool,
    now: i64,
) -> sqlx::Result<Changes> {
    let before: BTreeMap<String, (String, String)> = crate::db!(conn.conn(), |c| {
        sqlx::query("SELECT endpoint_id, url, secret FROM tenant_webhooks WHERE tenant_id = $1")
            .bind(tenant)
            .fetch_all(c)
            .await?
            .into_iter()
            .map(|r| {
                Ok((
                    r.try_get("endpoint_id")?,
                    (r.try_get("url")?, r.try_get("secret")?),
                ))
            })
            .collect::<sqlx::Result<_>>()
    })?;
    let mut changes = Changes::default();
    for input in inputs {
        let old = before.get(&input.id);
        let secret = input.secret.as_ref().map(|s| s.expose_secret().to_owned());
        let same = old.is_some_and(|(url, stored)| {
            *url == input.url && secret.as_ref().is_none_or(|s| s == stored)
        });
        if same {
            changes.unchanged.push(input.id.clone());
            continue;
        }
        // `check` made sure a new endpoint has a secret.
        let Some(secret) = secret.or_else(|| old.map(|(_, s)| s.clone())) else {
            continue;
        };
        crate::db!(conn.conn(), |c| {
            sqlx::query(
                "INSERT INTO tenant_webhooks (tenant_id, endpoint_id, url, secret, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $5)
                 ON CONFLICT (tenant_id, endpoint_id)
                 DO UPDATE SET url = excluded.url, secret = excluded.secret, updated_at = excluded.updated_at",
            )
            .bind(tenant)
            .bind(&input.id)
            .bind(&input.url)
            .bind(&secret)
            .bind(now)
            .execute(c)
            .await
            .map(|_| ())
        })?;
        if old.is_some() {
            changes.updated.push(input.id.clone());
        } else {
            changes.created.push(input.id.clone());
        }
    }
    if replace {
        for id in before.keys() {
            if !inputs.iter().any(|i| &i.id == id) {
                crate::db!(conn.conn(), |c| {
                    sqlx::query(
                        "DELETE FROM tenant_webhooks WHERE tenant_id = $1 AND endpoint_id = $2",
                    )
                    .bind(tenant)
                    .bind(id)
                    .execute(c)
                    .await
                    .map(|_| ())
                })?;
                changes.deleted.push(id.clone());
            }
        }
    }
    Ok(changes)
}

/// What [`store`] did, by endpoint id.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
    pub deleted: Vec<String>,
}
