//! Engine effects on their way to their consumers: handed over after the engine's commit (no
//! polling), Teams effects of different sessions in parallel and each session's in order,
//! nothing left pending that nobody consumes, and nothing lost or doubled over a restart.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};
use switchboard::engine::messages::Command;
use switchboard::store::AsPool;

use crate::engine::start;
use crate::helpers::teams::{
    ANNE, BOB, CONTACT, KEY, Teams, chat_texts, invitation_for, posts, seed, spawn, start_chat,
    start_chat_on, wait_post,
};
use crate::helpers::{TestApp, spawn_app};

/// Sets up `tenant`'s engine with the usual directory and `workflow` as `support-im`.
async fn engine_with(
    app: &TestApp,
    tenant: &str,
    workflow: Value,
) -> switchboard::engine::actor::Engine {
    let engine = app.state.engines.get(tenant).await.expect("engine");
    let mut commands = crate::engine::setup();
    commands[0] = Command::UpsertWorkflow { document: workflow };
    for command in commands {
        engine.send(command).await.expect("setup");
    }
    engine
}

async fn effect_states(app: &TestApp, tenant: &str, kind: &str) -> Vec<String> {
    app.texts(
        "SELECT state FROM engine_effects WHERE tenant_id = $1 AND kind = $2 ORDER BY id",
        &[tenant, kind],
    )
    .await
}

/// The texts of the service's messages to the customer of `session`, in order.
async fn service_texts(app: &TestApp, session: &str) -> Vec<String> {
    app.event_texts(session)
        .await
        .into_iter()
        .filter_map(|event| {
            let event: Value = serde_json::from_str(&event).ok()?;
            (event["from"] == "service").then(|| event["text"].as_str().map(str::to_owned))?
        })
        .collect()
}

#[tokio::test]
async fn a_workflow_collecting_information_leaves_no_effect_pending() {
    let app = spawn_app().await;
    let engine = engine_with(
        &app,
        "t-collect",
        json!({"id": "support-im", "name": "Collect", "start": "a", "activities": {
            "a": {"type": "Accept", "next": "c"},
            "c": {"type": "CollectInformation", "parameters": ["crmId", "tier"], "timeoutSeconds": 600,
                  "exits": {"collected": "yes", "timeout": "no"}},
            "yes": {"type": "Disconnect", "text": "collected"},
            "no": {"type": "Disconnect", "text": "timed out"}
        }}),
    )
    .await;
    engine.send(start("s1")).await.expect("start");
    // The webhook module delivers it; the queue records it as done, never pending.
    assert_eq!(
        effect_states(&app, "t-collect", "collectInformation").await,
        ["done"]
    );
}

/// A CRM on loopback that answers every lookup with the tier `gold`.
async fn crm() -> std::net::SocketAddr {
    let crm = axum::Router::new().route(
        "/customer",
        axum::routing::get(|| async { axum::Json(json!({"tier": "gold"})) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, crm).await.expect("serve") });
    addr
}

#[tokio::test]
async fn an_http_result_reaches_the_customer_without_waiting_for_a_poll() {
    use switchboard::directory::Tenant;
    use switchboard::directory::store::{self as docs, Kind};

    let crm = crm().await;
    let app = spawn_app().await;
    let tenant = Tenant {
        id: "t-push".into(),
        name: "T".into(),
        im_enabled: true,
        http_allowed_networks: vec!["127.0.0.0/8".into()],
    };
    docs::put(
        &app.state.pool,
        "t-push",
        Kind::Tenant,
        "t-push",
        &tenant,
        None,
        0,
    )
    .await
    .expect("tenant");
    let engine = engine_with(
        &app,
        "t-push",
        json!({"id": "support-im", "name": "Lookup", "start": "a", "activities": {
            "a": {"type": "Accept", "next": "h"},
            "h": {"type": "SendHttpRequest", "url": format!("http://{crm}/customer"), "saveTo": {"tier": "/tier"},
                  "exits": {"success": "ok", "failure": "ko"}},
            "ok": {"type": "Message", "text": "tier ${tier}", "next": "wait"},
            "ko": {"type": "Message", "text": "lookup failed", "next": "wait"},
            "wait": {"type": "Delay", "seconds": 3600, "next": "wait"}
        }}),
    )
    .await;
    // Each round goes engine → HTTP worker → engine → customer events. Nothing wakes the
    // workers but the engine's hand-over: with a poll (200 ms for requests, 250 ms for customer
    // events) ten rounds take about 2.25 s on average; handed over, a few ms each.
    const ROUNDS: usize = 10;
    let started = tokio::time::Instant::now();
    for i in 0..ROUNDS {
        let session = format!("s{i}");
        engine.send(start(&session)).await.expect("start");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while service_texts(&app, &session).await != ["tier gold"] {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no answer for {session}: {:?}",
                service_texts(&app, &session).await
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(1000),
        "{ROUNDS} request/answer rounds took {elapsed:?}"
    );
    let states = effect_states(&app, "t-push", "httpRequest").await;
    assert_eq!(states.len(), ROUNDS, "{states:?}");
    assert!(states.iter().all(|s| s == "done"), "{states:?}");
}

fn graph_creates(app: &TestApp) -> usize {
    app.mock
        .state
        .graph_calls
        .lock()
        .expect("lock")
        .iter()
        .filter(|c| c.method == "POST" && c.path == "/chats")
        .count()
}

async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "no {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Anne accepts Ada's chat while Graph is held: Ada's chatroom is being opened.
async fn chatroom_opening(app: &TestApp, teams: &Teams<'_>) -> crate::helpers::teams::Customer {
    teams.install(ANNE).await;
    teams.install(BOB).await;
    app.mock.state.graph_held.store(true, Ordering::SeqCst);
    let ada = start_chat(app, "Ada", Some("hello")).await;
    let invitation = invitation_for(app, ANNE, 1).await;
    teams
        .answer(ANNE, "im.invitation.accept", &invitation)
        .await;
    wait_until("group chat request", || graph_creates(app) == 1).await;
    ada
}

fn chat_started(app: &TestApp) -> Vec<String> {
    posts(app)
        .into_iter()
        .filter(|(m, _, h, _)| m == "POST" && h == "Chat started")
        .map(|(_, c, _, _)| c)
        .collect()
}

#[tokio::test]
async fn a_slow_chatroom_does_not_hold_up_another_sessions_invitation() {
    let app = spawn().await;
    seed(&app, "direct", 30, &[ANNE, BOB]).await;
    let teams = Teams { app: &app };
    let ada = chatroom_opening(&app, &teams).await;

    // Bea's chat is offered to Bob (Anne is busy) while Ada's chatroom still waits for Graph.
    start_chat_on(&app, CONTACT, KEY, "Bea", "bea@example.com", None).await;
    invitation_for(&app, BOB, 1).await;
    assert!(chat_started(&app).is_empty(), "Ada's chatroom is not open");

    // Graph answers: Ada's chatroom opens, with her first message after its card.
    app.mock.state.graph_held.store(false, Ordering::SeqCst);
    let (_, chat, _, _) = wait_post(&app, "chat started", |(_, _, h, _)| h == "Chat started").await;
    assert!(chat.starts_with("19:"), "a group chat: {chat}");
    ada.say(&app, "are you there?").await;
    wait_post(&app, "relay", |(_, c, h, _)| {
        c == &chat && h.ends_with("are you there?")
    })
    .await;
    assert_eq!(
        chat_texts(&app, &chat),
        ["**Ada**: hello", "**Ada**: are you there?"]
    );
}

#[tokio::test]
async fn effects_pending_at_a_stop_are_carried_out_once_after_the_restart() {
    let app = spawn().await;
    seed(&app, "direct", 30, &[ANNE, BOB]).await;
    let teams = Teams { app: &app };
    let ada = chatroom_opening(&app, &teams).await;
    // Behind the chatroom in Ada's lane: her message to the agent.
    ada.say(&app, "while the room opens").await;
    ada.wait_event(&app, "connected", |e| e["state"] == "connected")
        .await;

    // The stop does not wait for Graph; what was under way is left pending.
    let mock = app.mock.clone();
    let config = app.stop().await;
    mock.state.graph_held.store(false, Ordering::SeqCst);
    let app = crate::helpers::spawn_app_on(mock, config).await;

    let (_, chat, _, _) = wait_post(&app, "chat started", |(_, _, h, _)| h == "Chat started").await;
    assert!(chat.starts_with("19:"), "a group chat: {chat}");
    wait_post(&app, "relay", |(_, c, h, _)| {
        c == &chat && h.ends_with("while the room opens")
    })
    .await;
    // Settled: nothing pending, and nothing was carried out twice.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while pending(&app).await > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "effects left pending"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(chat_started(&app), vec![chat.clone()]);
    assert_eq!(
        chat_texts(&app, &chat),
        ["**Ada**: hello", "**Ada**: while the room opens"]
    );
    let connected = ada
        .events(&app)
        .await
        .into_iter()
        .filter(|e| e["state"] == "connected")
        .count();
    assert_eq!(connected, 1, "the customer is told once");
}

async fn pending(app: &TestApp) -> i64 {
    app.count("SELECT COUNT(*) FROM engine_effects WHERE state = 'pending'")
        .await
}

#[tokio::test]
async fn commands_sent_together_are_stored_together_and_each_caller_gets_its_own_effects() {
    let app = spawn_app().await;
    let engine = app.state.engines.get("t-batch").await.expect("engine");
    for command in crate::engine::setup() {
        engine.send(command).await.expect("setup");
    }
    let sessions: Vec<String> = (0..50).map(|i| format!("s{i}")).collect();
    let answers = futures::future::join_all(sessions.iter().map(|s| engine.send(start(s)))).await;
    for (session, answer) in sessions.iter().zip(answers) {
        let effects = answer.expect("stored");
        assert!(!effects.is_empty());
        for effect in effects {
            let json = serde_json::to_value(&effect).expect("json");
            assert_eq!(json["session"], json!(session), "{json}");
        }
    }
    // Every command is logged once, in order, and its effects carry its own log position.
    let log = switchboard::db!(app.state.pool.on(), |c| {
        sqlx::query_as::<_, (i64, String)>(
            "SELECT seq, command FROM engine_log WHERE tenant_id = 't-batch' ORDER BY seq",
        )
        .fetch_all(c)
        .await
    })
    .expect("log");
    let setup = crate::engine::setup().len();
    assert_eq!(log.len(), setup + sessions.len());
    assert!(
        log.iter()
            .enumerate()
            .all(|(i, (seq, _))| *seq == i as i64 + 1)
    );
    let effects = switchboard::db!(app.state.pool.on(), |c| {
        sqlx::query_as::<_, (i64, String)>(
            "SELECT seq, effect FROM engine_effects
             WHERE tenant_id = 't-batch' AND kind <> 'queuePosition'",
        )
        .fetch_all(c)
        .await
    })
    .expect("effects");
    for (seq, effect) in effects {
        let effect: Value = serde_json::from_str(&effect).expect("json");
        let command: Value = serde_json::from_str(&log[seq as usize - 1].1).expect("json");
        assert_eq!(
            command["session"], effect["session"],
            "{command} / {effect}"
        );
    }
}
