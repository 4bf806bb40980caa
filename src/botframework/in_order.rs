//! The lanes of agents' messages carried out after the answer, one per conversation, in
//! order: which conversations have messages queued or under way, and those waiting. The bot
//! (`bot::in_order`) stores, queues and carries them out; this holds them in memory.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use super::activity::InboundActivity;

/// A queued message: its row and the activity.
pub struct Queued {
    pub row: i64,
    pub inbound: InboundActivity,
}

/// The conversations with messages queued or under way, each with those waiting.
#[derive(Default)]
pub struct InOrder {
    lanes: Mutex<HashMap<String, VecDeque<Queued>>>,
}

impl InOrder {
    /// Whether `conversation` has messages queued or under way: a new one goes behind them.
    pub fn is_busy(&self, conversation: &str) -> bool {
        self.lanes
            .lock()
            .map(|lanes| lanes.contains_key(conversation))
            .unwrap_or(false)
    }

    /// Queues a message; `true` when its conversation had no lane (the caller starts the
    /// conversation's task).
    pub fn push(&self, queued: Queued) -> bool {
        let conversation = queued.inbound.conversation_id.clone();
        let Ok(mut lanes) = self.lanes.lock() else {
            tracing::error!("the in-order queue is poisoned; a queued message waits for a restart");
            return false;
        };
        match lanes.get_mut(&conversation) {
            Some(waiting) => {
                waiting.push_back(queued);
                false
            }
            None => {
                lanes.insert(conversation, VecDeque::from([queued]));
                true
            }
        }
    }

    /// The next message of `conversation`, or `None` (its lane closed) when there is none.
    pub fn next(&self, conversation: &str) -> Option<Queued> {
        let mut lanes = self.lanes.lock().ok()?;
        let next = lanes.get_mut(conversation).and_then(VecDeque::pop_front);
        if next.is_none() {
            lanes.remove(conversation);
        }
        next
    }

    /// Closes the lane of `conversation` (the service is stopping; its rows stay stored).
    pub fn close(&self, conversation: &str) {
        if let Ok(mut lanes) = self.lanes.lock() {
            lanes.remove(conversation);
        }
    }
}
