//! What a hostile internet does to the public endpoints (issue 14): half-open and idle
//! connections, connection floods from one address, a stranger muting a customer, spoofed
//! names, customer input in a workflow's HTTP request, IPv6 spellings of internal addresses,
//! oversized bodies, idempotent retries over the limit, keys for tenants that do not exist,
//! trusted proxies, the event-stream limits and the metrics token.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::admin::Api;
use crate::helpers::{TestApp, TestConfig, problem, spawn_app_with};
use crate::mock_bf::TENANT_ID;

const DEMO: &str = "demo";

async fn demo() -> TestApp {
    spawn_app_with(TestConfig::anonymous()).await
}

fn from(addr: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(addr.parse::<IpAddr>().expect("ip"))
        .build()
        .expect("client")
}

/// Creates a demo session; returns `(session, token)`.
async fn session(app: &TestApp, client: &reqwest::Client, name: &str) -> (String, String) {
    let response = create(
        app,
        client,
        &json!({"widgetKey": DEMO, "displayName": name,
        "email": "ada@example.com", "privacyConsent": true}),
    )
    .await;
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    let body: Value = response.json().await.expect("json");
    (
        body["sessionId"].as_str().expect("id").to_owned(),
        body["token"].as_str().expect("token").to_owned(),
    )
}

async fn create(app: &TestApp, client: &reqwest::Client, body: &Value) -> reqwest::Response {
    client
        .post(format!(
            "{}/api/interact/v1/contacts/{DEMO}/sessions",
            app.address
        ))
        .json(body)
        .send()
        .await
        .expect("create")
}

async fn say(
    app: &TestApp,
    client: &reqwest::Client,
    session: &str,
    authorization: &str,
    client_id: &str,
) -> reqwest::Response {
    client
        .post(format!(
            "{}/api/interact/v1/sessions/{session}/messages",
            app.address
        ))
        .header("authorization", authorization)
        .json(&json!({"text": "hello", "clientMessageId": client_id}))
        .send()
        .await
        .expect("send")
}

fn port(app: &TestApp) -> u16 {
    app.address
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port")
}

/// A connection that sends part of a request head and nothing more.
async fn half_open(app: &TestApp) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port(app)))
        .await
        .expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    stream
}

/// Whether the server closed the connection (EOF or reset) within `within`.
async fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 512];
    loop {
        match tokio::time::timeout(within, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {} // a 503 or 408 before the close
        }
    }
}

async fn healthz_within(client: &reqwest::Client, app: &TestApp, limit: Duration) -> bool {
    let started = tokio::time::Instant::now();
    let answered =
        tokio::time::timeout(limit, client.get(format!("{}/healthz", app.address)).send()).await;
    matches!(answered, Ok(Ok(r)) if r.status() == 200) && started.elapsed() < limit
}

#[tokio::test]
async fn half_open_connections_are_closed_after_the_header_timeout_and_a_flood_from_one_address_leaves_room()
 {
    let app = spawn_app_with(
        TestConfig::anonymous()
            .env("SWITCHBOARD_SERVER__HEADER_READ_TIMEOUT_SECS", "2")
            .env("SWITCHBOARD_SERVER__MAX_CONNECTIONS_PER_ADDRESS", "20")
            .env("SWITCHBOARD_SERVER__MAX_CONNECTIONS", "60"),
    )
    .await;
    let customer = from("127.0.0.2");
    let (id, token) = session(&app, &customer, "Ada").await;

    // Five times the per-address limit from one address: the oldest idle ones make room.
    let mut flood = Vec::new();
    for _ in 0..100 {
        flood.push(half_open(&app).await);
    }
    let neighbour = from("127.0.0.1");
    assert!(
        healthz_within(&neighbour, &app, Duration::from_secs(1)).await,
        "a new client of the flooding address is still served"
    );
    assert!(healthz_within(&customer, &app, Duration::from_secs(1)).await);
    let sent = say(&app, &customer, &id, &format!("Bearer {token}"), "m1").await;
    assert_eq!(sent.status(), 202, "a customer message still goes through");
    assert!(app.state.connections.open() <= 60);

    // Every half-open connection is closed by the header timeout (2 s) at the latest.
    let mut still_open = 0;
    for stream in &mut flood {
        if !closed_by_server(stream, Duration::from_secs(4)).await {
            still_open += 1;
        }
    }
    assert_eq!(
        still_open, 0,
        "half-open connections outlived the header timeout"
    );
    assert!(
        crate::helpers::eventually(|| app.state.connections.open() == 0).await,
        "the registry forgets closed connections"
    );
}

#[tokio::test]
async fn when_every_connection_is_busy_a_new_one_is_refused_fast_and_the_admitted_are_served() {
    let app = spawn_app_with(
        TestConfig::anonymous()
            .env("SWITCHBOARD_SERVER__MAX_CONNECTIONS_PER_ADDRESS", "5")
            .env("SWITCHBOARD_SERVER__MAX_STREAMS_PER_SESSION", "10"),
    )
    .await;
    let (id, token) = session(&app, &from("127.0.0.3"), "Ada").await;
    // Five event streams from one address: five busy connections.
    let mut streams = Vec::new();
    for _ in 0..5 {
        let client = from("127.0.0.1");
        let response = client
            .get(format!(
                "{}/api/interact/v1/sessions/{id}/events?token={token}",
                app.address
            ))
            .send()
            .await
            .expect("stream");
        assert_eq!(response.status(), 200);
        streams.push((client, response));
    }
    let mut extra = TcpStream::connect(("127.0.0.1", port(&app)))
        .await
        .expect("connect");
    extra
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(1), extra.read_to_string(&mut answer))
        .await
        .expect("answered at once")
        .ok();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    assert!(
        head.contains(&format!("content-length: {}", body.len())),
        "{answer}"
    );
    let body: Value = serde_json::from_str(body).expect("problem+json");
    assert_eq!(body["code"], "overloaded");
    // Another address is served, and the streams admitted are still open.
    assert!(healthz_within(&from("127.0.0.4"), &app, Duration::from_secs(1)).await);
    let (_, response) = &mut streams[0];
    let chunk = tokio::time::timeout(Duration::from_secs(5), response.chunk()).await;
    assert!(
        matches!(chunk, Ok(Ok(Some(_)))),
        "the first stream still delivers"
    );
}

#[tokio::test]
async fn a_newer_event_stream_ends_the_oldest_of_its_session_and_one_address_is_capped() {
    let app = spawn_app_with(
        TestConfig::anonymous()
            .env("SWITCHBOARD_SERVER__MAX_STREAMS_PER_SESSION", "2")
            .env("SWITCHBOARD_SERVER__MAX_STREAMS_PER_ADDRESS", "3"),
    )
    .await;
    let client = from("127.0.0.1");
    let (a, a_token) = session(&app, &client, "Ada").await;
    let (b, b_token) = session(&app, &client, "Bob").await;
    let open = |id: String, token: String| {
        let client = client.clone();
        let url = format!(
            "{}/api/interact/v1/sessions/{id}/events?token={token}",
            app.address
        );
        async move { client.get(url).send().await.expect("stream") }
    };
    let mut first = open(a.clone(), a_token.clone()).await;
    let _second = open(a.clone(), a_token.clone()).await;
    let _third = open(a.clone(), a_token.clone()).await;
    // The first stream of the session ends: it had to make room.
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(_)) = first.chunk().await {}
    })
    .await;
    assert!(ended.is_ok(), "the oldest stream of the session ended");
    assert!(crate::helpers::eventually(|| app.state.streams.count() == 2).await);
    let _fourth = open(b.clone(), b_token.clone()).await;
    let refused = open(b, b_token).await;
    let (status, body) = problem(refused).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("too_many_streams"))
    );
}

#[tokio::test]
async fn wrong_token_requests_do_not_silence_the_customer_of_a_session() {
    let app = demo().await;
    let (id, token) = session(&app, &from("127.0.0.2"), "Ada").await;
    let stranger = from("127.0.0.3");
    for i in 0..12 {
        let response = say(&app, &stranger, &id, "Bearer wrong", &format!("x{i}")).await;
        assert_eq!(response.status(), 404);
    }
    let response = say(
        &app,
        &from("127.0.0.2"),
        &id,
        &format!("Bearer {token}"),
        "m1",
    )
    .await;
    assert_eq!(response.status(), 202, "{:?}", response.text().await);
}

#[tokio::test]
async fn display_names_with_invisible_or_bidi_characters_are_refused() {
    let app = demo().await;
    let client = from("127.0.0.1");
    for spoof in [
        "Ada\u{202E}nimdA",
        "A\u{200B}da",
        "\u{2066}Ada\u{2069}",
        "\u{FEFF}Ada",
    ] {
        let response = create(
            &app,
            &client,
            &json!({"widgetKey": DEMO, "displayName": spoof,
            "email": "ada@example.com", "privacyConsent": true}),
        )
        .await;
        let (status, body) = problem(response).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_display_name")),
            "{spoof:?}"
        );
    }
    // Names that need a joiner keep it.
    session(&app, &client, "می\u{200C}نا").await;
    session(&app, &client, "Zoë").await;
}

#[tokio::test]
async fn oversized_customer_bodies_are_413() {
    let app = demo().await;
    let client = from("127.0.0.1");
    let (id, token) = session(&app, &client, "Ada").await;
    let huge = "x".repeat(3 * 1024 * 1024);
    let response = create(
        &app,
        &client,
        &json!({"widgetKey": DEMO, "displayName": huge,
        "email": "ada@example.com", "privacyConsent": true}),
    )
    .await;
    let (status, body) = problem(response).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("body_too_large"))
    );
    let response = client
        .post(format!(
            "{}/api/interact/v1/sessions/{id}/messages",
            app.address
        ))
        .bearer_auth(&token)
        .json(&json!({"text": huge, "clientMessageId": "m1"}))
        .send()
        .await
        .expect("send");
    let (status, body) = problem(response).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("body_too_large"))
    );
}

#[tokio::test]
async fn a_retry_over_the_rate_limit_gets_the_original_answer() {
    let app = demo().await;
    let client = from("127.0.0.1");
    let (id, token) = session(&app, &client, "Ada").await;
    let bearer = format!("Bearer {token}");
    for i in 0..10 {
        let response = say(&app, &client, &id, &bearer, &format!("m{i}")).await;
        assert_eq!(response.status(), 202);
    }
    let response = say(&app, &client, &id, &bearer, "m10").await;
    assert_eq!(response.status(), 429, "the limit holds for new messages");
    let response = say(&app, &client, &id, &bearer, "m0").await;
    assert_eq!(
        response.status(),
        200,
        "a retry is answered as the first time"
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["duplicate"], true);
}

#[tokio::test]
async fn the_customer_api_takes_the_bearer_scheme_in_any_case() {
    let app = demo().await;
    let client = from("127.0.0.1");
    let (id, token) = session(&app, &client, "Ada").await;
    for (i, scheme) in ["bearer", "BEARER", "Bearer "].into_iter().enumerate() {
        let response = say(
            &app,
            &client,
            &id,
            &format!("{scheme} {token}"),
            &format!("m{i}"),
        )
        .await;
        assert_eq!(response.status(), 202, "{scheme:?}");
    }
    let response = say(&app, &client, &id, &format!("Basic {token}"), "m9").await;
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    let trusting = spawn_app_with(
        TestConfig::anonymous().env("SWITCHBOARD_SERVER__TRUSTED_PROXIES", "127.0.0.1/32"),
    )
    .await;
    let plain = demo().await;
    let via = |app: &TestApp, forwarded: &'static str| {
        let url = format!("{}/api/interact/v1/contacts/{DEMO}/sessions", app.address);
        async move {
            from("127.0.0.1")
                .post(url)
                .header("x-forwarded-for", forwarded)
                .json(&json!({"widgetKey": DEMO, "displayName": "Ada",
                    "email": "ada@example.com", "privacyConsent": true}))
                .send()
                .await
                .expect("create")
                .status()
        }
    };
    // Ten sessions a minute per client: behind a trusted proxy, per forwarded client.
    for _ in 0..10 {
        assert_eq!(via(&trusting, "203.0.113.1").await, 201);
        assert_eq!(via(&plain, "203.0.113.1").await, 201);
    }
    assert_eq!(via(&trusting, "203.0.113.1").await, 429);
    assert_eq!(
        via(&trusting, "198.51.100.7, 203.0.113.2").await,
        201,
        "another client behind the proxy"
    );
    assert_eq!(
        via(&plain, "203.0.113.2").await,
        429,
        "an untrusted peer's header changes nothing"
    );
}

#[tokio::test]
async fn metrics_can_require_a_token() {
    let app =
        spawn_app_with(TestConfig::anonymous().env("SWITCHBOARD_METRICS__TOKEN", "s3cret")).await;
    let client = reqwest::Client::new();
    let url = format!("{}/metrics", app.address);
    let (status, body) = problem(client.get(&url).send().await.expect("get")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("metrics_token_required"))
    );
    let (status, body) = problem(
        client
            .get(&url)
            .bearer_auth("nope")
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("metrics_token_invalid"))
    );
    let response = client
        .get(&url)
        .bearer_auth("s3cret")
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("text");
    assert!(text.contains("switchboard_http_connections "), "{text}");
    // Without the setting, as before: open.
    let open = demo().await;
    let response = reqwest::get(format!("{}/metrics", open.address))
        .await
        .expect("get");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn webhook_urls_spelling_an_internal_ipv4_address_in_ipv6_are_refused() {
    let app = crate::helpers::teams::spawn().await;
    let api = Api::new(&app, TENANT_ID).await;
    let (_, tag, settings) = api.get("/settings").await;
    for url in [
        "https://[::127.0.0.1]/hook",
        "https://[64:ff9b::7f00:1]/hook",
        "https://[64:ff9b::a9fe:a9fe]/latest",
        "https://[2002:7f00:1::1]/hook",
        "https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook",
    ] {
        let mut changed = settings.clone();
        changed["webhooks"] =
            json!([{"id": "crm", "url": url, "secret": "0123456789abcdef0123456789abcdef"}]);
        let (status, _, body) = api.put("/settings", &changed, tag.as_deref()).await;
        assert_eq!(status, 422, "{url}: {body}");
        assert_eq!(body["problems"][0]["code"], "webhook_url_private", "{url}");
    }
}

/// What the CRM stub received.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    query: Vec<(String, String)>,
    header: Option<String>,
    body: String,
}

#[tokio::test]
async fn customer_input_in_a_workflow_http_request_stays_data() {
    use axum::extract::State;
    use switchboard::directory::Tenant;
    use switchboard::directory::model::Service;
    use switchboard::directory::store::{self as docs, Kind};

    let got: Arc<Mutex<Vec<Received>>> = Arc::default();
    let crm = axum::Router::new()
        .fallback(
            |State(got): State<Arc<Mutex<Vec<Received>>>>,
             uri: axum::http::Uri,
             headers: axum::http::HeaderMap,
             body: String| async move {
                let query = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
                    .into_owned()
                    .collect();
                got.lock().expect("lock").push(Received {
                    path: uri.path().to_owned(),
                    query,
                    header: headers
                        .get("x-customer")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned),
                    body,
                });
                axum::Json(json!({"ok": true}))
            },
        )
        .with_state(Arc::clone(&got));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let crm_addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, crm).await.expect("serve") });

    let app = crate::helpers::teams::spawn().await;
    let tenant = Tenant {
        id: "t-crm".into(),
        name: "T".into(),
        im_enabled: true,
        http_allowed_networks: vec!["127.0.0.0/8".into()],
    };
    docs::put(
        &app.state.pool,
        "t-crm",
        Kind::Tenant,
        "t-crm",
        &tenant,
        None,
        0,
    )
    .await
    .expect("tenant");
    let workflow = json!({"id": "crm-im", "name": "Lookup", "start": "a", "activities": {
        "a": {"type": "Accept", "next": "h"},
        "h": {"type": "SendHttpRequest", "method": "POST",
              "url": format!("http://{crm_addr}/crm/${{customer.displayName}}?email=${{customer.email}}&tier=basic"),
              "headers": {"x-customer": "${customer.displayName} <${customer.email}>", "content-type": "application/json"},
              "body": "{\"name\": \"${customer.displayName}\", \"email\": \"${customer.email}\"}",
              "exits": {"success": "ok", "failure": "ok"}},
        "ok": {"type": "Disconnect", "text": "thanks"}
    }});
    let service: Service = serde_json::from_value(json!({
        "id": "crm", "name": "CRM", "workflow": "crm-im",
        "licenses": {"contactCenter": true}, "modalities": {"instantMessage": true},
        "interact": {"enabled": true, "instantMessage": true, "restrictAccess": false,
                     "domainTemplates": [], "contactId": "crm-web", "widgetKey": "k-crm"}
    }))
    .expect("service");
    crate::helpers::put_service(&app, "t-crm", &workflow, &service).await;

    let name = "Ada\", \"role\": \"admin\", \"x\": \"/../../admin/delete?x=";
    let email = "x&tier=gold&role=admin#@example.com";
    crate::helpers::teams::start_chat_on(&app, "crm-web", "k-crm", name, email, None).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let received = loop {
        if let Some(r) = got.lock().expect("lock").first().cloned() {
            break r;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the CRM was never called"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let segments: Vec<String> = received
        .path
        .trim_start_matches('/')
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        segments,
        vec!["crm".to_owned(), name.to_owned()],
        "{received:?}"
    );
    assert_eq!(
        received.query,
        vec![
            ("email".to_owned(), email.to_owned()),
            ("tier".to_owned(), "basic".to_owned())
        ]
    );
    assert_eq!(
        received.header.as_deref(),
        Some(format!("{name} <{email}>").as_str())
    );
    let body: Value = serde_json::from_str(&received.body).expect("a JSON body");
    assert_eq!(body, json!({"name": name, "email": email}));
}

#[tokio::test]
async fn the_cli_makes_keys_only_for_tenants_the_store_knows_unless_asked_to_create_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str]| crate::helpers::switchboard(dir.path(), args);
    let refused = run(&["admin", "create-key", "--tenant", "no-such-tenant"]);
    assert!(!refused.status.success());
    assert!(refused.stdout.is_empty(), "no key was printed");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("no tenant no-such-tenant") && said.contains("--new-tenant"),
        "{said}"
    );
    let listed = run(&["admin", "list-keys"]);
    assert!(listed.stdout.is_empty(), "no key was stored");
    let created = run(&[
        "admin",
        "create-key",
        "--tenant",
        "new-tenant",
        "--new-tenant",
    ]);
    assert!(created.status.success(), "{created:?}");
    let again = run(&["admin", "create-key", "--tenant", "new-tenant"]);
    assert!(again.status.success(), "the tenant is known now: {again:?}");
}

/// Found by `cargo fuzz`: URL parsers skip extra slashes and backslashes after `https:` and
/// drop tabs and line breaks, so each of these URLs puts a customer's value in the host.
#[tokio::test]
async fn workflow_urls_that_let_a_placeholder_name_the_host_are_refused_in_every_spelling() {
    let app = crate::helpers::teams::spawn().await;
    let api = Api::new(&app, TENANT_ID).await;
    let lookup = |url: &str| {
        json!({"id": "crm-im", "name": "Lookup", "start": "a", "activities": {
            "a": {"type": "Accept", "next": "h"},
            "h": {"type": "SendHttpRequest", "method": "GET", "url": url,
                  "exits": {"success": "ok", "failure": "ok"}},
            "ok": {"type": "Disconnect", "text": "thanks"}
        }})
    };
    let codes = |body: &Value| -> Vec<String> {
        body["problems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["code"].as_str().map(str::to_owned))
            .collect()
    };
    for url in [
        "https://${customer.displayName}/x",
        "https:///${customer.displayName}/x",
        "https:\\\\${customer.displayName}/x",
        "https:/\\${customer.displayName}/x",
        "https:/\t/${customer.displayName}/x",
        "https://crm.example\n${customer.displayName}/x",
    ] {
        let (status, _, body) = api.post("/workflows/validate", &lookup(url)).await;
        assert_eq!(status, 200, "{url:?}: {body}");
        assert!(
            codes(&body).iter().any(|c| c == "placeholder_in_host"),
            "{url:?}: {body}"
        );
    }
    // A placeholder after the host, past a backslash, is in the path: allowed.
    let (_, _, body) = api
        .post(
            "/workflows/validate",
            &lookup("https://crm.example\\c\\${customer.displayName}"),
        )
        .await;
    assert!(
        !codes(&body).iter().any(|c| c == "placeholder_in_host"),
        "{body}"
    );
}
