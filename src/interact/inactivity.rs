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

/// When the session silent longest falls due (ms), or `None` when no session is open.
async fn next_due(app: &AppState, limit: i64) -> anyhow::Result<Option<i64>> {
    let oldest: Option<i64> = crate::db!(app.pool.on(), |c| {
        sqlx::query_scalar(
            "SELECT MIN(last_activity_at) FROM interact_sessions WHERE state <> 'ended'",
        )
        .fetch_one(c)
        .await
    })?;
    Ok(oldest.map(|at| at.saturating_add(limit)))
}

/// Ends inactive sessions when they fall due, until `shutdown`: it sleeps until the session
/// silent longest is due, or for the inactivity time when none is open (a session opened or
/// active meanwhile falls due no sooner than that), never by a periodic scan. At most once a
/// second, so a session that cannot be ended is not retried in a loop.
pub async fn run(app: AppState, shutdown: CancellationToken) {
    let limit = i64::try_from(app.settings.interact.inactivity.as_millis()).unwrap_or(i64::MAX);
    loop {
        let now = app.clock.now_ms();
        let wait = match next_due(&app, limit).await {
            Ok(Some(due)) => due.saturating_sub(now).min(limit),
            Ok(None) => limit,
            Err(e) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    "reading the sessions' activity failed"
                );
                30_000
            }
        };
        let wait = Duration::from_millis(u64::try_from(wait.max(1_000)).unwrap_or(1_000));
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        if let Err(e) = sweep_once(&app, app.clock.now_ms()).await {
            tracing::error!(error = format!("{e:#}"), "ending inactive sessions failed");
        }
    }
}
