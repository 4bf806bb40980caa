//! The customer API: session creation with every input rule, tokens, domain restriction,
//! idempotent messages, and the replayable event stream fed by the engine.

use std::time::Duration;

use serde_json::{Value, json};
use switchboard::directory::model::Service;
use switchboard::directory::store::{self, Kind};

use crate::helpers::{TestApp, spawn_app};

const CONTACT: &str = "support-web";
const KEY: &str = "k-123";

async fn seed(app: &TestApp, restrict: bool) {
    let service: Service = serde_json::from_value(json!({
        "id": "support", "name": "Support", "workflow": "support-im",
        "licenses": {"contactCenter": true}, "modalities": {"instantMessage": true},
        "interact": {"enabled": true, "instantMessage": true, "restrictAccess": restrict,
                     "domainTemplates": ["https://*.example.com"], "contactId": CONTACT, "widgetKey": KEY}
    }))
    .expect("service");
    let workflow: Value =
        serde_json::from_str(include_str!("../workflows/support.json")).expect("workflow");
    crate::helpers::put_service(app, "t1", &workflow, &service).await;
}

fn body() -> Value {
    json!({"widgetKey": KEY, "displayName": "  Ada  ", "email": "ada@example.com", "privacyConsent": true})
}

async fn create(app: &TestApp, origin: Option<&str>, body: &Value) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!(
            "{}/api/interact/v1/contacts/{CONTACT}/sessions",
            app.address
        ))
        .json(body);
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    request.send().await.expect("request")
}

async fn sessions_stored(app: &TestApp) -> i64 {
    app.count("SELECT COUNT(*) FROM interact_sessions").await
}

/// Reads an SSE stream until `done` holds for the text so far (bounded).
async fn read_events(
    app: &TestApp,
    session: &str,
    token: &str,
    last_event_id: Option<&str>,
    done: impl Fn(&str) -> bool,
) -> String {
    let mut request = reqwest::Client::new()
        .get(format!(
            "{}/api/interact/v1/sessions/{session}/events?token={token}",
            app.address
        ))
        .header("origin", "https://shop.example.com");
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    let mut response = request.send().await.expect("events");
    assert_eq!(response.status(), 200);
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done(&text) {
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(remaining, response.chunk()).await {
            Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            _ => break,
        }
    }
    text
}

#[tokio::test]
async fn a_session_gets_a_strong_token_only_its_hash_is_stored_and_the_greeting_streams() {
    let app = spawn_app().await;
    seed(&app, true).await;
    let response = create(&app, Some("https://shop.example.com"), &body()).await;
    assert_eq!(response.status(), 201);
    assert_eq!(
        response
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://shop.example.com")
    );
    let created: Value = response.json().await.expect("json");
    let (session, token) = (
        created["sessionId"].as_str().expect("id"),
        created["token"].as_str().expect("token"),
    );
    assert!(token.len() >= 43, "256 random bits, base64url");
    let stored: String = app
        .text(
            "SELECT token_hash FROM interact_sessions WHERE session_id = $1",
            &[session],
        )
        .await
        .expect("row");
    assert_ne!(stored, token);

    let stream = read_events(&app, session, token, None, |t| {
        t.contains("What is your question about?")
    })
    .await;
    assert!(
        stream.contains("Hello Ada, thanks for contacting Support."),
        "{stream}"
    );
    assert!(
        stream.contains("\"choices\":[\"Billing\",\"Technical\"]"),
        "{stream}"
    );
    assert!(stream.contains("id: 1"), "{stream}");
    // Every event says when it happened (ms), so a page shows the times after a reload too.
    let now = chrono::Utc::now().timestamp_millis();
    for data in stream.lines().filter_map(|l| l.strip_prefix("data: ")) {
        let event: Value = serde_json::from_str(data).expect("event JSON");
        let at = event["at"].as_i64().expect("at");
        assert!((now - 60_000..=now + 1000).contains(&at), "{event}");
    }

    // A reconnect after event 1 replays the rest, not event 1 again.
    let resumed = read_events(&app, session, token, Some("1"), |t| {
        t.contains("What is your question about?")
    })
    .await;
    assert!(!resumed.contains("id: 1\n"), "{resumed}");
    assert!(resumed.contains("id: 2"), "{resumed}");
}

#[tokio::test]
async fn every_bad_input_is_refused_with_its_code_and_nothing_is_stored() {
    let app = spawn_app().await;
    seed(&app, true).await;
    let origin = Some("https://shop.example.com");
    let cases: Vec<(Value, Option<&str>, u16, &str)> = vec![
        (
            json!({"widgetKey": KEY, "displayName": " ", "email": "ada@example.com", "privacyConsent": true}),
            origin,
            400,
            "invalid_display_name",
        ),
        (
            json!({"widgetKey": KEY, "displayName": "x".repeat(101), "email": "ada@example.com", "privacyConsent": true}),
            origin,
            400,
            "invalid_display_name",
        ),
        (
            json!({"widgetKey": KEY, "displayName": "Ada", "email": "ada@", "privacyConsent": true}),
            origin,
            400,
            "invalid_email",
        ),
        (
            json!({"widgetKey": KEY, "displayName": "Ada", "email": "ada@example.com", "privacyConsent": false}),
            origin,
            400,
            "consent_required",
        ),
        (
            json!({"widgetKey": KEY, "displayName": "Ada", "email": "ada@example.com", "privacyConsent": true, "message": "x".repeat(4001)}),
            origin,
            400,
            "invalid_message",
        ),
        (
            json!({"widgetKey": "wrong", "displayName": "Ada", "email": "ada@example.com", "privacyConsent": true}),
            origin,
            403,
            "invalid_widget_key",
        ),
        (
            body(),
            Some("https://example.com.evil.test"),
            403,
            "origin_not_allowed",
        ),
        (body(), None, 403, "origin_not_allowed"),
        (json!({"displayName": "Ada"}), origin, 400, "invalid_body"),
    ];
    for (payload, origin, status, code) in cases {
        let response = create(&app, origin, &payload).await;
        assert_eq!(response.status().as_u16(), status, "{code}");
        // An allowed site reads why (the widget tells the customer); any other reads nothing;
        // a body that is not the API's JSON is refused before the contact is known.
        let readable = match code {
            "origin_not_allowed" | "invalid_body" => None,
            _ => origin,
        };
        assert_eq!(
            response
                .headers()
                .get("access-control-allow-origin")
                .map(|v| v.to_str().expect("header")),
            readable,
            "{code}: CORS headers on the refusal"
        );
        let problem: Value = response.json().await.expect("problem");
        assert_eq!(problem["code"], code);
    }
    let unknown = reqwest::Client::new()
        .post(format!(
            "{}/api/interact/v1/contacts/nobody/sessions",
            app.address
        ))
        .json(&body())
        .send()
        .await
        .expect("request");
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        unknown.headers()["access-control-allow-origin"],
        "*",
        "a wrong contact is readable by any page (it reveals nothing)"
    );
    assert_eq!(sessions_stored(&app).await, 0);
}

#[tokio::test]
async fn a_service_without_interact_im_cannot_take_sessions() {
    let app = spawn_app().await;
    seed(&app, false).await;
    let mut service: Service = store::get(&app.state.pool, "t1", Kind::Service, "support")
        .await
        .expect("get")
        .expect("some")
        .value;
    service.interact.instant_message = false;
    store::put(
        &app.state.pool,
        "t1",
        Kind::Service,
        "support",
        &service,
        Some(1),
        1,
    )
    .await
    .expect("update");
    let response = create(&app, None, &body()).await;
    assert_eq!(response.status(), 403);
    let problem: Value = response.json().await.expect("problem");
    assert_eq!(problem["code"], "interact_unavailable");
    assert_eq!(sessions_stored(&app).await, 0);
}

#[tokio::test]
async fn preflights_answer_allowed_origins_and_refuse_look_alikes() {
    let app = spawn_app().await;
    seed(&app, true).await;
    let client = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        client
            .request(
                reqwest::Method::OPTIONS,
                format!(
                    "{}/api/interact/v1/contacts/{CONTACT}/sessions",
                    app.address
                ),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let ok = preflight("https://www.example.com")
        .await
        .expect("preflight");
    assert_eq!(ok.status(), 204);
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://www.example.com"
    );
    let bad = preflight("https://www.example.com.evil.test")
        .await
        .expect("preflight");
    assert_eq!(bad.status(), 403);
    assert!(bad.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn tokens_open_only_their_own_session_and_retried_sends_are_not_duplicated() {
    let app = spawn_app().await;
    seed(&app, false).await;
    let a: Value = create(&app, None, &body()).await.json().await.expect("a");
    let b: Value = create(&app, None, &body()).await.json().await.expect("b");
    let client = reqwest::Client::new();
    let url = |s: &Value, path: &str| {
        format!(
            "{}/api/interact/v1/sessions/{}{path}",
            app.address,
            s["sessionId"].as_str().expect("id")
        )
    };
    let token = |s: &Value| s["token"].as_str().expect("token").to_owned();

    let foreign = client
        .get(url(&a, ""))
        .bearer_auth(token(&b))
        .send()
        .await
        .expect("get");
    assert_eq!(foreign.status(), 404);
    let anonymous = client.get(url(&a, "")).send().await.expect("get");
    assert_eq!(anonymous.status(), 401);
    let own: Value = client
        .get(url(&a, ""))
        .bearer_auth(token(&a))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(own["sessionId"], a["sessionId"]);

    let send = || {
        client
            .post(url(&a, "/messages"))
            .bearer_auth(token(&a))
            .json(&json!({"text": "Technical", "clientMessageId": "m-1"}))
            .send()
    };
    assert_eq!(send().await.expect("send").status(), 202);
    let again = send().await.expect("send");
    assert_eq!(again.status(), 200);
    assert_eq!(
        again.json::<Value>().await.expect("json")["duplicate"],
        true
    );
    // No agent exists, so the answer leads the workflow to "nobody available" and the end.
    let stream = read_events(
        &app,
        a["sessionId"].as_str().expect("id"),
        &token(&a),
        None,
        |t| t.contains("\"state\":\"ended\""),
    )
    .await;
    assert_eq!(
        stream.matches("\"clientMessageId\":\"m-1\"").count(),
        1,
        "{stream}"
    );
    assert!(
        stream.contains("Nobody is available right now."),
        "the answer moved the workflow on: {stream}"
    );

    // Ending the other session from the customer's side.
    let ended = client
        .post(url(&b, "/end"))
        .bearer_auth(token(&b))
        .send()
        .await
        .expect("end");
    assert_eq!(ended.status(), 200);
    let stream = read_events(
        &app,
        b["sessionId"].as_str().expect("id"),
        &token(&b),
        None,
        |t| t.contains("\"state\":\"ended\""),
    )
    .await;
    assert!(stream.contains("\"state\":\"ended\""), "{stream}");
    let late = client
        .post(url(&a, "/messages"))
        .bearer_auth(token(&a))
        .json(&json!({"text": "hi", "clientMessageId": "m-2"}))
        .send()
        .await
        .expect("send");
    assert_eq!(late.status(), 409);
}

#[tokio::test]
async fn demo_mode_seeds_a_contact_a_newcomer_can_chat_with_at_once() {
    let app = crate::helpers::spawn_app_with(crate::helpers::TestConfig::anonymous()).await;
    let response = reqwest::Client::new()
        .post(format!("{}/api/interact/v1/contacts/demo/sessions", app.address))
        .json(&json!({"widgetKey": "demo", "displayName": "Ada", "email": "ada@example.com", "privacyConsent": true}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.expect("json");
    let stream = read_events(
        &app,
        created["sessionId"].as_str().expect("id"),
        created["token"].as_str().expect("token"),
        None,
        |t| t.contains("welcome to Support"),
    )
    .await;
    assert!(
        stream.contains("Hello Ada, welcome to Support."),
        "{stream}"
    );
}

#[tokio::test]
async fn there_is_no_demo_contact_outside_demo_mode() {
    let app = spawn_app().await;
    let response = create_for(&app, "demo").await;
    assert_eq!(response.status(), 404);
}

async fn create_for(app: &TestApp, contact: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/api/interact/v1/contacts/{contact}/sessions", app.address))
        .json(&json!({"widgetKey": "demo", "displayName": "Ada", "email": "ada@example.com", "privacyConsent": true}))
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn the_widget_and_the_preview_page_are_served() {
    let app = spawn_app().await;
    seed(&app, true).await;
    let widget = app.get("/interact/widget.js").await;
    assert_eq!(
        widget.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    let js = widget.text().await.expect("js");
    assert!(js.contains("EventSource") && js.contains("textContent") && !js.contains("innerHTML"));

    let preview = app.get(&format!("/interact/preview/{CONTACT}")).await;
    assert_eq!(preview.status(), 200);
    assert_eq!(
        preview.headers()["content-security-policy"],
        "frame-ancestors https://*.example.com"
    );
    let html = preview.text().await.expect("html");
    assert!(
        html.contains(&format!("data-contact=\"{CONTACT}\""))
            && html.contains(&format!("data-key=\"{KEY}\"")),
        "{html}"
    );
    assert_eq!(app.get("/interact/preview/nobody").await.status(), 404);
}

#[tokio::test]
async fn too_many_sessions_from_one_address_get_429_with_retry_after() {
    let app = spawn_app().await;
    seed(&app, false).await;
    for _ in 0..10 {
        assert_eq!(create(&app, None, &body()).await.status(), 201);
    }
    let limited = create(&app, None, &body()).await;
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let problem: Value = limited.json().await.expect("problem");
    assert_eq!(problem["code"], "rate_limited");
    assert_eq!(
        sessions_stored(&app).await,
        10,
        "the refused request stored nothing"
    );
}

#[tokio::test]
async fn a_silent_customer_is_ended_after_the_inactivity_time() {
    let clock = std::sync::Arc::new(switchboard::clock::ManualClock::default());
    let app = crate::helpers::spawn_app_with(
        crate::helpers::TestConfig::default()
            .clock(clock.clone())
            .env("SWITCHBOARD_INTERACT__INACTIVITY_SECS", "600"),
    )
    .await;
    seed(&app, false).await;
    let created: Value = create(&app, None, &body())
        .await
        .json()
        .await
        .expect("json");
    let (session, token) = (
        created["sessionId"].as_str().expect("id"),
        created["token"].as_str().expect("token"),
    );
    let now = || switchboard::clock::Clock::now_ms(clock.as_ref());
    clock.advance(chrono::Duration::seconds(599));
    assert_eq!(
        switchboard::interact::inactivity::sweep_once(&app.state, now())
            .await
            .expect("sweep"),
        0
    );
    clock.advance(chrono::Duration::seconds(2));
    assert_eq!(
        switchboard::interact::inactivity::sweep_once(&app.state, now())
            .await
            .expect("sweep"),
        1
    );
    let stream = read_events(&app, session, token, None, |t| {
        t.contains("\"state\":\"ended\"")
    })
    .await;
    assert!(stream.contains("\"state\":\"ended\""), "{stream}");
    assert_eq!(
        switchboard::interact::inactivity::sweep_once(&app.state, now())
            .await
            .expect("sweep"),
        0,
        "once"
    );
}

#[tokio::test]
async fn the_session_state_shows_the_queue_position_and_then_the_agent() {
    use switchboard::directory::model::User;
    use switchboard::distribution::Presence;
    use switchboard::engine::messages::{Command, Effect};

    let app = spawn_app().await;
    let workflow = json!({"id": "q", "name": "Q", "start": "a", "activities": {
        "a": {"type": "Accept", "next": "queue"},
        "queue": {"type": "QueueTask", "exits": {"queued": "wait", "failed": "end"}},
        "wait": {"type": "Delay", "seconds": 3600, "next": "wait2"},
        "wait2": {"type": "Delay", "seconds": 3600, "next": "wait"},
        "end": {"type": "Disconnect"}
    }});
    let service: Service = serde_json::from_value(json!({
        "id": "support", "name": "Support", "workflow": "q", "members": ["u1"],
        "licenses": {"contactCenter": true}, "modalities": {"instantMessage": true},
        "interact": {"enabled": true, "instantMessage": true, "contactId": CONTACT, "widgetKey": KEY}
    }))
    .expect("service");
    crate::helpers::put_service(&app, "t1", &workflow, &service).await;
    let first: Value = create(&app, None, &body())
        .await
        .json()
        .await
        .expect("json");
    let second: Value = create(&app, None, &body())
        .await
        .json()
        .await
        .expect("json");
    let state = |s: &Value| {
        let url = format!(
            "{}/api/interact/v1/sessions/{}",
            app.address,
            s["sessionId"].as_str().expect("id")
        );
        let token = s["token"].as_str().expect("token").to_owned();
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("get")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    let view = state(&second).await;
    assert_eq!(
        (view["state"].as_str(), view["position"].as_u64()),
        (Some("queued"), Some(2)),
        "{view}"
    );

    // An agent appears and accepts the first chat.
    let engine = app.state.engines.get("t1").await.expect("engine");
    let agent: User = serde_json::from_value(
        json!({"id": "u1", "upn": "u1@example.com", "displayName": "Agent One",
        "licenses": {"im": true}, "activeIn": ["support"]}),
    )
    .expect("user");
    let effects = engine
        .send(Command::UpsertUser {
            user: Box::new(agent),
            registered: true,
            presence: Presence::Available,
        })
        .await
        .expect("agent");
    let offer = effects
        .iter()
        .find_map(|e| match e {
            Effect::SendInvitation { offer, .. } => Some(*offer),
            _ => None,
        })
        .expect("invitation");
    engine
        .send(Command::Accept {
            offer,
            user: "u1".into(),
        })
        .await
        .expect("accept");
    let view = state(&first).await;
    assert_eq!(view["state"], "connected", "{view}");
    assert_eq!(view["agent"]["displayName"], "Agent One");
    assert_eq!(state(&second).await["position"], 1);
}

#[tokio::test]
async fn too_many_messages_in_one_session_get_429() {
    let app = spawn_app().await;
    let workflow = json!({"id": "q", "name": "Q", "start": "a", "activities": {
        "a": {"type": "Accept", "next": "queue"},
        "queue": {"type": "QueueTask", "exits": {"queued": "wait", "failed": "end"}},
        "wait": {"type": "Delay", "seconds": 3600, "next": "wait2"},
        "wait2": {"type": "Delay", "seconds": 3600, "next": "wait"},
        "end": {"type": "Disconnect"}
    }});
    let service: Service = serde_json::from_value(json!({
        "id": "support", "name": "Support", "workflow": "q",
        "licenses": {"contactCenter": true}, "modalities": {"instantMessage": true},
        "interact": {"enabled": true, "instantMessage": true, "contactId": CONTACT, "widgetKey": KEY}
    }))
    .expect("service");
    crate::helpers::put_service(&app, "t1", &workflow, &service).await;
    let created: Value = create(&app, None, &body())
        .await
        .json()
        .await
        .expect("json");
    let url = format!(
        "{}/api/interact/v1/sessions/{}/messages",
        app.address,
        created["sessionId"].as_str().expect("id")
    );
    let token = created["token"].as_str().expect("token");
    let client = reqwest::Client::new();
    for i in 0..11 {
        let response = client
            .post(&url)
            .bearer_auth(token)
            .json(&json!({"text": format!("m{i}"), "clientMessageId": format!("m{i}")}))
            .send()
            .await
            .expect("send");
        if i < 10 {
            assert_eq!(response.status(), 202, "message {i}");
        } else {
            assert_eq!(response.status(), 429);
            assert!(response.headers().get("retry-after").is_some());
        }
    }
}
