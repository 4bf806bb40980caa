//! The engine core: one tenant's sessions (workflow runs) and distribution, driven by
//! [`Command`]s and the time, producing [`Effect`]s and reporting [`Fact`](crate::engine::messages::Fact)s. Pure and
//! deterministic: the same commands at the same times give the same state, which is what lets
//! the actor persist a command log and replay it after a restart. Directory data enters as
//! commands too, so a replay sees exactly what the original run saw.
//!
//! The reducer is split by concern: `sessions` (starting and ending sessions, direct chats),
//! `runs` (workflow runs and their effects), `distribute` (distribution effects).

mod distribute;
mod runs;
mod sessions;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use self::runs::Lookup;
use crate::directory::calendar::Calendar;
use crate::directory::model::{Service, Tenant, User};
use crate::distribution::{self as dist, Presence};
use crate::engine::messages::{
    Command, Effect, EndedBy, Live, LiveAgent, LiveQueue, LiveSession, Session, SessionState,
    SessionView,
};
use crate::workflow::interpret::{Run, RunEvent, View};
use crate::workflow::{self, Workflow};

/// One tenant's engine state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Core {
    pub services: BTreeMap<String, Service>,
    pub workflows: BTreeMap<String, Value>,
    pub calendars: BTreeMap<String, Calendar>,
    pub distribution: dist::State,
    pub sessions: BTreeMap<String, Session>,
    /// The tenant's settings (IM enabled).
    pub tenant: Option<Tenant>,
    /// Directory users by id (for direct chats).
    pub users: BTreeMap<String, User>,
    /// The agent who last handled each customer email (last-user routing).
    pub last_agent: BTreeMap<String, String>,
    /// Parsed workflows, rebuilt from `workflows` after a load.
    #[serde(skip)]
    parsed: BTreeMap<String, std::sync::Arc<Workflow>>,
    /// `(deadline, session)` of every waiting run, rebuilt after a load.
    #[serde(skip)]
    run_deadlines: std::collections::BTreeSet<(i64, String)>,
}

impl Core {
    /// Rebuilds caches after deserialising.
    pub fn restore(mut self) -> Self {
        self.parsed = self
            .workflows
            .iter()
            .filter_map(|(id, doc)| {
                workflow::parse(doc)
                    .ok()
                    .map(|w| (id.clone(), std::sync::Arc::new(w)))
            })
            .collect();
        self.run_deadlines = self
            .sessions
            .values()
            .filter_map(|s| Some((s.run.as_ref()?.deadline()?, s.id.clone())))
            .collect();
        // A snapshot may come from a version with other distribution rules: look again at
        // whether a queued task can be offered (the actor applies a `Tick` for it at start).
        self.distribution.dirty = true;
        self
    }

    /// Whether a `Tick` now could offer a queued task (set after a restore).
    pub fn wants_distribution(&self) -> bool {
        self.distribution.dirty
    }

    /// Replaces a session's run, keeping the deadline index in step.
    fn set_run(&mut self, session: &str, run: Option<Run>) -> Option<Run> {
        let s = self.sessions.get_mut(session)?;
        if let Some(t) = s.run.as_ref().and_then(Run::deadline) {
            self.run_deadlines.remove(&(t, session.to_owned()));
        }
        if let Some(t) = run.as_ref().and_then(Run::deadline) {
            self.run_deadlines.insert((t, session.to_owned()));
        }
        std::mem::replace(&mut s.run, run)
    }

    /// Whether anyone takes `service`'s chats now: an agent signed in with the bot, licensed,
    /// on duty and present as the service allows (busy with chats or not). A customer of an
    /// unstaffed service is offered to leave a message.
    pub fn staffed(&self, service: &str) -> bool {
        let Some(settings) = self.distribution.services.get(service) else {
            return false;
        };
        let service: dist::ServiceId = service.to_owned();
        self.distribution
            .agents
            .values()
            .any(|a| a.registered && a.im_license && a.on_duty && a.fits(&service, settings))
    }

    /// What a customer may see of a session (`None` once it ended).
    pub fn view(&self, session: &str) -> Option<SessionView> {
        let s = self.sessions.get(session)?;
        Some(SessionView {
            state: s.state,
            position: (s.state == SessionState::Queued)
                .then(|| Lookup(self, crate::workflow::Channel::Interact).queue_position(session))
                .flatten(),
            agent: s.agent.as_ref().map(|id| {
                self.users
                    .get(id)
                    .map_or_else(|| id.clone(), |u| u.display_name.clone())
            }),
        })
    }

    /// Sessions in progress, agents and queue lengths at `now`.
    pub fn live(&self, now: i64) -> Live {
        let secs = |ms: i64| (ms / 1000).max(0);
        let sessions = self
            .sessions
            .values()
            .filter(|s| s.state != SessionState::Ended)
            .map(|s| LiveSession {
                id: s.id.clone(),
                service: s.service.clone(),
                channel: s.channel.clone(),
                state: s.state,
                age_seconds: secs(now - s.created_at),
                waiting_seconds: s.queued_at.map(|q| secs(s.accepted_at.unwrap_or(now) - q)),
                agent: s.agent.clone(),
            })
            .collect();
        let agents = self
            .distribution
            .agents
            .values()
            .map(|a| LiveAgent {
                id: a.id.clone(),
                registered: a.registered,
                presence: a.presence,
                on_duty: a.on_duty,
                rona: a.rona_until.is_some_and(|t| t > now),
                acw: a.acw_until.is_some_and(|t| t > now),
                ringing: a.ringing.is_some(),
                sessions: a.connected.len(),
                capacity: a.capacity,
            })
            .collect();
        let mut queues: BTreeMap<String, LiveQueue> = self
            .services
            .keys()
            .map(|id| {
                (
                    id.clone(),
                    LiveQueue {
                        service: id.clone(),
                        length: 0,
                        oldest_wait_seconds: None,
                    },
                )
            })
            .collect();
        for task in self.distribution.tasks.values() {
            let connected = self
                .sessions
                .get(&task.session)
                .is_some_and(|s| s.state == SessionState::Connected);
            if connected {
                continue;
            }
            let q = queues
                .entry(task.service.clone())
                .or_insert_with(|| LiveQueue {
                    service: task.service.clone(),
                    length: 0,
                    oldest_wait_seconds: None,
                });
            q.length += 1;
            let waited = secs(now - task.queued_at);
            q.oldest_wait_seconds = Some(q.oldest_wait_seconds.map_or(waited, |o| o.max(waited)));
        }
        Live {
            sessions,
            agents,
            queues: queues.into_values().collect(),
        }
    }

    /// The earliest time a `Tick` has work to do.
    pub fn next_deadline(&self) -> Option<i64> {
        let run = self.run_deadlines.first().map(|(t, _)| *t);
        run.into_iter()
            .chain(self.distribution.next_deadline())
            .min()
    }

    /// Applies a command at `now`.
    /// Whether `command` would change nothing: an upsert of what the core already holds.
    /// Such commands are answered without being logged (every session start re-sends its
    /// service, workflow and calendars).
    pub fn is_noop(&self, command: &Command) -> bool {
        match command {
            Command::UpsertService { service } => {
                self.services.get(&service.id) == Some(service.as_ref())
            }
            Command::UpsertWorkflow { document } => document["id"]
                .as_str()
                .and_then(|id| self.workflows.get(id))
                .is_some_and(|held| held == document),
            Command::UpsertCalendar { calendar } => {
                self.calendars.get(&calendar.id) == Some(calendar.as_ref())
            }
            Command::UpsertTenant { tenant } => self.tenant.as_ref() == Some(tenant.as_ref()),
            // The same user with the same registration and presence (every engine sync at boot
            // sends them all): distribution would keep the agent as it is.
            Command::UpsertUser {
                user,
                registered,
                presence,
            } => {
                let Some(held) = self.distribution.agents.get(&user.id) else {
                    return false;
                };
                let services: Vec<&Service> = self.services.values().collect();
                let wanted = user.to_agent(&services, *registered, *presence, held.idle_since);
                let clears_rona = (held.presence == Presence::Offline || !held.on_duty)
                    && held.rona_until.is_some();
                self.users.get(&user.id) == Some(user.as_ref())
                    && !clears_rona
                    && (
                        held.registered,
                        held.im_license,
                        held.presence,
                        held.on_duty,
                        held.capacity,
                        &held.member_of,
                        &held.active_in,
                    ) == (
                        wanted.registered,
                        wanted.im_license,
                        wanted.presence,
                        wanted.on_duty,
                        wanted.capacity,
                        &wanted.member_of,
                        &wanted.active_in,
                    )
            }
            _ => false,
        }
    }

    pub fn handle(&mut self, command: Command, now: i64) -> Vec<Effect> {
        let mut out = Vec::new();
        match command {
            Command::UpsertTenant { tenant } => self.tenant = Some(*tenant),
            Command::UpsertService { service } => {
                let settings = service.distribution.to_engine();
                let id = service.id.clone();
                self.services.insert(id.clone(), *service);
                self.distribute(dist::Event::UpsertService { id, settings }, now, &mut out);
            }
            Command::UpsertWorkflow { document } => {
                if let Ok(parsed) = workflow::parse(&document) {
                    self.workflows.insert(parsed.id.clone(), document);
                    self.parsed
                        .insert(parsed.id.clone(), std::sync::Arc::new(parsed));
                }
            }
            Command::UpsertCalendar { calendar } => {
                if calendar.validate().is_ok() {
                    self.calendars.insert(calendar.id.clone(), *calendar);
                }
            }
            Command::UpsertUser {
                user,
                registered,
                presence,
            } => {
                let services: Vec<&Service> = self.services.values().collect();
                let idle_since = self
                    .distribution
                    .agents
                    .get(&user.id)
                    .map_or(now, |a| a.idle_since);
                let agent = user.to_agent(&services, registered, presence, idle_since);
                self.users.insert(user.id.clone(), *user);
                self.distribute(dist::Event::UpsertAgent(Box::new(agent)), now, &mut out);
            }
            Command::StartDirectSession {
                session,
                user,
                customer,
                first_message,
            } => {
                self.start_direct(session, user, customer, first_message, now, &mut out);
            }
            Command::StartSession {
                session,
                service,
                channel,
                customer,
                parameters,
                first_message,
            } => {
                self.start_session(
                    session,
                    service,
                    channel,
                    customer,
                    parameters,
                    first_message,
                    now,
                    &mut out,
                );
            }
            Command::CustomerMessage { session, text, seq } => {
                let Some(s) = self.sessions.get_mut(&session) else {
                    return out;
                };
                if s.state != SessionState::Connected && s.first_message.is_none() {
                    s.first_message = Some(text.clone());
                }
                match (s.state, s.agent.clone()) {
                    (SessionState::Connected, Some(user)) => out.push(Effect::RelayToAgent {
                        session,
                        user,
                        text,
                        seq,
                    }),
                    _ => self.run_event(&session, RunEvent::CustomerInput { text }, now, &mut out),
                }
            }
            Command::NoteToAgent {
                session,
                text,
                offer_templates,
            } => {
                if let Some(s) = self.sessions.get(&session)
                    && let (SessionState::Connected, Some(user)) = (s.state, s.agent.clone())
                {
                    out.push(Effect::NoteToAgent {
                        session,
                        user,
                        text,
                        offer_templates,
                    });
                }
            }
            Command::CustomerLeft { session, inactive } => {
                let by = if inactive {
                    EndedBy::System
                } else {
                    EndedBy::Customer
                };
                self.customer_left(&session, by, now, &mut out)
            }
            Command::SetParameters { session, values } => {
                self.run_event(&session, RunEvent::ParametersSet { values }, now, &mut out)
            }
            Command::HttpResult {
                session,
                request,
                status,
                body,
            } => self.run_event(
                &session,
                RunEvent::HttpResult {
                    request,
                    status,
                    body,
                },
                now,
                &mut out,
            ),
            Command::Accept { offer, user } => {
                self.distribute(dist::Event::Accept { offer, user }, now, &mut out)
            }
            Command::Decline { offer, user } => {
                self.distribute(dist::Event::Decline { offer, user }, now, &mut out)
            }
            Command::EndSession { session } => {
                if self
                    .sessions
                    .get(&session)
                    .is_some_and(|s| s.state == SessionState::Connected)
                {
                    self.end_connected(&session, EndedBy::Agent, now, &mut out);
                }
            }
            Command::Transfer {
                session,
                user,
                target,
                reason,
            } => {
                let known = match &target {
                    dist::TransferTarget::Service(id) => self.services.contains_key(id),
                    dist::TransferTarget::User(id) => self.distribution.agents.contains_key(id),
                };
                let from = self.agent_name(&user).unwrap_or_else(|| user.clone());
                let ring_ms = self
                    .distribution
                    .tasks
                    .get(&session)
                    .map_or(30_000, |t| t.ring_ms.max(30_000));
                let Some(s) = self.sessions.get_mut(&session).filter(|_| known) else {
                    let event = dist::Event::Transfer {
                        session,
                        from: user,
                        // Refused: not a chat of this engine, or no such target.
                        target: dist::TransferTarget::User(String::new()),
                        ring_ms: 0,
                    };
                    self.distribute(event, now, &mut out);
                    return out;
                };
                if s.transfer.is_none() {
                    s.transfer = Some(crate::engine::messages::TransferNote {
                        from,
                        reason: reason.chars().take(500).collect(),
                    });
                }
                let event = dist::Event::Transfer {
                    session,
                    from: user,
                    target,
                    ring_ms,
                };
                self.distribute(event, now, &mut out);
            }
            Command::TakeOver { session, user } => {
                self.distribute(dist::Event::TakeOver { session, user }, now, &mut out)
            }
            Command::AcwDone { user } => {
                self.distribute(dist::Event::AcwDone { user }, now, &mut out)
            }
            Command::AcwExtend { user } => {
                self.distribute(dist::Event::AcwExtend { user }, now, &mut out)
            }
            Command::RonaReset { user } => {
                self.distribute(dist::Event::RonaReset { user }, now, &mut out)
            }
            Command::Tick => {
                self.distribute(dist::Event::Tick, now, &mut out);
                let due: Vec<String> = self
                    .run_deadlines
                    .iter()
                    .take_while(|(t, _)| *t <= now)
                    .map(|(_, s)| s.clone())
                    .collect();
                for session in due {
                    self.run_event(&session, RunEvent::Timer, now, &mut out);
                }
            }
        }
        out
    }
}
