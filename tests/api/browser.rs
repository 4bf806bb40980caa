//! A real browser: Debian's Chromium, driven by playwright-core, opens the preview page, fills
//! the widget's form, sees the greeting and the queue position, and sends a message. The
//! screenshot is kept in `target/browser-artifacts/`. Without Chromium or the driver the test
//! says that it did not run; with `SWITCHBOARD_BROWSER_TEST=required` (CI) it fails instead.

use std::path::Path;
use std::process::Command;

use serde_json::json;
use switchboard::directory::model::Service;

use crate::helpers::spawn_app;

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

#[tokio::test]
async fn a_customer_chats_through_the_widget_in_a_real_browser() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if let Some(reason) = missing_prerequisite(root) {
        assert!(
            std::env::var("SWITCHBOARD_BROWSER_TEST").as_deref() != Ok("required"),
            "the browser test must run here: {reason}"
        );
        eprintln!("browser test did not run: {reason}");
        return;
    }
    let app = spawn_app().await;
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
        "id": "web", "name": "Web", "workflow": "quick",
        "licenses": {"contactCenter": true}, "modalities": {"instantMessage": true},
        "interact": {"enabled": true, "instantMessage": true, "contactId": "web", "widgetKey": "k"}
    }))
    .expect("service");
    crate::helpers::put_service(&app, "t", &workflow, &service).await;

    let artifacts = root.join("target/browser-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let screenshot = artifacts.join("widget-chat.png");
    let output = tokio::process::Command::new("node")
        .arg(root.join("tests/browser/flow.js"))
        .arg(format!("{}/interact/preview/web", app.address))
        .arg(&screenshot)
        .output()
        .await
        .expect("node");
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(screenshot.exists());
}
