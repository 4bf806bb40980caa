//! Interact, the customer's side: the customer API under `/api/interact/v1` ([`api`]: session
//! creation, end, state with queue position and agent name; `messages`; a replayable event
//! stream in `stream`; the session token as an extractor in `session`; the widget's look and
//! availability, messages left when nobody is there and the survey in `feedback`; uploads in
//! `files`), domain templates for
//! Restrict Access ([`origin`]), the input rules ([`validate`]), the embeddable widget and the preview page ([`pages`]), and the inactivity timeout
//! ([`inactivity`]). The customer's session itself (rows, events, the order of messages and
//! ends) is beneath the edges, in [`crate::customer`]; agent replies come with the Teams relay.

pub mod api;
mod feedback;
mod files;
pub mod inactivity;
mod messages;
pub mod origin;
pub mod pages;
mod session;
mod stream;
pub mod validate;
