//! Starting and ending sessions: services resolved, direct chats, the brief every card shows.

use std::collections::BTreeMap;

use super::Core;
use crate::directory::model::{Service, User};
use crate::distribution::model::Priority;
use crate::distribution::{self as dist, CancelReason, DirectRefusal};
use crate::engine::messages::{
    Brief, Customer, Effect, EndedBy, Fact, Outcome, Session, SessionState,
};

impl Core {
    pub(super) fn resolve_service(&self, name_or_id: &str) -> Option<&Service> {
        self.services.get(name_or_id).or_else(|| {
            self.services
                .values()
                .find(|s| s.name.eq_ignore_ascii_case(name_or_id))
        })
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the fields of Command::StartSession, passed on as they are"
    )]
    pub(super) fn start_session(
        &mut self,
        session: String,
        service: String,
        channel: String,
        customer: Customer,
        mut parameters: BTreeMap<String, String>,
        first_message: Option<String>,
        now: i64,
        out: &mut Vec<Effect>,
    ) {
        if self.sessions.contains_key(&session) {
            return;
        }
        let service_name = self
            .resolve_service(&service)
            .map(|s| s.name.clone())
            .unwrap_or_default();
        parameters.insert("customer.displayName".into(), customer.display_name.clone());
        parameters.insert("customer.email".into(), customer.email.clone());
        parameters.insert("service.name".into(), service_name);
        parameters.insert("session.id".into(), session.clone());
        let priority = self
            .services
            .get(&service)
            .map_or(Priority::Normal, |s| s.distribution.default_priority.into());
        self.sessions.insert(
            session.clone(),
            Session {
                id: session.clone(),
                service: service.clone(),
                channel,
                customer,
                run: None,
                state: SessionState::Workflow,
                priority,
                agent: None,
                created_at: now,
                queued_at: None,
                offered_at: None,
                accepted_at: None,
                transferred_from: Vec::new(),
                previous_agents: Vec::new(),
                transfer: None,
                first_message,
            },
        );
        self.start_run(&session, &service, parameters, now, out);
    }

    pub(super) fn start_direct(
        &mut self,
        session: String,
        user: String,
        customer: Customer,
        first_message: Option<String>,
        now: i64,
        out: &mut Vec<Effect>,
    ) {
        if self.sessions.contains_key(&session) {
            return;
        }
        self.sessions.insert(
            session.clone(),
            Session {
                id: session.clone(),
                service: String::new(),
                channel: "interact".into(),
                customer,
                run: None,
                state: SessionState::Workflow,
                priority: Priority::Normal,
                agent: None,
                created_at: now,
                queued_at: None,
                offered_at: None,
                accepted_at: None,
                transferred_from: Vec::new(),
                previous_agents: Vec::new(),
                transfer: None,
                first_message,
            },
        );
        // The engine learns users when they register with the bot (and at boot).
        let licensed = self
            .users
            .get(&user)
            .is_some_and(User::receives_direct_chats);
        if !licensed {
            return self.refuse_direct(&session, &user, DirectRefusal::NotRegistered, now, out);
        }
        self.distribute(dist::Event::ConnectDirect { session, user }, now, out);
    }

    /// Tells the customer why a direct chat cannot start, and ends it.
    pub(super) fn refuse_direct(
        &mut self,
        session: &str,
        user: &str,
        reason: DirectRefusal,
        now: i64,
        out: &mut Vec<Effect>,
    ) {
        // Never the user's id: a name the customer knows, or none.
        let name = self.users.get(user).map_or_else(
            || "The person you are writing to".to_owned(),
            |u| u.display_name.clone(),
        );
        let (text, outcome) = match reason {
            DirectRefusal::NotRegistered => (
                format!("{name} can't receive chats yet. Please try again later."),
                Outcome::Failed,
            ),
            DirectRefusal::Unavailable => (
                format!("{name} isn't available right now. Please try again later."),
                Outcome::Cancelled,
            ),
            DirectRefusal::Busy => (
                format!("{name} is busy with other chats. Please try again in a few minutes."),
                Outcome::Cancelled,
            ),
        };
        out.push(Effect::ToCustomer {
            session: session.to_owned(),
            text: Some(text),
            choices: Vec::new(),
            state: None,
            agent: None,
        });
        self.end_session(session, outcome, EndedBy::System, now, out);
    }

    /// A user's display name (their id when the directory has no name).
    pub(super) fn agent_name(&self, user: &str) -> Option<String> {
        Some(
            self.users
                .get(user)
                .map_or_else(|| user.to_owned(), |u| u.display_name.clone()),
        )
    }

    /// Every queued session with its 1-based place in its service's queue.
    pub fn queue_positions(&self) -> impl Iterator<Item = (&str, usize)> {
        self.distribution.queues.values().flat_map(|queue| {
            queue
                .iter()
                .enumerate()
                .map(|(i, (_, _, session))| (session.as_str(), i + 1))
        })
    }

    /// What agents are shown of a session.
    pub(super) fn brief(&self, session: &str) -> Brief {
        let Some(s) = self.sessions.get(session) else {
            return Brief::default();
        };
        let builtin = |k: &str| {
            k.starts_with("customer.") || k.starts_with("service.") || k.starts_with("session.")
        };
        Brief {
            service: self
                .services
                .get(&s.service)
                .map(|svc| svc.name.clone())
                .unwrap_or_default(),
            service_id: self.services.get(&s.service).map(|svc| svc.id.clone()),
            channel: s.channel.clone(),
            customer: s.customer.clone(),
            first_message: s.first_message.clone(),
            parameters: s
                .run
                .as_ref()
                .map(|r| {
                    r.parameters
                        .iter()
                        .filter(|(k, _)| !builtin(k))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                })
                .unwrap_or_default(),
            since: s.created_at,
        }
    }

    pub(super) fn customer_left(
        &mut self,
        session: &str,
        by: EndedBy,
        now: i64,
        out: &mut Vec<Effect>,
    ) {
        let Some(s) = self.sessions.get(session) else {
            return;
        };
        if s.state == SessionState::Connected {
            return self.end_connected(session, by, now, out);
        }
        self.cancel_task(session, CancelReason::CustomerLeft, now, out);
        self.end_session(session, Outcome::Abandoned, by, now, out);
    }

    /// Ends a connected chat: the agent's task ends (ACW follows) and the session is handled.
    pub(super) fn end_connected(
        &mut self,
        session: &str,
        by: EndedBy,
        now: i64,
        out: &mut Vec<Effect>,
    ) {
        let event = dist::Event::SessionEnded {
            session: session.to_owned(),
        };
        self.distribute(event, now, out);
        self.end_session(session, Outcome::Handled, by, now, out);
    }

    /// Records the session's single outcome and forgets it.
    pub(super) fn end_session(
        &mut self,
        session: &str,
        outcome: Outcome,
        ended_by: EndedBy,
        now: i64,
        out: &mut Vec<Effect>,
    ) {
        // A waiting run's timer goes with its session (else `next_deadline` stays in the past).
        self.set_run(session, None);
        let Some(s) = self.sessions.remove(session) else {
            return;
        };
        if let (Some(agent), Outcome::Handled) = (&s.agent, outcome) {
            self.last_agent
                .insert(s.customer.email.to_ascii_lowercase(), agent.clone());
            out.push(Effect::CloseChatroom {
                session: s.id.clone(),
                user: agent.clone(),
                ended_by,
            });
        }
        out.push(Effect::ToCustomer {
            session: s.id.clone(),
            text: None,
            choices: Vec::new(),
            state: Some(SessionState::Ended),
            agent: None,
        });
        out.push(Effect::Report(Fact::SessionEnded {
            session: s.id,
            service: s.service,
            channel: s.channel,
            outcome,
            agent: s.agent,
            created_at: s.created_at,
            queued_at: s.queued_at,
            offered_at: s.offered_at,
            accepted_at: s.accepted_at,
            ended_at: now,
            transferred_from: s.transferred_from,
            transferred_by: s.previous_agents,
        }));
    }
}
