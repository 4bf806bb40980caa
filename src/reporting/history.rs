//! Session and offer history (`/reports/sessions`, `/reports/offers`), read from the facts the
//! engine records when a session or an offer ends (the KPIs over the same facts and filters
//! are [`super::kpis`]).
//!
//! Everything is selected by **end time**: `from`/`to` is the half-open range `[from, to)` of
//! `endedAt`, and pages run in end-time order, so a page once read never changes and rows that
//! end later only ever appear after the last page. Sessions in progress are in the live view,
//! not here.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::IntoResponse;
use serde::Serialize;
use serde_json::json;
use sqlx::QueryBuilder;

use super::query::{self, CHANNELS, Cursor, Format};
use crate::app::AppState;
use crate::clock::rfc3339;
use crate::http::extract::Admin;
use crate::http::problem::{ApiResult, Refused, internal};
use crate::http::query::{Params, bad};
use crate::store::AsPool;

const SESSION_OUTCOMES: &[&str] = &["handled", "abandoned", "cancelled", "failed"];
pub(super) const OFFER_OUTCOMES: &[&str] = &["accepted", "declined", "rona", "cancelled"];
const HISTORY_PARAMS: &[&str] = &[
    "from", "to", "service", "channel", "outcome", "user", "limit", "cursor", "format",
];

/// One ended session.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionRecord {
    pub session_id: String,
    pub service: String,
    pub channel: String,
    pub outcome: String,
    /// The agent (Entra object id) who took the chat.
    pub agent: Option<String>,
    pub created_at: String,
    pub queued_at: Option<String>,
    pub offered_at: Option<String>,
    pub accepted_at: Option<String>,
    pub ended_at: String,
    /// From entering the queue until accepted, or until the end if never accepted.
    pub queue_seconds: Option<f64>,
    /// From accepted until the end.
    pub connected_seconds: Option<f64>,
    /// Services the session was transferred from, in order.
    pub transferred_from: Vec<String>,
    /// Agents who transferred the chat, in order (`agent` had it last).
    pub transferred_by: Vec<String>,
}

/// One ended offer (invitation of one agent).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OfferRow {
    pub offer_id: i64,
    pub session_id: String,
    pub service: String,
    pub channel: String,
    pub user: String,
    pub outcome: String,
    pub ended_at: String,
}

/// The filters every history and KPI request shares.
pub(super) struct Filters {
    pub(super) from: Option<i64>,
    pub(super) to: Option<i64>,
    service: Option<String>,
    channel: Option<String>,
    outcome: Option<String>,
    user: Option<String>,
}

impl Filters {
    pub(super) fn of(params: &Params, outcomes: &[&str]) -> Result<Filters, Refused> {
        let (from, to) = query::range(params)?;
        Ok(Filters {
            from,
            to,
            service: params.text("service").map(str::to_owned),
            channel: params.choice("channel", CHANNELS)?,
            outcome: params.choice("outcome", outcomes)?,
            user: params.text("user").map(str::to_owned),
        })
    }

    /// Appends ` AND …` conditions; `user_column` is the agent's column of the table.
    pub(super) fn push<'a, DB: sqlx::Database>(
        &self,
        q: &mut QueryBuilder<'a, DB>,
        user_column: &str,
    ) where
        i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
        String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    {
        if let Some(from) = self.from {
            q.push(" AND ended_at >= ").push_bind(from);
        }
        if let Some(to) = self.to {
            q.push(" AND ended_at < ").push_bind(to);
        }
        if let Some(service) = &self.service {
            q.push(" AND service = ").push_bind(service.clone());
        }
        if let Some(channel) = &self.channel {
            q.push(" AND channel = ").push_bind(channel.clone());
        }
        if let Some(outcome) = &self.outcome {
            q.push(" AND outcome = ").push_bind(outcome.clone());
        }
        if let Some(user) = &self.user {
            q.push(format!(" AND {user_column} = "))
                .push_bind(user.clone());
        }
    }
}

fn seconds(from: Option<i64>, to: Option<i64>) -> Option<f64> {
    from.zip(to).map(|(f, t)| (t - f) as f64 / 1000.0)
}

/// `GET /tenants/{tenant}/reports/sessions`
pub async fn sessions(
    State(app): State<AppState>,
    admin: Admin,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let params = Params::parse(raw.as_deref(), HISTORY_PARAMS)?;
    let filters = Filters::of(&params, SESSION_OUTCOMES)?;
    let format = Format::of(&params, &headers)?;
    let limit = limit(&params)?;
    let cursor = Cursor::of(&params)?;

    let rows: Vec<SessionFacts> = fetch(
        &app,
        &admin.tenant,
        "SELECT session_id, service, channel, outcome, agent, created_at, queued_at, offered_at,
                accepted_at, ended_at, transferred_from, transferred_by
         FROM report_sessions WHERE tenant_id = ",
        ("agent", "session_id"),
        &filters,
        cursor.map(|c| (c.ended_at, Key::Text(c.key))),
        limit,
    )
    .await?;
    let mut items = Vec::with_capacity(rows.len());
    let mut keys = Vec::with_capacity(rows.len());
    for r in rows {
        let SessionFacts {
            session_id,
            service,
            channel,
            outcome,
            agent,
            created_at,
            queued_at,
            offered_at,
            accepted_at,
            ended_at,
            transferred_from,
            transferred_by,
        } = r;
        items.push(SessionRecord {
            session_id: session_id.clone(),
            service,
            channel,
            outcome,
            agent,
            created_at: rfc3339(created_at),
            queued_at: queued_at.map(rfc3339),
            offered_at: offered_at.map(rfc3339),
            accepted_at: accepted_at.map(rfc3339),
            ended_at: rfc3339(ended_at),
            queue_seconds: queued_at
                .and_then(|q| seconds(Some(q), Some(accepted_at.unwrap_or(ended_at)))),
            connected_seconds: seconds(accepted_at, Some(ended_at)),
            transferred_from: serde_json::from_str(&transferred_from).unwrap_or_default(),
            transferred_by: serde_json::from_str(&transferred_by).unwrap_or_default(),
        });
        keys.push(Cursor {
            ended_at,
            key: session_id,
        });
    }
    page("sessions", &admin, &params, format, limit, items, keys)
}

/// `GET /tenants/{tenant}/reports/offers`
pub async fn offers(
    State(app): State<AppState>,
    admin: Admin,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let params = Params::parse(raw.as_deref(), HISTORY_PARAMS)?;
    let filters = Filters::of(&params, OFFER_OUTCOMES)?;
    let format = Format::of(&params, &headers)?;
    let limit = limit(&params)?;
    let cursor = match Cursor::of(&params)? {
        Some(c) => Some((
            c.ended_at,
            c.key
                .parse::<i64>()
                .map_err(|_| bad("cursor", "not a cursor of the offer history".into()))?,
        )),
        None => None,
    };

    let rows: Vec<OfferFacts> = fetch(
        &app,
        &admin.tenant,
        "SELECT offer_id, session_id, service, channel, user_id, outcome, ended_at
         FROM report_offers WHERE tenant_id = ",
        ("user_id", "offer_id"),
        &filters,
        cursor.map(|(at, id)| (at, Key::Int(id))),
        limit,
    )
    .await?;
    let mut items = Vec::with_capacity(rows.len());
    let mut keys = Vec::with_capacity(rows.len());
    for r in rows {
        items.push(OfferRow {
            offer_id: r.offer_id,
            session_id: r.session_id,
            service: r.service,
            channel: r.channel,
            user: r.user_id,
            outcome: r.outcome,
            ended_at: rfc3339(r.ended_at),
        });
        keys.push(Cursor {
            ended_at: r.ended_at,
            key: r.offer_id.to_string(),
        });
    }
    page("offers", &admin, &params, format, limit, items, keys)
}

/// The key that orders rows with the same end time.
enum Key {
    Text(String),
    Int(i64),
}

/// A row of `report_sessions` as the session history selects it.
#[derive(sqlx::FromRow)]
struct SessionFacts {
    session_id: String,
    service: String,
    channel: String,
    outcome: String,
    agent: Option<String>,
    created_at: i64,
    queued_at: Option<i64>,
    offered_at: Option<i64>,
    accepted_at: Option<i64>,
    ended_at: i64,
    transferred_from: String,
    transferred_by: String,
}

/// A row of `report_offers` as the offer history selects it.
#[derive(sqlx::FromRow)]
struct OfferFacts {
    offer_id: i64,
    session_id: String,
    service: String,
    channel: String,
    user_id: String,
    outcome: String,
    ended_at: i64,
}

/// One page (plus one row, to know whether there is a next) of a report table, in end-time
/// order, each row read as a `T`; `columns` are the table's agent column and its key column.
async fn fetch<T>(
    app: &crate::app::App,
    tenant: &str,
    select: &str,
    (user_column, key_column): (&str, &str),
    filters: &Filters,
    after: Option<(i64, Key)>,
    limit: usize,
) -> Result<Vec<T>, Refused>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + Send
        + Unpin,
{
    Ok(crate::db!(app.pool.on(), |c| {
        let mut q = QueryBuilder::new(select);
        q.push_bind(tenant.to_owned());
        filters.push(&mut q, user_column);
        if let Some((at, key)) = after {
            q.push(format!(" AND (ended_at, {key_column}) > ("))
                .push_bind(at)
                .push(", ");
            match key {
                Key::Text(k) => q.push_bind(k),
                Key::Int(k) => q.push_bind(k),
            };
            q.push(")");
        }
        q.push(format!(" ORDER BY ended_at, {key_column} LIMIT "))
            .push_bind(i64::try_from(limit + 1).unwrap_or(i64::MAX));
        q.build_query_as().fetch_all(c).await
    })?)
}

fn limit(params: &Params) -> Result<usize, Refused> {
    Ok(params
        .number("limit", 1, query::MAX_LIMIT as u64)?
        .map_or(query::DEFAULT_LIMIT, |n| n as usize))
}

/// A history row as a CSV record.
trait CsvRow {
    /// The header row: the JSON member names.
    const COLUMNS: &'static [&'static str];
    fn cells(&self) -> Vec<String>;
}

const SESSION_COLUMNS: &[&str] = &[
    "sessionId",
    "service",
    "channel",
    "outcome",
    "agent",
    "createdAt",
    "queuedAt",
    "offeredAt",
    "acceptedAt",
    "endedAt",
    "queueSeconds",
    "connectedSeconds",
    "transferredFrom",
    "transferredBy",
];

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

impl CsvRow for SessionRecord {
    const COLUMNS: &'static [&'static str] = SESSION_COLUMNS;
    fn cells(&self) -> Vec<String> {
        let r = self;
        vec![
            r.session_id.clone(),
            r.service.clone(),
            r.channel.clone(),
            r.outcome.clone(),
            opt(&r.agent),
            r.created_at.clone(),
            opt(&r.queued_at),
            opt(&r.offered_at),
            opt(&r.accepted_at),
            r.ended_at.clone(),
            opt(&r.queue_seconds),
            opt(&r.connected_seconds),
            r.transferred_from.join(";"),
            r.transferred_by.join(";"),
        ]
    }
}

const OFFER_COLUMNS: &[&str] = &[
    "offerId",
    "sessionId",
    "service",
    "channel",
    "user",
    "outcome",
    "endedAt",
];

impl CsvRow for OfferRow {
    const COLUMNS: &'static [&'static str] = OFFER_COLUMNS;
    fn cells(&self) -> Vec<String> {
        let r = self;
        vec![
            r.offer_id.to_string(),
            r.session_id.clone(),
            r.service.clone(),
            r.channel.clone(),
            r.user.clone(),
            r.outcome.clone(),
            r.ended_at.clone(),
        ]
    }
}

/// One page as JSON (`items`, `next`) or CSV (header row, the next page in `Link`).
fn page<T: Serialize + CsvRow>(
    what: &str,
    admin: &Admin,
    params: &Params,
    format: Format,
    limit: usize,
    mut items: Vec<T>,
    keys: Vec<Cursor>,
) -> ApiResult {
    let more = items.len() > limit;
    items.truncate(limit);
    let next = (more && limit > 0)
        .then(|| keys.get(limit - 1))
        .flatten()
        .map(|last| {
            format!(
                "/api/admin/v1/tenants/{}/reports/{what}?{}",
                admin.tenant,
                params.with("cursor", &last.encode())
            )
        });
    let mut response = match format {
        Format::Json => axum::Json(json!({ "items": items, "next": next })).into_response(),
        Format::Csv => {
            let mut out = csv::Writer::from_writer(Vec::new());
            out.write_record(T::COLUMNS).map_err(internal)?;
            for item in &items {
                out.write_record(item.cells()).map_err(internal)?;
            }
            let body = out.into_inner().map_err(internal)?;
            let mut r = body.into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{what}.csv\"")) {
                r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            r
        }
    };
    if let Some(v) = next.and_then(|n| HeaderValue::from_str(&format!("<{n}>; rel=\"next\"")).ok())
    {
        response.headers_mut().insert(header::LINK, v);
    }
    Ok(response)
}
