//! `State::apply(event, now) -> effects`: every rule of distribution, then a distribution
//! pass that offers queued tasks to selectable agents. Indexes (queues per service, free
//! agents by idle time, deadlines) keep each event's cost independent of the number of
//! queued tasks and idle agents that it does not touch.

use std::cmp::Reverse;

use super::model::{
    AcwSettings, Agent, Deadline, Distribution, Offer, OfferId, Phase, Presence, QueueKey, State,
    Task,
};
use super::{CancelReason, DirectRefusal, Effect, Event, OfferOutcome, TaskOutcome};

/// Agents offered a broadcast task at once.
pub const BROADCAST_BATCH: usize = 10;

const NO_ACW: AcwSettings = AcwSettings {
    duration_ms: 0,
    allow_early_end: true,
    extension_ms: None,
};

fn queue_key(task: &Task) -> QueueKey {
    (Reverse(task.priority), task.seq, task.session.clone())
}

impl State {
    /// Applies one event at `now` and returns what must happen outside.
    pub fn apply(&mut self, event: Event, now: i64) -> Vec<Effect> {
        let mut effects = self.apply_rules(event, now);
        if self.dirty {
            self.distribute(now, &mut effects);
        }
        effects
    }

    /// The event's own rules (and the deadlines due at `now`) without the distribution pass
    /// that [`State::apply`] runs after them — for checking that pass against a reference
    /// model in tests.
    #[doc(hidden)]
    pub fn apply_rules(&mut self, event: Event, now: i64) -> Vec<Effect> {
        let mut effects = Vec::new();
        self.expire(now, &mut effects);
        match event {
            Event::Tick => {}
            Event::UpsertAgent(agent) => self.upsert_agent(*agent, now, &mut effects),
            Event::UpsertService { id, settings } => {
                self.services.insert(id, settings);
                self.dirty = true;
            }
            Event::Enqueue(request) => {
                if !self.tasks.contains_key(&request.session)
                    && self.services.contains_key(&request.service)
                {
                    self.next_seq += 1;
                    let task = Task {
                        session: request.session,
                        service: request.service,
                        priority: request.priority,
                        queued_at: now,
                        seq: self.next_seq,
                        distribution: request.distribution,
                        ring_ms: request.ring_ms.max(1000),
                        last_user: request.last_user,
                        passed_by: Default::default(),
                        declined_by: Default::default(),
                        phase: Phase::Queued,
                    };
                    self.queues
                        .entry(task.service.clone())
                        .or_default()
                        .insert(queue_key(&task));
                    self.tasks.insert(task.session.clone(), task);
                    self.dirty = true;
                }
            }
            Event::SetPriority { session, priority } => {
                if let Some(task) = self.tasks.get_mut(&session) {
                    let queued = task.phase == Phase::Queued;
                    let old = queue_key(task);
                    task.priority = priority;
                    let new = queue_key(task);
                    if queued && let Some(queue) = self.queues.get_mut(&task.service) {
                        queue.remove(&old);
                        queue.insert(new);
                    }
                }
            }
            Event::Accept { offer, user } => self.accept(offer, &user, now, &mut effects),
            Event::Decline { offer, user } => self.decline(offer, &user, now, &mut effects),
            Event::Cancel { session, reason } => self.cancel(&session, reason, &mut effects),
            Event::SessionEnded { session } => self.session_ended(&session, now, &mut effects),
            Event::AcwDone { user } => {
                let early_end = self.acw_settings(&user).allow_early_end;
                if early_end
                    && self
                        .agents
                        .get(&user)
                        .is_some_and(|a| a.acw_until.is_some())
                {
                    self.end_acw(&user, now, &mut effects);
                }
            }
            Event::AcwExtend { user } => {
                let extension = self.acw_settings(&user).extension_ms;
                if let Some(extension) = extension
                    && self
                        .agents
                        .get(&user)
                        .is_some_and(|a| a.acw_until.is_some())
                {
                    // A fresh counter, not added to the time left.
                    self.update_agent(&user, |a| a.acw_until = Some(now + extension));
                    effects.push(Effect::AcwStarted {
                        user,
                        until: now + extension,
                    });
                }
            }
            Event::RonaReset { user } => {
                if self
                    .agents
                    .get(&user)
                    .is_some_and(|a| a.rona_until.is_some())
                {
                    self.update_agent(&user, |a| a.rona_until = None);
                    effects.push(Effect::RonaCleared { user });
                }
            }
            Event::ConnectDirect { session, user } => {
                self.connect_direct(session, user, now, &mut effects)
            }
        }
        effects
    }

    /// The earliest deadline (ring timeout, RONA reset, ACW end) after which `Tick` matters.
    pub fn next_deadline(&self) -> Option<i64> {
        self.deadlines.first().map(|(t, _)| *t)
    }

    fn acw_settings(&self, user: &str) -> AcwSettings {
        self.agents
            .get(user)
            .and_then(|a| a.acw_service.as_ref())
            .and_then(|s| self.services.get(s))
            .map_or(NO_ACW, |s| s.acw)
    }

    /// Changes an agent and keeps the free-agent and deadline indexes in step.
    fn update_agent(&mut self, user: &str, change: impl FnOnce(&mut Agent)) {
        let Some(agent) = self.agents.get_mut(user) else {
            return;
        };
        let was_free = agent.free();
        self.free.remove(&(agent.idle_since, agent.id.clone()));
        if let Some(t) = agent.rona_until {
            self.deadlines
                .remove(&(t, Deadline::RonaReset(agent.id.clone())));
        }
        if let Some(t) = agent.acw_until {
            self.deadlines
                .remove(&(t, Deadline::AcwEnd(agent.id.clone())));
        }
        change(agent);
        if agent.free() {
            self.free.insert((agent.idle_since, agent.id.clone()));
            if !was_free {
                self.dirty = true;
            }
        }
        if let Some(t) = agent.rona_until {
            self.deadlines
                .insert((t, Deadline::RonaReset(agent.id.clone())));
        }
        if let Some(t) = agent.acw_until {
            self.deadlines
                .insert((t, Deadline::AcwEnd(agent.id.clone())));
        }
    }

    fn upsert_agent(&mut self, agent: Agent, now: i64, effects: &mut Vec<Effect>) {
        let id = agent.id.clone();
        let existed = self.agents.contains_key(&id);
        if !existed {
            let mut placeholder = agent.clone();
            placeholder.registered = false;
            placeholder.idle_since = agent.idle_since.min(now);
            self.agents.insert(id.clone(), placeholder);
        }
        let mut cleared = false;
        self.update_agent(&id, |current| {
            // What the directory owns is replaced; what distribution owns is kept.
            current.registered = agent.registered;
            current.im_license = agent.im_license;
            current.presence = agent.presence;
            current.on_duty = agent.on_duty;
            current.capacity = agent.capacity;
            current.member_of = agent.member_of;
            current.active_in = agent.active_in;
            // Going offline or off duty resets RONA.
            if (current.presence == Presence::Offline || !current.on_duty)
                && current.rona_until.take().is_some()
            {
                cleared = true;
            }
        });
        // Membership or presence may make the agent fit a service it did not fit before.
        self.dirty = true;
        if cleared {
            effects.push(Effect::RonaCleared { user: id });
        }
    }

    /// Ends ring timeouts (RONA), RONA flags and ACW whose time has come.
    fn expire(&mut self, now: i64, effects: &mut Vec<Effect>) {
        while let Some((t, deadline)) = self.deadlines.first().cloned() {
            if t > now {
                break;
            }
            self.deadlines.remove(&(t, deadline.clone()));
            match deadline {
                Deadline::Ring(offer_id) => {
                    let Some(offer) = self.offers.get(&offer_id).cloned() else {
                        continue;
                    };
                    let task = self.tasks.get(&offer.session);
                    let direct = task.is_some_and(|t| t.distribution == Distribution::Direct);
                    let reset = task
                        .and_then(|t| self.services.get(&t.service))
                        .map_or(600_000, |s| s.rona_reset_ms);
                    self.end_offer(offer_id, OfferOutcome::Rona, effects);
                    if direct {
                        // Broadcast offers never set RONA.
                        self.update_agent(&offer.user, |a| a.rona_until = Some(now + reset));
                        effects.push(Effect::RonaSet {
                            user: offer.user.clone(),
                            until: now + reset,
                        });
                    }
                    self.requeue_if_silent(&offer.session);
                }
                Deadline::RonaReset(user) => {
                    self.update_agent(&user, |a| a.rona_until = None);
                    effects.push(Effect::RonaCleared { user });
                }
                Deadline::AcwEnd(user) => self.end_acw(&user, now, effects),
            }
        }
    }

    fn end_acw(&mut self, user: &str, now: i64, effects: &mut Vec<Effect>) {
        self.update_agent(user, |a| {
            a.acw_until = None;
            a.acw_service = None;
            if a.connected.is_empty() {
                a.idle_since = now;
            }
        });
        effects.push(Effect::AcwEnded {
            user: user.to_owned(),
        });
    }

    /// Removes a ringing offer, frees its agent and reports its outcome.
    fn end_offer(&mut self, offer: OfferId, outcome: OfferOutcome, effects: &mut Vec<Effect>) {
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
        effects.push(Effect::OfferEnded {
            offer: offer.id,
            session: offer.session,
            user: offer.user,
            outcome,
        });
    }

    /// A task whose offers all ended goes back to the queue.
    fn requeue_if_silent(&mut self, session: &str) {
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

    fn accept(&mut self, offer_id: OfferId, user: &str, now: i64, effects: &mut Vec<Effect>) {
        let valid = self
            .offers
            .get(&offer_id)
            .is_some_and(|o| o.user == user && o.deadline > now);
        let Some(offer) = self.offers.get(&offer_id).cloned().filter(|_| valid) else {
            // Never two agents on one chat: a late or foreign accept is refused.
            effects.push(Effect::AcceptRefused {
                offer: offer_id,
                user: user.to_owned(),
            });
            return;
        };
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
        effects.push(Effect::Connected {
            session: offer.session,
            user: user.to_owned(),
        });
    }

    fn decline(&mut self, offer_id: OfferId, user: &str, now: i64, effects: &mut Vec<Effect>) {
        let Some(offer) = self
            .offers
            .get(&offer_id)
            .cloned()
            .filter(|o| o.user == user)
        else {
            return;
        };
        self.end_offer(offer_id, OfferOutcome::Declined, effects);
        let persistent = self
            .tasks
            .get(&offer.session)
            .and_then(|t| self.services.get(&t.service))
            .filter(|s| s.persistent_rona)
            .map(|s| s.rona_reset_ms);
        if let Some(reset) = persistent {
            self.update_agent(user, |a| a.rona_until = Some(now + reset));
            effects.push(Effect::RonaSet {
                user: user.to_owned(),
                until: now + reset,
            });
        }
        self.requeue_if_silent(&offer.session);
    }

    fn cancel(&mut self, session: &str, reason: CancelReason, effects: &mut Vec<Effect>) {
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
        effects.push(Effect::TaskEnded {
            session: session.to_owned(),
            outcome: match reason {
                CancelReason::CustomerLeft => TaskOutcome::Abandoned,
                _ => TaskOutcome::Cancelled,
            },
        });
    }

    /// Connects a direct-to-user chat at once, or refuses it with the reason.
    fn connect_direct(
        &mut self,
        session: String,
        user: String,
        now: i64,
        effects: &mut Vec<Effect>,
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
            effects.push(Effect::DirectRefused {
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
        effects.push(Effect::Connected { session, user });
    }

    fn session_ended(&mut self, session: &str, now: i64, effects: &mut Vec<Effect>) {
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
            effects.push(Effect::AcwStarted {
                user: user.clone(),
                until: now + acw.duration_ms,
            });
        }
        effects.push(Effect::TaskEnded {
            session: session.to_owned(),
            outcome: TaskOutcome::Handled,
        });
    }

    /// Offers queued tasks to free agents who fit their service, in the one queue order that
    /// spans every service (strict first, then priority, then waiting time): the task first in
    /// that order among those that have a free agent is offered, until no queued task has one.
    fn distribute(&mut self, now: i64, effects: &mut Vec<Effect>) {
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

    fn offer(&mut self, session: &str, users: Vec<String>, now: i64, effects: &mut Vec<Effect>) {
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
            self.next_offer += 1;
            let id = self.next_offer;
            ids.insert(id);
            self.offers.insert(
                id,
                Offer {
                    id,
                    session: session.to_owned(),
                    user: user.clone(),
                    deadline,
                },
            );
            self.deadlines.insert((deadline, Deadline::Ring(id)));
            self.update_agent(&user, |a| a.ringing = Some(id));
            effects.push(Effect::Offered {
                offer: id,
                session: session.to_owned(),
                user,
                deadline,
            });
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
