//! The fields of each activity: parameter names, templated texts (`${name}` placeholders),
//! patterns and URLs, each problem with its JSON path. The workflow's structure is
//! [`super`]'s business.

use std::collections::BTreeSet;

use super::activity_path;
use crate::workflow::Finding;
use crate::workflow::model::{Kind, Operator};

fn parameter_name_ok(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

fn parameter(path: String, name: &str, problems: &mut Vec<Finding>) {
    if !parameter_name_ok(name) {
        problems.push(Finding::new(path, "invalid_parameter_name", format!("{name:?} is not a parameter name (letters, digits, '_' and '.', not starting with a digit)")));
    }
}

/// Checks the `${name}` placeholders of a templated text.
pub fn placeholders(path: String, text: &str, problems: &mut Vec<Finding>) {
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            problems.push(Finding::new(
                path,
                "invalid_placeholder",
                "a '${' is not closed by '}'",
            ));
            return;
        };
        let name = after[..end].trim();
        if !parameter_name_ok(name) {
            problems.push(Finding::new(
                path.clone(),
                "invalid_placeholder",
                format!("${{{name}}} does not name a parameter"),
            ));
        }
        rest = &after[end + 1..];
    }
}

pub(super) fn fields(id: &str, kind: &Kind, problems: &mut Vec<Finding>) {
    let at = |field: &str| format!("{}/{field}", activity_path(id));
    match kind {
        Kind::Message { text } => placeholders(at("text"), text, problems),
        Kind::Disconnect { text: Some(text) } => placeholders(at("text"), text, problems),
        Kind::CollectInformation { parameters, .. } => {
            if parameters.is_empty() {
                problems.push(Finding::new(
                    at("parameters"),
                    "missing_field",
                    "name at least one parameter to collect",
                ));
            }
            for (i, p) in parameters.iter().enumerate() {
                parameter(format!("{}/{i}", at("parameters")), p, problems);
            }
        }
        Kind::InputCustomer {
            prompt,
            parameter: name,
            choices,
            pattern,
            ..
        } => {
            placeholders(at("prompt"), prompt, problems);
            parameter(at("parameter"), name, problems);
            let mut seen = BTreeSet::new();
            for (i, choice) in choices.iter().enumerate() {
                if choice.is_empty()
                    || choice == "other"
                    || choice == "timeout"
                    || !seen.insert(choice)
                {
                    problems.push(Finding::new(
                        format!("{}/{i}", at("choices")),
                        "invalid_choice",
                        format!("choice {choice:?} is empty, repeated, or a reserved exit name"),
                    ));
                }
            }
            if let Some(p) = pattern
                && let Err(e) = regex::Regex::new(p)
            {
                problems.push(Finding::new(
                    at("pattern"),
                    "invalid_pattern",
                    format!("not a regular expression: {e}"),
                ));
            }
        }
        Kind::SaveToParameter {
            parameter: name,
            value,
        } => {
            parameter(at("parameter"), name, problems);
            placeholders(at("value"), value, problems);
        }
        Kind::Transfer { service } if service.trim().is_empty() => {
            problems.push(Finding::new(
                at("service"),
                "missing_field",
                "name the service to transfer to",
            ));
        }
        Kind::GetAvailableUsers { parameter: name }
        | Kind::GetQueuePosition { parameter: name } => {
            parameter(at("parameter"), name, problems);
        }
        Kind::CheckParameter { conditions } => {
            if conditions.is_empty() {
                problems.push(Finding::new(
                    at("conditions"),
                    "missing_field",
                    "add at least one condition",
                ));
            }
            for (i, c) in conditions.iter().enumerate() {
                let here = format!("{}/{i}", at("conditions"));
                parameter(format!("{here}/parameter"), &c.parameter, problems);
                if c.exit.is_empty() || c.exit == "default" {
                    problems.push(Finding::new(
                        format!("{here}/exit"),
                        "invalid_exit",
                        "a condition needs its own exit name (not 'default')",
                    ));
                }
                let value = c.value.as_deref().unwrap_or_default();
                match c.operator {
                    Operator::Regex => {
                        if let Err(e) = regex::Regex::new(value) {
                            problems.push(Finding::new(
                                format!("{here}/value"),
                                "invalid_pattern",
                                format!("not a regular expression: {e}"),
                            ));
                        }
                    }
                    Operator::GreaterThan | Operator::LessThan
                        if value.trim().parse::<f64>().is_err() =>
                    {
                        problems.push(Finding::new(
                            format!("{here}/value"),
                            "invalid_value",
                            "greaterThan and lessThan compare with a number",
                        ));
                    }
                    _ => placeholders(format!("{here}/value"), value, problems),
                }
            }
        }
        Kind::SendHttpRequest {
            method,
            url,
            headers,
            body,
            save_to,
            ..
        } => {
            if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
                problems.push(Finding::new(
                    at("method"),
                    "invalid_value",
                    format!("method {method} is not GET, POST, PUT, PATCH or DELETE"),
                ));
            }
            placeholders(at("url"), url, problems);
            if crate::workflow::fill::url_has_host_placeholder(url) {
                problems.push(Finding::new(
                    at("url"),
                    "placeholder_in_host",
                    "a placeholder may not stand in the URL's scheme or host: parameters can \
                     hold what a customer typed",
                ));
            }
            let probe = crate::workflow::fill::text(url, |_| Some("x"));
            match url::Url::parse(&probe) {
                Ok(u) if u.scheme() == "https" || u.scheme() == "http" => {}
                _ => problems.push(Finding::new(
                    at("url"),
                    "invalid_url",
                    "url must be an absolute http(s) URL",
                )),
            }
            for (name, value) in headers {
                placeholders(format!("{}/{name}", at("headers")), value, problems);
            }
            if let Some(body) = body {
                placeholders(at("body"), body, problems);
            }
            for (name, pointer) in save_to {
                parameter(format!("{}/{name}", at("saveTo")), name, problems);
                if !pointer.is_empty() && !pointer.starts_with('/') {
                    problems.push(Finding::new(
                        format!("{}/{name}", at("saveTo")),
                        "invalid_pointer",
                        "a JSON pointer is empty or starts with '/'",
                    ));
                }
            }
        }
        _ => {}
    }
}
