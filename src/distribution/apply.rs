//! `State::apply(event, now) -> effects`: every rule of distribution, then a distribution
//! pass that offers queued tasks to selectable agents.

use super::model::{Agent, Distribution, Offer, Phase, State, Task};
use super::{CancelReason, Effect, Event, OfferOutcome, TaskOutcome};

/// Agents offered a broadcast task at once.
pub const BROADCAST_BATCH: usize = 10;

impl State {
    /// Applies one event at `now` and returns what must happen outside.
    pub fn apply(&mut self, event: Event, now: i64) -> Vec<Effect> {
        let mut effects = Vec::new();
        self.expire(now, &mut effects);
        match event {
            Event::Tick => {}
            Event::UpsertAgent(agent) => self.upsert_agent(*agent, now, &mut effects),
            Event::UpsertService { id, settings } => {
                self.services.insert(id, settings);
            }
            Event::Enqueue(request) => {
                if !self.tasks.contains_key(&request.session)
                    && self.services.contains_key(&request.service)
                {
                    self.next_seq += 1;
                    self.tasks.insert(
                        request.session.clone(),
                        Task {
                            session: request.session,
                            service: request.service,
                            priority: request.priority,
                            queued_at: now,
                            seq: self.next_seq,
                            distribution: request.distribution,
                            ring_ms: request.ring_ms.max(1000),
                            last_user: request.last_user,
                            passed_by: Default::default(),
                            phase: Phase::Queued,
                        },
                    );
                }
            }
            Event::SetPriority { session, priority } => {
                if let Some(task) = self.tasks.get_mut(&session) {
                    task.priority = priority;
                }
            }
            Event::Accept { offer, user } => self.accept(offer, &user, now, &mut effects),
            Event::Decline { offer, user } => self.decline(offer, &user, now, &mut effects),
            Event::Cancel { session, reason } => self.cancel(&session, reason, &mut effects),
            Event::SessionEnded { session } => self.session_ended(&session, now, &mut effects),
            Event::AcwDone { user } => {
                if let Some(agent) = self.agents.get_mut(&user) {
                    let early_end = agent
                        .acw_service
                        .as_ref()
                        .and_then(|s| self.services.get(s))
                        .is_some_and(|s| s.acw.allow_early_end);
                    if agent.acw_until.is_some_and(|t| t > now) && early_end {
                        end_acw(agent, now, &mut effects);
                    }
                }
            }
            Event::AcwExtend { user } => {
                if let Some(agent) = self.agents.get_mut(&user) {
                    let extension = agent
                        .acw_service
                        .as_ref()
                        .and_then(|s| self.services.get(s))
                        .and_then(|s| s.acw.extension_ms);
                    if let (Some(extension), Some(until)) = (extension, agent.acw_until)
                        && until > now
                    {
                        // A fresh counter, not added to the time left.
                        agent.acw_until = Some(now + extension);
                        effects.push(Effect::AcwStarted {
                            user: user.clone(),
                            until: now + extension,
                        });
                    }
                }
            }
            Event::RonaReset { user } => {
                if let Some(agent) = self.agents.get_mut(&user)
                    && agent.rona_until.take().is_some()
                {
                    effects.push(Effect::RonaCleared { user });
                }
            }
        }
        self.distribute(now, &mut effects);
        effects
    }

    /// The earliest deadline (ring timeout, RONA reset, ACW end) after which `Tick` matters.
    pub fn next_deadline(&self) -> Option<i64> {
        let offers = self.offers.values().map(|o| o.deadline);
        let agents = self
            .agents
            .values()
            .flat_map(|a| a.rona_until.into_iter().chain(a.acw_until));
        offers.chain(agents).min()
    }

    fn upsert_agent(&mut self, mut agent: Agent, now: i64, effects: &mut Vec<Effect>) {
        match self.agents.get(&agent.id) {
            Some(old) => {
                // What distribution owns is kept; what the directory owns is replaced.
                agent.connected = old.connected.clone();
                agent.ringing = old.ringing;
                agent.acw_until = old.acw_until;
                agent.acw_service = old.acw_service.clone();
                agent.idle_since = old.idle_since;
                agent.rona_until = old.rona_until;
            }
            None => agent.idle_since = agent.idle_since.min(now),
        }
        // Going offline or off duty resets RONA.
        if (agent.presence == super::model::Presence::Offline || !agent.on_duty)
            && agent.rona_until.take().is_some()
        {
            effects.push(Effect::RonaCleared {
                user: agent.id.clone(),
            });
        }
        self.agents.insert(agent.id.clone(), agent);
    }

    /// Ends ring timeouts (RONA), RONA flags and ACW whose time has come.
    fn expire(&mut self, now: i64, effects: &mut Vec<Effect>) {
        let due: Vec<Offer> = self
            .offers
            .values()
            .filter(|o| o.deadline <= now)
            .cloned()
            .collect();
        for offer in due {
            let Some(task) = self.tasks.get(&offer.session) else {
                continue;
            };
            let direct = task.distribution == Distribution::Direct;
            let reset = self
                .services
                .get(&task.service)
                .map_or(600_000, |s| s.rona_reset_ms);
            self.end_offer(offer.id, OfferOutcome::Rona, effects);
            if direct && let Some(agent) = self.agents.get_mut(&offer.user) {
                // Broadcast offers never set RONA.
                agent.rona_until = Some(now + reset);
                effects.push(Effect::RonaSet {
                    user: offer.user.clone(),
                    until: now + reset,
                });
            }
            self.requeue_if_silent(&offer.session);
        }
        for agent in self.agents.values_mut() {
            if agent.rona_until.is_some_and(|t| t <= now) {
                agent.rona_until = None;
                effects.push(Effect::RonaCleared {
                    user: agent.id.clone(),
                });
            }
            if agent.acw_until.is_some_and(|t| t <= now) {
                end_acw(agent, now, effects);
            }
        }
    }

    /// Removes a ringing offer, frees its agent and reports its outcome.
    fn end_offer(
        &mut self,
        offer: super::model::OfferId,
        outcome: OfferOutcome,
        effects: &mut Vec<Effect>,
    ) {
        let Some(offer) = self.offers.remove(&offer) else {
            return;
        };
        if let Some(agent) = self.agents.get_mut(&offer.user)
            && agent.ringing == Some(offer.id)
        {
            agent.ringing = None;
        }
        if let Some(task) = self.tasks.get_mut(&offer.session) {
            if let Phase::Ringing(ids) = &mut task.phase {
                ids.remove(&offer.id);
            }
            if matches!(outcome, OfferOutcome::Declined | OfferOutcome::Rona) {
                task.passed_by.insert(offer.user.clone());
            }
        }
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
        }
    }

    fn accept(
        &mut self,
        offer_id: super::model::OfferId,
        user: &str,
        now: i64,
        effects: &mut Vec<Effect>,
    ) {
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
        let others: Vec<_> = match self.tasks.get(&offer.session).map(|t| &t.phase) {
            Some(Phase::Ringing(ids)) => ids.iter().copied().collect(),
            _ => Vec::new(),
        };
        for other in others {
            self.end_offer(other, OfferOutcome::Cancelled(CancelReason::Taken), effects);
        }
        if let Some(task) = self.tasks.get_mut(&offer.session) {
            task.phase = Phase::Connected(user.to_owned());
        }
        if let Some(agent) = self.agents.get_mut(user) {
            agent.connected.insert(offer.session.clone());
        }
        effects.push(Effect::Connected {
            session: offer.session,
            user: user.to_owned(),
        });
    }

    fn decline(
        &mut self,
        offer_id: super::model::OfferId,
        user: &str,
        now: i64,
        effects: &mut Vec<Effect>,
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
        let persistent = self
            .tasks
            .get(&offer.session)
            .and_then(|t| self.services.get(&t.service))
            .filter(|s| s.persistent_rona)
            .map(|s| s.rona_reset_ms);
        if let (Some(reset), Some(agent)) = (persistent, self.agents.get_mut(user)) {
            agent.rona_until = Some(now + reset);
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
        if matches!(task.phase, Phase::Connected(_)) {
            return;
        }
        let offers: Vec<_> = match &task.phase {
            Phase::Ringing(ids) => ids.iter().copied().collect(),
            _ => Vec::new(),
        };
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

    fn session_ended(&mut self, session: &str, now: i64, effects: &mut Vec<Effect>) {
        let Some(task) = self.tasks.get(session) else {
            return;
        };
        let Phase::Connected(user) = task.phase.clone() else {
            return;
        };
        let service = task.service.clone();
        self.tasks.remove(session);
        let acw = self
            .services
            .get(&service)
            .map(|s| s.acw)
            .unwrap_or(super::model::AcwSettings {
                duration_ms: 0,
                allow_early_end: true,
                extension_ms: None,
            });
        if let Some(agent) = self.agents.get_mut(&user) {
            agent.connected.remove(session);
            if acw.duration_ms > 0 {
                agent.acw_until = Some(now + acw.duration_ms);
                agent.acw_service = Some(service);
                effects.push(Effect::AcwStarted {
                    user: user.clone(),
                    until: now + acw.duration_ms,
                });
            } else if agent.connected.is_empty() {
                agent.idle_since = now;
            }
        }
        effects.push(Effect::TaskEnded {
            session: session.to_owned(),
            outcome: TaskOutcome::Handled,
        });
    }

    /// Offers queued tasks, strict first, then by priority, then first come first served.
    fn distribute(&mut self, now: i64, effects: &mut Vec<Effect>) {
        let mut queued: Vec<&Task> = self
            .tasks
            .values()
            .filter(|t| t.phase == Phase::Queued)
            .collect();
        queued.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.seq.cmp(&b.seq)));
        let order: Vec<String> = queued.into_iter().map(|t| t.session.clone()).collect();
        for session in order {
            let Some(task) = self.tasks.get(&session) else {
                continue;
            };
            let Some(settings) = self.services.get(&task.service) else {
                continue;
            };
            let mut candidates: Vec<&Agent> = self
                .agents
                .values()
                .filter(|a| {
                    !task.passed_by.contains(&a.id) && a.selectable(&task.service, settings, now)
                })
                .collect();
            if candidates.is_empty() {
                continue;
            }
            candidates.sort_by(|a, b| {
                let preferred = |x: &Agent| task.last_user.as_deref() != Some(x.id.as_str());
                preferred(a)
                    .cmp(&preferred(b))
                    .then(a.idle_since.cmp(&b.idle_since))
                    .then(a.id.cmp(&b.id))
            });
            let take = match task.distribution {
                Distribution::Direct => 1,
                Distribution::Broadcast => BROADCAST_BATCH,
            };
            let chosen: Vec<String> = candidates
                .into_iter()
                .take(take)
                .map(|a| a.id.clone())
                .collect();
            let deadline = now + task.ring_ms;
            let mut ids = std::collections::BTreeSet::new();
            for user in chosen {
                self.next_offer += 1;
                let id = self.next_offer;
                ids.insert(id);
                if let Some(agent) = self.agents.get_mut(&user) {
                    agent.ringing = Some(id);
                }
                self.offers.insert(
                    id,
                    Offer {
                        id,
                        session: session.clone(),
                        user: user.clone(),
                        deadline,
                    },
                );
                effects.push(Effect::Offered {
                    offer: id,
                    session: session.clone(),
                    user,
                    deadline,
                });
            }
            if let Some(task) = self.tasks.get_mut(&session) {
                task.phase = Phase::Ringing(ids);
            }
        }
    }
}

fn end_acw(agent: &mut Agent, now: i64, effects: &mut Vec<Effect>) {
    agent.acw_until = None;
    agent.acw_service = None;
    if agent.connected.is_empty() {
        agent.idle_since = now;
    }
    effects.push(Effect::AcwEnded {
        user: agent.id.clone(),
    });
}
