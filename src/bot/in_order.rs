//! Agents' messages carried out after the answer, in order per conversation.
//!
//! Fetching a file an agent attached can take as long as Teams' host takes (20 s with a slow
//! one), and Teams re-sends an activity it got no answer to within 15 s. So a message with a
//! file is stored here and answered at once; it is carried out in the background. Whatever the
//! agent sends in that conversation while it waits (a text right after the file, an edit)
//! queues behind it, so nothing overtakes the file; once the queue is empty, messages are
//! carried out while answering again. If the fetch fails, the agent is told, as before.
//!
//! The queue is in the store (`bot_queued_activities`) from the answer until each message is
//! carried out, and resumed at start ([`resume`]): a restart loses nothing. It is ordered per
//! conversation within one instance; a message another instance takes meanwhile is not held
//! behind this instance's queue.
//!
//! Each conversation with queued messages has one task, which carries them out one at a time
//! and ends when its queue is empty. It takes no new message once the service is stopping;
//! those left are resumed at the next start.

use anyhow::Context;

use crate::app::{App, AppState};
use crate::botframework::activity::{Activity, InboundActivity};
use crate::botframework::connector::ConnectorCall;
use crate::botframework::in_order::Queued;
use crate::store::AsPool;

/// Whether an agent's message (or edit, or deletion) is carried out after the answer: it
/// brings a file to fetch, or its conversation has messages queued already.
pub fn wanted(app: &App, inbound: &InboundActivity) -> bool {
    let has_file = inbound.activity.kind == "message"
        && inbound
            .activity
            .attachments
            .iter()
            .flatten()
            .any(|a| a.content_type == super::files::DOWNLOAD_INFO);
    has_file || app.in_order.is_busy(&inbound.conversation_id)
}

/// Stores `inbound` and queues it behind its conversation's messages.
pub async fn enqueue(app: &AppState, inbound: &InboundActivity) -> anyhow::Result<()> {
    let activity = serde_json::to_string(&inbound.activity)?;
    let now = app.clock.now_ms();
    let row: i64 = crate::db!(app.pool.on(), |c| {
        sqlx::query_scalar(
            "INSERT INTO bot_queued_activities (conversation_id, activity, queued_at)
             VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(&inbound.conversation_id)
        .bind(&activity)
        .bind(now)
        .fetch_one(c)
        .await
    })
    .context("queueing an agent's message")?;
    tracing::debug!(
        activity.kind = %inbound.activity.kind,
        queued.row = row,
        "agent message queued"
    );
    push(
        app,
        Queued {
            row,
            inbound: inbound.clone(),
        },
    );
    Ok(())
}

/// Queues a message; starts its conversation's task when there is none.
fn push(app: &AppState, queued: Queued) {
    let conversation = queued.inbound.conversation_id.clone();
    if app.in_order.push(queued) {
        tokio::spawn(drain(app.clone(), conversation));
    }
}

/// Queues again the messages stored before the last stop, oldest first.
pub async fn resume(app: &AppState) -> anyhow::Result<usize> {
    let rows: Vec<(i64, String)> = crate::db!(app.pool.on(), |c| {
        sqlx::query_as("SELECT id, activity FROM bot_queued_activities ORDER BY id")
            .fetch_all(c)
            .await
    })
    .context("reading the queued agent messages")?;
    let mut resumed = 0;
    for (row, json) in rows {
        let inbound = serde_json::from_str::<Activity>(&json)
            .ok()
            .and_then(|a| InboundActivity::validate(a).ok());
        match inbound {
            Some(inbound) => {
                push(app, Queued { row, inbound });
                resumed += 1;
            }
            None => {
                // Only what `enqueue` wrote is stored; a row that does not read back is dropped.
                tracing::error!(
                    queued.row = row,
                    "a queued agent message does not read back"
                );
                forget(&app.pool, row).await?;
            }
        }
    }
    Ok(resumed)
}

/// Carries out the messages of `conversation` one at a time until none is left.
async fn drain(app: AppState, conversation: String) {
    loop {
        if app.stopping.is_cancelled() {
            app.in_order.close(&conversation);
            return;
        }
        let Some(queued) = app.in_order.next(&conversation) else {
            return;
        };
        let outcome = super::queued(&app, &queued.inbound).await;
        if let Err(e) = outcome {
            if app.stopping.is_cancelled() {
                // Cut short by the stop: carried out again at the next start.
                app.in_order.close(&conversation);
                return;
            }
            tracing::error!(
                activity.kind = %queued.inbound.activity.kind,
                error = format!("{e:#}"),
                "carrying out a queued agent message failed"
            );
            tell_failed(&app, &queued.inbound).await;
        }
        if let Err(e) = forget(&app.pool, queued.row).await {
            tracing::error!(error = %e, queued.row = queued.row, "removing a queued agent message failed");
        }
    }
}

/// The agent is told a message of theirs may not have reached the customer.
async fn tell_failed(app: &App, inbound: &InboundActivity) {
    let call = ConnectorCall::Send {
        conversation_id: inbound.conversation_id.clone(),
        activity: Activity::message(
            "Switchboard could not carry out a message you sent here: check what the customer \
             received, and send it again if it is missing.",
        ),
    };
    if let Err(e) = app.outbox.send(&inbound.service_url, &call).await {
        tracing::error!(
            error = format!("{e:#}"),
            "telling an agent a message failed failed"
        );
    }
}

async fn forget(pool: &(impl AsPool + ?Sized), row: i64) -> sqlx::Result<()> {
    crate::db!(pool.on(), |c| {
        sqlx::query("DELETE FROM bot_queued_activities WHERE id = $1")
            .bind(row)
            .execute(c)
            .await?;
    });
    Ok(())
}
