//! Distribution's effects turned into engine effects: offers, connections, RONA and ACW.

use super::Core;
use crate::distribution::model::Phase;
use crate::distribution::{self as dist, CancelReason, OfferOutcome, TaskOutcome};
use crate::engine::messages::{AgentStateChange, Effect, Fact, SessionState};
use crate::workflow::interpret::RunEvent;

impl Core {
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
                    out.push(Effect::SendInvitation {
                        offer,
                        brief: self.brief(&session),
                        session,
                        user,
                        ring_seconds: u64::try_from((deadline - now) / 1000).unwrap_or(0),
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
