//! Distribution (DESIGN.md §5): service queues, agent selectability, offers (invitations),
//! RONA, ACW and capacity, as a pure state machine — `state.apply(event, now)` returns the
//! decisions ([`Decision`]: send or update a card, connect a chatroom, report an outcome).
//! No I/O, no clock: the engine feeds events and the time, persists the state and carries the
//! decisions out.
//!
//! Rules: a task is offered to selectable agents only (registered, IM license, active member of
//! the service, presence allowed, on duty, not ringing, not in RONA or ACW, below capacity).
//! Queue order is strict first, then priority, then first come first served; a new priority
//! never pre-empts offers already ringing. `direct` rings the longest-idle agent (the agent who
//! last handled the customer first, when selectable), `broadcast` the ten longest idle at once,
//! first accept wins and no RONA. No answer in time: RONA (the agent is not selectable until the
//! reset, "I'm back", going offline or off duty) and the task is offered to the next agent; a
//! decline passes it on too (and sets RONA with persistent RONA). An accept that comes too late
//! or for an offer that is gone is refused: never two agents on one chat. After a session, ACW
//! (early end and extension per service).
//!
//! A chat addressed to one user (direct to user) has no queue: it connects at once when the
//! user is registered, Available, not ringing and below capacity — and then counts against
//! that capacity like any other chat — or is refused with the reason.

mod apply;
pub mod model;
mod offers;
mod transfer;

pub use apply::BROADCAST_BATCH;
pub use model::{
    Agent, OfferId, Presence, ServiceId, ServiceSettings, SessionId, State, TransferTarget, UserId,
};

use model::{Distribution, Priority};
use serde::{Deserialize, Serialize};

/// A request to queue a session's task (the `QueueTask` activity).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnqueueRequest {
    pub session: SessionId,
    pub service: ServiceId,
    pub priority: Priority,
    pub distribution: Distribution,
    pub ring_ms: i64,
    pub last_user: Option<UserId>,
}

/// Why offers or a task were cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CancelReason {
    /// The customer left before anyone accepted.
    CustomerLeft,
    /// The workflow cancelled the task (`CancelTask`).
    TaskCancelled,
    /// Another agent accepted first.
    Taken,
}

/// What happens to distribution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// Time passed (ring timeouts, RONA resets, ACW ends).
    Tick,
    UpsertAgent(Box<Agent>),
    UpsertService {
        id: ServiceId,
        settings: ServiceSettings,
    },
    Enqueue(EnqueueRequest),
    SetPriority {
        session: SessionId,
        priority: Priority,
    },
    Accept {
        offer: OfferId,
        user: UserId,
    },
    Decline {
        offer: OfferId,
        user: UserId,
    },
    Cancel {
        session: SessionId,
        reason: CancelReason,
    },
    SessionEnded {
        session: SessionId,
    },
    AcwDone {
        user: UserId,
    },
    AcwExtend {
        user: UserId,
    },
    RonaReset {
        user: UserId,
    },
    /// A chat addressed to one user (direct to user): no queue and no offer; it connects at
    /// once when the user can take it, else it is refused.
    ConnectDirect {
        session: SessionId,
        user: UserId,
    },
    /// The agent of a connected chat hands it to a service or a colleague: it is offered
    /// (`ring_ms` each) and stays with `from` until accepted.
    Transfer {
        session: SessionId,
        from: UserId,
        target: TransferTarget,
        ring_ms: i64,
    },
    /// A supervisor takes a connected chat over: it is theirs at once, whatever their
    /// capacity (a transfer under way is withdrawn).
    TakeOver {
        session: SessionId,
        user: UserId,
    },
}

/// Why a transfer came back to the agent who asked for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TransferFailure {
    /// The (last) agent it was offered to declined.
    Declined,
    /// The (last) agent it was offered to did not answer in time.
    Unanswered,
    /// Nobody of the service, or not the colleague, could take it now.
    NobodyAvailable,
    /// The chat is not connected with the agent, or a transfer is already under way.
    NotPossible,
}

/// Why a direct-to-user chat was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DirectRefusal {
    /// The user has not registered with the bot: there is nowhere to reach them.
    NotRegistered,
    /// The user's presence is not Available.
    Unavailable,
    /// The user is at capacity or an invitation is ringing for them.
    Busy,
}

/// How an offer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OfferOutcome {
    Accepted,
    Declined,
    Rona,
    Cancelled(CancelReason),
}

/// How a task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TaskOutcome {
    Handled,
    Abandoned,
    Cancelled,
}

/// What distribution decided, for the engine to carry out (it turns each into engine effects).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision {
    /// Send an invitation card.
    Offered {
        offer: OfferId,
        session: SessionId,
        user: UserId,
        deadline: i64,
    },
    /// Update the invitation card to its final state.
    OfferEnded {
        offer: OfferId,
        session: SessionId,
        user: UserId,
        outcome: OfferOutcome,
    },
    /// Open the chatroom between the agent and the customer.
    Connected {
        session: SessionId,
        user: UserId,
    },
    /// Tell the agent the chat is no longer available.
    AcceptRefused {
        offer: OfferId,
        user: UserId,
    },
    TaskEnded {
        session: SessionId,
        outcome: TaskOutcome,
    },
    RonaSet {
        user: UserId,
        until: i64,
    },
    RonaCleared {
        user: UserId,
    },
    AcwStarted {
        user: UserId,
        until: i64,
    },
    AcwEnded {
        user: UserId,
    },
    /// A transfer was accepted: the chat is `to`'s now.
    Transferred {
        session: SessionId,
        from: UserId,
        to: UserId,
    },
    /// A transfer came back to `from`, who keeps the chat.
    TransferFailed {
        session: SessionId,
        from: UserId,
        reason: TransferFailure,
    },
    /// A direct-to-user chat could not connect.
    DirectRefused {
        session: SessionId,
        user: UserId,
        reason: DirectRefusal,
    },
}

#[cfg(test)]
mod tests;
