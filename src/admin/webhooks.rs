//! The admin API's webhook side: the endpoints in the tenant settings (read without their
//! secrets, written with them), the recent deliveries with their state, and setting a live
//! session's parameters — how a tenant's system answers `session.collectInformation`.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::engine::messages::{Command, SessionState};
use crate::http::extract::Admin;
use crate::http::problem::{ApiResult, Problem, Refused, internal, problem_with};
use crate::http::query::Params;
use crate::store::AsPool;
use crate::webhooks;

/// The most parameters one call may set, and their sizes.
const MAX_PARAMETERS: usize = 100;
const MAX_NAME: usize = 100;
const MAX_VALUE: usize = 4000;

/// 422 `invalid_webhooks` with every problem of the `webhooks` list.
pub(crate) fn refusal(problems: Vec<Value>) -> Response {
    problem_with(
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_webhooks",
            format!(
                "{} problem(s) with the webhooks; see `problems`",
                problems.len()
            ),
        ),
        json!({ "problems": problems }),
    )
}

/// `GET …/webhooks/deliveries?limit=N`: the most recent deliveries, newest first.
pub(crate) async fn deliveries(
    State(app): State<AppState>,
    admin: Admin,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let params = Params::parse(raw.as_deref(), &["limit"])?;
    let limit = params.number("limit", 1, 1000)?.unwrap_or(100);
    let items = webhooks::recent(
        &app.pool,
        &admin.tenant,
        i64::try_from(limit).unwrap_or(100),
    )
    .await?;
    // Each endpoint's breaker as the dispatcher of this instance sees it.
    let health = app
        .outbox
        .webhook_health
        .of_tenant(&admin.tenant, app.clock.now_ms());
    Ok(axum::Json(json!({ "items": items, "endpoints": health })).into_response())
}

fn bad_parameters(code: &str, detail: String) -> Refused {
    Problem::new(StatusCode::BAD_REQUEST, code, detail)
        .into_response()
        .into()
}

/// The body of `PUT …/parameters`: a JSON object of string values, none of them built in.
fn parameters(body: &Bytes) -> Result<BTreeMap<String, String>, Refused> {
    let value: Value = crate::strict_json::from_slice(body).map_err(|e| super::body_refusal(&e))?;
    let Some(object) = value.as_object() else {
        return Err(bad_parameters(
            "invalid_parameters",
            "the body is a JSON object of parameter names to string values".into(),
        ));
    };
    if object.is_empty() || object.len() > MAX_PARAMETERS {
        return Err(bad_parameters(
            "invalid_parameters",
            format!("set 1 to {MAX_PARAMETERS} parameters"),
        ));
    }
    let mut values = BTreeMap::new();
    for (name, value) in object {
        let Some(text) = value.as_str() else {
            return Err(bad_parameters(
                "invalid_parameters",
                format!("parameter {name:?}: values are strings"),
            ));
        };
        if name.trim().is_empty()
            || name.chars().count() > MAX_NAME
            || name.chars().any(char::is_control)
            || text.chars().count() > MAX_VALUE
        {
            return Err(bad_parameters(
                "invalid_parameters",
                format!(
                    "parameter {name:?}: a name has 1 to {MAX_NAME} characters, a value at most {MAX_VALUE}"
                ),
            ));
        }
        if ["customer.", "service.", "session."]
            .iter()
            .any(|p| name.starts_with(p))
        {
            return Err(bad_parameters(
                "reserved_parameter",
                format!("{name:?} is set by Switchboard, not through this API"),
            ));
        }
        values.insert(name.clone(), text.to_owned());
    }
    Ok(values)
}

/// `PUT …/sessions/{id}/parameters`: sets a live session's workflow parameters; a run waiting
/// in CollectInformation leaves by `collected` once all it asked for are set. 204 when the
/// engine took them; 404 `session_not_found`; 409 `session_ended`. A session that ends between
/// the check and the command ignores the values (the engine drops commands for ended sessions).
pub(crate) async fn put_parameters(
    State(app): State<AppState>,
    admin: Admin,
    Path((_, session)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let values = parameters(&body)?;
    let engine = app
        .engines
        .get(&admin.tenant)
        .await
        .map_err(|e| internal(format!("{e:#}")))?;
    let view = engine
        .view(&session)
        .await
        .map_err(|e| internal(format!("{e:#}")))?;
    if view.is_none_or(|v| v.state == SessionState::Ended) {
        let ended = crate::db!(app.pool.on(), |c| {
            sqlx::query(
                "SELECT 1 FROM report_sessions WHERE tenant_id = $1 AND session_id = $2 LIMIT 1",
            )
            .bind(&admin.tenant)
            .bind(&session)
            .fetch_optional(c)
            .await
            .map(|found| found.is_some())
        })?;
        let (status, code, detail) = if ended {
            (
                StatusCode::CONFLICT,
                "session_ended",
                "the session has ended",
            )
        } else {
            (
                StatusCode::NOT_FOUND,
                "session_not_found",
                "there is no such session in this tenant",
            )
        };
        return Err(Problem::new(status, code, detail.to_owned())
            .into_response()
            .into());
    }
    let count = values.len();
    engine
        .send(Command::SetParameters {
            session: session.clone(),
            values,
        })
        .await
        .map_err(|e| internal(format!("{e:#}")))?;
    // Names and values may be personal data: only their number is logged.
    tracing::info!(tenant.id = %admin.tenant, key.id = %admin.key_id, session.id = %session,
        parameters = count, "admin set session parameters");
    Ok(StatusCode::NO_CONTENT.into_response())
}
