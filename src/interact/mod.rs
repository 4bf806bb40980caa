//! Interact, the customer's side (issue 5, in progress): the customer API under
//! `/api/interact/v1` (session creation, messages, end, state, a replayable event stream),
//! domain templates for Restrict Access, and the input rules. The widget, the preview page,
//! the snippet, rate limits and inactivity timeouts are not built yet.

pub mod api;
pub mod contacts;
pub mod events;
pub mod origin;
pub mod store;
pub mod validate;
