//! A supervisor who barged in from their personal chat (the fallback when Graph cannot add
//! them to the group chat): what they write there goes to the customer as from the service.
//! The owner keeps in memory the conversations that may hold a barge-in
//! ([`App::barge_in_conversations`]), so a message in any other costs no read.

use crate::app::App;
use crate::customer::store::{self as customer_store, CustomerEvent};
use crate::store::{AsConn, AsPool};

use super::agents::Actor;
use super::answer::Relayed;
use super::supervise::{display_name, mirror, still_supervises};

/// Reads the conversations with barge-ins into [`App::barge_in_conversations`], by the instance
/// that owns the tenants once it does (until then each message is looked up).
pub async fn load(app: &App) {
    let read = async {
        crate::db!(app.pool.on(), |c| {
            sqlx::query_scalar("SELECT DISTINCT conversation_id FROM chat_barge_ins")
                .fetch_all(c)
                .await
        })
    };
    app.barge_in_conversations
        .load("chat_barge_ins", read)
        .await;
}

/// A supervisor's personal chat after a barge-in in the personal-chat fallback: their text
/// goes to the customer as from the service (`None`: no barge-in here, or a `/` command).
pub async fn barged(
    app: &App,
    actor: &Actor,
    conversation: &str,
    text: &str,
) -> anyhow::Result<Option<Relayed>> {
    if text.starts_with('/')
        || text.is_empty()
        || !app.barge_in_conversations.may_hold(conversation)
    {
        return Ok(None);
    }
    // Asked for every message in a personal chat without a chatroom: on the read connection
    // kept for such hot reads, not through the pool.
    let session: Option<(String,)> = crate::db!(app.hot_reads.conn().await.conn(), |c| {
        sqlx::query_as(
            "SELECT session_id FROM chat_barge_ins WHERE conversation_id = $1 AND user_id = $2 AND tenant_id = $3
             ORDER BY at DESC LIMIT 1",
        )
        .bind(conversation)
        .bind(&actor.user_id)
        .bind(&actor.tenant)
        .fetch_optional(c)
        .await
    })?;
    let Some((session,)) = session else {
        return Ok(None);
    };
    let mut conn = app.hot_reads.conn().await;
    let sql = format!(
        "SELECT CAST(1 AS BIGINT) FROM chat_barge_ins s
         WHERE session_id = $1 AND user_id = $2 AND tenant_id = $3 AND {}",
        still_supervises(&conn.conn())
    );
    let allowed: Option<(i64,)> = crate::db!(conn.conn(), |c| {
        sqlx::query_as(&sql)
            .bind(&session)
            .bind(&actor.user_id)
            .bind(&actor.tenant)
            .fetch_optional(c)
            .await
    })?;
    drop(conn);
    if allowed.is_none() {
        // Their rights went after they barged in: the barge-in and the mirror end here.
        for table in ["chat_barge_ins", "chat_monitors"] {
            let sql = format!(
                "DELETE FROM {table} WHERE session_id = $1 AND user_id = $2 AND tenant_id = $3"
            );
            crate::db!(app.pool.on(), |c| {
                sqlx::query(&sql)
                    .bind(&session)
                    .bind(&actor.user_id)
                    .bind(&actor.tenant)
                    .execute(c)
                    .await?;
            });
        }
        tracing::info!(session.id = %session, "a barge-in ended: the user no longer supervises the chat's service");
        return Ok(Some(Relayed::Done(Some(
            "You no longer supervise this chat's service: nothing was sent, and you left the chat."
                .into(),
        ))));
    }
    let event = CustomerEvent::Message {
        from: "service".into(),
        text: text.chars().take(4000).collect(),
        name: None,
        html: None,
    };
    if customer_store::append_unless_ended(&app.pool, &session, &event, app.clock.now_ms())
        .await?
        .is_none()
    {
        return Ok(Some(Relayed::Done(Some(
            "This chat has ended: nothing was sent.".into(),
        ))));
    }
    app.events.notify(&session);
    let me = display_name(app, &actor.tenant, &actor.user_id).await?;
    mirror(app, &session, &format!("{me} (supervisor)"), text).await?;
    Ok(Some(Relayed::Done(None)))
}
