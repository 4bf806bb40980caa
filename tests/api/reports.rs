//! Reporting over the admin API: session and offer history with filters, paging and CSV, and
//! KPIs checked against a scenario computed by hand (driven through the engine with a manual
//! clock); transcripts and their retention.

use std::collections::BTreeMap;
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard::clock::ManualClock;
use switchboard::engine::actor::Engine;
use switchboard::engine::messages::{Command, Customer, Effect};

use crate::admin::Api;
use crate::helpers::teams::{self, ANNE, Teams};
use crate::helpers::{TestApp, TestConfig, spawn_app_on};
use crate::mock_bf::{MockBotFramework, OTHER_TENANT_ID, TENANT_ID};

/// Moves the manual clock to `t0 + secs`.
struct Timeline {
    clock: Arc<ManualClock>,
    at: i64,
}

impl Timeline {
    fn to(&mut self, secs: i64) {
        assert!(secs >= self.at, "time only moves forward");
        self.clock
            .advance(chrono::Duration::seconds(secs - self.at));
        self.at = secs;
    }
}

async fn send(engine: &Engine, command: Command) -> Vec<Effect> {
    engine.send(command).await.expect("command")
}

fn start(session: &str, channel: &str) -> Command {
    Command::StartSession {
        session: session.into(),
        service: "support".into(),
        channel: channel.into(),
        customer: Customer {
            display_name: "Ada".into(),
            email: "ada@example.com".into(),
        },
        parameters: BTreeMap::new(),
        first_message: None,
    }
}

fn answer(session: &str) -> Command {
    Command::CustomerMessage {
        session: session.into(),
        text: "Technical".into(),
        seq: None,
    }
}

fn left(session: &str) -> Command {
    Command::CustomerLeft {
        session: session.into(),
        inactive: false,
    }
}

/// The one invitation among `effects`, as (offer, user).
fn invited(effects: &[Effect]) -> (u64, String) {
    let all: Vec<(u64, String)> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::SendInvitation { offer, user, .. } => Some((*offer, user.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(all.len(), 1, "one invitation: {effects:?}");
    all[0].clone()
}

/// The scenario (seconds after t0), service `support`, agents u1 and u2 with one chat each:
///
/// | session | channel | created | queued | accepted | ended | outcome |
/// |---|---|---|---|---|---|---|
/// | s1 | interact | 0 | 10 | 15 (u1) | 75 | handled |
/// | s2 | interact | 20 | 20 | 100 (u1; u2 declined at 22) | 160 | handled |
/// | s3 | interact | 30 | 30 | — (u2 rang) | 40 (left) | abandoned |
/// | s4 | interact | 170 | — | — | 175 (left in the workflow) | abandoned |
/// | s5 | whatsapp | 300 | 300 | 304 (u1) | 334 | handled |
///
/// u1 ends s1 at 75 and is in after-call work until 95.
async fn scenario() -> (TestApp, i64) {
    let clock = Arc::new(ManualClock::default());
    let t0 = switchboard::clock::Clock::now_ms(clock.as_ref());
    let mock = MockBotFramework::start().await;
    let app = spawn_app_on(mock, TestConfig::default().clock(clock.clone())).await;
    let engine = app.state.engines.get(TENANT_ID).await.expect("engine");
    for command in crate::engine::setup() {
        send(&engine, command).await;
    }
    let mut t = Timeline { clock, at: 0 };

    send(&engine, start("s1", "interact")).await;
    t.to(10);
    let (o1, u) = invited(&send(&engine, answer("s1")).await);
    assert_eq!(u, "u1");
    t.to(15);
    send(&engine, Command::Accept { offer: o1, user: u }).await;

    t.to(20);
    send(&engine, start("s2", "interact")).await;
    let (o2, u) = invited(&send(&engine, answer("s2")).await);
    assert_eq!(u, "u2");
    t.to(22);
    let declined = send(&engine, Command::Decline { offer: o2, user: u }).await;
    assert!(
        !declined
            .iter()
            .any(|e| matches!(e, Effect::SendInvitation { .. })),
        "u2 passed on s2 and u1 is busy"
    );

    t.to(30);
    send(&engine, start("s3", "interact")).await;
    let (o3, u) = invited(&send(&engine, answer("s3")).await);
    assert_eq!(u, "u2");
    t.to(40);
    send(&engine, left("s3")).await;

    t.to(75);
    send(
        &engine,
        Command::EndSession {
            session: "s1".into(),
        },
    )
    .await;
    // u1's after-call work ends; s2, waiting since 20 s, goes to u1.
    t.to(95);
    let (o4, u) = invited(&send(&engine, Command::AcwDone { user: "u1".into() }).await);
    assert_eq!(u, "u1");
    t.to(100);
    send(&engine, Command::Accept { offer: o4, user: u }).await;
    t.to(160);
    send(
        &engine,
        Command::EndSession {
            session: "s2".into(),
        },
    )
    .await;

    t.to(170);
    send(&engine, start("s4", "interact")).await;
    t.to(175);
    send(&engine, left("s4")).await;

    t.to(300);
    send(&engine, start("s5", "whatsapp")).await;
    let (o5, u) = invited(&send(&engine, answer("s5")).await);
    assert_eq!(u, "u1", "the agent who last handled this customer (s2)");
    let _ = o3;
    t.to(304);
    send(&engine, Command::Accept { offer: o5, user: u }).await;
    t.to(334);
    send(
        &engine,
        Command::EndSession {
            session: "s5".into(),
        },
    )
    .await;
    (app, t0)
}

fn iso(t0: i64, secs: i64) -> String {
    chrono::DateTime::from_timestamp_millis(t0 + secs * 1000)
        .expect("time")
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn approx(v: &Value, expected: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - expected).abs() < 1e-9)
}

#[tokio::test]
async fn kpis_per_service_and_channel_match_the_scenario_computed_by_hand() {
    let (app, t0) = scenario().await;
    let api = Api::new(&app, TENANT_ID).await;

    let (status, _, body) = api.get("/reports/kpis?slaSeconds=20").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["slaSeconds"], 20);
    let items = body["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{body:#}");
    let interact = &items[0];
    assert_eq!(
        (&interact["service"], &interact["channel"]),
        (&json!("support"), &json!("interact"))
    );
    assert_eq!(interact["tasks"], 4);
    assert_eq!(interact["queued"], 3);
    assert_eq!(interact["handled"], 2);
    assert_eq!(interact["abandoned"], 2);
    assert!(approx(&interact["reachability"], 2.0 / 3.0), "{interact}");
    // Accepted after 5 s (s1) and 80 s (s2); s3 never: one within 20 s.
    assert_eq!(interact["acceptedWithinSla"], 1);
    assert!(approx(&interact["acceptanceSla"], 1.0 / 3.0));
    // Queue times 5, 80 and 10 s (s3 until it left).
    assert!(approx(&interact["meanQueueSeconds"], 95.0 / 3.0));
    assert!(approx(&interact["meanConnectedSeconds"], 60.0));
    assert!(approx(&interact["abandonedRate"], 0.5));
    assert_eq!(
        interact["offers"],
        json!({"accepted": 2, "declined": 1, "rona": 0, "cancelled": 1})
    );

    let whatsapp = &items[1];
    assert_eq!(whatsapp["channel"], "whatsapp");
    assert_eq!(whatsapp["tasks"], 1);
    assert!(approx(&whatsapp["reachability"], 1.0));
    assert!(approx(&whatsapp["meanQueueSeconds"], 4.0));
    assert!(approx(&whatsapp["meanConnectedSeconds"], 30.0));
    assert!(approx(&whatsapp["abandonedRate"], 0.0));

    // The default SLA is 30 s; 90 s counts s2 too. A period holding only s3 and s1.
    let (_, _, body) = api.get("/reports/kpis?channel=interact").await;
    assert_eq!(body["slaSeconds"], 30);
    assert_eq!(body["items"].as_array().expect("items").len(), 1);
    assert_eq!(body["items"][0]["acceptedWithinSla"], 1);
    let (_, _, body) = api
        .get("/reports/kpis?channel=interact&slaSeconds=90")
        .await;
    assert_eq!(body["items"][0]["acceptedWithinSla"], 2);
    let (_, _, body) = api
        .get(&format!(
            "/reports/kpis?from={}&to={}",
            urlencode(&iso(t0, 40)),
            urlencode(&iso(t0, 76))
        ))
        .await;
    let items = body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{body:#}");
    assert_eq!(items[0]["tasks"], 2);
    assert!(approx(&items[0]["meanQueueSeconds"], 7.5));
    assert!(approx(&items[0]["reachability"], 0.5));
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn session_and_offer_history_filter_page_and_export_csv() {
    let (app, t0) = scenario().await;
    let api = Api::new(&app, TENANT_ID).await;

    let (status, _, body) = api.get("/reports/sessions").await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["sessionId"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["s3", "s1", "s2", "s4", "s5"], "in end-time order");
    assert!(body["next"].is_null());
    let s2 = &body["items"][2];
    assert_eq!(s2["agent"], "u1");
    assert_eq!(s2["outcome"], "handled");
    assert_eq!(s2["createdAt"], iso(t0, 20));
    assert_eq!(s2["queuedAt"], iso(t0, 20));
    assert_eq!(s2["offeredAt"], iso(t0, 20));
    assert_eq!(s2["acceptedAt"], iso(t0, 100));
    assert_eq!(s2["endedAt"], iso(t0, 160));
    assert_eq!(s2["queueSeconds"], 80.0);
    assert_eq!(s2["connectedSeconds"], 60.0);
    let s4 = &body["items"][3];
    assert!(s4["queuedAt"].is_null() && s4["queueSeconds"].is_null());

    // Filters.
    let only = |body: &Value| -> Vec<String> {
        body["items"]
            .as_array()
            .unwrap_or_else(|| panic!("{body}"))
            .iter()
            .map(|i| i["sessionId"].as_str().expect("id").to_owned())
            .collect()
    };
    assert_eq!(
        only(&api.get("/reports/sessions?outcome=abandoned").await.2),
        ["s3", "s4"]
    );
    assert_eq!(
        only(&api.get("/reports/sessions?user=u1").await.2),
        ["s1", "s2", "s5"]
    );
    assert_eq!(
        only(
            &api.get("/reports/sessions?user=u2&channel=interact")
                .await
                .2
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        only(&api.get("/reports/sessions?channel=whatsapp").await.2),
        ["s5"]
    );
    assert_eq!(
        only(&api.get("/reports/sessions?service=billing").await.2),
        Vec::<String>::new()
    );
    let window = format!(
        "/reports/sessions?from={}&to={}",
        urlencode(&iso(t0, 75)),
        urlencode(&iso(t0, 161))
    );
    assert_eq!(only(&api.get(&window).await.2), ["s1", "s2"], "[from, to)");

    // Pages of two, following `next` (and the Link header) to the end.
    let mut path = "/reports/sessions?limit=2".to_owned();
    let mut pages = Vec::new();
    loop {
        let response = api
            .http
            .get(api.url(&path))
            .bearer_auth(&api.key)
            .send()
            .await
            .expect("page");
        let link = response
            .headers()
            .get("link")
            .map(|v| v.to_str().expect("link").to_owned());
        let body: Value = response.json().await.expect("json");
        pages.push(only(&body));
        match body["next"].as_str() {
            Some(next) => {
                assert_eq!(link, Some(format!("<{next}>; rel=\"next\"")));
                assert!(next.contains("limit=2"), "keeps the other parameters");
                path = next
                    .strip_prefix(&format!("/api/admin/v1/tenants/{TENANT_ID}"))
                    .expect("same tenant")
                    .to_owned();
            }
            None => {
                assert!(link.is_none());
                break;
            }
        }
    }
    assert_eq!(pages, [vec!["s3", "s1"], vec!["s2", "s4"], vec!["s5"]]);

    // CSV, parsed back, holds what JSON holds.
    let (_, _, json_body) = api.get("/reports/sessions").await;
    let response = api
        .http
        .get(api.url("/reports/sessions?format=csv"))
        .bearer_auth(&api.key)
        .send()
        .await
        .expect("csv");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let text = response.text().await.expect("text");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().expect("headers").clone();
    assert_eq!(&headers[0], "sessionId");
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    assert_eq!(rows.len(), 5);
    for (row, item) in rows
        .iter()
        .zip(json_body["items"].as_array().expect("items"))
    {
        for (column, cell) in headers.iter().zip(row.iter()) {
            let expected = match &item[column] {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                Value::Array(a) => a
                    .iter()
                    .map(|v| v.as_str().expect("text"))
                    .collect::<Vec<_>>()
                    .join(";"),
                other => other.to_string(),
            };
            // Numbers may be written differently (`80` / `80.0`) but must be the same number.
            let same = cell == expected
                || cell
                    .parse::<f64>()
                    .is_ok_and(|c| expected.parse::<f64>() == Ok(c));
            assert!(same, "{column}: csv {cell:?} json {expected:?}");
        }
    }
    // Accept: text/csv works too.
    let response = api
        .http
        .get(api.url("/reports/offers"))
        .bearer_auth(&api.key)
        .header("accept", "text/csv")
        .send()
        .await
        .expect("csv");
    let text = response.text().await.expect("text");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let outcomes: Vec<(String, String, String)> = reader
        .deserialize::<BTreeMap<String, String>>()
        .map(|r| {
            let r = r.expect("row");
            (
                r["sessionId"].clone(),
                r["user"].clone(),
                r["outcome"].clone(),
            )
        })
        .collect();
    assert_eq!(
        outcomes[..4],
        [
            ("s1".into(), "u1".into(), "accepted".into()),
            ("s2".into(), "u2".into(), "declined".into()),
            ("s3".into(), "u2".into(), "cancelled".into()),
            ("s2".into(), "u1".into(), "accepted".into()),
        ]
    );
    assert_eq!(outcomes.len(), 5);
    let (_, _, body) = api.get("/reports/offers?outcome=declined&user=u2").await;
    assert_eq!(body["items"].as_array().expect("items").len(), 1);
    assert_eq!(body["items"][0]["channel"], "interact");
    let (_, _, body) = api.get("/reports/offers?channel=whatsapp").await;
    assert_eq!(body["items"][0]["sessionId"], "s5");
}

#[tokio::test]
async fn reports_refuse_bad_parameters_and_other_tenants() {
    let (app, _) = scenario().await;
    let api = Api::new(&app, TENANT_ID).await;
    for (path, code, names) in [
        (
            "/reports/sessions?from=yesterday",
            "invalid_parameter",
            "from",
        ),
        (
            "/reports/sessions?from=2026-11-22&to=2026-11-21",
            "invalid_parameter",
            "to",
        ),
        (
            "/reports/sessions?outcome=won",
            "invalid_parameter",
            "outcome",
        ),
        (
            "/reports/offers?outcome=handled",
            "invalid_parameter",
            "outcome",
        ),
        (
            "/reports/sessions?channel=fax",
            "invalid_parameter",
            "channel",
        ),
        ("/reports/sessions?limit=0", "invalid_parameter", "limit"),
        ("/reports/sessions?limit=1001", "invalid_parameter", "limit"),
        (
            "/reports/sessions?cursor=bogus",
            "invalid_parameter",
            "cursor",
        ),
        (
            "/reports/sessions?format=xml",
            "invalid_parameter",
            "format",
        ),
        ("/reports/sessions?sort=asc", "unknown_parameter", "sort"),
        (
            "/reports/sessions?limit=1&limit=2",
            "invalid_parameter",
            "limit",
        ),
        (
            "/reports/kpis?slaSeconds=-1",
            "invalid_parameter",
            "slaSeconds",
        ),
        ("/reports/kpis?agent=u1", "unknown_parameter", "agent"),
    ] {
        let (status, _, body) = api.get(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["code"], code, "{path}");
        assert!(
            body["detail"].as_str().expect("detail").contains(names),
            "{path}: {body}"
        );
    }

    let http = reqwest::Client::new();
    for path in [
        "reports/sessions",
        "reports/offers",
        "reports/kpis",
        "sessions/s1/transcript",
        "export",
    ] {
        let url = format!("{}/api/admin/v1/tenants/{TENANT_ID}/{path}", app.address);
        let none = http.get(&url).send().await.expect("request");
        assert_eq!(none.status(), 401, "{path}");
        let other = Api::new(&app, OTHER_TENANT_ID).await;
        let r = http
            .get(&url)
            .bearer_auth(&other.key)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 403, "{path}");
        // The other tenant's own reports hold none of this tenant's sessions.
        let (_, _, body) = other.get("/reports/sessions").await;
        assert_eq!(body["items"], json!([]));
    }
}

#[tokio::test]
async fn transcripts_show_both_sides_in_order_and_are_deleted_after_the_retention() {
    let clock = Arc::new(ManualClock::default());
    let app = teams::spawn_with(teams::config().clock(clock.clone())).await;
    teams::seed(&app, "direct", 30, &[ANNE]).await;
    let t = Teams { app: &app };
    let (ada, chat) = teams::connected_chat(&app, &t, Some("Hello")).await;
    ada.say(&app, "My printer is on fire").await;
    t.say(ANNE, &chat, "Let me help").await;
    ada.wait_event(&app, "agent message", |e| e["text"] == "Let me help")
        .await;
    ada.leave(&app).await;
    assert_eq!(
        teams::outcome(&app, &ada.session).await.as_deref(),
        Some("handled")
    );

    let api = Api::new(&app, TENANT_ID).await;
    let (status, _, body) = api
        .get(&format!("/sessions/{}/transcript", ada.session))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let lines: Vec<(String, String)> = body["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| {
            (
                l["from"].as_str().expect("from").to_owned(),
                l["text"].as_str().expect("text").to_owned(),
            )
        })
        .collect();
    let customer_and_agent: Vec<(String, String)> = lines
        .iter()
        .filter(|(from, _)| from != "service")
        .cloned()
        .collect();
    assert_eq!(
        customer_and_agent,
        [
            ("customer".to_owned(), "Hello".to_owned()),
            ("customer".to_owned(), "My printer is on fire".to_owned()),
            ("agent".to_owned(), "Let me help".to_owned()),
        ],
        "{body:#}"
    );
    let agent_line = body["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .find(|l| l["from"] == "agent")
        .expect("agent line");
    assert_eq!(agent_line["name"], ANNE.name);
    assert!(agent_line["at"].as_str().expect("at").ends_with('Z'));
    let (status, _, body) = api.get("/sessions/nope/transcript").await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::NOT_FOUND, &json!("not_found"))
    );

    // A second chat ends two days later; at 91 days only the first one's transcript goes.
    settled(&app, &ada.session).await;
    clock.advance(chrono::Duration::days(2));
    let bea = teams::start_chat(&app, "Bea", Some("Hi again")).await;
    bea.leave(&app).await;
    teams::outcome(&app, &bea.session).await;
    settled(&app, &bea.session).await;
    clock.advance(chrono::Duration::days(89) + chrono::Duration::minutes(1));
    let purged = switchboard::reporting::transcripts::purge_expired(&app.state)
        .await
        .expect("purge");
    assert_eq!(purged.sessions, 1);
    assert!(purged.chatrooms >= 1, "{purged:?}");
    let (status, _, body) = api
        .get(&format!("/sessions/{}/transcript", ada.session))
        .await;
    assert_eq!(status, StatusCode::GONE, "{body}");
    assert_eq!(body["code"], "transcript_deleted");
    let left = app
        .count_with(
            "SELECT COUNT(*) FROM interact_events WHERE session_id = $1",
            &[&ada.session],
        )
        .await;
    assert_eq!(left, 0, "what the customer wrote is gone");
    let briefs = app
        .count_with(
            "SELECT COUNT(*) FROM teams_invitations WHERE session_id = $1",
            &[&ada.session],
        )
        .await;
    assert_eq!(
        briefs, 0,
        "the invitation card data quoting the customer is gone"
    );
    let (status, _, body) = api
        .get(&format!("/sessions/{}/transcript", bea.session))
        .await;
    assert_eq!(status, StatusCode::OK, "kept: {body}");
    // The reporting facts stay.
    let (_, _, body) = api.get("/reports/sessions").await;
    assert_eq!(body["items"].as_array().expect("items").len(), 2);
}

/// Waits until the workers have recorded a session's end (customer side ended, chatroom
/// closed if it had one), so that the clock can move on.
async fn settled(app: &TestApp, session: &str) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let ended = app
            .text(
                "SELECT state FROM interact_sessions WHERE session_id = $1",
                &[session],
            )
            .await;
        let open = app
            .count_with(
                "SELECT COUNT(*) FROM chatrooms WHERE session_id = $1 AND closed_at IS NULL",
                &[session],
            )
            .await;
        if ended.as_deref() == Some("ended") && open == 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{session} not settled"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
