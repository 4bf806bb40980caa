//! The engine: one actor per tenant owns the workflow runs and the distribution state,
//! applies commands, persists every transition with its effects, and emits effects.
//!
//! [`core::Core`] is the pure part. [`actor`] is the shell: it appends each command to a log
//! in the same transaction as the effects and reporting facts it produced, snapshots the state
//! now and then, and after a restart loads the last snapshot and replays the log, so every
//! session, queue and timer resumes exactly where it was.

pub mod actor;
pub mod core;
pub mod effects;
mod facts;
pub mod http_request;
pub mod http_worker;
pub mod messages;
pub mod registry;
pub mod sync;
