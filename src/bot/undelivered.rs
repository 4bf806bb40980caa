//! Teams calls the outbox gave up on reach someone: nothing fails silently.
//!
//! - **A customer's message** that could not be posted into the agent's chat: the customer's
//!   widget marks it "not delivered", with Retry (an `undelivered` event naming its seq; on
//!   WhatsApp, a line asking to send it again); the agent gets a notice in the chat with what
//!   was lost, for when the chat itself is reachable again; the transcript marks the line, and
//!   `/metrics` counts them (`switchboard_customer_messages_undelivered`).
//! - **An invitation** that could not be posted: withdrawn at once (declined on the agent's
//!   behalf), so the task goes to the next agent rather than ringing out unseen.
//!
//! The outbox hands over each given-up call once its outcome is stored
//! ([`crate::outbox::Outbox::take_given_up`]); at start the calls given up
//! while nobody listened (a crash between the two) are found in the store.

use sqlx::Row;
use tokio_util::sync::CancellationToken;

use crate::app::AppState;
use crate::botframework::service_url::ServiceUrl;
use crate::customer::store::{self as customer_store, CustomerEvent};
use crate::engine::messages::Command;
use crate::store::AsPool;

use super::teams_worker::{notice, send};

/// `agent_reads.read` of a customer message whose post was given up and told.
const TOLD: i64 = 2;
/// How far back the start looks for invitations given up while nobody listened.
const INVITATIONS_WITHIN_MS: i64 = 3_600_000;

/// Runs until `shutdown`.
pub async fn run(app: AppState, shutdown: CancellationToken) {
    let Some(mut given_up) = app.outbox.take_given_up() else {
        return;
    };
    match missed(&app).await {
        Ok(ids) => {
            for id in ids {
                handle(&app, id).await;
            }
        }
        Err(e) => tracing::error!(
            error = format!("{e:#}"),
            "finding undelivered Teams calls failed"
        ),
    }
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            id = given_up.recv() => match id {
                Some(id) => handle(&app, id).await,
                None => return,
            },
        }
    }
}

/// Calls given up that nobody was told about yet.
async fn missed(app: &AppState) -> anyhow::Result<Vec<i64>> {
    let since = app.clock.now_ms() - INVITATIONS_WITHIN_MS;
    Ok(crate::db!(app.pool.on(), |c| {
        sqlx::query(
            "SELECT r.outbox_id AS id FROM agent_reads r JOIN outbox o ON o.id = r.outbox_id
             WHERE o.state = 'failed' AND r.read = 0
             UNION
             SELECT i.outbox_id AS id FROM teams_invitations i JOIN outbox o ON o.id = i.outbox_id
             WHERE o.state = 'failed' AND i.created_at >= $1
             ORDER BY id",
        )
        .bind(since)
        .fetch_all(c)
        .await?
        .into_iter()
        .filter_map(|r| r.try_get::<i64, _>("id").ok())
        .collect()
    }))
}

async fn handle(app: &AppState, id: i64) {
    if let Err(e) = customer_message(app, id).await {
        tracing::error!(
            outbox.id = id,
            error = format!("{e:#}"),
            "telling of an undelivered customer message failed"
        );
    }
    if let Err(e) = invitation(app, id).await {
        tracing::error!(
            outbox.id = id,
            error = format!("{e:#}"),
            "withdrawing an undelivered invitation failed"
        );
    }
}

/// The customer message call `id` posted, if it was one: the customer and the agent are told.
async fn customer_message(app: &AppState, id: i64) -> anyhow::Result<()> {
    let told: Option<(String, String, i64)> = crate::db!(app.pool.on(), |c| {
        sqlx::query_as(
            "UPDATE agent_reads SET read = $2 WHERE outbox_id = $1 AND read <> $2
             RETURNING conversation_id, session_id, seq",
        )
        .bind(id)
        .bind(TOLD)
        .fetch_optional(c)
        .await
    })?;
    let Some((conversation, session, seq)) = told else {
        return Ok(());
    };
    tracing::warn!(session.id = %session, seq, outbox.id = id, "a customer message could not be posted to Teams; the customer and the agent are told");
    let now = app.clock.now_ms();
    if customer_store::append_unless_ended(
        &app.pool,
        &session,
        &CustomerEvent::Undelivered { seq },
        now,
    )
    .await?
    .is_some()
    {
        app.events.notify(&session);
    }
    // The agent: a notice in the chat, with what was lost (for when the chat is reachable).
    let Some(room) = super::store::chatroom_of(&app.pool, &session).await? else {
        return Ok(());
    };
    if room.conversation_id != conversation || room.closed_at.is_some() {
        return Ok(());
    }
    let event: Option<String> = crate::db!(app.pool.on(), |c| {
        sqlx::query_scalar("SELECT event FROM interact_events WHERE session_id = $1 AND seq = $2")
            .bind(&session)
            .bind(seq)
            .fetch_optional(c)
            .await
    })?;
    let text = event.and_then(|event| match serde_json::from_str(&event).ok()? {
        CustomerEvent::CustomerMessage { text, .. } => Some(text),
        _ => None,
    });
    let customer = &room.brief.customer.display_name;
    let said = match text {
        Some(text) => format!(
            "A message from {customer} did not reach this chat (Teams refused it); they were told it was not delivered. It said: {text}"
        ),
        None => format!(
            "A message from {customer} did not reach this chat (Teams refused it); they were told it was not delivered."
        ),
    };
    app.outbox
        .send(
            &ServiceUrl::parse(&room.service_url)?,
            &send(&room.conversation_id, notice(&said)),
        )
        .await?;
    Ok(())
}

/// The invitation call `id` posted, if it was one: withdrawn, so the next agent gets the task.
async fn invitation(app: &AppState, id: i64) -> anyhow::Result<()> {
    let found: Option<(String, i64, String, String)> = crate::db!(app.pool.on(), |c| {
        sqlx::query_as(
            "SELECT tenant_id, offer_id, user_id, session_id FROM teams_invitations WHERE outbox_id = $1",
        )
        .bind(id)
        .fetch_optional(c)
        .await
    })?;
    let Some((tenant, offer, user, session)) = found else {
        return Ok(());
    };
    tracing::warn!(tenant.id = %tenant, session.id = %session, user.id = %user, offer, "an invitation could not be posted to Teams; it is withdrawn and the chat offered to the next agent");
    app.engines
        .get(&tenant)
        .await?
        .send(Command::Decline {
            offer: u64::try_from(offer)?,
            user,
        })
        .await?;
    Ok(())
}
