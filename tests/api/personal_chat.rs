//! The personal-chat fallback (Graph not consented): a chat takes place in the agent's personal
//! chat with the bot. While a chat is open there, commands start with `/` and everything else
//! goes to the customer; with several chats open, the agent chooses the one they write to
//! (`/chats`, `/switch N`), nothing goes out while that is unclear, and `/end` ends the chosen
//! chat and moves on to another one.

use std::sync::atomic::Ordering;

use serde_json::json;
use switchboard::directory::model::User;
use switchboard::directory::store::{self, Kind};
use switchboard::distribution::Presence;

use crate::helpers::TestApp;
use crate::helpers::teams::{
    ANNE, Customer, Teams, connected_chat, invitation_for, outcome, seed, spawn, start_chat,
    wait_post,
};
use crate::mock_bf::TENANT_ID;

/// An app whose Graph refuses (no consent), with Anne an agent of Support who can take
/// `capacity` chats at once.
async fn spawn_without_graph(capacity: u32) -> TestApp {
    let app = spawn().await;
    app.mock.state.graph_refused.store(true, Ordering::SeqCst);
    seed(&app, "direct", 30, &[ANNE]).await;
    let pool = &app.state.pool;
    let mut anne = store::get::<User>(pool, TENANT_ID, Kind::User, ANNE.aad)
        .await
        .expect("get")
        .expect("anne");
    anne.value.capacity = capacity;
    store::put(
        pool,
        TENANT_ID,
        Kind::User,
        ANNE.aad,
        &anne.value,
        Some(anne.version),
        0,
    )
    .await
    .expect("put");
    app
}

/// Anne installs the bot and takes Ada's chat, which opens in her personal chat.
async fn one_chat(app: &TestApp) -> Customer {
    let (ada, chat) = connected_chat(app, &Teams { app }, Some("hi")).await;
    assert_eq!(chat, ANNE.personal);
    ada
}

/// Anne takes Ada's chat, then Grace's: both in her personal chat.
async fn two_chats(app: &TestApp) -> (Customer, Customer) {
    let ada = one_chat(app).await;
    let grace = start_chat(app, "Grace", Some("hello?")).await;
    let id = invitation_for(app, ANNE, 2).await;
    Teams { app }
        .answer(ANNE, "im.invitation.accept", &id)
        .await;
    grace
        .wait_event(app, "connected", |e| e["state"] == "connected")
        .await;
    // Customer messages in the personal chat name their customer.
    wait_post(app, "Grace's first message", |(_, c, h, _)| {
        c == ANNE.personal && h == "**Grace**: hello?"
    })
    .await;
    (ada, grace)
}

/// Anne writes in her personal chat (handled before the answer to the POST).
async fn anne_says(app: &TestApp, text: &str) {
    let response = Teams { app }.say(ANNE, ANNE.personal, text).await;
    assert_eq!(response.status(), 200, "{text}");
}

/// What the agent's side sent to a customer so far.
/// Anne chooses the second chat (Grace's) and is told so.
async fn switch_to_grace(app: &TestApp) {
    anne_says(app, "/switch 2").await;
    wait_answer(app, "the switch", |h| h == "Now writing to Grace (Support)").await;
}

async fn agent_texts(app: &TestApp, customer: &Customer) -> Vec<String> {
    customer
        .events(app)
        .await
        .into_iter()
        .filter(|e| e["from"] == "agent")
        .filter_map(|e| e["text"].as_str().map(str::to_owned))
        .collect()
}

/// Waits for the bot's answer in Anne's personal chat whose headline (a card's first text, a
/// message's text) satisfies `found`; returns that headline.
async fn wait_answer(app: &TestApp, what: &str, found: impl Fn(&str) -> bool) -> String {
    let (_, _, headline, _) = wait_post(app, what, |(m, c, h, _)| {
        m == "POST" && c == ANNE.personal && found(h)
    })
    .await;
    headline
}

async fn presence(app: &TestApp) -> Presence {
    let engine = app.state.engines.get(TENANT_ID).await.expect("engine");
    engine
        .agent(ANNE.aad)
        .await
        .expect("agent")
        .expect("known")
        .presence
}

#[tokio::test]
async fn slash_away_during_a_personal_chat_pauses_chats_and_sends_nothing_to_the_customer() {
    let app = spawn_without_graph(1).await;
    let ada = one_chat(&app).await;

    anne_says(&app, "/away").await;

    assert_eq!(presence(&app).await, Presence::Away);
    wait_answer(&app, "the status card", |h| {
        h == "Chats are paused until you say /available"
    })
    .await;
    anne_says(&app, "/available").await;
    assert_eq!(presence(&app).await, Presence::Available);
    anne_says(&app, "/status").await;
    wait_answer(&app, "the status card", |h| h == "Your Switchboard status").await;
    assert!(
        agent_texts(&app, &ada).await.is_empty(),
        "commands reached the customer: {:?}",
        agent_texts(&app, &ada).await
    );
}

#[tokio::test]
async fn plain_text_during_a_personal_chat_goes_to_the_customer() {
    let app = spawn_without_graph(1).await;
    let ada = one_chat(&app).await;

    anne_says(&app, "Hello Ada, how can I help?").await;
    // A command word without its slash is conversation, not a command.
    anne_says(&app, "away").await;
    // `//` sends a message that starts with a slash.
    anne_says(&app, "//etc/hosts is the file").await;

    assert_eq!(
        agent_texts(&app, &ada).await,
        [
            "Hello Ada, how can I help?",
            "away",
            "/etc/hosts is the file"
        ]
    );
    assert_eq!(presence(&app).await, Presence::Available);
}

#[tokio::test]
async fn with_two_open_chats_text_goes_only_to_the_chat_the_agent_chose() {
    let app = spawn_without_graph(2).await;
    let (ada, grace) = two_chats(&app).await;

    // A second chat opened: where the next message goes is unclear, so it is held back.
    anne_says(&app, "Hi, how can I help?").await;
    let held = wait_answer(&app, "the held-back note", |h| {
        h.starts_with("Nothing was sent")
    })
    .await;
    assert!(
        held.contains("1. Ada (Support)") && held.contains("2. Grace (Support)"),
        "{held}"
    );
    assert!(agent_texts(&app, &ada).await.is_empty());
    assert!(agent_texts(&app, &grace).await.is_empty());

    anne_says(&app, "/chats").await;
    let list = wait_answer(&app, "the list of chats", |h| h.starts_with("Open chats")).await;
    assert!(
        list.contains("1. Ada (Support)") && list.contains("2. Grace (Support)"),
        "{list}"
    );

    switch_to_grace(&app).await;
    anne_says(&app, "Hi Grace").await;
    assert_eq!(agent_texts(&app, &grace).await, ["Hi Grace"]);
    assert!(agent_texts(&app, &ada).await.is_empty());

    anne_says(&app, "/switch 1").await;
    wait_answer(&app, "the switch back", |h| {
        h == "Now writing to Ada (Support)"
    })
    .await;
    anne_says(&app, "Hi Ada").await;
    assert_eq!(agent_texts(&app, &ada).await, ["Hi Ada"]);
    assert_eq!(agent_texts(&app, &grace).await, ["Hi Grace"]);

    // A chat that is not in the list is not chosen.
    anne_says(&app, "/switch 3").await;
    wait_answer(&app, "no chat 3", |h| h.starts_with("There is no chat")).await;
    anne_says(&app, "Still you, Ada").await;
    assert_eq!(agent_texts(&app, &ada).await, ["Hi Ada", "Still you, Ada"]);
}

#[tokio::test]
async fn slash_end_ends_the_current_chat_and_the_other_stays_open_and_reachable() {
    let app = spawn_without_graph(2).await;
    let (ada, grace) = two_chats(&app).await;
    anne_says(&app, "/switch 1").await;
    wait_answer(&app, "the switch", |h| h == "Now writing to Ada (Support)").await;

    anne_says(&app, "/end").await;

    assert_eq!(
        outcome(&app, &ada.session).await.as_deref(),
        Some("handled")
    );
    let moved = wait_answer(&app, "the end note", |h| {
        h.starts_with("The chat with Ada (Support) has ended")
    })
    .await;
    assert!(moved.contains("Now writing to Grace (Support)"), "{moved}");
    anne_says(&app, "Are you still there, Grace?").await;
    assert_eq!(
        agent_texts(&app, &grace).await,
        ["Are you still there, Grace?"]
    );
    assert!(agent_texts(&app, &ada).await.is_empty());
    let events = grace.events(&app).await;
    assert!(
        !events.iter().any(|e| e["state"] == "ended"),
        "Grace's chat ended too: {events:?}"
    );
}

#[tokio::test]
async fn end_chat_on_the_current_chats_card_moves_on_like_slash_end() {
    let app = spawn_without_graph(2).await;
    let (ada, grace) = two_chats(&app).await;
    switch_to_grace(&app).await;

    let answer = Teams { app: &app }
        .press(
            ANNE,
            ANNE.personal,
            "im.session.end",
            json!({"sessionId": grace.session}),
        )
        .await;

    assert_eq!(
        answer["value"],
        "The chat with Grace (Support) has ended. Now writing to Ada (Support)."
    );
    anne_says(&app, "Sorry for the wait, Ada").await;
    assert_eq!(agent_texts(&app, &ada).await, ["Sorry for the wait, Ada"]);
    assert_eq!(
        outcome(&app, &grace.session).await.as_deref(),
        Some("handled")
    );
}

#[tokio::test]
async fn the_chosen_chat_survives_a_restart() {
    let app = spawn_without_graph(2).await;
    let (ada, grace) = two_chats(&app).await;
    switch_to_grace(&app).await;

    let mock = app.mock.clone();
    let config = app.stop().await;
    let app = crate::helpers::spawn_app_on(mock, config).await;
    anne_says(&app, "After the restart").await;

    assert_eq!(agent_texts(&app, &grace).await, ["After the restart"]);
    assert!(agent_texts(&app, &ada).await.is_empty());
}

#[tokio::test]
async fn the_help_card_explains_that_commands_start_with_a_slash_during_a_chat() {
    let app = spawn_without_graph(1).await;
    let ada = one_chat(&app).await;

    anne_says(&app, "/help").await;

    let (_, _, _, card) = wait_post(&app, "the help card", |(_, c, h, _)| {
        c == ANNE.personal && h == "Switchboard commands"
    })
    .await;
    let text = card.to_string();
    for needle in [
        "commands start with **/**",
        "**/chats**",
        "**/switch 2**",
        "**/end**",
        "begin it with //",
    ] {
        assert!(
            text.contains(needle),
            "the help card lacks {needle:?}: {text}"
        );
    }
    assert!(agent_texts(&app, &ada).await.is_empty());
}
