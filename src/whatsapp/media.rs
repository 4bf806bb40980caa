//! Customers' media (image, document, audio, video): fetched from the Graph media endpoint
//! with the tenant's token by one worker (a slow download never holds up messages), capped at
//! [`MAX_MEDIA_BYTES`], kept only when it is a type the chats take (`interact.file_types`, the
//! bytes checked as for widget uploads) and fits the tenant's storage budget
//! (`interact.upload_tenant_max_bytes`), and kept with the session under the transcript
//! retention. The agent gets a link in the customer's message,
//! `GET /api/whatsapp/media/{id}`: the id is random (128 bits), the link works for
//! `interact.file_link_hours` after the message arrived (then 410 `link_expired`, as the
//! chats' other file links), and the file goes when the session's transcript does. A file is
//! served as a download (inline only for images) with `nosniff` and a sandboxing CSP, so a
//! hostile file cannot run in Switchboard's origin.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::app::AppState;
use crate::customer::files;
use crate::http::problem::{ApiResult, Refused};
use crate::store::whatsapp as wa_store;

/// The largest file kept (WhatsApp's own limit for images, audio and video is 16 MB).
pub const MAX_MEDIA_BYTES: usize = 16 * 1024 * 1024;

/// Runs until `shutdown`, woken when a message brought media.
pub async fn run(app: AppState, wake: Arc<Notify>, shutdown: CancellationToken) {
    loop {
        match fetch_pending(&app, &shutdown).await {
            Ok(()) => {}
            Err(e) => {
                tracing::error!(error = %e, "fetching WhatsApp media failed");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(5)) => continue,
                }
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = wake.notified() => {}
        }
    }
}

async fn fetch_pending(app: &AppState, shutdown: &CancellationToken) -> sqlx::Result<()> {
    loop {
        let pending = wa_store::pending_media(&app.pool, 16).await?;
        if pending.is_empty() {
            return Ok(());
        }
        for row in pending {
            if shutdown.is_cancelled() {
                return Ok(());
            }
            let mut conn = app.pool.acquire().await?;
            let token = wa_store::credentials(&mut conn, &row.tenant_id)
                .await?
                .access_token;
            drop(conn);
            let declared = row.mime_type.as_deref().map(files::essence);
            let result = match (token, declared.as_deref().map(|t| taken(app, t))) {
                // A type the chats do not take is not downloaded at all.
                (_, Some(Err(why))) => Err(why),
                (Some(token), _) => {
                    let fetched = tokio::select! {
                        () = shutdown.cancelled() => return Ok(()),
                        r = app.whatsapp_cloud.media(&token, &row.media_id, MAX_MEDIA_BYTES) => r,
                    };
                    match fetched {
                        Ok((bytes, mime)) => checked(app, &row, bytes, mime).await?,
                        Err(why) => Err(why),
                    }
                }
                (None, _) => Err("the tenant has no WhatsApp access token".to_owned()),
            };
            if let Err(why) = &result {
                tracing::warn!(session.id = %row.session_id, reason = %why, "WhatsApp media not fetched");
            }
            wa_store::media_fetched(&app.pool, &row.id, result).await?;
        }
    }
}

/// The checked type of `mime` when the chats take it (`interact.file_types`), or why not.
fn taken(app: &AppState, mime: &str) -> Result<&'static str, String> {
    app.settings
        .interact
        .file_types
        .iter()
        .copied()
        .find(|t| *t == mime)
        .ok_or_else(|| {
            let shown: String = mime
                .chars()
                .filter(|c| c.is_ascii_graphic())
                .take(60)
                .collect();
            format!("its type ({shown}) is not one this service takes")
        })
}

/// A downloaded file kept only if it is a type the chats take, its bytes are of that type and
/// it fits the tenant's storage budget: the bytes with their checked type, or why not.
async fn checked(
    app: &AppState,
    row: &wa_store::MediaRow,
    bytes: Vec<u8>,
    mime: Option<String>,
) -> sqlx::Result<Result<(Vec<u8>, Option<String>), String>> {
    let Some(mime) = mime.or_else(|| row.mime_type.clone()) else {
        return Ok(Err("WhatsApp gave no type for it".to_owned()));
    };
    let content_type = match taken(app, &files::essence(&mime)) {
        Ok(t) => t,
        Err(why) => return Ok(Err(why)),
    };
    if !files::looks_like(content_type, &bytes) {
        return Ok(Err(format!("its content is not a {content_type} file")));
    }
    let budget = files::Budget {
        session: u64::MAX,
        tenant: app.settings.interact.upload_tenant_max_bytes,
    };
    if files::usage(&app.pool, &row.tenant_id, None)
        .await?
        .fits(bytes.len() as u64, budget)
        .is_err()
    {
        tracing::warn!(tenant.id = %row.tenant_id, "the tenant's file storage budget is full");
        return Ok(Err("this service cannot store more files now".to_owned()));
    }
    Ok(Ok((bytes, Some(content_type.to_owned()))))
}

/// `GET /api/whatsapp/media/{id}`: the file, if it is (still) a type the chats take and its
/// bytes are of that type, downloaded under a name ending in that type's extension.
pub(super) async fn serve(State(app): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let not_found = || Refused::new(StatusCode::NOT_FOUND, "not_found", "no such file");
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(not_found());
    }
    let Some(created_at) = wa_store::media_created_at(&app.pool, &id).await? else {
        return Err(not_found());
    };
    // The same lifetime as every other file link in a chat.
    let valid_for = i64::try_from(app.settings.interact.file_link.as_millis()).unwrap_or(i64::MAX);
    if app.clock.now_ms().saturating_sub(created_at) > valid_for {
        return Err(Refused::new(
            StatusCode::GONE,
            "link_expired",
            "this link has expired: ask the customer to send the file again",
        ));
    }
    let Some(row) = wa_store::media(&app.pool, &id).await? else {
        return Err(not_found());
    };
    match (row.state.as_str(), row.bytes) {
        ("stored", Some(bytes)) => {
            // Kept before the type was checked, or before `interact.file_types` changed.
            let mime = files::essence(row.mime_type.as_deref().unwrap_or_default());
            let content_type = taken(&app, &mime)
                .ok()
                .filter(|t| files::looks_like(t, &bytes))
                .ok_or_else(|| {
                    Refused::new(
                        StatusCode::GONE,
                        "media_unavailable",
                        "the file's type is not one this service takes",
                    )
                })?;
            Ok(crate::http::files::stored_file(
                bytes,
                Some(content_type),
                row.filename.as_deref().unwrap_or(&row.kind),
            ))
        }
        ("failed", _) => Err(Refused::new(
            StatusCode::GONE,
            "media_unavailable",
            &format!(
                "the file could not be fetched from WhatsApp: {}",
                row.error.as_deref().unwrap_or("no reason given")
            ),
        )),
        _ => {
            let mut retry = axum::http::HeaderMap::new();
            retry.insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
            Err(Refused::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "media_pending",
                "the file is still being fetched from WhatsApp; try again in a moment",
            )
            .with(&retry))
        }
    }
}
