//! Customer event streams on an instance that does not own the tenants: the owner's inserts of
//! customer events `NOTIFY` their session on the channel [`CHANNEL`] (a trigger,
//! `migrations/postgres/20261209000001_cluster_lease.sql`); this instance `LISTEN`s and wakes
//! the streams of that session, which read the new events from the store. A notification lost
//! while the listening connection reconnects costs at most one heartbeat: every stream reads
//! the store again at each heartbeat.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

use crate::customer::events::EventHub;

/// The channel the customer events' trigger notifies, with the session id as the payload.
pub const CHANNEL: &str = "switchboard_events";

/// Listens until `stop`, waking the streams of each session notified.
pub async fn run(pool: PgPool, hub: Arc<EventHub>, stop: CancellationToken) {
    while !stop.is_cancelled() {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(error = %error, "listening for customer events failed; again in a moment");
                pause(&stop).await;
                continue;
            }
        };
        if let Err(error) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %error, "listening for customer events failed; again in a moment");
            pause(&stop).await;
            continue;
        }
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                received = listener.try_recv() => match received {
                    Ok(Some(notification)) => hub.notify(notification.payload()),
                    // The connection was lost; the next call reconnects and listens again.
                    Ok(None) => {}
                    Err(error) => {
                        tracing::warn!(error = %error, "listening for customer events failed; again in a moment");
                        pause(&stop).await;
                        break;
                    }
                },
            }
        }
    }
}

async fn pause(stop: &CancellationToken) {
    tokio::select! {
        () = stop.cancelled() => {}
        () = tokio::time::sleep(Duration::from_secs(1)) => {}
    }
}
