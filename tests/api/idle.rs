//! Idle is idle (issue 13, finding 1): with sessions queued, connected and ended at once on
//! the demo's workflow (a 30 s Delay that loops), moving the clock past the timers applies
//! each due timer once, and then the service writes nothing: no engine log rows, effects,
//! customer events or outbox rows. Before the fix, a session ended at once left its Delay
//! due forever and the engine logged a tick after tick.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use switchboard::clock::ManualClock;
use switchboard::directory::model::Service;

use crate::helpers::teams::{self, ANNE, CONTACT, Customer, KEY, Teams};
use crate::helpers::{TestApp, put_service};
use crate::mock_bf::TENANT_ID;

/// Rows written so far: engine log, engine effects, customer events, outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Written {
    log: i64,
    ticks: i64,
    effects: i64,
    events: i64,
    outbox: i64,
}

async fn written(app: &TestApp) -> Written {
    Written {
        log: app.count("SELECT COUNT(*) FROM engine_log").await,
        ticks: app
            .count(r#"SELECT COUNT(*) FROM engine_log WHERE command = '{"command":"tick"}'"#)
            .await,
        effects: app.count("SELECT COUNT(*) FROM engine_effects").await,
        events: app.count("SELECT COUNT(*) FROM interact_events").await,
        outbox: app.count("SELECT COUNT(*) FROM outbox").await,
    }
}

/// Waits (bounded) until nothing has been written for a while; returns what was written.
async fn settled(app: &TestApp) -> Written {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut last = written(app).await;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = written(app).await;
        if now == last || tokio::time::Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

/// Asks for a session's state (the engine answers, so its timer loop goes round once).
async fn look(app: &TestApp, customer: &Customer) {
    let response = reqwest::Client::new()
        .get(format!(
            "{}/api/interact/v1/sessions/{}",
            app.address, customer.session
        ))
        .bearer_auth(&customer.token)
        .send()
        .await
        .expect("state");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn once_due_timers_are_applied_an_idle_service_writes_nothing() {
    let clock = Arc::new(ManualClock::default());
    let app = teams::spawn_with(teams::config().clock(clock.clone())).await;
    let demo: Value =
        serde_json::from_str(include_str!("../../demo/tenant.json")).expect("demo tenant");
    let workflow = demo["workflows"][0].clone();
    let service: Service = serde_json::from_value(json!({
        "id": "support", "name": "Support", "workflow": workflow["id"], "members": [ANNE.aad],
        "licenses": {"contactCenter": true}, "modalities": {"instantMessage": true},
        "interact": {"enabled": true, "instantMessage": true, "contactId": CONTACT, "widgetKey": KEY}
    }))
    .expect("service");
    put_service(&app, TENANT_ID, &workflow, &service).await;
    teams::seed_agent(&app, ANNE).await;
    Teams { app: &app }.install(ANNE).await;

    // Connected: Anne takes the first chat.
    let connected = teams::start_chat(&app, "Connie", None).await;
    let invitation = teams::invitation_for(&app, ANNE, 1).await;
    Teams { app: &app }
        .answer(ANNE, "im.invitation.accept", &invitation)
        .await;
    connected
        .wait_event(&app, "connected", |e| e["state"] == "connected")
        .await;
    // Queued: Anne is busy.
    let queued = teams::start_chat(&app, "Quentin", None).await;
    queued
        .wait_event(&app, "queue place", |e| e["type"] == "queue")
        .await;
    // Ended at once, its Delay still ahead.
    let ended = teams::start_chat(&app, "Enid", None).await;
    ended.leave(&app).await;
    ended
        .wait_event(&app, "ended", |e| e["state"] == "ended")
        .await;
    let before = settled(&app).await;

    for (round, seconds) in [(1, 31), (2, 61)] {
        // Past the demo workflow's next Delay: the queued and the connected session's first
        // (30 s, both due at once), then the queued one's second (60 s).
        clock.advance(chrono::Duration::seconds(seconds));
        look(&app, &queued).await;
        let after = settled(&app).await;
        let expected_ticks = before.ticks + round;
        assert_eq!(
            (after.ticks, after.log - before.log),
            (expected_ticks, round),
            "round {round}: the due timers are applied by one tick, once, and nothing else is logged"
        );
        // Idle: a while later, and after the engine was asked something, nothing new.
        tokio::time::sleep(Duration::from_millis(500)).await;
        look(&app, &queued).await;
        look(&app, &connected).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            written(&app).await,
            after,
            "round {round}: idle writes nothing"
        );
    }
    // The timers did what the workflow says: the queued customer was told their place.
    let told: Vec<Value> = queued
        .events(&app)
        .await
        .into_iter()
        .filter(|e| {
            e["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("You are number 1 in the queue."))
        })
        .collect();
    assert_eq!(told.len(), 2, "once per Delay");
    assert!(
        !connected
            .events(&app)
            .await
            .iter()
            .any(|e| e["state"] == "ended"),
        "the connected chat goes on"
    );
}
