//! Carries a WhatsApp customer's session events to WhatsApp, as the event stream carries a
//! website customer's: the workflow's messages and prompts, "connected", the agent's messages
//! and typing, and the end, each queued in the outbox (the lane of the session keeps them in
//! order, one at a time) in one transaction with moving the session's sent mark, so each
//! event is queued once.
//!
//! **The 24-hour window.** A free-form message is sent only within 24 hours of the customer's
//! last message. After that an agent's message is not sent: the agent is told why in the chat.
//! The workflow's messages are dropped with a log line; the customer's next message opens the
//! window again.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

use crate::app::AppState;
use crate::customer::store::{CustomerEvent, CustomerState};
use crate::store::whatsapp::{self as wa_store, WaSession};
use crate::whatsapp_cloud::WINDOW_MS;
use crate::whatsapp_cloud::client::{self, CloudSend};

/// Runs until `shutdown`: first every open session (what was not queued before a restart),
/// then each session the event hub passes on.
pub async fn run(
    app: AppState,
    mut notices: UnboundedReceiver<String>,
    shutdown: CancellationToken,
) {
    match wa_store::open_sessions(&app.pool).await {
        Ok(open) => {
            for session in open {
                app.events.watch(&session);
            }
        }
        Err(e) => tracing::error!(error = %e, "reading open WhatsApp sessions failed"),
    }
    loop {
        let first = tokio::select! {
            () = shutdown.cancelled() => return,
            notice = notices.recv() => match notice {
                Some(session) => session,
                None => return,
            },
        };
        let mut sessions = BTreeSet::from([first]);
        while let Ok(more) = notices.try_recv() {
            sessions.insert(more);
        }
        let ids: Vec<String> = sessions.into_iter().collect();
        let found = match wa_store::sessions_with_unsent(&app.pool, &ids).await {
            Ok(found) => found,
            Err(e) => {
                tracing::error!(error = %e, "reading WhatsApp sessions failed; retrying");
                retry_later(&app, ids);
                continue;
            }
        };
        // Sessions that are not WhatsApp's (or no longer exist) are not watched any more.
        for id in &ids {
            if !found.iter().any(|(wa, _)| &wa.session_id == id) {
                app.events.unwatch(id);
            }
        }
        for (wa, events) in found {
            let session = wa.session_id.clone();
            if let Err(e) = forward(&app, wa, events).await {
                tracing::error!(session.id = %session, error = format!("{e:#}"),
                    "queuing WhatsApp messages failed; retrying");
                retry_later(&app, vec![session]);
            }
        }
    }
}

/// Watches these sessions again in a second.
fn retry_later(app: &AppState, sessions: Vec<String>) {
    let hub = std::sync::Arc::clone(&app.events);
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        for session in sessions {
            hub.watch(&session);
        }
    });
}

/// Queues the session's events not queued yet (`events`: those after its sent mark).
async fn forward(app: &AppState, wa: WaSession, events: Vec<(i64, String)>) -> anyhow::Result<()> {
    let session = wa.session_id.as_str();
    if wa.ended_at.is_some() {
        app.events.unwatch(session);
        return Ok(());
    }
    let events: Vec<(i64, CustomerEvent)> = events
        .into_iter()
        .filter_map(|(seq, event)| Some((seq, serde_json::from_str(&event).ok()?)))
        .collect();
    let Some(last) = events.last().map(|(seq, _)| *seq) else {
        return Ok(());
    };
    let now = app.clock.now_ms();
    let open = now - wa.last_inbound_at < WINDOW_MS;
    let mut sends = Vec::new();
    let mut not_sent = Vec::new();
    let mut ended = None;
    for (seq, event) in events {
        let send = |body: Value| CloudSend {
            tenant: wa.tenant_id.clone(),
            session: session.to_owned(),
            seq,
            phone_number_id: wa.phone_number_id.clone(),
            body,
        };
        let body = match event {
            CustomerEvent::Message { from, text, .. } => {
                if !open && from == "agent" {
                    not_sent.push(seq);
                }
                Some(text_to(&wa, &text))
            }
            // WhatsApp lets a business neither edit nor delete a sent message: the customer is
            // told in words.
            CustomerEvent::MessageEdited { text, .. } => {
                if !open {
                    not_sent.push(seq);
                }
                Some(text_to(&wa, &format!("Edited message: {text}")))
            }
            CustomerEvent::MessageDeleted { .. } => {
                Some(text_to(&wa, "The agent deleted a message they sent you."))
            }
            CustomerEvent::Prompt { text, choices } => Some(prompt(&wa, &text, &choices)),
            // A template may be sent whether the window is open or not.
            CustomerEvent::Template {
                name,
                language,
                values,
                ..
            } => {
                sends.push(send(client::template_body(
                    &wa.recipient_field,
                    &wa.recipient,
                    &name,
                    &language,
                    &values,
                )));
                None
            }
            CustomerEvent::State {
                state: CustomerState::Connected,
                agent,
            } => Some(text_to(
                &wa,
                &match agent {
                    Some(name) => format!("You are now chatting with {name}."),
                    None => "You are now connected with an agent.".to_owned(),
                },
            )),
            CustomerEvent::State {
                state: CustomerState::Ended,
                ..
            } => {
                ended = Some(now);
                Some(text_to(
                    &wa,
                    "This chat has ended. Write to us again any time to start a new one.",
                ))
            }
            CustomerEvent::Undelivered { .. } => Some(text_to(
                &wa,
                "We could not deliver your last message to the agent. Please send it again.",
            )),
            CustomerEvent::Typing {} => wa
                .last_inbound_wamid
                .as_deref()
                .filter(|_| open)
                .map(client::typing_body),
            CustomerEvent::State { .. }
            | CustomerEvent::Queue { .. }
            | CustomerEvent::Read { .. }
            | CustomerEvent::CustomerMessage { .. } => None,
        };
        if let Some(body) = body.filter(|_| open) {
            sends.push(send(body));
        }
    }
    if !open && !sends.is_empty() {
        tracing::info!(session.id = %session, "WhatsApp window closed: messages not sent");
    }
    // Nothing to send (the customer's own messages, states the customer is not told): the
    // mark moves with the next send, unless many events have piled up behind it.
    if sends.is_empty() && ended.is_none() && not_sent.is_empty() && last - wa.sent_seq < 32 {
        return Ok(());
    }
    let mut tx = crate::store::begin_write(&app.pool).await?;
    for send in &sends {
        app.outbox.enqueue_whatsapp(&mut tx, send).await?;
    }
    wa_store::sent_up_to(&mut tx, session, last, ended).await?;
    tx.commit().await?;
    if ended.is_some() {
        app.events.unwatch(session);
    }
    for (i, seq) in not_sent.into_iter().enumerate() {
        super::outcomes::tell_agent(
            app,
            &wa.tenant_id,
            session,
            seq,
            &super::outcomes::reason(Some(client::codes::REENGAGEMENT), ""),
            // The templates once, with the first message not sent.
            i == 0,
        )
        .await?;
    }
    Ok(())
}

fn text_to(wa: &WaSession, text: &str) -> Value {
    client::text_body(&wa.recipient_field, &wa.recipient, text)
}

/// A prompt: up to three short choices as reply buttons (their titles come back as the
/// answer), more as a list in the text.
fn prompt(wa: &WaSession, text: &str, choices: &[String]) -> Value {
    if choices.is_empty() {
        return text_to(wa, text);
    }
    if choices.len() <= 3 && choices.iter().all(|c| c.chars().count() <= 20) {
        let buttons: Vec<Value> = choices
            .iter()
            .enumerate()
            .map(|(i, c)| json!({"type": "reply", "reply": {"id": format!("choice-{}", i + 1), "title": c}}))
            .collect();
        let mut body = json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "type": "interactive",
            "interactive": {
                "type": "button",
                "body": {"text": text.chars().take(1024).collect::<String>()},
                "action": {"buttons": buttons},
            },
        });
        body[wa.recipient_field.as_str()] = Value::String(wa.recipient.clone());
        return body;
    }
    let list: Vec<String> = choices.iter().map(|c| format!("• {c}")).collect();
    text_to(wa, &format!("{text}\n\n{}", list.join("\n")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer() -> WaSession {
        WaSession {
            session_id: "s".into(),
            tenant_id: "t".into(),
            phone_number_id: "106".into(),
            customer_key: "US.1".into(),
            recipient_field: "recipient".into(),
            recipient: "US.1".into(),
            last_inbound_at: 0,
            last_inbound_wamid: None,
            sent_seq: 0,
            ended_at: None,
        }
    }

    #[test]
    fn up_to_three_short_choices_are_reply_buttons_and_more_a_list() {
        let wa = customer();
        let two = prompt(&wa, "Which one?", &["Sales".into(), "Billing".into()]);
        assert_eq!(two["type"], "interactive");
        assert_eq!(two["recipient"], "US.1");
        let titles: Vec<&str> = two["interactive"]["action"]["buttons"]
            .as_array()
            .expect("buttons")
            .iter()
            .filter_map(|b| b["reply"]["title"].as_str())
            .collect();
        assert_eq!(titles, ["Sales", "Billing"]);
        let four: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        let listed = prompt(&wa, "Which one?", &four);
        assert_eq!(listed["type"], "text");
        assert_eq!(listed["text"]["body"], "Which one?\n\n• a\n• b\n• c\n• d");
        let long = prompt(&wa, "Q", &["a choice longer than twenty".into()]);
        assert_eq!(long["type"], "text");
        assert_eq!(prompt(&wa, "Just text", &[])["text"]["body"], "Just text");
    }
}
