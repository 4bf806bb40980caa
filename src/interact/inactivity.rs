//! Ends sessions whose customer has been silent for `interact.inactivity_secs` (30 min by
//! default), as if the customer had left.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::app::AppState;
use crate::store::AsPool;

/// Ends every inactive session once; returns how many.
pub async fn sweep_once(app: &AppState, now: i64) -> anyhow::Result<usize> {
    let limit = i64::try_from(app.settings.interact.inactivity.as_millis()).unwrap_or(i64::MAX);
    let rows: Vec<(String, String)> = crate::db!(app.pool.on(), |c| {
        sqlx::query_as(
            "SELECT session_id, tenant_id FROM interact_sessions WHERE state <> 'ended' AND last_activity_at < $1",
        )
        .bind(now.saturating_sub(limit))
        .fetch_all(c)
        .await
    })?;
    for (session, tenant) in &rows {
        crate::customer::ending::customer_left(app, tenant, session, true).await?;
        tracing::info!(session.id = %session, "customer session ended for inactivity");
    }
    Ok(rows.len())
}

/// Sweeps every 30 seconds until `shutdown`.
pub async fn run(app: AppState, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(30)) => {}
        }
        if let Err(e) = sweep_once(&app, app.clock.now_ms()).await {
            tracing::error!(error = format!("{e:#}"), "ending inactive sessions failed");
        }
    }
}
