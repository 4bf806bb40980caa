//! The Teams flows end to end, through real HTTP on loopback: agents register by installing
//! the bot, a customer starts a chat on the Interact API, the invitation card reaches the mock
//! Connector, the agent accepts with an `adaptiveCard/action` invoke, the mock Graph creates
//! the group chat and installs the bot, and messages go both ways in order until the end.

use crate::helpers::TestConfig;
use crate::helpers::teams::*;
use crate::mock_bf::{APP_ID, Scripted, TENANT_ID};
use serde_json::{Value, json};
use std::time::Duration;
use switchboard::directory::model::Service;
use switchboard::directory::store::{self, Kind};
use switchboard::store::AsPool;

#[tokio::test]
async fn a_customer_chats_with_a_teams_agent_end_to_end() {
    let app = spawn().await;
    seed(&app, "direct", 30, &[ANNE]).await;
    let teams = Teams { app: &app };

    // Registration by install: one welcome card, though Teams sends two install events.
    teams.install(ANNE).await;
    wait_post(&app, "welcome card", |(_, c, h, _)| {
        c == ANNE.personal && h == "Welcome to Switchboard"
    })
    .await;

    // The customer starts a chat; the invitation reaches Anne's personal chat.
    let ada = start_chat(&app, "Ada *Lovelace*", Some("My printer is on fire")).await;
    let (_, _, _, invitation) = wait_post(&app, "invitation", |(m, c, h, _)| {
        m == "POST" && c == ANNE.personal && h == "New chat request"
    })
    .await;
    let card = invitation.to_string();
    assert!(
        card.contains(r"Ada \\*Lovelace\\*"),
        "customer text is escaped: {card}"
    );
    assert!(card.contains("My printer is on fire"), "{card}");
    let id = invitation_id(&invitation);

    // Accept: the invoke answers with the accepted card at once.
    let answer = teams.answer(ANNE, "im.invitation.accept", &id).await;
    assert_eq!(answer["statusCode"], 200);
    assert_eq!(answer["type"], "application/vnd.microsoft.card.adaptive");
    assert_eq!(answer["value"]["body"][0]["text"], "You accepted this chat");

    // Graph: a group chat named after the customer and the service, then the bot installed.
    let (_, chat, _, _) =
        wait_post(&app, "chat start card", |(_, _, h, _)| h == "Chat started").await;
    assert!(
        chat.starts_with("19:") && chat.ends_with("@thread.v2"),
        "{chat}"
    );
    let graph = app.mock.state.graph_calls.lock().expect("lock").clone();
    assert_eq!(graph.len(), 2, "{graph:?}");
    assert_eq!(
        (graph[0].method.as_str(), graph[0].path.as_str()),
        ("POST", "/chats")
    );
    let create = graph[0].body.clone().expect("body");
    assert_eq!(create["chatType"], "group");
    assert_eq!(create["topic"], "Ada *Lovelace* – Support");
    assert!(
        create["members"][0]["user@odata.bind"]
            .as_str()
            .expect("bind")
            .contains(ANNE.aad)
    );
    assert_eq!(graph[1].path, format!("/chats/{}/installedApps", chat));
    assert!(
        graph[1].body.as_ref().expect("body")["teamsApp@odata.bind"]
            .as_str()
            .expect("bind")
            .ends_with(&format!("/appCatalogs/teamsApps/{TEAMS_APP}"))
    );
    assert!(
        graph[0]
            .authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Bearer mock-access-token"))
    );

    // The invitation card is updated in place to its final state.
    wait_post(&app, "accepted card update", |(m, c, h, _)| {
        m == "PUT" && c == ANNE.personal && h == "You accepted this chat"
    })
    .await;
    // The customer learns who they are talking to.
    ada.wait_event(&app, "connected", |e| {
        e["type"] == "state" && e["state"] == "connected" && e["agent"] == "Anne Agent"
    })
    .await;

    // Customer → agent, in order, attributed, after the first message; an address is a link
    // showing its target.
    for text in ["one", "two: https://shop.example.com/o_1", "three"] {
        ada.say(&app, text).await;
    }
    wait_post(&app, "third message", |(_, c, _, b)| {
        c == &chat && b["text"].as_str().is_some_and(|t| t.ends_with("three"))
    })
    .await;
    let in_chat: Vec<String> = posts(&app)
        .into_iter()
        .filter(|(m, c, _, _)| m == "POST" && c == &chat)
        .map(|(_, _, h, _)| h)
        .collect();
    assert_eq!(
        in_chat,
        [
            "Chat started",
            r"**Ada \*Lovelace\***: My printer is on fire",
            r"**Ada \*Lovelace\***: one",
            r"**Ada \*Lovelace\***: two: [https://shop.example.com/o\_1](https://shop.example.com/o_1)",
            r"**Ada \*Lovelace\***: three"
        ]
    );

    // Agent → customer: the agent's message reaches the customer; the bot's own echo and
    // other bots are ignored; a file gets a note back to the agent.
    let typing = teams.activity(ANNE, &chat, "typing");
    assert_eq!(teams.post(&typing).await.status(), 200);
    ada.wait_event(&app, "typing", |e| e["type"] == "typing")
        .await;
    assert_eq!(
        teams
            .say(ANNE, &chat, "Have you tried turning it off?")
            .await
            .status(),
        200
    );
    ada.wait_event(&app, "agent message", |e| {
        e["type"] == "message"
            && e["from"] == "agent"
            && e["name"] == "Anne Agent"
            && e["text"] == "Have you tried turning it off?"
    })
    .await;
    let mut echo = teams.activity(ANNE, &chat, "message");
    echo["from"] = json!({"id": format!("28:{APP_ID}"), "name": "Switchboard"});
    echo["text"] = json!("bot echo");
    let mut other_bot = teams.activity(ANNE, &chat, "message");
    other_bot["from"] = json!({"id": "28:another-bot", "role": "bot"});
    other_bot["text"] = json!("other bot");
    assert_eq!(teams.post(&echo).await.status(), 200);
    assert_eq!(teams.post(&other_bot).await.status(), 200);
    let mut file = teams.activity(ANNE, &chat, "message");
    file["attachments"] = json!([{"contentType": "image/png", "contentUrl": "https://smba.example/v3/attachments/1", "name": "photo.png"}]);
    assert_eq!(teams.post(&file).await.status(), 200);
    wait_post(&app, "attachment note", |(_, c, h, _)| {
        c == &chat && h.starts_with("The customer cannot receive files")
    })
    .await;
    let agent_texts: Vec<Value> = ada
        .events(&app)
        .await
        .into_iter()
        .filter(|e| e["from"] == "agent")
        .collect();
    assert_eq!(agent_texts.len(), 1, "{agent_texts:?}");

    // The agent ends the chat by typing `end`: both sides are told, ACW starts, outcome handled.
    assert_eq!(teams.say(ANNE, &chat, "end").await.status(), 200);
    wait_post(&app, "session ended card", |(_, c, h, _)| {
        c == &chat && h == "Chat ended"
    })
    .await;
    ada.wait_event(&app, "ended", |e| {
        e["type"] == "state" && e["state"] == "ended"
    })
    .await;
    wait_post(&app, "acw card", |(_, c, h, _)| {
        c == ANNE.personal && h == "Wrap-up time"
    })
    .await;
    assert_eq!(
        outcome(&app, &ada.session).await.as_deref(),
        Some("handled")
    );
    assert_eq!(
        offer_outcomes(&app, &ada.session).await,
        [(ANNE.aad.to_owned(), "accepted".to_owned())]
    );
    // After the end, what the agent writes in the chat goes nowhere and is not answered.
    let before = ada.events(&app).await.len();
    let posted = posts(&app).len();
    teams.say(ANNE, &chat, "still there?").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(ada.events(&app).await.len(), before);
    assert_eq!(
        posts(&app).len(),
        posted,
        "nothing is answered in the ended chat"
    );
}

#[tokio::test]
async fn a_decline_goes_to_the_next_agent_and_only_the_invited_agent_can_answer() {
    let app = spawn().await;
    seed(&app, "direct", 30, &[ANNE, BOB]).await;
    let teams = Teams { app: &app };
    teams.install(ANNE).await;
    teams.install(BOB).await;
    let ada = start_chat(&app, "Ada", None).await;
    // Anne has been idle longest (registered first).
    let first = invitation_for(&app, ANNE, 1).await;
    // Bob cannot answer Anne's card.
    let answer = teams.answer(BOB, "im.invitation.accept", &first).await;
    assert_eq!(answer["value"], "This invitation is for someone else.");
    let answer = teams.answer(ANNE, "im.invitation.decline", &first).await;
    assert_eq!(answer["value"]["body"][0]["text"], "You declined this chat");
    wait_update(&app, ANNE, "You declined this chat").await;
    let second = invitation_for(&app, BOB, 1).await;
    // A late accept of the declined invitation: no longer available.
    let late = teams.answer(ANNE, "im.invitation.accept", &first).await;
    assert_eq!(late["type"], "application/vnd.microsoft.activity.message");
    assert!(
        late["value"]
            .as_str()
            .expect("text")
            .contains("no longer available"),
        "{late}"
    );
    let answer = teams.answer(BOB, "im.invitation.accept", &second).await;
    assert_eq!(answer["value"]["body"][0]["text"], "You accepted this chat");
    ada.wait_event(&app, "connected to Bob", |e| {
        e["state"] == "connected" && e["agent"] == "Bob Agent"
    })
    .await;
    ada.leave(&app).await;
    assert_eq!(
        outcome(&app, &ada.session).await.as_deref(),
        Some("handled")
    );
    wait_post(&app, "ended card", |(_, _, h, b)| {
        h == "Chat ended" && b.to_string().contains("customer")
    })
    .await;
    assert_eq!(
        offer_outcomes(&app, &ada.session).await,
        [
            (ANNE.aad.to_owned(), "declined".to_owned()),
            (BOB.aad.to_owned(), "accepted".to_owned())
        ]
    );
}

#[tokio::test]
async fn no_answer_is_rona_the_card_says_missed_and_back_makes_the_agent_selectable_again() {
    let clock = std::sync::Arc::new(switchboard::clock::ManualClock::default());
    let app = spawn_with(config().clock(clock.clone())).await;
    seed(&app, "direct", 30, &[ANNE, BOB]).await;
    let teams = Teams { app: &app };
    teams.install(ANNE).await;
    teams.install(BOB).await;
    let ada = start_chat(&app, "Ada", None).await;
    invitation_for(&app, ANNE, 1).await;
    clock.advance(chrono::Duration::seconds(31));
    let engine = app.state.engines.get(TENANT_ID).await.expect("engine");
    engine
        .send(switchboard::engine::messages::Command::Tick)
        .await
        .expect("tick");
    wait_update(&app, ANNE, "You missed this chat").await;
    let second = invitation_for(&app, BOB, 1).await;
    // Anne is flagged RONA: her status says so, and `back` clears it.
    assert_eq!(teams.say(ANNE, ANNE.personal, "status").await.status(), 200);
    wait_post(&app, "status card", |(_, c, _, b)| {
        c == ANNE.personal && b.to_string().contains("Missed a chat")
    })
    .await;
    let back = teams
        .press(ANNE, ANNE.personal, "im.agent.back", json!({}))
        .await;
    assert_eq!(
        back["value"]["body"][0]["text"],
        "Welcome back: you receive chats again"
    );
    assert_eq!(
        engine
            .agent(ANNE.aad)
            .await
            .expect("agent")
            .expect("known")
            .rona_until,
        None
    );
    teams.answer(BOB, "im.invitation.accept", &second).await;
    ada.wait_event(&app, "connected", |e| e["state"] == "connected")
        .await;
    ada.leave(&app).await;
    assert_eq!(
        offer_outcomes(&app, &ada.session).await,
        [
            (ANNE.aad.to_owned(), "rona".to_owned()),
            (BOB.aad.to_owned(), "accepted".to_owned())
        ]
    );
}

#[tokio::test]
async fn broadcast_two_simultaneous_accepts_one_wins_the_other_sees_taken() {
    let app = spawn().await;
    seed(&app, "broadcast", 30, &[ANNE, BOB]).await;
    let teams = Teams { app: &app };
    teams.install(ANNE).await;
    teams.install(BOB).await;
    let ada = start_chat(&app, "Ada", None).await;
    let (a, b) = tokio::join!(invitation_for(&app, ANNE, 1), invitation_for(&app, BOB, 1));
    let (ra, rb) = tokio::join!(
        teams.answer(ANNE, "im.invitation.accept", &a),
        teams.answer(BOB, "im.invitation.accept", &b)
    );
    let accepted = |r: &Value| r["value"]["body"][0]["text"] == "You accepted this chat";
    assert!(
        accepted(&ra) ^ accepted(&rb),
        "exactly one wins: {ra} / {rb}"
    );
    let (winner, loser) = if accepted(&ra) {
        (ANNE, BOB)
    } else {
        (BOB, ANNE)
    };
    wait_update(&app, loser, "A colleague took this chat").await;
    let taken = posts(&app)
        .into_iter()
        .find(|(m, c, h, _)| m == "PUT" && c == loser.personal && h == "A colleague took this chat")
        .expect("taken card");
    assert!(
        taken.3.to_string().contains(winner.name),
        "names the winner"
    );
    wait_update(&app, winner, "You accepted this chat").await;
    ada.wait_event(&app, "connected", |e| {
        e["state"] == "connected" && e["agent"] == winner.name
    })
    .await;
}

#[tokio::test]
async fn a_customer_who_leaves_while_ringing_withdraws_the_invitation() {
    let app = spawn().await;
    seed(&app, "direct", 30, &[ANNE]).await;
    let teams = Teams { app: &app };
    teams.install(ANNE).await;
    let ada = start_chat(&app, "Ada", None).await;
    let id = invitation_for(&app, ANNE, 1).await;
    ada.leave(&app).await;
    wait_update(&app, ANNE, "This chat was withdrawn").await;
    assert_eq!(
        outcome(&app, &ada.session).await.as_deref(),
        Some("abandoned")
    );
    let late = teams.answer(ANNE, "im.invitation.accept", &id).await;
    assert!(
        late["value"]
            .as_str()
            .expect("text")
            .contains("no longer available")
    );
    assert_eq!(card_updates(&app, ANNE).await, ["This chat was withdrawn"]);
}

#[tokio::test]
async fn connector_throttling_during_a_chat_loses_nothing_and_keeps_the_order() {
    let app = spawn().await;
    seed(&app, "direct", 30, &[ANNE]).await;
    let teams = Teams { app: &app };
    let (ada, chat) = connected_chat(&app, &teams, None).await;
    app.mock.script([
        Scripted::status(429).retry_after("1"),
        Scripted::status(503),
        Scripted::status(503),
    ]);
    let sent: Vec<String> = (1..=8).map(|i| format!("message {i}")).collect();
    for text in &sent {
        ada.say(&app, text).await;
    }
    wait_post(&app, "last message", |(_, c, h, _)| {
        c == &chat && h.ends_with("message 8")
    })
    .await;
    let expected: Vec<String> = sent.iter().map(|t| format!("**Ada**: {t}")).collect();
    assert_eq!(chat_texts(&app, &chat), expected);
    let refused = app.mock.calls().iter().filter(|c| c.status >= 400).count();
    assert_eq!(refused, 3, "the throttled calls were retried, not dropped");
}

#[tokio::test]
async fn a_restart_in_the_middle_of_a_chat_loses_nothing() {
    let app = spawn().await;
    seed(&app, "direct", 30, &[ANNE]).await;
    let teams = Teams { app: &app };
    let (ada, chat) = connected_chat(&app, &teams, Some("hello")).await;
    // The Connector is down while the customer writes, then the service restarts.
    app.mock.stop_connector().await;
    ada.say(&app, "while you were away").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mock = app.mock.clone();
    let config = app.stop().await;
    mock.start_connector().await;
    let app = crate::helpers::spawn_app_on(mock, config).await;
    let teams = Teams { app: &app };
    wait_post(&app, "message after restart", |(_, c, h, _)| {
        c == &chat && h.ends_with("while you were away")
    })
    .await;
    ada.say(&app, "after the restart").await;
    wait_post(&app, "next message", |(_, c, h, _)| {
        c == &chat && h.ends_with("after the restart")
    })
    .await;
    assert_eq!(
        chat_texts(&app, &chat),
        [
            "**Ada**: hello",
            "**Ada**: while you were away",
            "**Ada**: after the restart"
        ]
    );
    // The agent's side still works after the restart, and the chat ends as handled.
    teams.say(ANNE, &chat, "Back again").await;
    ada.wait_event(&app, "agent message", |e| e["text"] == "Back again")
        .await;
    let answer = teams
        .press(
            ANNE,
            &chat,
            "im.session.end",
            json!({"sessionId": ada.session}),
        )
        .await;
    assert_eq!(answer["value"], "The chat has ended.");
    assert_eq!(
        outcome(&app, &ada.session).await.as_deref(),
        Some("handled")
    );
}

#[tokio::test]
async fn without_graph_consent_the_chat_happens_in_the_agents_personal_chat() {
    let app = spawn().await;
    app.mock
        .state
        .graph_refused
        .store(true, std::sync::atomic::Ordering::SeqCst);
    seed(&app, "direct", 30, &[ANNE]).await;
    let teams = Teams { app: &app };
    let (ada, chat) = connected_chat(&app, &teams, Some("hi")).await;
    assert_eq!(chat, ANNE.personal);
    ada.say(&app, "are you there?").await;
    wait_post(&app, "relay", |(_, c, h, _)| {
        c == ANNE.personal && h.ends_with("are you there?")
    })
    .await;
    // In the personal chat, the agent's text goes to the customer (not to the commands).
    teams.say(ANNE, ANNE.personal, "status").await;
    ada.wait_event(&app, "agent text", |e| {
        e["from"] == "agent" && e["text"] == "status"
    })
    .await;
    teams.say(ANNE, ANNE.personal, "end").await;
    assert_eq!(
        outcome(&app, &ada.session).await.as_deref(),
        Some("handled")
    );
}

#[tokio::test]
async fn when_graph_keeps_failing_the_chat_goes_on_in_the_personal_chat() {
    let app = spawn().await;
    app.mock
        .state
        .graph_down
        .store(true, std::sync::atomic::Ordering::SeqCst);
    seed(&app, "direct", 30, &[ANNE]).await;
    let teams = Teams { app: &app };
    let (ada, chat) = connected_chat(&app, &teams, Some("hi")).await;
    assert_eq!(chat, ANNE.personal);
    let creates = app
        .mock
        .state
        .graph_calls
        .lock()
        .expect("lock")
        .iter()
        .filter(|c| c.path == "/chats")
        .count();
    assert_eq!(creates, 3, "tried three times before falling back");
    ada.say(&app, "still waiting").await;
    wait_post(&app, "relay", |(_, c, h, _)| {
        c == ANNE.personal && h.ends_with("still waiting")
    })
    .await;
}

#[tokio::test]
async fn commands_answer_registered_users_and_explain_to_everyone_else() {
    let app = spawn().await;
    seed(&app, "direct", 30, &[ANNE]).await;
    let teams = Teams { app: &app };
    // Not registered: a clear explanation, not silence.
    teams.say(ANNE, ANNE.personal, "status").await;
    wait_post(&app, "not registered", |(_, c, h, _)| {
        c == ANNE.personal && h.starts_with("You are not registered")
    })
    .await;
    teams.install(ANNE).await;
    teams.say(ANNE, ANNE.personal, "away").await;
    wait_post(&app, "away", |(_, _, h, _)| {
        h == "Chats are paused until you say available"
    })
    .await;
    let engine = app.state.engines.get(TENANT_ID).await.expect("engine");
    let anne = engine.agent(ANNE.aad).await.expect("agent").expect("known");
    assert_eq!(anne.presence, switchboard::distribution::Presence::Away);
    // Away: a new chat is queued, not offered; available: it is offered.
    let ada = start_chat(&app, "Ada", None).await;
    ada.wait_event(&app, "queue position", |e| {
        e["type"] == "queue" && e["position"] == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !posts(&app)
            .iter()
            .any(|(_, _, h, _)| h == "New chat request")
    );
    teams.say(ANNE, ANNE.personal, "available").await;
    invitation_for(&app, ANNE, 1).await;
    teams.say(ANNE, ANNE.personal, "help").await;
    wait_post(&app, "help", |(_, _, h, _)| h == "Switchboard commands").await;
    teams.say(ANNE, ANNE.personal, "what?").await;
    wait_post(&app, "help for the unknown", |(_, _, h, _)| {
        h == "Sorry, I did not understand that."
    })
    .await;
    // A registered user unknown to the directory is told why no chat comes.
    teams.install(BOB).await;
    wait_post(&app, "unknown agent note", |(_, c, h, _)| {
        c == BOB.personal && h.contains("does not know you as an agent")
    })
    .await;
    // Uninstall unregisters: the engine no longer offers chats to Anne.
    let mut remove = teams.activity(ANNE, ANNE.personal, "installationUpdate");
    remove["action"] = json!("remove");
    assert_eq!(teams.post(&remove).await.status(), 200);
    let anne = engine.agent(ANNE.aad).await.expect("agent").expect("known");
    assert!(!anne.registered);
}

#[tokio::test]
async fn message_writes_blocked_unregisters_the_user() {
    let app = spawn().await;
    seed(&app, "direct", 30, &[ANNE]).await;
    let teams = Teams { app: &app };
    teams.install(ANNE).await;
    wait_post(&app, "welcome", |(_, c, h, _)| {
        c == ANNE.personal && h == "Welcome to Switchboard"
    })
    .await;
    // Anne blocks the bot: the next message to her is refused with MessageWritesBlocked.
    app.mock.script([Scripted::status(403).body(json!({
        "errorCode": 209,
        "message": "{\"subCode\":\"MessageWritesBlocked\",\"details\":\"Thread is blocked from message writes.\"}"
    }))]);
    teams.say(ANNE, ANNE.personal, "status").await;
    let engine = app.state.engines.get(TENANT_ID).await.expect("engine");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let anne = engine.agent(ANNE.aad).await.expect("agent");
        if anne.is_some_and(|a| !a.registered) {
            break;
        }
        let outbox = switchboard::db!(app.state.pool.on(), |c| {
            sqlx::query_as::<_, (String, Option<String>)>(
                "SELECT state, last_error FROM outbox ORDER BY id",
            )
            .fetch_all(c)
            .await
        })
        .expect("outbox");
        assert!(
            tokio::time::Instant::now() < deadline,
            "still registered: {outbox:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn in_demo_mode_whoever_installs_the_bot_becomes_an_agent_of_support() {
    use switchboard::demo::{DEMO_CONTACT, DEMO_TENANT, DEMO_WIDGET_KEY};
    let app = crate::helpers::spawn_app_with(TestConfig::anonymous()).await;
    // The Agents Playground's shapes: no Teams id prefixes, no token.
    let activity = |kind: &str| {
        json!({
            "type": kind, "id": uuid::Uuid::new_v4().to_string(),
            "serviceUrl": app.mock.service_url(), "channelId": "msteams",
            "from": {"id": "user-id-0", "name": "Alex Wilber", "aadObjectId": "00000000-0000-0000-0000-0000000000a0"},
            "conversation": {"id": "personal-conv-1", "conversationType": "personal", "tenantId": DEMO_TENANT},
            "recipient": {"id": "00000000-0000-0000-0000-00000000000011", "name": "Test Bot"},
            "channelData": {"tenant": {"id": DEMO_TENANT}}
        })
    };
    let mut install = activity("installationUpdate");
    install["action"] = json!("add");
    assert_eq!(app.post_activity(None, &install).await.status(), 200);
    wait_post(&app, "welcome", |(_, c, h, _)| {
        c == "personal-conv-1" && h == "Welcome to Switchboard"
    })
    .await;
    let support = store::get::<Service>(&app.state.pool, DEMO_TENANT, Kind::Service, "support")
        .await
        .expect("get")
        .expect("support");
    assert!(
        support
            .value
            .members
            .contains("00000000-0000-0000-0000-0000000000a0")
    );

    let response = reqwest::Client::new()
        .post(format!(
            "{}/api/interact/v1/contacts/{DEMO_CONTACT}/sessions",
            app.address
        ))
        .json(
            &json!({"widgetKey": DEMO_WIDGET_KEY, "displayName": "Ada", "email": "ada@example.com",
                      "privacyConsent": true, "message": "Hello?"}),
        )
        .send()
        .await
        .expect("create");
    assert_eq!(response.status(), 201);
    let (_, _, _, card) = wait_post(&app, "invitation", |(_, c, h, _)| {
        c == "personal-conv-1" && h == "New chat request"
    })
    .await;
    let mut accept = activity("invoke");
    accept["name"] = json!("adaptiveCard/action");
    accept["value"] = json!({"action": {"type": "Action.Execute", "verb": "im.invitation.accept",
                              "data": {"invitationId": invitation_id(&card)}}});
    let answer: Value = app
        .post_activity(None, &accept)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(answer["value"]["body"][0]["text"], "You accepted this chat");
    // No Graph in demo mode: the chat takes place in the personal chat.
    wait_post(&app, "chat started", |(_, c, h, _)| {
        c == "personal-conv-1" && h == "Chat started"
    })
    .await;
    wait_post(&app, "first message", |(_, c, h, _)| {
        c == "personal-conv-1" && h == "**Ada**: Hello?"
    })
    .await;
    assert!(app.mock.state.graph_calls.lock().expect("lock").is_empty());
}
