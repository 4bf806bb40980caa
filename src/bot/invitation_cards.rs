//! The invitation cards' data and their final states (accepted, declined, missed, taken,
//! withdrawn), rendered for the Teams worker and the handlers alike.

use serde_json::Value;

use crate::app::App;
use crate::cards::data::{
    self, Id, InvitationAccepted, InvitationDeclined, InvitationMissed, InvitationTaken,
    InvitationWithdrawn, UserText, WithdrawReason,
};
use crate::distribution::{CancelReason, OfferOutcome};
use crate::engine::messages::Brief;

use super::store::Invitation;

pub fn customer(brief: &Brief) -> data::Customer {
    data::Customer {
        display_name: UserText::new(brief.customer.display_name.clone()),
        email: Some(UserText::new(brief.customer.email.clone()))
            .filter(|_| !brief.customer.email.is_empty()),
    }
}

pub fn service(brief: &Brief) -> data::Service {
    data::Service {
        name: if brief.service.is_empty() {
            "Direct chat".into()
        } else {
            brief.service.clone()
        },
    }
}

/// The card of an invitation in its final state.
pub fn final_card(
    app: &App,
    invitation: &Invitation,
    outcome: &OfferOutcome,
    accepted_by: Option<&str>,
) -> anyhow::Result<Value> {
    let b = &invitation.brief;
    let id = Id {
        id: invitation.offer_id.to_string(),
    };
    let card = match outcome {
        OfferOutcome::Accepted => app.cards.render_data(&InvitationAccepted {
            invitation: id,
            service: service(b),
            customer: customer(b),
            chat_url: None,
        })?,
        OfferOutcome::Declined => app.cards.render_data(&InvitationDeclined {
            invitation: id,
            service: service(b),
            customer: customer(b),
        })?,
        OfferOutcome::Rona => app.cards.render_data(&InvitationMissed {
            invitation: id,
            service: service(b),
            customer: customer(b),
            ring_seconds: u64::try_from(invitation.ring_seconds).unwrap_or(0),
        })?,
        OfferOutcome::Cancelled(CancelReason::Taken) => {
            app.cards.render_data(&InvitationTaken {
                invitation: id,
                service: service(b),
                customer: customer(b),
                accepted_by: UserText::new(accepted_by.unwrap_or("another agent")),
            })?
        }
        OfferOutcome::Cancelled(reason) => app.cards.render_data(&InvitationWithdrawn {
            invitation: id,
            service: service(b),
            customer: customer(b),
            reason: if *reason == CancelReason::CustomerLeft {
                WithdrawReason::CustomerLeft
            } else {
                WithdrawReason::Cancelled
            },
        })?,
    };
    Ok(card)
}

/// The stored name of an offer outcome.
pub fn outcome_name(outcome: &OfferOutcome) -> &'static str {
    match outcome {
        OfferOutcome::Accepted => "accepted",
        OfferOutcome::Declined => "declined",
        OfferOutcome::Rona => "missed",
        OfferOutcome::Cancelled(CancelReason::Taken) => "taken",
        OfferOutcome::Cancelled(_) => "withdrawn",
    }
}
