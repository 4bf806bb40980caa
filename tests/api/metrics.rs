//! `/metrics` parsed by a Prometheus text parser, checked against a scenario counted by hand:
//! one agent, one chat queued and ringing, then the customer leaves.

use std::collections::HashMap;

use prometheus_parse::{Scrape, Value as Sample};

use crate::helpers::TestApp;
use crate::helpers::teams::{self, ANNE, Teams};
use crate::mock_bf::TENANT_ID;

pub(crate) async fn scrape(app: &TestApp) -> HashMap<String, f64> {
    let response = reqwest::get(format!("{}/metrics", app.address))
        .await
        .expect("metrics");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/plain; version=0.0.4")
    );
    let text = response.text().await.expect("text");
    let scrape =
        Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("Prometheus text format");
    assert!(
        scrape.docs.contains_key("switchboard_sessions"),
        "HELP lines are parsed"
    );
    scrape
        .samples
        .into_iter()
        .map(|s| {
            let mut labels: Vec<String> = s
                .labels
                .iter()
                .filter(|(k, _)| *k != "tenant" || s.labels.get("tenant") != Some(TENANT_ID))
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            labels.sort();
            let (suffix, value) = match s.value {
                Sample::Counter(v) | Sample::Gauge(v) | Sample::Untyped(v) => ("", v),
                // A histogram: its buckets rise to the +Inf one, which is what is kept.
                Sample::Histogram(buckets) => {
                    assert!(
                        buckets
                            .windows(2)
                            .all(|w| w[0].count <= w[1].count && w[0].less_than < w[1].less_than),
                        "cumulative buckets: {buckets:?}"
                    );
                    let last = buckets.last().expect("buckets");
                    assert!(last.less_than.is_infinite(), "a +Inf bucket");
                    ("_inf", last.count)
                }
                other => panic!("unexpected sample {other:?}"),
            };
            (
                format!("{}{suffix}{{{}}}", s.metric, labels.join(",")),
                value,
            )
        })
        .collect()
}

#[tokio::test]
async fn metrics_count_sessions_queues_agents_offers_and_the_outbox() {
    let app = teams::spawn().await;
    teams::seed(&app, "direct", 30, &[ANNE]).await;
    Teams { app: &app }.install(ANNE).await;
    let ada = teams::start_chat(&app, "Ada", Some("Hello")).await;
    teams::invitation_for(&app, ANNE, 1).await;

    // The mock records the invitation before the dispatcher marks it delivered: wait for both.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let m = loop {
        let m = scrape(&app).await;
        if m.get("switchboard_outbox_calls{state=delivered}")
            .is_some_and(|n| *n >= 2.0)
        {
            break m;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not delivered: {m:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(
        m["switchboard_sessions{channel=interact,state=queued}"],
        1.0
    );
    assert_eq!(
        m["switchboard_sessions{channel=interact,state=connected}"],
        0.0
    );
    assert_eq!(m["switchboard_queue_length{service=support}"], 1.0);
    assert_eq!(m["switchboard_agents{state=registered}"], 1.0);
    assert_eq!(m["switchboard_agents{state=ringing}"], 1.0);
    assert!(
        m["switchboard_outbox_calls{state=delivered}"] >= 2.0,
        "welcome + invitation"
    );

    // The customer leaves while it rings: abandoned, the offer cancelled, nothing queued.
    ada.leave(&app).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let m = loop {
        let m = scrape(&app).await;
        if m.get("switchboard_sessions_ended_total{channel=interact,outcome=abandoned}")
            == Some(&1.0)
        {
            break m;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no ended session: {m:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(m["switchboard_offers_total{outcome=cancelled}"], 1.0);
    assert_eq!(
        m["switchboard_sessions{channel=interact,state=queued}"],
        0.0
    );
    assert_eq!(m["switchboard_queue_length{service=support}"], 0.0);
    assert_eq!(m["switchboard_agents{state=ringing}"], 0.0);

    // Once the outbox is empty, the Connector calls counted are the ones the mock answered,
    // and every call and delivery is in the latency histograms.
    let m = loop {
        let m = scrape(&app).await;
        // The withdrawn card's update is enqueued by the effect worker after the end.
        if m.get("switchboard_outbox_calls{state=pending}") == Some(&0.0)
            && m.contains_key("switchboard_connector_calls_total{method=PUT,status=200}")
        {
            break m;
        }
        assert!(tokio::time::Instant::now() < deadline, "outbox not drained");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let answered = |method: &str, status: u16| {
        app.mock
            .calls()
            .iter()
            .filter(|c| c.method == method && c.status == status)
            .count() as f64
    };
    let posts = m["switchboard_connector_calls_total{method=POST,status=201}"];
    assert_eq!(posts, answered("POST", 201));
    assert_eq!(
        m["switchboard_connector_calls_total{method=PUT,status=200}"],
        answered("PUT", 200),
        "the withdrawn invitation card"
    );
    assert_eq!(
        m["switchboard_connector_call_duration_seconds_inf{method=POST}"],
        posts
    );
    assert_eq!(
        m["switchboard_connector_call_duration_seconds_count{method=POST}"],
        posts
    );
    assert!(m["switchboard_connector_call_duration_seconds_sum{method=POST}"] > 0.0);
    let delivered = m["switchboard_outbox_calls{state=delivered}"];
    assert_eq!(m["switchboard_outbox_delivery_seconds_inf{}"], delivered);
    assert_eq!(m["switchboard_outbox_delivery_seconds_count{}"], delivered);
}

/// Every HTTP request is counted by its route template (never a path's values) and status,
/// with its latency; the process itself is described (issue 17, item 12).
#[tokio::test]
async fn metrics_count_http_requests_by_route_and_status_and_describe_the_process() {
    let app = teams::spawn().await;
    teams::seed(&app, "direct", 30, &[ANNE]).await;
    let ada = teams::start_chat(&app, "Ada", Some("Hello")).await;
    let http = reqwest::Client::new();
    for _ in 0..3 {
        let r = http
            .get(format!(
                "{}/api/interact/v1/sessions/{}",
                app.address, ada.session
            ))
            .bearer_auth(&ada.token)
            .send()
            .await
            .expect("state");
        assert_eq!(r.status(), 200);
    }
    let r = http
        .get(format!("{}/api/interact/v1/sessions/nope", app.address))
        .bearer_auth("wrong")
        .send()
        .await
        .expect("unknown");
    assert_eq!(r.status(), 404);
    let r = http
        .get(format!("{}/no/such/path", app.address))
        .send()
        .await
        .expect("none");
    assert_eq!(r.status(), 404);

    // Route templates hold braces, which the test's parser does not take inside a label value
    // (Prometheus does): these lines are read as text.
    let text = reqwest::get(format!("{}/metrics", app.address))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let count = |labels: &str| {
        let prefix = format!("switchboard_http_request_duration_seconds_count{{{labels}}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.parse::<f64>().ok())
    };
    let route = "route=\"/api/interact/v1/sessions/{session}\"";
    assert_eq!(
        count(&format!("method=\"GET\",{route},status=\"200\"")),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        count(&format!("method=\"GET\",{route},status=\"404\"")),
        Some(1.0)
    );
    assert_eq!(
        count("method=\"GET\",route=\"(no route)\",status=\"404\""),
        Some(1.0)
    );
    assert!(
        !text.contains(&ada.session) && !text.contains("nope"),
        "no path value is a label"
    );
    let m = scrape(&app).await;
    assert!(m["process_resident_memory_bytes{}"] > 1e6);
    assert!(m["process_open_fds{}"] >= 3.0);
    assert!(m.contains_key("process_cpu_seconds_total{}"));
    assert!(m["process_start_time_seconds{}"] > 1.7e9);
}
