//! Interact, the customer's side (issue 5, in progress): domain templates for Restrict Access
//! and the input rules of the customer API. The API, the event stream, the widget and the
//! preview page are not built yet.

pub mod origin;
pub mod validate;
