//! What customers leave besides a chat, through the customer API as the widget calls it: the
//! contact's look and whether anyone takes its chats now, a message left when nobody does
//! (stored for the admins, signed to the tenant's systems), and the survey after a chat,
//! counted in the KPIs.

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard::directory::model::Service;

use crate::admin::Api;
use crate::helpers::TestApp;
use crate::helpers::teams::{self, ANNE, Teams};
use crate::mock_bf::TENANT_ID;
use crate::webhooks::{Receiver, configure};

const ORIGIN: &str = "https://shop.example.com";

/// The service of `teams::seed` with a look of its own, its members stored (not yet signed in).
async fn seed(app: &TestApp) {
    let workflow = teams::queue_workflow("im", "direct", 30);
    let service: Service = serde_json::from_value(json!({
        "id": "support", "name": "Support", "workflow": "im", "members": [ANNE.aad],
        "licenses": {"contactCenter": true}, "modalities": {"instantMessage": true},
        "interact": {"enabled": true, "instantMessage": true, "contactId": teams::CONTACT, "widgetKey": teams::KEY,
                     "widget": {"title": "Acme help", "accentColor": "#0f6cbd", "position": "left",
                                "repliesIn": "a few minutes"}}
    }))
    .expect("service");
    crate::helpers::put_service(app, TENANT_ID, &workflow, &service).await;
    teams::seed_agent(app, ANNE).await;
}

async fn widget(app: &TestApp, contact: &str, key: &str) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .get(format!(
            "{}/api/interact/v1/contacts/{contact}/widget?key={key}",
            app.address
        ))
        .header("origin", ORIGIN)
        .send()
        .await
        .expect("widget");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post(app: &TestApp, path: &str, token: Option<&str>, body: &Value) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}/api/interact/v1{path}", app.address))
        .header("origin", ORIGIN)
        .json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("post");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn nobody_there_the_customer_leaves_a_message_that_reaches_the_tenant() {
    let receiver = Receiver::start(&[]).await;
    let app = teams::spawn().await;
    let api = Api::new(&app, TENANT_ID).await;
    seed(&app).await;
    configure(&api, &receiver.url).await;

    // The look, and nobody signed in with the bot yet.
    let (status, config) = widget(&app, teams::CONTACT, teams::KEY).await;
    assert_eq!(status, StatusCode::OK, "{config}");
    assert_eq!(config["title"], "Acme help");
    assert_eq!(config["accentColor"], "#0f6cbd");
    assert_eq!(config["position"], "left");
    assert_eq!(config["repliesIn"], "a few minutes");
    assert_eq!(config["available"], false);
    assert_eq!(config["offlineMessages"], true);
    // A wrong key or contact is told at once, before the customer types anything.
    let (status, problem) = widget(&app, teams::CONTACT, "wrong").await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("invalid_widget_key"))
    );
    let (status, problem) = widget(&app, "nope", teams::KEY).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown_contact"))
    );

    // The message left: checked like a new chat, stored, signed to the tenant's endpoint.
    let path = format!("/contacts/{}/offline-messages", teams::CONTACT);
    let mut body = json!({"widgetKey": teams::KEY, "displayName": "Ada", "email": "not-an-email",
                          "message": "Please call me back.", "privacyConsent": true});
    let (status, problem) = post(&app, &path, None, &body).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_email"))
    );
    body["email"] = json!("ada@example.com");
    let (status, left) = post(&app, &path, None, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{left}");
    let id = left["id"].as_str().expect("id").to_owned();
    let got = receiver.wait_for(1).await;
    assert_eq!(got[0].event, "offlineMessage.received");
    assert!(got[0].signed);
    assert_eq!(got[0].body["session"], id.as_str());
    assert_eq!(
        got[0].body["data"],
        json!({"contact": teams::CONTACT, "service": "support",
               "customer": {"displayName": "Ada", "email": "ada@example.com"},
               "message": "Please call me back."})
    );

    // The admins list it, mark it handled, and it leaves the open ones.
    let (status, _, listed) = api.get("/offline-messages?open=true").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["items"][0]["id"], id.as_str());
    assert_eq!(listed["items"][0]["message"], "Please call me back.");
    assert_eq!(listed["items"][0]["handledAt"], Value::Null);
    let (status, _, _) = api
        .call(
            reqwest::Method::POST,
            &format!("/offline-messages/{id}/handled"),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, _, open) = api.get("/offline-messages?open=true").await;
    assert_eq!(open["items"], json!([]));
    let (_, _, all) = api.get("/offline-messages").await;
    assert!(all["items"][0]["handledAt"].is_string(), "{all}");
    let (status, _, _) = api
        .call(
            reqwest::Method::POST,
            "/offline-messages/nope/handled",
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Once an agent of the service is signed in, the widget offers a chat again.
    Teams { app: &app }.install(ANNE).await;
    let mut config = Value::Null;
    for _ in 0..200 {
        config = widget(&app, teams::CONTACT, teams::KEY).await.1;
        if config["available"] == true {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(config["available"], true, "{config}");
}

#[tokio::test]
async fn the_survey_is_taken_once_after_the_chat_and_counted_in_the_kpis() {
    let app = teams::spawn().await;
    let api = Api::new(&app, TENANT_ID).await;
    seed(&app).await;
    // Someone is there (once the engine knows it), so the chat waits for them instead of
    // ending at once.
    Teams { app: &app }.install(ANNE).await;
    let mut available = false;
    for _ in 0..200 {
        if widget(&app, teams::CONTACT, teams::KEY).await.1["available"] == true {
            available = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(available, "Anne signed in");
    let customer = teams::start_chat(&app, "Ada", None).await;
    let path = format!("/sessions/{}/survey", customer.session);
    let token = Some(customer.token.as_str());

    let (status, problem) = post(&app, &path, token, &json!({"rating": 5})).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("session_not_ended"))
    );
    customer.leave(&app).await;
    for (bad, code) in [
        (json!({"rating": 6}), "invalid_rating"),
        (json!({"rating": 0}), "invalid_rating"),
        (
            json!({"rating": 4, "comment": "x".repeat(2001)}),
            "invalid_comment",
        ),
    ] {
        let (status, problem) = post(&app, &path, token, &bad).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code)),
            "{bad}"
        );
    }
    let (status, problem) = post(&app, &path, Some("wrong"), &json!({"rating": 4})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    let (status, _) = post(
        &app,
        &path,
        token,
        &json!({"rating": 4, "comment": "Quick, thanks"}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, problem) = post(&app, &path, token, &json!({"rating": 1})).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("survey_already_given"))
    );

    // The KPIs count it (the session's report row is written as it ends).
    let mut kpis = Value::Null;
    for _ in 0..100 {
        (_, _, kpis) = api.get("/reports/kpis").await;
        if kpis["items"][0]["surveys"] == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(kpis["items"][0]["surveys"], 1, "{kpis}");
    assert_eq!(kpis["items"][0]["meanRating"], 4.0);
    let (_, _, other) = api.get(&format!("/reports/kpis?user={}", ANNE.aad)).await;
    let items = other["items"].as_array().expect("items");
    assert!(
        items.iter().all(|k| k["surveys"] == 0),
        "the chat was nobody's (Anne was only offered it): {other}"
    );
}

async fn upload(
    app: &TestApp,
    session: &str,
    token: &str,
    name: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(format!(
            "{}/api/interact/v1/sessions/{session}/files?name={name}",
            app.address
        ))
        .header("origin", ORIGIN)
        .header("content-type", content_type)
        .bearer_auth(token)
        .body(bytes)
        .send()
        .await
        .expect("upload");
    let status = response.status();
    // The page reads every answer but "no such session" (which reveals nothing).
    if status != StatusCode::NOT_FOUND {
        assert_eq!(
            response
                .headers()
                .get("access-control-allow-origin")
                .map(|v| v.to_str().expect("header")),
            Some(ORIGIN),
            "{name}: {status}"
        );
    }
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_customer_sends_a_file_that_the_agent_opens_by_its_link() {
    let app =
        teams::spawn_with(teams::config().env("SWITCHBOARD_INTERACT__UPLOAD_MAX_BYTES", "4096"))
            .await;
    seed(&app).await;
    Teams { app: &app }.install(ANNE).await;
    let (_, config) = widget(&app, teams::CONTACT, teams::KEY).await;
    assert_eq!(config["uploads"]["maxBytes"], 4096);
    assert!(
        config["uploads"]["types"]
            .as_array()
            .expect("types")
            .contains(&json!("image/png"))
    );
    let customer = teams::start_chat(&app, "Ada", None).await;
    let png: Vec<u8> = [b"\x89PNG\r\n\x1a\n".as_slice(), &[7u8; 100]].concat();

    // Refused: too large, a type not taken, bytes that are not what the type says, a bad name.
    for (name, kind, bytes, status, code) in [
        (
            "big.png",
            "image/png",
            [png.clone(), vec![0; 5000]].concat(),
            413,
            "file_too_large",
        ),
        (
            "page.html",
            "text/html",
            b"<p>hi</p>".to_vec(),
            415,
            "file_type_not_allowed",
        ),
        (
            "fake.png",
            "image/png",
            b"<script>alert(1)</script>".to_vec(),
            415,
            "file_type_not_allowed",
        ),
        ("%20", "image/png", png.clone(), 400, "invalid_file_name"),
    ] {
        let (got, problem) =
            upload(&app, &customer.session, &customer.token, name, kind, bytes).await;
        assert_eq!(
            (got.as_u16(), problem["code"].as_str()),
            (status, Some(code)),
            "{name}"
        );
    }

    let (status, sent) = upload(
        &app,
        &customer.session,
        &customer.token,
        "receipt.png",
        "image/png",
        png.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    assert_eq!(
        (sent["name"].as_str(), sent["size"].as_u64()),
        (Some("receipt.png"), Some(108))
    );
    let id = sent["id"].as_str().expect("id");
    // In the conversation as the customer's message, with the agent's link.
    let event = customer
        .wait_event(&app, "the file message", |e| e["type"] == "customerMessage")
        .await;
    let text = event["text"].as_str().expect("text");
    let link = format!("{}/api/interact/v1/files/{id}", app.address);
    assert!(
        text.contains("receipt.png") && text.contains(&link),
        "{text}"
    );
    assert_eq!(event["clientMessageId"], format!("file:{id}"));
    let file = reqwest::get(&link).await.expect("file");
    assert_eq!(file.status(), 200);
    assert_eq!(file.headers()["content-type"], "image/png");
    assert_eq!(file.headers()["x-content-type-options"], "nosniff");
    assert!(
        file.headers()["content-security-policy"]
            .to_str()
            .expect("csp")
            .contains("sandbox")
    );
    assert_eq!(file.bytes().await.expect("bytes").to_vec(), png);
    let missing = reqwest::get(format!(
        "{}/api/interact/v1/files/{}",
        app.address,
        "0".repeat(32)
    ))
    .await
    .expect("missing");
    assert_eq!(missing.status(), 404);

    // Another session's token opens nothing; after the end, no more files.
    let (status, _) = upload(
        &app,
        &customer.session,
        "wrong",
        "x.png",
        "image/png",
        png.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    customer.leave(&app).await;
    let (status, problem) = upload(
        &app,
        &customer.session,
        &customer.token,
        "late.png",
        "image/png",
        png,
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("session_ended"))
    );
}
