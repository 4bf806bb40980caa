//! Executes the engine effects that the engine itself owns: `SendHttpRequest` calls, whose
//! results go back to the workflow as `HttpResult` commands. The actor hands the requests over
//! after its commit (the worker's [`Inbox`](crate::engine::effects::Inbox)); up to
//! [`PARALLEL`] run at once. Other effects (customer events, cards, chatrooms) are carried out
//! by the Interact and Teams adapters.

use std::sync::Arc;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::effects::{self as effects_store, EffectQueue, EffectState, Handed};
use super::http_request::execute;
use super::messages::{Command, Effect};
use super::registry::Engines;
use crate::store::{AsPool, Pool};

/// Requests running at once.
pub const PARALLEL: usize = 16;

/// Runs until `shutdown`: takes the requests handed over, performs them, reports back.
pub async fn run(
    pool: Pool,
    queue: Arc<EffectQueue>,
    engines: Arc<Engines>,
    shutdown: CancellationToken,
) {
    let inbox = queue.http();
    let mut running = JoinSet::new();
    loop {
        let mut batch = inbox
            .take(PARALLEL.saturating_sub(running.len()))
            .into_iter();
        while let Some(handed) = batch.next() {
            // Claim it first: a crash during the call does not repeat a request with side
            // effects.
            if let Err(e) = effects_store::finish(&pool, handed.id, EffectState::Done).await {
                tracing::error!(effect.id = %handed.id, error = %e, "claiming an HTTP request failed");
                // This one and the rest of the batch wait for the next try, in order.
                inbox.put_back(std::iter::once(handed).chain(batch).collect());
                tokio::select! {
                    () = shutdown.cancelled() => {}
                    () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                }
                break;
            }
            let (pool, engines) = (pool.clone(), Arc::clone(&engines));
            running.spawn(async move { handle(&pool, &engines, handed).await });
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = inbox.arrived() => {}
            Some(_) = running.join_next(), if !running.is_empty() => {}
        }
    }
    // The requests under way are claimed: let them finish and report (each has its timeout).
    while running.join_next().await.is_some() {}
}

/// Performs one request and sends its result to the tenant's engine.
async fn handle(pool: &(impl AsPool + ?Sized), engines: &Engines, handed: Handed) {
    let Handed {
        id, tenant, effect, ..
    } = handed;
    let tenant = tenant.as_str();
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
    let allowed = super::http_request::allowed_networks(pool, tenant)
        .await
        .unwrap_or_default();
    let outcome = execute(
        &method,
        &url,
        &headers,
        body.as_deref(),
        timeout_seconds,
        &allowed,
    )
    .await;
    tracing::info!(effect.id = %id, session.id = %session, http.status = outcome.status, "workflow HTTP request done");
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
                    effect.id = %id,
                    error = format!("{e:#}"),
                    "reporting an HTTP result failed"
                );
            }
        }
        Err(e) => tracing::error!(
            effect.id = %id,
            error = format!("{e:#}"),
            "no engine for an HTTP result"
        ),
    }
}
