//! Distribution's effects turned into engine effects: offers, connections, RONA and ACW.

use super::Core;
use crate::distribution::model::Phase;
use crate::distribution::{self as dist, CancelReason, OfferOutcome, TaskOutcome};
use crate::engine::messages::{AgentStateChange, Effect, Fact, SessionState};
use crate::workflow::interpret::RunEvent;

/// What the agent is told when their transfer comes back.
fn transfer_failed(reason: dist::TransferFailure) -> &'static str {
    match reason {
        dist::TransferFailure::Declined => "Your transfer was declined: the chat stays with you.",
        dist::TransferFailure::Unanswered => {
            "Nobody answered your transfer in time: the chat stays with you."
        }
        dist::TransferFailure::NobodyAvailable => {
            "Nobody can take your transfer now: the chat stays with you."
        }
        dist::TransferFailure::NotPossible => {
            "This chat cannot be transferred now (it is not connected with you, or a transfer \
             is under way): it stays with you."
        }
    }
}

impl Core {
    /// A transfer was accepted: the new agent's chatroom opens, the one who transferred is
    /// told and their chatroom closes, the customer learns who they talk to now.
    fn transferred(
        &mut self,
        session: &str,
        from: String,
        to: String,
        now: i64,
        out: &mut Vec<Effect>,
    ) {
        let service = self
            .distribution
            .tasks
            .get(session)
            .map(|t| t.service.clone());
        let Some(s) = self.sessions.get_mut(session) else {
            return;
        };
        s.transfer = None;
        s.agent = Some(to.clone());
        s.previous_agents.push(from.clone());
        if let Some(service) = service.filter(|new| !new.is_empty() && *new != s.service) {
            let old = std::mem::replace(&mut s.service, service);
            s.transferred_from.push(old);
        }
        let agent = self.agent_name(&to);
        out.push(Effect::HandOver {
            session: session.to_owned(),
            user: from,
            to: agent.clone().unwrap_or_else(|| to.clone()),
        });
        out.push(Effect::OpenChatroom {
            session: session.to_owned(),
            user: to,
            brief: self.brief(session),
        });
        out.push(Effect::ToCustomer {
            session: session.to_owned(),
            text: None,
            choices: Vec::new(),
            state: Some(SessionState::Connected),
            agent,
        });
        let _ = now;
    }

    /// Applies a distribution event and turns its effects into engine effects.
    pub(super) fn distribute(&mut self, event: dist::Event, now: i64, out: &mut Vec<Effect>) {
        for effect in self.distribution.apply(event, now) {
            match effect {
                dist::Decision::Offered {
                    offer,
                    session,
                    user,
                    deadline,
                } => {
                    if let Some(s) = self.sessions.get_mut(&session) {
                        s.offered_at.get_or_insert(now);
                    }
                    // A transfer's offer says who transfers the chat and why.
                    let transfer = self
                        .distribution
                        .transfers
                        .contains_key(&session)
                        .then(|| self.sessions.get(&session).and_then(|s| s.transfer.clone()))
                        .flatten();
                    out.push(Effect::SendInvitation {
                        offer,
                        brief: self.brief(&session),
                        session,
                        user,
                        ring_seconds: u64::try_from((deadline - now) / 1000).unwrap_or(0),
                        transfer,
                    })
                }
                dist::Decision::OfferEnded {
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
                dist::Decision::Connected { session, user } => {
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
                dist::Decision::Transferred { session, from, to } => {
                    self.transferred(&session, from, to, now, out)
                }
                dist::Decision::TransferFailed {
                    session,
                    from,
                    reason,
                } => {
                    // Told in the chat of the agent who asked (a refused take-over is answered
                    // by the supervisor's own command).
                    let connected = match self.sessions.get_mut(&session) {
                        Some(s) => {
                            s.transfer = None;
                            s.state == SessionState::Connected
                                && s.agent.as_deref() == Some(from.as_str())
                        }
                        None => false,
                    };
                    if connected {
                        out.push(Effect::NoteToAgent {
                            session,
                            user: from,
                            text: transfer_failed(reason).to_owned(),
                            offer_templates: false,
                        });
                    }
                }
                dist::Decision::AcceptRefused { offer, user } => {
                    out.push(Effect::InvitationUnavailable { offer, user })
                }
                dist::Decision::TaskEnded { session, outcome } => {
                    // A task cancelled while the workflow goes on (CancelTask) is back in the workflow.
                    if matches!(outcome, TaskOutcome::Cancelled)
                        && let Some(s) = self.sessions.get_mut(&session)
                    {
                        s.state = SessionState::Workflow;
                    }
                }
                dist::Decision::RonaSet { user, until } => out.push(Effect::AgentState {
                    user,
                    state: AgentStateChange::Rona { until },
                }),
                dist::Decision::RonaCleared { user } => out.push(Effect::AgentState {
                    user,
                    state: AgentStateChange::RonaCleared,
                }),
                dist::Decision::AcwStarted { user, until } => out.push(Effect::AgentState {
                    user,
                    state: AgentStateChange::Acw { until },
                }),
                dist::Decision::AcwEnded { user } => out.push(Effect::AgentState {
                    user,
                    state: AgentStateChange::AcwEnded,
                }),
                dist::Decision::DirectRefused {
                    session,
                    user,
                    reason,
                } => self.refuse_direct(&session, &user, reason, now, out),
            }
        }
    }
}
