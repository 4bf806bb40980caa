//! The distribution state: agents, services' distribution settings, queued and connected
//! tasks, ringing offers. Times are milliseconds since the Unix epoch.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub type UserId = String;
pub type ServiceId = String;
pub type SessionId = String;
pub type OfferId = u64;

pub use crate::workflow::model::{Distribution, Priority};

/// Teams presence as distribution sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Presence {
    Available,
    Busy,
    Away,
    Offline,
}

/// After-contact work of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcwSettings {
    /// 0 turns ACW off.
    pub duration_ms: i64,
    pub allow_early_end: bool,
    /// A fresh counter of this length replaces the time left; `None`: no extension.
    pub extension_ms: Option<i64>,
}

/// Distribution settings of one service (DESIGN.md §5 defaults).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSettings {
    pub allow_busy: bool,
    pub allow_away: bool,
    pub rona_reset_ms: i64,
    pub persistent_rona: bool,
    pub acw: AcwSettings,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        ServiceSettings {
            allow_busy: false,
            allow_away: false,
            rona_reset_ms: 10 * 60 * 1000,
            persistent_rona: false,
            acw: AcwSettings {
                duration_ms: 20_000,
                allow_early_end: true,
                extension_ms: Some(30_000),
            },
        }
    }
}

/// One agent and every layer of their state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agent {
    pub id: UserId,
    pub registered: bool,
    pub im_license: bool,
    pub presence: Presence,
    pub on_duty: bool,
    pub capacity: u32,
    pub member_of: BTreeSet<ServiceId>,
    pub active_in: BTreeSet<ServiceId>,
    /// Sessions the agent is connected to.
    pub connected: BTreeSet<SessionId>,
    /// The offer ringing for the agent, if any.
    pub ringing: Option<OfferId>,
    pub rona_until: Option<i64>,
    pub acw_until: Option<i64>,
    /// The service whose ACW is running (for its early-end and extension rules).
    pub acw_service: Option<ServiceId>,
    /// Since when the agent has been free; the longest idle is offered first.
    pub idle_since: i64,
}

impl Agent {
    /// A registered, licensed, available agent on duty with capacity 1 and no service.
    pub fn new(id: impl Into<UserId>, idle_since: i64) -> Self {
        Agent {
            id: id.into(),
            registered: true,
            im_license: true,
            presence: Presence::Available,
            on_duty: true,
            capacity: 1,
            member_of: BTreeSet::new(),
            active_in: BTreeSet::new(),
            connected: BTreeSet::new(),
            ringing: None,
            rona_until: None,
            acw_until: None,
            acw_service: None,
            idle_since,
        }
    }

    /// Adds the agent to a service as an active member.
    pub fn in_service(mut self, service: impl Into<ServiceId>) -> Self {
        let service = service.into();
        self.member_of.insert(service.clone());
        self.active_in.insert(service);
        self
    }

    /// Whether `service` may offer a task to this agent now (DESIGN.md §5).
    pub fn selectable(&self, service: &ServiceId, settings: &ServiceSettings, now: i64) -> bool {
        self.registered
            && self.im_license
            && self.on_duty
            && self.presence != Presence::Offline
            && self.ringing.is_none()
            && self.rona_until.is_none_or(|t| t <= now)
            && self.acw_until.is_none_or(|t| t <= now)
            && (self.connected.len() as u64) < u64::from(self.capacity)
            && self.fits(service, settings)
    }

    /// The service-specific part of selectability: membership, activity, presence rule.
    pub fn fits(&self, service: &ServiceId, settings: &ServiceSettings) -> bool {
        let presence_ok = match self.presence {
            Presence::Available => true,
            Presence::Busy => settings.allow_busy,
            Presence::Away => settings.allow_away,
            Presence::Offline => false,
        };
        presence_ok && self.member_of.contains(service) && self.active_in.contains(service)
    }

    /// Free for some service: everything of selectability that does not depend on the
    /// service or on the clock (expired flags are cleared when their deadline passes).
    pub fn free(&self) -> bool {
        self.registered
            && self.im_license
            && self.on_duty
            && self.presence != Presence::Offline
            && self.ringing.is_none()
            && self.rona_until.is_none()
            && self.acw_until.is_none()
            && (self.connected.len() as u64) < u64::from(self.capacity)
    }
}

/// Where a task is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    Queued,
    Ringing(BTreeSet<OfferId>),
    Connected(UserId),
}

/// A session's task in a service queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub session: SessionId,
    pub service: ServiceId,
    pub priority: Priority,
    pub queued_at: i64,
    /// Arrival order, the FIFO tie-break.
    pub seq: u64,
    pub distribution: Distribution,
    pub ring_ms: i64,
    /// Offered first when selectable (the agent who last handled this customer).
    pub last_user: Option<UserId>,
    /// Agents who missed this task (no answer in time): offered it again only when no one
    /// else can take it.
    pub passed_by: BTreeSet<UserId>,
    /// Agents who declined this task: never offered it again (the workflow decides what
    /// happens when everyone declines).
    #[serde(default)]
    pub declined_by: BTreeSet<UserId>,
    pub phase: Phase,
}

/// A ringing offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    pub id: OfferId,
    pub session: SessionId,
    pub user: UserId,
    pub deadline: i64,
    /// An offer of a connected chat its agent transfers (see [`Transfer`]).
    #[serde(default)]
    pub transfer: bool,
}

/// Where an agent transfers a connected chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferTarget {
    /// The first free agent of the service who accepts.
    Service(ServiceId),
    /// One colleague.
    User(UserId),
}

/// A transfer under way: the chat stays with `from` until someone accepts; each agent it is
/// offered to is tried once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    pub session: SessionId,
    pub from: UserId,
    pub target: TransferTarget,
    pub ring_ms: i64,
    pub tried: BTreeSet<UserId>,
}

/// Position of a queued task: strict first, then higher priority, then arrival.
pub type QueueKey = (std::cmp::Reverse<Priority>, u64, SessionId);

/// Something that happens at a deadline.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Deadline {
    Ring(OfferId),
    RonaReset(UserId),
    AcwEnd(UserId),
}

/// The whole distribution state of one tenant. `queues`, `free` and `deadlines` are indexes
/// derived from the rest, kept up to date by every change so no event scans everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub agents: BTreeMap<UserId, Agent>,
    pub services: BTreeMap<ServiceId, ServiceSettings>,
    pub tasks: BTreeMap<SessionId, Task>,
    pub offers: BTreeMap<OfferId, Offer>,
    pub next_offer: OfferId,
    pub next_seq: u64,
    /// Queued (not ringing, not connected) tasks per service, in offering order.
    pub queues: BTreeMap<ServiceId, BTreeSet<QueueKey>>,
    /// Agents that are [`Agent::free`], longest idle first.
    pub free: BTreeSet<(i64, UserId)>,
    pub deadlines: BTreeSet<(i64, Deadline)>,
    /// Something changed that may allow a new offer.
    pub dirty: bool,
    /// Transfers under way, by session.
    #[serde(default)]
    pub transfers: BTreeMap<SessionId, Transfer>,
}

impl State {
    /// Verifies the derived indexes against the state (for tests and debugging).
    pub fn check_indexes(&self) -> Result<(), String> {
        let free: BTreeSet<(i64, UserId)> = self
            .agents
            .values()
            .filter(|a| a.free())
            .map(|a| (a.idle_since, a.id.clone()))
            .collect();
        if free != self.free {
            return Err(format!("free index {:?} != {:?}", self.free, free));
        }
        let mut queues: BTreeMap<ServiceId, BTreeSet<QueueKey>> = BTreeMap::new();
        for t in self.tasks.values().filter(|t| t.phase == Phase::Queued) {
            queues.entry(t.service.clone()).or_default().insert((
                std::cmp::Reverse(t.priority),
                t.seq,
                t.session.clone(),
            ));
        }
        let indexed: BTreeMap<_, _> = self
            .queues
            .iter()
            .filter(|(_, q)| !q.is_empty())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if queues != indexed {
            return Err("queue index out of step".into());
        }
        let mut deadlines: BTreeSet<(i64, Deadline)> = self
            .offers
            .values()
            .map(|o| (o.deadline, Deadline::Ring(o.id)))
            .collect();
        for a in self.agents.values() {
            deadlines.extend(a.rona_until.map(|t| (t, Deadline::RonaReset(a.id.clone()))));
            deadlines.extend(a.acw_until.map(|t| (t, Deadline::AcwEnd(a.id.clone()))));
        }
        if deadlines != self.deadlines {
            return Err(format!(
                "deadline index {:?} != {:?}",
                self.deadlines, deadlines
            ));
        }
        Ok(())
    }
}
