//! Executes the engine effects that the engine itself owns: `SendHttpRequest` calls, whose
//! results go back to the workflow as `HttpResult` commands. Other effects (customer events,
//! cards, chatrooms) are delivered by the Interact and Teams adapters from the same
//! `engine_effects` table.

use std::sync::Arc;
use std::time::Duration;

use sqlx::Row;
use tokio_util::sync::CancellationToken;

use super::core::{Command, Effect};
use super::http_request::{Network, execute};
use super::registry::Engines;
use crate::directory::Tenant;
use crate::directory::store::{self, Kind};
use crate::store::Pool;

/// How often the worker looks for new HTTP requests when idle.
const POLL: Duration = Duration::from_millis(200);

/// Runs until `shutdown`: takes pending `httpRequest` effects, performs them, reports back.
pub async fn run_http_requests(pool: Pool, engines: Arc<Engines>, shutdown: CancellationToken) {
    loop {
        let worked = match next_request(&pool).await {
            Ok(Some((id, tenant, effect))) => {
                handle(&pool, &engines, id, &tenant, effect).await;
                true
            }
            Ok(None) => false,
            Err(e) => {
                tracing::error!(error = %e, "reading engine effects failed");
                false
            }
        };
        if !worked {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(POLL) => {}
            }
        } else if shutdown.is_cancelled() {
            return;
        }
    }
}

async fn next_request(pool: &Pool) -> sqlx::Result<Option<(i64, String, Effect)>> {
    let row = sqlx::query(
        "SELECT id, tenant_id, effect FROM engine_effects
         WHERE state = 'pending' AND kind = 'httpRequest' ORDER BY id LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let id: i64 = row.try_get("id")?;
    let effect: Option<Effect> = serde_json::from_str(&row.try_get::<String, _>("effect")?).ok();
    // Claim it first: a crash during the call does not repeat a request with side effects.
    sqlx::query("UPDATE engine_effects SET state = 'done' WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(effect.map(|e| (id, row.try_get("tenant_id").unwrap_or_default(), e)))
}

async fn handle(pool: &Pool, engines: &Engines, id: i64, tenant: &str, effect: Effect) {
    let Effect::HttpRequest {
        session,
        request,
        method,
        url,
        headers,
        body,
        timeout_seconds,
    } = effect
    else {
        return;
    };
    let allowed: Vec<Network> = match store::get::<Tenant>(pool, tenant, Kind::Tenant, tenant).await
    {
        Ok(Some(t)) => t
            .value
            .http_allowed_networks
            .iter()
            .filter_map(|n| Network::parse(n))
            .collect(),
        _ => Vec::new(),
    };
    let outcome = execute(
        &method,
        &url,
        &headers,
        body.as_deref(),
        timeout_seconds,
        &allowed,
    )
    .await;
    tracing::info!(effect.id = id, session.id = %session, http.status = outcome.status, "workflow HTTP request done");
    let result = Command::HttpResult {
        session,
        request,
        status: outcome.status,
        body: outcome.body,
    };
    match engines.get(tenant).await {
        Ok(engine) => {
            if let Err(e) = engine.send(result).await {
                tracing::error!(
                    effect.id = id,
                    error = format!("{e:#}"),
                    "reporting an HTTP result failed"
                );
            }
        }
        Err(e) => tracing::error!(
            effect.id = id,
            error = format!("{e:#}"),
            "no engine for an HTTP result"
        ),
    }
}
