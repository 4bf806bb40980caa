//! Ending is final once answered. A customer's message and an end decided outside the engine
//! (the customer's `/end`, the agent's `end` / End chat, the inactivity timeout) pass through
//! one gate per session, so they reach the engine in the order they are accepted in: a message
//! accepted before the end is relayed before the end; one that comes after is refused
//! (409 `session_ended`) and stored nowhere. An end is recorded in the customer store
//! ([`store::mark_ended`]) before it is answered, and a message is stored only if the session
//! is not ended, in the same transaction ([`store::accept_message`]).
//!
//! An end the engine decides on its own (a workflow's Disconnect, a queue that fails) reaches
//! the customer store when its effects are converted; a message drains those first, so an end
//! the engine had committed by then refuses it. Not covered: such an end committed in the
//! instant between that drain and the message reaching the engine. The message is then stored
//! (before `ended`) and answered 202, but the engine no longer knows the session, so it
//! reaches no one; only writing the customer's event in the engine's own commit would close
//! that window. The gate is in memory: one process owns the database (SQLite), so one
//! process owns the gate.
//!
//! This module does not store events (that is [`store`]) nor relay messages (the engine and
//! the Teams worker do).

use super::events::EventHub;
use super::gates::SessionGates;
use super::store;
use crate::clock::Clock;
use crate::engine::messages::{Command, Effect, SessionState};
use crate::engine::registry::Engines;
use crate::store::Pool;

/// What ending a session needs of the application: the store, the clock, the engines, the
/// customers' event hub and the sessions' gates. The application's `App` converts into it, so
/// its handlers pass themselves.
#[derive(Clone, Copy)]
pub struct Deps<'a> {
    pub pool: &'a Pool,
    pub clock: &'a dyn Clock,
    pub engines: &'a Engines,
    pub events: &'a EventHub,
    pub gates: &'a SessionGates,
}

/// Whether `effects` end `session` for the customer.
fn ends(effects: &[Effect], session: &str) -> bool {
    effects.iter().any(|e| {
        matches!(
            e,
            Effect::ToCustomer { session: s, state: Some(SessionState::Ended), .. } if s == session
        )
    })
}

/// The customer leaves (`inactive`: they were silent too long). The session is ended in the
/// customer store when this returns, whatever the engine still knew of it.
pub async fn customer_left<'a>(
    app: impl Into<Deps<'a>>,
    tenant: &str,
    session: &str,
    inactive: bool,
) -> anyhow::Result<()> {
    let app = app.into();
    let _gate = app.gates.enter(session).await;
    let engine = app.engines.get(tenant).await?;
    let effects = engine
        .send(Command::CustomerLeft {
            session: session.to_owned(),
            inactive,
        })
        .await?;
    let now = app.clock.now_ms();
    if ends(&effects, session) {
        // The engine's own `ended` event follows with its effects, after all it said before.
        store::mark_ended(app.pool, session, now).await?;
    } else {
        // The engine had ended the session already, or never knew it: what it said is
        // converted first, then the customer is told it is over unless that said so.
        super::events::drain(app.pool, app.events, now).await?;
        if store::end_once(app.pool, session, now).await? {
            app.events.notify(session);
        }
    }
    Ok(())
}

/// The agent ends a connected chat; `false` when the engine did not end it (it was no longer
/// connected).
pub async fn agent_ended<'a>(
    app: impl Into<Deps<'a>>,
    tenant: &str,
    session: &str,
) -> anyhow::Result<bool> {
    let app = app.into();
    let _gate = app.gates.enter(session).await;
    let engine = app.engines.get(tenant).await?;
    let effects = engine
        .send(Command::EndSession {
            session: session.to_owned(),
        })
        .await?;
    let ended = ends(&effects, session);
    if ended {
        store::mark_ended(app.pool, session, app.clock.now_ms()).await?;
    }
    Ok(ended)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_ended_state_of_the_session_itself_ends_it() {
        let to = |session: &str, state| Effect::ToCustomer {
            session: session.into(),
            text: None,
            choices: Vec::new(),
            state,
            agent: None,
        };
        assert!(ends(&[to("s1", Some(SessionState::Ended))], "s1"));
        assert!(!ends(&[to("s2", Some(SessionState::Ended))], "s1"));
        assert!(!ends(&[to("s1", Some(SessionState::Queued))], "s1"));
        assert!(!ends(&[], "s1"));
    }
}
