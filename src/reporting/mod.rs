//! What happened and what is happening: session and offer history with KPIs (admin API),
//! session transcripts with their retention, and `/metrics`.

pub mod history;
pub mod kpis;
pub mod metrics;
pub mod query;
pub mod transcripts;

pub use metrics::metrics;

use axum::Router;
use axum::routing::get;

use crate::app::AppState;

/// The reports and transcripts of the admin API, nested with it under `/api/admin/v1`
/// (same `Admin` key extractor).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tenants/{tenant}/reports/sessions", get(history::sessions))
        .route("/tenants/{tenant}/reports/offers", get(history::offers))
        .route("/tenants/{tenant}/reports/kpis", get(kpis::kpis))
        .route(
            "/tenants/{tenant}/sessions/{session}/transcript",
            get(transcripts::transcript),
        )
}
