//! The work of the instance that owns the tenants: taking them over (at start, or from
//! another instance), running their workers until the stop, and stopping them.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::app::AppState;
use crate::outbox::Dispatcher;

/// The tenants' work on this instance: at once if it owns them, else once it has taken them
/// over (meanwhile it wakes its customer event streams on the owner's notifications). Runs the
/// workers until `stop`, then stops them. A failure to take over cancels `failed`.
pub(super) async fn own(
    state: AppState,
    dispatcher: Dispatcher,
    simulator: Option<Arc<crate::whatsapp::simulator::Simulator>>,
    owns: bool,
    stop: CancellationToken,
    failed: CancellationToken,
) -> anyhow::Result<()> {
    if !owns {
        let Some(cluster) = state.cluster.clone() else {
            anyhow::bail!("an instance without a cluster owns its store");
        };
        let listening = CancellationToken::new();
        let listener = tokio::spawn(crate::cluster::listen::run(
            cluster.pool().clone(),
            Arc::clone(&state.events),
            listening.clone(),
        ));
        let taken = cluster.wait_to_own(&stop).await;
        listening.cancel();
        let _ = listener.await;
        let taken = match taken {
            Ok(false) => return Ok(()),
            Ok(true) => take_over(&state, simulator.as_deref()).await,
            Err(error) => Err(error),
        };
        if let Err(error) = taken {
            failed.cancel();
            return Err(error.context("taking the tenants over"));
        }
    }
    // Until these are read, every activity and message is looked up in the store.
    crate::bot::barge_in::load(&state).await;
    crate::bot::at_hand::load(&state).await;
    if let Err(error) = state.resends.load(&state.pool, state.clock.now_ms()).await {
        tracing::warn!(error = %error, "reading the handled activity ids failed; each activity is looked up instead");
    }
    let heartbeat = state.cluster.clone().map(|cluster| {
        let stop = stop.clone();
        tokio::spawn(async move { cluster.renew(stop).await })
    });
    let workers = tokio::spawn(dispatcher.run(stop.clone()));
    let customer_events = tokio::spawn(crate::customer::events::run(
        state.pool.clone(),
        Arc::clone(&state.events),
        Arc::clone(&state.clock),
        stop.clone(),
    ));
    let inactivity = tokio::spawn(crate::interact::inactivity::run(
        state.clone(),
        stop.clone(),
    ));
    let http_requests = tokio::spawn(crate::engine::http_worker::run(
        state.pool.clone(),
        Arc::clone(&state.effects),
        Arc::clone(&state.engines),
        stop.clone(),
    ));
    let bot_effects = tokio::spawn(crate::bot::teams_worker::run(state.clone(), stop.clone()));
    let undelivered = tokio::spawn(crate::bot::undelivered::run(state.clone(), stop.clone()));
    let retention = tokio::spawn(crate::reporting::transcripts::run_retention(
        state.clone(),
        stop.clone(),
    ));
    let whatsapp = crate::whatsapp::start(&state, &stop);
    stop.cancelled().await;
    let _ = http_requests.await;
    let _ = customer_events.await;
    let _ = inactivity.await;
    let _ = bot_effects.await;
    let _ = undelivered.await;
    let _ = retention.await;
    for task in whatsapp {
        let _ = task.await;
    }
    state.engines.stop().await;
    if workers.await.is_err() {
        tracing::error!("the outbox worker ended abnormally");
    }
    if let Some(heartbeat) = heartbeat {
        let _ = heartbeat.await;
    }
    Ok(())
}

/// What the instance that owns the tenants does before it runs their work, at start or when it
/// takes them over: seeds the demo (anonymous dev mode), gives the demo its WhatsApp
/// simulator, hands the effects recorded but not carried out back to their consumers, resumes
/// the engines, the queued agent messages, and what was imported meanwhile.
pub(super) async fn take_over(
    state: &AppState,
    simulator: Option<&crate::whatsapp::simulator::Simulator>,
) -> anyhow::Result<()> {
    let now = state.clock.now_ms();
    if state.settings.is_anonymous() {
        crate::demo::seed_if_empty(&state.pool, now).await?;
        if crate::demo::is_seeded_demo(&state.pool, crate::demo::DEMO_TENANT)
            .await
            .unwrap_or(false)
        {
            tracing::info!(
                tenant.id = crate::demo::DEMO_TENANT,
                contact.id = crate::demo::DEMO_CONTACT,
                widget.key = crate::demo::DEMO_WIDGET_KEY,
                preview = %format!("{}/interact/preview/{}", state.public_base, crate::demo::DEMO_CONTACT),
                "demo: tenant `demo` (for the CLI: --tenant demo), service Support takes chats: \
                 open the preview page to write as a customer; until an agent is signed in, it \
                 shows what a customer sees when nobody is available. To answer as an agent, \
                 run scripts/playground.sh or the Agents Playground (README, \"Quick start\")"
            );
        }
    }
    if let Some(simulator) = simulator {
        crate::whatsapp::simulator::take_demo(simulator, &state.pool, now).await?;
    }
    // What the engines recorded but nobody carried out before the last stop goes back to its
    // consumers first, before any engine runs.
    let recovered = state
        .effects
        .recover(&state.pool)
        .await
        .context("recovering the pending engine effects")?;
    if recovered > 0 {
        tracing::info!(effects = recovered, "pending engine effects recovered");
    }
    // Engines with stored state resume now, so their timers keep running.
    let resumed = state
        .engines
        .resume_all()
        .await
        .context("resuming the engines")?;
    if resumed > 0 {
        tracing::info!(engines = resumed, "engines resumed from the store");
    }
    // Agents' messages answered but not carried out before the last stop, in their order.
    let queued = crate::bot::in_order::resume(state)
        .await
        .context("resuming the queued agent messages")?;
    if queued > 0 {
        tracing::info!(messages = queued, "queued agent messages resumed");
    }
    // What was imported while the service was stopped reaches the resumed engines.
    for tenant in state.engines.running().await {
        crate::engine::sync::sync(
            &state.pool,
            &state.engines,
            &tenant,
            crate::engine::sync::Scope::Tenant,
        )
        .await
        .with_context(|| format!("bringing tenant {tenant}'s engine up to date"))?;
    }
    Ok(())
}

/// How other instances reach this one when `cluster.advertise_url` is not set: the bound
/// address, on loopback for a wildcard bind.
pub(super) fn advertise_default(bound: SocketAddr) -> String {
    let ip = match bound.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::IpAddr::from([127, 0, 0, 1]),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => {
            std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST)
        }
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, bound.port()))
}
