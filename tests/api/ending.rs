//! Ending is final once answered (issue 13, finding 4): after the customer's `/end`, the
//! agent's `end` / End chat or a workflow's Disconnect, a customer message is refused with 409
//! `session_ended`, and nothing sent after the end is stored for the customer or relayed to
//! the agent. A message accepted before the end reaches the agent, and its retry is still
//! answered as accepted.

use serde_json::{Value, json};
use switchboard::directory::model::Service;

use crate::helpers::teams::{self, ANNE, CONTACT, Customer, KEY, Teams};
use crate::helpers::{TestApp, put_service};
use crate::mock_bf::TENANT_ID;

/// Anne alone on a service that queues for her, with no after-contact work between chats.
async fn seed_anne(app: &TestApp) {
    let workflow = teams::queue_workflow("im", "direct", 30);
    let service: Service = serde_json::from_value(json!({
        "id": "support", "name": "Support", "workflow": "im", "members": [ANNE.aad],
        "licenses": {"contactCenter": true}, "modalities": {"instantMessage": true},
        "distribution": {"acwSeconds": 0, "ronaResetSeconds": 600},
        "interact": {"enabled": true, "instantMessage": true, "contactId": CONTACT, "widgetKey": KEY}
    }))
    .expect("service");
    put_service(app, TENANT_ID, &workflow, &service).await;
    teams::seed_agent(app, ANNE).await;
    Teams { app }.install(ANNE).await;
}

/// The `n`th customer (1-based) chats with Anne; returns them and the chat's conversation.
async fn connect(app: &TestApp, n: usize) -> (Customer, String) {
    let customer = teams::start_chat(app, &format!("Customer {n}"), None).await;
    let invitation = teams::invitation_for(app, ANNE, n).await;
    let answer = Teams { app }
        .answer(ANNE, "im.invitation.accept", &invitation)
        .await;
    assert_eq!(answer["statusCode"], 200, "{answer}");
    customer
        .wait_event(app, "connected", |e| e["state"] == "connected")
        .await;
    let chat = loop {
        let room = app
            .text(
                "SELECT conversation_id FROM chatrooms WHERE session_id = $1",
                &[&customer.session],
            )
            .await;
        if let Some(room) = room {
            break room;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    teams::wait_post(app, "chat started", |(_, c, h, _)| {
        c == &chat && h == "Chat started"
    })
    .await;
    (customer, chat)
}

/// Sends a customer message; `(status, body)`.
async fn send(app: &TestApp, customer: &Customer, text: &str, client_id: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!(
            "{}/api/interact/v1/sessions/{}/messages",
            app.address, customer.session
        ))
        .bearer_auth(&customer.token)
        .json(&json!({"text": text, "clientMessageId": client_id}))
        .send()
        .await
        .expect("send");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The customer ends the chat; the status.
async fn end(app: &TestApp, customer: &Customer) -> u16 {
    reqwest::Client::new()
        .post(format!(
            "{}/api/interact/v1/sessions/{}/end",
            app.address, customer.session
        ))
        .bearer_auth(&customer.token)
        .send()
        .await
        .expect("end")
        .status()
        .as_u16()
}

/// A message sent after the end: 409 `session_ended` as problem+json, and not stored.
async fn refused(app: &TestApp, customer: &Customer, text: &str) {
    let (status, body) = send(app, customer, text, &uuid::Uuid::new_v4().to_string()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("session_ended")),
        "{body}"
    );
    assert!(
        !customer
            .events(app)
            .await
            .iter()
            .any(|e| e["type"] == "customerMessage" && e["text"] == text),
        "a refused message is not stored"
    );
}

/// Whether a message with `text` from the `n`th customer was posted in `chat`.
fn relayed(app: &TestApp, chat: &str, n: usize, text: &str) -> bool {
    let line = format!("**Customer {n}**: {text}");
    teams::posts(app)
        .iter()
        .any(|(m, c, h, _)| m == "POST" && c == chat && *h == line)
}

/// The customer's events up to and including `ended`; panics if a message of theirs follows.
async fn nothing_after_the_end(app: &TestApp, customer: &Customer) -> Vec<Value> {
    customer
        .wait_event(app, "ended", |e| e["state"] == "ended")
        .await;
    let events = customer.events(app).await;
    let end = events
        .iter()
        .position(|e| e["state"] == "ended")
        .expect("ended");
    assert!(
        !events[end..].iter().any(|e| e["type"] == "customerMessage"),
        "a customer message after the end: {events:?}"
    );
    events[..end].to_vec()
}

#[tokio::test]
async fn after_the_customers_end_a_message_is_refused_and_one_sent_with_the_end_is_never_lost() {
    let app = teams::spawn().await;
    seed_anne(&app).await;
    for n in 1..=10 {
        let (customer, chat) = connect(&app, n).await;
        let before = format!("before-{n}");
        assert_eq!(send(&app, &customer, "early", &before).await.0, 202);

        // The message and the end race: either the message was accepted first and reaches
        // the agent, or it is refused. Never accepted and lost.
        let (racing, racing_id) = (format!("racing {n}"), format!("racing-{n}"));
        let ((status, body), ended) = tokio::join!(
            send(&app, &customer, &racing, &racing_id),
            end(&app, &customer)
        );
        assert_eq!(ended, 200);
        // Once `/end` has answered, the customer cannot write any more.
        refused(&app, &customer, "after the end").await;
        // A retry of what was accepted before the end keeps its answer.
        let (retried, again) = send(&app, &customer, "early", &before).await;
        assert_eq!(
            (retried, &again["duplicate"]),
            (200, &json!(true)),
            "{again}"
        );

        let said = nothing_after_the_end(&app, &customer).await;
        teams::wait_post(&app, "chat ended", |(_, c, h, _)| {
            c == &chat && h == "Chat ended"
        })
        .await;
        let stored = said
            .iter()
            .any(|e| e["type"] == "customerMessage" && e["text"] == racing.as_str());
        match status {
            202 => {
                assert!(stored, "accepted before the end: {said:?}");
                assert!(relayed(&app, &chat, n, &racing), "accepted, so relayed");
            }
            409 => {
                assert_eq!(body["code"], "session_ended", "{body}");
                assert!(!stored, "refused, so not stored");
                assert!(!relayed(&app, &chat, n, &racing), "refused, so not relayed");
            }
            other => panic!("the racing message got {other}: {body}"),
        }
        assert!(relayed(&app, &chat, n, "early"));
        assert!(!relayed(&app, &chat, n, "after the end"));
    }
}

#[tokio::test]
async fn after_the_agent_ends_the_chat_in_teams_a_customer_message_is_refused() {
    let app = teams::spawn().await;
    seed_anne(&app).await;
    let teams = Teams { app: &app };
    for n in 1..=6 {
        let (customer, chat) = connect(&app, n).await;
        // By typing `end` in the chat, or with the End chat button of the chat's card.
        if n % 2 == 1 {
            assert_eq!(teams.say(ANNE, &chat, "end").await.status(), 200);
        } else {
            let answer = teams
                .press(
                    ANNE,
                    &chat,
                    "im.session.end",
                    json!({"sessionId": customer.session}),
                )
                .await;
            assert_eq!(answer["statusCode"], 200, "{answer}");
        }
        refused(&app, &customer, "are you there?").await;
        nothing_after_the_end(&app, &customer).await;
        teams::wait_post(&app, "chat ended", |(_, c, h, _)| {
            c == &chat && h == "Chat ended"
        })
        .await;
        assert!(!relayed(&app, &chat, n, "are you there?"));
    }
}

#[tokio::test]
async fn after_a_workflow_disconnect_a_customer_message_is_refused() {
    let app = teams::spawn().await;
    let workflow = json!({"id": "bye", "name": "bye", "start": "accept", "activities": {
        "accept": {"type": "Accept", "next": "bye"},
        "bye": {"type": "Disconnect", "text": "We are closed."}
    }});
    let service: Service = serde_json::from_value(json!({
        "id": "closed", "name": "Closed", "workflow": "bye",
        "licenses": {"contactCenter": true}, "modalities": {"instantMessage": true},
        "interact": {"enabled": true, "instantMessage": true, "contactId": "closed-web", "widgetKey": KEY}
    }))
    .expect("service");
    put_service(&app, TENANT_ID, &workflow, &service).await;
    for n in 1..=10 {
        // The session is created, and the workflow disconnects it, before the 201.
        let customer = teams::start_chat_on(
            &app,
            "closed-web",
            KEY,
            &format!("Customer {n}"),
            "ada@example.com",
            None,
        )
        .await;
        refused(&app, &customer, "hello?").await;
        let said = nothing_after_the_end(&app, &customer).await;
        assert!(
            said.iter().any(|e| e["text"] == "We are closed."),
            "{said:?}"
        );
    }
}
