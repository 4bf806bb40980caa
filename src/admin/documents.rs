//! Services, users, workflows and calendars as versioned documents: list, create, read,
//! replace (If-Match), delete; workflow validation; the Interact snippet of a service.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::{conflict, if_match, invalid, not_found, parse_body, refusal, with_etag};
use crate::app::{App, AppState};
use crate::directory::document::{DocKind, check, workflow_problems};
use crate::directory::model::{Service, User};
use crate::directory::store::{self as docs, Kind, PublicId, StoreError, Versioned};
use crate::engine::sync::{Scope, sync};
use crate::http::extract::Admin;
use crate::http::problem::{ApiResult, Problem, Refused, internal, problem_with};
use crate::workflow::{self, Channel};

/// The document kind a path segment names; 404 `not_found` for any other segment.
pub(super) fn doc_kind(segment: &str) -> Result<DocKind, Refused> {
    DocKind::parse(segment).ok_or_else(|| {
        Problem::new(StatusCode::NOT_FOUND, "not_found", None)
            .into_response()
            .into()
    })
}

/// Checks a document of `kind` for tenant storage; returns its id and the value to store.
/// A service's workflow is looked up in the store.
pub(super) async fn check_document(
    app: &App,
    tenant: &str,
    kind: DocKind,
    doc: Value,
) -> Result<(String, Value), Refused> {
    let workflow = match (kind, doc.get("workflow").and_then(Value::as_str)) {
        (DocKind::Service, Some(id)) => docs::get::<Value>(&app.pool, tenant, Kind::Workflow, id)
            .await?
            .map(|d| d.value),
        _ => None,
    };
    // Only workflows (and the workflow a service is given) name services.
    let services = match kind {
        DocKind::Service | DocKind::Workflow | DocKind::CannedAnswer => {
            service_names(app, tenant).await?
        }
        DocKind::User | DocKind::Calendar => workflow::ServiceNames::default(),
    };
    let (id, value) =
        check(kind, doc, workflow.as_ref(), &services).map_err(|p| Refused::from(refusal(p)))?;
    // Checked here for a refusal that names the holder; the database's unique indexes close
    // the race between two writers (`conflict` answers `StoreError::Claimed` the same way).
    let kind_name = kind.kind().name();
    for public in [PublicId::ContactId, PublicId::WhatsAppNumber] {
        let Some(held) = value.pointer(public.pointer()).and_then(Value::as_str) else {
            continue;
        };
        let taken =
            crate::directory::contacts::taken(&app.pool, tenant, public, held, |k, owner| {
                k == kind_name && owner == id
            })
            .await?;
        if let Some(who) = taken {
            return Err(Refused::new(
                StatusCode::CONFLICT,
                public.code(),
                &format!("{public} {held} is already taken by {who}"),
            ));
        }
    }
    Ok((id, value))
}

/// The tenant's services as a workflow's `Transfer` may name them.
pub(super) async fn service_names(
    app: &App,
    tenant: &str,
) -> Result<workflow::ServiceNames, Refused> {
    let services = docs::list::<Service>(&app.pool, tenant, Kind::Service).await?;
    Ok(workflow::ServiceNames::new(
        services
            .iter()
            .map(|d| (d.value.id.as_str(), d.value.name.as_str())),
    ))
}

pub(super) async fn list_documents(
    State(app): State<AppState>,
    admin: Admin,
    Path((_, kind)): Path<(String, String)>,
) -> ApiResult {
    let kind = doc_kind(&kind)?;
    let items: Vec<Value> = docs::list::<Value>(&app.pool, &admin.tenant, kind.kind())
        .await?
        .into_iter()
        .map(|Versioned { value, version }| json!({"version": version, "document": value}))
        .collect();
    Ok(axum::Json(json!({ "items": items })).into_response())
}

pub(super) async fn create_document(
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
        Err(e) => return Err(conflict(e).into()),
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

pub(super) async fn get_document(
    State(app): State<AppState>,
    admin: Admin,
    Path((_, kind, id)): Path<(String, String, String)>,
) -> ApiResult {
    let kind = doc_kind(&kind)?;
    let doc = docs::get::<Value>(&app.pool, &admin.tenant, kind.kind(), &id)
        .await?
        .ok_or_else(|| not_found(kind.name(), &id))?;
    Ok(with_etag(StatusCode::OK, doc.version, doc.value))
}

pub(super) async fn replace_document(
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
        .await?
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

pub(super) async fn delete_document(
    State(app): State<AppState>,
    admin: Admin,
    Path((_, kind, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> ApiResult {
    let kind = doc_kind(&kind)?;
    let version = if_match(&headers)?;
    if matches!(kind, DocKind::Workflow | DocKind::Calendar) {
        let users: Vec<String> = docs::list::<Service>(&app.pool, &admin.tenant, Kind::Service)
            .await?
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
pub(super) struct ValidateQuery {
    channel: Option<String>,
}

pub(super) async fn validate_workflow(
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

pub(super) async fn snippet(
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
    }?
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
