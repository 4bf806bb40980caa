//! Customers' media (image, document, audio, video): fetched from the Graph media endpoint
//! with the tenant's token by one worker (a slow download never holds up messages), capped at
//! [`MAX_MEDIA_BYTES`], and kept with the session under the transcript retention. The agent
//! gets a link in the customer's message, `GET /api/whatsapp/media/{id}`: the id is random
//! (128 bits) and the file goes when the session's transcript does. A file is served as a
//! download (inline only for images) with `nosniff` and a sandboxing CSP, so a hostile file
//! cannot run in Switchboard's origin.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::app::AppState;
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
            let result = match token {
                Some(token) => {
                    tokio::select! {
                        () = shutdown.cancelled() => return Ok(()),
                        r = app.whatsapp_cloud.media(&token, &row.media_id, MAX_MEDIA_BYTES) => r,
                    }
                }
                None => Err("the tenant has no WhatsApp access token".to_owned()),
            };
            if let Err(why) = &result {
                tracing::warn!(session.id = %row.session_id, reason = %why, "WhatsApp media not fetched");
            }
            wa_store::media_fetched(&app.pool, &row.id, result).await?;
        }
    }
}

/// Types a browser may show inline; everything else is a download.
/// `GET /api/whatsapp/media/{id}`
pub(super) async fn serve(State(app): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let not_found = || Refused::new(StatusCode::NOT_FOUND, "not_found", "no such file");
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(not_found());
    }
    let Some(row) = wa_store::media(&app.pool, &id).await? else {
        return Err(not_found());
    };
    match (row.state.as_str(), row.bytes) {
        ("stored", Some(bytes)) => Ok(crate::http::files::stored_file(
            bytes,
            row.mime_type.as_deref(),
            row.filename.as_deref().unwrap_or(&row.kind),
        )),
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
