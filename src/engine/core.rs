//! The engine core: one tenant's sessions (workflow runs) and distribution, driven by
//! [`Command`]s and the time, producing [`Effect`]s and reporting [`Fact`]s. Pure and
//! deterministic: the same commands at the same times give the same state, which is what lets
//! the actor persist a command log and replay it after a restart. Directory data enters as
//! commands too, so a replay sees exactly what the original run saw.

use std::collections::BTreeMap;

use chrono::DateTime;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::directory::calendar::{self, Calendar};
use crate::directory::model::{Service, Tenant, User};
use crate::distribution::model::{Distribution, Phase, Priority};
use crate::distribution::{
    self as dist, CancelReason, DirectRefusal, EnqueueRequest, OfferOutcome, Presence, TaskOutcome,
};
use crate::workflow::interpret::{OpeningState, Run, RunEffect, RunEnd, RunEvent, TaskState, View};
use crate::workflow::{self, Workflow};

/// The customer of a session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    pub display_name: String,
    pub email: String,
}

/// Commands from the edges (Interact, the bot, the admin API) and the clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "camelCase")]
pub enum Command {
    UpsertTenant {
        tenant: Box<Tenant>,
    },
    UpsertService {
        service: Box<Service>,
    },
    UpsertWorkflow {
        document: Value,
    },
    UpsertCalendar {
        calendar: Box<Calendar>,
    },
    UpsertUser {
        user: Box<User>,
        registered: bool,
        presence: Presence,
    },
    /// A chat to a user with the Interact license and IM enabled: no task, no queue, no
    /// workflow; the user gets the chat at once.
    StartDirectSession {
        session: String,
        user: String,
        customer: Customer,
        /// What the customer wrote with the request (shown first in the chat).
        #[serde(default)]
        first_message: Option<String>,
    },
    StartSession {
        session: String,
        service: String,
        channel: String,
        customer: Customer,
        parameters: BTreeMap<String, String>,
        /// What the customer wrote with the request: shown on the invitation and first in the
        /// chatroom, never taken as the answer to a prompt.
        #[serde(default)]
        first_message: Option<String>,
    },
    CustomerMessage {
        session: String,
        text: String,
    },
    CustomerLeft {
        session: String,
        /// Ended for inactivity rather than by the customer.
        #[serde(default)]
        inactive: bool,
    },
    /// Sets workflow parameters of a live session (the admin API's `PUT …/parameters`): a run
    /// waiting in CollectInformation leaves by `collected` once every parameter it asked for
    /// has a value.
    SetParameters {
        session: String,
        values: BTreeMap<String, String>,
    },
    HttpResult {
        session: String,
        request: String,
        status: Option<u16>,
        body: Option<Value>,
    },
    Accept {
        offer: u64,
        user: String,
    },
    Decline {
        offer: u64,
        user: String,
    },
    /// The agent ends a connected chat.
    EndSession {
        session: String,
    },
    AcwDone {
        user: String,
    },
    AcwExtend {
        user: String,
    },
    RonaReset {
        user: String,
    },
    Tick,
}

/// Session outcomes (DESIGN.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    Handled,
    Abandoned,
    Cancelled,
    Failed,
}

/// Where a session is, for the customer and for reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SessionState {
    Workflow,
    Queued,
    Connected,
    Ended,
}

/// One customer chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub id: String,
    pub service: String,
    pub channel: String,
    pub customer: Customer,
    pub run: Option<Run>,
    pub state: SessionState,
    pub priority: Priority,
    pub agent: Option<String>,
    pub created_at: i64,
    pub queued_at: Option<i64>,
    /// When the first invitation for the session was sent.
    pub offered_at: Option<i64>,
    pub accepted_at: Option<i64>,
    /// Services the session was transferred from, in order.
    pub transferred_from: Vec<String>,
    /// What the customer wrote first (shown on the invitation).
    #[serde(default)]
    pub first_message: Option<String>,
}

/// What an agent is shown of a session on cards: who, where from, what so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Brief {
    /// The service's display name (empty for a direct chat).
    pub service: String,
    pub channel: String,
    pub customer: Customer,
    pub first_message: Option<String>,
    /// Workflow parameters (built-in ones left out).
    pub parameters: BTreeMap<String, String>,
    /// When the session started.
    pub since: i64,
}

/// Who ended a chat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EndedBy {
    Customer,
    #[default]
    Agent,
    System,
}

/// What a customer may see of a live session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    pub state: SessionState,
    /// 1-based position while queued.
    pub position: Option<usize>,
    /// The agent's display name once connected.
    pub agent: Option<String>,
}

/// The live view of a tenant (admin API): sessions in progress, agents, queues.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Live {
    pub sessions: Vec<LiveSession>,
    pub agents: Vec<LiveAgent>,
    pub queues: Vec<LiveQueue>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveSession {
    pub id: String,
    pub service: String,
    pub channel: String,
    pub state: SessionState,
    /// Seconds since the session was created.
    pub age_seconds: i64,
    /// Seconds waited in the queue so far (until accepted, if it was).
    pub waiting_seconds: Option<i64>,
    pub agent: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveAgent {
    pub id: String,
    pub registered: bool,
    pub presence: crate::distribution::Presence,
    pub on_duty: bool,
    /// Missed an invitation and is not offered chats until they are back.
    pub rona: bool,
    pub acw: bool,
    pub ringing: bool,
    pub sessions: usize,
    pub capacity: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveQueue {
    pub service: String,
    pub length: usize,
    /// Seconds the longest-waiting task has waited.
    pub oldest_wait_seconds: Option<i64>,
}

/// What the engine asks the adapters to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "camelCase")]
pub enum Effect {
    /// Tell the customer (workflow message, prompt, or a state change).
    ToCustomer {
        session: String,
        text: Option<String>,
        choices: Vec<String>,
        state: Option<SessionState>,
        /// The agent's display name, with the `connected` state.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent: Option<String>,
    },
    /// The customer's place in the queue changed (1-based). Not produced by commands: the
    /// actor publishes places periodically, so a busy queue does not turn every change into
    /// one event per waiting customer.
    QueuePosition {
        session: String,
        position: usize,
    },
    SendInvitation {
        offer: u64,
        session: String,
        user: String,
        #[serde(default)]
        brief: Brief,
        /// How long the invitation rings.
        #[serde(default)]
        ring_seconds: u64,
    },
    UpdateInvitation {
        offer: u64,
        session: String,
        user: String,
        outcome: OfferOutcome,
        /// Display name of the agent who took the task (when another agent did).
        #[serde(default)]
        accepted_by: Option<String>,
    },
    InvitationUnavailable {
        offer: u64,
        user: String,
    },
    OpenChatroom {
        session: String,
        user: String,
        #[serde(default)]
        brief: Brief,
    },
    RelayToAgent {
        session: String,
        user: String,
        text: String,
    },
    CloseChatroom {
        session: String,
        user: String,
        #[serde(default)]
        ended_by: EndedBy,
    },
    AgentState {
        user: String,
        state: AgentStateChange,
    },
    /// Ask the tenant's systems for parameters (the `session.collectInformation` webhook).
    CollectInformation {
        session: String,
        parameters: Vec<String>,
        /// Who the customer is, as the session knows them.
        #[serde(default)]
        customer: Customer,
    },
    HttpRequest {
        session: String,
        request: String,
        method: String,
        url: String,
        headers: BTreeMap<String, String>,
        body: Option<String>,
        timeout_seconds: u32,
    },
    Report(Fact),
}

impl Effect {
    /// The effect's name as serialised (`sendInvitation`, `toCustomer`…), stored beside it so
    /// each worker finds its own effects through an index.
    pub fn kind(&self) -> &'static str {
        match self {
            Effect::ToCustomer { .. } => "toCustomer",
            Effect::QueuePosition { .. } => "queuePosition",
            Effect::SendInvitation { .. } => "sendInvitation",
            Effect::UpdateInvitation { .. } => "updateInvitation",
            Effect::InvitationUnavailable { .. } => "invitationUnavailable",
            Effect::OpenChatroom { .. } => "openChatroom",
            Effect::RelayToAgent { .. } => "relayToAgent",
            Effect::CloseChatroom { .. } => "closeChatroom",
            Effect::AgentState { .. } => "agentState",
            Effect::CollectInformation { .. } => "collectInformation",
            Effect::HttpRequest { .. } => "httpRequest",
            Effect::Report(_) => "report",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "camelCase")]
pub enum AgentStateChange {
    Rona { until: i64 },
    RonaCleared,
    Acw { until: i64 },
    AcwEnded,
}

/// Reporting facts: every session and every offer ends with exactly one outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "fact", rename_all = "camelCase")]
pub enum Fact {
    SessionEnded {
        session: String,
        service: String,
        channel: String,
        outcome: Outcome,
        agent: Option<String>,
        created_at: i64,
        queued_at: Option<i64>,
        offered_at: Option<i64>,
        accepted_at: Option<i64>,
        ended_at: i64,
        /// Services the session was transferred from before it ended in `service`.
        transferred_from: Vec<String>,
    },
    OfferEnded {
        offer: u64,
        session: String,
        /// `interact` or `whatsapp`, as the session's.
        #[serde(default)]
        channel: String,
        service: String,
        user: String,
        outcome: OfferOutcome,
        ended_at: i64,
    },
}

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

    /// What a customer may see of a session (`None` once it ended).
    pub fn view(&self, session: &str) -> Option<SessionView> {
        let s = self.sessions.get(session)?;
        Some(SessionView {
            state: s.state,
            position: (s.state == SessionState::Queued)
                .then(|| Lookup(self).queue_position(session))
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
            Command::CustomerMessage { session, text } => {
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
                    }),
                    _ => self.run_event(&session, RunEvent::CustomerInput { text }, now, &mut out),
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

    fn resolve_service(&self, name_or_id: &str) -> Option<&Service> {
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
    fn start_session(
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
                first_message,
            },
        );
        self.start_run(&session, &service, parameters, now, out);
    }

    fn start_direct(
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
    fn refuse_direct(
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

    /// The parsed workflow assigned to a service (shared, not copied per event).
    fn workflow_of(&self, service: &str) -> Option<std::sync::Arc<Workflow>> {
        let id = self.services.get(service)?.workflow.as_ref()?;
        self.parsed.get(id).cloned()
    }

    /// Starts (or, after a transfer, restarts) the service's workflow for a session.
    fn start_run(
        &mut self,
        session: &str,
        service: &str,
        parameters: BTreeMap<String, String>,
        now: i64,
        out: &mut Vec<Effect>,
    ) {
        let im_enabled = self.tenant.as_ref().is_none_or(|t| t.im_enabled);
        let may_run = self
            .services
            .get(service)
            .is_some_and(|s| im_enabled && s.can_receive_im().is_ok());
        let workflow = self.workflow_of(service).filter(|_| may_run);
        let Some(workflow) = workflow else {
            return self.end_session(session, Outcome::Failed, EndedBy::System, now, out);
        };
        let (run, effects) =
            Run::start(&workflow, session, service, parameters, &Lookup(self), now);
        self.set_run(session, Some(run));
        self.apply_run_effects(session, effects, now, out);
    }

    fn run_event(&mut self, session: &str, event: RunEvent, now: i64, out: &mut Vec<Effect>) {
        let Some(s) = self.sessions.get(session) else {
            return;
        };
        let Some(mut run) = s.run.clone() else { return };
        let Some(workflow) = self.workflow_of(&s.service) else {
            return self.end_session(session, Outcome::Failed, EndedBy::System, now, out);
        };
        let effects = run.handle(&workflow, event, &Lookup(self), now);
        self.set_run(session, Some(run));
        self.apply_run_effects(session, effects, now, out);
    }

    fn apply_run_effects(
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

    fn enqueue(
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
    fn cancel_task(
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
    fn close_before_agent(
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

    /// A user's display name (their id when the directory has no name).
    fn agent_name(&self, user: &str) -> Option<String> {
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
    fn brief(&self, session: &str) -> Brief {
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

    fn customer_left(&mut self, session: &str, by: EndedBy, now: i64, out: &mut Vec<Effect>) {
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
    fn end_connected(&mut self, session: &str, by: EndedBy, now: i64, out: &mut Vec<Effect>) {
        let event = dist::Event::SessionEnded {
            session: session.to_owned(),
        };
        self.distribute(event, now, out);
        self.end_session(session, Outcome::Handled, by, now, out);
    }

    /// Records the session's single outcome and forgets it.
    fn end_session(
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
        }));
    }

    /// Applies a distribution event and turns its effects into engine effects.
    fn distribute(&mut self, event: dist::Event, now: i64, out: &mut Vec<Effect>) {
        for effect in self.distribution.apply(event, now) {
            match effect {
                dist::Effect::Offered {
                    offer,
                    session,
                    user,
                    deadline,
                } => {
                    if let Some(s) = self.sessions.get_mut(&session) {
                        s.offered_at.get_or_insert(now);
                    }
                    out.push(Effect::SendInvitation {
                        offer,
                        brief: self.brief(&session),
                        session,
                        user,
                        ring_seconds: u64::try_from((deadline - now) / 1000).unwrap_or(0),
                    })
                }
                dist::Effect::OfferEnded {
                    offer,
                    session,
                    user,
                    outcome,
                } => {
                    let (service, channel) = self
                        .sessions
                        .get(&session)
                        .map(|s| (s.service.clone(), s.channel.clone()))
                        .unwrap_or_default();
                    let accepted_by = match (outcome, self.distribution.tasks.get(&session)) {
                        (
                            OfferOutcome::Cancelled(CancelReason::Taken),
                            Some(dist::model::Task {
                                phase: Phase::Connected(by),
                                ..
                            }),
                        ) => Some(
                            self.users
                                .get(by)
                                .map_or_else(|| by.clone(), |u| u.display_name.clone()),
                        ),
                        _ => None,
                    };
                    out.push(Effect::UpdateInvitation {
                        offer,
                        session: session.clone(),
                        user: user.clone(),
                        outcome,
                        accepted_by,
                    });
                    out.push(Effect::Report(Fact::OfferEnded {
                        offer,
                        session,
                        channel,
                        service,
                        user,
                        outcome,
                        ended_at: now,
                    }));
                }
                dist::Effect::Connected { session, user } => {
                    if let Some(s) = self.sessions.get_mut(&session) {
                        s.state = SessionState::Connected;
                        s.agent = Some(user.clone());
                        s.accepted_at = Some(now);
                    }
                    let agent = self.agent_name(&user);
                    out.push(Effect::OpenChatroom {
                        session: session.clone(),
                        user,
                        brief: self.brief(&session),
                    });
                    out.push(Effect::ToCustomer {
                        session: session.clone(),
                        text: None,
                        choices: Vec::new(),
                        state: Some(SessionState::Connected),
                        agent,
                    });
                    self.run_event(&session, RunEvent::Connected, now, out);
                }
                dist::Effect::AcceptRefused { offer, user } => {
                    out.push(Effect::InvitationUnavailable { offer, user })
                }
                dist::Effect::TaskEnded { session, outcome } => {
                    // A task cancelled while the workflow goes on (CancelTask) is back in the workflow.
                    if matches!(outcome, TaskOutcome::Cancelled)
                        && let Some(s) = self.sessions.get_mut(&session)
                    {
                        s.state = SessionState::Workflow;
                    }
                }
                dist::Effect::RonaSet { user, until } => out.push(Effect::AgentState {
                    user,
                    state: AgentStateChange::Rona { until },
                }),
                dist::Effect::RonaCleared { user } => out.push(Effect::AgentState {
                    user,
                    state: AgentStateChange::RonaCleared,
                }),
                dist::Effect::AcwStarted { user, until } => out.push(Effect::AgentState {
                    user,
                    state: AgentStateChange::Acw { until },
                }),
                dist::Effect::AcwEnded { user } => out.push(Effect::AgentState {
                    user,
                    state: AgentStateChange::AcwEnded,
                }),
                dist::Effect::DirectRefused {
                    session,
                    user,
                    reason,
                } => self.refuse_direct(&session, &user, reason, now, out),
            }
        }
    }
}

/// The read-only view workflow runs see.
struct Lookup<'a>(&'a Core);

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
            .is_some_and(|s| s.can_receive_im().is_ok())
    }
}
