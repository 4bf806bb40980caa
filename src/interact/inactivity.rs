//! Ends sessions whose customer has been silent for `interact.inactivity_secs` (30 min by
//! default), as if the customer had left.

use std::time::Duration;

use sqlx::Row;
use tokio_util::sync::CancellationToken;

use crate::engine::core::Command;
use crate::startup::AppState;

/// Ends every inactive session once; returns how many.
pub async fn sweep_once(app: &AppState, now: i64) -> anyhow::Result<usize> {
    let limit = i64::try_from(app.settings.interact.inactivity.as_millis()).unwrap_or(i64::MAX);
    let rows = sqlx::query(
        "SELECT session_id, tenant_id FROM interact_sessions WHERE state <> 'ended' AND last_activity_at < $1",
    )
    .bind(now.saturating_sub(limit))
    .fetch_all(&app.pool)
    .await?;
    for row in &rows {
        let session: String = row.try_get("session_id")?;
        let tenant: String = row.try_get("tenant_id")?;
        let engine = app.engines.get(&tenant).await?;
        engine
            .send(Command::CustomerLeft {
                session: session.clone(),
                inactive: true,
            })
            .await?;
        // The engine's own "ended" comes through its effects, in order with everything before it.
        super::events::drain(&app.pool, &app.events, now).await?;
        let still_open = super::store::find(&app.pool, &session)
            .await?
            .is_some_and(|s| s.state != "ended");
        if still_open {
            // The engine no longer knew the session: it is over for the customer all the same.
            super::store::append(
                &app.pool,
                &session,
                &super::store::CustomerEvent::State {
                    state: "ended".into(),
                    agent: None,
                },
                now,
            )
            .await?;
            app.events.notify(&session);
        }
        tracing::info!(session.id = %session, "customer session ended for inactivity");
    }
    app.events.wake();
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
