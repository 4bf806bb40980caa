//! Workflow runs: started, fed events, their effects applied (queue, cancel, close), and the
//! read-only [`View`] they see.

use std::collections::BTreeMap;

use chrono::DateTime;

use super::Core;
use crate::directory::calendar::{self};
use crate::distribution::model::{Distribution, Phase};
use crate::distribution::{self as dist, CancelReason, EnqueueRequest, Presence};
use crate::engine::messages::{Effect, EndedBy, Outcome, SessionState};
use crate::workflow::Workflow;
use crate::workflow::interpret::{OpeningState, Run, RunEffect, RunEnd, RunEvent, TaskState, View};

impl Core {
    /// The parsed workflow assigned to a service (shared, not copied per event).
    pub(super) fn workflow_of(&self, service: &str) -> Option<std::sync::Arc<Workflow>> {
        let id = self.services.get(service)?.workflow.as_ref()?;
        self.parsed.get(id).cloned()
    }

    /// Starts (or, after a transfer, restarts) the service's workflow for a session.
    pub(super) fn start_run(
        &mut self,
        session: &str,
        service: &str,
        parameters: BTreeMap<String, String>,
        now: i64,
        out: &mut Vec<Effect>,
    ) {
        let im_enabled = self.tenant.as_ref().is_none_or(|t| t.im_enabled);
        let channel = self.channel_of(session);
        let may_run = self
            .services
            .get(service)
            .is_some_and(|s| im_enabled && s.can_receive_im_on(channel).is_ok());
        let workflow = self.workflow_of(service).filter(|_| may_run);
        let Some(workflow) = workflow else {
            return self.end_session(session, Outcome::Failed, EndedBy::System, now, out);
        };
        let (run, effects) = Run::start(
            &workflow,
            session,
            service,
            parameters,
            &Lookup(self, channel),
            now,
        );
        self.set_run(session, Some(run));
        self.apply_run_effects(session, effects, now, out);
    }

    pub(super) fn run_event(
        &mut self,
        session: &str,
        event: RunEvent,
        now: i64,
        out: &mut Vec<Effect>,
    ) {
        let Some(s) = self.sessions.get(session) else {
            return;
        };
        let Some(mut run) = s.run.clone() else { return };
        let Some(workflow) = self.workflow_of(&s.service) else {
            return self.end_session(session, Outcome::Failed, EndedBy::System, now, out);
        };
        let channel = self.channel_of(session);
        let effects = run.handle(&workflow, event, &Lookup(self, channel), now);
        self.set_run(session, Some(run));
        self.apply_run_effects(session, effects, now, out);
    }

    pub(super) fn apply_run_effects(
        &mut self,
        session: &str,
        effects: Vec<RunEffect>,
        now: i64,
        out: &mut Vec<Effect>,
    ) {
        for effect in effects {
            let to_customer =
                |text: Option<String>, choices: Vec<String>, state: Option<SessionState>| {
                    Effect::ToCustomer {
                        session: session.to_owned(),
                        text,
                        choices,
                        state,
                        agent: None,
                    }
                };
            match effect {
                RunEffect::Accepted => {
                    out.push(to_customer(None, Vec::new(), Some(SessionState::Workflow)))
                }
                RunEffect::SendMessage { text } => {
                    out.push(to_customer(Some(text), Vec::new(), None))
                }
                RunEffect::Prompt { text, choices } => {
                    out.push(to_customer(Some(text), choices, None))
                }
                RunEffect::CollectRequested { parameters } => {
                    out.push(Effect::CollectInformation {
                        session: session.to_owned(),
                        parameters,
                        customer: self
                            .sessions
                            .get(session)
                            .map(|s| s.customer.clone())
                            .unwrap_or_default(),
                    })
                }
                RunEffect::Enqueue {
                    service,
                    ring_timeout_seconds,
                    distribution,
                } => self.enqueue(
                    session,
                    service,
                    ring_timeout_seconds,
                    distribution,
                    now,
                    out,
                ),
                RunEffect::CancelTask => {
                    self.cancel_task(session, CancelReason::TaskCancelled, now, out)
                }
                RunEffect::SetPriority { priority } => {
                    if let Some(s) = self.sessions.get_mut(session) {
                        s.priority = priority;
                    }
                    self.distribute(
                        dist::Event::SetPriority {
                            session: session.to_owned(),
                            priority,
                        },
                        now,
                        out,
                    );
                }
                RunEffect::HttpRequest {
                    request,
                    method,
                    url,
                    headers,
                    body,
                    timeout_seconds,
                } => out.push(Effect::HttpRequest {
                    session: session.to_owned(),
                    request,
                    method,
                    url,
                    headers,
                    body,
                    timeout_seconds,
                }),
                RunEffect::Timer { .. } => {}
                RunEffect::End(RunEnd::Connected) => {}
                RunEffect::End(RunEnd::Disconnected) => {
                    self.close_before_agent(session, Outcome::Cancelled, now, out)
                }
                RunEffect::End(RunEnd::Failed { .. }) => {
                    self.close_before_agent(session, Outcome::Failed, now, out)
                }
                RunEffect::End(RunEnd::Transferred { service }) => {
                    let Some(target) = self.resolve_service(&service).map(|s| s.id.clone()) else {
                        return self.close_before_agent(session, Outcome::Failed, now, out);
                    };
                    self.cancel_task(session, CancelReason::TaskCancelled, now, out);
                    if let Some(s) = self.sessions.get_mut(session) {
                        let from = std::mem::replace(&mut s.service, target.clone());
                        s.transferred_from.push(from);
                        s.state = SessionState::Workflow;
                    }
                    let parameters = self
                        .set_run(session, None)
                        .map(|r| r.parameters)
                        .unwrap_or_default();
                    return self.start_run(session, &target, parameters, now, out);
                }
            }
        }
    }

    pub(super) fn enqueue(
        &mut self,
        session: &str,
        service: String,
        ring_seconds: u32,
        distribution: Distribution,
        now: i64,
        out: &mut Vec<Effect>,
    ) {
        let Some(s) = self.sessions.get_mut(session) else {
            return;
        };
        s.state = SessionState::Queued;
        s.queued_at = Some(now);
        let request = EnqueueRequest {
            session: session.to_owned(),
            service,
            priority: s.priority,
            distribution,
            ring_ms: i64::from(ring_seconds) * 1000,
            last_user: self
                .last_agent
                .get(&s.customer.email.to_ascii_lowercase())
                .cloned(),
        };
        out.push(Effect::ToCustomer {
            session: session.to_owned(),
            text: None,
            choices: Vec::new(),
            state: Some(SessionState::Queued),
            agent: None,
        });
        self.distribute(dist::Event::Enqueue(request), now, out);
    }

    /// Cancels the session's task, if it has one (its ringing offers end too).
    pub(super) fn cancel_task(
        &mut self,
        session: &str,
        reason: CancelReason,
        now: i64,
        out: &mut Vec<Effect>,
    ) {
        let event = dist::Event::Cancel {
            session: session.to_owned(),
            reason,
        };
        self.distribute(event, now, out);
    }

    /// Ends a session from the workflow: before an agent took it, its task (if any) is
    /// cancelled; once connected, the chat ends as handled (the agent is told).
    pub(super) fn close_before_agent(
        &mut self,
        session: &str,
        outcome: Outcome,
        now: i64,
        out: &mut Vec<Effect>,
    ) {
        if self
            .sessions
            .get(session)
            .is_some_and(|s| s.state == SessionState::Connected)
        {
            return self.end_connected(session, EndedBy::System, now, out);
        }
        self.cancel_task(session, CancelReason::TaskCancelled, now, out);
        self.end_session(session, outcome, EndedBy::System, now, out);
    }
}

/// The read-only view workflow runs see.
/// What a run may look up, for a session on a channel (a WhatsApp chat may queue to a
/// service without Interact settings).
pub(super) struct Lookup<'a>(pub(super) &'a Core, pub(super) crate::workflow::Channel);

impl Core {
    /// The channel `session` arrived on (Interact when unknown).
    pub(super) fn channel_of(&self, session: &str) -> crate::workflow::Channel {
        self.sessions
            .get(session)
            .and_then(|s| crate::workflow::Channel::parse(&s.channel))
            .unwrap_or(crate::workflow::Channel::Interact)
    }
}

impl View for Lookup<'_> {
    fn selectable_agents(&self, service: &str) -> usize {
        let core = self.0;
        let Some(id) = core.resolve_service(service).map(|s| s.id.clone()) else {
            return 0;
        };
        let Some(settings) = core.distribution.services.get(&id) else {
            return 0;
        };
        core.distribution
            .free
            .iter()
            .filter(|(_, a)| {
                core.distribution
                    .agents
                    .get(a)
                    .is_some_and(|a| a.fits(&id, settings))
            })
            .count()
    }

    fn online_agents(&self, service: &str) -> usize {
        let core = self.0;
        let Some(id) = core.resolve_service(service).map(|s| s.id.clone()) else {
            return 0;
        };
        core.distribution
            .agents
            .values()
            .filter(|a| {
                a.registered
                    && a.im_license
                    && a.presence != Presence::Offline
                    && a.member_of.contains(&id)
            })
            .count()
    }

    fn queue_position(&self, session: &str) -> Option<usize> {
        let task = self.0.distribution.tasks.get(session)?;
        let queue = self.0.distribution.queues.get(&task.service)?;
        queue
            .iter()
            .position(|(_, _, s)| s == session)
            .map(|p| p + 1)
    }

    fn task_state(&self, session: &str) -> TaskState {
        match self.0.distribution.tasks.get(session).map(|t| &t.phase) {
            None => TaskState::NotQueued,
            Some(Phase::Queued) => TaskState::Queued,
            Some(Phase::Ringing(_)) => TaskState::Ringing,
            Some(Phase::Connected(_)) => TaskState::Connected,
        }
    }

    fn opening_state(&self, service: &str, now: i64) -> OpeningState {
        let core = self.0;
        let Some(svc) = core.resolve_service(service) else {
            return OpeningState::Closed;
        };
        let Some(primary) = svc
            .calendars
            .primary
            .as_ref()
            .and_then(|c| core.calendars.get(c))
        else {
            // No calendar: always open.
            return OpeningState::Open;
        };
        let secondary = svc
            .calendars
            .secondary
            .as_ref()
            .and_then(|c| core.calendars.get(c));
        let now = DateTime::from_timestamp_millis(now).unwrap_or_default();
        calendar::opening_state(primary, secondary, now)
    }

    fn can_queue(&self, service: &str) -> bool {
        self.0
            .resolve_service(service)
            .is_some_and(|s| s.can_receive_im_on(self.1).is_ok())
    }
}
