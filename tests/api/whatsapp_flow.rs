//! The WhatsApp loop end to end, against the mock Cloud API and the mock Bot Framework: a
//! customer's message becomes an invitation, the agent accepts, and they write both ways; the
//! 24-hour window, Meta's throughput errors and failed statuses reach the agent, never silence.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use switchboard::directory::model::Service;
use switchboard::store::AsPool;

use crate::admin::Api;
use crate::helpers::TestApp;
use crate::helpers::teams::{self, ANNE, Teams, chat_texts, invitation_for, seed_agent, wait_post};
use crate::mock_bf::TENANT_ID;
use crate::mock_whatsapp::{ACCOUNT, APP_SECRET, Answer, MockCloud, NUMBER, TOKEN, VERIFY_TOKEN};

const SHEENA: &str = "16505551234";

async fn spawn() -> (TestApp, Arc<MockCloud>) {
    let cloud = MockCloud::start().await;
    let app = teams::spawn_with(
        teams::config()
            .env("SWITCHBOARD_WHATSAPP__APP_SECRET", APP_SECRET)
            .env("SWITCHBOARD_WHATSAPP__VERIFY_TOKEN", VERIFY_TOKEN)
            .env(
                "SWITCHBOARD_WHATSAPP__GRAPH_BASE_URL",
                &cloud.graph_base_url(),
            ),
    )
    .await;
    cloud.deliver_to(&app.address);
    let workflow = teams::queue_workflow("im", "direct", 30);
    let service: Service = serde_json::from_value(json!({
        "id": "support", "name": "Support", "workflow": "im", "members": [ANNE.aad],
        "licenses": {"contactCenter": true}, "modalities": {"instantMessage": true},
        "distribution": {"acwSeconds": 20, "ronaResetSeconds": 600},
        "whatsapp": {"phoneNumberId": NUMBER}
    }))
    .expect("service");
    crate::helpers::put_service(&app, TENANT_ID, &workflow, &service).await;
    seed_agent(&app, ANNE).await;
    let api = Api::new(&app, TENANT_ID).await;
    let (status, etag, _) = api.get("/settings").await;
    assert_eq!(status, 200);
    let (status, _, _) = api
        .call(
            reqwest::Method::PUT,
            "/settings",
            Some(&json!({"name": "Contoso", "whatsapp": {"accessToken": TOKEN, "businessAccountId": ACCOUNT}})),
            etag.as_deref(),
        )
        .await;
    assert_eq!(status, 200);
    (app, cloud)
}

/// Waits until `found` holds for what the mock Cloud API has received.
async fn wait_cloud(cloud: &MockCloud, what: &str, found: impl Fn(&MockCloud) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !found(cloud) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {what}; sent: {:#?}",
            cloud
                .sent()
                .iter()
                .map(|s| s.body.clone())
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_chat(app: &TestApp, chat: &str, text: &str) {
    wait_post(app, text, |(m, c, h, _)| {
        m == "POST" && c == chat && h.contains(text)
    })
    .await;
}

/// Sheena writes, Anne accepts; returns the chatroom.
async fn connected(app: &TestApp, cloud: &MockCloud, teams: &Teams<'_>) -> String {
    teams.install(ANNE).await;
    assert_eq!(
        cloud
            .customer_says(SHEENA, "Sheena", "wamid.IN1", "Hello, my order is late")
            .await,
        200
    );
    let invitation = invitation_for(app, ANNE, 1).await;
    teams
        .answer(ANNE, "im.invitation.accept", &invitation)
        .await;
    let (_, chat, _, card) =
        wait_post(app, "chat started", |(_, _, h, _)| h == "Chat started").await;
    // The session card says until when the agent can write freely.
    assert!(
        card.to_string()
            .contains("WhatsApp: you can write freely until"),
        "{card}"
    );
    wait_chat(app, &chat, "Hello, my order is late").await;
    wait_cloud(cloud, "connected message", |c| {
        c.texts_to(SHEENA)
            .contains(&"You are now chatting with Anne Agent.".to_owned())
    })
    .await;
    chat
}

async fn outbound_status(app: &TestApp, text_seq_of: &str) -> Option<String> {
    app.text(
        "SELECT o.status FROM whatsapp_outbound o JOIN interact_events e
           ON e.session_id = o.session_id AND e.seq = o.seq
         WHERE e.event LIKE '%' || $1 || '%'",
        &[text_seq_of],
    )
    .await
}

#[tokio::test]
async fn a_whatsapp_customer_reaches_an_agent_and_they_write_both_ways() {
    let (app, cloud) = spawn().await;
    let teams = Teams { app: &app };
    let chat = connected(&app, &cloud, &teams).await;

    teams.say(ANNE, &chat, "Let me check that for you").await;
    wait_cloud(&cloud, "the agent's message", |c| {
        c.texts_to(SHEENA)
            .contains(&"Let me check that for you".to_owned())
    })
    .await;
    // Its statuses come back out of order (delivered before sent): it stays delivered.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while outbound_status(&app, "Let me check that for you")
        .await
        .as_deref()
        != Some("delivered")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no delivered status"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        outbound_status(&app, "Let me check that for you")
            .await
            .as_deref(),
        Some("delivered")
    );

    // The live view shows the session's window and its messages' statuses.
    let (status, _, live) = Api::new(&app, TENANT_ID).await.get("/live").await;
    assert_eq!(status, 200);
    let session = &live["sessions"][0];
    assert_eq!(session["channel"], "whatsapp", "{live}");
    assert_eq!(session["whatsapp"]["windowOpen"], true, "{live}");
    assert!(
        session["whatsapp"]["windowEndsAt"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{live}"
    );
    assert!(
        session["whatsapp"]["messages"]["delivered"].as_i64() >= Some(1),
        "{live}"
    );

    // The website customer API never opens a WhatsApp session, whatever token is shown.
    let session = app
        .text("SELECT session_id FROM whatsapp_sessions", &[])
        .await
        .expect("session");
    for token in ["", "!whatsapp", "x"] {
        let response = reqwest::Client::new()
            .post(format!(
                "{}/api/interact/v1/sessions/{session}/messages",
                app.address
            ))
            .bearer_auth(token)
            .json(&json!({"text": "injected", "clientMessageId": "c1"}))
            .send()
            .await
            .expect("post");
        assert!(
            [401, 404].contains(&response.status().as_u16()),
            "{token:?}: {}",
            response.status()
        );
    }
    let injected = app
        .count("SELECT COUNT(*) FROM interact_events WHERE event LIKE '%injected%'")
        .await;
    assert_eq!(injected, 0);
    // The customer's reply reaches the chat once, however often Meta delivers it.
    for _ in 0..3 {
        assert_eq!(
            cloud
                .customer_says(SHEENA, "Sheena", "wamid.IN2", "Thanks a lot")
                .await,
            200
        );
    }
    wait_chat(&app, &chat, "Thanks a lot").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let thanks = chat_texts(&app, &chat)
        .iter()
        .filter(|t| t.contains("Thanks a lot"))
        .count();
    assert_eq!(thanks, 1, "{:?}", chat_texts(&app, &chat));

    // Typing in the chat marks the customer's messages read and shows "typing…".
    let typing = teams.activity(ANNE, &chat, "typing");
    teams.post(&typing).await;
    wait_cloud(&cloud, "typing indicator", |c| {
        c.sent().iter().any(|s| {
            s.body["status"] == "read"
                && s.body["message_id"] == "wamid.IN2"
                && s.body["typing_indicator"]["type"] == "text"
        })
    })
    .await;

    // The agent ends the chat: the customer is told; their next message starts a new one.
    teams.say(ANNE, &chat, "end").await;
    wait_cloud(&cloud, "the end", |c| {
        c.texts_to(SHEENA)
            .iter()
            .any(|t| t.starts_with("This chat has ended"))
    })
    .await;
    // In the order they were opened (PostgreSQL has no rowid).
    let sessions = app
        .texts(
            "SELECT w.session_id FROM whatsapp_sessions w
             LEFT JOIN interact_sessions i USING (session_id)
             ORDER BY i.created_at, w.session_id",
            &[],
        )
        .await;
    assert_eq!(sessions.len(), 1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let ended = switchboard::db!(app.state.pool.on(), |c| {
            sqlx::query_scalar::<_, Option<i64>>(
                "SELECT ended_at FROM whatsapp_sessions WHERE session_id = $1",
            )
            .bind(&sessions[0])
            .fetch_one(c)
            .await
        })
        .expect("ended");
        if ended.is_some() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "session not ended");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Anne is in after-contact work for 20 s: the new chat waits in the queue, as a session.
    assert_eq!(
        cloud
            .customer_says(SHEENA, "Sheena", "wamid.IN3", "One more thing")
            .await,
        200
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let open = app
            .text_pairs(
                "SELECT w.session_id, i.state FROM whatsapp_sessions w JOIN interact_sessions i USING (session_id)
                 WHERE w.ended_at IS NULL",
                &[],
            )
            .await;
        if let [(session, state)] = open.as_slice() {
            assert_ne!(session, &sessions[0]);
            if state == "queued" {
                break;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no new session: {open:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // /metrics counts the channel: one chat waiting, three messages taken (retries not).
    let m = crate::metrics::scrape(&app).await;
    assert_eq!(
        m["switchboard_sessions{channel=whatsapp,state=queued}"],
        1.0
    );
    assert_eq!(
        m["switchboard_whatsapp_messages_total{direction=in,status=received}"],
        3.0
    );
    assert!(m["switchboard_whatsapp_messages_total{direction=out,status=delivered}"] >= 2.0);
    assert_eq!(
        m["switchboard_sessions_ended_total{channel=whatsapp,outcome=handled}"],
        1.0
    );
    // The transcript of the first chat has both sides, and the delivery of each message sent.
    let api = Api::new(&app, TENANT_ID).await;
    let (status, _, transcript) = api
        .get(&format!("/sessions/{}/transcript", sessions[0]))
        .await;
    assert_eq!(status, 200, "{transcript}");
    assert_eq!(transcript["channel"], "whatsapp");
    let lines: Vec<(String, String, String)> = transcript["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| {
            let field = |k: &str| l[k].as_str().unwrap_or_default().to_owned();
            (field("from"), field("text"), field("status"))
        })
        .collect();
    let line = |text: &str| lines.iter().find(|l| l.1 == text).cloned();
    assert_eq!(
        line("Hello, my order is late"),
        Some((
            "customer".into(),
            "Hello, my order is late".into(),
            String::new()
        ))
    );
    assert_eq!(
        line("Let me check that for you"),
        Some((
            "agent".into(),
            "Let me check that for you".into(),
            "delivered".into()
        ))
    );
    assert!(line("Thanks a lot").is_some(), "{lines:?}");
}

#[tokio::test]
async fn throughput_errors_are_retried_and_keep_the_order() {
    let (app, cloud) = spawn().await;
    let teams = Teams { app: &app };
    let chat = connected(&app, &cloud, &teams).await;
    cloud.post_statuses(false);
    cloud.answer_next([
        Answer::Error {
            status: 400,
            code: 130_429,
        },
        Answer::Error {
            status: 400,
            code: 131_056,
        },
        Answer::Error {
            status: 503,
            code: 2,
        },
    ]);
    for text in ["one", "two", "three"] {
        teams.say(ANNE, &chat, text).await;
    }
    wait_cloud(&cloud, "all three", |c| {
        c.texts_to(SHEENA).iter().any(|t| t == "three")
    })
    .await;
    let agent: Vec<String> = cloud
        .texts_to(SHEENA)
        .into_iter()
        .filter(|t| ["one", "two", "three"].contains(&t.as_str()))
        .collect();
    assert_eq!(agent, ["one", "two", "three"]);
    let refused = cloud
        .sent()
        .iter()
        .filter(|s| s.wamid.is_none() && s.body["type"] == "text")
        .count();
    assert_eq!(refused, 3, "the three refusals were tried again");
    assert!(
        !chat_texts(&app, &chat)
            .iter()
            .any(|t| t.contains("Not delivered")),
        "nothing to tell the agent: everything arrived"
    );
}

#[tokio::test]
async fn a_closed_window_is_told_to_the_agent_whether_meta_refuses_at_once_or_later() {
    let (app, cloud) = spawn().await;
    let teams = Teams { app: &app };
    let chat = connected(&app, &cloud, &teams).await;

    // Refused at once (HTTP 400, 131047).
    cloud.answer_next([Answer::Error {
        status: 400,
        code: 131_047,
    }]);
    teams.say(ANNE, &chat, "Are you still there?").await;
    wait_chat(&app, &chat, "Not delivered on WhatsApp").await;
    let note = chat_texts(&app, &chat)
        .into_iter()
        .find(|t| t.contains("Not delivered"))
        .expect("note");
    assert!(note.contains("Are you still there?"), "{note}");
    assert!(note.contains("24 hours"), "{note}");

    // Accepted, then reported failed.
    cloud.answer_next([Answer::AcceptThenFail { code: 131_047 }]);
    teams.say(ANNE, &chat, "Hello again").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !chat_texts(&app, &chat)
        .iter()
        .any(|t| t.contains("Not delivered") && t.contains("Hello again"))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no note for the failed status: {:?}",
            chat_texts(&app, &chat)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        outbound_status(&app, "Hello again").await.as_deref(),
        Some("failed")
    );

    // The window closed here (the customer's last message is 25 hours old): nothing is sent,
    // the agent is told; the customer's next message opens it again.
    app.execute("UPDATE whatsapp_sessions SET last_inbound_at = last_inbound_at - 90000000")
        .await;
    teams.say(ANNE, &chat, "Anyone?").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !chat_texts(&app, &chat)
        .iter()
        .any(|t| t.contains("Not delivered") && t.contains("Anyone?"))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no note for the closed window"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        !cloud
            .sent()
            .iter()
            .any(|s| s.body["text"]["body"] == "Anyone?")
    );
    // With the note, the tenant's approved templates (both pages, not the rejected one).
    let (_, _, _, card) = wait_post(&app, "templates card", |(m, c, h, _)| {
        m == "POST" && c == &chat && h == "Re-engage on WhatsApp"
    })
    .await;
    let choices = teams::template_choices(&card);
    assert_eq!(choices, ["order_update|en_US", "hello_world|en_US"]);
    let session = app
        .text("SELECT session_id FROM whatsapp_sessions", &[])
        .await
        .expect("session");
    let press = |values: &str| json!({"sessionId": session, "template": "order_update|en_US", "values": values});
    let answer = teams
        .press(ANNE, &chat, "im.whatsapp.template", press("Sheena"))
        .await;
    assert!(answer.to_string().contains("needs 2 value(s)"), "{answer}");
    let answer = teams
        .press(ANNE, &chat, "im.whatsapp.template", press("Sheena\n A-42 "))
        .await;
    assert!(answer.to_string().contains("sent"), "{answer}");
    wait_cloud(&cloud, "the template", |c| {
        c.sent().iter().any(|s| {
            s.wamid.is_some()
                && s.body["type"] == "template"
                && s.body["template"]["name"] == "order_update"
                && s.body["template"]["components"][0]["parameters"][1]["text"] == "A-42"
        })
    })
    .await;
    assert_eq!(
        cloud
            .customer_says(SHEENA, "Sheena", "wamid.IN9", "I'm back")
            .await,
        200
    );
    wait_chat(&app, &chat, "I'm back").await;
    teams.say(ANNE, &chat, "Welcome back").await;
    wait_cloud(&cloud, "a message in the reopened window", |c| {
        c.texts_to(SHEENA).contains(&"Welcome back".to_owned())
    })
    .await;
}

#[tokio::test]
async fn media_reaches_the_agent_as_a_link_and_other_kinds_in_words() {
    let (app, cloud) = spawn().await;
    let teams = Teams { app: &app };
    let chat = connected(&app, &cloud, &teams).await;
    let message = |id: &str, body: Value| {
        let mut m = json!({"from": SHEENA, "id": id, "timestamp": "1739321024"});
        for (k, v) in body.as_object().expect("object") {
            m[k] = v.clone();
        }
        json!({"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": NUMBER},
            "contacts": [{"profile": {"name": "Sheena"}, "wa_id": SHEENA}],
            "messages": [m]})
    };
    let sent = |id: &str, body: Value| cloud.post_webhook(message(id, body));
    assert_eq!(
        sent("wamid.M1", json!({"type": "image", "image": {"id": "M-IMAGE", "mime_type": "image/jpeg", "caption": "my receipt"}})).await,
        200
    );
    assert_eq!(
        sent("wamid.M2", json!({"type": "document", "document": {"id": "M-HUGE", "mime_type": "application/pdf", "filename": "scan.pdf"}})).await,
        200
    );
    assert_eq!(
        sent(
            "wamid.M3",
            json!({"type": "sticker", "sticker": {"id": "S1", "mime_type": "image/webp"}})
        )
        .await,
        200
    );
    wait_chat(&app, &chat, "The customer sent a sticker").await;
    let texts = chat_texts(&app, &chat);
    let link = |marker: &str| {
        let text = texts
            .iter()
            .find(|t| t.contains(marker))
            .unwrap_or_else(|| panic!("no {marker} in {texts:?}"));
        // A markdown link showing its target: `[url](url)`.
        let at = text.find("](http").expect("a link") + 2;
        let target = &text[at..at + text[at..].find(')').expect("link end")];
        assert!(
            text.contains(&format!("[{target}]")),
            "the link shows its target: {text}"
        );
        target.to_owned()
    };
    let image = link("my receipt");
    let scan = link("scan.pdf");
    // The image is fetched with the tenant's token and served to the agent's browser.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let response = loop {
        let response = reqwest::get(&image).await.expect("get");
        if response.status() != 503 {
            break response;
        }
        assert!(tokio::time::Instant::now() < deadline, "still pending");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/jpeg");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert!(
        response.headers()["content-security-policy"]
            .to_str()
            .unwrap_or_default()
            .starts_with("sandbox")
    );
    assert_eq!(
        response.bytes().await.expect("bytes").as_ref(),
        crate::mock_whatsapp::IMAGE
    );
    // Too large: said so at the link, not fetched.
    let (status, problem) = loop {
        let (status, problem) =
            crate::helpers::problem(reqwest::get(&scan).await.expect("get")).await;
        if status != 503 {
            break (status, problem);
        }
        assert!(tokio::time::Instant::now() < deadline, "still pending");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status, 410);
    assert_eq!(problem["code"], "media_unavailable");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("16 MB"),
        "{problem}"
    );
    // A guessed link finds nothing.
    let guessed = format!("{}/api/whatsapp/media/{}", app.address, "0".repeat(32));
    assert_eq!(reqwest::get(&guessed).await.expect("get").status(), 404);
}

#[tokio::test]
async fn a_wamid_whose_record_was_lost_in_a_crash_is_recorded_at_the_next_start() {
    let (app, cloud) = spawn().await;
    let teams = Teams { app: &app };
    connected(&app, &cloud, &teams).await;
    async fn recorded(app: &TestApp) -> i64 {
        app.count("SELECT COUNT(*) FROM whatsapp_outbound WHERE session_id IS NOT NULL")
            .await
    }
    // Its wamid is recorded once the outbox has settled the send, a moment after the customer
    // has it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while recorded(&app).await < 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the connected message was recorded"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = recorded(&app).await;
    // As if the process died between the outbox settling the sends and their record.
    app.execute("UPDATE whatsapp_outbound SET session_id = NULL, seq = NULL")
        .await;
    let config = app.stop().await;
    let app = teams::spawn_with(config).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while recorded(&app).await < before {
        assert!(tokio::time::Instant::now() < deadline, "not recovered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_service_that_takes_no_chats_tells_the_customer_so() {
    let (app, cloud) = spawn().await;
    use switchboard::directory::store::{self as docs, Kind};
    let stored = docs::get::<Service>(&app.state.pool, TENANT_ID, Kind::Service, "support")
        .await
        .expect("read")
        .expect("service");
    let mut service = stored.value;
    service.licenses.contact_center = false;
    docs::put(
        &app.state.pool,
        TENANT_ID,
        Kind::Service,
        "support",
        &service,
        Some(stored.version),
        0,
    )
    .await
    .expect("service");
    assert_eq!(
        cloud
            .customer_says(SHEENA, "Sheena", "wamid.C1", "Hello?")
            .await,
        200
    );
    wait_cloud(&cloud, "the refusal", |c| {
        c.texts_to(SHEENA)
            .contains(&"Sorry, we cannot take chats on WhatsApp at the moment.".to_owned())
    })
    .await;
    let sessions = app.count("SELECT COUNT(*) FROM whatsapp_sessions").await;
    assert_eq!(sessions, 0, "no session on a service that takes no chats");
}

#[tokio::test]
async fn the_access_token_is_write_only() {
    let (app, _cloud) = spawn().await;
    let api = Api::new(&app, TENANT_ID).await;
    let (status, etag, body) = api.get("/settings").await;
    assert_eq!(status, 200);
    assert_eq!(body["whatsapp"]["accessTokenSet"], true);
    assert!(!body.to_string().contains(TOKEN));
    // What GET answers can be sent back: the token stays.
    let (status, etag, body) = api
        .call(
            reqwest::Method::PUT,
            "/settings",
            Some(&body),
            etag.as_deref(),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["whatsapp"]["accessTokenSet"], true);
    for (bad, code) in [
        (json!({"accessToken": ""}), "invalid_access_token"),
        (json!({"accessToken": "has space"}), "invalid_access_token"),
        (
            json!({"businessAccountId": "WABA"}),
            "invalid_business_account_id",
        ),
        (json!({"token": "x"}), "unknown_field"),
        (json!("x"), "invalid_shape"),
    ] {
        let (status, _, problem) = api
            .call(
                reqwest::Method::PUT,
                "/settings",
                Some(&json!({"name": "Contoso", "whatsapp": bad})),
                etag.as_deref(),
            )
            .await;
        assert_eq!(status, 422, "{bad}");
        assert_eq!(problem["problems"][0]["code"], code, "{problem}");
    }
    let (status, _, body) = api
        .call(
            reqwest::Method::PUT,
            "/settings",
            Some(&json!({"name": "Contoso", "whatsapp": {"accessToken": null, "businessAccountId": "102290129340398"}})),
            etag.as_deref(),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["whatsapp"]["accessTokenSet"], false);
    assert_eq!(body["whatsapp"]["businessAccountId"], "102290129340398");
    // Nor is it in the tenant file.
    let export = reqwest::Client::new()
        .get(api.url("/export"))
        .bearer_auth(&api.key)
        .send()
        .await
        .expect("export")
        .text()
        .await
        .expect("body");
    assert!(!export.contains(TOKEN));
}

#[tokio::test]
async fn an_agents_formatting_edit_and_deletion_reach_whatsapp_in_words() {
    let (app, cloud) = spawn().await;
    let teams = Teams { app: &app };
    let chat = connected(&app, &cloud, &teams).await;

    let mut formatted = teams.activity(ANNE, &chat, "message");
    formatted["id"] = json!("1700000000101");
    formatted["text"] = json!("Track it here");
    formatted["textFormat"] = json!("plain");
    formatted["attachments"] = json!([{"contentType": "text/html",
        "content": r#"<p><strong>Track</strong> it <a href="https://shop.example.com/t/1">here</a></p><ul><li>today</li></ul>"#}]);
    assert_eq!(teams.post(&formatted).await.status(), 200);
    let plain = "Track it here (https://shop.example.com/t/1)\n• today";
    wait_cloud(&cloud, "the formatted message as text", |c| {
        c.texts_to(SHEENA).contains(&plain.to_owned())
    })
    .await;

    let mut edit = formatted.clone();
    edit["type"] = json!("messageUpdate");
    edit["attachments"][0]["content"] = json!("<p>Track it tomorrow</p>");
    edit["channelData"]["eventType"] = json!("editMessage");
    assert_eq!(teams.post(&edit).await.status(), 200);
    let mut delete = teams.activity(ANNE, &chat, "messageDelete");
    delete["id"] = json!("1700000000101");
    delete["channelData"]["eventType"] = json!("softDeleteMessage");
    assert_eq!(teams.post(&delete).await.status(), 200);
    wait_cloud(&cloud, "the edit and the deletion in words", |c| {
        let texts = c.texts_to(SHEENA);
        texts.ends_with(&[
            "Edited message: Track it tomorrow".to_owned(),
            "The agent deleted a message they sent you.".to_owned(),
        ])
    })
    .await;
}
