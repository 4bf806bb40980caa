//! What happened and what is happening: session and offer history with KPIs (admin API),
//! session transcripts with their retention, and `/metrics`.

pub mod history;
pub mod metrics;
pub mod query;
pub mod transcripts;

pub use metrics::metrics;
