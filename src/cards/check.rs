//! Teams limits for an expanded card (reference §4.2–4.3): version at most 1.5, every
//! `Action.Execute` has a verb (and needs 1.4+), the payload stays well under the 100 KB
//! message limit, and no `${…}` is left over.

use serde_json::Value;

/// Highest Adaptive Card version Teams renders for bot messages.
pub const MAX_VERSION: (u32, u32) = (1, 5);
/// Budget for a card's compact JSON: 28 KB, the limit of webhooks and message extensions, so
/// the same cards work there too and stay far below the 100 KB (UTF-16) bot-message limit.
pub const MAX_PAYLOAD_BYTES: usize = 28_000;

/// One problem found in a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub code: &'static str,
    /// JSON pointer of the offending value.
    pub path: String,
    pub message: String,
}

/// Every finding for an expanded card.
pub fn teams_findings(card: &Value) -> Vec<Finding> {
    let mut findings = Vec::new();
    if card.get("type").and_then(Value::as_str) != Some("AdaptiveCard") {
        findings.push(finding(
            "not_an_adaptive_card",
            "/type",
            "the root type must be AdaptiveCard",
        ));
    }
    let version = card
        .get("version")
        .and_then(Value::as_str)
        .and_then(parse_version);
    match version {
        None => findings.push(finding(
            "version_missing",
            "/version",
            "the card needs a version such as \"1.5\"",
        )),
        Some(v) if v > MAX_VERSION => findings.push(finding(
            "version_above_teams_limit",
            "/version",
            "Teams renders Adaptive Cards up to version 1.5",
        )),
        Some(_) => {}
    }
    walk(card, "", version, &mut findings);
    let size = serde_json::to_string(card).map_or(0, |s| s.len());
    if size > MAX_PAYLOAD_BYTES {
        findings.push(finding(
            "payload_too_large",
            "",
            &format!("the card is {size} bytes; keep it under {MAX_PAYLOAD_BYTES}"),
        ));
    }
    findings
}

fn finding(code: &'static str, path: &str, message: &str) -> Finding {
    Finding {
        code,
        path: path.to_owned(),
        message: message.to_owned(),
    }
}

fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (major, minor) = v.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

fn walk(value: &Value, path: &str, version: Option<(u32, u32)>, findings: &mut Vec<Finding>) {
    match value {
        Value::Object(map) => {
            if map.get("type").and_then(Value::as_str) == Some("Action.Execute") {
                if map
                    .get("verb")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    findings.push(finding(
                        "action_execute_missing_verb",
                        path,
                        "Action.Execute needs a verb",
                    ));
                }
                if version.is_some_and(|v| v < (1, 4)) {
                    findings.push(finding(
                        "action_execute_needs_1_4",
                        path,
                        "Action.Execute needs card version 1.4 or later",
                    ));
                }
            }
            for (k, v) in map {
                walk(
                    v,
                    &format!("{path}/{}", k.replace('~', "~0").replace('/', "~1")),
                    version,
                    findings,
                );
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                walk(v, &format!("{path}/{i}"), version, findings);
            }
        }
        Value::String(s) if s.contains("${") => {
            findings.push(finding(
                "leftover_expression",
                path,
                "a ${…} was left over: data is missing",
            ));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_card_within_the_limits_has_no_findings() {
        let card = json!({"type": "AdaptiveCard", "version": "1.5", "body": [],
            "actions": [{"type": "Action.Execute", "verb": "go", "title": "Go"}]});
        assert!(teams_findings(&card).is_empty());
    }

    #[test]
    fn each_limit_is_reported_with_its_path() {
        let card = json!({"type": "AdaptiveCard", "version": "1.6", "body": [{"type": "TextBlock", "text": "${x}"}],
            "actions": [{"type": "Action.Execute", "title": "Go"}]});
        let codes: Vec<(&str, String)> = teams_findings(&card)
            .into_iter()
            .map(|f| (f.code, f.path))
            .collect();
        assert_eq!(
            codes,
            vec![
                ("version_above_teams_limit", "/version".to_owned()),
                ("leftover_expression", "/body/0/text".to_owned()),
                ("action_execute_missing_verb", "/actions/0".to_owned()),
            ]
        );
        let big = json!({"type": "AdaptiveCard", "version": "1.3", "body": [{"type": "TextBlock", "text": "x".repeat(30_000)}],
            "actions": [{"type": "Action.Execute", "verb": "v"}]});
        let codes: Vec<&str> = teams_findings(&big).into_iter().map(|f| f.code).collect();
        assert_eq!(codes, vec!["action_execute_needs_1_4", "payload_too_large"]);
    }
}
