//! From engine effects to the customer's event stream: a worker turns pending `toCustomer`
//! effects into numbered customer events (in one transaction with marking them done, so none is
//! lost or doubled) and tells open streams that something new is there.

use std::sync::Arc;
use std::time::Duration;

use sqlx::Row;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::store::{CustomerEvent, append_in};
use crate::clock::Clock;
use crate::engine::core::{Effect, SessionState};
use crate::store::Pool;

/// Wakes the worker and the open event streams (each stream waits on its own session's
/// signal, so an event wakes only the streams of its session).
pub struct EventHub {
    streams: moka::sync::Cache<String, Arc<Notify>>,
    /// New engine effects to convert (the customer-events worker).
    pub effects: Notify,
    /// New engine effects for the bot (the Teams worker).
    pub bot: Notify,
}

impl Default for EventHub {
    fn default() -> Self {
        EventHub {
            streams: moka::sync::Cache::builder()
                .time_to_idle(Duration::from_secs(3600))
                .build(),
            effects: Notify::new(),
            bot: Notify::new(),
        }
    }
}

impl EventHub {
    /// The signal a stream of `session` waits on.
    pub fn listen(&self, session: &str) -> Arc<Notify> {
        self.streams
            .get_with_by_ref(session, || Arc::new(Notify::new()))
    }

    /// Wakes the workers that turn new engine effects into customer events and Teams calls.
    pub fn wake(&self) {
        self.effects.notify_one();
        self.bot.notify_one();
    }

    /// Wakes the open streams of `session`.
    pub fn notify(&self, session: &str) {
        if let Some(signal) = self.streams.get(session) {
            signal.notify_waiters();
        }
    }
}

/// The customer-visible name of a session state.
pub fn state_name(state: SessionState) -> &'static str {
    match state {
        SessionState::Workflow => "connecting",
        SessionState::Queued => "queued",
        SessionState::Connected => "connected",
        SessionState::Ended => "ended",
    }
}

/// Customer events of one engine effect.
pub fn customer_events(effect: &Effect) -> Option<(String, Vec<CustomerEvent>)> {
    let (session, text, choices, state, agent) = match effect {
        Effect::ToCustomer {
            session,
            text,
            choices,
            state,
            agent,
        } => (session, text, choices, state, agent),
        Effect::QueuePosition { session, position } => {
            return Some((
                session.clone(),
                vec![CustomerEvent::Queue {
                    position: *position,
                }],
            ));
        }
        _ => return None,
    };
    let mut events = Vec::new();
    if let Some(text) = text {
        events.push(if choices.is_empty() {
            CustomerEvent::Message {
                from: "service".into(),
                text: text.clone(),
                name: None,
            }
        } else {
            CustomerEvent::Prompt {
                text: text.clone(),
                choices: choices.clone(),
            }
        });
    }
    if let Some(state) = state {
        events.push(CustomerEvent::State {
            state: state_name(*state).into(),
            agent: agent.clone(),
        });
    }
    Some((session.clone(), events))
}

/// Runs until `shutdown`.
pub async fn run(
    pool: Pool,
    hub: Arc<EventHub>,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
) {
    loop {
        match convert_next(&pool, &hub, clock.now_ms()).await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => {
                tracing::error!(error = %e, "turning engine effects into customer events failed")
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = hub.effects.notified() => {}
            () = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
}

/// Converts pending customer effects until none is left (also called by the API, so a
/// customer's own message is recorded after everything the engine said before it).
pub async fn drain(pool: &Pool, hub: &EventHub, now: i64) -> sqlx::Result<()> {
    while convert_next(pool, hub, now).await? {}
    Ok(())
}

/// Converts up to a batch of pending customer effects in one transaction; `false` when there
/// was none.
async fn convert_next(pool: &Pool, hub: &EventHub, now: i64) -> sqlx::Result<bool> {
    let rows = sqlx::query(
        "SELECT id, effect FROM engine_effects
         WHERE state = 'pending'
           AND kind IN ('toCustomer', 'queuePosition')
         ORDER BY id LIMIT 64",
    )
    .fetch_all(pool)
    .await?;
    if rows.is_empty() {
        return Ok(false);
    }
    let mut tx = pool.begin().await?;
    let mut notify = Vec::new();
    for row in rows {
        let id: i64 = row.try_get("id")?;
        // Claim each effect inside the transaction: whoever converts it, it is converted once.
        let claimed = sqlx::query(
            "UPDATE engine_effects SET state = 'done' WHERE id = $1 AND state = 'pending'",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            continue;
        }
        let effect: Option<Effect> =
            serde_json::from_str(&row.try_get::<String, _>("effect")?).ok();
        if let Some((session, events)) = effect.as_ref().and_then(customer_events) {
            for event in &events {
                append_in(&mut tx, &session, event, now).await?;
            }
            notify.push(session);
        }
    }
    tx.commit().await?;
    for session in notify {
        hub.notify(&session);
    }
    Ok(true)
}
