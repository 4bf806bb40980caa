//! Tenant settings: read with secrets masked, replaced with If-Match, secrets write-only.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::webhooks;
use super::{conflict, if_match, invalid, parse_body, with_etag};
use crate::app::{App, AppState};
use crate::directory::document::shape_problem;
use crate::directory::model::Tenant;
use crate::directory::store::{self as docs, Kind};
use crate::engine::messages::Command;
use crate::http::extract::Admin;
use crate::http::problem::{ApiResult, Refused, internal};

pub(super) async fn tenant_settings(app: &App, tenant: &str) -> Result<(Value, i64), Refused> {
    let stored = docs::get::<Tenant>(&app.pool, tenant, Kind::Tenant, tenant).await?;
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
    let granted = crate::store::consents::consent_of(&app.pool, tenant).await?;
    let mut conn = app.pool.acquire().await?;
    let endpoints = crate::webhooks::endpoints::list(&mut conn, tenant).await?;
    let whatsapp = crate::store::whatsapp::credentials(&mut conn, tenant).await?;
    let mut body = serde_json::to_value(settings).map_err(internal)?;
    // Secrets are write-only: endpoints are listed by id and URL, the WhatsApp token as set.
    body["webhooks"] = json!(endpoints);
    body["whatsapp"] = json!({
        "accessTokenSet": whatsapp.access_token.is_some(),
        "businessAccountId": whatsapp.business_account_id,
        "updatedAt": whatsapp.updated_at.and_then(chrono::DateTime::from_timestamp_millis),
    });
    body["permissions"] = json!({
        "grantedAt": granted.and_then(chrono::DateTime::from_timestamp_millis),
        // An admin of the tenant signs in here and presses "Grant permissions".
        "grantPermissionsUrl": app.preferences_url(),
    });
    Ok((body, version))
}

pub(super) async fn get_settings(State(app): State<AppState>, admin: Admin) -> ApiResult {
    let (body, version) = tenant_settings(&app, &admin.tenant).await?;
    Ok(with_etag(StatusCode::OK, version, body))
}

pub(super) async fn put_settings(
    State(app): State<AppState>,
    admin: Admin,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let version = if_match(&headers)?;
    let mut doc = parse_body(&body)?;
    let mut hooks = None;
    let mut whatsapp = None;
    if let Some(o) = doc.as_object_mut() {
        o.remove("permissions");
        // Absent: the endpoints stay as they are; a list replaces them.
        hooks = o.remove("webhooks");
        whatsapp = o.remove("whatsapp");
        o.insert("id".into(), json!(admin.tenant));
    }
    let tenant: Tenant =
        serde_json::from_value(doc).map_err(|e| invalid(vec![shape_problem(&e)]))?;
    let hooks = match hooks {
        None => None,
        Some(raw) => {
            let mut conn = app.pool.acquire().await?;
            let known = crate::webhooks::endpoints::list(&mut conn, &admin.tenant).await?;
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
    let whatsapp = match whatsapp {
        None => None,
        Some(raw) => {
            let mut conn = app.pool.acquire().await?;
            let stored = crate::store::whatsapp::credentials(&mut conn, &admin.tenant).await?;
            Some(whatsapp_credentials(&raw, stored).map_err(|p| invalid(vec![p]))?)
        }
    };
    let expected = (version > 0).then_some(version);
    let now = app.clock.now_ms();
    let mut tx = crate::store::begin_write(&app.pool).await?;
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
        let changes =
            crate::webhooks::endpoints::store(&mut tx, &admin.tenant, hooks, true, now).await?;
        tracing::info!(tenant.id = %admin.tenant, key.id = %admin.key_id,
            webhooks.created = changes.created.len(), webhooks.updated = changes.updated.len(),
            webhooks.deleted = changes.deleted.len(), "admin changed webhook endpoints");
    }
    if let Some(credentials) = &whatsapp {
        crate::store::whatsapp::set_credentials(&mut tx, &admin.tenant, credentials, now).await?;
        tracing::info!(tenant.id = %admin.tenant, key.id = %admin.key_id,
            whatsapp.token_set = credentials.access_token.is_some(), "admin changed WhatsApp credentials");
    }
    tx.commit().await?;
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

/// The tenant's WhatsApp credentials after a settings `whatsapp` object: `accessToken` (the
/// system user token; write-only) and `businessAccountId` (digits) each replace the stored one
/// when given, remove it when `null`, and leave it as it is when absent.
fn whatsapp_credentials(
    raw: &Value,
    mut stored: crate::store::whatsapp::Credentials,
) -> Result<crate::store::whatsapp::Credentials, Value> {
    use crate::directory::document::problem;
    let Some(object) = raw.as_object() else {
        return Err(problem(
            "/whatsapp",
            "invalid_shape",
            "whatsapp must be an object",
        ));
    };
    for key in object.keys() {
        if !matches!(
            key.as_str(),
            "accessToken" | "businessAccountId" | "accessTokenSet" | "updatedAt"
        ) {
            return Err(problem(
                &format!("/whatsapp/{key}"),
                "unknown_field",
                "whatsapp takes accessToken and businessAccountId",
            ));
        }
    }
    match object.get("accessToken") {
        None => {}
        Some(Value::Null) => stored.access_token = None,
        Some(Value::String(token))
            if (1..=4096).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            stored.access_token = Some(token.clone());
        }
        Some(_) => {
            return Err(problem(
                "/whatsapp/accessToken",
                "invalid_access_token",
                "accessToken must be 1 to 4096 visible ASCII characters, or null to remove it",
            ));
        }
    }
    match object.get("businessAccountId") {
        None => {}
        Some(Value::Null) => stored.business_account_id = None,
        Some(Value::String(id))
            if (1..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit()) =>
        {
            stored.business_account_id = Some(id.clone());
        }
        Some(_) => {
            return Err(problem(
                "/whatsapp/businessAccountId",
                "invalid_business_account_id",
                "businessAccountId must be 1 to 32 digits, or null to remove it",
            ));
        }
    }
    Ok(stored)
}
