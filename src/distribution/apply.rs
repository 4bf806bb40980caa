//! `State::apply(event, now) -> effects`: every rule of distribution, then a distribution
//! pass that offers queued tasks to selectable agents. Indexes (queues per service, free
//! agents by idle time, deadlines) keep each event's cost independent of the number of
//! queued tasks and idle agents that it does not touch.

use std::cmp::Reverse;

use super::model::{
    AcwSettings, Agent, Deadline, Distribution, Phase, Presence, QueueKey, State, Task,
};
use super::{Decision, Event, OfferOutcome};

/// Agents offered a broadcast task at once.
pub const BROADCAST_BATCH: usize = 10;

pub(super) const NO_ACW: AcwSettings = AcwSettings {
    duration_ms: 0,
    allow_early_end: true,
    extension_ms: None,
};

pub(super) fn queue_key(task: &Task) -> QueueKey {
    (Reverse(task.priority), task.seq, task.session.clone())
}

impl State {
    /// Applies one event at `now` and returns what must happen outside.
    pub fn apply(&mut self, event: Event, now: i64) -> Vec<Decision> {
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
    pub fn apply_rules(&mut self, event: Event, now: i64) -> Vec<Decision> {
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
                    effects.push(Decision::AcwStarted {
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
                    effects.push(Decision::RonaCleared { user });
                }
            }
            Event::ConnectDirect { session, user } => {
                self.connect_direct(session, user, now, &mut effects)
            }
            Event::Transfer {
                session,
                from,
                target,
                ring_ms,
            } => self.start_transfer(session, from, target, ring_ms, now, &mut effects),
            Event::TakeOver { session, user } => self.take_over(session, user, now, &mut effects),
        }
        effects
    }

    /// The earliest deadline (ring timeout, RONA reset, ACW end) after which `Tick` matters.
    pub fn next_deadline(&self) -> Option<i64> {
        self.deadlines.first().map(|(t, _)| *t)
    }

    pub(super) fn acw_settings(&self, user: &str) -> AcwSettings {
        self.agents
            .get(user)
            .and_then(|a| a.acw_service.as_ref())
            .and_then(|s| self.services.get(s))
            .map_or(NO_ACW, |s| s.acw)
    }

    /// Changes an agent and keeps the free-agent and deadline indexes in step.
    pub(super) fn update_agent(&mut self, user: &str, change: impl FnOnce(&mut Agent)) {
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

    pub(super) fn upsert_agent(&mut self, agent: Agent, now: i64, effects: &mut Vec<Decision>) {
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
            effects.push(Decision::RonaCleared { user: id });
        }
    }

    /// Ends ring timeouts (RONA), RONA flags and ACW whose time has come.
    pub(super) fn expire(&mut self, now: i64, effects: &mut Vec<Decision>) {
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
                    if offer.transfer {
                        self.end_offer(offer_id, OfferOutcome::Rona, effects);
                        let missed = Some((offer.user, super::TransferFailure::Unanswered));
                        self.transfer_next(&offer.session, missed, now, effects);
                        continue;
                    }
                    let task = self.tasks.get(&offer.session);
                    let direct = task.is_some_and(|t| t.distribution == Distribution::Direct);
                    let reset = task
                        .and_then(|t| self.services.get(&t.service))
                        .map_or(600_000, |s| s.rona_reset_ms);
                    self.end_offer(offer_id, OfferOutcome::Rona, effects);
                    if direct {
                        // Broadcast offers never set RONA.
                        self.update_agent(&offer.user, |a| a.rona_until = Some(now + reset));
                        effects.push(Decision::RonaSet {
                            user: offer.user.clone(),
                            until: now + reset,
                        });
                    }
                    self.requeue_if_silent(&offer.session);
                }
                Deadline::RonaReset(user) => {
                    self.update_agent(&user, |a| a.rona_until = None);
                    effects.push(Decision::RonaCleared { user });
                }
                Deadline::AcwEnd(user) => self.end_acw(&user, now, effects),
            }
        }
    }

    pub(super) fn end_acw(&mut self, user: &str, now: i64, effects: &mut Vec<Decision>) {
        self.update_agent(user, |a| {
            a.acw_until = None;
            a.acw_service = None;
            if a.connected.is_empty() {
                a.idle_since = now;
            }
        });
        effects.push(Decision::AcwEnded {
            user: user.to_owned(),
        });
    }
}
