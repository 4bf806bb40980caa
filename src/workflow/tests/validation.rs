//! Workflow documents: parsing with JSON paths, structural and parameter validation, and the
//! supported-activity matrix per channel (`switchboard check --workflow` is tested in `tests/api/binary.rs`).

use crate::workflow::{self, Channel, Finding};
use serde_json::{Value, json};

fn support() -> Value {
    serde_json::from_str(include_str!("../../../tests/workflows/support.json")).expect("fixture")
}

fn problems(document: &Value, channel: Option<Channel>) -> Vec<Finding> {
    workflow::check(document, channel).expect_err("must have problems")
}

fn codes_at(problems: &[Finding]) -> Vec<(String, &'static str)> {
    problems.iter().map(|p| (p.path.clone(), p.code)).collect()
}

fn minimal(activities: Value) -> Value {
    json!({"id": "w", "name": "W", "start": "a", "activities": activities})
}

#[test]
fn a_complete_interact_workflow_is_valid() {
    let parsed = workflow::check(&support(), Some(Channel::Interact)).expect("valid");
    assert_eq!(parsed.activities.len(), 14);
    assert_eq!(
        parsed.activity("queue").expect("queue").kind.type_name(),
        "QueueTask"
    );
}

#[test]
fn the_same_workflow_for_whatsapp_names_every_unsupported_activity() {
    let found = problems(&support(), Some(Channel::WhatsApp));
    let unsupported: Vec<&str> = found
        .iter()
        .filter(|p| p.code == "unsupported_activity")
        .map(|p| p.path.as_str())
        .collect();
    assert_eq!(
        unsupported,
        vec![
            "/activities/hours/type",
            "/activities/topic/type",
            "/activities/vip/type",
            "/activities/priority/type",
            "/activities/route/type",
            "/activities/position/type",
        ]
    );
    let names: Vec<String> = workflow::unsupported_activities(
        &workflow::parse(&support()).expect("parses"),
        Channel::WhatsApp,
    )
    .into_iter()
    .map(|(_, t)| t)
    .collect();
    assert!(
        names.contains(&"CheckOpeningHours".to_owned())
            && names.contains(&"InputCustomer".to_owned())
    );
}

#[test]
fn unknown_fields_types_and_wrong_values_are_reported_with_their_paths() {
    let doc = json!({"id": "w", "name": "W", "start": "a", "colour": "red", "activities": {
        "a": {"type": "Accept", "next": "b", "nxt": "c"},
        "b": {"type": "Teleport", "next": "c"},
        "c": {"type": "QueueTask", "ringTimeoutSeconds": "thirty", "distribution": "random", "exits": {"queued": "d", "failed": "d"}},
        "d": {"type": "Delay", "seconds": -5, "next": "c"}
    }});
    assert_eq!(
        codes_at(&problems(&doc, None)),
        vec![
            ("/activities/a/nxt".into(), "unknown_field"),
            ("/activities/b/type".into(), "unknown_activity_type"),
            ("/activities/c/distribution".into(), "invalid_value"),
            ("/activities/c/ringTimeoutSeconds".into(), "out_of_range"),
            ("/activities/d/seconds".into(), "out_of_range"),
            ("/colour".into(), "unknown_field"),
        ]
    );
}

#[test]
fn structural_problems_are_all_reported() {
    let doc = minimal(json!({
        "a": {"type": "Message", "text": "hi", "next": "b"},
        "b": {"type": "QueueTask", "exits": {"queued": "nowhere", "maybe": "c"}},
        "c": {"type": "Accept", "next": "c"},
        "orphan": {"type": "Disconnect"}
    }));
    let found = codes_at(&problems(&doc, None));
    for expected in [
        ("/start".to_owned(), "accept_first"),
        ("/activities/b/exits/failed".to_owned(), "missing_exit"),
        ("/activities/b/exits/maybe".to_owned(), "unknown_exit"),
        ("/activities/b/exits/queued".to_owned(), "unknown_activity"),
        ("/activities/c/type".to_owned(), "accept_first"),
        ("/activities/orphan".to_owned(), "unreachable"),
    ] {
        assert!(found.contains(&expected), "{expected:?} not in {found:?}");
    }
}

#[test]
fn a_loop_that_never_waits_is_refused_but_one_with_a_delay_is_fine() {
    let busy = minimal(json!({
        "a": {"type": "Accept", "next": "m"},
        "m": {"type": "Message", "text": "again", "next": "check"},
        "check": {"type": "CheckTask", "exits": {"queued": "m", "ringing": "m", "connected": "m", "notQueued": "end"}},
        "end": {"type": "Disconnect"}
    }));
    let found = problems(&busy, None);
    assert!(
        found
            .iter()
            .any(|p| p.code == "loop_without_wait" && p.message.contains('m')),
        "{found:?}"
    );

    let waiting = minimal(json!({
        "a": {"type": "Accept", "next": "m"},
        "m": {"type": "Message", "text": "again", "next": "pause"},
        "pause": {"type": "Delay", "seconds": 30, "next": "check"},
        "check": {"type": "CheckTask", "exits": {"queued": "m", "ringing": "m", "connected": "m", "notQueued": "end"}},
        "end": {"type": "Disconnect"}
    }));
    workflow::check(&waiting, Some(Channel::WhatsApp)).expect("a loop through a Delay is valid");
}

#[test]
fn parameters_placeholders_patterns_and_urls_are_checked() {
    let doc = minimal(json!({
        "a": {"type": "Accept", "next": "save"},
        "save": {"type": "SaveToParameter", "parameter": "9lives", "value": "${ok} and ${not closed", "next": "ask"},
        "ask": {"type": "InputCustomer", "prompt": "Order?", "parameter": "order", "pattern": "([0-9", "choices": ["x", "x"],
                "exits": {"x": "http", "other": "http", "timeout": "http"}},
        "http": {"type": "SendHttpRequest", "method": "fetch", "url": "ftp://crm/${order}", "saveTo": {"name": "customer/name"},
                 "exits": {"success": "cond", "failure": "cond"}},
        "cond": {"type": "CheckParameter", "conditions": [{"parameter": "n", "operator": "greaterThan", "value": "many", "exit": "big"}],
                 "exits": {"big": "end", "default": "end"}},
        "end": {"type": "Disconnect"}
    }));
    let found = codes_at(&problems(&doc, Some(Channel::Interact)));
    for expected in [
        (
            "/activities/save/parameter".to_owned(),
            "invalid_parameter_name",
        ),
        ("/activities/save/value".to_owned(), "invalid_placeholder"),
        ("/activities/ask/pattern".to_owned(), "invalid_pattern"),
        ("/activities/ask/choices/1".to_owned(), "invalid_choice"),
        ("/activities/http/method".to_owned(), "invalid_value"),
        ("/activities/http/url".to_owned(), "invalid_url"),
        ("/activities/http/saveTo/name".to_owned(), "invalid_pointer"),
        (
            "/activities/cond/conditions/0/value".to_owned(),
            "invalid_value",
        ),
    ] {
        assert!(found.contains(&expected), "{expected:?} not in {found:?}");
    }
}

#[test]
fn voice_activities_are_recognised_and_unsupported_for_im() {
    let doc = minimal(json!({
        "a": {"type": "Accept", "next": "music"},
        "music": {"type": "PlayMusic", "audioFile": "hold.wav", "next": "end"},
        "end": {"type": "Disconnect"}
    }));
    assert!(workflow::parse(&doc).is_ok(), "a known voice type parses");
    let found = problems(&doc, Some(Channel::Interact));
    assert_eq!(
        codes_at(&found),
        vec![("/activities/music/type".into(), "unsupported_activity")]
    );
    assert!(found[0].message.contains("PlayMusic"));
}
