//! Messages customers left while nobody was available (the widget's "leave a message" form):
//! `GET …/offline-messages` lists them newest first (`?open=true`: those not handled yet;
//! `?before=` the `next` of the previous page; `?limit=` 1–500, default 100), and
//! `POST …/offline-messages/{id}/handled` marks one handled.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use crate::app::AppState;
use crate::customer::feedback;
use crate::http::extract::Admin;
use crate::http::problem::ApiResult;
use crate::http::query::Params;

pub(super) async fn list(
    State(app): State<AppState>,
    admin: Admin,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let params = Params::parse(raw.as_deref(), &["open", "before", "limit"])?;
    let limit = params.number("limit", 1, 500)?.unwrap_or(100);
    let before = params.time("before")?.unwrap_or(i64::MAX);
    let open_only = params.choice("open", &["true", "false"])?.as_deref() == Some("true");
    let found = feedback::offline_messages(
        &app.pool,
        &admin.tenant,
        before,
        open_only,
        i64::try_from(limit).unwrap_or(100),
    )
    .await?;
    // The next page starts before the last item's time (a full page may have more).
    let next = (found.len() as u64 == limit)
        .then(|| found.last().map(|(at, _)| crate::clock::rfc3339(*at)))
        .flatten();
    let items: Vec<_> = found.into_iter().map(|(_, m)| m).collect();
    Ok(axum::Json(json!({"items": items, "next": next})).into_response())
}

pub(super) async fn handled(
    State(app): State<AppState>,
    admin: Admin,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult {
    if !feedback::mark_handled(&app.pool, &admin.tenant, &id, app.clock.now_ms()).await? {
        return Ok(super::not_found("offline message", &id));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
