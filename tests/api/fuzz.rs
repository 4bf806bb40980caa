//! Property-based fuzzing of every parser the internet (or an admin's file) reaches: arbitrary
//! and mutated activity JSON, customer API bodies, card templates and their expressions,
//! workflow documents, tenant files, configuration values, `Retry-After`, origins, domain
//! templates, service URLs, networks and URL placeholders. The properties: no panic, and over
//! HTTP no 5xx. Cases per property: `SWITCHBOARD_FUZZ_CASES` (default 256; the HTTP
//! properties run a quarter of that).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

fn cases() -> u32 {
    std::env::var("SWITCHBOARD_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Text a parser might choke on: anything, plus the syntax of templates, URLs and JSON.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "\\PC{0,40}",
        prop::collection::vec(
            prop_oneof![
                Just("${".to_owned()),
                Just("}".to_owned()),
                Just("$when".to_owned()),
                Just("$data".to_owned()),
                Just("(".to_owned()),
                Just(")".to_owned()),
                Just("'".to_owned()),
                Just("\"".to_owned()),
                Just("[".to_owned()),
                Just("].".to_owned()),
                Just("://".to_owned()),
                Just("*.".to_owned()),
                Just("%".to_owned()),
                Just("%2e".to_owned()),
                Just("/".to_owned()),
                Just("?".to_owned()),
                Just("#".to_owned()),
                Just("@".to_owned()),
                Just(":".to_owned()),
                Just("..".to_owned()),
                Just("\u{202E}".to_owned()),
                Just("\u{0}".to_owned()),
                Just("9999999999999999999999".to_owned()),
                Just("-1".to_owned()),
                Just("1e308".to_owned()),
                "[a-z]{1,8}",
                "[0-9]{1,5}",
            ],
            0..12
        )
        .prop_map(|parts| parts.concat()),
    ]
}

/// Arbitrary JSON values, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(text(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every JSON pointer in `doc`.
fn pointers(doc: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match doc {
        Value::Object(map) => {
            for (k, v) in map {
                let key = k.replace('~', "~0").replace('/', "~1");
                pointers(v, format!("{at}/{key}"), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                pointers(v, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// A valid document with some of its values replaced (or removed) at random.
fn mutated(doc: Value) -> impl Strategy<Value = Value> {
    let mut all = Vec::new();
    pointers(&doc, String::new(), &mut all);
    prop::collection::vec(
        (any::<prop::sample::Index>(), json_value(), any::<bool>()),
        1..4,
    )
    .prop_map(move |edits| {
        let mut doc = doc.clone();
        for (index, value, remove) in edits {
            let pointer = index.get(&all);
            if remove
                && let Some((parent, key)) = pointer.rsplit_once('/')
                && let Some(Value::Object(map)) = doc.pointer_mut(parent)
            {
                map.remove(&key.replace("~1", "/").replace("~0", "~"));
                continue;
            }
            if let Some(slot) = doc.pointer_mut(pointer) {
                *slot = value;
            }
        }
        doc
    })
}

fn json_input(valid: Value) -> impl Strategy<Value = Value> {
    prop_oneof![3 => mutated(valid), 1 => json_value()]
}

fn run<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    runner(cases)
        .run(&strategy, test)
        .unwrap_or_else(|e| panic!("{e}"));
}

const SUPPORT_WORKFLOW: &str = include_str!("../workflows/support.json");
const DEMO_TENANT_FILE: &str = include_str!("../../demo/tenant.json");

#[test]
fn card_templates_and_their_expressions_never_panic() {
    let card: Value =
        serde_json::from_str(include_str!("../../cards/im-invitation.json")).expect("card");
    let sample: Value =
        serde_json::from_str(include_str!("../../cards/samples/im-invitation.json"))
            .expect("sample");
    let template = prop_oneof![
        json_input(card),
        text().prop_map(|t| json!({"type": "AdaptiveCard", "version": "1.5",
            "body": [{"type": "TextBlock", "text": format!("${{{t}}}")},
                     {"type": "TextBlock", "$when": format!("${{{t}}}"), "text": t}]})),
    ];
    run(
        cases(),
        (template, json_input(sample)),
        |(template, data)| {
            if let Ok(parsed) = switchboard::cards::Template::parse(&template) {
                let _ = parsed.expand(&data, Some(&data));
            }
            Ok(())
        },
    );
}

#[test]
fn workflow_documents_never_panic() {
    let workflow: Value = serde_json::from_str(SUPPORT_WORKFLOW).expect("workflow");
    run(cases(), json_input(workflow), |doc| {
        for channel in [
            None,
            switchboard::workflow::Channel::parse("interact"),
            switchboard::workflow::Channel::parse("whatsapp"),
        ] {
            let _ = switchboard::workflow::check(&doc, channel);
        }
        Ok(())
    });
}

#[test]
fn tenant_files_never_panic() {
    let file: Value = serde_json::from_str(DEMO_TENANT_FILE).expect("tenant file");
    let input = prop_oneof![
        3 => json_input(file).prop_map(|v| v.to_string()),
        1 => text(),
        1 => Just("[".repeat(100_000)),
    ];
    run(cases(), input, |text| {
        let _ = switchboard::tenant_file::Bundle::parse(&text);
        Ok(())
    });
}

#[test]
fn configuration_values_never_panic() {
    const KEYS: &[&str] = &[
        "SWITCHBOARD_SERVER__BIND",
        "SWITCHBOARD_SERVER__PUBLIC_URL",
        "SWITCHBOARD_SERVER__HEADER_READ_TIMEOUT_SECS",
        "SWITCHBOARD_SERVER__MAX_CONNECTIONS",
        "SWITCHBOARD_SERVER__TRUSTED_PROXIES",
        "SWITCHBOARD_BOT__APP_ID",
        "SWITCHBOARD_BOT__APP_TYPE",
        "SWITCHBOARD_BOT__ALLOWED_SERVICE_URLS",
        "SWITCHBOARD_BOT__ALLOWED_TENANTS",
        "SWITCHBOARD_BOT__TOKEN_URL",
        "SWITCHBOARD_BOT__CHATROOM",
        "SWITCHBOARD_GRAPH__TOKEN_URL",
        "SWITCHBOARD_OUTBOX__RETRY_BASE_MS",
        "SWITCHBOARD_INTERACT__INACTIVITY_SECS",
        "SWITCHBOARD_INTERACT__UPLOAD_MAX_BYTES",
        "SWITCHBOARD_INTERACT__FILE_LINK_HOURS",
        "SWITCHBOARD_INTERACT__FILE_TYPES",
        "SWITCHBOARD_PREFERENCES__SESSION_HOURS",
        "SWITCHBOARD_REPORTING__TRANSCRIPT_RETENTION_DAYS",
        "SWITCHBOARD_LOG__FORMAT",
        "SWITCHBOARD_METRICS__TOKEN",
        "MicrosoftAppId",
        "MicrosoftAppType",
    ];
    let env = prop::collection::vec((prop::sample::select(KEYS), text()), 0..6);
    run(cases(), env, |pairs| {
        let env: HashMap<String, String> =
            pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let _ = switchboard::config::Settings::load(None, &env);
        Ok(())
    });
}

#[test]
fn header_origin_url_and_network_parsers_never_panic() {
    use switchboard::botframework::retry::parse_retry_after;
    use switchboard::botframework::service_url::ServiceUrl;
    use switchboard::config::{Network, ServiceUrlAllowList};
    use switchboard::interact::origin;
    use switchboard::interact::validate::{CustomerEmail, DisplayName, MessageText};
    use switchboard::workflow::fill;

    let input = (text(), text(), prop::collection::vec(text(), 0..3));
    run(cases() * 4, input, |(a, b, list)| {
        let _ = parse_retry_after(&a, SystemTime::now());
        let _ = origin::DomainTemplate::parse(&a);
        let _ = origin::allowed(true, &list, Some(&b));
        let _ = ServiceUrl::parse(&a);
        let _ = ServiceUrlAllowList::parse(&list);
        let _ = Network::parse(&a);
        let _ = DisplayName::parse(&a);
        let _ = CustomerEmail::parse(&a);
        let _ = MessageText::parse(&a);
        let value = |_: &str| Some(b.as_str());
        if let Ok(filled) = fill::url(&a, value) {
            // What a placeholder filled is never the host.
            if !fill::url_has_host_placeholder(&a)
                && let (Ok(template), Ok(url)) = (
                    url::Url::parse(&fill::text(&a, |_| Some("x"))),
                    url::Url::parse(&filled),
                )
                // SendHttpRequest sends http(s) only; other schemes' URLs parse differently.
                && matches!(template.scheme(), "http" | "https")
            {
                prop_assert_eq!(template.host_str(), url.host_str(), "{} / {}", a, b);
            }
        }
        let body = fill::body(&a, fill::BodyKind::Json, value);
        if serde_json::from_str::<Value>(&fill::body(&a, fill::BodyKind::Json, |_| Some("x")))
            .is_ok()
        {
            // A template that is JSON with plain values stays JSON with any value.
            prop_assert!(
                serde_json::from_str::<Value>(&body).is_ok(),
                "{} / {}",
                a,
                b
            );
        }
        prop_assert!(!fill::header(&a, value).contains(['\r', '\n']) || a.contains(['\r', '\n']));
        Ok(())
    });
}

#[test]
fn activity_json_never_panics() {
    use switchboard::botframework::activity::{Activity, InboundActivity};
    let valid = json!({
        "type": "message", "id": "1", "timestamp": "2026-11-21T10:00:00.000Z",
        "serviceUrl": "https://smba.trafficmanager.net/teams/", "channelId": "msteams",
        "from": {"id": "29:1", "name": "A", "aadObjectId": "00000000-0000-0000-0000-000000000020"},
        "conversation": {"conversationType": "personal", "tenantId": "t", "id": "a:1"},
        "recipient": {"id": "28:b", "name": "Switchboard"}, "text": "hello",
        "value": {"action": {"verb": "im.invitation.accept", "data": {"invitation": "x"}}},
        "channelData": {"tenant": {"id": "t"}}
    });
    run(cases(), json_input(valid), |doc| {
        let bytes = serde_json::to_vec(&doc).expect("bytes");
        if let Ok(activity) = serde_json::from_slice::<Activity>(&bytes) {
            let _ = InboundActivity::validate(activity);
        }
        Ok(())
    });
}

/// Arbitrary bodies to the endpoints anyone can reach, on a running service: never a 5xx.
#[test]
fn the_public_endpoints_answer_arbitrary_input_without_a_5xx() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // Behind a "proxy" on loopback every case is its own client, so rate limits do not hide
    // the parsers behind 429s.
    let app = rt.block_on(crate::helpers::spawn_app_with(
        crate::helpers::TestConfig::anonymous()
            .env("SWITCHBOARD_SERVER__TRUSTED_PROXIES", "127.0.0.0/8"),
    ));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let base = app.address.clone();
    let created: Value = rt.block_on(async {
        client
            .post(format!("{base}/api/interact/v1/contacts/demo/sessions"))
            .json(&json!({"widgetKey": "demo", "displayName": "Ada", "email": "ada@example.com", "privacyConsent": true}))
            .send()
            .await
            .expect("create")
            .json()
            .await
            .expect("json")
    });
    let session = created["sessionId"].as_str().expect("session").to_owned();
    let token = created["token"].as_str().expect("token").to_owned();
    let activity = app.activity();
    let start = json!({"widgetKey": "demo", "displayName": "Ada", "email": "ada@example.com",
        "privacyConsent": true, "message": "hi"});
    let message = json!({"text": "hi", "clientMessageId": "m1"});
    let body = prop_oneof![
        4 => (0..3usize).prop_flat_map(move |i| {
            let valid = [&activity, &start, &message][i].clone();
            (Just(i), json_input(valid).prop_map(|v| v.to_string().into_bytes()))
        }),
        1 => (0..3usize, prop::collection::vec(any::<u8>(), 0..512)),
    ];
    run(
        (cases() / 4).max(16),
        (body, 1..=250u8, text()),
        |((target, bytes), last_octet, junk)| {
            let forwarded = format!("203.0.113.{last_octet}");
            let (status, path) = rt.block_on(async {
                let (path, auth) = match target {
                    0 => ("/api/messages".to_owned(), None),
                    1 => ("/api/interact/v1/contacts/demo/sessions".to_owned(), None),
                    _ => (
                        format!("/api/interact/v1/sessions/{session}/messages"),
                        Some(format!("Bearer {token}")),
                    ),
                };
                let mut request = client
                    .post(format!("{base}{path}"))
                    .header("content-type", "application/json")
                    .header("x-forwarded-for", &forwarded)
                    .header(
                        "origin",
                        junk.chars()
                            .filter(|c| c.is_ascii_graphic())
                            .collect::<String>(),
                    )
                    .body(bytes);
                if let Some(auth) = auth {
                    request = request.header("authorization", auth);
                }
                let status = request
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                (status, path)
            });
            prop_assert!((200..500).contains(&status), "{} answered {}", path, status);
            Ok(())
        },
    );
    let healthy = rt.block_on(async {
        client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    assert_eq!(healthy.ok(), Some(200));
    drop(app);
    rt.shutdown_timeout(Duration::from_secs(5));
}
