//! Reading a workflow document: every unknown field, unknown activity type or value of the
//! wrong type is a [`Finding`] with the JSON pointer of where it is. All problems are
//! collected, not just the first.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::Finding;
use super::model::{
    Activity, Condition, Distribution, Kind, Operator, Priority, VOICE_ONLY, Workflow,
};

/// Reads the fields of one JSON object, remembering which were used.
struct Fields<'a> {
    map: &'a Map<String, Value>,
    path: String,
    used: BTreeSet<&'static str>,
}

impl<'a> Fields<'a> {
    fn new(map: &'a Map<String, Value>, path: String) -> Self {
        Fields {
            map,
            path,
            used: BTreeSet::new(),
        }
    }

    fn at(&self, key: &str) -> String {
        format!(
            "{}/{}",
            self.path,
            key.replace('~', "~0").replace('/', "~1")
        )
    }

    fn get(&mut self, key: &'static str) -> Option<&'a Value> {
        self.used.insert(key);
        self.map.get(key)
    }

    fn string(&mut self, key: &'static str, problems: &mut Vec<Finding>) -> Option<String> {
        match self.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                problems.push(Finding::new(
                    self.at(key),
                    "wrong_type",
                    format!("'{key}' must be a string"),
                ));
                None
            }
        }
    }

    fn required(&mut self, key: &'static str, problems: &mut Vec<Finding>) -> String {
        let value = self.string(key, problems);
        if value.is_none() && !self.map.contains_key(key) {
            problems.push(Finding::new(
                self.at(key),
                "missing_field",
                format!("'{key}' is required"),
            ));
        }
        value.unwrap_or_default()
    }

    fn seconds(
        &mut self,
        key: &'static str,
        default: u32,
        max: u32,
        problems: &mut Vec<Finding>,
    ) -> u32 {
        match self.get(key) {
            None | Some(Value::Null) => default,
            Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) if (1..=max).contains(&n) => n,
                _ => {
                    problems.push(Finding::new(
                        self.at(key),
                        "out_of_range",
                        format!("'{key}' must be a whole number of seconds from 1 to {max}"),
                    ));
                    default
                }
            },
        }
    }

    fn strings(&mut self, key: &'static str, problems: &mut Vec<Finding>) -> Vec<String> {
        match self.get(key) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, v)| match v {
                    Value::String(s) => Some(s.clone()),
                    _ => {
                        problems.push(Finding::new(
                            format!("{}/{i}", self.at(key)),
                            "wrong_type",
                            "must be a string",
                        ));
                        None
                    }
                })
                .collect(),
            Some(_) => {
                problems.push(Finding::new(
                    self.at(key),
                    "wrong_type",
                    format!("'{key}' must be a list of strings"),
                ));
                Vec::new()
            }
        }
    }

    fn string_map(
        &mut self,
        key: &'static str,
        problems: &mut Vec<Finding>,
    ) -> BTreeMap<String, String> {
        match self.get(key) {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(map)) => map
                .iter()
                .filter_map(|(k, v)| match v {
                    Value::String(s) => Some((k.clone(), s.clone())),
                    _ => {
                        problems.push(Finding::new(
                            format!("{}/{k}", self.at(key)),
                            "wrong_type",
                            "must be a string",
                        ));
                        None
                    }
                })
                .collect(),
            Some(_) => {
                problems.push(Finding::new(
                    self.at(key),
                    "wrong_type",
                    format!("'{key}' must be an object of strings"),
                ));
                BTreeMap::new()
            }
        }
    }

    /// Reports every field that was not read.
    fn finish(self, problems: &mut Vec<Finding>) {
        for key in self.map.keys() {
            if !self.used.contains(key.as_str()) {
                problems.push(Finding::new(
                    self.at(key),
                    "unknown_field",
                    format!("unknown field '{key}'"),
                ));
            }
        }
    }
}

/// Parses a workflow document. `Err` holds every problem found.
pub fn parse(document: &Value) -> Result<Workflow, Vec<Finding>> {
    let mut problems = Vec::new();
    let Some(map) = document.as_object() else {
        return Err(vec![Finding::new(
            "",
            "wrong_type",
            "a workflow is a JSON object",
        )]);
    };
    let mut top = Fields::new(map, String::new());
    let id = top.required("id", &mut problems);
    let name = top.required("name", &mut problems);
    let start = top.required("start", &mut problems);
    let mut activities = Vec::new();
    match top.get("activities") {
        Some(Value::Object(items)) => {
            for (activity_id, value) in items {
                let path = format!(
                    "/activities/{}",
                    activity_id.replace('~', "~0").replace('/', "~1")
                );
                if let Some(activity) = parse_activity(value, path, &mut problems) {
                    activities.push((activity_id.clone(), activity));
                }
            }
        }
        Some(_) => problems.push(Finding::new(
            "/activities",
            "wrong_type",
            "'activities' must be an object",
        )),
        None => problems.push(Finding::new(
            "/activities",
            "missing_field",
            "'activities' is required",
        )),
    }
    top.finish(&mut problems);
    if problems.is_empty() {
        Ok(Workflow {
            id,
            name,
            start,
            activities,
        })
    } else {
        Err(problems)
    }
}

fn parse_activity(value: &Value, path: String, problems: &mut Vec<Finding>) -> Option<Activity> {
    let Some(map) = value.as_object() else {
        problems.push(Finding::new(
            path,
            "wrong_type",
            "an activity is a JSON object",
        ));
        return None;
    };
    let mut f = Fields::new(map, path.clone());
    let type_name = f.required("type", problems);
    let next = f.string("next", problems);
    let exits = f.string_map("exits", problems);
    let kind = match type_name.as_str() {
        "Accept" => Kind::Accept,
        "Message" => Kind::Message {
            text: f.required("text", problems),
        },
        "CollectInformation" => Kind::CollectInformation {
            parameters: f.strings("parameters", problems),
            timeout_seconds: f.seconds("timeoutSeconds", 30, 86_400, problems),
        },
        "Disconnect" => Kind::Disconnect {
            text: f.string("text", problems),
        },
        "InputCustomer" => Kind::InputCustomer {
            prompt: f.required("prompt", problems),
            parameter: f.required("parameter", problems),
            choices: f.strings("choices", problems),
            pattern: f.string("pattern", problems),
            timeout_seconds: f.seconds("timeoutSeconds", 120, 86_400, problems),
        },
        "SaveToParameter" => Kind::SaveToParameter {
            parameter: f.required("parameter", problems),
            value: f.required("value", problems),
        },
        "Transfer" => Kind::Transfer {
            service: f.required("service", problems),
        },
        "Delay" => Kind::Delay {
            seconds: f.seconds("seconds", 0, 86_400, problems).max(1),
        },
        "AvailabilityBasedRouting" => Kind::AvailabilityBasedRouting {
            service: f.string("service", problems),
        },
        "CheckOpeningHours" => Kind::CheckOpeningHours,
        "CheckParameter" => Kind::CheckParameter {
            conditions: conditions(&mut f, problems),
        },
        "GetAvailableUsers" => Kind::GetAvailableUsers {
            parameter: f.required("parameter", problems),
        },
        "GetQueuePosition" => Kind::GetQueuePosition {
            parameter: f.required("parameter", problems),
        },
        "QueueTask" => {
            let distribution = match f.string("distribution", problems).as_deref() {
                None | Some("direct") => Distribution::Direct,
                Some("broadcast") => Distribution::Broadcast,
                Some(other) => {
                    problems.push(Finding::new(
                        f.at("distribution"),
                        "invalid_value",
                        format!("distribution must be direct or broadcast, not {other:?}"),
                    ));
                    Distribution::Direct
                }
            };
            Kind::QueueTask {
                ring_timeout_seconds: f.seconds("ringTimeoutSeconds", 30, 3600, problems),
                distribution,
            }
        }
        "CheckTask" => Kind::CheckTask,
        "CancelTask" => Kind::CancelTask,
        "DistributionPriority" => {
            let priority = match f.required("priority", problems).as_str() {
                "low" => Priority::Low,
                "normal" => Priority::Normal,
                "high" => Priority::High,
                "strict" => Priority::Strict,
                other => {
                    problems.push(Finding::new(
                        f.at("priority"),
                        "invalid_value",
                        format!("priority must be low, normal, high or strict, not {other:?}"),
                    ));
                    Priority::Normal
                }
            };
            Kind::DistributionPriority { priority }
        }
        "SendHttpRequest" => Kind::SendHttpRequest {
            method: f
                .string("method", problems)
                .unwrap_or_else(|| "GET".into())
                .to_ascii_uppercase(),
            url: f.required("url", problems),
            headers: f.string_map("headers", problems),
            body: f.string("body", problems),
            timeout_seconds: f.seconds("timeoutSeconds", 10, 60, problems),
            save_to: f.string_map("saveTo", problems),
        },
        voice if VOICE_ONLY.contains(&voice) => {
            // Its fields belong to the voice product; accept them as they are.
            for key in map.keys() {
                if let Some(known) = ["type", "next", "exits"].iter().find(|k| **k == key) {
                    f.used.insert(known);
                }
            }
            let kind = Kind::Unsupported {
                type_name: voice.to_owned(),
            };
            return Some(Activity { kind, next, exits });
        }
        "" => return None,
        unknown => {
            problems.push(Finding::new(
                f.at("type"),
                "unknown_activity_type",
                format!("unknown activity type {unknown:?}"),
            ));
            return None;
        }
    };
    f.finish(problems);
    Some(Activity { kind, next, exits })
}

fn conditions(f: &mut Fields<'_>, problems: &mut Vec<Finding>) -> Vec<Condition> {
    let path = f.at("conditions");
    let Some(Value::Array(items)) = f.get("conditions") else {
        problems.push(Finding::new(
            path,
            "missing_field",
            "'conditions' must be a list",
        ));
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let here = format!("{path}/{i}");
        let Some(map) = item.as_object() else {
            problems.push(Finding::new(
                here,
                "wrong_type",
                "a condition is a JSON object",
            ));
            continue;
        };
        let mut c = Fields::new(map, here);
        let parameter = c.required("parameter", problems);
        let operator_name = c.required("operator", problems);
        let value = c.string("value", problems);
        let exit = c.required("exit", problems);
        let operator = match operator_name.as_str() {
            "equals" => Some(Operator::Equals),
            "notEquals" => Some(Operator::NotEquals),
            "contains" => Some(Operator::Contains),
            "startsWith" => Some(Operator::StartsWith),
            "regex" => Some(Operator::Regex),
            "greaterThan" => Some(Operator::GreaterThan),
            "lessThan" => Some(Operator::LessThan),
            "isEmpty" => Some(Operator::IsEmpty),
            "" => None,
            other => {
                problems.push(Finding::new(
                    c.at("operator"),
                    "invalid_value",
                    format!("unknown operator {other:?}"),
                ));
                None
            }
        };
        if let Some(op) = operator {
            if op != Operator::IsEmpty && value.is_none() {
                problems.push(Finding::new(
                    c.at("value"),
                    "missing_field",
                    format!("operator {operator_name} needs a 'value'"),
                ));
            }
            out.push(Condition {
                parameter,
                operator: op,
                value,
                exit,
            });
        }
        c.finish(problems);
    }
    out
}
