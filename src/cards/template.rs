//! Templates: parsed once (every `${…}` compiled, syntax and arity errors reported with the JSON
//! path of the string), expanded many times against data with the semantics of
//! `adaptivecards-templating` 2.3.1. See the module docs of [`crate::cards`] for the rules and
//! the deliberate deviations.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::eval::{Env, EvalError, Evaluator, Scope};
use super::expr::{self, Expr};
use super::functions;
use super::value::{is_js_truthy, to_js_string};

/// A template that failed to load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template syntax error at {path}: {message}")]
pub struct ParseError {
    /// JSON pointer of the failing string, e.g. `/body/0/text`.
    pub path: String,
    pub message: String,
}

/// An expansion that failed (only whole values, `$data` and the root can fail; an error inside
/// a longer string keeps the expression's text instead).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template evaluation error at {path}: {message}")]
pub struct ExpandError {
    pub path: String,
    pub message: String,
}

#[derive(Debug, Clone)]
enum Part {
    Text(String),
    Expr(Expr),
}

#[derive(Debug, Clone)]
enum Node {
    Literal(Value),
    /// A string that is exactly one non-constant expression: its value keeps its JSON type.
    Whole {
        expr: Expr,
        path: String,
    },
    /// Text and expressions joined into a string.
    Interpolated {
        parts: Vec<Part>,
    },
    Array(Vec<Node>),
    Object(Box<ObjectNode>),
}

#[derive(Debug, Clone)]
enum When {
    Expr(Node),
    /// `$when` given as plain JSON: a truthy literal drops the element, a falsy one is ignored.
    Literal(bool),
}

#[derive(Debug, Clone)]
struct ObjectNode {
    when: Option<When>,
    data: Option<Node>,
    fields: Vec<(String, Node)>,
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    root: Node,
}

const RESERVED: &[&str] = &[
    "$data",
    "$when",
    "$root",
    "$index",
    "$host",
    "$_actemplateversion",
];

impl Template {
    /// Parses a template, compiling every expression in it.
    pub fn parse(template: &Value) -> Result<Template, ParseError> {
        Ok(Template {
            root: prepare(template, "")?,
        })
    }

    /// Expands the template. `Ok(None)` when a root `$when` removed everything.
    pub fn expand(&self, data: &Value, host: Option<&Value>) -> Result<Option<Value>, ExpandError> {
        self.expand_at(data, host, Utc::now())
    }

    /// Expands for a reader whose locale is `locale` (`de-DE`): `formatNumber` without a
    /// locale of its own uses it, as a Teams client expanding the template in that locale
    /// would. A locale the number table does not know is en-US.
    pub fn expand_in(
        &self,
        data: &Value,
        locale: Option<&str>,
    ) -> Result<Option<Value>, ExpandError> {
        let scope = Scope {
            root: data,
            data,
            index: None,
            host: None,
        };
        let expansion = Expansion {
            now: Utc::now(),
            locale: locale.and_then(super::functions::known_locale),
        };
        Ok(expansion
            .node(&self.root, scope)?
            .and_then(|v| if v.is_null() { None } else { Some(v) }))
    }

    /// Expands with a fixed `utcNow()`.
    pub fn expand_at(
        &self,
        data: &Value,
        host: Option<&Value>,
        now: DateTime<Utc>,
    ) -> Result<Option<Value>, ExpandError> {
        let scope = Scope {
            root: data,
            data,
            index: None,
            host,
        };
        let expansion = Expansion { now, locale: None };
        Ok(expansion
            .node(&self.root, scope)?
            .and_then(|v| if v.is_null() { None } else { Some(v) }))
    }
}

fn pointer(parent: &str, key: &str) -> String {
    format!("{parent}/{}", key.replace('~', "~0").replace('/', "~1"))
}

fn prepare(value: &Value, path: &str) -> Result<Node, ParseError> {
    Ok(match value {
        Value::String(s) => prepare_string(s, path)?,
        Value::Array(items) => Node::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| prepare(item, &pointer(path, &i.to_string())))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            let mut node = ObjectNode {
                when: None,
                data: None,
                fields: Vec::new(),
            };
            for (key, v) in map {
                let lower = key.to_ascii_lowercase();
                let here = pointer(path, key);
                match lower.as_str() {
                    "$when" => {
                        node.when = Some(match v {
                            Value::String(s) if s.contains("${") => {
                                When::Expr(prepare_string(s, &here)?)
                            }
                            other => When::Literal(is_js_truthy(other)),
                        });
                    }
                    "$data" => {
                        node.data = Some(match v {
                            Value::String(s) if s.contains("${") => prepare_string(s, &here)?,
                            other => Node::Literal(other.clone()),
                        });
                    }
                    _ if RESERVED.contains(&lower.as_str()) => {}
                    _ => node.fields.push((key.clone(), prepare(v, &here)?)),
                }
            }
            Node::Object(Box::new(node))
        }
        other => Node::Literal(other.clone()),
    })
}

fn prepare_string(s: &str, path: &str) -> Result<Node, ParseError> {
    if !s.contains("${") {
        return Ok(Node::Literal(Value::String(s.to_owned())));
    }
    let error = |message: String| ParseError {
        path: if path.is_empty() {
            "/".into()
        } else {
            path.to_owned()
        },
        message,
    };
    let parts = split(s).map_err(&error)?;
    for part in &parts {
        if let Part::Expr(e) = part {
            functions::check_arity(e).map_err(&error)?;
        }
    }
    let path = path.to_owned();
    Ok(match parts.as_slice() {
        [Part::Expr(Expr::Call(name, args))] if name == "concat" => Node::Interpolated {
            // A whole-value concat is joined by the template engine, not by AEL's concat.
            parts: args.iter().cloned().map(Part::Expr).collect(),
        },
        [Part::Expr(e)] if !e.is_constant() => Node::Whole {
            expr: e.clone(),
            path,
        },
        _ => Node::Interpolated { parts },
    })
}

/// Splits a string into text and `${…}` expressions.
fn split(s: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' if chars.get(i + 1) == Some(&'`') => {
                text.push('`');
                i += 2;
            }
            '`' => return Err("a backtick in a string with ${…} must be escaped as \\`".into()),
            // `\${…}` is the text `${…}`, as in Microsoft's engine.
            '\\' if chars.get(i + 1) == Some(&'$') && chars.get(i + 2) == Some(&'{') => {
                text.push_str("${");
                i += 3;
            }
            '$' if chars.get(i + 1) == Some(&'{') => {
                // An unterminated `${` is text, as in Microsoft's engine.
                let Some(end) = closing_brace(&chars, i + 2) else {
                    text.extend(&chars[i..]);
                    break;
                };
                let source: String = chars[i + 2..end].iter().collect();
                let parsed = expr::parse(&source).map_err(|e| format!("in ${{{source}}}: {e}"))?;
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text)));
                }
                parts.push(Part::Expr(parsed));
                i = end + 1;
            }
            c => {
                text.push(c);
                i += 1;
            }
        }
    }
    if !text.is_empty() {
        parts.push(Part::Text(text));
    }
    Ok(parts)
}

/// Index of the `}` closing an expression that starts at `start`, skipping nested braces and
/// quoted strings.
fn closing_brace(chars: &[char], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = start;
    while i < chars.len() {
        match chars[i] {
            q @ ('\'' | '"') => {
                i += 1;
                while i < chars.len() && chars[i] != q {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            '{' => depth += 1,
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

struct Expansion {
    now: DateTime<Utc>,
    locale: Option<&'static str>,
}

impl Expansion {
    fn evaluator(&self, substitute: bool) -> Evaluator {
        Evaluator {
            substitute,
            now: self.now,
            locale: self.locale,
        }
    }

    /// Expands a node; `Ok(None)` is JavaScript's `undefined`.
    fn node(&self, node: &Node, scope: Scope<'_>) -> Result<Option<Value>, ExpandError> {
        let env = Env {
            scope,
            locals: None,
        };
        match node {
            Node::Literal(v) => Ok(Some(v.clone())),
            Node::Whole { expr, path } => {
                self.evaluator(true)
                    .eval(expr, &env)
                    .map_err(|e| ExpandError {
                        path: path.clone(),
                        message: e.0,
                    })
            }
            Node::Interpolated { parts } => Ok(Some(Value::String(self.interpolate(parts, &env)))),
            Node::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match self.node(item, scope)? {
                        None => out.push(Value::Null),
                        Some(Value::Null) => {}
                        // An object repeated by `$data`, an expression giving an array, and (as in
                        // the reference, which uses `Array.concat`) a nested array are spliced
                        // into the parent array.
                        Some(Value::Array(spliced)) => out.extend(spliced),
                        Some(v) => out.push(v),
                    }
                }
                Ok(Some(Value::Array(out)))
            }
            Node::Object(object) => self.object(object, scope),
        }
    }

    /// Joins text and values; an expression that fails keeps its own text, `${…}`.
    fn interpolate(&self, parts: &[Part], env: &Env<'_>) -> String {
        let evaluator = self.evaluator(true);
        let mut out = String::new();
        for part in parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Expr(e) => match evaluator.eval(e, env) {
                    // Deviation: null and undefined add no text (the reference throws).
                    Ok(Some(v)) => out.push_str(&to_js_string(&v)),
                    Ok(None) => {}
                    Err(_) => {
                        out.push_str("${");
                        out.push_str(&e.to_string());
                        out.push('}');
                    }
                },
            }
        }
        out
    }

    fn object(&self, object: &ObjectNode, scope: Scope<'_>) -> Result<Option<Value>, ExpandError> {
        let data = match &object.data {
            None => None,
            Some(node) => self.node(node, scope)?,
        };
        let mut results: Vec<Value> = Vec::new();
        match &data {
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let inner = Scope {
                        data: item,
                        index: Some(i),
                        ..scope
                    };
                    if let Some(v) = self.instance(object, inner)? {
                        results.push(v);
                    }
                }
            }
            Some(single) => {
                let inner = Scope {
                    data: single,
                    ..scope
                };
                results.extend(self.instance(object, inner)?);
            }
            None => results.extend(self.instance(object, scope)?),
        }
        Ok(Some(match results.len() {
            0 => Value::Null,
            1 => results.pop().unwrap_or(Value::Null),
            _ => Value::Array(results),
        }))
    }

    /// One instance of an object in one data scope, unless its `$when` drops it.
    fn instance(
        &self,
        object: &ObjectNode,
        scope: Scope<'_>,
    ) -> Result<Option<Value>, ExpandError> {
        if let Some(when) = &object.when
            && !self.when(when, scope)
        {
            return Ok(None);
        }
        let mut out = Map::with_capacity(object.fields.len());
        for (key, node) in &object.fields {
            if let Some(v) = self.node(node, scope)? {
                out.insert(key.clone(), v);
            }
        }
        Ok(Some(Value::Object(out)))
    }

    /// `$when` keeps the element only for a real `true`; errors count as false.
    fn when(&self, when: &When, scope: Scope<'_>) -> bool {
        let env = Env {
            scope,
            locals: None,
        };
        let evaluator = self.evaluator(false);
        let value: Result<Option<Value>, EvalError> = match when {
            When::Literal(truthy) => return !truthy,
            When::Expr(Node::Whole { expr, .. }) => evaluator.eval(expr, &env),
            When::Expr(Node::Interpolated { parts }) => {
                let mut text = String::new();
                for part in parts {
                    match part {
                        Part::Text(t) => text.push_str(t),
                        Part::Expr(e) => match evaluator.eval(e, &env) {
                            Ok(v) => text.push_str(&super::functions::stringify_value(&v)),
                            Err(_) => return false,
                        },
                    }
                }
                Ok(Some(Value::String(text)))
            }
            When::Expr(_) => return false,
        };
        matches!(value, Ok(Some(Value::Bool(true))))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn syntax_errors_name_the_json_path_of_the_string() {
        let err = Template::parse(&json!({"body": [{"text": "ok"}, {"text": "x ${add(1)} y"}]}))
            .expect_err("arity error");
        assert_eq!(err.path, "/body/1/text");
        let err = Template::parse(&json!({"a": {"b/c": "${1 +}"}})).expect_err("syntax error");
        assert_eq!(err.path, "/a/b~1c");
        let err = Template::parse(&json!({"t": "It`s ${name}"})).expect_err("backtick");
        assert!(err.message.contains("backtick"), "{err}");
        // As in Microsoft's engine, an unterminated `${` and an escaped `\${` are text.
        let text = Template::parse(&json!({"t": "${unclosed", "e": "\\${name} ${name}"}))
            .expect("text")
            .expand(&json!({"name": "Ada"}), None)
            .expect("expands");
        assert_eq!(text, Some(json!({"t": "${unclosed", "e": "${name} Ada"})));
    }

    #[test]
    fn evaluation_errors_name_the_json_path_of_a_whole_value() {
        let template =
            Template::parse(&json!({"body": [{"maxLines": "${n / 0}"}]})).expect("parses");
        let err = template
            .expand(&json!({"n": 1}), None)
            .expect_err("division by zero");
        assert_eq!(err.path, "/body/0/maxLines");
    }

    #[test]
    fn customer_text_is_data_never_template() {
        let template = Template::parse(&json!({"text": "${message}", "quote": "said: ${message}"}))
            .expect("parses");
        let data = json!({"message": "${$root.secret} and ${add(1, 2)}", "secret": "s"});
        let out = template
            .expand(&data, None)
            .expect("expands")
            .expect("value");
        assert_eq!(out["text"], "${$root.secret} and ${add(1, 2)}");
        assert_eq!(out["quote"], "said: ${$root.secret} and ${add(1, 2)}");
    }

    #[test]
    fn null_inside_a_string_adds_no_text() {
        let template = Template::parse(&json!({"text": "${name} <${email}>"})).expect("parses");
        let out = template
            .expand(&json!({"name": "A", "email": null}), None)
            .expect("expands");
        assert_eq!(out, Some(json!({"text": "A <>"})));
    }

    #[test]
    fn utc_now_and_format_number_are_available() {
        let template = Template::parse(
            &json!({"t": "${utcNow('yyyy')}", "n": "${formatNumber(1234567.891, 2)}"}),
        )
        .expect("parses");
        let now = DateTime::parse_from_rfc3339("2031-01-02T03:04:05Z")
            .expect("time")
            .into();
        let out = template.expand_at(&json!({}), None, now).expect("expands");
        assert_eq!(out, Some(json!({"t": "2031", "n": "1,234,567.89"})));
    }
}
