//! Issue 30 (hardening II), findings 3, 7 and 8: uploads. A body is refused on its head before
//! a byte of it is read (unknown session, wrong token, rate limit, announced size) and read
//! within its cap after; every route's 413 is problem+json and the admin import's limit is a
//! setting. A file is downloaded under a name of its checked type, WhatsApp media is held to
//! `interact.file_types`, and names with invisible characters are refused. A chat and a tenant
//! have a storage budget, and uploads a lower rate.

use std::time::Duration;

use serde_json::{Value, json};
use switchboard::directory::model::Service;
use switchboard::store::AsPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::admin::Api;
use crate::helpers::teams::{self, ANNE, Customer};
use crate::helpers::{TestApp, problem};
use crate::mock_bf::TENANT_ID;
use crate::mock_whatsapp::{ACCOUNT, APP_SECRET, MockCloud, NUMBER, TOKEN, VERIFY_TOKEN};

const ORIGIN: &str = "https://shop.example.com";

fn png(len: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.resize(len, 7);
    bytes
}

/// A Teams-backed app with the service of `teams::seed` (Anne a member), uploads configured
/// by `env`.
async fn spawn(env: &[(&str, &str)]) -> TestApp {
    let mut config = teams::config();
    for (k, v) in env {
        config = config.env(k, v);
    }
    let app = teams::spawn_with(config).await;
    teams::seed(&app, "direct", 30, &[ANNE]).await;
    app
}

async fn upload(
    app: &TestApp,
    customer: &Customer,
    name: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!(
            "{}/api/interact/v1/sessions/{}/files",
            app.address, customer.session
        ))
        .query(&[("name", name)])
        .header("origin", ORIGIN)
        .header("content-type", content_type)
        .bearer_auth(&customer.token)
        .body(bytes)
        .send()
        .await
        .expect("upload");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn port(app: &TestApp) -> u16 {
    app.address
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port")
}

/// Sends `head` (a request head, no body) on a fresh connection and reads the answer; the
/// answer must come within 5 s although the announced body never does. Its status and body.
async fn head_only(app: &TestApp, head: &str) -> (u16, Value) {
    let mut stream = TcpStream::connect(("127.0.0.1", port(app)))
        .await
        .expect("connect");
    stream.write_all(head.as_bytes()).await.expect("write head");
    read_answer(&mut stream).await
}

/// Reads one HTTP/1.1 answer with a `Content-Length` body: its status and JSON body.
async fn read_answer(stream: &mut TcpStream) -> (u16, Value) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let answer = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&seen[..end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if seen.len() >= end + 4 + length {
                    return (head, seen[end + 4..end + 4 + length].to_vec());
                }
            }
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => panic!(
                    "closed before an answer: {:?}",
                    String::from_utf8_lossy(&seen)
                ),
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .expect("an answer without the body being sent");
    let (head, body) = answer;
    assert!(
        head.contains("content-type: application/problem+json"),
        "{head}"
    );
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, serde_json::from_slice(&body).expect("problem body"))
}

fn upload_head(session: &str, token: &str, length: u64) -> String {
    format!(
        "POST /api/interact/v1/sessions/{session}/files?name=big.png HTTP/1.1\r\nHost: x\r\n\
         Origin: {ORIGIN}\r\nAuthorization: Bearer {token}\r\nContent-Type: image/png\r\n\
         Content-Length: {length}\r\n\r\n"
    )
}

// --- Finding 3: nothing is read before the request deserves it ---------------------------

#[tokio::test]
async fn an_upload_announcing_more_than_the_limit_gets_413_before_its_body_is_sent() {
    let app = spawn(&[("SWITCHBOARD_INTERACT__UPLOAD_MAX_BYTES", "4096")]).await;
    let ada = teams::start_chat(&app, "Ada", None).await;
    // 95 MiB and 2 GB announced, not a byte of either sent.
    for length in [95 * 1024 * 1024, 2_000_000_000] {
        let (status, problem) =
            head_only(&app, &upload_head(&ada.session, &ada.token, length)).await;
        assert_eq!(status, 413, "{length}: {problem}");
        let code = problem["code"].as_str().unwrap_or_default();
        assert!(
            code == "file_too_large" || code == "body_too_large",
            "{length}: {problem}"
        );
    }
    // A body sent in chunks, without a length, is cut off once past the limit.
    let mut stream = TcpStream::connect(("127.0.0.1", port(&app)))
        .await
        .expect("connect");
    let head = format!(
        "POST /api/interact/v1/sessions/{}/files?name=big.png HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {}\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\n\r\n",
        ada.session, ada.token
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    let chunk = png(5000);
    stream
        .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
        .await
        .expect("chunk size");
    stream.write_all(&chunk).await.expect("chunk");
    stream.write_all(b"\r\n").await.expect("chunk end");
    let (status, problem) = read_answer(&mut stream).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (413, Some("file_too_large"))
    );
    // Nothing was stored.
    let stored = app.count("SELECT COUNT(*) FROM interact_files").await;
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn an_upload_with_a_wrong_token_or_to_no_session_is_refused_without_its_body() {
    let app = spawn(&[]).await;
    let ada = teams::start_chat(&app, "Ada", None).await;
    let nine_mib = 9 * 1024 * 1024;
    // Within the size limit, so only who is asking can refuse it, and the body never comes.
    let (status, problem) = head_only(&app, &upload_head(&ada.session, "wrong", nine_mib)).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (404, Some("unknown_session"))
    );
    let nobody = uuid::Uuid::new_v4().to_string();
    let (status, problem) = head_only(&app, &upload_head(&nobody, &ada.token, nine_mib)).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (404, Some("unknown_session"))
    );
    let no_token = format!(
        "POST /api/interact/v1/sessions/{}/files?name=a.png HTTP/1.1\r\nHost: x\r\n\
         Content-Type: image/png\r\nContent-Length: {nine_mib}\r\n\r\n",
        ada.session
    );
    let (status, problem) = head_only(&app, &no_token).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (401, Some("missing_token"))
    );
    // The right token still works.
    let (status, sent) = upload(&app, &ada, "ok.png", "image/png", png(100)).await;
    assert_eq!(status, 201, "{sent}");
}

#[tokio::test]
async fn an_upload_over_the_rate_limit_is_refused_without_its_body() {
    let app = spawn(&[("SWITCHBOARD_INTERACT__UPLOADS_PER_MINUTE", "2")]).await;
    let ada = teams::start_chat(&app, "Ada", None).await;
    for i in 0..2 {
        let (status, sent) = upload(&app, &ada, &format!("{i}.png"), "image/png", png(100)).await;
        assert_eq!(status, 201, "{sent}");
    }
    let (status, problem) = head_only(&app, &upload_head(&ada.session, &ada.token, 1000)).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (429, Some("rate_limited"))
    );
}

#[tokio::test]
async fn every_route_refuses_an_announced_body_over_its_limit_with_problem_json() {
    let app = spawn(&[]).await;
    // A JSON route of the customer API (64 KiB) and any route (100 MiB), bodies never sent.
    let create = |length: u64| {
        format!(
            "POST /api/interact/v1/contacts/{}/sessions HTTP/1.1\r\nHost: x\r\n\
             Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n",
            teams::CONTACT
        )
    };
    for length in [1024 * 1024, 2_000_000_000] {
        let (status, problem) = head_only(&app, &create(length)).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (413, Some("body_too_large")),
            "{length}"
        );
    }
    let (status, problem) = head_only(
        &app,
        "POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: 2000000000\r\n\r\n",
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (413, Some("body_too_large"))
    );
}

#[tokio::test]
async fn the_admin_import_takes_bodies_up_to_its_setting_and_refuses_larger_with_problem_json() {
    let app = spawn(&[("SWITCHBOARD_SERVER__IMPORT_MAX_BYTES", "65536")]).await;
    let api = Api::new(&app, TENANT_ID).await;
    let import = |body: Vec<u8>| {
        api.http
            .post(api.url("/import"))
            .bearer_auth(&api.key)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    // Over the setting: problem+json 413, not axum's plain text.
    let (status, body) = problem(import(vec![b' '; 70_000]).await.expect("import")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("body_too_large"))
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("65536"),
        "{body}"
    );
    // Announced larger: refused before the body comes.
    let head = format!(
        "POST /api/admin/v1/tenants/{TENANT_ID}/import HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Content-Length: 50000000\r\n\r\n",
        api.key
    );
    let (status, body) = head_only(&app, &head).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("body_too_large"))
    );
    // Within it, the file is read (and judged on what it says).
    let response = import(b"{}".to_vec()).await.expect("import");
    assert_ne!(response.status(), 413);

    // The setting may be larger than axum's default of 2 MiB.
    let app = spawn(&[("SWITCHBOARD_SERVER__IMPORT_MAX_BYTES", "4194304")]).await;
    let api = Api::new(&app, TENANT_ID).await;
    let mut padded = b"{}".to_vec();
    padded.resize(3 * 1024 * 1024, b' ');
    let response = api
        .http
        .post(api.url("/import"))
        .bearer_auth(&api.key)
        .header("content-type", "application/json")
        .body(padded)
        .send()
        .await
        .expect("import");
    assert_ne!(response.status(), 413);
}

// --- Finding 7: what a download is, and what it is called ------------------------------

#[tokio::test]
async fn a_file_is_downloaded_under_a_name_ending_in_its_checked_type() {
    let app = spawn(&[]).await;
    let ada = teams::start_chat(&app, "Ada", None).await;
    for (name, kind, bytes, stored) in [
        (
            "invoice.html",
            "text/plain",
            b"<script>alert(1)</script>".to_vec(),
            "invoice.html.txt",
        ),
        (
            "Invoice.hta",
            "text/plain",
            b"x".to_vec(),
            "Invoice.hta.txt",
        ),
        (
            "report.pdf.exe",
            "application/pdf",
            b"%PDF-1.7\n".to_vec(),
            "report.pdf.exe.pdf",
        ),
        ("setup.exe", "image/png", png(50), "setup.exe.png"),
        ("photo.PNG", "image/png", png(50), "photo.PNG"),
    ] {
        let (status, sent) = upload(&app, &ada, name, kind, bytes).await;
        assert_eq!(status, 201, "{name}: {sent}");
        assert_eq!(sent["name"], stored, "{name}");
        let link = format!(
            "{}/api/interact/v1/files/{}",
            app.address,
            sent["id"].as_str().expect("id")
        );
        let file = reqwest::get(&link).await.expect("download");
        assert_eq!(file.status(), 200);
        let disposition = file.headers()["content-disposition"]
            .to_str()
            .expect("disposition")
            .to_owned();
        assert!(
            disposition.ends_with(&format!("filename=\"{stored}\"")),
            "{name}: {disposition}"
        );
        assert_eq!(file.headers()["content-type"], kind);
        // The agent reads the same name in the chat.
        let said = ada
            .wait_event(&app, "the file message", |e| {
                e["clientMessageId"] == format!("file:{}", sent["id"].as_str().unwrap_or(""))
            })
            .await;
        assert!(
            said["text"].as_str().unwrap_or_default().contains(stored),
            "{said}"
        );
    }
}

#[tokio::test]
async fn a_file_name_with_invisible_or_bidi_characters_is_refused() {
    let app = spawn(&[]).await;
    let ada = teams::start_chat(&app, "Ada", None).await;
    for name in [
        "invoice\u{2066}exe.pdf",
        "invoice\u{2067}fdp.exe",
        "invoice\u{2068}.pdf",
        "inv\u{200b}oice.pdf",
        "invoice\u{202e}fdp.exe",
        "\u{feff}invoice.pdf",
    ] {
        let (status, problem) =
            upload(&app, &ada, name, "application/pdf", b"%PDF-1.7\n".to_vec()).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (400, Some("invalid_file_name")),
            "{name:?}"
        );
    }
    // Scripts that need a joiner keep it.
    let (status, sent) = upload(
        &app,
        &ada,
        "می\u{200c}خواهم.pdf",
        "application/pdf",
        b"%PDF-1.7\n".to_vec(),
    )
    .await;
    assert_eq!(status, 201, "{sent}");
}

async fn whatsapp_app(env: &[(&str, &str)]) -> (TestApp, std::sync::Arc<MockCloud>) {
    let cloud = MockCloud::start().await;
    let mut config = teams::config()
        .env("SWITCHBOARD_WHATSAPP__APP_SECRET", APP_SECRET)
        .env("SWITCHBOARD_WHATSAPP__VERIFY_TOKEN", VERIFY_TOKEN)
        .env(
            "SWITCHBOARD_WHATSAPP__GRAPH_BASE_URL",
            &cloud.graph_base_url(),
        );
    for (k, v) in env {
        config = config.env(k, v);
    }
    let app = teams::spawn_with(config).await;
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

/// Posts a document message from a customer (each with a file name of its own); waits until
/// its media is fetched or refused, and returns its link's key and state.
async fn whatsapp_document(
    app: &TestApp,
    cloud: &MockCloud,
    wamid: &str,
    document: Value,
) -> (String, String) {
    let message = json!({"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": NUMBER},
        "contacts": [{"profile": {"name": "Sheena"}, "wa_id": "16505551234"}],
        "messages": [{"from": "16505551234", "id": wamid, "timestamp": "1739321024",
                      "type": "document", "document": document}]});
    assert_eq!(cloud.post_webhook(message).await, 200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let row = app
            .text_pairs(
                "SELECT id, state FROM whatsapp_media WHERE filename = $1 AND state <> 'pending'",
                &[document["filename"].as_str().expect("file name")],
            )
            .await
            .into_iter()
            .next();
        if let Some(row) = row {
            return row;
        }
        assert!(tokio::time::Instant::now() < deadline, "never fetched");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn whatsapp_media_is_held_to_the_file_types_and_named_by_its_checked_type() {
    let (app, cloud) = whatsapp_app(&[]).await;
    // An HTML page sent as a document named like a PDF: not kept, never served as HTML.
    let (key, state) = whatsapp_document(
        &app,
        &cloud,
        "wamid.HTA",
        json!({"id": "M-HTML", "mime_type": "text/html", "filename": "Invoice.pdf.hta"}),
    )
    .await;
    assert_eq!(state, "failed");
    let link = format!("{}/api/whatsapp/media/{key}", app.address);
    let (status, problem) = problem(reqwest::get(&link).await.expect("get")).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (410, Some("media_unavailable"))
    );
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("text/html"),
        "{problem}"
    );
    // Declared as a type the chats take, but Graph says otherwise: the same.
    let (_, state) = whatsapp_document(
        &app,
        &cloud,
        "wamid.HTA2",
        json!({"id": "M-HTML", "mime_type": "application/pdf", "filename": "Invoice.pdf"}),
    )
    .await;
    assert_eq!(state, "failed");
    // A JPEG named like a program: downloaded as a JPEG.
    let (key, state) = whatsapp_document(
        &app,
        &cloud,
        "wamid.EXE",
        json!({"id": "M-IMAGE", "mime_type": "image/jpeg", "filename": "setup.exe"}),
    )
    .await;
    assert_eq!(state, "stored");
    let file = reqwest::get(format!("{}/api/whatsapp/media/{key}", app.address))
        .await
        .expect("get");
    assert_eq!(file.status(), 200);
    assert_eq!(file.headers()["content-type"], "image/jpeg");
    assert_eq!(
        file.headers()["content-disposition"],
        "inline; filename=\"setup.exe.jpg\""
    );

    // A service that takes only PDFs takes no WhatsApp images either.
    let (app, cloud) =
        whatsapp_app(&[("SWITCHBOARD_INTERACT__FILE_TYPES", "application/pdf")]).await;
    let (_, state) = whatsapp_document(
        &app,
        &cloud,
        "wamid.JPG",
        json!({"id": "M-IMAGE", "mime_type": "image/jpeg", "filename": "photo.jpg"}),
    )
    .await;
    assert_eq!(state, "failed");
}

// --- Finding 8: storage budgets and the upload rate ------------------------------------

#[tokio::test]
async fn a_chat_that_used_its_file_budget_is_refused_with_upload_budget_exhausted() {
    let app = spawn(&[
        ("SWITCHBOARD_INTERACT__UPLOAD_MAX_BYTES", "4096"),
        ("SWITCHBOARD_INTERACT__UPLOAD_SESSION_MAX_BYTES", "5000"),
    ])
    .await;
    let ada = teams::start_chat(&app, "Ada", None).await;
    for i in 0..2 {
        let (status, sent) = upload(&app, &ada, &format!("{i}.png"), "image/png", png(2400)).await;
        assert_eq!(status, 201, "{sent}");
    }
    let (status, problem) = upload(&app, &ada, "2.png", "image/png", png(2400)).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (413, Some("upload_budget_exhausted")),
        "{problem}"
    );
    // What still fits is taken; another chat has its own budget.
    let (status, sent) = upload(&app, &ada, "small.png", "image/png", png(100)).await;
    assert_eq!(status, 201, "{sent}");
    let grace = teams::start_chat(&app, "Grace", None).await;
    let (status, sent) = upload(&app, &grace, "g.png", "image/png", png(2400)).await;
    assert_eq!(status, 201, "{sent}");
}

const OTHER_TENANT: &str = "22222222-2222-4222-8222-222222222222";

#[tokio::test]
async fn a_tenant_that_used_its_file_budget_is_refused_and_other_tenants_are_not() {
    let app = spawn(&[
        ("SWITCHBOARD_INTERACT__UPLOAD_MAX_BYTES", "4096"),
        ("SWITCHBOARD_INTERACT__UPLOAD_TENANT_MAX_BYTES", "6000"),
    ])
    .await;
    let workflow = teams::queue_workflow("im", "direct", 30);
    let service: Service = serde_json::from_value(json!({
        "id": "help", "name": "Help", "workflow": "im", "members": [],
        "licenses": {"contactCenter": true}, "modalities": {"instantMessage": true},
        "interact": {"enabled": true, "instantMessage": true, "contactId": "other-web", "widgetKey": "k-other"}
    }))
    .expect("service");
    crate::helpers::put_service(&app, OTHER_TENANT, &workflow, &service).await;

    let ada = teams::start_chat(&app, "Ada", None).await;
    let grace = teams::start_chat(&app, "Grace", None).await;
    for (customer, name) in [(&ada, "a.png"), (&grace, "g.png")] {
        let (status, sent) = upload(&app, customer, name, "image/png", png(2900)).await;
        assert_eq!(status, 201, "{sent}");
    }
    let linus = teams::start_chat(&app, "Linus", None).await;
    let (status, problem) = upload(&app, &linus, "l.png", "image/png", png(2900)).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (413, Some("upload_budget_exhausted")),
        "{problem}"
    );
    // The other tenant's customers are not held to this tenant's storage.
    let other = teams::start_chat_on(
        &app,
        "other-web",
        "k-other",
        "Olga",
        "olga@example.com",
        None,
    )
    .await;
    let (status, sent) = upload(&app, &other, "o.png", "image/png", png(2900)).await;
    assert_eq!(status, 201, "{sent}");
}

#[tokio::test]
async fn uploads_from_one_address_have_a_lower_rate_than_messages() {
    // The default: ten uploads a minute from one address, whatever the sessions.
    let app = spawn(&[]).await;
    let ada = teams::start_chat(&app, "Ada", None).await;
    let grace = teams::start_chat(&app, "Grace", None).await;
    let mut refused = None;
    for i in 0..12 {
        let customer = if i % 2 == 0 { &ada } else { &grace };
        let (status, body) =
            upload(&app, customer, &format!("{i}.png"), "image/png", png(100)).await;
        if status != 201 {
            refused = Some((i, status, body));
            break;
        }
    }
    let (at, status, problem) = refused.expect("an upload refused");
    assert_eq!(
        (at, status, problem["code"].as_str()),
        (10, 429, Some("rate_limited"))
    );
    // Messages are still taken from the address.
    ada.say(&app, "still here").await;
}

#[test]
fn the_new_limits_are_settings_with_their_defaults() {
    let settings =
        switchboard::config::Settings::load(None, &Default::default()).expect("defaults");
    assert_eq!(settings.server.import_max_bytes, 10 * 1024 * 1024);
    assert_eq!(settings.interact.upload_session_max_bytes, 50 * 1024 * 1024);
    assert_eq!(
        settings.interact.upload_tenant_max_bytes,
        2 * 1024 * 1024 * 1024
    );
    assert_eq!(settings.interact.uploads_per_minute, 10);
}

// --- Findings 3 and 7 at the WhatsApp edge ---------------------------------------------

/// A webhook head with a well-formed (wrong) signature and `extra` headers, no body.
fn webhook_head(extra: &str) -> String {
    format!(
        "POST /api/whatsapp/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         X-Hub-Signature-256: sha256={}\r\n{extra}\r\n",
        "0".repeat(64)
    )
}

#[tokio::test]
async fn a_whatsapp_webhook_announcing_more_than_its_limit_gets_413_before_its_body_is_sent() {
    let (app, _cloud) = whatsapp_app(&[]).await;
    // The webhook's limit (`whatsapp::MAX_WEBHOOK_BYTES`).
    let limit: usize = 1024 * 1024;
    // Over the webhook's own limit, and far over it: refused on the head, nothing sent after.
    for length in [limit as u64 + 1, 2_000_000_000] {
        let (status, problem) = head_only(
            &app,
            &webhook_head(&format!("Content-Length: {length}\r\n")),
        )
        .await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (413, Some("body_too_large")),
            "{length}"
        );
        assert!(
            problem["detail"]
                .as_str()
                .unwrap_or_default()
                .contains(&limit.to_string()),
            "{problem}"
        );
    }
    // Without a length: read up to the limit and refused as soon as it is passed.
    let mut stream = TcpStream::connect(("127.0.0.1", port(&app)))
        .await
        .expect("connect");
    let mut request = webhook_head("Transfer-Encoding: chunked\r\n").into_bytes();
    request.extend_from_slice(format!("{:x}\r\n", limit + 1).as_bytes());
    request.resize(request.len() + limit + 1, b' ');
    stream.write_all(&request).await.expect("write");
    let (status, problem) = read_answer(&mut stream).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (413, Some("body_too_large"))
    );
    // A webhook within the limit is still verified and taken; a wrong signature is not.
    let (status, problem) = head_only(&app, &webhook_head("Content-Length: 0\r\n")).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (401, Some("signature_invalid"))
    );
}

#[tokio::test]
async fn a_whatsapp_document_name_reaches_the_agent_without_invisible_or_bidi_characters() {
    let (app, cloud) = whatsapp_app(&[]).await;
    let teams = teams::Teams { app: &app };
    teams.install(ANNE).await;
    let hidden = ['\u{2066}', '\u{202e}', '\u{200b}'];
    let message = json!({"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": NUMBER},
        "contacts": [{"profile": {"name": "Sheena"}, "wa_id": "16505551234"}],
        "messages": [{"from": "16505551234", "id": "wamid.BIDI", "timestamp": "1739321024",
                      "type": "document", "document": {"id": "M-IMAGE", "mime_type": "image/jpeg",
                      "filename": "Rech\u{200b}nung\u{2066}\u{202e}fdp.exe\u{2069}.jpg"}}]});
    assert_eq!(cloud.post_webhook(message).await, 200);
    let invitation = teams::invitation_for(&app, ANNE, 1).await;
    teams
        .answer(ANNE, "im.invitation.accept", &invitation)
        .await;
    let (_, chat, _, _) =
        teams::wait_post(&app, "chat started", |(_, _, h, _)| h == "Chat started").await;
    let (_, _, said, _) = teams::wait_post(&app, "the document", |(m, c, h, _)| {
        m == "POST" && c == &chat && h.contains("The customer sent a document")
    })
    .await;
    assert!(
        said.contains("Rechnungfdp.exe.jpg"),
        "the name, made safe: {said:?}"
    );
    // Nowhere in what reached Teams (the invitation, the chat), nor in the stored name.
    for (_, _, _, body) in teams::posts(&app) {
        let body = body.to_string();
        assert!(!body.contains(hidden), "{body:?}");
    }
    let stored = switchboard::db!(app.state.pool.on(), |c| {
        sqlx::query_scalar::<_, Option<String>>("SELECT filename FROM whatsapp_media")
            .fetch_one(c)
            .await
    })
    .expect("media");
    assert_eq!(stored.as_deref(), Some("Rechnungfdp.exe.jpg"));
}
