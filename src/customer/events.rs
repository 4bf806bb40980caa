//! From engine effects to the customer's event stream: the engine hands `toCustomer` and
//! `queuePosition` effects to the customer inbox after its commit; a worker (and
//! [`drain`], before a customer's own message is stored) turns them into numbered customer
//! events, in one transaction with marking them done, so none is lost or doubled, and tells
//! open streams that something new is there.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::store::{CustomerEvent, CustomerState, append_in};
use crate::clock::Clock;
use crate::engine::effects::{self, EffectQueue, EffectState};
use crate::engine::messages::Effect;
use crate::store::{AsPool, Pool};

/// Effects converted in one transaction.
const BATCH: usize = 256;

/// The customer inbox's converter and the open event streams' signals (each stream waits on
/// its own session's signal, so an event wakes only the streams of its session).
pub struct EventHub {
    streams: moka::sync::Cache<String, Arc<Notify>>,
    /// Where the engine hands customer effects.
    queue: Arc<EffectQueue>,
    /// Held while a batch is converted, so events keep the order of the effects whoever
    /// converts them (the worker or [`drain`]).
    converting: tokio::sync::Mutex<()>,
    /// Sessions whose events are carried elsewhere than an event stream (WhatsApp): each
    /// notice of one is passed on to `tap`.
    watched: std::sync::RwLock<std::collections::HashSet<String>>,
    tap: std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<String>>,
}

impl EventHub {
    pub fn new(queue: Arc<EffectQueue>) -> Self {
        EventHub {
            streams: moka::sync::Cache::builder()
                .time_to_idle(Duration::from_secs(3600))
                .build(),
            queue,
            converting: tokio::sync::Mutex::new(()),
            watched: std::sync::RwLock::default(),
            tap: std::sync::OnceLock::new(),
        }
    }

    /// Where notices of watched sessions go from now on (the first caller's channel; `false`
    /// when a tap was set before).
    pub fn set_tap(&self, tap: tokio::sync::mpsc::UnboundedSender<String>) -> bool {
        self.tap.set(tap).is_ok()
    }

    /// Passes every later notice of `session` to the tap (and one now).
    pub fn watch(&self, session: &str) {
        if let Ok(mut watched) = self.watched.write() {
            watched.insert(session.to_owned());
        }
        self.pass_on(session);
    }

    /// Stops passing notices of `session` on.
    pub fn unwatch(&self, session: &str) {
        if let Ok(mut watched) = self.watched.write() {
            watched.remove(session);
        }
    }

    fn pass_on(&self, session: &str) {
        if let Some(tap) = self.tap.get() {
            let _ = tap.send(session.to_owned());
        }
    }

    /// The signal a stream of `session` waits on.
    pub fn listen(&self, session: &str) -> Arc<Notify> {
        self.streams
            .get_with_by_ref(session, || Arc::new(Notify::new()))
    }

    /// Wakes the open streams of `session`.
    pub fn notify(&self, session: &str) {
        if let Some(signal) = self.streams.get(session) {
            signal.notify_waiters();
        }
        if self.watched.read().is_ok_and(|w| w.contains(session)) {
            self.pass_on(session);
        }
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
                html: None,
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
            state: CustomerState::from(*state),
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
                tracing::error!(error = %e, "turning engine effects into customer events failed");
                // The effects are back in the inbox; try again after a pause.
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = hub.queue.customer().arrived() => {}
        }
    }
}

/// Converts the customer effects handed over so far (also called by the API, so a customer's
/// own message is recorded after everything the engine said before it).
pub async fn drain(pool: &(impl AsPool + ?Sized), hub: &EventHub, now: i64) -> sqlx::Result<()> {
    while convert_next(pool, hub, now).await? {}
    Ok(())
}

/// Converts up to a batch of handed-over customer effects in one transaction; `false` when
/// there was none.
async fn convert_next(
    pool: &(impl AsPool + ?Sized),
    hub: &EventHub,
    now: i64,
) -> sqlx::Result<bool> {
    let _converting = hub.converting.lock().await;
    let inbox = hub.queue.customer();
    let batch = inbox.take(BATCH);
    if batch.is_empty() {
        return Ok(false);
    }
    match convert(pool, &batch, now).await {
        Ok(notify) => {
            for session in notify {
                hub.notify(&session);
            }
            Ok(true)
        }
        Err(e) => {
            inbox.put_back(batch);
            Err(e)
        }
    }
}

/// Appends the events of `batch` and marks its effects done, in one transaction; returns the
/// sessions to notify.
async fn convert(
    pool: &(impl AsPool + ?Sized),
    batch: &[effects::Handed],
    now: i64,
) -> sqlx::Result<Vec<String>> {
    let mut tx = crate::store::begin_write(pool).await?;
    let mut notify = Vec::new();
    for handed in batch {
        if let Some((session, events)) = customer_events(&handed.effect) {
            for event in &events {
                append_in(&mut tx, &session, event, now).await?;
            }
            notify.push(session);
        }
    }
    let ids: Vec<_> = batch.iter().map(|h| h.id).collect();
    effects::finish_all(&mut tx, &ids, EffectState::Done).await?;
    tx.commit().await?;
    Ok(notify)
}
