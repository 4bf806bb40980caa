//! A real browser: Debian's Chromium, driven by playwright-core, opens the preview page, fills
//! the widget's form, sees the greeting and the queue position, and sends a message. The
//! screenshot is kept in `target/browser-artifacts/`. Without Chromium or the driver the test
//! says that it did not run; with `SWITCHBOARD_BROWSER_TEST=required` (CI) it fails instead.

use std::path::Path;
use std::process::Command;

use serde_json::json;
use switchboard::directory::model::Service;

use crate::helpers::teams::{ANNE, Teams, posts, wait_post};
use crate::mock_bf::TENANT_ID;

fn missing_prerequisite(root: &Path) -> Option<String> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Some(format!("no Chromium at {chromium}"));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Some("no node".into());
    }
    if !root
        .join("tests/browser/node_modules/playwright-core")
        .exists()
    {
        return Some("playwright-core is not installed (cd tests/browser && npm ci)".into());
    }
    None
}

/// Whether the browser tests can run; when they cannot, says so (and fails where CI requires
/// them).
fn browser_available(root: &Path) -> bool {
    let Some(reason) = missing_prerequisite(root) else {
        return true;
    };
    assert!(
        std::env::var("SWITCHBOARD_BROWSER_TEST").as_deref() != Ok("required"),
        "the browser test must run here: {reason}"
    );
    eprintln!("browser test did not run: {reason}");
    false
}

/// One scenario browser at a time: each starts Chromium, and two at once on a loaded 2-core
/// machine starve each other past the scenarios' waits. (The widget flow test, whose Teams side
/// runs on a clock while its browser runs, does not wait for this.)
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs `tests/browser/SCRIPT PAGE_URL OUT_DIR` and asserts it passed, with its output.
async fn run_scenario(root: &Path, script: &str, url: &str, out: &Path) {
    let _one = ONE_BROWSER.lock().await;
    let output = tokio::process::Command::new("node")
        .arg(root.join("tests/browser").join(script))
        .arg(url)
        .arg(out)
        .kill_on_drop(true)
        .output()
        .await
        .expect("node");
    assert!(
        output.status.success(),
        "{script}\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn a_customer_chats_through_the_widget_in_a_real_browser() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if !browser_available(root) {
        return;
    }
    let app = crate::helpers::teams::spawn().await;
    let workflow = json!({"id": "quick", "name": "Quick", "start": "a", "activities": {
        "a": {"type": "Accept", "next": "hello"},
        "hello": {"type": "Message", "text": "Hello ${customer.displayName}.", "next": "queue"},
        "queue": {"type": "QueueTask", "exits": {"queued": "wait", "failed": "end"}},
        "wait": {"type": "Delay", "seconds": 1, "next": "check"},
        "check": {"type": "CheckTask", "exits": {"queued": "position", "ringing": "wait", "connected": "wait", "notQueued": "end"}},
        "position": {"type": "GetQueuePosition", "parameter": "p", "exits": {"queued": "say", "notQueued": "wait"}},
        "say": {"type": "Message", "text": "You are number ${p} in the queue.", "next": "slow"},
        "slow": {"type": "Delay", "seconds": 3600, "next": "check"},
        "end": {"type": "Disconnect"}
    }});
    let service: Service = serde_json::from_value(json!({
        "id": "web", "name": "Web", "workflow": "quick", "members": [ANNE.aad],
        "licenses": {"contactCenter": true}, "modalities": {"instantMessage": true},
        "distribution": {"acwSeconds": 0},
        "interact": {"enabled": true, "instantMessage": true, "contactId": "web", "widgetKey": "k"}
    }))
    .expect("service");
    crate::helpers::put_service(&app, TENANT_ID, &workflow, &service).await;
    // A chat nobody answers: this contact's workflow ends it at once, and the widget offers to
    // leave a message instead.
    let unanswered = json!({"id": "brief", "name": "Brief", "start": "a", "activities": {
        "a": {"type": "Accept", "next": "bye"},
        "bye": {"type": "Disconnect", "text": "Sorry, nobody has been able to answer yet."}
    }});
    let brief: Service = serde_json::from_value(json!({
        "id": "brief", "name": "Brief", "workflow": "brief", "members": [ANNE.aad],
        "licenses": {"contactCenter": true}, "modalities": {"instantMessage": true},
        "interact": {"enabled": true, "instantMessage": true, "contactId": "brief", "widgetKey": "k"}
    }))
    .expect("service");
    crate::helpers::put_service(&app, TENANT_ID, &unanswered, &brief).await;
    // Anne takes one chat at a time and is signed in with the bot, so the widget offers a chat
    // (with nobody there it offers to leave a message). She is busy with Bea's chat, so the
    // browser's customer waits in the queue and is told their place.
    crate::helpers::teams::store_user(
        &app,
        ANNE,
        json!({"licenses": {"im": true}, "activeIn": ["web", "brief"], "capacity": 1}),
    )
    .await;
    let teams = Teams { app: &app };
    teams.install(ANNE).await;
    // The engine knows she is signed in before the page asks.
    let mut staffed = false;
    for _ in 0..200 {
        let config: serde_json::Value = reqwest::get(format!(
            "{}/api/interact/v1/contacts/web/widget?key=k",
            app.address
        ))
        .await
        .expect("config")
        .json()
        .await
        .expect("json");
        if config["available"] == true {
            staffed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(staffed, "Anne signed in");
    crate::helpers::teams::start_chat_on(&app, "web", "k", "Bea", "bea@example.com", None).await;
    let first = crate::helpers::teams::invitation_for(&app, ANNE, 1).await;
    teams.answer(ANNE, "im.invitation.accept", &first).await;
    let (_, bea_chat, _, _) = wait_post(&app, "Bea's chat started", |(_, _, h, _)| {
        h == "Chat started"
    })
    .await;

    let artifacts = root.join("target/browser-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let screenshot = artifacts.join("widget-chat.png");
    let browser = tokio::process::Command::new("node")
        .arg(root.join("tests/browser/flow.js"))
        .arg(format!("{}/interact/preview/web", app.address))
        .arg(&screenshot)
        .kill_on_drop(true)
        .output();
    // Meanwhile an agent in Teams: once the customer has written, Anne ends Bea's chat, accepts
    // the one she is offered next and answers.
    let agent = async {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let written = app
                .count("SELECT COUNT(*) FROM interact_events WHERE event LIKE '%Still there?%'")
                .await;
            if written > 0 {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                // The browser's own failure says why.
                return None;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(teams.say(ANNE, &bea_chat, "end").await.status(), 200);
        let id = crate::helpers::teams::invitation_for(&app, ANNE, 2).await;
        teams.answer(ANNE, "im.invitation.accept", &id).await;
        let (_, chat, _, _) = wait_post(&app, "chat started", |(_, c, h, _)| {
            h == "Chat started" && c != &bea_chat
        })
        .await;
        wait_post(&app, "the customer's message", |(_, c, h, _)| {
            c == &chat && h.ends_with("Still there?")
        })
        .await;
        teams.say(ANNE, &chat, "Yes, I am here to help.").await;
        Some(posts(&app).len())
    };
    let (output, agent) = tokio::join!(browser, agent);
    let output = output.expect("node");
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(agent.is_some(), "the customer never wrote");
    assert!(screenshot.exists());

    // The widget on a hostile page of another origin, with nothing typed lost (429, aborted
    // sends, offline, reloads), and its states (wrong contact, languages, leave a message,
    // themes); each writes its screenshots next to the chat's. Anne is still signed in, so a
    // chat is offered; these customers wait in the queue.
    for (script, contact) in [
        ("hostile.js", "web"),
        ("lost.js", "web"),
        ("states.js", "web"),
        ("unanswered.js", "brief"),
    ] {
        let url = format!("{}/interact/preview/{contact}", app.address);
        run_scenario(root, script, &url, &artifacts).await;
    }
}

/// The widget a company embeds stays one small script (≤ 35 KB gzipped, as served) that never
/// turns text into HTML or code.
#[tokio::test]
async fn the_widget_is_one_small_script_that_builds_no_html_from_text() {
    use std::io::Write;
    let app = crate::helpers::spawn_app().await;
    let response = reqwest::get(format!("{}/interact/widget.js", app.address))
        .await
        .expect("widget");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/javascript")
    );
    let script = response.text().await.expect("script");
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gzip.write_all(script.as_bytes()).expect("gzip");
    let size = gzip.finish().expect("gzip").len();
    assert!(size <= 35 * 1024, "the widget is {size} bytes gzipped");
    for never in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "eval(",
        "new Function",
        "document.write",
    ] {
        assert!(!script.contains(never), "the widget uses {never}");
    }
}

/// The connected chat in a real browser with an agent in anonymous dev mode (the demo tenant):
/// typing, safe links, formatted messages with their edits and deletions, files sent to the
/// real upload endpoint, the unread badge, and after the
/// end the survey stored and the transcript; `tests/browser/agent.js` plays the Teams agent
/// (unauthenticated activities, as dev mode takes them, and the Connector on loopback).
#[tokio::test]
async fn a_connected_chat_shows_formatting_and_edits_sends_files_and_ends_with_a_survey_in_a_real_browser()
 {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if !browser_available(root) {
        return;
    }
    let app = crate::helpers::spawn_app_with(crate::helpers::TestConfig::anonymous()).await;
    let artifacts = root.join("target/browser-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let url = format!("{}/interact/preview/demo", app.address);
    run_scenario(root, "agentchat.js", &url, &artifacts).await;
    // What the customer left is stored: the survey and the file.
    let surveys = app
        .count("SELECT COUNT(*) FROM session_surveys WHERE rating = 4")
        .await;
    assert_eq!(surveys, 1, "the survey");
    let files = app.count("SELECT COUNT(*) FROM interact_files").await;
    assert!(files >= 1, "the file");
}

/// The "My Sessions" tab in a real browser: the real page and API, a stubbed Teams library
/// whose single sign-on returns a token minted with the mock Entra's key.
#[tokio::test]
async fn my_sessions_accepts_ends_and_wraps_up_in_a_real_browser() {
    use crate::helpers::teams::{self, ANNE, Teams};
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if !browser_available(root) {
        return;
    }
    let app = teams::spawn_with(crate::agent_side::tab_config()).await;
    teams::seed(&app, "direct", 60, &[ANNE]).await;
    Teams { app: &app }.install(ANNE).await;
    teams::start_chat(&app, "Ada", Some("Hi")).await;
    teams::invitation_for(&app, ANNE, 1).await;
    let token = crate::agent_side::tab_token(
        &app,
        ANNE.aad,
        crate::mock_bf::APP_ID,
        Some("access_as_user"),
    );
    let artifacts = root.join("target/browser-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let url = format!("{}/tabs/my-sessions#token={token}", app.address);
    run_scenario(root, "tab.js", &url, &artifacts).await;
}
