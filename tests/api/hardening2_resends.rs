//! Issue 30 (hardening II), finding 10: Teams re-sends an activity it got no answer to within
//! 15 s. A re-sent activity (same conversation, same id) is answered 200 and does nothing, also
//! after a restart; an agent's file is fetched after the answer, and what the agent sends next
//! reaches the customer after it.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::helpers::teams::{self, ANNE, Customer, Teams};

/// The agent's messages the customer was sent whose text contains `text`.
async fn agent_lines(app: &TestApp, customer: &Customer, text: &str) -> Vec<String> {
    customer
        .events(app)
        .await
        .into_iter()
        .filter(|e| e["from"] == "agent")
        .filter_map(|e| e["text"].as_str().map(str::to_owned))
        .filter(|t| t.contains(text))
        .collect()
}

/// Waits until the customer was sent an agent's message containing `text`.
async fn wait_line(app: &TestApp, customer: &Customer, text: &str) {
    customer
        .wait_event(app, text, |e| {
            e["from"] == "agent" && e["text"].as_str().is_some_and(|t| t.contains(text))
        })
        .await;
}

/// The agent's messages the customer was sent, in order.
async fn all_agent_lines(app: &TestApp, customer: &Customer) -> Vec<String> {
    agent_lines(app, customer, "").await
}

/// A plain text message from Anne in `chat`.
fn text(t: &Teams<'_>, chat: &str, said: &str) -> Value {
    let mut a = t.activity(ANNE, chat, "message");
    a["text"] = json!(said);
    a["textFormat"] = json!("plain");
    a
}

/// A message from Anne in `chat` with the file `name` as Teams attaches it in a personal chat.
fn with_file(app: &TestApp, t: &Teams<'_>, chat: &str, said: &str, name: &str) -> Value {
    let origin = app.mock.service_url().trim_end_matches("/amer/").to_owned();
    let mut a = text(t, chat, said);
    a["attachments"] = json!([{"contentType": "application/vnd.microsoft.teams.file.download.info",
        "name": name, "contentUrl": format!("https://contoso.sharepoint.com/{name}"),
        "content": {"downloadUrl": format!("{origin}/files/{name}"), "uniqueId": "1", "fileType": "pdf"}}]);
    a
}

#[tokio::test]
async fn an_activity_sent_twice_reaches_the_customer_once() {
    let app = teams::spawn().await;
    teams::seed(&app, "direct", 30, &[ANNE]).await;
    let t = Teams { app: &app };
    let (ada, chat) = teams::connected_chat(&app, &t, Some("Hello")).await;

    let once = text(&t, &chat, "Your order ships today");
    assert_eq!(t.post(&once).await.status(), 200);
    // Teams got no answer in time and sends the same activity again: acknowledged, nothing else.
    assert_eq!(t.post(&once).await.status(), 200);
    assert_eq!(
        t.post(&text(&t, &chat, "Anything else?")).await.status(),
        200
    );

    wait_line(&app, &ada, "Anything else?").await;
    assert_eq!(
        all_agent_lines(&app, &ada).await,
        ["Your order ships today", "Anything else?"]
    );
}

#[tokio::test]
async fn every_edit_of_a_message_is_applied_and_a_resent_edit_is_not() {
    let app = teams::spawn().await;
    teams::seed(&app, "direct", 30, &[ANNE]).await;
    let t = Teams { app: &app };
    let (ada, chat) = teams::connected_chat(&app, &t, Some("Hello")).await;
    let message = text(&t, &chat, "Your order ships today");
    assert_eq!(t.post(&message).await.status(), 200);
    wait_line(&app, &ada, "Your order ships today").await;

    // Teams gives every edit of a message that message's id; each has its own time.
    let edit = |said: &str, at: &str| {
        let mut e = message.clone();
        e["type"] = json!("messageUpdate");
        e["text"] = json!(said);
        e["timestamp"] = json!(at);
        e["channelData"]["eventType"] = json!("editMessage");
        e
    };
    let first = edit("Your order ships tomorrow", "2026-12-08T10:00:01.000Z");
    assert_eq!(t.post(&first).await.status(), 200);
    assert_eq!(t.post(&first).await.status(), 200);
    let second = edit("Your order ships on Monday", "2026-12-08T10:00:09.000Z");
    assert_eq!(t.post(&second).await.status(), 200);

    ada.wait_event(&app, "the second edit", |e| {
        e["type"] == "messageEdited" && e["text"] == "Your order ships on Monday"
    })
    .await;
    let edits: Vec<Value> = ada
        .events(&app)
        .await
        .into_iter()
        .filter(|e| e["type"] == "messageEdited")
        .map(|e| e["text"].clone())
        .collect();
    assert_eq!(
        edits,
        ["Your order ships tomorrow", "Your order ships on Monday"]
    );
}

#[tokio::test]
async fn a_file_from_a_slow_host_is_answered_at_once_and_what_follows_waits_for_it() {
    let config = teams::config().env("SWITCHBOARD_BOT__CHATROOM", "personal");
    let app = teams::spawn_with(config).await;
    teams::seed(&app, "direct", 30, &[ANNE]).await;
    let t = Teams { app: &app };
    let (ada, chat) = teams::connected_chat(&app, &t, Some("Hello")).await;

    // The host takes 3 s to serve the file: the answer does not wait for it.
    let file = with_file(&app, &t, &chat, "Here is your invoice", "slow.pdf");
    let started = Instant::now();
    assert_eq!(t.post(&file).await.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "answered after {:?}",
        started.elapsed()
    );
    // A re-send of it, and the agent's next message and an edit of it, sent while it is fetched.
    assert_eq!(t.post(&file).await.status(), 200);
    let next = text(&t, &chat, "Anything else?");
    assert_eq!(t.post(&next).await.status(), 200);
    let mut edit = next.clone();
    edit["type"] = json!("messageUpdate");
    edit["text"] = json!("Anything else I can do?");
    assert_eq!(t.post(&edit).await.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "all answered after {:?}",
        started.elapsed()
    );

    wait_line(&app, &ada, "Anything else?").await;
    let lines = all_agent_lines(&app, &ada).await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("Here is your invoice\n📎 slow.pdf (22 B): "),
        "the file first: {lines:?}"
    );
    assert_eq!(lines[1], "Anything else?");
    // The edit came after the message it edits.
    ada.wait_event(&app, "the edit", |e| {
        e["type"] == "messageEdited" && e["text"] == "Anything else I can do?"
    })
    .await;
    // Once the queue is empty, messages are carried out while answering again. (The customer
    // sees the edit before the queue has let its entry go.)
    assert!(
        crate::helpers::eventually(|| !app.state.in_order.is_busy(&chat)).await,
        "the queue empties"
    );
    assert_eq!(t.post(&text(&t, &chat, "Bye")).await.status(), 200);
    assert_eq!(agent_lines(&app, &ada, "Bye").await.len(), 1);
}

#[tokio::test]
async fn a_failed_fetch_in_the_background_is_still_told_to_the_agent() {
    let config = teams::config().env("SWITCHBOARD_BOT__CHATROOM", "personal");
    let app = teams::spawn_with(config).await;
    teams::seed(&app, "direct", 30, &[ANNE]).await;
    let t = Teams { app: &app };
    let (_ada, chat) = teams::connected_chat(&app, &t, Some("Hello")).await;

    let missing = with_file(&app, &t, &chat, "", "missing.pdf");
    assert_eq!(t.post(&missing).await.status(), 200);
    teams::wait_post(&app, "the refusal", |(_, c, h, _)| {
        c == &chat && h == "Nothing was sent: missing.pdf: Teams answered 404 when it was fetched."
    })
    .await;
}

#[tokio::test]
async fn a_resend_after_a_restart_is_still_recognised() {
    let app = teams::spawn().await;
    teams::seed(&app, "direct", 30, &[ANNE]).await;
    let t = Teams { app: &app };
    let (ada, chat) = teams::connected_chat(&app, &t, Some("Hello")).await;
    let once = text(&t, &chat, "Your order ships today");
    assert_eq!(t.post(&once).await.status(), 200);
    wait_line(&app, &ada, "Your order ships today").await;

    let mock = app.mock.clone();
    let config = app.stop().await;
    let app = crate::helpers::spawn_app_on(mock, config).await;
    let t = Teams { app: &app };

    assert_eq!(t.post(&once).await.status(), 200);
    assert_eq!(
        t.post(&text(&t, &chat, "Anything else?")).await.status(),
        200
    );
    wait_line(&app, &ada, "Anything else?").await;
    assert_eq!(
        all_agent_lines(&app, &ada).await,
        ["Your order ships today", "Anything else?"]
    );
}

#[tokio::test]
async fn a_file_still_being_fetched_at_a_stop_is_sent_after_the_restart_once_and_in_order() {
    let config = teams::config().env("SWITCHBOARD_BOT__CHATROOM", "personal");
    let app = teams::spawn_with(config).await;
    teams::seed(&app, "direct", 30, &[ANNE]).await;
    let t = Teams { app: &app };
    let (ada, chat) = teams::connected_chat(&app, &t, Some("Hello")).await;
    let file = with_file(&app, &t, &chat, "Here is your invoice", "slow.pdf");
    assert_eq!(t.post(&file).await.status(), 200);
    let next = text(&t, &chat, "Anything else?");
    assert_eq!(t.post(&next).await.status(), 200);

    // Stopped while the file is fetched: both stay queued in the store.
    let mock = app.mock.clone();
    let config = app.stop().await;
    let app = crate::helpers::spawn_app_on(mock, config).await;
    let t = Teams { app: &app };
    // Teams' re-sends of both are recognised.
    assert_eq!(t.post(&file).await.status(), 200);
    assert_eq!(t.post(&next).await.status(), 200);

    wait_line(&app, &ada, "Anything else?").await;
    let lines = all_agent_lines(&app, &ada).await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].contains("📎 slow.pdf"),
        "the file first: {lines:?}"
    );
    assert_eq!(lines[1], "Anything else?");
}
