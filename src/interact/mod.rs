//! Interact, the customer's side (issue 5, in progress): the customer API under
//! `/api/interact/v1` (session creation, messages, end, state, a replayable event stream),
//! domain templates for Restrict Access, the input rules, the embeddable widget, the preview
//! page and the snippet, the demo contact, rate limits, the inactivity timeout, and the order
//! of a session's messages and its end (`ending`: once an end is answered, messages are
//! refused). The queue position and agent name in the session state, and agent replies (they
//! come with the Teams relay), are not built yet.

pub mod api;
pub mod inactivity;
pub mod origin;
pub mod pages;
pub mod validate;
