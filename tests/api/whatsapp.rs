//! The WhatsApp webhook from outside, as Meta calls it: the subscription handshake, signatures
//! checked over the raw bytes (nothing stored without one), and retries stored once.

use serde_json::{Value, json};
use switchboard::store::AsPool;
use switchboard::whatsapp_cloud::webhook::signature;

use crate::helpers::{TestApp, TestConfig, problem, spawn_app_with};

const SECRET: &str = "meta-app-secret";
const VERIFY: &str = "verify-me";

async fn spawn() -> TestApp {
    spawn_app_with(
        TestConfig::default()
            .env("SWITCHBOARD_WHATSAPP__APP_SECRET", SECRET)
            .env("SWITCHBOARD_WHATSAPP__VERIFY_TOKEN", VERIFY),
    )
    .await
}

fn webhook(messages: Value, statuses: Value) -> Vec<u8> {
    json!({"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages","value":{
        "messaging_product":"whatsapp",
        "metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},
        "contacts":[{"profile":{"name":"Sheena"},"wa_id":"16505551234"}],
        "messages": messages, "statuses": statuses}}]}]})
    .to_string()
    .into_bytes()
}

fn text(wamid: &str) -> Value {
    json!({"from":"16505551234","id":wamid,"timestamp":"1739321024","type":"text","text":{"body":"hi"}})
}

async fn post(app: &TestApp, body: Vec<u8>, signature: Option<String>) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{}/api/whatsapp/webhook", app.address))
        .header("content-type", "application/json")
        .body(body);
    if let Some(s) = signature {
        request = request.header("x-hub-signature-256", s);
    }
    request.send().await.expect("request")
}

async fn stored(app: &TestApp) -> Vec<String> {
    app.texts(
        "SELECT dedupe_key FROM whatsapp_inbound ORDER BY dedupe_key",
        &[],
    )
    .await
}

#[tokio::test]
async fn the_subscription_handshake_echoes_the_challenge_only_for_the_right_token() {
    let app = spawn().await;
    let ok = app
        .get(&format!(
            "/api/whatsapp/webhook?hub.mode=subscribe&hub.verify_token={VERIFY}&hub.challenge=1158201444"
        ))
        .await;
    assert_eq!(ok.status(), 200);
    assert_eq!(
        ok.headers()["content-type"].to_str().unwrap_or_default(),
        "text/plain; charset=utf-8"
    );
    assert_eq!(ok.text().await.expect("body"), "1158201444");
    for query in [
        "hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1",
        "hub.mode=unsubscribe&hub.verify_token=verify-me&hub.challenge=1",
        "hub.mode=subscribe&hub.challenge=1",
        "",
    ] {
        let (status, body) =
            problem(app.get(&format!("/api/whatsapp/webhook?{query}")).await).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (403, Some("verification_failed")),
            "{query}"
        );
    }
}

#[tokio::test]
async fn a_signed_webhook_is_stored_once_however_often_meta_retries_it() {
    let app = spawn().await;
    let body = webhook(
        json!([text("wamid.A"), text("wamid.B")]),
        json!([{"id":"wamid.OUT","status":"sent","timestamp":"1","recipient_id":"16505551234"}]),
    );
    let sig = signature(SECRET.as_bytes(), &body);
    let first = post(&app, body.clone(), Some(sig.clone())).await;
    assert_eq!(first.status(), 200);
    let answer: Value = first.json().await.expect("json");
    assert_eq!(answer, json!({"received": 3, "new": 3, "duplicates": 0}));
    let again: Value = post(&app, body, Some(sig))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(again, json!({"received": 3, "new": 0, "duplicates": 3}));
    // A later status of the same message is new; `read` may come without `delivered`.
    let read = webhook(
        json!([text("wamid.A")]),
        json!([{"id":"wamid.OUT","status":"read","timestamp":"2","recipient_id":"16505551234"}]),
    );
    let sig = signature(SECRET.as_bytes(), &read);
    let answer: Value = post(&app, read, Some(sig))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(answer, json!({"received": 2, "new": 1, "duplicates": 1}));
    assert_eq!(
        stored(&app).await,
        [
            "message:wamid.A",
            "message:wamid.B",
            "status:wamid.OUT:read",
            "status:wamid.OUT:sent"
        ]
    );
    // Once handled (no service takes this number here), an item keeps its key and nothing of
    // what the customer wrote.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let rows = switchboard::db!(app.state.pool.on(), |c| {
            sqlx::query_as::<_, (String, Option<i64>)>(
                "SELECT item, handled_at FROM whatsapp_inbound",
            )
            .fetch_all(c)
            .await
        })
        .expect("rows");
        let handled = rows.iter().all(|(_, handled_at)| handled_at.is_some());
        if handled {
            assert!(rows.iter().all(|(item, _)| item == "{}"));
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "items not handled");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn without_a_valid_signature_a_webhook_is_refused_and_nothing_is_stored() {
    let app = spawn().await;
    let body = webhook(json!([text("wamid.A")]), json!([]));
    let good = signature(SECRET.as_bytes(), &body);
    let other_key = signature(b"not-the-secret", &body);
    // The same JSON, re-serialised with a space: the signature is over the raw bytes.
    let mut respaced = body.clone();
    respaced.insert(1, b' ');
    let cases: Vec<(Vec<u8>, Option<String>, &str)> = vec![
        (body.clone(), None, "signature_missing"),
        (body.clone(), Some(other_key), "signature_invalid"),
        (body.clone(), Some("sha256=zz".into()), "signature_invalid"),
        (
            body.clone(),
            Some(good[7..].to_owned()),
            "signature_invalid",
        ),
        (respaced, Some(good), "signature_invalid"),
    ];
    for (body, sig, code) in cases {
        let (status, problem) = problem(post(&app, body, sig.clone()).await).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (401, Some(code)),
            "{sig:?}"
        );
    }
    // Signed but not JSON: refused, nothing stored.
    let junk = b"{not json".to_vec();
    let sig = signature(SECRET.as_bytes(), &junk);
    let (status, body) = problem(post(&app, junk, Some(sig)).await).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_body")));
    // Too large: 413 before any signature work.
    let big = vec![b' '; 1024 * 1024 + 1];
    let sig = signature(SECRET.as_bytes(), &big);
    let (status, body) = problem(post(&app, big, Some(sig)).await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("body_too_large"))
    );
    assert!(stored(&app).await.is_empty());
}

#[tokio::test]
async fn without_whatsapp_settings_every_webhook_is_refused() {
    let app = spawn_app_with(TestConfig::default()).await;
    let body = webhook(json!([text("wamid.A")]), json!([]));
    let sig = signature(SECRET.as_bytes(), &body);
    let (status, problem_body) = problem(post(&app, body, Some(sig)).await).await;
    assert_eq!(
        (status, problem_body["code"].as_str()),
        (403, Some("whatsapp_not_configured"))
    );
    let (status, problem_body) = problem(
        app.get("/api/whatsapp/webhook?hub.mode=subscribe&hub.verify_token=&hub.challenge=1")
            .await,
    )
    .await;
    assert_eq!(
        (status, problem_body["code"].as_str()),
        (403, Some("whatsapp_not_configured"))
    );
    assert!(stored(&app).await.is_empty());
}
