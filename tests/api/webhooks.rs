//! Tenant webhooks end to end: a real receiver on loopback checks every signature; a workflow's
//! CollectInformation reaches it as `session.collectInformation`, the test answers with `PUT
//! …/parameters` and the workflow leaves by `collected`; a failing receiver is retried and a
//! session's events stay in order; endpoint URLs on private networks are refused when they are
//! configured, and secrets are never shown (settings, export) yet survive a round trip.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode as AxumStatus};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard::directory::model::Service;
use switchboard::store::AsPool;

use crate::admin::Api;
use crate::helpers::TestApp;
use crate::helpers::teams::{self, Customer};
use crate::mock_bf::{OTHER_TENANT_ID, TENANT_ID};

const SECRET: &str = "whsec-test-0123456789-abcdef";

/// What the receiver got: headers that matter, the raw body, and whether the signature holds.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) event: String,
    pub(crate) delivery: String,
    pub(crate) body: Value,
    pub(crate) signed: bool,
}

/// A webhook receiver on loopback that answers with the scripted statuses (then 200).
pub(crate) struct Receiver {
    pub(crate) url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub(crate) async fn start(script: &[u16]) -> Receiver {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let script: Arc<Mutex<VecDeque<u16>>> =
            Arc::new(Mutex::new(script.iter().copied().collect()));
        let (log, answers) = (Arc::clone(&got), Arc::clone(&script));
        let router = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let (log, answers) = (Arc::clone(&log), Arc::clone(&answers));
                async move {
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    // Verified as a receiver would: HMAC-SHA256(secret, "{timestamp}.{body}").
                    let timestamp = header("x-switchboard-timestamp");
                    let mut mac =
                        Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
                    mac.update(format!("{timestamp}.{body}").as_bytes());
                    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
                    let fresh = timestamp
                        .parse::<i64>()
                        .is_ok_and(|t| (chrono::Utc::now().timestamp() - t).abs() < 300);
                    log.lock().expect("log").push(Received {
                        event: header("x-switchboard-event"),
                        delivery: header("x-switchboard-delivery"),
                        body: serde_json::from_str(&body).unwrap_or(Value::Null),
                        signed: header("x-switchboard-signature") == expected
                            && fresh
                            && header("content-type") == "application/json",
                    });
                    let status = answers.lock().expect("script").pop_front().unwrap_or(200);
                    AxumStatus::from_u16(status).expect("status")
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
        Receiver { url, got }
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().expect("log").clone()
    }

    /// Waits until `n` requests arrived (the engine's commit wakes the outbox dispatcher).
    pub(crate) async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.got();
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} of {n} webhook requests: {got:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// A service whose workflow asks the tenant's systems for `crmId`, greets with it, and ends.
async fn seed(app: &TestApp) {
    let workflow = json!({"id": "crm", "name": "CRM", "start": "accept", "activities": {
        "accept": {"type": "Accept", "next": "collect"},
        "collect": {"type": "CollectInformation", "parameters": ["crmId"], "timeoutSeconds": 600,
                    "exits": {"collected": "greet", "timeout": "late"}},
        "greet": {"type": "Disconnect", "text": "Welcome back, customer ${crmId}."},
        "late": {"type": "Disconnect", "text": "We could not find you."}
    }});
    let service: Service = serde_json::from_value(json!({
        "id": "support", "name": "Support", "workflow": "crm", "members": [],
        "licenses": {"contactCenter": true}, "modalities": {"instantMessage": true},
        "interact": {"enabled": true, "instantMessage": true, "contactId": teams::CONTACT, "widgetKey": teams::KEY}
    }))
    .expect("service");
    crate::helpers::put_service(app, TENANT_ID, &workflow, &service).await;
}

/// Configures the receiver as the tenant's endpoint `crm` (loopback allowed for the test).
pub(crate) async fn configure(api: &Api<'_>, url: &str) {
    let (_, tag, mut settings) = api.get("/settings").await;
    settings["httpAllowedNetworks"] = json!(["127.0.0.0/8"]);
    settings["webhooks"] = json!([{"id": "crm", "url": url, "secret": SECRET}]);
    let (status, _, body) = api.put("/settings", &settings, tag.as_deref()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn start(app: &TestApp) -> Customer {
    teams::start_chat_on(
        app,
        teams::CONTACT,
        teams::KEY,
        "Ada Lovelace",
        "ada@example.com",
        None,
    )
    .await
}

#[tokio::test]
async fn collect_information_is_signed_to_the_tenant_and_its_answer_leaves_by_collected() {
    let receiver = Receiver::start(&[]).await;
    let app = teams::spawn().await;
    let api = Api::new(&app, TENANT_ID).await;
    seed(&app).await;
    configure(&api, &receiver.url).await;

    let customer = start(&app).await;
    let got = receiver.wait_for(1).await;
    let asked = &got[0];
    assert!(asked.signed, "the signature checks out: {asked:?}");
    assert_eq!(asked.event, "session.collectInformation");
    assert_eq!(asked.body["type"], "session.collectInformation");
    assert_eq!(asked.body["tenant"], TENANT_ID);
    assert_eq!(asked.body["session"], customer.session.as_str());
    assert_eq!(
        asked.body["data"],
        json!({"parameters": ["crmId"], "customer": {"displayName": "Ada Lovelace", "email": "ada@example.com"}})
    );

    // The tenant's system answers; the workflow leaves CollectInformation by `collected`.
    let path = format!("/sessions/{}/parameters", customer.session);
    let (status, _, body) = api.put(&path, &json!({"crmId": "C-42"}), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    customer
        .wait_event(&app, "the greeting", |e| {
            e.to_string().contains("Welcome back, customer C-42.")
        })
        .await;
    assert_eq!(
        teams::outcome(&app, &customer.session).await.as_deref(),
        Some("cancelled"),
        "ended by the workflow's Disconnect"
    );
    let got = receiver.wait_for(2).await;
    assert_eq!(got[1].event, "session.ended");
    assert_eq!(got[1].body["data"]["outcome"], "cancelled");
    assert!(got[1].signed);
    assert_ne!(got[0].delivery, got[1].delivery);

    // An ended session, an unknown one, and bodies that are not string maps are refused.
    let (status, _, body) = api.put(&path, &json!({"crmId": "C-43"}), None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("session_ended"))
    );
    let (status, _, body) = api
        .put("/sessions/nope/parameters", &json!({"crmId": "1"}), None)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("session_not_found"))
    );
    for (bad, code) in [
        (json!(["crmId"]), "invalid_parameters"),
        (json!({"crmId": 42}), "invalid_parameters"),
        (json!({}), "invalid_parameters"),
        (
            json!({"customer.email": "x@example.com"}),
            "reserved_parameter",
        ),
    ] {
        let (status, _, body) = api.put(&path, &bad, None).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code)),
            "{bad}"
        );
    }

    // The deliveries list shows both, delivered at the first attempt.
    let (status, _, list) = api.get("/webhooks/deliveries?limit=10").await;
    assert_eq!(status, StatusCode::OK);
    let items = list["items"].as_array().expect("items");
    let seen: Vec<(&str, &str, i64)> = items
        .iter()
        .map(|i| {
            (
                i["event"].as_str().unwrap_or_default(),
                i["state"].as_str().unwrap_or_default(),
                i["attempts"].as_i64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("session.ended", "delivered", 1),
            ("session.collectInformation", "delivered", 1)
        ]
    );
    assert_eq!(items[0]["endpoint"], "crm");
    assert_eq!(items[0]["session"], customer.session.as_str());
    let (status, _, _) = api.get("/webhooks/deliveries?limit=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_failing_receiver_is_retried_and_each_session_s_events_keep_their_order() {
    let receiver = Receiver::start(&[500]).await;
    let app = teams::spawn().await;
    let api = Api::new(&app, TENANT_ID).await;
    seed(&app).await;
    configure(&api, &receiver.url).await;

    // The answer comes at once: `session.ended` is queued while `collectInformation` still
    // waits for its first attempt, which fails.
    let customer = start(&app).await;
    let path = format!("/sessions/{}/parameters", customer.session);
    let (status, _, _) = api.put(&path, &json!({"crmId": "C-7"}), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let got = receiver.wait_for(3).await;
    let order: Vec<&str> = got.iter().map(|r| r.event.as_str()).collect();
    assert_eq!(
        order,
        [
            "session.collectInformation",
            "session.collectInformation",
            "session.ended"
        ]
    );
    assert_eq!(
        got[0].delivery, got[1].delivery,
        "a retry is the same delivery"
    );
    assert_eq!(got[0].body, got[1].body);
    assert!(got.iter().all(|r| r.signed));
    let (_, _, list) = api.get("/webhooks/deliveries").await;
    let asked = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["event"] == "session.collectInformation")
        .cloned()
        .expect("listed");
    assert_eq!(asked["state"], "delivered");
    assert_eq!(asked["attempts"], 2);

    // A deleted endpoint: what was still pending for it fails as `endpoint_removed`.
    let (_, tag, mut settings) = api.get("/settings").await;
    settings["webhooks"] = json!([]);
    let (status, _, _) = api.put("/settings", &settings, tag.as_deref()).await;
    assert_eq!(status, StatusCode::OK);
    let (lane, service_url, call) = switchboard::db!(app.state.pool.on(), |c| {
        sqlx::query_as::<_, (String, String, String)>(
            "SELECT lane, service_url, call FROM outbox WHERE operation = 'webhook' LIMIT 1",
        )
        .fetch_one(c)
        .await
    })
    .expect("row");
    let mut tx = switchboard::store::begin_write(&app.state.pool)
        .await
        .expect("tx");
    let id = switchboard::store::outbox::enqueue(
        &mut tx,
        &switchboard::store::outbox::NewCall {
            lane: &lane,
            service_url: &service_url,
            operation: "webhook",
            call: &call,
        },
        app.state.clock.now_ms(),
    )
    .await
    .expect("enqueue");
    tx.commit().await.expect("commit");
    app.state.outbox.wake();
    let entry = app
        .wait_for(id, Duration::from_secs(10), |e| e.state != "pending")
        .await;
    assert_eq!(
        (entry.state.as_str(), entry.last_error.as_deref()),
        ("failed", Some("endpoint_removed"))
    );
    assert_eq!(
        receiver.got().len(),
        3,
        "nothing is sent to a removed endpoint"
    );
}

#[tokio::test]
async fn private_network_urls_are_refused_and_secrets_are_write_only() {
    let app = teams::spawn().await;
    let api = Api::new(&app, TENANT_ID).await;
    let (_, tag, settings) = api.get("/settings").await;
    assert_eq!(settings["webhooks"], json!([]));

    for (url, code) in [
        ("https://10.1.2.3/hook", "webhook_url_private"),
        ("https://169.254.169.254/latest", "webhook_url_private"),
        ("http://127.0.0.1:9/hook", "webhook_url_private"),
        ("http://93.184.216.34/hook", "webhook_url_not_https"),
        ("https://user:pw@93.184.216.34/hook", "webhook_url_invalid"),
    ] {
        let mut changed = settings.clone();
        changed["webhooks"] = json!([{"id": "crm", "url": url, "secret": SECRET}]);
        let (status, _, body) = api.put("/settings", &changed, tag.as_deref()).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_webhooks")),
            "{url}"
        );
        assert_eq!(body["problems"][0]["path"], "/webhooks/0/url", "{url}");
        assert_eq!(body["problems"][0]["code"], code, "{url}");
    }
    let mut changed = settings.clone();
    changed["webhooks"] = json!([{"id": "crm", "url": "https://93.184.216.34/hook"}]);
    let (_, _, body) = api.put("/settings", &changed, tag.as_deref()).await;
    assert_eq!(body["problems"][0]["code"], "webhook_secret_required");

    // Stored: shown by id and URL only, in the settings and the export.
    changed["webhooks"][0]["secret"] = json!(SECRET);
    let (status, tag, shown) = api.put("/settings", &changed, tag.as_deref()).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(
        shown["webhooks"],
        json!([{"id": "crm", "url": "https://93.184.216.34/hook"}])
    );
    let (_, _, read) = api.get("/settings").await;
    let (_, _, exported) = api.get("/export").await;
    for text in [shown.to_string(), read.to_string(), exported.to_string()] {
        assert!(!text.contains(SECRET), "a secret was shown: {text}");
    }
    assert_eq!(
        exported["webhooks"],
        json!([{"id": "crm", "url": "https://93.184.216.34/hook"}])
    );
    let stored = || async {
        app.text(
            "SELECT secret FROM tenant_webhooks WHERE tenant_id = $1 AND endpoint_id = 'crm'",
            &[TENANT_ID],
        )
        .await
        .expect("secret")
    };
    // What was read goes back unchanged (the secret is kept); a new secret rotates it.
    let (status, tag, _) = api.put("/settings", &read, tag.as_deref()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored().await, SECRET);
    let mut rotated = read.clone();
    rotated["webhooks"][0]["secret"] = json!("a-rotated-secret-of-enough-length");
    let (status, _, _) = api.put("/settings", &rotated, tag.as_deref()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored().await, "a-rotated-secret-of-enough-length");

    // The tenant file: the export imports back unchanged; a new endpoint needs a secret.
    let (status, _, done) = api.post("/import", &exported).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(stored().await, "a-rotated-secret-of-enough-length");
    let mut file = exported.clone();
    file["webhooks"]
        .as_array_mut()
        .expect("list")
        .push(json!({"id": "erp", "url": "https://10.9.9.9/in", "secret": "short"}));
    let (status, _, body) = api.post("/import", &file).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let codes: Vec<&str> = body["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .filter_map(|p| p["code"].as_str())
        .collect();
    assert_eq!(codes, ["webhook_url_private", "webhook_secret_too_short"]);

    // Admin authentication as on every admin route.
    let http = reqwest::Client::new();
    let url =
        |tenant: &str, path: &str| format!("{}/api/admin/v1/tenants/{tenant}{path}", app.address);
    let anonymous = http
        .get(url(TENANT_ID, "/webhooks/deliveries"))
        .send()
        .await
        .expect("request");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let forged = http
        .put(url(TENANT_ID, "/sessions/s1/parameters"))
        .bearer_auth("sbk_nope_nope")
        .json(&json!({"crmId": "1"}))
        .send()
        .await
        .expect("request");
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    let elsewhere = http
        .put(url(OTHER_TENANT_ID, "/sessions/s1/parameters"))
        .bearer_auth(&api.key)
        .json(&json!({"crmId": "1"}))
        .send()
        .await
        .expect("request");
    assert_eq!(elsewhere.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn queueing_connecting_and_ending_reach_the_tenant_with_the_agent_and_the_outcome() {
    let receiver = Receiver::start(&[]).await;
    let app = teams::spawn().await;
    let api = Api::new(&app, TENANT_ID).await;
    teams::seed(&app, "direct", 30, &[teams::ANNE]).await;
    configure(&api, &receiver.url).await;

    let teams_side = teams::Teams { app: &app };
    let (ada, _) = teams::connected_chat(&app, &teams_side, None).await;
    ada.leave(&app).await;

    let got = receiver.wait_for(3).await;
    let order: Vec<&str> = got.iter().map(|r| r.event.as_str()).collect();
    assert_eq!(
        order,
        ["session.queued", "session.connected", "session.ended"]
    );
    assert!(
        got.iter()
            .all(|r| r.signed && r.body["session"] == ada.session.as_str())
    );
    assert_eq!(got[0].body["data"], json!({}));
    assert_eq!(
        got[1].body["data"],
        json!({"service": "Support", "agent": {"id": teams::ANNE.aad, "displayName": teams::ANNE.name}})
    );
    assert_eq!(got[2].body["data"]["outcome"], "handled");
    assert_eq!(got[2].body["data"]["agent"], teams::ANNE.aad);
    assert_eq!(got[2].body["data"]["service"], "support");
}
