//! Validation of a parsed workflow: structure (start, exits, Accept first, reachability, no
//! loop that never waits), parameters and templated texts, patterns and URLs, and the
//! supported-activity matrix of a channel.

use std::collections::{BTreeSet, HashMap, VecDeque};

use super::model::{Kind, Operator, Workflow};
use super::{Channel, Problem};

fn activity_path(id: &str) -> String {
    format!("/activities/{}", id.replace('~', "~0").replace('/', "~1"))
}

/// Every problem of the workflow; empty when it is valid (for `channel`, when given).
pub fn validate(workflow: &Workflow, channel: Option<Channel>) -> Vec<Problem> {
    let mut problems = Vec::new();
    structure(workflow, &mut problems);
    for (id, activity) in &workflow.activities {
        fields(id, &activity.kind, &mut problems);
    }
    if let Some(channel) = channel {
        for (id, type_name) in unsupported_activities(workflow, channel) {
            problems.push(Problem::new(
                format!("{}/type", activity_path(&id)),
                "unsupported_activity",
                format!(
                    "{type_name} is not supported for {} instant messages",
                    channel.name()
                ),
            ));
        }
    }
    problems
}

/// `(activity id, type)` of every activity `channel` cannot run.
pub fn unsupported_activities(workflow: &Workflow, channel: Channel) -> Vec<(String, String)> {
    workflow
        .activities
        .iter()
        .filter(|(_, a)| !channel.supports(&a.kind))
        .map(|(id, a)| (id.clone(), a.kind.type_name().to_owned()))
        .collect()
}

/// The services a tenant has, as a `Transfer` names them: by id, or by name in any (ASCII)
/// case — the way the engine resolves the target.
#[derive(Debug, Clone, Default)]
pub struct ServiceNames {
    ids: BTreeSet<String>,
    /// Lower-cased.
    names: BTreeSet<String>,
}

impl ServiceNames {
    /// From `(id, name)` pairs.
    pub fn new<'a>(services: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut names = ServiceNames::default();
        for (id, name) in services {
            names.add(id, name);
        }
        names
    }

    /// From service documents as JSON (a tenant file's, or stored ones).
    pub fn from_documents<'a>(docs: impl IntoIterator<Item = &'a serde_json::Value>) -> Self {
        ServiceNames::new(docs.into_iter().filter_map(|s| {
            let id = s.get("id")?.as_str()?;
            Some((id, s.get("name").and_then(|n| n.as_str()).unwrap_or(id)))
        }))
    }

    /// Adds one service.
    pub fn add(&mut self, id: &str, name: &str) {
        self.ids.insert(id.to_owned());
        self.names.insert(name.to_ascii_lowercase());
    }

    /// Whether a `Transfer` to `target` reaches a service.
    pub fn knows(&self, target: &str) -> bool {
        self.ids.contains(target) || self.names.contains(&target.to_ascii_lowercase())
    }
}

/// A problem for every `Transfer` whose service is not one of `services`: such a transfer
/// could only fail at run time.
pub fn unknown_transfer_targets(workflow: &Workflow, services: &ServiceNames) -> Vec<Problem> {
    workflow
        .activities
        .iter()
        .filter_map(|(id, a)| match &a.kind {
            Kind::Transfer { service }
                if !service.trim().is_empty() && !services.knows(service) =>
            {
                Some(Problem::new(
                    format!("{}/service", activity_path(id)),
                    "unknown_service",
                    format!("there is no service {service:?} to transfer to"),
                ))
            }
            _ => None,
        })
        .collect()
}

/// The activities an activity continues to.
fn targets(workflow: &Workflow, id: &str) -> Vec<String> {
    workflow
        .activity(id)
        .map(|a| a.next.iter().chain(a.exits.values()).cloned().collect())
        .unwrap_or_default()
}

fn structure(workflow: &Workflow, problems: &mut Vec<Problem>) {
    match workflow.activity(&workflow.start) {
        None => problems.push(Problem::new(
            "/start",
            "unknown_activity",
            format!("start activity {:?} does not exist", workflow.start),
        )),
        Some(a) if !matches!(a.kind, Kind::Accept) => problems.push(Problem::new(
            "/start",
            "accept_first",
            "the workflow must start with an Accept activity",
        )),
        Some(_) => {}
    }
    for (id, activity) in &workflow.activities {
        let path = activity_path(id);
        if matches!(activity.kind, Kind::Accept) && *id != workflow.start {
            problems.push(Problem::new(
                format!("{path}/type"),
                "accept_first",
                "Accept may only be the start activity",
            ));
        }
        match activity.kind.exits() {
            None => {
                if !activity.exits.is_empty() {
                    problems.push(Problem::new(
                        format!("{path}/exits"),
                        "unexpected_exits",
                        format!(
                            "{} continues with 'next', not 'exits'",
                            activity.kind.type_name()
                        ),
                    ));
                }
                if activity.next.is_none() {
                    problems.push(Problem::new(
                        format!("{path}/next"),
                        "missing_next",
                        format!("{} needs 'next'", activity.kind.type_name()),
                    ));
                }
            }
            Some(expected) => {
                if activity.next.is_some() && !matches!(activity.kind, Kind::Unsupported { .. }) {
                    problems.push(Problem::new(
                        format!("{path}/next"),
                        "unexpected_next",
                        format!(
                            "{} branches with 'exits', not 'next'",
                            activity.kind.type_name()
                        ),
                    ));
                }
                if !matches!(activity.kind, Kind::Unsupported { .. }) {
                    for exit in &expected {
                        if !activity.exits.contains_key(exit) {
                            problems.push(Problem::new(
                                format!("{path}/exits/{exit}"),
                                "missing_exit",
                                format!(
                                    "exit '{exit}' of {} is not connected",
                                    activity.kind.type_name()
                                ),
                            ));
                        }
                    }
                    for exit in activity.exits.keys() {
                        if !expected.contains(exit) {
                            problems.push(Problem::new(
                                format!("{path}/exits/{exit}"),
                                "unknown_exit",
                                format!(
                                    "{} has no exit '{exit}' (it has: {})",
                                    activity.kind.type_name(),
                                    expected.join(", ")
                                ),
                            ));
                        }
                    }
                }
            }
        }
        if let Some(next) = &activity.next
            && workflow.activity(next).is_none()
        {
            problems.push(Problem::new(
                format!("{path}/next"),
                "unknown_activity",
                format!("activity {next:?} does not exist"),
            ));
        }
        for (exit, target) in &activity.exits {
            if workflow.activity(target).is_none() {
                problems.push(Problem::new(
                    format!("{path}/exits/{exit}"),
                    "unknown_activity",
                    format!("activity {target:?} does not exist"),
                ));
            }
        }
    }
    reachability(workflow, problems);
    busy_loops(workflow, problems);
}

fn reachability(workflow: &Workflow, problems: &mut Vec<Problem>) {
    if workflow.activity(&workflow.start).is_none() {
        return;
    }
    let mut seen = BTreeSet::from([workflow.start.clone()]);
    let mut queue = VecDeque::from([workflow.start.clone()]);
    while let Some(id) = queue.pop_front() {
        for target in targets(workflow, &id) {
            if workflow.activity(&target).is_some() && seen.insert(target.clone()) {
                queue.push_back(target);
            }
        }
    }
    for (id, _) in &workflow.activities {
        if !seen.contains(id) {
            problems.push(Problem::new(
                activity_path(id),
                "unreachable",
                format!("activity {id:?} can never be reached from the start"),
            ));
        }
    }
}

/// A cycle made only of activities that do not wait would spin forever.
fn busy_loops(workflow: &Workflow, problems: &mut Vec<Problem>) {
    let non_waiting: Vec<&str> = workflow
        .activities
        .iter()
        .filter(|(_, a)| !a.kind.waits())
        .map(|(id, _)| id.as_str())
        .collect();
    // Colour-marking depth-first search on the non-waiting subgraph.
    let mut state: HashMap<&str, u8> = HashMap::new();
    let mut reported = BTreeSet::new();
    for start in &non_waiting {
        let mut stack: Vec<(&str, usize)> = vec![(start, 0)];
        if state.contains_key(start) {
            continue;
        }
        state.insert(start, 1);
        while let Some((node, i)) = stack.pop() {
            let next: Vec<String> = targets(workflow, node)
                .into_iter()
                .filter(|t| non_waiting.contains(&t.as_str()))
                .collect();
            if let Some(target) = next.get(i) {
                stack.push((node, i + 1));
                let target = non_waiting
                    .iter()
                    .find(|n| **n == target.as_str())
                    .copied()
                    .unwrap_or(node);
                match state.get(target) {
                    Some(1) => {
                        // Back edge: the cycle is the part of the stack from `target` on.
                        let from = stack.iter().position(|(n, _)| *n == target).unwrap_or(0);
                        let cycle: Vec<&str> = stack[from..].iter().map(|(n, _)| *n).collect();
                        let key = cycle.iter().copied().collect::<BTreeSet<_>>();
                        if reported.insert(key.into_iter().collect::<Vec<_>>().join(",")) {
                            problems.push(Problem::new(
                                activity_path(target),
                                "loop_without_wait",
                                format!("activities {} form a loop without a Delay, InputCustomer or CollectInformation", cycle.join(" → ")),
                            ));
                        }
                    }
                    Some(_) => {}
                    None => {
                        state.insert(target, 1);
                        stack.push((target, 0));
                    }
                }
            } else {
                state.insert(node, 2);
            }
        }
    }
}

fn parameter_name_ok(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

fn parameter(path: String, name: &str, problems: &mut Vec<Problem>) {
    if !parameter_name_ok(name) {
        problems.push(Problem::new(path, "invalid_parameter_name", format!("{name:?} is not a parameter name (letters, digits, '_' and '.', not starting with a digit)")));
    }
}

/// Checks the `${name}` placeholders of a templated text.
pub fn placeholders(path: String, text: &str, problems: &mut Vec<Problem>) {
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            problems.push(Problem::new(
                path,
                "invalid_placeholder",
                "a '${' is not closed by '}'",
            ));
            return;
        };
        let name = after[..end].trim();
        if !parameter_name_ok(name) {
            problems.push(Problem::new(
                path.clone(),
                "invalid_placeholder",
                format!("${{{name}}} does not name a parameter"),
            ));
        }
        rest = &after[end + 1..];
    }
}

fn fields(id: &str, kind: &Kind, problems: &mut Vec<Problem>) {
    let at = |field: &str| format!("{}/{field}", activity_path(id));
    match kind {
        Kind::Message { text } => placeholders(at("text"), text, problems),
        Kind::Disconnect { text: Some(text) } => placeholders(at("text"), text, problems),
        Kind::CollectInformation { parameters, .. } => {
            if parameters.is_empty() {
                problems.push(Problem::new(
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
                    problems.push(Problem::new(
                        format!("{}/{i}", at("choices")),
                        "invalid_choice",
                        format!("choice {choice:?} is empty, repeated, or a reserved exit name"),
                    ));
                }
            }
            if let Some(p) = pattern
                && let Err(e) = regex::Regex::new(p)
            {
                problems.push(Problem::new(
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
            problems.push(Problem::new(
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
                problems.push(Problem::new(
                    at("conditions"),
                    "missing_field",
                    "add at least one condition",
                ));
            }
            for (i, c) in conditions.iter().enumerate() {
                let here = format!("{}/{i}", at("conditions"));
                parameter(format!("{here}/parameter"), &c.parameter, problems);
                if c.exit.is_empty() || c.exit == "default" {
                    problems.push(Problem::new(
                        format!("{here}/exit"),
                        "invalid_exit",
                        "a condition needs its own exit name (not 'default')",
                    ));
                }
                let value = c.value.as_deref().unwrap_or_default();
                match c.operator {
                    Operator::Regex => {
                        if let Err(e) = regex::Regex::new(value) {
                            problems.push(Problem::new(
                                format!("{here}/value"),
                                "invalid_pattern",
                                format!("not a regular expression: {e}"),
                            ));
                        }
                    }
                    Operator::GreaterThan | Operator::LessThan
                        if value.trim().parse::<f64>().is_err() =>
                    {
                        problems.push(Problem::new(
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
                problems.push(Problem::new(
                    at("method"),
                    "invalid_value",
                    format!("method {method} is not GET, POST, PUT, PATCH or DELETE"),
                ));
            }
            placeholders(at("url"), url, problems);
            if super::fill::url_has_host_placeholder(url) {
                problems.push(Problem::new(
                    at("url"),
                    "placeholder_in_host",
                    "a placeholder may not stand in the URL's scheme or host: parameters can \
                     hold what a customer typed",
                ));
            }
            let probe = super::fill::text(url, |_| Some("x"));
            match url::Url::parse(&probe) {
                Ok(u) if u.scheme() == "https" || u.scheme() == "http" => {}
                _ => problems.push(Problem::new(
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
                    problems.push(Problem::new(
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

#[cfg(test)]
mod tests {
    use super::ServiceNames;

    #[test]
    fn a_transfer_names_a_service_by_exact_id_or_by_name_in_any_case() {
        let services = ServiceNames::new([("support", "Help Desk")]);
        assert!(services.knows("support"));
        assert!(services.knows("help desk") && services.knows("HELP DESK"));
        // Ids are exact, as the engine looks them up.
        assert!(!services.knows("SUPPORT"));
        assert!(!services.knows("billing"));
    }
}
