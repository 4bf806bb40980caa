//! An agent's edit or deletion of a message they wrote to a customer (Teams' `messageUpdate`
//! with `editMessage` or `undeleteMessage`, and `messageDelete` with `softDeleteMessage`)
//! reaches the customer as such: the message's event is named by its sequence number, so the
//! widget changes that bubble (and a WhatsApp customer is told in words). Messages that were
//! not relayed (commands, notes, a chat's start) are not the customer's business: ignored.

use crate::app::App;
use crate::botframework::activity::Activity;
use crate::customer::store::{self as customer_store, CustomerEvent};

use super::super::agents::Actor;
use super::super::answer::{Relayed, note};
use super::super::store;
use super::converted;

/// What Teams says happened to a message (`channelData.eventType`).
fn event_type(activity: &Activity) -> Option<&str> {
    activity
        .channel_data
        .as_ref()
        .and_then(|c| c.get("eventType"))
        .and_then(|t| t.as_str())
}

/// The relayed message an activity names, when it was the agent's to the customer.
async fn relayed(
    app: &App,
    actor: &Actor,
    activity: &Activity,
    conversation: &str,
) -> anyhow::Result<Option<(String, i64)>> {
    let Some(id) = activity.id.as_deref() else {
        return Ok(None);
    };
    let Some((session, seq)) = store::relayed(&app.pool, conversation, id).await? else {
        return Ok(None);
    };
    // Only the chat's agent's own messages were relayed; a room of another tenant is not theirs.
    let room = store::chatroom_of(&app.pool, &session).await?;
    Ok(room
        .filter(|r| r.tenant_id == actor.tenant)
        .map(|_| (session, seq)))
}

/// Appends `event` to the customer's stream unless the chat has ended; the note to the agent
/// when it had.
async fn tell_customer(
    app: &App,
    session: &str,
    event: CustomerEvent,
    too_late: &str,
) -> anyhow::Result<Relayed> {
    let now = app.clock.now_ms();
    if customer_store::append_unless_ended(&app.pool, session, &event, now)
        .await?
        .is_none()
    {
        return Ok(note(too_late));
    }
    app.events.notify(session);
    Ok(Relayed::Done(None))
}

/// `messageUpdate`: an edited (or undeleted) message is shown to the customer as it is now.
pub async fn edited(
    app: &App,
    actor: &Actor,
    activity: &Activity,
    conversation: &str,
) -> anyhow::Result<Relayed> {
    if !matches!(
        event_type(activity),
        Some("editMessage" | "undeleteMessage") | None
    ) {
        return Ok(Relayed::Done(None));
    }
    let Some((session, seq)) = relayed(app, actor, activity, conversation).await? else {
        return Ok(Relayed::Done(None));
    };
    let message =
        super::for_chat(app, conversation, &session, activity, converted(activity)).await?;
    if message.text.is_empty() {
        return Ok(Relayed::Done(None));
    }
    let text: String = message.text.chars().take(super::MAX_TEXT).collect();
    let html = message
        .html
        .filter(|_| message.text.chars().count() <= super::MAX_TEXT);
    tracing::info!(session.id = %session, seq, "agent edited a message to the customer");
    tell_customer(
        app,
        &session,
        CustomerEvent::MessageEdited { seq, text, html },
        "This chat has ended: the customer still sees what you wrote before the edit.",
    )
    .await
}

/// `messageDelete`: the customer's copy of a deleted message is withdrawn.
pub async fn deleted(
    app: &App,
    actor: &Actor,
    activity: &Activity,
    conversation: &str,
) -> anyhow::Result<Relayed> {
    if !matches!(event_type(activity), Some("softDeleteMessage") | None) {
        return Ok(Relayed::Done(None));
    }
    let Some((session, seq)) = relayed(app, actor, activity, conversation).await? else {
        return Ok(Relayed::Done(None));
    };
    tracing::info!(session.id = %session, seq, "agent deleted a message to the customer");
    tell_customer(
        app,
        &session,
        CustomerEvent::MessageDeleted { seq },
        "This chat has ended: the customer still sees the message you deleted.",
    )
    .await
}
