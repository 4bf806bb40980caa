//! The dispatcher's memory of the outbox, in two pools of lanes.

use super::*;

/// The dispatcher's memory of the outbox: every pending call, per lane, in id order, in two
/// schedulers ([`crate::outbox::lanes::Lanes`]): Connector and WhatsApp calls, and webhook deliveries,
/// which take turns in a pool of their own. A head whose retry deadline has not come is parked
/// until it has. Starting the next call of a lane is O(1) whatever the backlog.
#[derive(Default)]
pub(super) struct Lanes {
    calls: crate::outbox::lanes::Lanes<String, outbox::PendingCall>,
    hooks: crate::outbox::lanes::Lanes<String, outbox::PendingCall>,
    /// Webhook lanes whose endpoint is busy (its cap in flight, or its probe), by endpoint.
    hooks_waiting: HashMap<(String, String), VecDeque<String>>,
    /// The highest id read from the store.
    pub(super) high_water: i64,
}

impl Lanes {
    /// Adds calls read from the store (in id order).
    pub(super) fn add(&mut self, calls: Vec<outbox::PendingCall>) {
        for call in calls {
            self.high_water = self.high_water.max(call.id);
            let lane = call.lane.clone();
            if endpoint_of(&lane).is_some() {
                self.hooks.push(lane, call);
            } else {
                self.calls.push(lane, call);
            }
        }
    }

    /// The next Connector or WhatsApp head to start, its lane then busy.
    pub(super) fn next_ready(&mut self, now: i64) -> Option<outbox::PendingCall> {
        while let Some(lane) = self.calls.pop_ready() {
            match self.calls.head(&lane).map(|h| h.next_attempt_at) {
                Some(at) if at > now => self.calls.park(lane, at),
                _ => {
                    if let Some(head) = self.calls.start(lane) {
                        return Some(head);
                    }
                }
            }
        }
        None
    }

    /// The next webhook head to start whose endpoint admits it (counted in flight there),
    /// its lane then busy; lanes of busy endpoints wait for them, those of open breakers are
    /// parked until they half-open.
    pub(super) fn next_hook(&mut self, health: &Health, now: i64) -> Option<outbox::PendingCall> {
        while let Some(lane) = self.hooks.pop_ready() {
            match self.hooks.head(&lane).map(|h| h.next_attempt_at) {
                Some(at) if at > now => {
                    self.hooks.park(lane, at);
                    continue;
                }
                Some(_) => {}
                None => continue,
            }
            let Some((tenant, endpoint)) = endpoint_of(&lane) else {
                continue;
            };
            match health.admit(tenant, endpoint, now) {
                Admit::Now => return self.hooks.start(lane),
                Admit::Busy => {
                    let key = (tenant.to_owned(), endpoint.to_owned());
                    self.hooks_waiting.entry(key).or_default().push_back(lane);
                }
                Admit::OpenUntil(until) => self.hooks.park(lane, until),
            }
        }
        None
    }

    /// An attempt to `endpoint` ended: the lanes waiting for it try again.
    pub(super) fn endpoint_freed(&mut self, endpoint: (String, String)) {
        if let Some(waiting) = self.hooks_waiting.remove(&endpoint) {
            for lane in waiting {
                self.hooks.make_ready(lane);
            }
        }
    }

    /// Moves parked lanes whose deadline has come to ready.
    pub(super) fn unpark(&mut self, now: i64) {
        self.calls.unpark(now);
        self.hooks.unpark(now);
    }

    /// The earliest deadline of a parked lane.
    pub(super) fn next_deadline(&self) -> Option<i64> {
        match (self.calls.next_deadline(), self.hooks.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Applies a recorded settlement of a lane's head: a call to retry goes back first in its
    /// lane, parked until its deadline.
    pub(super) fn settled(
        &mut self,
        mut call: outbox::PendingCall,
        settlement: &outbox::Settlement,
    ) {
        let lanes = if endpoint_of(&call.lane).is_some() {
            &mut self.hooks
        } else {
            &mut self.calls
        };
        match settlement {
            outbox::Settlement::Retry {
                attempts,
                next_attempt_at,
                error: _,
                id: _,
            } => {
                call.attempts = *attempts;
                call.next_attempt_at = *next_attempt_at;
                let lane = call.lane.clone();
                lanes.put_back(lane, call, *next_attempt_at);
            }
            outbox::Settlement::Delivered { .. } | outbox::Settlement::Failed { .. } => {
                lanes.finish(&call.lane);
            }
        }
    }

    pub(super) fn pending(&self) -> usize {
        self.calls.pending() + self.hooks.pending()
    }
}
