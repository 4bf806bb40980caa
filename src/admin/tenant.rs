//! The tenant as a whole: the live view, export and import of the tenant file.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::invalid;
use crate::app::AppState;
use crate::engine::sync::{Scope, sync};
use crate::http::body;
use crate::http::extract::Admin;
use crate::http::problem::{ApiResult, Problem, internal};
use crate::tenant_file;

pub(super) async fn live(State(app): State<AppState>, admin: Admin) -> ApiResult {
    let engine = app
        .engines
        .get(&admin.tenant)
        .await
        .map_err(|e| internal(format!("{e:#}")))?;
    let live = engine
        .live()
        .await
        .map_err(|e| internal(format!("{e:#}")))?;
    let mut view = serde_json::to_value(&live).map_err(internal)?;
    // Agents by name as well as id (the directory's display names).
    let users: Vec<crate::directory::store::Versioned<crate::directory::User>> =
        crate::directory::store::list(
            &app.pool,
            &admin.tenant,
            crate::directory::store::Kind::User,
        )
        .await?;
    let names: std::collections::HashMap<&str, &str> = users
        .iter()
        .map(|u| (u.value.id.as_str(), u.value.display_name.as_str()))
        .collect();
    let name_of = |id: &serde_json::Value| {
        id.as_str()
            .and_then(|id| names.get(id))
            .map_or(serde_json::Value::Null, |name| json!(name))
    };
    for agent in view["agents"].as_array_mut().into_iter().flatten() {
        agent["displayName"] = name_of(&agent["id"]);
    }
    for session in view["sessions"].as_array_mut().into_iter().flatten() {
        session["agentName"] = name_of(&session["agent"]);
    }
    // WhatsApp sessions also show their 24-hour window and their messages' delivery statuses.
    if live.sessions.iter().any(|s| s.channel == "whatsapp") {
        let whatsapp = crate::store::whatsapp::live(&app.pool, &admin.tenant).await?;
        for session in view["sessions"].as_array_mut().into_iter().flatten() {
            let Some(found) = session["id"].as_str().and_then(|id| whatsapp.get(id)) else {
                continue;
            };
            let statuses: serde_json::Map<String, serde_json::Value> = found
                .statuses
                .iter()
                .map(|(status, n)| (status.clone(), json!(n)))
                .collect();
            let window_ends = found.last_inbound_at + crate::whatsapp_cloud::WINDOW_MS;
            session["whatsapp"] = json!({
                "windowEndsAt": crate::clock::rfc3339(window_ends),
                "windowOpen": app.clock.now_ms() < window_ends,
                "messages": statuses,
            });
        }
    }
    Ok(axum::Json(view).into_response())
}

pub(super) async fn export(State(app): State<AppState>, admin: Admin) -> ApiResult {
    let bundle = tenant_file::export(&app.pool, &admin.tenant).await?;
    let mut r = axum::Json(bundle).into_response();
    r.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"tenant.json\""),
    );
    Ok(r)
}

/// Answers an import that wrote nothing.
pub(super) fn import_refusal(e: tenant_file::ImportError) -> Response {
    match e {
        tenant_file::ImportError::Invalid(problems) => invalid(problems),
        tenant_file::ImportError::Conflict(message) => {
            Problem::new(StatusCode::CONFLICT, "version_conflict", message).into_response()
        }
        other => internal(other),
    }
}

/// `POST /tenants/{tenant}/import`: the body, at most `server.import_max_bytes` (a larger one
/// is refused with 413 `body_too_large`, on its announced length before it is read).
pub(super) async fn import(
    State(app): State<AppState>,
    admin: Admin,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
    headers: axum::http::HeaderMap,
    body: Body,
) -> ApiResult {
    let params = crate::http::query::Params::parse(raw.as_deref(), &["prune"])?;
    let prune = params.choice("prune", &["true", "false"])?.as_deref() == Some("true");
    let max = app.settings.server.import_max_bytes;
    if body::announced_over(&headers, max) {
        return Err(body::too_large(max).into());
    }
    let body = body::read_capped(body, max).await.map_err(|e| match e {
        body::BodyError::TooLarge => body::too_large(max),
        body::BodyError::Unreadable => Problem::new(
            StatusCode::BAD_REQUEST,
            "body_unreadable",
            "the body could not be read".to_owned(),
        ),
    })?;
    let text = std::str::from_utf8(&body).map_err(|_| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "the body is not UTF-8 JSON".to_owned(),
        )
        .into_response()
    })?;
    let parsed = tenant_file::Bundle::parse(text).map_err(import_refusal)?;
    if !parsed.tenant.id.eq_ignore_ascii_case(&admin.tenant) {
        return Err(invalid(vec![json!({"path": "/tenant/id", "code": "tenant_mismatch",
            "message": format!("the file is for tenant {:?}, not {:?}", parsed.tenant.id, admin.tenant)})])
        .into());
    }
    let done = tenant_file::import(&app.pool, &parsed, prune, app.clock.now_ms())
        .await
        .map_err(import_refusal)?;
    sync(&app.pool, &app.engines, &admin.tenant, Scope::Tenant)
        .await
        .map_err(|e| internal(format!("{e:#}")))?;
    tracing::info!(tenant.id = %admin.tenant, key.id = %admin.key_id, created = done.created,
        updated = done.updated, deleted = done.deleted, "admin imported a tenant file");
    Ok(axum::Json(done).into_response())
}
