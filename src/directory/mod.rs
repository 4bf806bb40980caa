//! Tenants, services, users, workflows and calendars: admin-managed data, typed and validated,
//! stored as versioned JSON documents (optimistic concurrency) in `directory_documents`.

pub mod calendar;
pub mod canned;
pub mod check;
pub mod contacts;
pub mod document;
pub mod model;
pub mod store;
pub mod widget_look;

pub use model::{Refusal, Service, Tenant, User};
