//! Every case of the reference corpus (`tests/cards/corpus`) either expands exactly as
//! Microsoft's `adaptivecards-templating` did, or is a documented deviation.

use std::path::Path;

use serde_json::{Value, json};
use switchboard::cards::Template;

/// The reference corpus, then the extra cases whose expected outputs were produced with the
/// same reference (`tests/cards/reference/expand.js`).
const DIRS: &[&str] = &["tests/cards/corpus", "tests/cards/extra"];

/// Deliberate deviations (see `src/cards/mod.rs`): the case name and what Switchboard renders.
fn deviation(name: &str) -> Option<Value> {
    match name {
        // A null inside a longer string adds no text instead of failing the whole card.
        "invitation_null_in_interpolation_error" => Some(json!({
            "type": "AdaptiveCard", "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "version": "1.5",
            "body": [{"type": "TextBlock", "text": "Null Email <>"}],
            "actions": [{"type": "Action.Execute", "title": "Accept", "verb": "accept", "data": {"id": "inv-9"}}]
        })),
        "null_literal_error" => Some(json!({
            "type": "AdaptiveCard", "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "version": "1.5", "body": [{"type": "TextBlock", "text": ""}]
        })),
        _ => None,
    }
}

/// JSON equality with numbers compared as doubles (the reference prints JavaScript numbers).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// Expands a case as the reference harness does: `expand({$root: data, $host: host})`.
fn run(case: &Value) -> Result<Value, (String, String)> {
    let template =
        Template::parse(&case["template"]).map_err(|e| ("parse".to_owned(), e.to_string()))?;
    let now = chrono::DateTime::parse_from_rfc3339("2024-05-17T12:00:00Z")
        .expect("time")
        .into();
    let expanded = template
        .expand_at(&case["data"], case.get("host"), now)
        .map_err(|e| ("expand".to_owned(), e.to_string()))?;
    Ok(expanded.unwrap_or(Value::Null))
}

fn cases(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("case folder")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| {
            n.ends_with(".json") && !n.ends_with(".expected.json") && !n.ends_with(".error.json")
        })
        .map(|n| n.trim_end_matches(".json").to_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn every_corpus_case_matches_the_reference_or_is_a_documented_deviation() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut failures = Vec::new();
    let mut total = 0;
    for dir in DIRS.iter().map(|d| root.join(d)) {
        let names = cases(&dir);
        total += names.len();
        failures.extend(check_cases(&dir, &names));
    }
    assert!(total >= 89, "only {total} cases");
    assert!(
        failures.is_empty(),
        "{} of {total} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn check_cases(dir: &Path, names: &[String]) -> Vec<String> {
    let mut failures = Vec::new();
    for name in names {
        let read = |suffix: &str| -> Option<Value> {
            let text = std::fs::read_to_string(dir.join(format!("{name}{suffix}"))).ok()?;
            Some(serde_json::from_str(&text).expect("case JSON"))
        };
        let case = read(".json").expect("case");
        let actual = run(&case);
        let outcome = match (deviation(name), read(".expected.json"), read(".error.json")) {
            (Some(ours), _, _) => match &actual {
                Ok(v) if same(v, &ours) => None,
                other => Some(format!("deviation changed: {other:?}")),
            },
            (None, Some(expected), _) => match &actual {
                Ok(v) if same(v, &expected) => None,
                Ok(v) => Some(format!("expected {expected}\n   got {v}")),
                Err((phase, e)) => Some(format!("failed in {phase}: {e}")),
            },
            (None, None, Some(error)) => match &actual {
                Err((phase, _)) if phase == error["phase"].as_str().unwrap_or_default() => None,
                Err((phase, e)) => Some(format!(
                    "failed in {phase} ({e}), reference in {}",
                    error["phase"]
                )),
                Ok(v) => Some(format!("expected a {} error, got {v}", error["phase"])),
            },
            (None, None, None) => Some("no expected output".into()),
        };
        if let Some(problem) = outcome {
            failures.push(format!("{name}: {problem}"));
        }
    }
    failures
}
