//! The workflow interpreter, activity by activity, with a virtual clock and a scripted view of
//! distribution and opening hours.

use std::cell::Cell;
use std::collections::BTreeMap;

use crate::workflow::interpret::{OpeningState, Run, RunEffect, RunEnd, RunEvent, TaskState, View};
use crate::workflow::model::{Distribution, Priority};
use crate::workflow::{self, Workflow};
use serde_json::{Value, json};

struct Fake {
    selectable: usize,
    online: usize,
    position: Option<usize>,
    task: Cell<TaskState>,
    opening: OpeningState,
    can_queue: bool,
}

impl Default for Fake {
    fn default() -> Self {
        Fake {
            selectable: 1,
            online: 1,
            position: None,
            task: Cell::new(TaskState::NotQueued),
            opening: OpeningState::Open,
            can_queue: true,
        }
    }
}

impl View for Fake {
    fn selectable_agents(&self, _: &str) -> usize {
        self.selectable
    }
    fn online_agents(&self, _: &str) -> usize {
        self.online
    }
    fn queue_position(&self, _: &str) -> Option<usize> {
        self.position
    }
    fn task_state(&self, _: &str) -> TaskState {
        self.task.get()
    }
    fn opening_state(&self, _: &str, _: i64) -> OpeningState {
        self.opening
    }
    fn can_queue(&self, _: &str) -> bool {
        self.can_queue
    }
}

fn support() -> Workflow {
    let document: Value =
        serde_json::from_str(include_str!("../../../tests/workflows/support.json"))
            .expect("fixture");
    workflow::check(&document, None).expect("valid")
}

fn flow(activities: Value) -> Workflow {
    workflow::check(
        &json!({"id": "w", "name": "W", "start": "a", "activities": activities}),
        None,
    )
    .expect("valid")
}

fn system_fields() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("customer.displayName".to_owned(), "Ada".to_owned()),
        ("service.name".to_owned(), "Support".to_owned()),
    ])
}

fn texts(effects: &[RunEffect]) -> Vec<String> {
    effects
        .iter()
        .filter_map(|e| match e {
            RunEffect::SendMessage { text } | RunEffect::Prompt { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn the_support_workflow_greets_asks_routes_queues_and_reports_the_position_until_an_agent_takes_over()
 {
    let wf = support();
    let view = Fake {
        position: Some(3),
        ..Fake::default()
    };
    let (mut run, effects) = Run::start(&wf, "s1", "support", system_fields(), &view, 0);
    assert_eq!(effects[0], RunEffect::Accepted);
    assert_eq!(
        texts(&effects),
        vec![
            "Hello Ada, thanks for contacting Support.",
            "What is your question about?"
        ]
    );
    assert!(effects.contains(&RunEffect::Timer { at: 120_000 }));

    run.parameters.insert("tier".into(), "gold".into());
    let effects = run.handle(
        &wf,
        RunEvent::CustomerInput {
            text: " billing ".into(),
        },
        &view,
        5_000,
    );
    assert_eq!(run.parameters["topic"], "Billing");
    assert_eq!(
        effects,
        vec![
            RunEffect::SetPriority {
                priority: Priority::High
            },
            RunEffect::Enqueue {
                service: "support".into(),
                ring_timeout_seconds: 30,
                distribution: Distribution::Direct
            },
            RunEffect::Timer { at: 65_000 },
        ]
    );
    view.task.set(TaskState::Queued);
    let effects = run.handle(&wf, RunEvent::Timer, &view, 65_000);
    assert_eq!(texts(&effects), vec!["You are number 3 in the queue."]);
    // A timer that fires early is ignored.
    assert!(run.handle(&wf, RunEvent::Timer, &view, 100_000).is_empty());
    let effects = run.handle(&wf, RunEvent::Connected, &view, 110_000);
    assert_eq!(effects, vec![RunEffect::End(RunEnd::Connected)]);
    assert_eq!(run.at, None);
}

#[test]
fn outside_opening_hours_the_customer_is_told_and_disconnected() {
    let view = Fake {
        opening: OpeningState::Holiday,
        ..Fake::default()
    };
    let (run, effects) = Run::start(&support(), "s1", "support", system_fields(), &view, 0);
    assert_eq!(
        texts(&effects).last().map(String::as_str),
        Some("We are closed right now. Please come back during opening hours.")
    );
    assert_eq!(effects.last(), Some(&RunEffect::End(RunEnd::Disconnected)));
    assert_eq!(run.at, None);
}

#[test]
fn unanswered_input_times_out_and_nobody_online_ends_the_chat() {
    let wf = support();
    let view = Fake {
        selectable: 0,
        online: 0,
        ..Fake::default()
    };
    let (mut run, _) = Run::start(&wf, "s1", "support", system_fields(), &view, 0);
    let effects = run.handle(&wf, RunEvent::Timer, &view, 120_000);
    assert_eq!(
        texts(&effects),
        vec!["Nobody is available right now. Please try again later."]
    );
    assert_eq!(effects.last(), Some(&RunEffect::End(RunEnd::Disconnected)));
}

#[test]
fn an_answer_that_does_not_match_the_pattern_is_asked_again() {
    let wf = flow(json!({
        "a": {"type": "Accept", "next": "ask"},
        "ask": {"type": "InputCustomer", "prompt": "Order number?", "parameter": "order", "pattern": "^[0-9]{5}$",
                "exits": {"other": "done", "timeout": "done"}},
        "done": {"type": "Disconnect", "text": "Order ${order} noted."}
    }));
    let view = Fake::default();
    let (mut run, _) = Run::start(&wf, "s1", "support", BTreeMap::new(), &view, 0);
    let effects = run.handle(
        &wf,
        RunEvent::CustomerInput {
            text: "12ab".into(),
        },
        &view,
        1000,
    );
    assert_eq!(texts(&effects), vec!["Order number?"]);
    assert!(run.at.is_some());
    let effects = run.handle(
        &wf,
        RunEvent::CustomerInput {
            text: "12345".into(),
        },
        &view,
        2000,
    );
    assert_eq!(texts(&effects), vec!["Order 12345 noted."]);
}

#[test]
fn queue_task_runs_once_per_session_and_fails_for_a_service_that_cannot_queue() {
    let wf = flow(json!({
        "a": {"type": "Accept", "next": "q1"},
        "q1": {"type": "QueueTask", "distribution": "broadcast", "exits": {"queued": "q2", "failed": "end"}},
        "q2": {"type": "QueueTask", "exits": {"queued": "end", "failed": "failed"}},
        "failed": {"type": "Disconnect", "text": "second queueing failed"},
        "end": {"type": "Disconnect"}
    }));
    let (_, effects) = Run::start(&wf, "s1", "support", BTreeMap::new(), &Fake::default(), 0);
    let enqueues = effects
        .iter()
        .filter(|e| matches!(e, RunEffect::Enqueue { .. }))
        .count();
    assert_eq!(enqueues, 1);
    assert_eq!(texts(&effects), vec!["second queueing failed"]);

    let (_, effects) = Run::start(
        &wf,
        "s2",
        "support",
        BTreeMap::new(),
        &Fake {
            can_queue: false,
            ..Fake::default()
        },
        0,
    );
    assert!(
        !effects
            .iter()
            .any(|e| matches!(e, RunEffect::Enqueue { .. }))
    );
}

#[test]
fn collect_information_waits_for_every_parameter_or_times_out() {
    let wf = flow(json!({
        "a": {"type": "Accept", "next": "c"},
        "c": {"type": "CollectInformation", "parameters": ["crmId", "tier"], "timeoutSeconds": 10, "exits": {"collected": "yes", "timeout": "no"}},
        "yes": {"type": "Disconnect", "text": "collected ${crmId}/${tier}"},
        "no": {"type": "Disconnect", "text": "timed out"}
    }));
    let view = Fake::default();
    let (mut run, effects) = Run::start(&wf, "s1", "support", BTreeMap::new(), &view, 0);
    assert!(effects.contains(&RunEffect::CollectRequested {
        parameters: vec!["crmId".into(), "tier".into()]
    }));
    let partial = run.handle(
        &wf,
        RunEvent::ParametersSet {
            values: BTreeMap::from([("crmId".into(), "42".into())]),
        },
        &view,
        1000,
    );
    assert!(partial.is_empty());
    let effects = run.handle(
        &wf,
        RunEvent::ParametersSet {
            values: BTreeMap::from([("tier".into(), "gold".into())]),
        },
        &view,
        2000,
    );
    assert_eq!(texts(&effects), vec!["collected 42/gold"]);

    let (mut run, _) = Run::start(&wf, "s2", "support", BTreeMap::new(), &view, 0);
    assert_eq!(
        texts(&run.handle(&wf, RunEvent::Timer, &view, 10_000)),
        vec!["timed out"]
    );
}

#[test]
fn send_http_request_fills_the_request_saves_response_fields_and_fails_on_errors_or_timeout() {
    let wf = flow(json!({
        "a": {"type": "Accept", "next": "h"},
        "h": {"type": "SendHttpRequest", "method": "POST", "url": "https://crm.example/lookup?email=${customer.email}",
              "headers": {"x-session": "${session.id}"}, "body": "{\"name\": \"${customer.displayName}\"}", "timeoutSeconds": 5,
              "saveTo": {"tier": "/customer/tier", "visits": "/customer/visits"},
              "exits": {"success": "ok", "failure": "ko"}},
        "ok": {"type": "Disconnect", "text": "tier ${tier}, visits ${visits}"},
        "ko": {"type": "Disconnect", "text": "lookup failed"}
    }));
    let view = Fake::default();
    let fields = BTreeMap::from([
        ("customer.email".to_owned(), "ada@example.com".to_owned()),
        ("customer.displayName".to_owned(), "Ada".to_owned()),
        ("session.id".to_owned(), "s1".to_owned()),
    ]);
    let (mut run, effects) = Run::start(&wf, "s1", "support", fields.clone(), &view, 0);
    let Some(RunEffect::HttpRequest {
        request,
        method,
        url,
        headers,
        body,
        timeout_seconds,
    }) = effects
        .iter()
        .find(|e| matches!(e, RunEffect::HttpRequest { .. }))
        .cloned()
    else {
        panic!("no request: {effects:?}")
    };
    assert_eq!(
        (method.as_str(), url.as_str(), timeout_seconds),
        (
            "POST",
            "https://crm.example/lookup?email=ada@example.com",
            5
        )
    );
    assert_eq!(headers["x-session"], "s1");
    assert_eq!(body.as_deref(), Some("{\"name\": \"Ada\"}"));
    // A result for another request is ignored.
    assert!(
        run.handle(
            &wf,
            RunEvent::HttpResult {
                request: "other".into(),
                status: Some(200),
                body: None
            },
            &view,
            100
        )
        .is_empty()
    );
    let effects = run.handle(
        &wf,
        RunEvent::HttpResult {
            request,
            status: Some(200),
            body: Some(json!({"customer": {"tier": "gold", "visits": 3}})),
        },
        &view,
        200,
    );
    assert_eq!(texts(&effects), vec!["tier gold, visits 3"]);

    let (mut run, effects) = Run::start(&wf, "s2", "support", fields.clone(), &view, 0);
    let request = effects.iter().find_map(|e| match e {
        RunEffect::HttpRequest { request, .. } => Some(request.clone()),
        _ => None,
    });
    let effects = run.handle(
        &wf,
        RunEvent::HttpResult {
            request: request.expect("request"),
            status: Some(503),
            body: None,
        },
        &view,
        100,
    );
    assert_eq!(texts(&effects), vec!["lookup failed"]);

    let (mut run, _) = Run::start(&wf, "s3", "support", fields, &view, 0);
    assert_eq!(
        texts(&run.handle(&wf, RunEvent::Timer, &view, 5_000)),
        vec!["lookup failed"]
    );
}

#[test]
fn an_unsupported_activity_reached_after_an_edit_ends_the_session_as_failed() {
    let document = json!({"id": "w", "name": "W", "start": "a", "activities": {
        "a": {"type": "Accept", "next": "v"},
        "v": {"type": "VoiceMessage", "next": "a"}
    }});
    let wf = workflow::parse(&document).expect("parses");
    let (run, effects) = Run::start(&wf, "s1", "support", BTreeMap::new(), &Fake::default(), 0);
    assert!(
        matches!(effects.last(), Some(RunEffect::End(RunEnd::Failed { reason })) if reason.contains("VoiceMessage"))
    );
    assert_eq!(run.at, None);
}

#[test]
fn transfer_hands_over_to_the_target_service_or_takes_the_failed_exit() {
    let wf = flow(json!({
        "a": {"type": "Accept", "next": "t"},
        "t": {"type": "Transfer", "service": "billing", "exits": {"failed": "end"}},
        "end": {"type": "Disconnect", "text": "transfer failed"}
    }));
    let (_, effects) = Run::start(&wf, "s1", "support", BTreeMap::new(), &Fake::default(), 0);
    assert_eq!(
        effects.last(),
        Some(&RunEffect::End(RunEnd::Transferred {
            service: "billing".into()
        }))
    );
    let (_, effects) = Run::start(
        &wf,
        "s2",
        "support",
        BTreeMap::new(),
        &Fake {
            can_queue: false,
            ..Fake::default()
        },
        0,
    );
    assert_eq!(texts(&effects), vec!["transfer failed"]);
}

#[test]
fn parameter_values_are_inserted_literally_never_expanded_again() {
    let wf = flow(json!({
        "a": {"type": "Accept", "next": "m"},
        "m": {"type": "Message", "text": "You said: ${said}", "next": "end"},
        "end": {"type": "Disconnect"}
    }));
    let fields = BTreeMap::from([
        ("said".to_owned(), "${service.name} ${said}".to_owned()),
        ("service.name".to_owned(), "S".to_owned()),
    ]);
    let (_, effects) = Run::start(&wf, "s1", "support", fields, &Fake::default(), 0);
    assert_eq!(texts(&effects), vec!["You said: ${service.name} ${said}"]);
}
