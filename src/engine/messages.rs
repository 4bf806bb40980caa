//! The engine's messages: the [`Command`]s the edges and the clock send a tenant's engine, the
//! [`Effect`]s it asks the workers to carry out, the reporting [`Fact`]s, and the read-only
//! views ([`SessionView`], [`Live`]) the edges show. Every edge imports these; none needs the
//! reducer in [`super::core`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::directory::calendar::Calendar;
use crate::directory::model::{Service, Tenant, User};
use crate::distribution::model::Priority;
use crate::distribution::{OfferOutcome, Presence};
use crate::workflow::interpret::Run;

/// Who ended a chat: defined with the card that shows it, beneath the engine.
pub use crate::cards::data::EndedBy;

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
        /// The customer's event (`interact_events.seq`), when the edge knows it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<i64>,
    },
    /// Tells the agent of a connected chat something in the chat (see [`Effect::NoteToAgent`]);
    /// nothing when the chat is not connected.
    NoteToAgent {
        session: String,
        text: String,
        #[serde(default)]
        offer_templates: bool,
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
    /// A supervisor (`user`) takes a connected chat over, without acceptance.
    TakeOver {
        session: String,
        user: String,
    },
    /// The agent (`user`) of a connected chat transfers it to a service or a colleague.
    Transfer {
        session: String,
        user: String,
        target: crate::distribution::TransferTarget,
        #[serde(default)]
        reason: String,
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
    /// Agents who handed the chat on, in order.
    #[serde(default)]
    pub previous_agents: Vec<String>,
    /// The transfer under way: who asks, why.
    #[serde(default)]
    pub transfer: Option<TransferNote>,
}

/// A transfer as the agent offered it is told: who transfers the chat, and why.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferNote {
    /// The transferring agent's display name.
    pub from: String,
    pub reason: String,
}

/// What an agent is shown of a session on cards: who, where from, what so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Brief {
    /// The service's display name (empty for a direct chat). For showing only: names are
    /// neither unique nor required; rights and settings go by `service_id`.
    pub service: String,
    /// The service's id (`None` for a direct chat, and in briefs stored before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    pub channel: String,
    pub customer: Customer,
    pub first_message: Option<String>,
    /// Workflow parameters (built-in ones left out).
    pub parameters: BTreeMap<String, String>,
    /// When the session started.
    pub since: i64,
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
        /// A transfer of a connected chat: who transfers it and why.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transfer: Option<TransferNote>,
    },
    /// A transfer was accepted: the chatroom of `user` (who transferred) closes with a notice
    /// naming `to`, the agent who has the chat now.
    HandOver {
        session: String,
        user: String,
        to: String,
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
        /// The customer's event it is (for read receipts), when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<i64>,
    },
    /// A notice from Switchboard to the agent of a connected chat, in the chat (a message that
    /// could not reach the customer, and why): never shown to the customer.
    NoteToAgent {
        session: String,
        user: String,
        text: String,
        /// WhatsApp's window has closed: offer the tenant's approved templates with it.
        #[serde(default)]
        offer_templates: bool,
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
            Effect::NoteToAgent { .. } => "noteToAgent",
            Effect::CloseChatroom { .. } => "closeChatroom",
            Effect::HandOver { .. } => "handOver",
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
        /// Agents who transferred the chat, in order (`agent` had it last).
        #[serde(default)]
        transferred_by: Vec<String>,
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
