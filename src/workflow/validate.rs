//! Validation of a parsed workflow: structure (start, exits, Accept first, reachability, no
//! loop that never waits), parameters and templated texts, patterns and URLs, and the
//! supported-activity matrix of a channel.

use std::collections::{BTreeSet, HashMap, VecDeque};

use super::model::{Kind, Workflow};
use super::{Channel, Finding};

mod fields;
use fields::fields;

fn activity_path(id: &str) -> String {
    format!("/activities/{}", id.replace('~', "~0").replace('/', "~1"))
}

/// Every problem of the workflow; empty when it is valid (for `channel`, when given).
pub fn validate(workflow: &Workflow, channel: Option<Channel>) -> Vec<Finding> {
    let mut problems = Vec::new();
    structure(workflow, &mut problems);
    for (id, activity) in &workflow.activities {
        fields(id, &activity.kind, &mut problems);
    }
    if let Some(channel) = channel {
        for (id, type_name) in unsupported_activities(workflow, channel) {
            problems.push(Finding::new(
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
pub fn unknown_transfer_targets(workflow: &Workflow, services: &ServiceNames) -> Vec<Finding> {
    workflow
        .activities
        .iter()
        .filter_map(|(id, a)| match &a.kind {
            Kind::Transfer { service }
                if !service.trim().is_empty() && !services.knows(service) =>
            {
                Some(Finding::new(
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

fn structure(workflow: &Workflow, problems: &mut Vec<Finding>) {
    match workflow.activity(&workflow.start) {
        None => problems.push(Finding::new(
            "/start",
            "unknown_activity",
            format!("start activity {:?} does not exist", workflow.start),
        )),
        Some(a) if !matches!(a.kind, Kind::Accept) => problems.push(Finding::new(
            "/start",
            "accept_first",
            "the workflow must start with an Accept activity",
        )),
        Some(_) => {}
    }
    for (id, activity) in &workflow.activities {
        let path = activity_path(id);
        if matches!(activity.kind, Kind::Accept) && *id != workflow.start {
            problems.push(Finding::new(
                format!("{path}/type"),
                "accept_first",
                "Accept may only be the start activity",
            ));
        }
        match activity.kind.exits() {
            None => {
                if !activity.exits.is_empty() {
                    problems.push(Finding::new(
                        format!("{path}/exits"),
                        "unexpected_exits",
                        format!(
                            "{} continues with 'next', not 'exits'",
                            activity.kind.type_name()
                        ),
                    ));
                }
                if activity.next.is_none() {
                    problems.push(Finding::new(
                        format!("{path}/next"),
                        "missing_next",
                        format!("{} needs 'next'", activity.kind.type_name()),
                    ));
                }
            }
            Some(expected) => {
                if activity.next.is_some() && !matches!(activity.kind, Kind::Unsupported { .. }) {
                    problems.push(Finding::new(
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
                            problems.push(Finding::new(
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
                            problems.push(Finding::new(
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
            problems.push(Finding::new(
                format!("{path}/next"),
                "unknown_activity",
                format!("activity {next:?} does not exist"),
            ));
        }
        for (exit, target) in &activity.exits {
            if workflow.activity(target).is_none() {
                problems.push(Finding::new(
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

fn reachability(workflow: &Workflow, problems: &mut Vec<Finding>) {
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
            problems.push(Finding::new(
                activity_path(id),
                "unreachable",
                format!("activity {id:?} can never be reached from the start"),
            ));
        }
    }
}

/// A cycle made only of activities that do not wait would spin forever.
fn busy_loops(workflow: &Workflow, problems: &mut Vec<Finding>) {
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
                            problems.push(Finding::new(
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
