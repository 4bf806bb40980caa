//! KPIs per service and channel (`/reports/kpis`): tasks, outcomes, acceptance within the
//! SLA, queue and connected times, offer outcomes, customer satisfaction (surveys and their
//! mean rating) — per agent with `?user=` — over the same end-time range and filters as the
//! history ([`super::history`]).

use axum::extract::{RawQuery, State};
use axum::response::IntoResponse;
use serde::Serialize;
use serde_json::json;
use sqlx::{QueryBuilder, Row, Sqlite};

use super::history::{Filters, OFFER_OUTCOMES};
use crate::app::AppState;
use crate::clock::rfc3339;
use crate::http::extract::Admin;
use crate::http::problem::{ApiResult, internal};
use crate::http::query::Params;

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

    let mut q = QueryBuilder::<Sqlite>::new(
        "SELECT service, channel, COUNT(*) AS tasks,
            SUM(queued_at IS NOT NULL) AS queued,
            SUM(outcome = 'handled') AS handled,
            SUM(outcome = 'abandoned') AS abandoned,
            SUM(outcome = 'cancelled') AS cancelled,
            SUM(outcome = 'failed') AS failed,
            SUM(queued_at IS NOT NULL AND accepted_at IS NOT NULL AND accepted_at - queued_at <= ",
    );
    q.push_bind(sla_ms);
    q.push(
        ") AS within_sla,
            AVG(CASE WHEN queued_at IS NOT NULL THEN COALESCE(accepted_at, ended_at) - queued_at END) AS queue_ms,
            AVG(CASE WHEN accepted_at IS NOT NULL THEN ended_at - accepted_at END) AS connected_ms,
            COUNT((SELECT v.rating FROM session_surveys v WHERE v.session_id = report_sessions.session_id)) AS surveys,
            AVG((SELECT v.rating FROM session_surveys v WHERE v.session_id = report_sessions.session_id)) AS mean_rating
         FROM report_sessions WHERE tenant_id = ",
    );
    q.push_bind(admin.tenant.clone());
    filters.push(&mut q, "agent");
    q.push(" GROUP BY service, channel ORDER BY service, channel");
    let rows = q.build().fetch_all(&app.pool).await.map_err(internal)?;

    let mut o = QueryBuilder::<Sqlite>::new(
        "SELECT service, channel, outcome, COUNT(*) AS n FROM report_offers WHERE tenant_id = ",
    );
    o.push_bind(admin.tenant.clone());
    filters.push(&mut o, "user_id");
    o.push(" GROUP BY service, channel, outcome");
    let offer_rows = o.build().fetch_all(&app.pool).await.map_err(internal)?;

    let ratio = |n: i64, d: i64| (d > 0).then(|| n as f64 / d as f64);
    let mut items = Vec::with_capacity(rows.len());
    for r in rows {
        let decode = || -> Result<Kpis, sqlx::Error> {
            let tasks: i64 = r.try_get("tasks")?;
            let queued: i64 = r.try_get("queued")?;
            let handled: i64 = r.try_get("handled")?;
            let abandoned: i64 = r.try_get("abandoned")?;
            let within_sla: i64 = r.try_get("within_sla")?;
            Ok(Kpis {
                service: r.try_get("service")?,
                channel: r.try_get("channel")?,
                tasks,
                queued,
                handled,
                abandoned,
                cancelled: r.try_get("cancelled")?,
                failed: r.try_get("failed")?,
                reachability: ratio(handled, queued),
                accepted_within_sla: within_sla,
                acceptance_sla: ratio(within_sla, queued),
                mean_queue_seconds: r
                    .try_get::<Option<f64>, _>("queue_ms")?
                    .map(|ms| ms / 1000.0),
                mean_connected_seconds: r
                    .try_get::<Option<f64>, _>("connected_ms")?
                    .map(|ms| ms / 1000.0),
                abandoned_rate: ratio(abandoned, tasks),
                offers: no_offers(),
                surveys: r.try_get("surveys")?,
                mean_rating: r.try_get("mean_rating")?,
            })
        };
        items.push(decode().map_err(internal)?);
    }
    for r in offer_rows {
        let service: String = r.try_get("service").map_err(internal)?;
        let channel: String = r.try_get("channel").map_err(internal)?;
        let outcome: String = r.try_get("outcome").map_err(internal)?;
        let n: i64 = r.try_get("n").map_err(internal)?;
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
