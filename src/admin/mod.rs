//! The admin API (`/api/admin/v1`): API keys scoped to a tenant; services, users, workflows
//! and calendars as versioned documents with ETag / If-Match; workflow validation; the
//! Interact snippet; tenant settings (with webhook endpoints, secrets write-only); the live
//! view; webhook deliveries; a live session's parameters. Errors are problem+json with a stable
//! `code`; a document that cannot be stored is refused with every problem named.

pub mod webhooks;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::app::{App, AppState};
use crate::directory::document::{DocKind, check, shape_problem, workflow_problems};
use crate::directory::model::{Service, Tenant, User};
use crate::directory::store::{self as docs, Kind, StoreError, Versioned};
use crate::engine::messages::Command;
use crate::engine::sync::{Scope, sync};
use crate::http::extract::Admin;
use crate::http::problem::{ApiResult, Problem, Refused, internal, problem_with};
use crate::tenant_file;
use crate::workflow::{self, Channel};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/tenants/{tenant}/settings",
            get(get_settings).put(put_settings),
        )
        .route("/tenants/{tenant}/live", get(live))
        .route(
            "/tenants/{tenant}/webhooks/deliveries",
            get(webhooks::deliveries),
        )
        .route(
            "/tenants/{tenant}/sessions/{session}/parameters",
            axum::routing::put(webhooks::put_parameters),
        )
        .route("/tenants/{tenant}/export", get(export))
        .route("/tenants/{tenant}/import", post(import))
        .route(
            "/tenants/{tenant}/workflows/validate",
            post(validate_workflow),
        )
        .route(
            "/tenants/{tenant}/{kind}",
            get(list_documents).post(create_document),
        )
        .route(
            "/tenants/{tenant}/{kind}/{id}",
            get(get_document)
                .put(replace_document)
                .delete(delete_document),
        )
        .route("/tenants/{tenant}/{kind}/{id}/snippet", get(snippet))
}

fn not_found(what: &str, id: &str) -> Response {
    Problem::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("there is no {what} {id:?}"),
    )
    .into_response()
}

fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// The version an `If-Match` names (a strong ETag we issued).
fn if_match(headers: &HeaderMap) -> Result<i64, Refused> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Err(Problem::new(
            StatusCode::PRECONDITION_REQUIRED,
            "if_match_required",
            "send If-Match with the ETag you read, so that no one else's change is overwritten"
                .to_owned(),
        )
        .into_response()
        .into());
    };
    value
        .to_str()
        .ok()
        .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|v| v.parse::<i64>().ok())
        .ok_or_else(|| {
            Problem::new(
                StatusCode::PRECONDITION_FAILED,
                "version_conflict",
                "If-Match does not name a version of this document".to_owned(),
            )
            .into_response()
            .into()
        })
}

fn conflict(e: StoreError) -> Response {
    match e {
        StoreError::Conflict {
            kind, id, actual, ..
        } => match actual {
            Some(current) => {
                let mut r = Problem::new(
                    StatusCode::PRECONDITION_FAILED,
                    "version_conflict",
                    format!(
                        "{kind} {id} was changed by someone else (now version {current}): read it again and reapply your change"
                    ),
                )
                .into_response();
                r.headers_mut().insert(header::ETAG, etag(current));
                r
            }
            None => not_found(kind, &id),
        },
        other => internal(other),
    }
}

/// The document kind a path segment names; 404 `not_found` for any other segment.
fn doc_kind(segment: &str) -> Result<DocKind, Refused> {
    DocKind::parse(segment).ok_or_else(|| {
        Problem::new(StatusCode::NOT_FOUND, "not_found", None)
            .into_response()
            .into()
    })
}

fn parse_body(body: &Bytes) -> Result<Value, Refused> {
    serde_json::from_slice(body).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the body is not JSON: {e}"),
        )
        .into_response()
        .into()
    })
}

fn invalid(problems: Vec<Value>) -> Response {
    problem_with(
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_document",
            format!("{} problem(s); see `problems`", problems.len()),
        ),
        json!({ "problems": problems }),
    )
}

/// Checks a document of `kind` for tenant storage; returns its id and the value to store.
/// A service's workflow is looked up in the store.
async fn check_document(
    app: &App,
    tenant: &str,
    kind: DocKind,
    doc: Value,
) -> Result<(String, Value), Refused> {
    let workflow = match (kind, doc.get("workflow").and_then(Value::as_str)) {
        (DocKind::Service, Some(id)) => docs::get::<Value>(&app.pool, tenant, Kind::Workflow, id)
            .await
            .map_err(internal)?
            .map(|d| d.value),
        _ => None,
    };
    // Only workflows (and the workflow a service is given) name services.
    let services = match kind {
        DocKind::Service | DocKind::Workflow => service_names(app, tenant).await?,
        DocKind::User | DocKind::Calendar => workflow::ServiceNames::default(),
    };
    check(kind, doc, workflow.as_ref(), &services).map_err(|problems| refusal(problems).into())
}

/// The tenant's services as a workflow's `Transfer` may name them.
async fn service_names(app: &App, tenant: &str) -> Result<workflow::ServiceNames, Refused> {
    let services = docs::list::<Service>(&app.pool, tenant, Kind::Service)
        .await
        .map_err(internal)?;
    Ok(workflow::ServiceNames::new(
        services
            .iter()
            .map(|d| (d.value.id.as_str(), d.value.name.as_str())),
    ))
}

/// The API's answer to a document's problems: 422 `unsupported_activities` naming them when
/// that is the problem, else 422 `invalid_document` with every problem.
fn refusal(problems: Vec<Value>) -> Response {
    if let [only] = problems.as_slice()
        && only["code"] == "unsupported_activities"
    {
        return problem_with(
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unsupported_activities",
                only["message"].as_str().unwrap_or_default().to_owned(),
            ),
            json!({ "activities": only["activities"] }),
        );
    }
    invalid(problems)
}

fn with_etag(status: StatusCode, version: i64, body: Value) -> Response {
    let mut r = (status, axum::Json(body)).into_response();
    r.headers_mut().insert(header::ETAG, etag(version));
    r
}

async fn list_documents(
    State(app): State<AppState>,
    admin: Admin,
    Path((_, kind)): Path<(String, String)>,
) -> ApiResult {
    let kind = doc_kind(&kind)?;
    let items: Vec<Value> = docs::list::<Value>(&app.pool, &admin.tenant, kind.kind())
        .await
        .map_err(internal)?
        .into_iter()
        .map(|Versioned { value, version }| json!({"version": version, "document": value}))
        .collect();
    Ok(axum::Json(json!({ "items": items })).into_response())
}

async fn create_document(
    State(app): State<AppState>,
    admin: Admin,
    Path((_, kind)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let kind = doc_kind(&kind)?;
    let doc = parse_body(&body)?;
    let (id, doc) = check_document(&app, &admin.tenant, kind, doc).await?;
    let now = app.clock.now_ms();
    let version = match docs::put(&app.pool, &admin.tenant, kind.kind(), &id, &doc, None, now).await
    {
        Ok(version) => version,
        Err(StoreError::Conflict { .. }) => {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                "already_exists",
                format!("{} {id:?} already exists: change it with PUT", kind.name()),
            )
            .into_response()
            .into());
        }
        Err(e) => return Err(internal(e).into()),
    };
    sync(
        &app.pool,
        &app.engines,
        &admin.tenant,
        Scope::Stored {
            kind: kind.kind(),
            before: None,
            after: &doc,
        },
    )
    .await
    .map_err(|e| internal(format!("{e:#}")))?;
    tracing::info!(tenant.id = %admin.tenant, key.id = %admin.key_id, kind = kind.name(), id = %id, "admin created a document");
    let mut r = with_etag(StatusCode::CREATED, version, doc);
    if let Ok(location) = HeaderValue::from_str(&format!(
        "/api/admin/v1/tenants/{}/{}s/{}",
        admin.tenant,
        kind.name(),
        id
    )) {
        r.headers_mut().insert(header::LOCATION, location);
    }
    Ok(r)
}

async fn get_document(
    State(app): State<AppState>,
    admin: Admin,
    Path((_, kind, id)): Path<(String, String, String)>,
) -> ApiResult {
    let kind = doc_kind(&kind)?;
    let doc = docs::get::<Value>(&app.pool, &admin.tenant, kind.kind(), &id)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found(kind.name(), &id))?;
    Ok(with_etag(StatusCode::OK, doc.version, doc.value))
}

async fn replace_document(
    State(app): State<AppState>,
    admin: Admin,
    Path((_, kind, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let kind = doc_kind(&kind)?;
    let version = if_match(&headers)?;
    let mut doc = parse_body(&body)?;
    match doc.get("id").and_then(Value::as_str) {
        None => {
            if let Some(o) = doc.as_object_mut() {
                o.insert("id".into(), json!(id));
            }
        }
        Some(body_id) if body_id != id => {
            return Err(invalid(vec![json!({"path": "/id", "code": "id_mismatch",
                "message": format!("the body's id {body_id:?} is not the path's {id:?}; ids cannot be changed")})]).into());
        }
        Some(_) => {}
    }
    let (_, doc) = check_document(&app, &admin.tenant, kind, doc).await?;
    let before = docs::get::<Value>(&app.pool, &admin.tenant, kind.kind(), &id)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found(kind.name(), &id))?
        .value;
    let now = app.clock.now_ms();
    let version = docs::put(
        &app.pool,
        &admin.tenant,
        kind.kind(),
        &id,
        &doc,
        Some(version),
        now,
    )
    .await
    .map_err(conflict)?;
    sync(
        &app.pool,
        &app.engines,
        &admin.tenant,
        Scope::Stored {
            kind: kind.kind(),
            before: Some(&before),
            after: &doc,
        },
    )
    .await
    .map_err(|e| internal(format!("{e:#}")))?;
    tracing::info!(tenant.id = %admin.tenant, key.id = %admin.key_id, kind = kind.name(), id = %id, version, "admin changed a document");
    Ok(with_etag(StatusCode::OK, version, doc))
}

async fn delete_document(
    State(app): State<AppState>,
    admin: Admin,
    Path((_, kind, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> ApiResult {
    let kind = doc_kind(&kind)?;
    let version = if_match(&headers)?;
    if matches!(kind, DocKind::Workflow | DocKind::Calendar) {
        let users: Vec<String> = docs::list::<Service>(&app.pool, &admin.tenant, Kind::Service)
            .await
            .map_err(internal)?
            .into_iter()
            .map(|s| s.value)
            .filter(|s| match kind {
                DocKind::Workflow => s.workflow.as_deref() == Some(id.as_str()),
                _ => {
                    s.calendars.primary.as_deref() == Some(id.as_str())
                        || s.calendars.secondary.as_deref() == Some(id.as_str())
                }
            })
            .map(|s| s.id)
            .collect();
        if !users.is_empty() {
            return Err(problem_with(
                Problem::new(
                    StatusCode::CONFLICT,
                    "in_use",
                    format!(
                        "{} {id:?} is used by services: {}",
                        kind.name(),
                        users.join(", ")
                    ),
                ),
                json!({ "services": users }),
            )
            .into());
        }
    }
    docs::delete(&app.pool, &admin.tenant, kind.kind(), &id, version)
        .await
        .map_err(conflict)?;
    tracing::info!(tenant.id = %admin.tenant, key.id = %admin.key_id, kind = kind.name(), id = %id, "admin deleted a document");
    if kind == DocKind::User {
        sync(&app.pool, &app.engines, &admin.tenant, Scope::User(&id))
            .await
            .map_err(|e| internal(format!("{e:#}")))?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(serde::Deserialize)]
struct ValidateQuery {
    channel: Option<String>,
}

async fn validate_workflow(
    State(app): State<AppState>,
    admin: Admin,
    axum::extract::Query(q): axum::extract::Query<ValidateQuery>,
    body: Bytes,
) -> ApiResult {
    let doc = parse_body(&body)?;
    let channel = match q.channel.as_deref() {
        None | Some("interact") => Channel::Interact,
        Some("whatsapp") => Channel::WhatsApp,
        Some(other) => {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_channel",
                format!("channel must be interact or whatsapp, not {other:?}"),
            )
            .into_response()
            .into());
        }
    };
    let services = service_names(&app, &admin.tenant).await?;
    let problems = match workflow::check(&doc, Some(channel)) {
        Ok(parsed) => workflow_problems(&workflow::unknown_transfer_targets(&parsed, &services)),
        Err(problems) => workflow_problems(&problems),
    };
    Ok(axum::Json(json!({"valid": problems.is_empty(), "problems": problems})).into_response())
}

async fn snippet(
    State(app): State<AppState>,
    admin: Admin,
    Path((_, kind, id)): Path<(String, String, String)>,
) -> ApiResult {
    let kind = match DocKind::parse(&kind) {
        Some(k @ (DocKind::Service | DocKind::User)) => k,
        Some(_) | None => {
            return Err(Problem::new(StatusCode::NOT_FOUND, "not_found", None)
                .into_response()
                .into());
        }
    };
    let interact = match kind {
        DocKind::Service => docs::get::<Service>(&app.pool, &admin.tenant, Kind::Service, &id)
            .await
            .map(|d| d.map(|d| d.value.interact)),
        _ => docs::get::<User>(&app.pool, &admin.tenant, Kind::User, &id)
            .await
            .map(|d| d.map(|d| d.value.interact)),
    }
    .map_err(internal)?
    .ok_or_else(|| not_found(kind.name(), &id))?;
    let (Some(contact), Some(key)) = (&interact.contact_id, &interact.widget_key) else {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "interact_not_set_up",
            format!(
                "{} {id:?} has no Interact contactId and widgetKey yet: set them first",
                kind.name()
            ),
        )
        .into_response()
        .into());
    };
    Ok(axum::Json(json!({
        "contactId": contact,
        "enabled": interact.enabled && interact.instant_message,
        "snippet": crate::http::html::snippet(&app.public_base, contact, key),
        "previewUrl": format!("{}/interact/preview/{contact}", app.public_base),
    }))
    .into_response())
}

async fn tenant_settings(app: &App, tenant: &str) -> Result<(Value, i64), Refused> {
    let stored = docs::get::<Tenant>(&app.pool, tenant, Kind::Tenant, tenant)
        .await
        .map_err(internal)?;
    let (settings, version) = match stored {
        Some(t) => (t.value, t.version),
        None => (
            Tenant {
                id: tenant.to_owned(),
                name: String::new(),
                im_enabled: true,
                http_allowed_networks: Vec::new(),
            },
            0,
        ),
    };
    let granted = crate::store::consents::consent_of(&app.pool, tenant)
        .await
        .map_err(internal)?;
    let mut conn = app.pool.acquire().await.map_err(internal)?;
    let endpoints = crate::webhooks::endpoints::list(&mut conn, tenant)
        .await
        .map_err(internal)?;
    let mut body = serde_json::to_value(settings).map_err(internal)?;
    // Secrets are write-only: endpoints are listed by id and URL.
    body["webhooks"] = json!(endpoints);
    body["permissions"] = json!({
        "grantedAt": granted.and_then(chrono::DateTime::from_timestamp_millis),
        // An admin of the tenant signs in here and presses "Grant permissions".
        "grantPermissionsUrl": app.preferences_url(),
    });
    Ok((body, version))
}

async fn get_settings(State(app): State<AppState>, admin: Admin) -> ApiResult {
    let (body, version) = tenant_settings(&app, &admin.tenant).await?;
    Ok(with_etag(StatusCode::OK, version, body))
}

async fn put_settings(
    State(app): State<AppState>,
    admin: Admin,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let version = if_match(&headers)?;
    let mut doc = parse_body(&body)?;
    let mut hooks = None;
    if let Some(o) = doc.as_object_mut() {
        o.remove("permissions");
        // Absent: the endpoints stay as they are; a list replaces them.
        hooks = o.remove("webhooks");
        o.insert("id".into(), json!(admin.tenant));
    }
    let tenant: Tenant =
        serde_json::from_value(doc).map_err(|e| invalid(vec![shape_problem(&e)]))?;
    let hooks = match hooks {
        None => None,
        Some(raw) => {
            let mut conn = app.pool.acquire().await.map_err(internal)?;
            let known = crate::webhooks::endpoints::list(&mut conn, &admin.tenant)
                .await
                .map_err(internal)?;
            drop(conn);
            let checked = crate::webhooks::validate::endpoints(
                &raw,
                "/webhooks",
                &tenant.http_allowed_networks,
                &known,
            )
            .await
            .map_err(webhooks::refusal)?;
            Some(checked)
        }
    };
    let expected = (version > 0).then_some(version);
    let now = app.clock.now_ms();
    let mut tx = app.pool.begin().await.map_err(internal)?;
    docs::put_in(
        &mut tx,
        &admin.tenant,
        Kind::Tenant,
        &admin.tenant,
        &tenant,
        expected,
        now,
    )
    .await
    .map_err(conflict)?;
    if let Some(hooks) = &hooks {
        let changes = crate::webhooks::endpoints::store(&mut tx, &admin.tenant, hooks, true, now)
            .await
            .map_err(internal)?;
        tracing::info!(tenant.id = %admin.tenant, key.id = %admin.key_id,
            webhooks.created = changes.created.len(), webhooks.updated = changes.updated.len(),
            webhooks.deleted = changes.deleted.len(), "admin changed webhook endpoints");
    }
    tx.commit().await.map_err(internal)?;
    let engine = app
        .engines
        .get(&admin.tenant)
        .await
        .map_err(|e| internal(format!("{e:#}")))?;
    engine
        .send(Command::UpsertTenant {
            tenant: Box::new(tenant),
        })
        .await
        .map_err(|e| internal(format!("{e:#}")))?;
    let (body, version) = tenant_settings(&app, &admin.tenant).await?;
    Ok(with_etag(StatusCode::OK, version, body))
}

async fn live(State(app): State<AppState>, admin: Admin) -> ApiResult {
    let engine = app
        .engines
        .get(&admin.tenant)
        .await
        .map_err(|e| internal(format!("{e:#}")))?;
    let live = engine
        .live()
        .await
        .map_err(|e| internal(format!("{e:#}")))?;
    Ok(axum::Json(live).into_response())
}

async fn export(State(app): State<AppState>, admin: Admin) -> ApiResult {
    let bundle = tenant_file::export(&app.pool, &admin.tenant)
        .await
        .map_err(internal)?;
    let mut r = axum::Json(bundle).into_response();
    r.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"tenant.json\""),
    );
    Ok(r)
}

/// Answers an import that wrote nothing.
pub(crate) fn import_refusal(e: tenant_file::ImportError) -> Response {
    match e {
        tenant_file::ImportError::Invalid(problems) => invalid(problems),
        tenant_file::ImportError::Conflict(message) => {
            Problem::new(StatusCode::CONFLICT, "version_conflict", message).into_response()
        }
        other => internal(other),
    }
}

async fn import(
    State(app): State<AppState>,
    admin: Admin,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
    body: Bytes,
) -> ApiResult {
    let params = crate::http::query::Params::parse(raw.as_deref(), &["prune"])?;
    let prune = params.choice("prune", &["true", "false"])?.as_deref() == Some("true");
    let text = std::str::from_utf8(&body).map_err(|_| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
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
