//! Offers and their ends: accept, decline, cancel, RONA's requeue, the direct connection to
//! one user, a session's end, and the distribution pass that rings the agents [`choose`]
//! picks. The rest of the rules, and `State::apply` that dispatches to these, are in
//! `apply.rs`.

use super::apply::{BROADCAST_BATCH, NO_ACW, queue_key};
use super::model::{
    Deadline, Distribution, Offer, OfferId, Phase, Presence, QueueKey, State, Task,
};
use super::{CancelReason, Decision, DirectRefusal, OfferOutcome, TaskOutcome};

impl State {
    /// Removes a ringing offer, frees its agent and reports its outcome.
    pub(super) fn end_offer(
        &mut self,
        offer: OfferId,
        outcome: OfferOutcome,
        effects: &mut Vec<Decision>,
    ) {
        let Some(offer) = self.offers.remove(&offer) else {
            return;
        };
        self.deadlines
            .remove(&(offer.deadline, Deadline::Ring(offer.id)));
        if let Some(task) = self.tasks.get_mut(&offer.session) {
            if let Phase::Ringing(ids) = &mut task.phase {
                ids.remove(&offer.id);
            }
            match outcome {
                OfferOutcome::Rona => {
                    task.passed_by.insert(offer.user.clone());
                }
                OfferOutcome::Declined => {
                    task.declined_by.insert(offer.user.clone());
                }
                _ => {}
            }
        }
        self.update_agent(&offer.user, |a| {
            if a.ringing == Some(offer.id) {
                a.ringing = None;
            }
        });
        effects.push(Decision::OfferEnded {
            offer: offer.id,
            session: offer.session,
            user: offer.user,
            outcome,
        });
    }

    /// A task whose offers all ended goes back to the queue.
    pub(super) fn requeue_if_silent(&mut self, session: &str) {
        if let Some(task) = self.tasks.get_mut(session)
            && matches!(&task.phase, Phase::Ringing(ids) if ids.is_empty())
        {
            task.phase = Phase::Queued;
            self.queues
                .entry(task.service.clone())
                .or_default()
                .insert(queue_key(task));
            self.dirty = true;
        }
    }

    pub(super) fn accept(
        &mut self,
        offer_id: OfferId,
        user: &str,
        now: i64,
        effects: &mut Vec<Decision>,
    ) {
        let valid = self
            .offers
            .get(&offer_id)
            .is_some_and(|o| o.user == user && o.deadline > now);
        let Some(offer) = self.offers.get(&offer_id).cloned().filter(|_| valid) else {
            // Never two agents on one chat: a late or foreign accept is refused.
            effects.push(Decision::AcceptRefused {
                offer: offer_id,
                user: user.to_owned(),
            });
            return;
        };
        if offer.transfer {
            return self.transfer_accepted(offer, now, effects);
        }
        self.end_offer(offer_id, OfferOutcome::Accepted, effects);
        let others: Vec<OfferId> = match self.tasks.get(&offer.session).map(|t| &t.phase) {
            Some(Phase::Ringing(ids)) => ids.iter().copied().collect(),
            _ => Vec::new(),
        };
        for other in others {
            self.end_offer(other, OfferOutcome::Cancelled(CancelReason::Taken), effects);
        }
        if let Some(task) = self.tasks.get_mut(&offer.session) {
            task.phase = Phase::Connected(user.to_owned());
        }
        self.update_agent(user, |a| {
            a.connected.insert(offer.session.clone());
        });
        effects.push(Decision::Connected {
            session: offer.session,
            user: user.to_owned(),
        });
    }

    pub(super) fn decline(
        &mut self,
        offer_id: OfferId,
        user: &str,
        now: i64,
        effects: &mut Vec<Decision>,
    ) {
        let Some(offer) = self
            .offers
            .get(&offer_id)
            .cloned()
            .filter(|o| o.user == user)
        else {
            return;
        };
        self.end_offer(offer_id, OfferOutcome::Declined, effects);
        if offer.transfer {
            let declined = Some((offer.user, super::TransferFailure::Declined));
            return self.transfer_next(&offer.session, declined, now, effects);
        }
        let persistent = self
            .tasks
            .get(&offer.session)
            .and_then(|t| self.services.get(&t.service))
            .filter(|s| s.persistent_rona)
            .map(|s| s.rona_reset_ms);
        if let Some(reset) = persistent {
            self.update_agent(user, |a| a.rona_until = Some(now + reset));
            effects.push(Decision::RonaSet {
                user: user.to_owned(),
                until: now + reset,
            });
        }
        self.requeue_if_silent(&offer.session);
    }

    pub(super) fn cancel(
        &mut self,
        session: &str,
        reason: CancelReason,
        effects: &mut Vec<Decision>,
    ) {
        self.cancel_transfer(session, reason, effects);
        let Some(task) = self.tasks.get(session) else {
            return;
        };
        let offers: Vec<OfferId> = match &task.phase {
            Phase::Connected(_) => return,
            Phase::Ringing(ids) => ids.iter().copied().collect(),
            Phase::Queued => Vec::new(),
        };
        let key = queue_key(task);
        if let Some(queue) = self.queues.get_mut(&task.service) {
            queue.remove(&key);
        }
        for offer in offers {
            self.end_offer(offer, OfferOutcome::Cancelled(reason), effects);
        }
        self.tasks.remove(session);
        effects.push(Decision::TaskEnded {
            session: session.to_owned(),
            outcome: match reason {
                CancelReason::CustomerLeft => TaskOutcome::Abandoned,
                _ => TaskOutcome::Cancelled,
            },
        });
    }

    /// Connects a direct-to-user chat at once, or refuses it with the reason.
    pub(super) fn connect_direct(
        &mut self,
        session: String,
        user: String,
        now: i64,
        effects: &mut Vec<Decision>,
    ) {
        if self.tasks.contains_key(&session) {
            return;
        }
        let refusal = match self.agents.get(&user) {
            Some(a) if !a.registered => Some(DirectRefusal::NotRegistered),
            None => Some(DirectRefusal::NotRegistered),
            Some(a) if a.presence != Presence::Available => Some(DirectRefusal::Unavailable),
            Some(a) if a.ringing.is_some() || a.connected.len() as u64 >= u64::from(a.capacity) => {
                Some(DirectRefusal::Busy)
            }
            Some(_) => None,
        };
        if let Some(reason) = refusal {
            effects.push(Decision::DirectRefused {
                session,
                user,
                reason,
            });
            return;
        }
        self.next_seq += 1;
        self.tasks.insert(
            session.clone(),
            Task {
                session: session.clone(),
                service: String::new(),
                priority: super::model::Priority::Normal,
                queued_at: now,
                seq: self.next_seq,
                distribution: Distribution::Direct,
                ring_ms: 0,
                last_user: None,
                passed_by: Default::default(),
                declined_by: Default::default(),
                phase: Phase::Connected(user.clone()),
            },
        );
        self.update_agent(&user, |a| {
            a.connected.insert(session.clone());
        });
        effects.push(Decision::Connected { session, user });
    }

    pub(super) fn session_ended(&mut self, session: &str, now: i64, effects: &mut Vec<Decision>) {
        self.cancel_transfer(session, CancelReason::CustomerLeft, effects);
        let Some(task) = self.tasks.get(session) else {
            return;
        };
        let Phase::Connected(user) = task.phase.clone() else {
            return;
        };
        let service = task.service.clone();
        self.tasks.remove(session);
        let acw = self.services.get(&service).map_or(NO_ACW, |s| s.acw);
        self.update_agent(&user, |a| {
            a.connected.remove(session);
            if acw.duration_ms > 0 {
                a.acw_until = Some(now + acw.duration_ms);
                a.acw_service = Some(service);
            } else if a.connected.is_empty() {
                a.idle_since = now;
            }
        });
        if acw.duration_ms > 0 {
            effects.push(Decision::AcwStarted {
                user: user.clone(),
                until: now + acw.duration_ms,
            });
        }
        effects.push(Decision::TaskEnded {
            session: session.to_owned(),
            outcome: TaskOutcome::Handled,
        });
    }

    /// Offers queued tasks to free agents who fit their service, in the one queue order that
    /// spans every service (strict first, then priority, then waiting time): the task first in
    /// that order among those that have a free agent is offered, until no queued task has one.
    pub(super) fn distribute(&mut self, now: i64, effects: &mut Vec<Decision>) {
        self.dirty = false;
        // Free agents who fit each service with a queue, longest idle first.
        let mut pools: Vec<(String, Vec<String>)> = Vec::new();
        for (service, queue) in &self.queues {
            let Some(settings) = self.services.get(service).filter(|_| !queue.is_empty()) else {
                continue;
            };
            let pool: Vec<String> = self
                .free
                .iter()
                .filter(|(_, id)| {
                    self.agents
                        .get(id)
                        .is_some_and(|a| a.fits(service, settings))
                })
                .map(|(_, id)| id.clone())
                .collect();
            if !pool.is_empty() {
                pools.push((service.clone(), pool));
            }
        }
        loop {
            // Per service with a free agent, its first task that one of them may take (usually
            // the head: only declines skip a task); of those, the first in the order across
            // services.
            let mut best: Option<(QueueKey, Vec<String>)> = None;
            for (service, pool) in &pools {
                let Some(queue) = self.queues.get(service) else {
                    continue;
                };
                let first = queue.iter().find_map(|key| {
                    if best.as_ref().is_some_and(|(b, _)| b < key) {
                        return Some(None);
                    }
                    let chosen = choose(self.tasks.get(&key.2)?, pool);
                    (!chosen.is_empty()).then(|| Some((key.clone(), chosen)))
                });
                if let Some(Some(found)) = first {
                    best = Some(found);
                }
            }
            let Some((key, chosen)) = best else {
                break;
            };
            let session = key.2;
            for (_, pool) in &mut pools {
                pool.retain(|c| !chosen.contains(c));
            }
            pools.retain(|(_, pool)| !pool.is_empty());
            self.offer(&session, chosen, now, effects);
        }
    }

    /// Rings `user` for `session` until `deadline` (a transfer's offer when `transfer`);
    /// returns the offer's id.
    pub(super) fn ring(
        &mut self,
        session: &str,
        user: String,
        deadline: i64,
        transfer: bool,
        effects: &mut Vec<Decision>,
    ) -> OfferId {
        self.next_offer += 1;
        let id = self.next_offer;
        self.offers.insert(
            id,
            Offer {
                id,
                session: session.to_owned(),
                user: user.clone(),
                deadline,
                transfer,
            },
        );
        self.deadlines.insert((deadline, Deadline::Ring(id)));
        self.update_agent(&user, |a| a.ringing = Some(id));
        effects.push(Decision::Offered {
            offer: id,
            session: session.to_owned(),
            user,
            deadline,
        });
        id
    }

    pub(super) fn offer(
        &mut self,
        session: &str,
        users: Vec<String>,
        now: i64,
        effects: &mut Vec<Decision>,
    ) {
        let Some(task) = self.tasks.get_mut(session) else {
            return;
        };
        let deadline = now + task.ring_ms;
        let key = queue_key(task);
        if let Some(queue) = self.queues.get_mut(&task.service) {
            queue.remove(&key);
        }
        let mut ids = std::collections::BTreeSet::new();
        for user in users {
            ids.insert(self.ring(session, user, deadline, false, effects));
        }
        if let Some(task) = self.tasks.get_mut(session) {
            task.phase = Phase::Ringing(ids);
        }
    }
}

/// The agents a task is offered to, from the free agents who fit its service (longest idle
/// first), never one who declined it: the agent who last handled the customer, then those who
/// have not missed the task, then those who have — a task every agent missed is offered again
/// rather than left waiting. One for `direct`, up to [`BROADCAST_BATCH`] for `broadcast`.
fn choose(task: &Task, pool: &[String]) -> Vec<String> {
    let batch = match task.distribution {
        Distribution::Direct => 1,
        Distribution::Broadcast => BROADCAST_BATCH,
    };
    let passed = |id: &String| task.passed_by.contains(id);
    let last = task
        .last_user
        .as_ref()
        .filter(|l| pool.contains(l) && !passed(l) && !task.declined_by.contains(*l));
    let pool = pool.iter().filter(|id| !task.declined_by.contains(*id));
    last.into_iter()
        .chain(pool.clone().filter(|id| !passed(id) && Some(*id) != last))
        .chain(pool.filter(|id| passed(id)))
        .take(batch)
        .cloned()
        .collect()
}
