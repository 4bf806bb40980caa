//! Executing one activity of a run: what each kind does (messages, queueing, timers, HTTP
//! calls, conditions, parameters), with the inputs and HTTP results it resumes on and the
//! conditions it tests. Following exits and stopping are [`super`]'s `Run` methods.

use super::*;

impl Run {
    pub(super) fn execute(
        &mut self,
        id: &str,
        kind: &Kind,
        view: &dyn View,
        now: i64,
        effects: &mut Vec<RunEffect>,
    ) -> Step {
        let next = || Step::Exit("next".into());
        let exit = |name: &str| Step::Exit(name.to_owned());
        let seconds = |s: u32| i64::from(s) * 1000;
        match kind {
            Kind::Accept => {
                effects.push(RunEffect::Accepted);
                next()
            }
            Kind::Message { text } => {
                effects.push(RunEffect::SendMessage {
                    text: self.fill(text),
                });
                next()
            }
            Kind::Disconnect { text } => {
                if let Some(text) = text {
                    effects.push(RunEffect::SendMessage {
                        text: self.fill(text),
                    });
                }
                Step::End(RunEnd::Disconnected)
            }
            Kind::CollectInformation {
                parameters,
                timeout_seconds,
            } => {
                effects.push(RunEffect::CollectRequested {
                    parameters: parameters.clone(),
                });
                Step::Wait(Wait::Collect {
                    until: now + seconds(*timeout_seconds),
                    parameters: parameters.clone(),
                })
            }
            Kind::InputCustomer {
                prompt,
                choices,
                timeout_seconds,
                ..
            } => {
                effects.push(RunEffect::Prompt {
                    text: self.fill(prompt),
                    choices: choices.clone(),
                });
                Step::Wait(Wait::Input {
                    until: now + seconds(*timeout_seconds),
                })
            }
            Kind::SaveToParameter { parameter, value } => {
                let value = self.fill(value);
                self.parameters.insert(parameter.clone(), value);
                next()
            }
            Kind::Transfer { service } => {
                if view.can_queue(service) {
                    Step::End(RunEnd::Transferred {
                        service: service.clone(),
                    })
                } else {
                    exit("failed")
                }
            }
            Kind::Delay { seconds: s } => Step::Wait(Wait::Delay {
                until: now + seconds(*s),
            }),
            Kind::AvailabilityBasedRouting { service } => {
                let service = service.as_deref().unwrap_or(&self.service);
                if view.selectable_agents(service) > 0 {
                    exit("available")
                } else if view.online_agents(service) > 0 {
                    exit("busy")
                } else {
                    exit("unavailable")
                }
            }
            Kind::CheckOpeningHours => exit(match view.opening_state(&self.service, now) {
                OpeningState::Open => "open",
                OpeningState::Closed => "closed",
                OpeningState::Holiday => "holiday",
            }),
            Kind::CheckParameter { conditions } => {
                let hit = conditions.iter().find(|c| self.holds(c));
                exit(hit.map_or("default", |c| c.exit.as_str()))
            }
            Kind::GetAvailableUsers { parameter } => {
                self.parameters.insert(
                    parameter.clone(),
                    view.selectable_agents(&self.service).to_string(),
                );
                next()
            }
            Kind::GetQueuePosition { parameter } => match view.queue_position(&self.session) {
                Some(position) => {
                    self.parameters
                        .insert(parameter.clone(), position.to_string());
                    exit("queued")
                }
                None => exit("notQueued"),
            },
            Kind::QueueTask {
                ring_timeout_seconds,
                distribution,
            } => {
                // A task enters a queue at most once per session.
                if self.queued || !view.can_queue(&self.service) {
                    exit("failed")
                } else {
                    self.queued = true;
                    effects.push(RunEffect::Enqueue {
                        service: self.service.clone(),
                        ring_timeout_seconds: *ring_timeout_seconds,
                        distribution: *distribution,
                    });
                    exit("queued")
                }
            }
            Kind::CheckTask => exit(match view.task_state(&self.session) {
                TaskState::NotQueued => "notQueued",
                TaskState::Queued => "queued",
                TaskState::Ringing => "ringing",
                TaskState::Connected => "connected",
            }),
            Kind::CancelTask => {
                effects.push(RunEffect::CancelTask);
                next()
            }
            Kind::DistributionPriority { priority } => {
                effects.push(RunEffect::SetPriority {
                    priority: *priority,
                });
                next()
            }
            Kind::SendHttpRequest {
                method,
                url,
                headers,
                body,
                timeout_seconds,
                ..
            } => {
                use crate::workflow::fill;
                let value = |name: &str| self.parameters.get(name).map(String::as_str);
                // A value that would change the URL's structure fails the request unsent.
                let Ok(url) = fill::url(url, value) else {
                    return exit("failure");
                };
                let headers: std::collections::BTreeMap<String, String> = headers
                    .iter()
                    .map(|(k, v)| (k.clone(), fill::header(v, value)))
                    .collect();
                let body = body.as_ref().map(|b| {
                    let kind = fill::BodyKind::of(
                        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                        b,
                    );
                    fill::body(b, kind, value)
                });
                self.requests += 1;
                let request = format!("{}:{id}:{}", self.session, self.requests);
                effects.push(RunEffect::HttpRequest {
                    request: request.clone(),
                    method: method.clone(),
                    url,
                    headers,
                    body,
                    timeout_seconds: *timeout_seconds,
                });
                Step::Wait(Wait::Http {
                    until: now + seconds(*timeout_seconds),
                    request,
                })
            }
            Kind::Unsupported { type_name } => Step::End(RunEnd::Failed {
                reason: format!("{type_name} is not supported for instant messages"),
            }),
        }
    }

    /// The exit an answer to InputCustomer takes, or `None` to ask again.
    pub(super) fn input(
        &mut self,
        workflow: &Workflow,
        at: &str,
        text: &str,
        effects: &mut Vec<RunEffect>,
    ) -> Option<String> {
        let Some(Kind::InputCustomer {
            prompt,
            parameter,
            choices,
            pattern,
            ..
        }) = workflow.activity(at).map(|a| &a.kind)
        else {
            return Some("other".into());
        };
        let answer = text.trim();
        if let Some(choice) = choices.iter().find(|c| c.eq_ignore_ascii_case(answer)) {
            self.parameters.insert(parameter.clone(), choice.clone());
            return Some(choice.clone());
        }
        if let Some(pattern) = pattern
            && !regex::Regex::new(pattern).is_ok_and(|r| r.is_match(answer))
        {
            effects.push(RunEffect::Prompt {
                text: self.fill(prompt),
                choices: choices.clone(),
            });
            return None;
        }
        self.parameters.insert(parameter.clone(), answer.to_owned());
        Some("other".into())
    }

    pub(super) fn http_result(
        &mut self,
        workflow: &Workflow,
        at: &str,
        status: Option<u16>,
        body: Option<Value>,
    ) -> String {
        let ok = status.is_some_and(|s| (200..300).contains(&s));
        if !ok {
            return "failure".into();
        }
        if let Some(Kind::SendHttpRequest { save_to, .. }) = workflow.activity(at).map(|a| &a.kind)
        {
            for (parameter, pointer) in save_to {
                let value = body
                    .as_ref()
                    .and_then(|b| b.pointer(pointer))
                    .map(|v| match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    });
                if let Some(value) = value {
                    self.parameters.insert(parameter.clone(), value);
                }
            }
        }
        "success".into()
    }

    pub(super) fn holds(&self, condition: &Condition) -> bool {
        let actual = self
            .parameters
            .get(&condition.parameter)
            .map(String::as_str)
            .unwrap_or("");
        let expected = condition
            .value
            .as_deref()
            .map(|v| self.fill(v))
            .unwrap_or_default();
        let number = |s: &str| s.trim().parse::<f64>().ok();
        match condition.operator {
            Operator::Equals => actual == expected,
            Operator::NotEquals => actual != expected,
            Operator::Contains => actual.contains(&expected),
            Operator::StartsWith => actual.starts_with(&expected),
            Operator::Regex => regex::Regex::new(&expected).is_ok_and(|r| r.is_match(actual)),
            Operator::GreaterThan => {
                matches!((number(actual), number(&expected)), (Some(a), Some(b)) if a > b)
            }
            Operator::LessThan => {
                matches!((number(actual), number(&expected)), (Some(a), Some(b)) if a < b)
            }
            Operator::IsEmpty => actual.trim().is_empty(),
        }
    }
}
