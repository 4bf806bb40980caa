//! The per-session gate of [`super::ending`]: a customer's message and an end decided outside
//! the engine pass through one lock per session, so they reach the engine in the order they
//! were accepted in. In memory: one process owns the database (SQLite), so one process owns
//! the gate. This module knows nothing of messages or ends; its callers hold the gate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::OwnedMutexGuard;

/// One lock per session that has a message or an end in flight.
#[derive(Default)]
pub struct SessionGates {
    /// Weak, so a session nobody waits for costs nothing but its key until the next prune.
    gates: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
}

impl SessionGates {
    /// Waits for `session`'s gate; it is held until the guard is dropped.
    pub async fn enter(&self, session: &str) -> OwnedMutexGuard<()> {
        let gate = {
            let mut gates = self
                .gates
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match gates.get(session).and_then(Weak::upgrade) {
                Some(gate) => gate,
                None => {
                    // Forget the gates nobody holds before growing.
                    gates.retain(|_, g| g.strong_count() > 0);
                    let gate = Arc::new(tokio::sync::Mutex::new(()));
                    gates.insert(session.to_owned(), Arc::downgrade(&gate));
                    gate
                }
            }
        };
        gate.lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_session_at_a_time_passes_the_gate_and_other_sessions_do_not_wait() {
        let gates = SessionGates::default();
        let held = gates.enter("s1").await;
        let other = tokio::time::timeout(std::time::Duration::from_millis(50), gates.enter("s2"));
        assert!(other.await.is_ok(), "another session does not wait");
        let same = tokio::time::timeout(std::time::Duration::from_millis(50), gates.enter("s1"));
        assert!(same.await.is_err(), "the same session waits");
        drop(held);
        let again = tokio::time::timeout(std::time::Duration::from_millis(50), gates.enter("s1"));
        assert!(again.await.is_ok(), "free once released");
    }
}
