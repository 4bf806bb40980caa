//! KPIs per service and channel (`/reports/kpis`): tasks, outcomes, acceptance within the
//! SLA, queue and connected times, offer outcomes, customer satisfaction (surveys and their
//! mean rating) — per agent with `?user=` — over the same end-time range and filters as the
//! history ([`super::history`]).

use axum::extract::{RawQuery, State};
use axum::response::IntoResponse;
use serde::Serialize;
use serde_json::json;

use super::history::{Filters, OFFER_OUTCOMES};
use crate::app::AppState;
use crate::clock::rfc3339;
use crate::http::extract::Admin;
use crate::http::problem::ApiResult;
use crate::http::query::Params;
use crate::store::AsPool;

/// The KPIs of one service on one channel.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Kpis {
    pub service: String,
    pub channel: String,
    /// Sessions that ended in the period.
    pub tasks: i64,
    /// … of which entered the queue.
    pub queued: i64,
    /// … of which an agent took (outcome `handled`).
    pub handled: i64,
    pub abandoned: i64,
    pub cancelled: i64,
    pub failed: i64,
    /// handled / queued.
    pub reachability: Option<f64>,
    /// Queued sessions accepted within `slaSeconds` of entering the queue.
    pub accepted_within_sla: i64,
    /// accepted within SLA / queued.
    pub acceptance_sla: Option<f64>,
    /// Mean of queue time (entering the queue until accepted, or until the end).
    pub mean_queue_seconds: Option<f64>,
    /// Mean of connected time (accepted until the end).
    pub mean_connected_seconds: Option<f64>,
    /// abandoned / tasks.
    pub abandoned_rate: Option<f64>,
    /// Offers of the service's sessions on this channel, by outcome.
    pub offers: std::collections::BTreeMap<String, i64>,
    /// Sessions whose customer answered the satisfaction survey.
    pub surveys: i64,
    /// Mean rating of those surveys (1–5).
    pub mean_rating: Option<f64>,
}

/// One row of the KPI query: a service on a channel.
#[derive(sqlx::FromRow)]
struct KpiFacts {
    service: String,
    channel: String,
    tasks: i64,
    queued: i64,
    handled: i64,
    abandoned: i64,
    cancelled: i64,
    failed: i64,
    within_sla: i64,
    queue_ms: Option<f64>,
    connected_ms: Option<f64>,
    surveys: i64,
    mean_rating: Option<f64>,
}

fn no_offers() -> std::collections::BTreeMap<String, i64> {
    OFFER_OUTCOMES
        .iter()
        .map(|o| ((*o).to_owned(), 0))
        .collect()
}

impl Kpis {
    fn empty(service: String, channel: String) -> Kpis {
        Kpis {
            service,
            channel,
            tasks: 0,
            queued: 0,
            handled: 0,
            abandoned: 0,
            cancelled: 0,
            failed: 0,
            reachability: None,
            accepted_within_sla: 0,
            acceptance_sla: None,
            mean_queue_seconds: None,
            mean_connected_seconds: None,
            abandoned_rate: None,
            offers: no_offers(),
            surveys: 0,
            mean_rating: None,
        }
    }
}

/// `GET /tenants/{tenant}/reports/kpis`
pub async fn kpis(State(app): State<AppState>, admin: Admin, RawQuery(raw): RawQuery) -> ApiResult {
    let params = Params::parse(
        raw.as_deref(),
        &["from", "to", "service", "channel", "user", "slaSeconds"],
    )?;
    let filters = Filters::of(&params, &[])?;
    let sla_seconds = params
        .number("slaSeconds", 1, 86_400)?
        .unwrap_or(app.settings.reporting.acceptance_sla.as_secs());
    let sla_ms = i64::try_from(sla_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);

    // One text for both backends: PostgreSQL has no SUM of a boolean, and its AVG of integers
    // is NUMERIC (cast to DOUBLE PRECISION, which SQLite's REAL AVG already is).
    let rows: Vec<KpiFacts> = crate::db!(app.pool.on(), |c| {
        let mut q = sqlx::QueryBuilder::new(
            "SELECT service, channel, COUNT(*) AS tasks,
                SUM(CASE WHEN queued_at IS NOT NULL THEN 1 ELSE 0 END) AS queued,
                SUM(CASE WHEN outcome = 'handled' THEN 1 ELSE 0 END) AS handled,
                SUM(CASE WHEN outcome = 'abandoned' THEN 1 ELSE 0 END) AS abandoned,
                SUM(CASE WHEN outcome = 'cancelled' THEN 1 ELSE 0 END) AS cancelled,
                SUM(CASE WHEN outcome = 'failed' THEN 1 ELSE 0 END) AS failed,
                SUM(CASE WHEN queued_at IS NOT NULL AND accepted_at IS NOT NULL
                    AND accepted_at - queued_at <= ",
        );
        q.push_bind(sla_ms);
        q.push(
            " THEN 1 ELSE 0 END) AS within_sla,
                CAST(AVG(CASE WHEN queued_at IS NOT NULL THEN COALESCE(accepted_at, ended_at) - queued_at END)
                    AS DOUBLE PRECISION) AS queue_ms,
                CAST(AVG(CASE WHEN accepted_at IS NOT NULL THEN ended_at - accepted_at END)
                    AS DOUBLE PRECISION) AS connected_ms,
                COUNT((SELECT v.rating FROM session_surveys v WHERE v.session_id = report_sessions.session_id)) AS surveys,
                CAST(AVG((SELECT v.rating FROM session_surveys v WHERE v.session_id = report_sessions.session_id))
                    AS DOUBLE PRECISION) AS mean_rating
             FROM report_sessions WHERE tenant_id = ",
        );
        q.push_bind(admin.tenant.clone());
        filters.push(&mut q, "agent");
        q.push(" GROUP BY service, channel ORDER BY service, channel");
        q.build_query_as().fetch_all(c).await
    })?;

    let offer_rows: Vec<(String, String, String, i64)> = crate::db!(app.pool.on(), |c| {
        let mut o = sqlx::QueryBuilder::new(
            "SELECT service, channel, outcome, COUNT(*) AS n FROM report_offers WHERE tenant_id = ",
        );
        o.push_bind(admin.tenant.clone());
        filters.push(&mut o, "user_id");
        o.push(" GROUP BY service, channel, outcome");
        o.build_query_as().fetch_all(c).await
    })?;

    let ratio = |n: i64, d: i64| (d > 0).then(|| n as f64 / d as f64);
    let mut items: Vec<Kpis> = rows
        .into_iter()
        .map(|r| Kpis {
            reachability: ratio(r.handled, r.queued),
            acceptance_sla: ratio(r.within_sla, r.queued),
            mean_queue_seconds: r.queue_ms.map(|ms| ms / 1000.0),
            mean_connected_seconds: r.connected_ms.map(|ms| ms / 1000.0),
            abandoned_rate: ratio(r.abandoned, r.tasks),
            offers: no_offers(),
            service: r.service,
            channel: r.channel,
            tasks: r.tasks,
            queued: r.queued,
            handled: r.handled,
            abandoned: r.abandoned,
            cancelled: r.cancelled,
            failed: r.failed,
            accepted_within_sla: r.within_sla,
            surveys: r.surveys,
            mean_rating: r.mean_rating,
        })
        .collect();
    for (service, channel, outcome, n) in offer_rows {
        let at = match items
            .iter()
            .position(|k| k.service == service && k.channel == channel)
        {
            Some(at) => at,
            // Offers ended in the period for sessions still in progress.
            None => {
                items.push(Kpis::empty(service, channel));
                items.len() - 1
            }
        };
        *items[at].offers.entry(outcome).or_default() += n;
    }
    items.sort_by(|a, b| (&a.service, &a.channel).cmp(&(&b.service, &b.channel)));
    Ok(axum::Json(json!({
        "from": filters.from.map(rfc3339),
        "to": filters.to.map(rfc3339),
        "slaSeconds": sla_seconds,
        "items": items,
    }))
    .into_response())
}
