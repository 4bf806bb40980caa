//! Outbound: the client-credentials token cache, the Connector client's operations, retries
//! (429 + Retry-After, 412/502/503/504, 401 token refresh), per-conversation ordering, the
//! service-URL allow-list, and the outbox across Connector outages and restarts.

use std::time::Duration;

use serde_json::json;
use switchboard::botframework::activity::{Activity, ChannelAccount, ConversationParameters};
use switchboard::botframework::connector::ConnectorError;
use switchboard::botframework::service_url::ServiceUrl;
use switchboard::store::AsConn;

use crate::helpers::{TestConfig, spawn_app, spawn_app_on, spawn_app_with};
use crate::mock_bf::{self, APP_ID, MockBotFramework, Scripted, TENANT_ID};

const SETTLE: Duration = Duration::from_secs(10);

fn service_url(mock: &MockBotFramework) -> ServiceUrl {
    ServiceUrl::parse(&mock.service_url()).expect("service url")
}

#[tokio::test]
async fn a_queued_message_is_delivered_with_a_client_credentials_token() {
    let app = spawn_app().await;
    let id = app.queue_message("a:1personal", "hello agent").await;
    let entry = app.settled(id, SETTLE).await;
    assert_eq!(entry.state, "delivered");
    assert_eq!(entry.result_id.as_deref(), Some("act-1"));

    let calls = app.mock.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].method, "POST");
    assert_eq!(
        calls[0].path,
        "/amer/v3/conversations/a%3A1personal/activities"
    );
    assert_eq!(
        calls[0].authorization.as_deref(),
        Some("Bearer mock-access-token-1")
    );
    let body = calls[0].body.as_ref().expect("body");
    assert_eq!(body["type"], "message");
    assert_eq!(body["text"], "hello agent");

    let requests = app.mock.token_requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["grant_type"], "client_credentials");
    assert_eq!(requests[0]["client_id"], APP_ID);
    assert_eq!(
        requests[0]["scope"],
        "https://api.botframework.com/.default"
    );
}

#[tokio::test]
async fn the_token_is_cached_across_calls() {
    let app = spawn_app().await;
    for i in 0..3 {
        let id = app.queue_message("a:1personal", &format!("m{i}")).await;
        assert_eq!(app.settled(id, SETTLE).await.state, "delivered");
    }
    assert_eq!(app.mock.token_requests().len(), 1);
    assert_eq!(app.mock.calls().len(), 3);
}

#[tokio::test]
async fn a_token_within_five_minutes_of_expiry_is_not_reused() {
    let app = spawn_app().await;
    // A token valid for exactly five minutes is already inside the refresh margin.
    app.mock.set_token_lifetime(300);
    for i in 0..2 {
        let id = app.queue_message("a:1personal", &format!("m{i}")).await;
        assert_eq!(app.settled(id, SETTLE).await.state, "delivered");
    }
    assert_eq!(app.mock.token_requests().len(), 2);
    let auth: Vec<_> = app
        .mock
        .calls()
        .into_iter()
        .map(|c| c.authorization)
        .collect();
    assert_eq!(
        auth,
        vec![
            Some("Bearer mock-access-token-1".to_owned()),
            Some("Bearer mock-access-token-2".to_owned())
        ]
    );
}

#[tokio::test]
async fn a_revoked_token_is_replaced_once_and_the_call_retried() {
    let app = spawn_app().await;
    let first = app.queue_message("a:1personal", "one").await;
    assert_eq!(app.settled(first, SETTLE).await.state, "delivered");
    app.mock.revoke_tokens();
    let second = app.queue_message("a:1personal", "two").await;
    let entry = app.settled(second, SETTLE).await;
    assert_eq!(entry.state, "delivered");
    assert_eq!(app.mock.token_requests().len(), 2);
    let statuses: Vec<u16> = app.mock.calls().iter().map(|c| c.status).collect();
    assert_eq!(statuses, vec![201, 401, 201]);
}

#[tokio::test]
async fn a_429_with_retry_after_in_seconds_is_honoured() {
    let app = spawn_app().await;
    app.mock.script([Scripted::status(429).retry_after("1")]);
    let id = app.queue_message("a:1personal", "throttled").await;
    let entry = app.settled(id, SETTLE).await;
    assert_eq!(entry.state, "delivered");
    assert_eq!(entry.attempts, 2);
    let calls = app.mock.calls();
    assert_eq!(calls.len(), 2);
    let waited = calls[1].at - calls[0].at;
    assert!(
        waited >= Duration::from_millis(950),
        "retried after only {waited:?}"
    );
}

#[tokio::test]
async fn a_429_with_retry_after_as_an_http_date_is_honoured() {
    let app = spawn_app().await;
    let at = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(2));
    app.mock.script([Scripted::status(429).retry_after(&at)]);
    let id = app.queue_message("a:1personal", "throttled").await;
    assert_eq!(app.settled(id, SETTLE).await.state, "delivered");
    let calls = app.mock.calls();
    let waited = calls[1].at - calls[0].at;
    // An HTTP date has one-second resolution.
    assert!(
        waited >= Duration::from_millis(950),
        "retried after only {waited:?}"
    );
}

#[tokio::test]
async fn a_503_is_retried_and_then_delivered() {
    let app = spawn_app().await;
    app.mock
        .script([Scripted::status(503), Scripted::status(503)]);
    let id = app.queue_message("a:1personal", "eventually").await;
    let entry = app.settled(id, SETTLE).await;
    assert_eq!(entry.state, "delivered");
    assert_eq!(entry.attempts, 3);
    let statuses: Vec<u16> = app.mock.calls().iter().map(|c| c.status).collect();
    assert_eq!(statuses, vec![503, 503, 201]);
    assert_eq!(app.mock.delivered_texts(), vec!["eventually"]);
}

#[tokio::test]
async fn statuses_412_502_and_504_are_retried_but_500_and_400_are_not() {
    let app = spawn_app().await;
    app.mock.script([
        Scripted::status(412),
        Scripted::status(502),
        Scripted::status(504),
    ]);
    let retried = app.queue_message("a:1personal", "retried").await;
    assert_eq!(app.settled(retried, SETTLE).await.state, "delivered");

    app.mock.script([
        Scripted::status(400).body(json!({"error": {"code": "BadArgument", "message": "x"}}))
    ]);
    let rejected = app.queue_message("a:1personal", "rejected").await;
    let entry = app.settled(rejected, SETTLE).await;
    assert_eq!(entry.state, "failed");
    assert_eq!(entry.last_error.as_deref(), Some("http_400_BadArgument"));
    assert_eq!(entry.attempts, 1);

    // Teams' 500 ServiceError is often transient: retried, a bounded number of times.
    app.mock
        .script([Scripted::status(500), Scripted::status(500)]);
    let passing = app
        .queue_message("a:1personal", "server error, passing")
        .await;
    let entry = app.settled(passing, SETTLE).await;
    assert_eq!((entry.state.as_str(), entry.attempts), ("delivered", 3));
    app.mock.script([
        Scripted::status(500),
        Scripted::status(500),
        Scripted::status(500),
        Scripted::status(500),
        Scripted::status(500),
    ]);
    let failed = app.queue_message("a:1personal", "server error").await;
    let entry = app.settled(failed, SETTLE).await;
    assert_eq!((entry.state.as_str(), entry.attempts), ("failed", 5));
}

#[tokio::test]
async fn messages_to_one_conversation_keep_their_order_under_retries() {
    let app = spawn_app().await;
    app.mock.script([
        Scripted::status(503),
        Scripted::status(429).retry_after("0"),
        Scripted::status(502),
    ]);
    let mut ids = Vec::new();
    for i in 1..=6 {
        ids.push(app.queue_message("a:1personal", &format!("m{i}")).await);
    }
    for id in &ids {
        assert_eq!(app.settled(*id, SETTLE).await.state, "delivered");
    }
    assert_eq!(
        app.mock.delivered_texts(),
        vec!["m1", "m2", "m3", "m4", "m5", "m6"]
    );
    // Nothing was sent twice after it succeeded.
    let successes = app.mock.calls().iter().filter(|c| c.status < 300).count();
    assert_eq!(successes, 6);
}

#[tokio::test]
async fn a_slow_conversation_does_not_hold_up_another() {
    let app = spawn_app().await;
    app.mock.script([Scripted::status(429).retry_after("1")]);
    let slow = app.queue_message("a:slow", "slow").await;
    // The slow conversation's call meets the 429 first; then another conversation's call comes.
    let deadline = std::time::Instant::now() + SETTLE;
    while app.mock.calls().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the slow call never went out"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let fast = app.queue_message("a:fast", "fast").await;
    assert_eq!(app.settled(fast, SETTLE).await.state, "delivered");
    assert_eq!(app.outbox_entry(slow).await.state, "pending");
    assert_eq!(app.settled(slow, SETTLE).await.state, "delivered");
    assert_eq!(app.mock.delivered_texts(), vec!["fast", "slow"]);
}

#[tokio::test]
async fn a_service_url_off_the_allow_list_is_never_called() {
    let app = spawn_app().await;
    // The mock Connector reached as `localhost` is not on the test allow-list (127.0.0.1 only).
    let off_list = ServiceUrl::parse(&app.mock.service_url().replace("127.0.0.1", "localhost"))
        .expect("service url");
    let id = app.queue(&off_list, "a:1personal", "must not leave").await;
    let entry = app.settled(id, SETTLE).await;
    assert_eq!(entry.state, "failed");
    assert_eq!(entry.last_error.as_deref(), Some("service_url_not_allowed"));
    assert!(app.mock.calls().is_empty());
    assert!(
        app.mock.token_requests().is_empty(),
        "no token is even requested"
    );

    let direct = app
        .state
        .connector
        .send_to_conversation(&off_list, "a:1personal", &Activity::message("x"))
        .await;
    assert!(matches!(direct, Err(ConnectorError::NotAllowed(_))));
    assert!(app.mock.calls().is_empty());
}

#[tokio::test]
async fn a_blocked_bot_is_not_retried() {
    let app = spawn_app().await;
    app.mock.script([Scripted::status(403).body(json!({
        "errorCode": 209,
        "message": "{\"subCode\":\"MessageWritesBlocked\",\"details\":\"Thread is blocked from message writes.\"}"
    }))]);
    let id = app.queue_message("a:1personal", "blocked").await;
    let entry = app.settled(id, SETTLE).await;
    assert_eq!(entry.state, "failed");
    assert_eq!(entry.last_error.as_deref(), Some("message_writes_blocked"));
    assert_eq!(app.mock.calls().len(), 1);
}

#[tokio::test]
async fn a_message_queued_while_the_connector_is_down_is_delivered_once_it_is_back() {
    let app = spawn_app().await;
    app.mock.stop_connector().await;
    let id = app.queue_message("a:1personal", "patience").await;
    let parked = app
        .wait_for(id, SETTLE, |e| e.attempts >= 4 && e.last_error.is_some())
        .await;
    assert_eq!(parked.state, "pending");
    assert_eq!(parked.last_error.as_deref(), Some("transport"));
    app.mock.start_connector().await;
    let entry = app.settled(id, SETTLE).await;
    assert_eq!(entry.state, "delivered");
    assert_eq!(app.mock.delivered_texts(), vec!["patience"]);
}

#[tokio::test]
async fn a_message_queued_while_the_connector_is_down_survives_a_restart_and_is_delivered_once() {
    let mock = MockBotFramework::start().await;
    let app = spawn_app_on(mock.clone(), TestConfig::default()).await;
    mock.stop_connector().await;
    let first = app.queue_message("a:1personal", "before restart 1").await;
    let second = app.queue_message("a:1personal", "before restart 2").await;
    let parked = app
        .wait_for(first, SETTLE, |e| e.attempts >= 1 && e.last_error.is_some())
        .await;
    assert_eq!(
        (parked.state.as_str(), parked.last_error.as_deref()),
        ("pending", Some("transport"))
    );
    let config = app.stop().await;
    assert!(mock.calls().is_empty());

    mock.start_connector().await;
    let restarted = spawn_app_on(mock.clone(), config).await;
    assert_eq!(restarted.settled(first, SETTLE).await.state, "delivered");
    assert_eq!(restarted.settled(second, SETTLE).await.state, "delivered");
    assert_eq!(
        mock.delivered_texts(),
        vec!["before restart 1", "before restart 2"]
    );
}

#[tokio::test]
async fn anonymous_mode_calls_the_connector_without_a_token() {
    let app = spawn_app_with(TestConfig::anonymous()).await;
    let id = app.queue_message("a:1personal", "dev").await;
    assert_eq!(app.settled(id, SETTLE).await.state, "delivered");
    assert!(app.mock.token_requests().is_empty());
    assert_eq!(app.mock.calls()[0].authorization, None);
}

#[tokio::test]
async fn connector_operations_use_encoded_paths_and_parse_responses() {
    let app = spawn_app().await;
    let url = service_url(&app.mock);
    let connector = &app.state.connector;

    let params = ConversationParameters {
        is_group: Some(false),
        bot: Some(ChannelAccount {
            id: format!("28:{APP_ID}"),
            ..ChannelAccount::default()
        }),
        members: vec![ChannelAccount {
            id: "29:1a2b3c".into(),
            ..ChannelAccount::default()
        }],
        tenant_id: Some(TENANT_ID.into()),
        channel_data: Some(json!({"tenant": {"id": TENANT_ID}})),
        ..ConversationParameters::default()
    };
    let created = connector
        .create_conversation(&url, &params)
        .await
        .expect("create");
    assert_eq!(created.id, "a:conv-1");
    assert_eq!(created.activity_id.as_deref(), Some("act-1"));

    let thread = "19:abc@thread.v2";
    let sent = connector
        .send_to_conversation(&url, thread, &Activity::message("hi"))
        .await
        .expect("send");
    let activity_id = sent.id.expect("id");
    let replied = connector
        .reply_to_activity(&url, thread, &activity_id, &Activity::message("re"))
        .await
        .expect("reply");
    assert!(replied.id.is_some());
    let updated = connector
        .update_activity(&url, thread, &activity_id, &Activity::message("edited"))
        .await
        .expect("update");
    assert_eq!(updated.id.as_deref(), Some(activity_id.as_str()));
    connector
        .delete_activity(&url, thread, &activity_id)
        .await
        .expect("delete");
    let members = connector
        .get_conversation_members(&url, thread)
        .await
        .expect("members");
    assert_eq!(members[0].id, "29:user-1");

    let calls = app.mock.calls();
    let seen: Vec<(String, String)> = calls
        .iter()
        .map(|c| (c.method.clone(), c.path.clone()))
        .collect();
    let conv = "19%3Aabc%40thread.v2";
    assert_eq!(
        seen,
        vec![
            ("POST".into(), "/amer/v3/conversations".into()),
            (
                "POST".into(),
                format!("/amer/v3/conversations/{conv}/activities")
            ),
            (
                "POST".into(),
                format!("/amer/v3/conversations/{conv}/activities/{activity_id}")
            ),
            (
                "PUT".into(),
                format!("/amer/v3/conversations/{conv}/activities/{activity_id}")
            ),
            (
                "DELETE".into(),
                format!("/amer/v3/conversations/{conv}/activities/{activity_id}")
            ),
            (
                "GET".into(),
                format!("/amer/v3/conversations/{conv}/members")
            ),
        ]
    );
    let create_body = calls[0].body.as_ref().expect("body");
    assert_eq!(create_body["tenantId"], TENANT_ID);
    assert_eq!(create_body["channelData"]["tenant"]["id"], TENANT_ID);
    assert_eq!(
        calls[2].body.as_ref().expect("body")["replyToId"],
        activity_id.as_str()
    );
    assert_eq!(
        calls[3].body.as_ref().expect("body")["id"],
        activity_id.as_str()
    );
}

#[tokio::test]
async fn a_burst_to_one_conversation_is_spaced_to_the_rate_limit() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for i in 0..9 {
        ids.push(app.queue_message("a:1personal", &format!("b{i}")).await);
    }
    for id in &ids {
        assert_eq!(app.settled(*id, SETTLE).await.state, "delivered");
    }
    let at: Vec<_> = app.mock.calls().iter().map(|c| c.at).collect();
    assert_eq!(at.len(), 9);
    // 7 per second: the eighth comes at least a second after the first; 8 per 2 s: the ninth
    // at least two seconds after the first.
    assert!(
        at[7] - at[0] >= Duration::from_millis(950),
        "{:?}",
        at[7] - at[0]
    );
    assert!(
        at[8] - at[0] >= Duration::from_millis(1950),
        "{:?}",
        at[8] - at[0]
    );
}

/// Teams takes at most 50 requests a second from one app in one tenant, over all of its
/// conversations: a burst to 60 conversations of one tenant is spread over more than a second,
/// while another tenant's calls do not wait behind it.
#[tokio::test]
async fn calls_to_one_tenant_stay_within_fifty_a_second_and_another_tenant_does_not_wait() {
    let app = spawn_app().await;
    let service = app.mock.service_url();
    let mut rows = Vec::new();
    for (tenant, n) in [("t-busy", 60), ("t-calm", 5)] {
        for i in 0..n {
            rows.push(format!(
                "('msteams', 'a:{tenant}-{i}', '{service}', '{tenant}', 'personal', 'bot', 0)"
            ));
        }
    }
    app.execute(&format!(
        "INSERT INTO conversation_references
             (channel_id, conversation_id, service_url, tenant_id, conversation_type, bot_id, updated_at)
         VALUES {}",
        rows.join(", ")
    ))
    .await;
    let mut ids = Vec::new();
    for i in 0..60 {
        ids.push(app.queue_message(&format!("a:t-busy-{i}"), "burst").await);
    }
    let calm_queued = std::time::Instant::now();
    let mut calm = Vec::new();
    for i in 0..5 {
        calm.push(app.queue_message(&format!("a:t-calm-{i}"), "calm").await);
    }
    for id in ids.iter().chain(&calm) {
        assert_eq!(app.settled(*id, SETTLE).await.state, "delivered");
    }
    let calls = app.mock.calls();
    let busy: Vec<_> = calls
        .iter()
        .filter(|c| c.path.contains("t-busy"))
        .map(|c| c.at)
        .collect();
    assert_eq!(busy.len(), 60);
    // Any 51 consecutive calls of the busy tenant span at least a second.
    for window in busy.windows(51) {
        assert!(
            window[50] - window[0] >= Duration::from_millis(950),
            "51 calls in {:?}",
            window[50] - window[0]
        );
    }
    let calm_done = calls
        .iter()
        .filter(|c| c.path.contains("t-calm"))
        .map(|c| c.at)
        .max()
        .expect("calm calls");
    assert!(
        calm_done.saturating_duration_since(calm_queued) < Duration::from_millis(900),
        "the calm tenant waited {:?}",
        calm_done.saturating_duration_since(calm_queued)
    );
}

#[tokio::test]
async fn concurrent_calls_share_one_token_request() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(app.queue_message(&format!("a:conv-{i}"), "hi").await);
    }
    for id in &ids {
        assert_eq!(app.settled(*id, SETTLE).await.state, "delivered");
    }
    assert_eq!(app.mock.token_requests().len(), 1);
}

/// A call queued in a transaction is sent once it commits, and never if it rolls back; the
/// commit itself wakes the dispatcher (well before its idle re-read of the table, 5 s).
#[tokio::test]
async fn a_call_queued_in_a_rolled_back_transaction_is_never_sent() {
    let app = spawn_app().await;
    let url = service_url(&app.mock);
    let call = |text: &str| switchboard::botframework::connector::ConnectorCall::Send {
        conversation_id: "a:1personal".into(),
        activity: Activity::message(text),
    };
    let mut tx = switchboard::store::begin_write(&app.state.pool)
        .await
        .expect("begin");
    app.state
        .outbox
        .enqueue(&mut tx, &url, &call("rolled back"))
        .await
        .expect("enqueue");
    tx.rollback().await.expect("rollback");

    let mut tx = switchboard::store::begin_write(&app.state.pool)
        .await
        .expect("begin");
    let committed = app
        .state
        .outbox
        .enqueue(&mut tx, &url, &call("committed"))
        .await
        .expect("enqueue");
    tx.commit().await.expect("commit");

    let delivered = app
        .settled(committed, Duration::from_millis(1500))
        .await
        .state;
    assert_eq!(delivered, "delivered", "the commit woke the dispatcher");
    // Had the rolled-back call been stored, it would have gone first in this conversation.
    assert_eq!(app.mock.delivered_texts(), vec!["committed"]);
    assert_eq!(app.mock.calls().len(), 1);
}

#[tokio::test]
async fn conversations_are_delivered_in_parallel_but_each_one_in_sequence() {
    let app = spawn_app().await;
    app.mock.set_delay(Duration::from_millis(300));
    let mut ids = Vec::new();
    for conversation in ["a:one", "a:two", "a:three", "a:four"] {
        for n in 1..=2 {
            ids.push(
                app.queue_message(conversation, &format!("{conversation}/{n}"))
                    .await,
            );
        }
    }
    for id in &ids {
        assert_eq!(app.settled(*id, SETTLE).await.state, "delivered");
    }
    let calls = app.mock.calls();
    assert_eq!(calls.len(), 8);
    // Four lanes in parallel, two calls each: about two Connector round trips in all,
    // not eight.
    let span = calls.iter().map(|c| c.at).max().expect("calls")
        - calls.iter().map(|c| c.at).min().expect("calls");
    assert!(span < Duration::from_millis(1200), "took {span:?}");
    for conversation in ["a:one", "a:two", "a:three", "a:four"] {
        let texts: Vec<String> = app
            .mock
            .delivered_texts()
            .into_iter()
            .filter(|t| t.starts_with(&format!("{conversation}/")))
            .collect();
        assert_eq!(
            texts,
            vec![format!("{conversation}/1"), format!("{conversation}/2")]
        );
    }
}

#[tokio::test]
async fn settled_calls_are_purged_after_the_retention_period_and_stale_ones_given_up() {
    let clock = std::sync::Arc::new(switchboard::clock::ManualClock::default());
    let mock = MockBotFramework::start().await;
    let app = spawn_app_on(mock.clone(), TestConfig::default().clock(clock.clone())).await;
    let delivered = app.queue_message("a:1personal", "old news").await;
    assert_eq!(app.settled(delivered, SETTLE).await.state, "delivered");
    mock.stop_connector().await;
    let stuck = app.queue_message("a:1personal", "never delivered").await;
    app.wait_for(stuck, SETTLE, |e| e.last_error.is_some())
        .await;
    let config = app.stop().await;

    clock.advance(chrono::Duration::days(8));
    let app = spawn_app_on(mock.clone(), config).await;
    // The pending call is past `outbox.max_age` (24 h): given up, not purged, not sent.
    let given_up = app.settled(stuck, SETTLE).await;
    assert_eq!(
        (given_up.state.as_str(), given_up.last_error.as_deref()),
        ("failed", Some("expired"))
    );
    assert!(
        app.state
            .outbox
            .entry(delivered)
            .await
            .expect("query")
            .is_none(),
        "purged"
    );
    assert_eq!(mock.delivered_texts(), vec!["old news"]);
}

/// Conversations waiting for a retry deadline do not hold up one that can be sent now, however
/// many there are: the dispatcher holds every conversation's calls, not a window of the oldest
/// ones (it used to read the 256 oldest heads of the outbox and find only parked calls there).
#[tokio::test]
async fn many_conversations_waiting_for_a_retry_do_not_hold_up_one_that_is_due() {
    let app = spawn_app().await;
    let service_url = app.mock.service_url();
    let now = mock_bf::unix_now() * 1000;
    let mut tx = switchboard::store::begin_write(&app.state.pool)
        .await
        .expect("begin");
    for i in 0..300 {
        let conversation = format!("a:parked-{i}");
        let call = json!({"op": "send", "conversation_id": conversation,
            "activity": {"type": "message", "text": format!("parked {i}")}});
        switchboard::db!(tx.conn(), |c| {
            sqlx::query(
                "INSERT INTO outbox (lane, service_url, operation, call, attempts, next_attempt_at, created_at)
                 VALUES ($1, $2, 'send', $3, 4, $4, $5)",
            )
            .bind(format!("{service_url}|{conversation}"))
            .bind(&service_url)
            .bind(call.to_string())
            .bind(now + 3_600_000)
            .bind(now)
            .execute(c)
            .await
            .map(|_| ())
        })
        .expect("insert");
    }
    tx.commit().await.expect("commit");
    app.state.outbox.wake();

    let id = app.queue_message("a:due", "due now").await;
    let entry = app.settled(id, SETTLE).await;
    assert_eq!(entry.state, "delivered");
    assert_eq!(app.mock.delivered_texts(), vec!["due now".to_owned()]);
}
