//! The WhatsApp simulator of anonymous dev mode, used as its page uses it: a customer writes on
//! the phone, the message reaches Switchboard as a signed webhook, the demo agent (installed in
//! the demo tenant, as the Agents Playground does) is invited and accepts, and they write both
//! ways; statuses come back as signed webhooks, the 24-hour window can be closed, and a photo
//! is fetched from the built-in Graph mock. Outside anonymous dev mode the page does not exist.

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use switchboard::demo::{DEMO_TENANT, DEMO_WHATSAPP_NUMBER};

use crate::helpers::teams::{self, ANNE, Agent, invitation_for, wait_post};
use crate::helpers::{TestApp, TestConfig, spawn_app_with};

const SHEENA: &str = "16505551234";

/// An agent's activity in the demo tenant, as the Playground sends it (no token: dev mode).
fn activity(app: &TestApp, agent: Agent, kind: &str) -> Value {
    json!({
        "type": kind,
        "id": format!("in-{}", uuid::Uuid::new_v4()),
        "serviceUrl": app.mock.service_url(),
        "channelId": "msteams",
        "from": {"id": agent.mri, "name": agent.name, "aadObjectId": agent.aad},
        "conversation": {"conversationType": "personal", "tenantId": DEMO_TENANT, "id": agent.personal},
        "recipient": {"id": "28:playground-bot", "name": "Switchboard"},
        "channelData": {"tenant": {"id": DEMO_TENANT}},
        "locale": "en-US"
    })
}

async fn post(app: &TestApp, activity: &Value) {
    let response = app.post_activity(None, activity).await;
    assert_eq!(response.status(), 200, "{activity}");
}

async fn say(app: &TestApp, text: &str) {
    let mut a = activity(app, ANNE, "message");
    a["text"] = json!(text);
    a["textFormat"] = json!("plain");
    post(app, &a).await;
}

async fn sim(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/dev/whatsapp/api/{path}", app.address))
        .json(&body)
        .send()
        .await
        .expect("simulator");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn phone(app: &TestApp) -> Value {
    app.get(&format!("/dev/whatsapp/api/chat?customer={SHEENA}"))
        .await
        .json()
        .await
        .expect("chat")
}

/// Waits until the phone shows a line matching `found`; returns it.
async fn on_phone(app: &TestApp, what: &str, found: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let chat = phone(app).await;
        if let Some(line) = chat["entries"]
            .as_array()
            .and_then(|e| e.iter().find(|l| found(l)))
        {
            return line.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {what} on the phone: {chat:#}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn outbound_status(app: &TestApp, wamid: &str) -> Option<String> {
    app.text(
        "SELECT status FROM whatsapp_outbound WHERE wamid = $1",
        &[wamid],
    )
    .await
}

async fn wait_status(app: &TestApp, wamid: &str, status: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while outbound_status(app, wamid).await.as_deref() != Some(status) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{wamid} never {status}: {:?}",
            outbound_status(app, wamid).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn business_text(line: &Value, text: &str) -> bool {
    line["fromCustomer"] == false && line["text"].as_str().is_some_and(|t| t.contains(text))
}

#[tokio::test]
async fn the_simulator_runs_the_whole_whatsapp_loop_in_dev_mode() {
    let app = spawn_app_with(TestConfig::anonymous()).await;
    let page = app.get("/dev/whatsapp").await;
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_owned();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(
        page.text()
            .await
            .expect("page")
            .contains("WhatsApp simulator")
    );

    // Anne installs the bot in the demo tenant and so joins the demo services.
    let mut install = activity(&app, ANNE, "installationUpdate");
    install["action"] = json!("add");
    post(&app, &install).await;
    let mut added = activity(&app, ANNE, "conversationUpdate");
    added["membersAdded"] = json!([{"id": ANNE.mri, "aadObjectId": ANNE.aad}]);
    post(&app, &added).await;

    // The customer writes on the phone: a signed webhook, answered 200.
    let (status, sent) = sim(
        &app,
        "messages",
        json!({"customer": SHEENA, "name": "Sheena", "number": DEMO_WHATSAPP_NUMBER,
               "text": "Hello, my parcel is late"}),
    )
    .await;
    assert_eq!(
        (status, sent["status"].as_str()),
        (200, Some("delivered")),
        "{sent}"
    );
    // The demo workflow greets the customer by the profile name, through the Graph mock.
    let welcome = on_phone(&app, "the welcome", |l| business_text(l, "Hello Sheena")).await;
    let welcome_id = welcome["wamid"].as_str().expect("wamid").to_owned();
    // Its statuses come back as signed webhooks and are recorded.
    wait_status(&app, &welcome_id, "delivered").await;

    let invitation = invitation_for(&app, ANNE, 1).await;
    let mut accept = activity(&app, ANNE, "invoke");
    accept["name"] = json!("adaptiveCard/action");
    accept["value"] = json!({"action": {"type": "Action.Execute", "verb": "im.invitation.accept",
                                       "data": {"invitationId": invitation}}, "trigger": "manual"});
    post(&app, &accept).await;
    wait_post(
        &app,
        "the customer's message in the chat",
        |(m, c, _, b)| {
            m == "POST" && c == ANNE.personal && b.to_string().contains("Hello, my parcel is late")
        },
    )
    .await;
    on_phone(&app, "the connected message", |l| {
        business_text(l, "You are now chatting with Anne Agent.")
    })
    .await;

    // Agent -> customer; typing in Teams shows on the phone and marks the customer's message read.
    post(&app, &activity(&app, ANNE, "typing")).await;
    on_phone(&app, "the customer's message read", |l| {
        l["fromCustomer"] == true && l["status"] == "read"
    })
    .await;
    say(&app, "Let me look at https://example.com/track for you").await;
    let reply = on_phone(&app, "the agent's message", |l| {
        business_text(l, "Let me look at https://example.com/track")
    })
    .await;
    let reply_id = reply["wamid"].as_str().expect("wamid").to_owned();
    wait_status(&app, &reply_id, "delivered").await;
    // The customer sees it: read, recorded by Switchboard.
    let (status, read) = sim(
        &app,
        "seen",
        json!({"customer": SHEENA, "number": DEMO_WHATSAPP_NUMBER}),
    )
    .await;
    assert_eq!(status, 200);
    assert!(read["read"].as_u64() >= Some(1), "{read}");
    wait_status(&app, &reply_id, "read").await;

    // A photo: fetched from the Graph mock's media endpoints with the demo tenant's token.
    let png = base64::engine::general_purpose::STANDARD.encode(PNG);
    let (status, _) = sim(
        &app,
        "messages",
        json!({"customer": SHEENA, "name": "Sheena", "number": DEMO_WHATSAPP_NUMBER,
               "image": {"data": png, "mimeType": "image/png", "caption": "the label"}}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, _, _, shown) = wait_post(&app, "the photo's link", |(m, c, _, b)| {
        m == "POST" && c == ANNE.personal && b.to_string().contains("/api/whatsapp/media/")
    })
    .await;
    let link = shown.to_string();
    let path = link
        .split("/api/whatsapp/media/")
        .nth(1)
        .and_then(|rest| rest.get(..32))
        .expect("media id")
        .to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let photo = loop {
        let response = app.get(&format!("/api/whatsapp/media/{path}")).await;
        if response.status() == 200 {
            break response.bytes().await.expect("bytes");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}",
            response.status()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(&photo[..], PNG);

    // 24 hours later (as the page pretends): the agent's message is refused with 131047 and the
    // agent is told in the chat; the customer's reply opens the window again.
    let (status, _) = sim(&app, "window", json!({"closed": true})).await;
    assert_eq!(status, 200);
    assert_eq!(phone(&app).await["windowClosed"], true);
    say(&app, "Are you still there?").await;
    wait_post(&app, "the window notice", |(m, c, _, b)| {
        let text = b.to_string();
        m == "POST"
            && c == ANNE.personal
            && text.contains("Not delivered")
            && text.contains("Are you still there?")
            && text.contains("more than 24 hours have passed")
    })
    .await;
    // With it, the simulated business's approved templates, listed from the Graph mock.
    let (_, _, _, card) = wait_post(&app, "the templates card", |(m, c, h, _)| {
        m == "POST" && c == ANNE.personal && h == "Re-engage on WhatsApp"
    })
    .await;
    let choices = teams::template_choices(&card);
    assert_eq!(choices, ["hello_again|en_US", "order_update|en_US"]);
    let (status, _) = sim(
        &app,
        "messages",
        json!({"customer": SHEENA, "name": "Sheena", "number": DEMO_WHATSAPP_NUMBER, "text": "Yes!"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(phone(&app).await["windowClosed"], false);
    say(&app, "Great, it arrives tomorrow").await;
    on_phone(&app, "the message after the reply", |l| {
        business_text(l, "it arrives tomorrow")
    })
    .await;
    let refused = phone(&app).await["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|l| business_text(l, "Are you still there?"))
        .count();
    assert_eq!(refused, 0, "a refused message never reaches the phone");

    // Bad input is refused with a clear problem, and nothing is posted.
    let (status, problem) = sim(
        &app,
        "messages",
        json!({"customer": "12ab", "name": "Sheena", "number": DEMO_WHATSAPP_NUMBER, "text": "x"}),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("invalid_message"))
    );
    // The Graph mock checks the token as Meta does.
    let graph = reqwest::Client::new()
        .post(format!(
            "{}/dev/whatsapp/graph/v24.0/{DEMO_WHATSAPP_NUMBER}/messages",
            app.address
        ))
        .bearer_auth("not-the-token")
        .json(&json!({"messaging_product": "whatsapp", "to": SHEENA, "type": "text", "text": {"body": "x"}}))
        .send()
        .await
        .expect("graph");
    assert_eq!(graph.status(), 401);
    let body: Value = graph.json().await.expect("error");
    assert_eq!(body["error"]["code"], 190);
}

#[tokio::test]
async fn outside_anonymous_dev_mode_there_is_no_simulator() {
    let app = crate::helpers::spawn_app().await;
    assert_eq!(app.get("/dev/whatsapp").await.status(), 404);
    let (status, _) = sim(
        &app,
        "messages",
        json!({"customer": SHEENA, "name": "Sheena", "number": "1", "text": "x"}),
    )
    .await;
    assert_eq!(status, 404);
    let graph = app
        .get("/dev/whatsapp/graph/v24.0/100000000000002/message_templates")
        .await;
    assert_eq!(graph.status(), 404);
}

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];
