//! Transfers: the agent of a connected chat hands it to a service or to a colleague. The chat
//! stays connected with them while it is offered — to the colleague, or to the service's free
//! agents one after the other (longest idle first, never the same agent twice); an accept
//! moves it (and its share of capacity) to the new agent. A decline or no answer from the
//! colleague, or from the last agent the service had free, gives it back with the reason. A
//! missed transfer sets no RONA: it is a colleague's request, not the queue's.

use super::model::{Offer, Phase, State, Transfer, TransferTarget};
use super::{CancelReason, Decision, OfferOutcome, TransferFailure};

impl State {
    pub(super) fn start_transfer(
        &mut self,
        session: String,
        from: String,
        target: TransferTarget,
        ring_ms: i64,
        now: i64,
        effects: &mut Vec<Decision>,
    ) {
        let connected = self
            .tasks
            .get(&session)
            .is_some_and(|t| t.phase == Phase::Connected(from.clone()));
        let to_self = target == TransferTarget::User(from.clone());
        if !connected || to_self || self.transfers.contains_key(&session) {
            effects.push(Decision::TransferFailed {
                session,
                from,
                reason: TransferFailure::NotPossible,
            });
            return;
        }
        self.transfers.insert(
            session.clone(),
            Transfer {
                session: session.clone(),
                from,
                target,
                ring_ms: ring_ms.max(1000),
                tried: Default::default(),
            },
        );
        self.transfer_next(&session, None, now, effects);
    }

    /// Offers a transfer to its next agent; when there is none, gives it back with the reason
    /// the last one gave (`last`), or as nobody available.
    pub(super) fn transfer_next(
        &mut self,
        session: &str,
        last: Option<(String, TransferFailure)>,
        now: i64,
        effects: &mut Vec<Decision>,
    ) {
        let Some(transfer) = self.transfers.get_mut(session) else {
            return;
        };
        if let Some((user, _)) = &last {
            transfer.tried.insert(user.clone());
        }
        let transfer = transfer.clone();
        let can_take = |id: &String| {
            *id != transfer.from
                && !transfer.tried.contains(id)
                && self.agents.get(id).is_some_and(|a| a.free())
        };
        let next = match &transfer.target {
            TransferTarget::User(user) => Some(user.clone()).filter(can_take),
            TransferTarget::Service(service) => {
                let settings = self.services.get(service);
                self.free
                    .iter()
                    .map(|(_, id)| id)
                    .filter(|id| can_take(id))
                    .find(|id| {
                        settings.is_some_and(|s| {
                            self.agents.get(*id).is_some_and(|a| a.fits(service, s))
                        })
                    })
                    .cloned()
            }
        };
        let Some(user) = next else {
            self.transfers.remove(session);
            effects.push(Decision::TransferFailed {
                session: session.to_owned(),
                from: transfer.from,
                reason: last.map_or(TransferFailure::NobodyAvailable, |(_, why)| why),
            });
            return;
        };
        self.ring(session, user, now + transfer.ring_ms, true, effects);
    }

    /// The transfer's offer was accepted: the chat moves to the new agent (and to the service
    /// it was transferred to).
    pub(super) fn transfer_accepted(
        &mut self,
        offer: Offer,
        now: i64,
        effects: &mut Vec<Decision>,
    ) {
        self.end_offer(offer.id, OfferOutcome::Accepted, effects);
        let Some(transfer) = self.transfers.remove(&offer.session) else {
            return;
        };
        if let Some(task) = self.tasks.get_mut(&offer.session) {
            task.phase = Phase::Connected(offer.user.clone());
            if let TransferTarget::Service(service) = &transfer.target {
                task.service = service.clone();
            }
        }
        self.update_agent(&transfer.from, |a| {
            a.connected.remove(&offer.session);
            if a.connected.is_empty() {
                a.idle_since = now;
            }
        });
        self.update_agent(&offer.user, |a| {
            a.connected.insert(offer.session.clone());
        });
        effects.push(Decision::Transferred {
            session: offer.session,
            from: transfer.from,
            to: offer.user,
        });
    }

    /// A supervisor takes the chat over: no offer, no acceptance.
    pub(super) fn take_over(
        &mut self,
        session: String,
        user: String,
        now: i64,
        effects: &mut Vec<Decision>,
    ) {
        let from = match self.tasks.get(&session).map(|t| &t.phase) {
            Some(Phase::Connected(from)) if *from != user && self.agents.contains_key(&user) => {
                from.clone()
            }
            _ => {
                effects.push(Decision::TransferFailed {
                    session,
                    from: user,
                    reason: TransferFailure::NotPossible,
                });
                return;
            }
        };
        self.cancel_transfer(&session, CancelReason::Taken, effects);
        if let Some(task) = self.tasks.get_mut(&session) {
            task.phase = Phase::Connected(user.clone());
        }
        self.update_agent(&from, |a| {
            a.connected.remove(&session);
            if a.connected.is_empty() {
                a.idle_since = now;
            }
        });
        self.update_agent(&user, |a| {
            a.connected.insert(session.clone());
        });
        effects.push(Decision::Transferred {
            session,
            from,
            to: user,
        });
    }

    /// The chat ends (or its task is cancelled) while a transfer is under way: its offer is
    /// withdrawn and the transfer forgotten.
    pub(super) fn cancel_transfer(
        &mut self,
        session: &str,
        reason: CancelReason,
        effects: &mut Vec<Decision>,
    ) {
        if self.transfers.remove(session).is_none() {
            return;
        }
        let ringing: Vec<u64> = self
            .offers
            .values()
            .filter(|o| o.transfer && o.session == session)
            .map(|o| o.id)
            .collect();
        for offer in ringing {
            self.end_offer(offer, OfferOutcome::Cancelled(reason), effects);
        }
    }
}
