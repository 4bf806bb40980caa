//! Checking a directory document before it is stored, the same way wherever it comes from
//! (the admin API, a tenant file): its kind ([`DocKind`], by the path segment of the API), its
//! shape, and what it refers to (a service's workflow, a workflow's transfer targets). Every
//! problem is a JSON value with its `path`, a stable `code` and a `message`. Storing the
//! document and answering HTTP are the callers' business.

use serde_json::{Value, json};

use crate::directory::calendar::Calendar;
use crate::directory::canned::CannedAnswer;
use crate::directory::model::{Service, User};
use crate::directory::store::Kind;
use crate::workflow;

/// The document kinds of the API, by their path segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    Service,
    User,
    Workflow,
    Calendar,
    CannedAnswer,
}

impl DocKind {
    /// The kind a path segment names (`services`, `users`, `workflows`, `calendars`,
    /// `canned-answers`).
    pub fn parse(segment: &str) -> Option<Self> {
        Some(match segment {
            "services" => DocKind::Service,
            "users" => DocKind::User,
            "workflows" => DocKind::Workflow,
            "calendars" => DocKind::Calendar,
            "canned-answers" => DocKind::CannedAnswer,
            _ => return None,
        })
    }

    /// The store's kind.
    pub fn kind(self) -> Kind {
        match self {
            DocKind::Service => Kind::Service,
            DocKind::User => Kind::User,
            DocKind::Workflow => Kind::Workflow,
            DocKind::Calendar => Kind::Calendar,
            DocKind::CannedAnswer => Kind::CannedAnswer,
        }
    }

    /// The kind in words (`service`, …).
    pub fn name(self) -> &'static str {
        match self {
            DocKind::Service => "service",
            DocKind::User => "user",
            DocKind::Workflow => "workflow",
            DocKind::Calendar => "calendar",
            DocKind::CannedAnswer => "canned answer",
        }
    }
}

/// A document that does not have the shape of its kind, as a problem.
pub fn shape_problem(e: &serde_json::Error) -> Value {
    json!({"path": "", "code": "invalid_shape", "message": e.to_string()})
}

/// One problem of a document, at its JSON path.
pub fn problem(path: &str, code: &str, message: impl Into<String>) -> Value {
    json!({"path": path, "code": code, "message": message.into()})
}

/// Checks a document of `kind` (`workflow`: the document of the workflow a service names, if
/// there is one); returns its id and the value to store, or every problem with its JSON path.
pub fn check(
    kind: DocKind,
    doc: Value,
    workflow: Option<&Value>,
    services: &workflow::ServiceNames,
) -> Result<(String, Value), Vec<Value>> {
    let id = doc
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.trim().is_empty() && id.len() <= 200)
        .map(str::to_owned)
        .ok_or_else(|| {
            vec![problem(
                "/id",
                "required",
                "a non-empty id (at most 200 characters) is required",
            )]
        })?;
    let shape = |e: serde_json::Error| vec![shape_problem(&e)];
    let stored = |v: Result<Value, serde_json::Error>| {
        v.map_err(|e| vec![problem("", "internal", e.to_string())])
    };
    match kind {
        DocKind::Service => {
            let service: Service = serde_json::from_value(doc).map_err(shape)?;
            if let Some((path, code, message)) = service.interact.problem() {
                return Err(vec![problem(path, code, message)]);
            }
            if service.whatsapp.as_ref().is_some_and(|w| !w.valid()) {
                return Err(vec![problem(
                    "/whatsapp/phoneNumberId",
                    "invalid_phone_number_id",
                    "phoneNumberId must be the Cloud API's phone number id: 1 to 32 digits",
                )]);
            }
            if let Some(workflow_id) = &service.workflow {
                let Some(stored) = workflow else {
                    return Err(vec![problem(
                        "/workflow",
                        "unknown_workflow",
                        format!("there is no workflow {workflow_id:?}"),
                    )]);
                };
                let parsed = workflow::parse(stored).map_err(|_| {
                    vec![problem(
                        "/workflow",
                        "invalid_workflow",
                        format!("workflow {workflow_id:?} is not valid"),
                    )]
                })?;
                if let Err(refusal) = service.check_workflow(&parsed) {
                    let names: Vec<String> = service
                        .channels()
                        .into_iter()
                        .flat_map(|channel| workflow::unsupported_activities(&parsed, channel))
                        .map(|(id, t)| format!("{id} ({t})"))
                        .fold(Vec::new(), |mut names, name| {
                            if !names.contains(&name) {
                                names.push(name);
                            }
                            names
                        });
                    return Err(vec![json!({
                        "path": "/workflow", "code": "unsupported_activities",
                        "message": refusal.0, "activities": names,
                    })]);
                }
                // The service itself counts: a workflow may transfer to the service it serves.
                let mut services = services.clone();
                services.add(&service.id, &service.name);
                let unknown = workflow::unknown_transfer_targets(&parsed, &services);
                if !unknown.is_empty() {
                    return Err(unknown
                        .iter()
                        .map(|p| {
                            problem(
                                "/workflow",
                                "unknown_service",
                                format!("workflow {workflow_id:?}: {}: {}", p.path, p.message),
                            )
                        })
                        .collect());
                }
            }
            Ok((id, stored(serde_json::to_value(service))?))
        }
        DocKind::User => {
            let user: User = serde_json::from_value(doc).map_err(shape)?;
            if let Some((path, code, message)) = user.interact.problem() {
                return Err(vec![problem(path, code, message)]);
            }
            if user.capacity == 0 {
                return Err(vec![problem(
                    "/capacity",
                    "out_of_range",
                    "capacity must be at least 1",
                )]);
            }
            Ok((id, stored(serde_json::to_value(user))?))
        }
        // Stored workflows are checked without a channel (voice activities are kept, as the
        // seeds' product shares workflows); assigning one to a service checks Interact.
        DocKind::Workflow => match workflow::check(&doc, None) {
            Ok(parsed) => {
                let unknown = workflow::unknown_transfer_targets(&parsed, services);
                if unknown.is_empty() {
                    Ok((id, doc))
                } else {
                    Err(workflow_problems(&unknown))
                }
            }
            Err(problems) => Err(workflow_problems(&problems)),
        },
        DocKind::Calendar => {
            let calendar: Calendar = serde_json::from_value(doc).map_err(shape)?;
            if let Err(e) = calendar.validate() {
                return Err(vec![problem("", "invalid_calendar", e.to_string())]);
            }
            Ok((id, stored(serde_json::to_value(calendar))?))
        }
        DocKind::CannedAnswer => {
            let answer: CannedAnswer = serde_json::from_value(doc).map_err(shape)?;
            let problems = answer.problems(services);
            if !problems.is_empty() {
                return Err(problems);
            }
            Ok((id, stored(serde_json::to_value(answer))?))
        }
    }
}

/// A workflow's problems as document problems.
pub fn workflow_problems(problems: &[workflow::Finding]) -> Vec<Value> {
    problems
        .iter()
        .map(|p| json!({"path": p.path, "code": p.code, "message": p.message}))
        .collect()
}
