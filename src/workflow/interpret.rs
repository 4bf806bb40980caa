//! The workflow interpreter: a pure state machine. `Run::start` and `Run::handle` take an
//! event, the time and a read-only [`View`] of live distribution and calendars, and return the
//! effects to execute (messages to the customer, queueing, HTTP calls, timers). The run stops at
//! every activity that waits (Delay, InputCustomer, CollectInformation, SendHttpRequest) and
//! resumes on the matching event; everything else runs straight through.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::model::{Condition, Distribution, Kind, Operator, Priority, Workflow};

mod execute;

/// Activities run without waiting before the run is declared broken (a guard against a loop
/// that never waits in a workflow edited after validation).
const MAX_STEPS: usize = 1000;

/// Live facts the interpreter reads; the engine answers from distribution and the directory.
pub trait View {
    /// Agents who could be offered a task of `service` now.
    fn selectable_agents(&self, service: &str) -> usize;
    /// Agents of `service` who are online at all.
    fn online_agents(&self, service: &str) -> usize;
    /// 1-based queue position of the session's task, if it is queued.
    fn queue_position(&self, session: &str) -> Option<usize>;
    fn task_state(&self, session: &str) -> TaskState;
    fn opening_state(&self, service: &str, now: i64) -> OpeningState;
    /// Whether `service` exists and may receive IM tasks.
    fn can_queue(&self, service: &str) -> bool;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskState {
    NotQueued,
    Queued,
    Ringing,
    Connected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpeningState {
    Open,
    Closed,
    Holiday,
}

/// What the run waits for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Wait {
    Delay { until: i64 },
    Input { until: i64 },
    Collect { until: i64, parameters: Vec<String> },
    Http { until: i64, request: String },
}

impl Wait {
    pub fn until(&self) -> i64 {
        match self {
            Wait::Delay { until }
            | Wait::Input { until }
            | Wait::Collect { until, .. }
            | Wait::Http { until, .. } => *until,
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunEnd {
    /// A Disconnect activity ended the session.
    Disconnected,
    /// Transferred to another service's workflow.
    Transferred { service: String },
    /// An agent took over the session.
    Connected,
    /// The workflow could not continue (unsupported activity, broken graph).
    Failed { reason: String },
}

/// Events the run reacts to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RunEvent {
    /// A deadline of the run passed.
    Timer,
    CustomerInput {
        text: String,
    },
    ParametersSet {
        values: BTreeMap<String, String>,
    },
    HttpResult {
        request: String,
        status: Option<u16>,
        body: Option<Value>,
    },
    /// Distribution connected an agent: the workflow's work is done.
    Connected,
}

/// Effects for the engine to execute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RunEffect {
    /// The session is accepted by the system; the customer sees "connected to service".
    Accepted,
    SendMessage {
        text: String,
    },
    Prompt {
        text: String,
        choices: Vec<String>,
    },
    /// Ask external systems for parameters (the `collect_information` webhook event).
    CollectRequested {
        parameters: Vec<String>,
    },
    Enqueue {
        service: String,
        ring_timeout_seconds: u32,
        distribution: Distribution,
    },
    CancelTask,
    SetPriority {
        priority: Priority,
    },
    HttpRequest {
        request: String,
        method: String,
        url: String,
        headers: BTreeMap<String, String>,
        body: Option<String>,
        timeout_seconds: u32,
    },
    /// Wake the run at this time.
    Timer {
        at: i64,
    },
    End(RunEnd),
}

/// One session's run through a workflow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    pub session: String,
    pub service: String,
    /// The activity the run is at; `None` once it ended.
    pub at: Option<String>,
    pub wait: Option<Wait>,
    /// Workflow parameters and system fields (`customer.displayName`, `service.name`, …).
    pub parameters: BTreeMap<String, String>,
    pub queued: bool,
    pub requests: u64,
}

impl Run {
    /// Starts a run at the workflow's start activity.
    pub fn start(
        workflow: &Workflow,
        session: &str,
        service: &str,
        parameters: BTreeMap<String, String>,
        view: &dyn View,
        now: i64,
    ) -> (Run, Vec<RunEffect>) {
        let mut run = Run {
            session: session.to_owned(),
            service: service.to_owned(),
            at: Some(workflow.start.clone()),
            wait: None,
            parameters,
            queued: false,
            requests: 0,
        };
        let mut effects = Vec::new();
        run.advance(workflow, view, now, &mut effects);
        (run, effects)
    }

    /// Reacts to an event.
    pub fn handle(
        &mut self,
        workflow: &Workflow,
        event: RunEvent,
        view: &dyn View,
        now: i64,
    ) -> Vec<RunEffect> {
        let mut effects = Vec::new();
        let Some(at) = self.at.clone() else {
            return effects;
        };
        if let RunEvent::ParametersSet { values } = &event {
            self.parameters.extend(values.clone());
        }
        let exit: Option<String> = match (&self.wait, event) {
            (_, RunEvent::Connected) => {
                self.finish(RunEnd::Connected, &mut effects);
                return effects;
            }
            (Some(wait), RunEvent::Timer) if wait.until() <= now => Some(
                match wait {
                    Wait::Delay { .. } => "next",
                    Wait::Input { .. } | Wait::Collect { .. } => "timeout",
                    Wait::Http { .. } => "failure",
                }
                .to_owned(),
            ),
            (Some(Wait::Input { .. }), RunEvent::CustomerInput { text }) => {
                self.input(workflow, &at, &text, &mut effects)
            }
            (Some(Wait::Collect { parameters, .. }), RunEvent::ParametersSet { .. }) => parameters
                .iter()
                .all(|p| self.parameters.get(p).is_some_and(|v| !v.is_empty()))
                .then(|| "collected".to_owned()),
            (
                Some(Wait::Http { request, .. }),
                RunEvent::HttpResult {
                    request: done,
                    status,
                    body,
                },
            ) if *request == done => Some(self.http_result(workflow, &at, status, body)),
            _ => None,
        };
        if let Some(exit) = exit {
            self.wait = None;
            self.follow(workflow, &at, &exit, &mut effects);
            self.advance(workflow, view, now, &mut effects);
        }
        effects
    }

    /// The deadline the engine must wake the run at, if it waits for one.
    pub fn deadline(&self) -> Option<i64> {
        self.wait.as_ref().map(Wait::until)
    }

    fn finish(&mut self, end: RunEnd, effects: &mut Vec<RunEffect>) {
        self.at = None;
        self.wait = None;
        effects.push(RunEffect::End(end));
    }

    /// Moves to the activity behind `exit` ("next" for single-continuation activities).
    fn follow(
        &mut self,
        workflow: &Workflow,
        from: &str,
        exit: &str,
        effects: &mut Vec<RunEffect>,
    ) {
        let Some(activity) = workflow.activity(from) else {
            return self.finish(
                RunEnd::Failed {
                    reason: format!("activity {from} no longer exists"),
                },
                effects,
            );
        };
        let target = if exit == "next" {
            activity.next.clone()
        } else {
            activity.exits.get(exit).cloned()
        };
        match target {
            Some(target) => self.at = Some(target),
            None => self.finish(
                RunEnd::Failed {
                    reason: format!("exit {exit} of {from} is not connected"),
                },
                effects,
            ),
        }
    }

    /// Runs activities until one waits or the run ends.
    fn advance(
        &mut self,
        workflow: &Workflow,
        view: &dyn View,
        now: i64,
        effects: &mut Vec<RunEffect>,
    ) {
        for _ in 0..MAX_STEPS {
            let Some(id) = self.at.clone() else { return };
            if self.wait.is_some() {
                return;
            }
            let Some(activity) = workflow.activity(&id) else {
                return self.finish(
                    RunEnd::Failed {
                        reason: format!("activity {id} does not exist"),
                    },
                    effects,
                );
            };
            let exit = self.execute(&id, &activity.kind, view, now, effects);
            match exit {
                Step::Exit(exit) => self.follow(workflow, &id, &exit, effects),
                Step::Wait(wait) => {
                    effects.push(RunEffect::Timer { at: wait.until() });
                    self.wait = Some(wait);
                    return;
                }
                Step::End(end) => return self.finish(end, effects),
            }
        }
        self.finish(
            RunEnd::Failed {
                reason: "the workflow ran too many activities without waiting".into(),
            },
            effects,
        );
    }

    /// Replaces `${name}` with the parameter's value (empty when unset). Parameter values are
    /// inserted as they are: `${…}` inside a value is never expanded again.
    pub fn fill(&self, text: &str) -> String {
        super::fill::text(text, |name| self.parameters.get(name).map(String::as_str))
    }
}

enum Step {
    Exit(String),
    Wait(Wait),
    End(RunEnd),
}
