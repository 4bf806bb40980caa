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
        "interact": {"enabled": true, "instantMessage": true, "contactId": "web", "widgetKey": "k"}
    }))
    .expect("service");
    crate::helpers::put_service(&app, TENANT_ID, &workflow, &service).await;
    crate::helpers::teams::seed_agent(&app, ANNE).await;

    let artifacts = root.join("target/browser-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let screenshot = artifacts.join("widget-chat.png");
    let browser = tokio::process::Command::new("node")
        .arg(root.join("tests/browser/flow.js"))
        .arg(format!("{}/interact/preview/web", app.address))
        .arg(&screenshot)
        .kill_on_drop(true)
        .output();
    // Meanwhile an agent in Teams: once the customer has written, Anne installs the bot, is
    // offered the chat, accepts it and answers.
    let agent = async {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let written: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM interact_events WHERE event LIKE '%Still there?%'",
            )
            .fetch_one(&app.state.pool)
            .await
            .expect("events");
            if written > 0 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the customer never wrote"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let teams = Teams { app: &app };
        teams.install(ANNE).await;
        let id = crate::helpers::teams::invitation_for(&app, ANNE, 1).await;
        teams.answer(ANNE, "im.invitation.accept", &id).await;
        let (_, chat, _, _) =
            wait_post(&app, "chat started", |(_, _, h, _)| h == "Chat started").await;
        wait_post(&app, "the customer's message", |(_, c, h, _)| {
            c == &chat && h.ends_with("Still there?")
        })
        .await;
        teams.say(ANNE, &chat, "Yes, I am here to help.").await;
        posts(&app).len()
    };
    let (output, _) = tokio::join!(browser, agent);
    let output = output.expect("node");
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(screenshot.exists());
}
