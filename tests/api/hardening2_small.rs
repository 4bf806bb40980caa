//! Issue 30 (hardening II).
//!
//! The smaller findings (10), from outside: WhatsApp media links expire like the chats' other
//! file links; a media id that is not one is never requested from the Graph API; the
//! WhatsApp handshake's echo is never sniffed; the bearer scheme is read in any case; the tab
//! takes Entra v1 access tokens of its tenant; the message extension's preview shows a
//! customer's name as written, never as markup; a key given twice in a tenant file or an
//! admin document is refused.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::Uri;
use serde_json::{Value, json};
use switchboard::clock::{Clock, ManualClock, SystemClock};
use switchboard::directory::model::Service;
use switchboard::store::AsPool;

use crate::admin::Api;
use crate::agent_side::{tab_config, tab_token};
use crate::helpers::teams::{self, ANNE, Teams};
use crate::helpers::{TestApp, TestConfig, problem, spawn_app_with};
use crate::mock_bf::{APP_ID, OTHER_TENANT_ID, TENANT_ID};
use crate::mock_whatsapp::{APP_SECRET, MockCloud, NUMBER, TOKEN, VERIFY_TOKEN};

const SHEENA: &str = "16505551234";

/// Switchboard with WhatsApp on `graph` (the Cloud API's base URL), a service on [`NUMBER`]
/// and the tenant's access token; `cloud` posts the customers' webhooks to it.
async fn whatsapp_app(graph: &str, clock: Arc<dyn Clock>, cloud: &MockCloud) -> TestApp {
    let app = teams::spawn_with(
        teams::config()
            .clock(clock)
            .env("SWITCHBOARD_WHATSAPP__APP_SECRET", APP_SECRET)
            .env("SWITCHBOARD_WHATSAPP__VERIFY_TOKEN", VERIFY_TOKEN)
            .env("SWITCHBOARD_WHATSAPP__GRAPH_BASE_URL", graph),
    )
    .await;
    cloud.deliver_to(&app.address);
    let workflow = teams::queue_workflow("im", "direct", 30);
    let service: Service = serde_json::from_value(json!({
        "id": "support", "name": "Support", "workflow": "im", "members": [ANNE.aad],
        "licenses": {"contactCenter": true}, "modalities": {"instantMessage": true},
        "whatsapp": {"phoneNumberId": NUMBER}
    }))
    .expect("service");
    crate::helpers::put_service(&app, TENANT_ID, &workflow, &service).await;
    teams::seed_agent(&app, ANNE).await;
    let api = Api::new(&app, TENANT_ID).await;
    let (_, etag, _) = api.get("/settings").await;
    let (status, _, body) = api
        .put(
            "/settings",
            &json!({"name": "Contoso", "whatsapp": {"accessToken": TOKEN}}),
            etag.as_deref(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    app
}

/// Sheena's image message with `media_id`, as Meta posts it.
fn image(wamid: &str, media_id: &str) -> Value {
    json!({"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": NUMBER},
        "contacts": [{"profile": {"name": "Sheena"}, "wa_id": SHEENA}],
        "messages": [{"from": SHEENA, "id": wamid, "timestamp": "1739321024", "type": "image",
                      "image": {"id": media_id, "mime_type": "image/jpeg"}}]})
}

/// Polls `done` (a store query) for up to ten seconds.
async fn until(what: &str, done: impl AsyncFn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn media_rows(app: &TestApp) -> Vec<(String, String)> {
    app.text_pairs(
        "SELECT id, state FROM whatsapp_media ORDER BY created_at",
        &[],
    )
    .await
}

#[tokio::test]
async fn a_whatsapp_media_link_expires_after_interact_file_link_hours() {
    let cloud = MockCloud::start().await;
    let clock = Arc::new(ManualClock::default());
    let app = whatsapp_app(&cloud.graph_base_url(), clock.clone(), &cloud).await;
    assert_eq!(cloud.post_webhook(image("wamid.M1", "M-IMAGE")).await, 200);
    until("the image fetched", async || {
        media_rows(&app).await.iter().any(|(_, s)| s == "stored")
    })
    .await;
    let (id, _) = media_rows(&app).await.remove(0);
    let link = format!("{}/api/whatsapp/media/{id}", app.address);
    assert_eq!(reqwest::get(&link).await.expect("get").status(), 200);

    // 72 hours by default, as the widget's and the agents' file links.
    clock.advance(chrono::Duration::hours(71));
    assert_eq!(reqwest::get(&link).await.expect("get").status(), 200);
    clock.advance(chrono::Duration::hours(2));
    let (status, body) = problem(reqwest::get(&link).await.expect("get")).await;
    assert_eq!((status, body["code"].as_str()), (410, Some("link_expired")));
}

/// A Graph API stand-in that answers every request 404 and records its path and query.
async fn recording_graph() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let router = axum::Router::new().fallback(move |uri: Uri| {
        let record = Arc::clone(&record);
        async move {
            record.lock().expect("lock").push(
                uri.path_and_query()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            );
            (
                axum::http::StatusCode::NOT_FOUND,
                axum::Json(json!({"error": {"code": 100, "message": "Unsupported get request"}})),
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}/v24.0", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    (base, seen)
}

#[tokio::test]
async fn a_media_id_that_leaves_its_path_segment_is_never_requested() {
    let (graph, seen) = recording_graph().await;
    let cloud = MockCloud::start().await;
    let app = whatsapp_app(&graph, Arc::new(SystemClock), &cloud).await;

    // Signed by Meta's app secret, yet its media id is a path to another Graph endpoint.
    assert_eq!(
        cloud
            .post_webhook(image("wamid.EVIL", "../../../../me/accounts?x="))
            .await,
        200
    );
    until("the forged message handled", async || {
        switchboard::db!(app.state.pool.on(), |c| {
            sqlx::query_scalar::<_, Option<i64>>(
                "SELECT handled_at FROM whatsapp_inbound WHERE wamid = 'wamid.EVIL'",
            )
            .fetch_optional(c)
            .await
        })
        .expect("inbound")
        .is_some_and(|handled_at| handled_at.is_some())
    })
    .await;
    // A real one after it: fetched, and once nothing is left to fetch, it is all that was.
    assert_eq!(
        cloud
            .post_webhook(image("wamid.OK", "1037543291543636"))
            .await,
        200
    );
    until("the real media requested", async || {
        !seen.lock().expect("lock").is_empty()
            && !media_rows(&app).await.iter().any(|(_, s)| s == "pending")
    })
    .await;
    assert_eq!(
        *seen.lock().expect("lock"),
        ["/v24.0/1037543291543636"],
        "only the real media id is requested"
    );
    // The agent reads that the customer sent an image that cannot be fetched.
    let said = app
        .texts("SELECT event FROM interact_events ORDER BY seq", &[])
        .await;
    assert!(
        said.iter()
            .any(|e| e.contains("[The customer sent an image, which cannot be fetched]")),
        "{said:?}"
    );
}

#[tokio::test]
async fn the_whatsapp_handshake_echo_is_plain_text_never_sniffed() {
    let app = spawn_app_with(
        TestConfig::default()
            .env("SWITCHBOARD_WHATSAPP__APP_SECRET", APP_SECRET)
            .env("SWITCHBOARD_WHATSAPP__VERIFY_TOKEN", VERIFY_TOKEN),
    )
    .await;
    let echo = app
        .get(&format!(
            "/api/whatsapp/webhook?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}\
             &hub.challenge=%3Chtml%3E%3Cscript%3Ealert(1)%3C/script%3E"
        ))
        .await;
    assert_eq!(echo.status(), 200);
    assert_eq!(echo.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(echo.headers()["x-content-type-options"], "nosniff");
    assert_eq!(echo.headers()["cache-control"], "no-store");
    assert_eq!(
        echo.text().await.expect("body"),
        "<html><script>alert(1)</script>"
    );
}

fn app_resource(app: &TestApp) -> String {
    let host = url::Url::parse(&app.state.public_base)
        .expect("base")
        .host_str()
        .expect("host")
        .to_owned();
    format!("api://{host}/{APP_ID}")
}

#[tokio::test]
async fn the_bearer_scheme_is_read_in_any_case_by_the_tab_and_the_admin_api() {
    let app = teams::spawn_with(tab_config()).await;
    teams::seed(&app, "direct", 30, &[ANNE]).await;
    let http = reqwest::Client::new();
    let token = tab_token(&app, ANNE.aad, &app_resource(&app), Some("access_as_user"));
    let api = Api::new(&app, TENANT_ID).await;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let me = http
            .get(format!("{}/api/tab/v1/me", app.address))
            .header("authorization", format!("{scheme} {token}"))
            .send()
            .await
            .expect("me");
        assert_eq!(me.status(), 200, "tab, {scheme}");
        let settings = http
            .get(api.url("/settings"))
            .header("authorization", format!("{scheme}  {}", api.key))
            .send()
            .await
            .expect("settings");
        assert_eq!(settings.status(), 200, "admin, {scheme}");
    }
    // Another scheme, or none, is still refused.
    for header in [format!("Basic {token}"), token.clone()] {
        let (status, body) = problem(
            http.get(format!("{}/api/tab/v1/me", app.address))
                .header("authorization", header)
                .send()
                .await
                .expect("me"),
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("token_missing"))
        );
    }
    let (status, body) = problem(
        http.get(api.url("/settings"))
            .header("authorization", format!("Basic {}", api.key))
            .send()
            .await
            .expect("settings"),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("api_key_missing"))
    );
}

/// An Entra v1 access token, as an app registration without `accessTokenAcceptedVersion: 2`
/// gets it: issued by `https://sts.windows.net/{issuer_tenant}/`.
fn v1_token(app: &TestApp, issuer_tenant: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    crate::mock_bf::TestKey::one().sign(&json!({
        "iss": format!("https://sts.windows.net/{issuer_tenant}/"),
        "aud": app_resource(app), "tid": TENANT_ID, "oid": ANNE.aad, "name": "Anne",
        "ver": "1.0", "scp": "access_as_user", "appid": "5e3ce6c0-2b1f-4285-8d4b-75ee78787346",
        "exp": now + 3600, "nbf": now - 10, "iat": now - 10,
    }))
}

#[tokio::test]
async fn the_tab_takes_entra_v1_access_tokens_of_its_tenant() {
    let app = teams::spawn_with(tab_config()).await;
    teams::seed(&app, "direct", 30, &[ANNE]).await;
    let me = |token: String| {
        let url = format!("{}/api/tab/v1/me", app.address);
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("me")
        }
    };
    let v1 = me(v1_token(&app, TENANT_ID)).await;
    assert_eq!(v1.status(), 200);
    let body: Value = v1.json().await.expect("json");
    assert_eq!(body["displayName"], "Anne Agent");
    // v2 still works; a v1 issuer naming another tenant than the token's does not.
    let v2 = tab_token(&app, ANNE.aad, &app_resource(&app), Some("access_as_user"));
    assert_eq!(me(v2).await.status(), 200);
    let (status, body) = problem(me(v1_token(&app, OTHER_TENANT_ID)).await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("token_invalid"))
    );
}

#[tokio::test]
async fn the_message_extension_preview_shows_the_customers_name_as_written() {
    let app = teams::spawn().await;
    teams::seed(&app, "direct", 30, &[ANNE]).await;
    let api = Api::new(&app, TENANT_ID).await;
    let (status, _, body) = api
        .post(
            "/canned-answers",
            &json!({"id": "greeting", "title": "Greeting",
                    "text": "Hello ${customer.displayName}, how can I help?"}),
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
    let t = Teams { app: &app };
    t.install(ANNE).await;
    let name = "Eve <img src=x onerror=alert(1)> [bank](https://evil.example) **x**";
    let _eve = teams::start_chat(&app, name, Some("Hi")).await;
    let invitation = teams::invitation_for(&app, ANNE, 1).await;
    t.answer(ANNE, "im.invitation.accept", &invitation).await;
    let (_, chat, _, _) =
        teams::wait_post(&app, "chat started", |(_, _, h, _)| h == "Chat started").await;

    let mut search = t.activity(ANNE, &chat, "invoke");
    search["name"] = json!("composeExtension/query");
    search["value"] = json!({"commandId": "cannedAnswers",
        "parameters": [{"name": "initialRun", "value": "true"}],
        "queryOptions": {"skip": 0, "count": 25}});
    let response = t.post(&search).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("invoke body");
    let result = &body["composeExtension"]["attachments"][0];
    let preview = result["preview"]["content"]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no preview: {body}"));
    assert_eq!(
        preview,
        r"Hello Eve &lt;img src=x onerror=alert\(1\)&gt; \[bank\]\(https://evil.example\) \*\*x\*\*, how can I help?"
    );
    assert!(
        !preview.contains('<') && !preview.contains("[bank]"),
        "{preview}"
    );
    // The card inserted says the same (its values escaped for markdown).
    assert_eq!(
        result["content"]["body"][0]["text"],
        r"Hello Eve \<img src=x onerror=alert\(1\)\> \[bank\]\(https://evil.example\) \*\*x\*\*, how can I help?"
    );
}

#[tokio::test]
async fn a_key_given_twice_in_an_admin_document_or_a_tenant_file_is_refused() {
    let app = teams::spawn().await;
    let api = Api::new(&app, TENANT_ID).await;
    let raw = |method: reqwest::Method, path: &str, body: &str| {
        api.http
            .request(method, api.url(path))
            .bearer_auth(&api.key)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
    };

    // An admin document: 400 `duplicate_key` at its path, nothing stored.
    let calendar = r#"{"id":"mine","name":"Office","timeZone":"Europe/Zurich","id":"other"}"#;
    let (status, body) = problem(
        raw(reqwest::Method::POST, "/calendars", calendar)
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("duplicate_key"))
    );
    assert_eq!(body["path"], "/id");
    for id in ["mine", "other"] {
        let (status, _, _) = api.get(&format!("/calendars/{id}")).await;
        assert_eq!(status, 404, "{id}");
    }
    // Nested, in the settings.
    let (_, etag, _) = api.get("/settings").await;
    let settings = r#"{"name":"Contoso","whatsapp":{"accessToken":"a","accessToken":"b"}}"#;
    let response = api
        .http
        .put(api.url("/settings"))
        .bearer_auth(&api.key)
        .header("if-match", etag.as_deref().unwrap_or_default())
        .header("content-type", "application/json")
        .body(settings)
        .send()
        .await
        .expect("put");
    let (status, body) = problem(response).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("duplicate_key"))
    );
    assert_eq!(body["path"], "/whatsapp/accessToken");

    // A tenant file: 422, the problem named with its path, nothing written.
    let file = format!(
        r#"{{"switchboardTenant":1,"tenant":{{"id":"{TENANT_ID}","name":"Contoso"}},
            "calendars":[{{"id":"mine","name":"Office","timeZone":"Europe/Zurich","id":"other"}}]}}"#
    );
    let (status, body) = problem(
        raw(reqwest::Method::POST, "/import", &file)
            .await
            .expect("import"),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let problems = body["problems"].as_array().expect("problems");
    assert_eq!(problems.len(), 1, "{body}");
    assert_eq!(problems[0]["code"], "duplicate_key");
    assert_eq!(problems[0]["path"], "/calendars/0/id");
    let (status, _, list) = api.get("/calendars").await;
    assert_eq!(status, 200);
    assert!(
        !list.to_string().contains("mine") && !list.to_string().contains("other"),
        "{list}"
    );
}
