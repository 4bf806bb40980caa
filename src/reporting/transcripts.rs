//! Transcripts of sessions for the tenant's admins, and their retention: what customers wrote
//! is deleted `reporting.transcript_retention_days` after their session ended — the
//! transcript, the cards and chatroom records that quote the customer, and settled engine
//! effects. The reporting facts (ids, times, outcomes) stay.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Serialize;
use serde_json::json;
use sqlx::Row;
use tokio_util::sync::CancellationToken;

use crate::app::{App, AppState};
use crate::clock::rfc3339;
use crate::customer::store::CustomerEvent;
use crate::http::extract::Admin;
use crate::http::problem::Problem;
use crate::http::problem::{ApiResult, internal};
use crate::store::Pool;

/// One line of a transcript.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Line {
    pub seq: i64,
    pub at: String,
    /// `customer`, `agent` or `service` (the workflow).
    pub from: String,
    /// The agent's display name, on agent lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub text: String,
    /// `notDelivered` on a customer's message Teams refused for good (the customer was told);
    /// WhatsApp: the delivery status of a message to the customer (`accepted`, `sent`,
    /// `delivered`, `read`, `failed`; `notSent` when it never left).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// An agent's message they edited later: what it said first (`text` is the last version).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_text: Option<String>,
    /// When the agent deleted the message (kept in the transcript, marked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
}

/// `GET /tenants/{tenant}/sessions/{session}/transcript`
pub async fn transcript(
    State(app): State<AppState>,
    admin: Admin,
    Path((_, session)): Path<(String, String)>,
) -> ApiResult {
    let found = sqlx::query(
        "SELECT created_at, state FROM interact_sessions WHERE session_id = $1 AND tenant_id = $2",
    )
    .bind(&session)
    .bind(&admin.tenant)
    .fetch_optional(&app.pool)
    .await
    .map_err(internal)?;
    let Some(found) = found else {
        let reported = sqlx::query(
            "SELECT 1 AS x FROM report_sessions WHERE tenant_id = $1 AND session_id = $2",
        )
        .bind(&admin.tenant)
        .bind(&session)
        .fetch_optional(&app.pool)
        .await
        .map_err(internal)?;
        return Err(match reported {
            Some(_) => Problem::new(
                StatusCode::GONE,
                "transcript_deleted",
                format!(
                    "the transcript of session {session:?} was deleted after {} days (reporting.transcript_retention_days)",
                    app.settings.reporting.transcript_retention.as_secs() / 86_400
                ),
            ),
            None => Problem::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("there is no session {session:?}"),
            ),
        }
        .into_response()
        .into());
    };
    let rows = sqlx::query(
        "SELECT seq, event, created_at FROM interact_events WHERE session_id = $1 ORDER BY seq",
    )
    .bind(&session)
    .fetch_all(&app.pool)
    .await
    .map_err(internal)?;
    let whatsapp = crate::store::whatsapp::session(&app.pool, &session)
        .await
        .map_err(internal)?;
    let statuses: std::collections::HashMap<i64, String> = match &whatsapp {
        Some(_) => crate::store::whatsapp::statuses_of(&app.pool, &session)
            .await
            .map_err(internal)?
            .into_iter()
            .collect(),
        None => std::collections::HashMap::new(),
    };
    let mut lines = Vec::new();
    for r in rows {
        let seq: i64 = r.try_get("seq").map_err(internal)?;
        let at: i64 = r.try_get("created_at").map_err(internal)?;
        let event: String = r.try_get("event").map_err(internal)?;
        let line = |from: &str, name: Option<String>, text: String| Line {
            seq,
            at: rfc3339(at),
            from: from.to_owned(),
            name,
            text,
            status: match (&whatsapp, from) {
                (Some(_), "agent" | "service") => Some(
                    statuses
                        .get(&seq)
                        .cloned()
                        .unwrap_or_else(|| "notSent".to_owned()),
                ),
                _ => None,
            },
            original_text: None,
            deleted_at: None,
        };
        match serde_json::from_str::<CustomerEvent>(&event) {
            Ok(CustomerEvent::CustomerMessage { text, .. }) => {
                lines.push(line("customer", None, text));
            }
            Ok(CustomerEvent::MessageEdited { seq: of, text, .. }) => {
                if let Some(edited) = lines.iter_mut().find(|l: &&mut Line| l.seq == of) {
                    let first = std::mem::replace(&mut edited.text, text);
                    edited.original_text.get_or_insert(first);
                }
            }
            Ok(CustomerEvent::Undelivered { seq: of }) => {
                if let Some(lost) = lines.iter_mut().find(|l: &&mut Line| l.seq == of) {
                    lost.status = Some("notDelivered".to_owned());
                }
            }
            Ok(CustomerEvent::MessageDeleted { seq: of }) => {
                if let Some(deleted) = lines.iter_mut().find(|l: &&mut Line| l.seq == of) {
                    deleted.deleted_at = Some(rfc3339(at));
                }
            }
            Ok(CustomerEvent::Message {
                from, text, name, ..
            }) => {
                let from = if from == "agent" { "agent" } else { "service" };
                lines.push(line(from, name, text));
            }
            Ok(CustomerEvent::Prompt { text, .. }) => lines.push(line("service", None, text)),
            Ok(CustomerEvent::Template { text, agent, .. }) => {
                lines.push(line("agent", agent, text));
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(session.id = %session, seq, error = %e, "unreadable customer event left out of a transcript");
            }
        }
    }
    let supervision: Vec<serde_json::Value> = sqlx::query_as::<_, (String, String, i64)>(
        "SELECT user_id, action, at FROM supervision_log WHERE tenant_id = $1 AND session_id = $2 ORDER BY at, rowid",
    )
    .bind(&admin.tenant)
    .bind(&session)
    .fetch_all(&app.pool)
    .await
    .map_err(internal)?
    .into_iter()
    .map(|(user, action, at)| json!({"user": user, "action": action, "at": rfc3339(at)}))
    .collect();
    tracing::info!(tenant.id = %admin.tenant, key.id = %admin.key_id, session.id = %session, "admin read a transcript");
    let created_at: i64 = found.try_get("created_at").map_err(internal)?;
    let state: String = found.try_get("state").map_err(internal)?;
    Ok(axum::Json(json!({
        "sessionId": session,
        "startedAt": rfc3339(created_at),
        "state": state,
        "channel": if whatsapp.is_some() { "whatsapp" } else { "interact" },
        "lines": lines,
        "supervision": supervision,
    }))
    .into_response())
}

/// Sessions handled per purge transaction, so that the store is never locked for long.
const BATCH: i64 = 500;

/// What one purge deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    pub sessions: u64,
    pub invitations: u64,
    pub chatrooms: u64,
    pub offline_messages: u64,
    pub effects: u64,
}

/// Deletes what customers wrote in sessions that ended before `before` (Unix ms).
pub async fn purge(pool: &Pool, before: i64) -> sqlx::Result<Purged> {
    let mut purged = Purged::default();
    // Every statement writes, so each transaction takes the write lock at once (a read first
    // could not be upgraded while another writer is in).
    let ended = "SELECT session_id FROM interact_sessions
                 WHERE state = 'ended' AND last_activity_at < $1 LIMIT $2";
    loop {
        let mut tx = pool.begin().await?;
        for table in [
            "interact_events",
            "interact_messages",
            "interact_files",
            "agent_messages",
            "agent_reads",
            "chat_monitors",
            "chat_barge_ins",
            "supervision_log",
            "whatsapp_outbound",
            "whatsapp_media",
            "whatsapp_sessions",
        ] {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE session_id IN ({ended})"
            ))
            .bind(before)
            .bind(BATCH)
            .execute(&mut *tx)
            .await?;
        }
        // The rating stays for the KPIs; the customer's words go.
        sqlx::query(&format!(
            "UPDATE session_surveys SET comment = NULL WHERE session_id IN ({ended})"
        ))
        .bind(before)
        .bind(BATCH)
        .execute(&mut *tx)
        .await?;
        let n = sqlx::query(&format!(
            "DELETE FROM interact_sessions WHERE session_id IN ({ended})"
        ))
        .bind(before)
        .bind(BATCH)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        purged.sessions += n;
        if n < BATCH as u64 {
            break;
        }
    }
    // Card data and chatroom records quote the customer; settled effects carry their text;
    // messages left while nobody was available are the customer's words too.
    let mut counts = [0u64; 3];
    for (count, sql) in counts.iter_mut().zip([
        "DELETE FROM teams_invitations WHERE outcome IS NOT NULL AND created_at < $1",
        "DELETE FROM chatrooms WHERE closed_at IS NOT NULL AND closed_at < $1",
        "DELETE FROM offline_messages WHERE created_at < $1",
    ]) {
        *count = sqlx::query(sql)
            .bind(before)
            .execute(pool)
            .await?
            .rows_affected();
    }
    [
        purged.invitations,
        purged.chatrooms,
        purged.offline_messages,
    ] = counts;
    // Statuses of messages whose session is unknown (a status for a message never recorded).
    sqlx::query("DELETE FROM whatsapp_outbound WHERE session_id IS NULL AND updated_at < $1")
        .bind(before)
        .execute(pool)
        .await?;

    purged.effects = crate::store::effects::purge_settled(pool, before).await?;
    Ok(purged)
}

/// How often the retention purge runs.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Runs [`purge`] at start and then every hour until `stop`.
pub async fn run_retention(app: AppState, stop: CancellationToken) {
    loop {
        purge_now(&app).await;
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(PURGE_EVERY) => {}
        }
    }
}

/// [`purge`] of what is older than `reporting.transcript_retention_days`.
pub async fn purge_expired(app: &App) -> sqlx::Result<Purged> {
    let keep =
        i64::try_from(app.settings.reporting.transcript_retention.as_millis()).unwrap_or(i64::MAX);
    crate::store::whatsapp::purge_handled(&app.pool, app.clock.now_ms()).await?;
    purge(&app.pool, app.clock.now_ms().saturating_sub(keep)).await
}

async fn purge_now(app: &App) {
    match purge_expired(app).await {
        Ok(p) if p == Purged::default() => {}
        Ok(p) => tracing::info!(
            purged.sessions = p.sessions,
            purged.invitations = p.invitations,
            purged.chatrooms = p.chatrooms,
            purged.offline_messages = p.offline_messages,
            purged.effects = p.effects,
            "transcripts past their retention deleted"
        ),
        Err(e) => tracing::error!(error = %e, "transcript retention purge failed"),
    }
}
