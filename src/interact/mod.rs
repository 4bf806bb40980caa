//! Interact, the customer's side: the customer API under `/api/interact/v1` (session
//! creation, messages, end, state with queue position and agent name, a replayable event
//! stream), domain templates for Restrict Access ([`origin`]), the input rules ([`validate`]),
//! the embeddable widget and the preview page ([`pages`]), and the inactivity timeout
//! ([`inactivity`]). The customer's session itself (rows, events, the order of messages and
//! ends) is beneath the edges, in [`crate::customer`]; agent replies come with the Teams relay.

pub mod api;
pub mod inactivity;
pub mod origin;
pub mod pages;
pub mod validate;
