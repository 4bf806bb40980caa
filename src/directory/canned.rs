//! Canned answers: snippets a tenant manages (admin API, tenant file) that agents search and
//! insert from the Teams message extension, or send with `canned NAME`. Their text is a
//! template of the card engine: `${customer.displayName}`, `${customer.email}`,
//! `${service.name}` and `${agent.displayName}` are filled in for the chat at hand (an
//! expression whose value is missing keeps its text, as in cards). A snippet may be limited to
//! some services (by id or name); none means every service.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::cards::Template;
use crate::cards::markdown;
use crate::workflow::ServiceNames;

/// Longest title and text (characters).
pub const MAX_TITLE: usize = 80;
pub const MAX_TEXT: usize = 4000;

/// A canned answer as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CannedAnswer {
    /// Also the NAME of `canned NAME`.
    pub id: String,
    pub title: String,
    /// The answer, with `${…}` placeholders.
    pub text: String,
    /// Services (ids or names) whose chats may use it; empty: all.
    #[serde(default)]
    pub services: Vec<String>,
    /// More words a search finds it by.
    #[serde(default)]
    pub keywords: Vec<String>,
}

/// What the placeholders are filled with.
#[derive(Debug, Clone, Default)]
pub struct Fill<'a> {
    pub customer_name: Option<&'a str>,
    pub customer_email: Option<&'a str>,
    pub service_name: Option<&'a str>,
    pub agent_name: Option<&'a str>,
}

impl CannedAnswer {
    /// Every problem of the answer, each with its JSON path (`services`: the tenant's).
    pub fn problems(&self, services: &ServiceNames) -> Vec<Value> {
        let mut problems = Vec::new();
        let chars = |s: &str| s.trim().chars().count();
        if chars(&self.title) == 0 || chars(&self.title) > MAX_TITLE {
            problems.push(json!({"path": "/title", "code": "out_of_range",
                "message": format!("title must be 1 to {MAX_TITLE} characters")}));
        }
        if chars(&self.text) == 0 || chars(&self.text) > MAX_TEXT {
            problems.push(json!({"path": "/text", "code": "out_of_range",
                "message": format!("text must be 1 to {MAX_TEXT} characters")}));
        } else if let Err(e) = Template::parse(&Value::String(self.text.clone())) {
            problems.push(json!({"path": "/text", "code": "invalid_template",
                "message": e.message}));
        }
        if self.id.chars().any(char::is_whitespace) {
            problems.push(json!({"path": "/id", "code": "invalid_id",
                "message": "id is the name agents type after canned: no spaces"}));
        }
        for (i, service) in self.services.iter().enumerate() {
            if !services.knows(service) {
                problems.push(
                    json!({"path": format!("/services/{i}"), "code": "unknown_service",
                    "message": format!("there is no service {service:?}")}),
                );
            }
        }
        problems
    }

    /// Whether a chat of the service `(id, name)` may use it (`None`: a direct chat, which only
    /// answers for every service serve). The name counts only when the caller gives one (the
    /// service's name when no other service has it); an empty name matches nothing.
    pub fn serves(&self, service: Option<(&str, &str)>) -> bool {
        self.services.is_empty()
            || service.is_some_and(|(id, name)| {
                self.services
                    .iter()
                    .any(|s| s == id || (!name.trim().is_empty() && s.eq_ignore_ascii_case(name)))
            })
    }

    /// How well it matches the words of `query` (0: not at all; every word must be found in
    /// its id, title, keywords or text).
    pub fn score(&self, query: &str) -> u32 {
        let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
        if words.is_empty() {
            return 1;
        }
        let (id, title) = (self.id.to_lowercase(), self.title.to_lowercase());
        let keywords: Vec<String> = self.keywords.iter().map(|k| k.to_lowercase()).collect();
        let text = self.text.to_lowercase();
        let mut score = 0;
        for word in &words {
            let found = if id == *word {
                8
            } else if title
                .split_whitespace()
                .any(|t| t.starts_with(word.as_str()))
            {
                4
            } else if keywords.iter().any(|k| k.starts_with(word.as_str())) {
                3
            } else if title.contains(word.as_str()) || id.contains(word.as_str()) {
                2
            } else if text.contains(word.as_str()) {
                1
            } else {
                return 0;
            };
            score += found;
        }
        score
    }

    /// The text with its placeholders filled; `escape`: the values as Teams markdown text
    /// (for a card), else as they are (for the customer).
    pub fn render(&self, fill: &Fill<'_>, escape: bool) -> String {
        let value = |v: Option<&str>| match v {
            Some(v) if escape => Value::String(markdown::escape(v)),
            Some(v) => Value::String(v.to_owned()),
            None => Value::Null,
        };
        let data = json!({
            "customer": {"displayName": value(fill.customer_name), "email": value(fill.customer_email)},
            "service": {"name": value(fill.service_name)},
            "agent": {"displayName": value(fill.agent_name)},
        });
        // Checked when stored: only a template stored by an older version could fail.
        let Ok(template) = Template::parse(&Value::String(self.text.clone())) else {
            return self.text.clone();
        };
        match template.expand(&data, None) {
            Ok(Some(Value::String(text))) => text,
            Ok(Some(other)) => other.to_string(),
            _ => self.text.clone(),
        }
    }
}

/// The answers a chat of `service` may use that match `query`, best first (at most `limit`).
pub fn search<'a>(
    answers: &'a [CannedAnswer],
    service: Option<(&str, &str)>,
    query: &str,
    limit: usize,
) -> Vec<&'a CannedAnswer> {
    let mut found: Vec<(u32, &CannedAnswer)> = answers
        .iter()
        .filter(|a| a.serves(service))
        .map(|a| (a.score(query), a))
        .filter(|(score, _)| *score > 0)
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.title.cmp(&b.1.title)));
    found.into_iter().take(limit).map(|(_, a)| a).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(id: &str, title: &str, text: &str, services: &[&str]) -> CannedAnswer {
        CannedAnswer {
            id: id.into(),
            title: title.into(),
            text: text.into(),
            services: services.iter().map(|s| (*s).to_owned()).collect(),
            keywords: vec!["hello".into()],
        }
    }

    #[test]
    fn placeholders_are_filled_and_escaped_for_a_card_only() {
        let a = answer(
            "greeting",
            "Greeting",
            "Hi ${customer.displayName}, this is ${agent.displayName} from ${service.name}. ${customer.phone}",
            &[],
        );
        let fill = Fill {
            customer_name: Some("Ada *Lovelace*"),
            customer_email: None,
            service_name: Some("Support"),
            agent_name: Some("Anne"),
        };
        assert_eq!(
            a.render(&fill, false),
            "Hi Ada *Lovelace*, this is Anne from Support. ${customer.phone}"
        );
        assert_eq!(
            a.render(&fill, true),
            r"Hi Ada \*Lovelace\*, this is Anne from Support. ${customer.phone}"
        );
    }

    #[test]
    fn problems_name_their_paths() {
        let services = ServiceNames::new([("support", "Support")]);
        let bad = answer("two words", "", "Hi ${customer.displayName", &["sales"]);
        let paths: Vec<String> = bad
            .problems(&services)
            .iter()
            .map(|p| format!("{} {}", p["path"], p["code"]))
            .collect();
        assert_eq!(
            paths,
            [
                r#""/title" "out_of_range""#,
                r#""/id" "invalid_id""#,
                r#""/services/0" "unknown_service""#
            ],
            "an unterminated ${{ is text, as in Microsoft's engine"
        );
        assert!(
            answer("ok", "Ok", "${", &["Support"])
                .problems(&services)
                .is_empty()
        );
        let broken = answer("x", "X", "${customer.(}", &[]);
        assert_eq!(broken.problems(&services)[0]["code"], "invalid_template");
    }

    #[test]
    fn search_keeps_the_services_answers_best_first() {
        let answers = [
            answer("refund", "Refund policy", "Refunds take 5 days", &["sales"]),
            answer("greeting", "Greeting", "Hello!", &[]),
            answer(
                "shipping",
                "Shipping times",
                "We ship in 2 days; refund on loss",
                &[],
            ),
        ];
        let support = Some(("support", "Support"));
        let ids =
            |found: Vec<&CannedAnswer>| found.iter().map(|a| a.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(search(&answers, support, "refund", 10)), ["shipping"]);
        assert_eq!(
            ids(search(&answers, Some(("sales", "Sales")), "refund", 10)),
            ["refund", "shipping"]
        );
        assert_eq!(
            ids(search(&answers, support, "", 10)),
            ["greeting", "shipping"]
        );
        assert_eq!(
            ids(search(&answers, None, "hel", 10)),
            ["greeting", "shipping"]
        );
        assert_eq!(ids(search(&answers, support, "ship days", 1)), ["shipping"]);
        assert!(search(&answers, support, "nothing", 10).is_empty());
    }
}
