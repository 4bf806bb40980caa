//! Which engine effects are webhook events, and what each event says. Pure: the same effects
//! at the same time give the same events, so it is unit-tested without a store or a network.

use serde::Serialize;
use serde_json::json;

use crate::clock::rfc3339;
use crate::engine::messages::{Customer, Effect, Fact, Outcome, SessionState};

/// The kinds of events a tenant's endpoints receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// The workflow queued the session for an agent.
    Queued,
    /// An agent took the session.
    Connected,
    /// The session ended (with its outcome).
    Ended,
    /// A CollectInformation activity asks the tenant's systems for parameters.
    CollectInformation,
    /// A customer left a message while nobody was available (`session` is the message's id).
    OfflineMessage,
}

impl EventKind {
    /// The event's name on the wire (`type` in the body, `X-Switchboard-Event`).
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Queued => "session.queued",
            EventKind::Connected => "session.connected",
            EventKind::Ended => "session.ended",
            EventKind::CollectInformation => "session.collectInformation",
            EventKind::OfflineMessage => "offlineMessage.received",
        }
    }
}

/// The agent of a connected session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentRef {
    /// The directory user id (Entra object id).
    pub id: Option<String>,
    pub display_name: Option<String>,
}

/// What an event says besides its kind and session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum EventData {
    Queued {},
    #[serde(rename_all = "camelCase")]
    Connected {
        /// The service's display name (empty for a direct chat).
        service: String,
        agent: AgentRef,
    },
    #[serde(rename_all = "camelCase")]
    Ended {
        outcome: Outcome,
        /// The service id the session ended in (empty for a direct chat).
        service: String,
        channel: String,
        /// The agent who had the chat, if one did.
        agent: Option<String>,
        started_at: String,
        ended_at: String,
    },
    #[serde(rename_all = "camelCase")]
    CollectInformation {
        /// The parameter names the workflow waits for.
        parameters: Vec<String>,
        customer: Customer,
    },
    #[serde(rename_all = "camelCase")]
    OfflineMessage {
        contact: String,
        /// The service id (empty for a person's own contact).
        service: String,
        customer: Customer,
        message: String,
    },
}

/// One event of one session, before it is addressed to the tenant's endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    pub kind: EventKind,
    pub tenant: String,
    pub session: String,
    /// When the engine produced it (Unix milliseconds).
    pub occurred_at: i64,
    pub data: EventData,
}

impl WebhookEvent {
    /// The body every endpoint receives, byte for byte what is signed.
    pub fn body(&self, id: &str) -> String {
        json!({
            "id": id,
            "type": self.kind.name(),
            "tenant": self.tenant,
            "session": self.session,
            "occurredAt": rfc3339(self.occurred_at),
            "data": self.data,
        })
        .to_string()
    }
}

/// The webhook events of engine transitions, in the order of their effects.
pub fn events_of<'a>(
    tenant: &str,
    effects: impl IntoIterator<Item = &'a Effect>,
    now: i64,
) -> Vec<WebhookEvent> {
    let event = |kind, session: &str, data| WebhookEvent {
        kind,
        tenant: tenant.to_owned(),
        session: session.to_owned(),
        occurred_at: now,
        data,
    };
    let effects: Vec<&Effect> = effects.into_iter().collect();
    effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::ToCustomer {
                session,
                state: Some(SessionState::Queued),
                ..
            } => Some(event(EventKind::Queued, session, EventData::Queued {})),
            Effect::ToCustomer {
                session,
                state: Some(SessionState::Connected),
                agent,
                ..
            } => {
                // The chatroom opened with the same connection names the agent and service.
                let room = effects.iter().find_map(|e| match *e {
                    Effect::OpenChatroom {
                        session: s,
                        user,
                        brief,
                    } if s == session => Some((user.clone(), brief.service.clone())),
                    _ => None,
                });
                let (id, service) = room.map_or((None, String::new()), |(u, s)| (Some(u), s));
                Some(event(
                    EventKind::Connected,
                    session,
                    EventData::Connected {
                        service,
                        agent: AgentRef {
                            id,
                            display_name: agent.clone(),
                        },
                    },
                ))
            }
            Effect::Report(Fact::SessionEnded {
                session,
                service,
                channel,
                outcome,
                agent,
                created_at,
                ended_at,
                ..
            }) => Some(event(
                EventKind::Ended,
                session,
                EventData::Ended {
                    outcome: *outcome,
                    service: service.clone(),
                    channel: channel.clone(),
                    agent: agent.clone(),
                    started_at: rfc3339(*created_at),
                    ended_at: rfc3339(*ended_at),
                },
            )),
            Effect::CollectInformation {
                session,
                parameters,
                customer,
            } => Some(event(
                EventKind::CollectInformation,
                session,
                EventData::CollectInformation {
                    parameters: parameters.clone(),
                    customer: customer.clone(),
                },
            )),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn data_json(data: &EventData) -> Value {
        serde_json::to_value(data).unwrap_or(Value::Null)
    }
    use crate::engine::messages::{Brief, EndedBy};

    fn to_customer(session: &str, state: SessionState, agent: Option<&str>) -> Effect {
        Effect::ToCustomer {
            session: session.into(),
            text: None,
            choices: Vec::new(),
            state: Some(state),
            agent: agent.map(str::to_owned),
        }
    }

    #[test]
    fn queueing_connecting_collecting_and_ending_are_events_in_effect_order() {
        let ada = Customer {
            display_name: "Ada".into(),
            email: "ada@example.com".into(),
        };
        let effects = vec![
            Effect::CollectInformation {
                session: "s1".into(),
                parameters: vec!["crmId".into()],
                customer: ada.clone(),
            },
            to_customer("s1", SessionState::Queued, None),
            Effect::OpenChatroom {
                session: "s1".into(),
                user: "u-anne".into(),
                brief: Brief {
                    service: "Support".into(),
                    ..Brief::default()
                },
            },
            to_customer("s1", SessionState::Connected, Some("Anne")),
            Effect::CloseChatroom {
                session: "s1".into(),
                user: "u-anne".into(),
                ended_by: EndedBy::Agent,
            },
            to_customer("s1", SessionState::Ended, None),
            Effect::Report(Fact::SessionEnded {
                session: "s1".into(),
                service: "support".into(),
                channel: "interact".into(),
                outcome: Outcome::Handled,
                agent: Some("u-anne".into()),
                created_at: 0,
                queued_at: None,
                offered_at: None,
                accepted_at: None,
                ended_at: 61_000,
                transferred_from: Vec::new(),
                transferred_by: Vec::new(),
            }),
        ];
        let events = events_of("t1", &effects, 5_000);
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.name()).collect();
        assert_eq!(
            kinds,
            [
                "session.collectInformation",
                "session.queued",
                "session.connected",
                "session.ended"
            ]
        );
        assert!(events.iter().all(|e| e.session == "s1" && e.tenant == "t1"));
        assert_eq!(
            data_json(&events[0].data),
            json!({"parameters": ["crmId"], "customer": {"displayName": "Ada", "email": "ada@example.com"}})
        );
        assert_eq!(
            data_json(&events[2].data),
            json!({"service": "Support", "agent": {"id": "u-anne", "displayName": "Anne"}})
        );
        assert_eq!(
            data_json(&events[3].data),
            json!({"outcome": "handled", "service": "support", "channel": "interact", "agent": "u-anne",
                   "startedAt": "1970-01-01T00:00:00.000Z", "endedAt": "1970-01-01T00:01:01.000Z"})
        );
        let body: Value = serde_json::from_str(&events[1].body("e-1")).expect("json");
        assert_eq!(
            body,
            json!({"id": "e-1", "type": "session.queued", "tenant": "t1", "session": "s1",
                   "occurredAt": "1970-01-01T00:00:05.000Z", "data": {}})
        );
    }

    #[test]
    fn other_effects_are_not_events() {
        let effects = vec![
            to_customer("s1", SessionState::Workflow, None),
            Effect::ToCustomer {
                session: "s1".into(),
                text: Some("Hello".into()),
                choices: Vec::new(),
                state: None,
                agent: None,
            },
            Effect::QueuePosition {
                session: "s1".into(),
                position: 2,
            },
            Effect::RelayToAgent {
                session: "s1".into(),
                user: "u".into(),
                text: "hi".into(),
                seq: None,
            },
        ];
        assert!(events_of("t1", &effects, 0).is_empty());
    }
}
