//! The agent's side in Teams (issue 18): what an agent writes survives the bridge — Teams'
//! HTML becomes text plus a safe HTML subset, a quoted reply a quote — and their edits and
//! deletions reach the customer's event stream as such, the transcript keeping both versions.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::admin::Api;
use crate::helpers::TestApp;
use crate::helpers::teams::{self, ANNE, BOB, Customer, Teams};
use crate::mock_bf::TENANT_ID;

/// The customer's event stream (the public API the widget reads) until `done` holds of it; the
/// events with their ids.
async fn stream(
    app: &TestApp,
    customer: &Customer,
    done: impl Fn(&[(i64, Value)]) -> bool,
) -> Vec<(i64, Value)> {
    let mut response = reqwest::Client::new()
        .get(format!(
            "{}/api/interact/v1/sessions/{}/events?token={}",
            app.address, customer.session, customer.token
        ))
        .header("origin", "https://shop.example.com")
        .send()
        .await
        .expect("events");
    assert_eq!(response.status(), 200);
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let events = parse(&text);
        if done(&events) {
            return events;
        }
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(remaining, response.chunk()).await {
            Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            _ => panic!("the stream did not show what was expected: {events:?}"),
        }
    }
}

/// Server-sent events: `id:` and `data:` lines per event.
fn parse(text: &str) -> Vec<(i64, Value)> {
    text.split("\n\n")
        .filter_map(|block| {
            let id = block
                .lines()
                .find_map(|l| l.strip_prefix("id:"))?
                .trim()
                .parse()
                .ok()?;
            let data = block.lines().find_map(|l| l.strip_prefix("data:"))?;
            Some((id, serde_json::from_str(data.trim()).ok()?))
        })
        .collect()
}

/// An agent's message as Teams sends it: a plain flattening in `text` and the formatting in a
/// `text/html` attachment.
fn rich(teams: &Teams<'_>, chat: &str, id: &str, kind: &str, plain: &str, html: &str) -> Value {
    let mut a = teams.activity(ANNE, chat, kind);
    a["id"] = json!(id);
    a["text"] = json!(plain);
    a["textFormat"] = json!("plain");
    a["attachments"] = json!([{"contentType": "text/html", "content": html}]);
    a
}

#[tokio::test]
async fn formatting_survives_the_bridge_and_edits_and_deletions_reach_the_customer() {
    let app = teams::spawn().await;
    teams::seed(&app, "direct", 30, &[ANNE]).await;
    let t = Teams { app: &app };
    let (ada, chat) = teams::connected_chat(&app, &t, Some("Hello")).await;

    // Customer → agent: each line break kept (Teams' markdown joins lines a single newline
    // breaks), the customer's markdown shown as text.
    ada.say(&app, "line *one*\nline two").await;
    teams::wait_post(&app, "two lines", |(_, c, h, _)| {
        c == &chat && h.ends_with("line \\*one\\*  \nline two")
    })
    .await;

    // Formatting, a list, a link, a mention of the bot (left out) and a script (never sent).
    let mut first = rich(
        &t,
        &chat,
        "1700000000001",
        "message",
        "Switchboard Try these: Restart Reset",
        r#"<p><at>Switchboard</at> Try <strong>these</strong>:</p><ol><li>Restart</li><li>Reset, see <a href="https://help.example.com/reset">the guide</a></li></ol><script>alert(1)</script>"#,
    );
    first["entities"] = json!([{"type": "mention", "text": "<at>Switchboard</at>",
        "mentioned": {"id": format!("28:{}", crate::mock_bf::APP_ID), "name": "Switchboard"}}]);
    assert_eq!(t.post(&first).await.status(), 200);
    // A quoted reply of the customer's line, in Teams' newer form: a placeholder and its
    // entity.
    let quoted = teams::posted_id(&app, &chat, "line two").await;
    let mut second = t.activity(ANNE, &chat, "message");
    second["id"] = json!("1700000000002");
    second["text"] = json!(format!(r#"<quoted messageId="{quoted}"/> It ships today."#));
    second["textFormat"] = json!("plain");
    second["entities"] = json!([{"type": "quotedReply", "quotedReply": {
        "messageId": quoted, "senderName": "Ada", "preview": "Where is my order?"}}]);
    assert_eq!(t.post(&second).await.status(), 200);

    let events = stream(&app, &ada, |events| {
        events.iter().filter(|(_, e)| e["from"] == "agent").count() == 2
    })
    .await;
    let agent: Vec<&(i64, Value)> = events
        .iter()
        .filter(|(_, e)| e["from"] == "agent")
        .collect();
    let (first_seq, shown) = agent[0];
    assert_eq!(
        shown["text"],
        "Try these:\n1. Restart\n2. Reset, see the guide (https://help.example.com/reset)"
    );
    assert_eq!(
        shown["html"],
        r#"<p> Try <strong>these</strong>:</p><ol><li>Restart</li><li>Reset, see <a href="https://help.example.com/reset">the guide</a></li></ol>"#
    );
    assert_eq!(
        agent[1].1["text"],
        "> Ada:\n> Where is my order?\nIt ships today."
    );
    assert!(agent[1].1.get("html").is_none(), "{:?}", agent[1].1);

    // The agent edits the first message, then deletes the second.
    let edit = {
        let mut a = rich(
            &t,
            &chat,
            "1700000000001",
            "messageUpdate",
            "Try these: Restart",
            "<p>Try <em>this</em>: restart</p>",
        );
        a["channelData"]["eventType"] = json!("editMessage");
        a
    };
    assert_eq!(t.post(&edit).await.status(), 200);
    let mut delete = t.activity(ANNE, &chat, "messageDelete");
    delete["id"] = json!("1700000000002");
    delete["channelData"]["eventType"] = json!("softDeleteMessage");
    assert_eq!(t.post(&delete).await.status(), 200);
    // An edit of a message that was never relayed (a command, the bot's card) changes nothing.
    let mut stray = t.activity(ANNE, &chat, "messageUpdate");
    stray["id"] = json!("1700000000999");
    stray["text"] = json!("not for the customer");
    stray["channelData"]["eventType"] = json!("editMessage");
    assert_eq!(t.post(&stray).await.status(), 200);

    let second_seq = agent[1].0;
    let events = stream(&app, &ada, |events| {
        events.iter().any(|(_, e)| e["type"] == "messageDeleted")
    })
    .await;
    let edited = events
        .iter()
        .find(|(_, e)| e["type"] == "messageEdited")
        .expect("edited");
    assert_eq!(edited.1["seq"], *first_seq);
    assert_eq!(edited.1["text"], "Try this: restart");
    assert_eq!(edited.1["html"], "<p>Try <em>this</em>: restart</p>");
    let deleted = events
        .iter()
        .find(|(_, e)| e["type"] == "messageDeleted")
        .expect("deleted");
    assert_eq!(deleted.1["seq"], second_seq);
    assert!(
        !events
            .iter()
            .any(|(_, e)| e.to_string().contains("not for the customer")),
        "{events:?}"
    );

    // The transcript keeps the first version and marks the deletion.
    let api = Api::new(&app, TENANT_ID).await;
    let (status, _, body) = api
        .get(&format!("/sessions/{}/transcript", ada.session))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let lines = body["lines"].as_array().expect("lines");
    let line = |seq: i64| lines.iter().find(|l| l["seq"] == seq).expect("line");
    assert_eq!(line(*first_seq)["text"], "Try this: restart");
    assert_eq!(
        line(*first_seq)["originalText"],
        "Try these:\n1. Restart\n2. Reset, see the guide (https://help.example.com/reset)"
    );
    assert!(line(second_seq)["deletedAt"].is_string(), "{body}");

    // After the end, an edit is not sent: the agent is told.
    assert_eq!(t.say(ANNE, &chat, "end").await.status(), 200);
    ada.wait_event(&app, "ended", |e| e["state"] == "ended")
        .await;
    let mut late = edit.clone();
    late["attachments"][0]["content"] = json!("<p>too late</p>");
    assert_eq!(t.post(&late).await.status(), 200);
    teams::wait_post(&app, "note about the late edit", |(_, c, h, _)| {
        c == &chat && h.starts_with("This chat has ended: the customer still sees")
    })
    .await;
}

/// The message extension's search as Teams sends it; the invoke response's body.
async fn search(teams: &Teams<'_>, conversation: &str, parameter: (&str, &str)) -> Value {
    let mut a = teams.activity(ANNE, conversation, "invoke");
    a["name"] = json!("composeExtension/query");
    a["value"] = json!({"commandId": "cannedAnswers",
        "parameters": [{"name": parameter.0, "value": parameter.1}],
        "queryOptions": {"skip": 0, "count": 25}});
    let response = teams.post(&a).await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("invoke body")
}

#[tokio::test]
async fn canned_answers_are_managed_searched_in_teams_inserted_and_sent_by_name() {
    let app = teams::spawn().await;
    teams::seed(&app, "direct", 30, &[ANNE]).await;
    let api = Api::new(&app, TENANT_ID).await;

    // Managed in the admin API, every problem named; scoped to services by id or name.
    let (status, _, body) = api
        .post(
            "/canned-answers",
            &json!({"id": "bad one", "title": "", "text": "Hi ${customer.(}", "services": ["nope"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let codes: Vec<&str> = body["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .filter_map(|p| p["code"].as_str())
        .collect();
    assert_eq!(
        codes,
        [
            "out_of_range",
            "invalid_template",
            "invalid_id",
            "unknown_service"
        ]
    );
    for answer in [
        json!({"id": "greeting", "title": "Greeting",
               "text": "Hello ${customer.displayName}, I am ${agent.displayName} from ${service.name}."}),
        json!({"id": "refund", "title": "Refund policy", "text": "Refunds take 5 days.",
               "services": ["Support"], "keywords": ["money back"]}),
        json!({"id": "sales-only", "title": "Sales discount", "text": "10 % off.", "services": ["sales-x"]}),
    ] {
        let id = answer["id"].as_str().expect("id").to_owned();
        let (status, _, body) = api.post("/canned-answers", &answer).await;
        if id == "sales-only" {
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        } else {
            assert!(status.is_success(), "{status} {body}");
        }
    }
    let (status, _, list) = api.get("/canned-answers").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.to_string().matches("\"title\"").count(), 2, "{list}");

    let t = Teams { app: &app };
    let (ada, chat) = {
        t.install(ANNE).await;
        let ada = teams::start_chat(&app, "Ada *Lovelace*", Some("Hi")).await;
        let id = teams::invitation_for(&app, ANNE, 1).await;
        t.answer(ANNE, "im.invitation.accept", &id).await;
        let (_, chat, _, _) =
            teams::wait_post(&app, "chat started", |(_, _, h, _)| h == "Chat started").await;
        ada.wait_event(&app, "connected", |e| e["state"] == "connected")
            .await;
        (ada, chat)
    };

    // The message extension: the initial run lists the chat's answers, filled in for its
    // customer with the values escaped for Teams' markdown; a search narrows them.
    let all = search(&t, &chat, ("initialRun", "true")).await;
    assert_eq!(all["composeExtension"]["type"], "result", "{all}");
    let results = all["composeExtension"]["attachments"]
        .as_array()
        .expect("results");
    let titles: Vec<&str> = results
        .iter()
        .filter_map(|r| r["preview"]["content"]["title"].as_str())
        .collect();
    assert_eq!(titles, ["Greeting", "Refund policy"]);
    let greeting = &results[0];
    assert_eq!(
        greeting["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(
        greeting["content"]["body"][0]["text"],
        r"Hello Ada \*Lovelace\*, I am Anne Agent from Support."
    );
    // The preview shows the card's text: the customer's name as written, never markup.
    assert_eq!(
        greeting["preview"]["content"]["text"],
        r"Hello Ada \*Lovelace\*, I am Anne Agent from Support."
    );
    let money = search(&t, &chat, ("search", "money")).await;
    assert_eq!(
        money["composeExtension"]["attachments"][0]["preview"]["content"]["title"], "Refund policy",
        "{money}"
    );
    let none = search(&t, &chat, ("search", "zebra")).await;
    assert_eq!(none["composeExtension"]["type"], "message");

    // The agent sends the inserted card: the customer gets its text, unescaped.
    let mut inserted = t.activity(ANNE, &chat, "message");
    inserted["attachments"] =
        json!([{"contentType": greeting["contentType"], "content": greeting["content"]}]);
    assert_eq!(t.post(&inserted).await.status(), 200);
    ada.wait_event(&app, "the inserted answer", |e| {
        e["from"] == "agent" && e["text"] == "Hello Ada *Lovelace*, I am Anne Agent from Support."
    })
    .await;

    // `canned NAME` sends it at once and shows the agent what was sent; a wrong name lists.
    assert_eq!(t.say(ANNE, &chat, "canned refund").await.status(), 200);
    ada.wait_event(&app, "the canned answer", |e| {
        e["from"] == "agent" && e["text"] == "Refunds take 5 days."
    })
    .await;
    teams::wait_post(&app, "what was sent", |(_, c, h, _)| {
        c == &chat && h.starts_with("Sent to the customer:") && h.contains("Refunds take 5 days.")
    })
    .await;
    assert_eq!(t.say(ANNE, &chat, "canned refnd").await.status(), 200);
    teams::wait_post(&app, "did you mean", |(_, c, h, _)| {
        c == &chat && h.starts_with("There is no canned answer refnd.")
    })
    .await;
    let agent_texts = ada
        .events(&app)
        .await
        .into_iter()
        .filter(|e| e["from"] == "agent")
        .count();
    assert_eq!(agent_texts, 2, "a wrong name sends nothing");
    // A sentence that starts with the word is a message, not the command.
    t.say(ANNE, &chat, "Canned tea ships today").await;
    ada.wait_event(&app, "a sentence", |e| {
        e["text"] == "Canned tea ships today"
    })
    .await;

    // Someone who is not an agent of the tenant gets no answers.
    let mut stranger = t.activity(ANNE, &chat, "invoke");
    stranger["from"] = json!({"id": "29:stranger", "name": "S", "aadObjectId": "00000000-0000-0000-0000-00000000dead"});
    stranger["name"] = json!("composeExtension/query");
    stranger["value"] = json!({"commandId": "cannedAnswers", "parameters": [{"name": "initialRun", "value": "true"}]});
    let answer: Value = t.post(&stranger).await.json().await.expect("json");
    assert_eq!(answer["composeExtension"]["type"], "message", "{answer}");
}

/// The transfer invitations sent to `agent`'s personal chat, oldest first.
fn transfer_cards(app: &TestApp, agent: teams::Agent) -> Vec<Value> {
    teams::posts(app)
        .into_iter()
        .filter(|(m, c, h, _)| m == "POST" && c == agent.personal && h == "Chat transfer")
        .map(|(_, _, _, b)| b)
        .collect()
}

async fn transfer_invitation(app: &TestApp, agent: teams::Agent, n: usize) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(card) = transfer_cards(app, agent).get(n - 1) {
            return card.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "no transfer #{n}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn invitation_id(card: &Value) -> String {
    card.to_string()
        .split("\"invitationId\":\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("invitation id")
        .to_owned()
}

#[tokio::test]
async fn a_transfer_declined_unanswered_then_accepted_moves_the_chat_and_is_reported() {
    let clock = std::sync::Arc::new(switchboard::clock::ManualClock::default());
    let app = teams::spawn_with(teams::config().clock(clock.clone())).await;
    teams::seed(&app, "direct", 30, &[ANNE, BOB]).await;
    let t = Teams { app: &app };
    let (ada, chat) = teams::connected_chat(&app, &t, Some("My invoice is wrong")).await;
    t.install(BOB).await;
    t.say(ANNE, &chat, "Let me find the right person.").await;
    ada.wait_event(&app, "agent message", |e| e["from"] == "agent")
        .await;

    // `transfer` brings the card: the services and the colleagues free now, never Anne.
    assert_eq!(t.say(ANNE, &chat, "transfer").await.status(), 200);
    let (_, _, _, card) = teams::wait_post(&app, "transfer card", |(_, c, h, _)| {
        c == &chat && h == "Transfer this chat"
    })
    .await;
    let choices = card
        .pointer("/attachments/0/content/body/2/choices")
        .expect("choices")
        .to_string();
    assert!(choices.contains("service:support"), "{choices}");
    assert!(choices.contains(&format!("user:{}", BOB.aad)), "{choices}");
    assert!(!choices.contains(ANNE.aad), "{choices}");
    // The session card's Transfer button gives the same card (keeping End chat); only the
    // chat's agent may use it.
    let opened = t
        .press(
            ANNE,
            &chat,
            "im.transfer.open",
            json!({"sessionId": ada.session}),
        )
        .await;
    assert_eq!(
        opened["value"]["body"][0]["text"], "Transfer this chat",
        "{opened}"
    );
    assert!(opened.to_string().contains("im.session.end"), "{opened}");
    let foreign = t
        .press(
            BOB,
            BOB.personal,
            "im.transfer.open",
            json!({"sessionId": ada.session}),
        )
        .await;
    assert_eq!(
        foreign["value"],
        "Only the agent of this chat can transfer it."
    );
    let session = ada.session.clone();
    let transfer = |reason: &str| json!({"sessionId": session, "target": format!("user:{}", BOB.aad), "reason": reason});

    // 1. Bob declines: the chat stays with Anne, who is told.
    let answer = t
        .press(ANNE, &chat, "im.transfer", transfer("Billing *question*"))
        .await;
    assert_eq!(
        answer["value"]["body"][0]["text"], "Transfer requested",
        "{answer}"
    );
    let invitation = transfer_invitation(&app, BOB, 1).await;
    let text = invitation.to_string();
    assert!(
        text.contains("Anne Agent transfers this chat to you"),
        "{text}"
    );
    assert!(
        text.contains(r"Billing \\*question\\*"),
        "the reason is escaped: {text}"
    );
    assert!(
        text.contains("My invoice is wrong") && text.contains("Let me find the right person."),
        "the conversation so far: {text}"
    );
    t.answer(BOB, "im.invitation.decline", &invitation_id(&invitation))
        .await;
    teams::wait_post(&app, "declined notice", |(_, c, h, _)| {
        c == &chat && h.contains("Your transfer was declined: the chat stays with you.")
    })
    .await;
    t.say(ANNE, &chat, "Still me.").await;
    ada.wait_event(&app, "Anne still writes", |e| e["text"] == "Still me.")
        .await;

    // 2. Nobody answers in time: back to Anne.
    t.press(ANNE, &chat, "im.transfer", transfer("")).await;
    transfer_invitation(&app, BOB, 2).await;
    clock.advance(chrono::Duration::seconds(31));
    let engine = app.state.engines.get(TENANT_ID).await.expect("engine");
    engine
        .send(switchboard::engine::messages::Command::Tick)
        .await
        .expect("tick");
    teams::wait_post(&app, "unanswered notice", |(_, c, h, _)| {
        c == &chat && h.contains("Nobody answered your transfer in time")
    })
    .await;

    // 3. Accepted: Bob's chatroom opens with the conversation so far, Anne's closes with a
    // notice, the customer is told who writes now, and both sides reach the right people.
    t.press(ANNE, &chat, "im.transfer", transfer("Billing"))
        .await;
    let third = transfer_invitation(&app, BOB, 3).await;
    t.answer(BOB, "im.invitation.accept", &invitation_id(&third))
        .await;
    teams::wait_post(&app, "handed over", |(_, c, h, _)| {
        c == &chat && h.contains("Bob Agent has this chat now.")
    })
    .await;
    ada.wait_event(&app, "Bob connected", |e| {
        e["state"] == "connected" && e["agent"] == "Bob Agent"
    })
    .await;
    let (_, bob_chat, _, _) = teams::wait_post(&app, "Bob's chatroom", |(_, c, h, _)| {
        h == "Chat started" && *c != chat
    })
    .await;
    teams::wait_post(&app, "the conversation so far", |(_, c, h, _)| {
        c == &bob_chat && h.starts_with("**The conversation so far:**") && h.contains("Still me.")
    })
    .await;
    ada.say(&app, "Hello Bob").await;
    teams::wait_post(&app, "customer to Bob", |(_, c, h, _)| {
        c == &bob_chat && h.ends_with("Hello Bob")
    })
    .await;
    t.say(BOB, &bob_chat, "Hi, Bob here.").await;
    ada.wait_event(&app, "Bob writes", |e| {
        e["text"] == "Hi, Bob here." && e["name"] == "Bob Agent"
    })
    .await;
    let before = ada.events(&app).await.len();
    t.say(ANNE, &chat, "Anne again?").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        ada.events(&app).await.len(),
        before,
        "Anne's chatroom is closed"
    );

    // The chat ends with Bob; the report names the transfer chain.
    assert_eq!(t.say(BOB, &bob_chat, "end").await.status(), 200);
    ada.wait_event(&app, "ended", |e| e["state"] == "ended")
        .await;
    let api = Api::new(&app, TENANT_ID).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let session = loop {
        let (status, _, body) = api.get("/reports/sessions").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if let Some(s) = body["items"].as_array().and_then(|i| i.first()).cloned() {
            break s;
        }
        assert!(tokio::time::Instant::now() < deadline, "no report: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(session["agent"], BOB.aad, "{session}");
    assert_eq!(session["transferredBy"], json!([ANNE.aad]), "{session}");
    assert_eq!(session["outcome"], "handled");
}

#[tokio::test]
async fn a_supervisor_lists_monitors_whispers_barges_in_and_takes_over_and_it_is_logged() {
    let app = teams::spawn().await;
    teams::seed(&app, "direct", 30, &[ANNE, BOB]).await;
    let api = Api::new(&app, TENANT_ID).await;
    let (status, etag, mut service) = api.get("/services/support").await;
    assert_eq!(status, StatusCode::OK, "{service}");
    service["supervisors"] = json!([BOB.aad]);
    let (status, _, body) = api
        .put("/services/support", &service, etag.as_deref())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let t = Teams { app: &app };
    let (ada, chat) = teams::connected_chat(&app, &t, Some("Hello")).await;
    t.install(BOB).await;

    // `chats` lists the live chats of the services Bob supervises; Anne supervises none.
    assert_eq!(t.say(BOB, BOB.personal, "chats").await.status(), 200);
    let (_, _, _, list) = teams::wait_post(&app, "live chats", |(_, c, h, _)| {
        c == BOB.personal && h == "Live chats"
    })
    .await;
    let list = list.to_string();
    assert!(
        list.contains("**Ada** – Support – with Anne Agent"),
        "{list}"
    );
    for verb in [
        "im.supervise.monitor",
        "im.supervise.whisper",
        "im.supervise.barge",
        "im.supervise.takeover",
    ] {
        assert!(list.contains(verb), "{verb}: {list}");
    }
    let data = json!({"sessionId": ada.session});
    let refused = t
        .press(ANNE, ANNE.personal, "im.supervise.monitor", data.clone())
        .await;
    assert_eq!(
        refused["value"],
        "Only a supervisor of this chat's service can do this."
    );

    // Monitor: both sides, in order, in Bob's personal chat.
    t.press(BOB, BOB.personal, "im.supervise.monitor", data.clone())
        .await;
    ada.say(&app, "My order is late").await;
    teams::wait_post(&app, "customer line at Anne", |(_, c, h, _)| {
        c == &chat && h.ends_with("My order is late")
    })
    .await;
    t.say(ANNE, &chat, "Let me look").await;
    ada.wait_event(&app, "Anne's answer", |e| e["text"] == "Let me look")
        .await;
    let mirrored = |app: &TestApp| -> Vec<String> {
        teams::posts(app)
            .into_iter()
            .filter(|(m, c, h, _)| m == "POST" && c == BOB.personal && h.starts_with("👁"))
            .map(|(_, _, h, _)| h)
            .collect()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while mirrored(&app).len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            mirrored(&app)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        mirrored(&app),
        [
            "👁 **Ada**: My order is late",
            "👁 **Anne Agent**: Let me look"
        ]
    );

    // Whisper: in Anne's chat, marked, never the customer's.
    let whisper = t
        .press(
            BOB,
            BOB.personal,
            "im.supervise.whisper",
            json!({"sessionId": ada.session, "whisper": "Offer a refund"}),
        )
        .await;
    assert_eq!(whisper["value"], "Whispered to the agent.");
    teams::wait_post(&app, "whisper", |(_, c, h, _)| {
        c == &chat
            && h.starts_with("🔒 **Whisper from Bob Agent**")
            && h.ends_with("Offer a refund")
    })
    .await;

    // Barge in: Bob is added to the group chat with Graph, the customer is told, and what Bob
    // writes there reaches the customer with his name.
    t.press(BOB, BOB.personal, "im.supervise.barge", data.clone())
        .await;
    let member = app
        .mock
        .state
        .graph_calls
        .lock()
        .expect("lock")
        .iter()
        .find(|c| c.path == format!("/chats/{chat}/members"))
        .cloned()
        .expect("members call");
    assert!(
        member.body.expect("body")["user@odata.bind"]
            .as_str()
            .expect("bind")
            .contains(BOB.aad)
    );
    ada.wait_event(&app, "joined", |e| {
        e["text"] == "Bob Agent joined the chat."
    })
    .await;
    t.say(BOB, &chat, "Hello, I am Anne's supervisor.").await;
    ada.wait_event(&app, "Bob in the chat", |e| {
        e["text"] == "Hello, I am Anne's supervisor." && e["name"] == "Bob Agent"
    })
    .await;

    // Take over: the chat is Bob's at once, in a chatroom of his own.
    let taken = t
        .press(BOB, BOB.personal, "im.supervise.takeover", data.clone())
        .await;
    assert_eq!(
        taken["value"],
        "The chat with Ada is yours: it opens in a new chat."
    );
    ada.wait_event(&app, "Bob has it", |e| {
        e["state"] == "connected" && e["agent"] == "Bob Agent"
    })
    .await;
    teams::wait_post(&app, "Anne's chat closes", |(_, c, h, _)| {
        c == &chat && h.contains("Bob Agent has this chat now.")
    })
    .await;

    assert!(
        !ada.events(&app)
            .await
            .iter()
            .any(|e| e.to_string().contains("Offer a refund")),
        "a whisper never reaches the customer"
    );
    let (status, _, transcript) = api
        .get(&format!("/sessions/{}/transcript", ada.session))
        .await;
    assert_eq!(status, StatusCode::OK);
    let actions: Vec<(String, String)> = transcript["supervision"]
        .as_array()
        .expect("supervision")
        .iter()
        .map(|a| {
            (
                a["user"].as_str().expect("user").to_owned(),
                a["action"].as_str().expect("action").to_owned(),
            )
        })
        .collect();
    let bob = BOB.aad.to_owned();
    assert_eq!(
        actions,
        [
            (bob.clone(), "monitor".to_owned()),
            (bob.clone(), "whisper".to_owned()),
            (bob.clone(), "barge".to_owned()),
            (bob, "takeover".to_owned())
        ]
    );
}

#[tokio::test]
async fn files_go_both_ways_checked_capped_and_their_links_expire() {
    let clock = std::sync::Arc::new(switchboard::clock::ManualClock::default());
    let config = teams::config()
        .clock(clock.clone())
        .env("SWITCHBOARD_BOT__CHATROOM", "personal")
        .env("SWITCHBOARD_INTERACT__UPLOAD_MAX_BYTES", "1048576");
    let app = teams::spawn_with(config).await;
    teams::seed(&app, "direct", 30, &[ANNE]).await;
    let t = Teams { app: &app };
    let (ada, chat) = teams::connected_chat(&app, &t, Some("Hello")).await;
    assert_eq!(chat, ANNE.personal, "the personal-chat chatroom");
    let origin = app.mock.service_url().trim_end_matches("/amer/").to_owned();
    let attach = |text: &str, name: &str| {
        let mut a = t.activity(ANNE, &chat, "message");
        a["text"] = json!(text);
        a["textFormat"] = json!("plain");
        a["attachments"] = json!([{"contentType": "application/vnd.microsoft.teams.file.download.info",
            "name": name, "contentUrl": format!("https://contoso.sharepoint.com/{name}"),
            "content": {"downloadUrl": format!("{origin}/files/{name}"), "uniqueId": "1", "fileType": "pdf"}}]);
        a
    };

    // Agent → customer: fetched, checked, stored, sent as a link that serves the file.
    assert_eq!(
        t.post(&attach("Here is your invoice", "invoice.pdf"))
            .await
            .status(),
        200
    );
    let sent = ada
        .wait_event(&app, "the file's link", |e| {
            e["from"] == "agent"
                && e["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("📎 invoice.pdf"))
        })
        .await;
    let text = sent["text"].as_str().expect("text");
    assert!(
        text.starts_with("Here is your invoice\n📎 invoice.pdf (22 B): "),
        "{text}"
    );
    let link = text.rsplit(' ').next().expect("link").to_owned();
    let file = reqwest::get(&link).await.expect("file");
    assert_eq!(file.status(), 200);
    assert_eq!(file.headers()["content-type"], "application/pdf");
    assert!(file.bytes().await.expect("bytes").starts_with(b"%PDF-1.4"));
    // A file that is not what its name says, or too large, is refused with the reason.
    t.post(&attach("", "fake.pdf")).await;
    teams::wait_post(&app, "fake refused", |(_, c, h, _)| {
        c == &chat && h == "Nothing was sent: fake.pdf: its content is not a application/pdf file."
    })
    .await;
    t.post(&attach("", "huge.pdf")).await;
    teams::wait_post(&app, "huge refused", |(_, c, h, _)| {
        c == &chat && h == "Nothing was sent: huge.pdf: it is larger than 1.0 MB."
    })
    .await;

    // Customer → agent: a file card with the image shown and an Open button.
    let png = b"\x89PNG\r\n\x1a\nmock".to_vec();
    let upload = reqwest::Client::new()
        .post(format!(
            "{}/api/interact/v1/sessions/{}/files?name=shot.png",
            app.address, ada.session
        ))
        .header("origin", "https://shop.example.com")
        .header("content-type", "image/png")
        .bearer_auth(&ada.token)
        .body(png)
        .send()
        .await
        .expect("upload");
    assert_eq!(upload.status(), 201);
    let (_, _, _, card) = teams::wait_post(&app, "file card", |(_, c, h, _)| {
        c == &chat && h == "**Ada** sent a file"
    })
    .await;
    let content = &card["attachments"][0]["content"];
    assert_eq!(content["body"][2]["type"], "Image", "{content}");
    let open = content["actions"][0]["url"]
        .as_str()
        .expect("url")
        .to_owned();
    assert_eq!(content["actions"][0]["type"], "Action.OpenUrl");
    assert_eq!(reqwest::get(&open).await.expect("open").status(), 200);

    // After interact.file_link_hours (72 h by default) the links are gone.
    clock.advance(chrono::Duration::hours(73));
    for url in [&link, &open] {
        let expired = reqwest::get(url.as_str()).await.expect("expired");
        assert_eq!(expired.status(), 410);
        let body: Value = expired.json().await.expect("problem");
        assert_eq!(body["code"], "link_expired");
    }
}

#[tokio::test]
async fn a_read_receipt_in_the_personal_chat_marks_the_customers_messages_read() {
    let config = teams::config().env("SWITCHBOARD_BOT__CHATROOM", "personal");
    let app = teams::spawn_with(config).await;
    teams::seed(&app, "direct", 30, &[ANNE]).await;
    let t = Teams { app: &app };
    let (ada, chat) = teams::connected_chat(&app, &t, Some("Hello")).await;
    for text in ["one", "two", "three"] {
        ada.say(&app, text).await;
    }
    teams::wait_post(&app, "three", |(_, c, h, _)| {
        c == &chat && h.ends_with("three")
    })
    .await;
    let seq_of = |events: &[Value], text: &str| -> usize {
        events
            .iter()
            .position(|e| e["type"] == "customerMessage" && e["text"] == text)
            .expect("message")
            + 1
    };
    // The ids Teams gave the posts of "one", "two", "three" (in the order they were posted),
    // after the opening "Hello" posted when the chatroom opened.
    let mut ids: Vec<String> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while ids.len() < 4 {
        ids = app
            .texts(
                "SELECT o.result_id FROM agent_reads r JOIN outbox o ON o.id = r.outbox_id
                 WHERE o.state = 'delivered' ORDER BY r.outbox_id",
                &[],
            )
            .await;
        assert!(tokio::time::Instant::now() < deadline, "{ids:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ids = ids.split_off(1);
    let mut receipt = t.activity(ANNE, &chat, "event");
    receipt["name"] = json!("application/vnd.microsoft.readReceipt");
    receipt["value"] = json!({"lastReadMessageId": ids[1]});
    assert_eq!(t.post(&receipt).await.status(), 200);
    let read = ada.wait_event(&app, "read", |e| e["type"] == "read").await;
    let events = ada.events(&app).await;
    assert_eq!(read["upTo"], seq_of(&events, "two") as i64, "{events:?}");
    // Read again up to the same message: nothing new; an unknown id changes nothing.
    t.post(&receipt).await;
    receipt["value"] = json!({"lastReadMessageId": "not-a-message"});
    t.post(&receipt).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let reads = ada
        .events(&app)
        .await
        .into_iter()
        .filter(|e| e["type"] == "read")
        .count();
    assert_eq!(reads, 1);
}

#[tokio::test]
async fn in_the_personal_chat_fallback_a_barged_supervisor_writes_as_the_service_and_can_take_over()
{
    let config = teams::config().env("SWITCHBOARD_BOT__CHATROOM", "personal");
    let app = teams::spawn_with(config).await;
    teams::seed(&app, "direct", 30, &[ANNE, BOB]).await;
    let api = Api::new(&app, TENANT_ID).await;
    let (_, etag, mut service) = api.get("/services/support").await;
    service["supervisors"] = json!([BOB.aad]);
    let (status, _, body) = api
        .put("/services/support", &service, etag.as_deref())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let t = Teams { app: &app };
    let (ada, chat) = teams::connected_chat(&app, &t, Some("Hello")).await;
    assert_eq!(chat, ANNE.personal);
    t.install(BOB).await;
    let data = json!({"sessionId": ada.session});

    // No group chat to join: Bob writes from his personal chat, as the service, and sees both
    // sides there.
    let barged = t
        .press(BOB, BOB.personal, "im.supervise.barge", data.clone())
        .await;
    assert!(
        barged["value"]
            .as_str()
            .is_some_and(|v| v.contains("as the service")),
        "{barged}"
    );
    assert!(
        !app.mock
            .state
            .graph_calls
            .lock()
            .expect("lock")
            .iter()
            .any(|c| c.path.ends_with("/members")),
        "no Graph membership in the fallback"
    );
    ada.wait_event(&app, "joined", |e| {
        e["text"] == "Bob Agent joined the chat."
    })
    .await;
    t.say(BOB, BOB.personal, "A supervisor here.").await;
    ada.wait_event(&app, "Bob as the service", |e| {
        e["from"] == "service" && e["text"] == "A supervisor here."
    })
    .await;
    t.say(ANNE, &chat, "Anne here.").await;
    teams::wait_post(&app, "mirrored to Bob", |(_, c, h, _)| {
        c == BOB.personal && h == "👁 **Anne Agent**: Anne here."
    })
    .await;

    // Take over: the chat moves into Bob's personal chat; what he writes is the agent's now.
    t.press(BOB, BOB.personal, "im.supervise.takeover", data)
        .await;
    ada.wait_event(&app, "Bob has it", |e| {
        e["state"] == "connected" && e["agent"] == "Bob Agent"
    })
    .await;
    teams::wait_post(&app, "Bob's chatroom", |(_, c, h, _)| {
        c == BOB.personal && h == "Chat started"
    })
    .await;
    t.say(BOB, BOB.personal, "I take it from here.").await;
    ada.wait_event(&app, "Bob as the agent", |e| {
        e["from"] == "agent" && e["name"] == "Bob Agent" && e["text"] == "I take it from here."
    })
    .await;
}

/// An Entra access token for the app, as Teams single sign-on gets it for the tab.
pub(crate) fn tab_token(app: &TestApp, oid: &str, aud: &str, scp: Option<&str>) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "iss": format!("{}/entra/{TENANT_ID}/v2.0", app.mock.base_url),
        "aud": aud, "tid": TENANT_ID, "oid": oid, "name": "Someone", "ver": "2.0",
        "exp": now + 3600, "nbf": now - 10, "iat": now - 10,
    });
    if let Some(scp) = scp {
        claims["scp"] = json!(scp);
    }
    crate::mock_bf::TestKey::one().sign(&claims)
}

pub(crate) fn tab_config() -> crate::helpers::TestConfig {
    teams::config().env("SWITCHBOARD_PREFERENCES__AUTHORITY_URL", "{mock}/entra")
}

#[tokio::test]
async fn my_sessions_signs_in_with_teams_sso_and_acts_like_the_cards() {
    let app = teams::spawn_with(tab_config()).await;
    teams::seed(&app, "direct", 30, &[ANNE]).await;
    let t = Teams { app: &app };
    t.install(ANNE).await;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}/api/tab/v1/{path}", app.address);
    let app_id = crate::mock_bf::APP_ID;
    let host = url::Url::parse(&app.state.public_base)
        .expect("base")
        .host_str()
        .expect("host")
        .to_owned();
    let anne = tab_token(
        &app,
        ANNE.aad,
        &format!("api://{host}/{app_id}"),
        Some("access_as_user"),
    );

    // Refused: no token, an id token (no scopes), another app's token, someone not an agent.
    let no_token = http.get(url("me")).send().await.expect("me");
    assert_eq!(no_token.status(), 401);
    assert_eq!(
        no_token.headers()["content-type"],
        "application/problem+json"
    );
    for token in [
        tab_token(&app, ANNE.aad, app_id, None),
        tab_token(&app, ANNE.aad, "another-app", Some("access_as_user")),
    ] {
        let refused = http
            .get(url("me"))
            .bearer_auth(token)
            .send()
            .await
            .expect("me");
        assert_eq!(refused.status(), 401);
    }
    let stranger = tab_token(
        &app,
        "00000000-0000-0000-0000-00000000dead",
        app_id,
        Some("access_as_user"),
    );
    let refused = http
        .get(url("me"))
        .bearer_auth(stranger)
        .send()
        .await
        .expect("me");
    assert_eq!(refused.status(), 403);

    let me = || async {
        let r = http
            .get(url("me"))
            .bearer_auth(&anne)
            .send()
            .await
            .expect("me");
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.expect("json")
    };
    let act = |verb: &'static str, data: Value| {
        let (http, url, anne) = (http.clone(), url("actions"), anne.clone());
        async move {
            let r = http
                .post(url)
                .bearer_auth(anne)
                .json(&json!({"verb": verb, "data": data}))
                .send()
                .await
                .expect("act");
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.expect("json")["message"]
                .as_str()
                .expect("message")
                .to_owned()
        }
    };

    // A chat rings: the tab shows it, and Accept connects it.
    let ada = teams::start_chat(&app, "Ada", Some("Hi")).await;
    teams::invitation_for(&app, ANNE, 1).await;
    let ringing = me().await;
    assert_eq!(ringing["displayName"], "Anne Agent");
    let invitation = ringing["invitations"][0].clone();
    assert_eq!(invitation["customer"], "Ada", "{ringing}");
    let accepted = act(
        "im.invitation.accept",
        json!({"invitationId": invitation["invitationId"]}),
    )
    .await;
    assert_eq!(accepted, "You accepted this chat");
    ada.wait_event(&app, "connected", |e| e["state"] == "connected")
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let live = loop {
        let now = me().await;
        if now["live"].as_array().is_some_and(|l| !l.is_empty()) {
            break now;
        }
        assert!(tokio::time::Instant::now() < deadline, "{now}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(live["live"][0]["sessionId"], ada.session.as_str());
    assert_eq!(live["supervised"], json!([]), "Anne supervises nothing yet");

    // As a supervisor of Support she also sees its live chats: Ada's, and Bea's waiting.
    let api = Api::new(&app, TENANT_ID).await;
    let (_, etag, mut service) = api.get("/services/support").await;
    service["supervisors"] = json!([ANNE.aad]);
    let (status, _, body) = api
        .put("/services/support", &service, etag.as_deref())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let _bea = teams::start_chat(&app, "Bea", None).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = me().await;
        let states: Vec<&str> = now["supervised"]
            .as_array()
            .expect("supervised")
            .iter()
            .filter_map(|s| s["state"].as_str())
            .collect();
        if states.contains(&"connected") && states.contains(&"queued") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{now}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // End chat from the tab: after-contact work, which the tab extends and ends.
    assert_eq!(
        act("im.session.end", json!({"sessionId": ada.session})).await,
        "The chat has ended."
    );
    ada.wait_event(&app, "ended", |e| e["state"] == "ended")
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = me().await;
        if now["acw"].is_object() && now["recent"].as_array().is_some_and(|r| !r.is_empty()) {
            assert_eq!(now["recent"][0]["outcome"], "handled");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{now}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        act("im.acw.extend", json!({})).await,
        "After-contact work extended."
    );
    assert_eq!(
        act("im.acw.done", json!({})).await,
        "After-contact work done: you receive chats again."
    );
    // Only the cards' actions.
    let other = http
        .post(url("actions"))
        .bearer_auth(&anne)
        .json(&json!({"verb": "im.supervise.takeover", "data": {}}))
        .send()
        .await
        .expect("act");
    assert_eq!(other.status(), 400);
}

#[tokio::test]
async fn cards_format_numbers_in_the_agents_teams_locale() {
    // A restyled invitation (cards.dir) that formats a number without naming a locale.
    let dir = tempfile::tempdir().expect("cards dir");
    let mut card: Value =
        serde_json::from_str(include_str!("../../cards/im-invitation.json")).expect("card");
    card["body"]
        .as_array_mut()
        .expect("body")
        .push(json!({"type": "TextBlock", "text": "Order total ${formatNumber(1234.5, 2)}", "wrap": true}));
    std::fs::write(dir.path().join("im-invitation.json"), card.to_string()).expect("write");
    let config = teams::config().env("SWITCHBOARD_CARDS__DIR", dir.path().to_str().expect("path"));
    let app = teams::spawn_with(config).await;
    teams::seed(&app, "direct", 30, &[ANNE]).await;
    let t = Teams { app: &app };
    // Anne's Teams runs in German: the install activity says so.
    let mut install = t.activity(ANNE, ANNE.personal, "installationUpdate");
    install["action"] = json!("add");
    install["locale"] = json!("de-DE");
    assert_eq!(t.post(&install).await.status(), 200);
    teams::start_chat(&app, "Ada", None).await;
    teams::invitation_for(&app, ANNE, 1).await;
    let (_, _, _, invitation) = teams::wait_post(&app, "invitation", |(_, c, h, _)| {
        c == ANNE.personal && h == "New chat request"
    })
    .await;
    let text = invitation.to_string();
    assert!(text.contains("Order total 1.234,50"), "{text}");
}

#[tokio::test]
async fn the_file_types_chats_take_are_configurable() {
    let config = teams::config().env("SWITCHBOARD_INTERACT__FILE_TYPES", "application/pdf");
    let app = teams::spawn_with(config).await;
    teams::seed(&app, "direct", 30, &[ANNE]).await;
    let t = Teams { app: &app };
    let (ada, _) = teams::connected_chat(&app, &t, Some("Hello")).await;
    let widget: Value = reqwest::get(format!(
        "{}/api/interact/v1/contacts/{}/widget?key={}",
        app.address,
        teams::CONTACT,
        teams::KEY
    ))
    .await
    .expect("widget")
    .json()
    .await
    .expect("json");
    assert_eq!(
        widget["uploads"]["types"],
        json!(["application/pdf"]),
        "{widget}"
    );
    let upload = |name: &str, content_type: &str, bytes: Vec<u8>| {
        reqwest::Client::new()
            .post(format!(
                "{}/api/interact/v1/sessions/{}/files?name={name}",
                app.address, ada.session
            ))
            .header("origin", "https://shop.example.com")
            .header("content-type", content_type.to_owned())
            .bearer_auth(&ada.token)
            .body(bytes)
            .send()
    };
    let png = upload("shot.png", "image/png", b"\x89PNG\r\n\x1a\nx".to_vec())
        .await
        .expect("png");
    assert_eq!(png.status(), 415);
    let problem: Value = png.json().await.expect("problem");
    assert_eq!(problem["code"], "file_type_not_allowed");
    let pdf = upload("a.pdf", "application/pdf", b"%PDF-1.4\n".to_vec())
        .await
        .expect("pdf");
    assert_eq!(pdf.status(), 201);
}
