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
use tokio_util::sync::CancellationToken;

use crate::app::{App, AppState};
use crate::clock::rfc3339;
use crate::customer::store::CustomerEvent;
use crate::http::extract::Admin;
use crate::http::problem::ApiResult;
use crate::http::problem::Problem;
use crate::store::{AsConn, AsPool, On, Pool};

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
    let found: Option<(i64, String)> = crate::db!(app.pool.on(), |c| {
        sqlx::query_as(
            "SELECT created_at, state FROM interact_sessions WHERE session_id = $1 AND tenant_id = $2",
        )
        .bind(&session)
        .bind(&admin.tenant)
        .fetch_optional(c)
        .await
    })?;
    let Some((created_at, state)) = found else {
        let reported = crate::db!(app.pool.on(), |c| {
            sqlx::query(
                "SELECT 1 AS x FROM report_sessions WHERE tenant_id = $1 AND session_id = $2",
            )
            .bind(&admin.tenant)
            .bind(&session)
            .fetch_optional(c)
            .await
            .map(|found| found.is_some())
        })?;
        return Err(if reported {
            Problem::new(
                StatusCode::GONE,
                "transcript_deleted",
                format!(
                    "the transcript of session {session:?} was deleted after {} days (reporting.transcript_retention_days)",
                    app.settings.reporting.transcript_retention.as_secs() / 86_400
                ),
            )
        } else {
            Problem::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("there is no session {session:?}"),
            )
        }
        .into_response()
        .into());
    };
    let rows: Vec<(i64, String, i64)> = crate::db!(app.pool.on(), |c| {
        sqlx::query_as(
            "SELECT seq, event, created_at FROM interact_events WHERE session_id = $1 ORDER BY seq",
        )
        .bind(&session)
        .fetch_all(c)
        .await
    })?;
    let whatsapp = crate::store::whatsapp::session(&app.pool, &session).await?;
    let statuses: std::collections::HashMap<i64, String> = match &whatsapp {
        Some(_) => crate::store::whatsapp::statuses_of(&app.pool, &session)
            .await?
            .into_iter()
            .collect(),
        None => std::collections::HashMap::new(),
    };
    let mut lines = Vec::new();
    for (seq, event, at) in rows {
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
    // Entries of the same millisecond in the order they were written: SQLite's rowid. The
    // PostgreSQL table has no such key yet, so there they come in `at` order only.
    let sql = app.pool.on().pick(
        "SELECT user_id, action, at FROM supervision_log WHERE tenant_id = $1 AND session_id = $2 ORDER BY at, rowid",
        "SELECT user_id, action, at FROM supervision_log WHERE tenant_id = $1 AND session_id = $2 ORDER BY at",
    );
    let supervision: Vec<serde_json::Value> = crate::db!(app.pool.on(), |c| {
        sqlx::query_as::<_, (String, String, i64)>(sql)
            .bind(&admin.tenant)
            .bind(&session)
            .fetch_all(c)
            .await
    })?
    .into_iter()
    .map(|(user, action, at)| json!({"user": user, "action": action, "at": rfc3339(at)}))
    .collect();
    tracing::info!(tenant.id = %admin.tenant, key.id = %admin.key_id, session.id = %session, "admin read a transcript");
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
    loop {
        let mut tx = crate::store::begin_write(pool).await?;
        let n = purge_batch(&mut tx, before).await?;
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
        *count = crate::db!(pool.on(), |c| {
            sqlx::query(sql)
                .bind(before)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
    }
    [
        purged.invitations,
        purged.chatrooms,
        purged.offline_messages,
    ] = counts;
    // Statuses of messages whose session is unknown (a status for a message never recorded).
    crate::db!(pool.on(), |c| {
        sqlx::query("DELETE FROM whatsapp_outbound WHERE session_id IS NULL AND updated_at < $1")
            .bind(before)
            .execute(c)
            .await
            .map(|_| ())
    })?;

    purged.effects = crate::engine::effects::purge_settled(pool, before).await?;
    Ok(purged)
}

/// The tables that hold what customers wrote, by session (`interact_sessions` goes last).
const SESSION_TABLES: [&str; 11] = [
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
];

/// Deletes, inside `tx`, what customers wrote in at most [`BATCH`] sessions that ended before
/// `before`, and those sessions; returns how many sessions.
async fn purge_batch(tx: &mut (impl AsConn + ?Sized), before: i64) -> sqlx::Result<u64> {
    match tx.conn() {
        // The transaction holds the write lock from its start (`begin_write`): no other
        // writer comes in between, so each statement finds the same sessions.
        On::Sqlite(c) => {
            let ended = "SELECT session_id FROM interact_sessions
                         WHERE state = 'ended' AND last_activity_at < $1 LIMIT $2";
            for table in SESSION_TABLES {
                sqlx::query(&format!(
                    "DELETE FROM {table} WHERE session_id IN ({ended})"
                ))
                .bind(before)
                .bind(BATCH)
                .execute(&mut *c)
                .await?;
            }
            // The rating stays for the KPIs; the customer's words go.
            sqlx::query(&format!(
                "UPDATE session_surveys SET comment = NULL WHERE session_id IN ({ended})"
            ))
            .bind(before)
            .bind(BATCH)
            .execute(&mut *c)
            .await?;
            Ok(sqlx::query(&format!(
                "DELETE FROM interact_sessions WHERE session_id IN ({ended})"
            ))
            .bind(before)
            .bind(BATCH)
            .execute(&mut *c)
            .await?
            .rows_affected())
        }
        // Read committed: each statement would see the sessions committed before it, so the
        // sessions are chosen once and every statement deletes by that list.
        On::Postgres(c) => {
            let ended: Vec<String> = sqlx::query_scalar(
                "SELECT session_id FROM interact_sessions
                 WHERE state = 'ended' AND last_activity_at < $1 ORDER BY session_id LIMIT $2",
            )
            .bind(before)
            .bind(BATCH)
            .fetch_all(&mut *c)
            .await?;
            if ended.is_empty() {
                return Ok(0);
            }
            for table in SESSION_TABLES {
                sqlx::query(&format!("DELETE FROM {table} WHERE session_id = ANY($1)"))
                    .bind(&ended)
                    .execute(&mut *c)
                    .await?;
            }
            // The rating stays for the KPIs; the customer's words go.
            sqlx::query("UPDATE session_surveys SET comment = NULL WHERE session_id = ANY($1)")
                .bind(&ended)
                .execute(&mut *c)
                .await?;
            Ok(
                sqlx::query("DELETE FROM interact_sessions WHERE session_id = ANY($1)")
                    .bind(&ended)
                    .execute(&mut *c)
                    .await?
                    .rows_affected(),
            )
        }
    }
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
