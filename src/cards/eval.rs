//! Evaluation of expressions against the template's data scope, with the reference engine's
//! rules: property names fall back to a case-insensitive match, a missing memory path may be
//! replaced by the text `${path}` ("null substitution"), a top-level `[index]` out of range is
//! an error while one inside a longer path is just missing.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::expr::Expr;
use super::functions;
use super::value::number;

/// An evaluation failure; inside an interpolated string it is swallowed, elsewhere fatal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EvalError(pub String);

impl EvalError {
    pub fn new(message: impl Into<String>) -> Self {
        EvalError(message.into())
    }
}

/// `Ok(None)` is JavaScript's `undefined`.
pub type EvalResult = Result<Option<Value>, EvalError>;

/// The template scope: `$root`, `$data`, `$index`, `$host`.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub root: &'a Value,
    pub data: &'a Value,
    pub index: Option<usize>,
    pub host: Option<&'a Value>,
}

/// A lambda variable bound by `where`, `select`, `foreach`.
#[derive(Debug, Clone, Copy)]
pub struct Local<'a> {
    pub name: &'a str,
    pub value: &'a Value,
    pub parent: Option<&'a Local<'a>>,
}

/// What names resolve against during one evaluation.
#[derive(Debug, Clone, Copy)]
pub struct Env<'a> {
    pub scope: Scope<'a>,
    pub locals: Option<&'a Local<'a>>,
}

/// Evaluation settings for one expansion.
#[derive(Debug, Clone, Copy)]
pub struct Evaluator {
    /// Replace a missing memory path by the text `${path}` (off for `$when`).
    pub substitute: bool,
    /// The time `utcNow()` returns.
    pub now: DateTime<Utc>,
    /// The locale `formatNumber` uses when the template names none (a name of its locale
    /// table; `None`: en-US).
    pub locale: Option<&'static str>,
}

/// A property by exact name, else by case-insensitive name (AEL's `accessProperty`).
pub fn property<'v>(value: &'v Value, name: &str) -> Option<&'v Value> {
    let object = value.as_object()?;
    object.get(name).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn child<'v>(
    base: Cow<'v, Value>,
    pick: impl Fn(&Value) -> Option<&Value>,
) -> Option<Cow<'v, Value>> {
    match base {
        Cow::Borrowed(b) => pick(b).map(Cow::Borrowed),
        Cow::Owned(o) => pick(&o).cloned().map(Cow::Owned),
    }
}

impl Evaluator {
    pub fn eval(&self, expr: &Expr, env: &Env<'_>) -> EvalResult {
        match expr {
            Expr::Const(v) => Ok(Some(v.clone())),
            Expr::Ident(_) | Expr::Member(..) => {
                let (value, path) = self.access(expr, env)?;
                Ok(match value {
                    Some(v) => Some(v.into_owned()),
                    None if self.substitute => Some(Value::String(format!("${{{path}}}"))),
                    None => None,
                })
            }
            Expr::Index(target, index) => self.element(target, index, env),
            Expr::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(self.eval(item, env)?.unwrap_or(Value::Null));
                }
                Ok(Some(Value::Array(out)))
            }
            Expr::Object(pairs) => {
                let mut out = serde_json::Map::new();
                for (k, v) in pairs {
                    if let Some(v) = self.eval(v, env)? {
                        out.insert(k.clone(), v);
                    }
                }
                Ok(Some(Value::Object(out)))
            }
            Expr::Call(name, args) => functions::call(self, name, args, env),
        }
    }

    /// Evaluates an argument that must be defined (`undefined` becomes null).
    pub fn arg(&self, expr: &Expr, env: &Env<'_>) -> Result<Value, EvalError> {
        Ok(self.eval(expr, env)?.unwrap_or(Value::Null))
    }

    /// Resolves an accessor chain to its value (borrowed where possible) and its path text.
    fn access<'e>(
        &self,
        expr: &Expr,
        env: &Env<'e>,
    ) -> Result<(Option<Cow<'e, Value>>, String), EvalError> {
        match expr {
            Expr::Ident(name) => Ok((
                resolve_name(name, env).map(|v| match v {
                    Resolved::Ref(r) => Cow::Borrowed(r),
                    Resolved::Owned(o) => Cow::Owned(o),
                }),
                name.clone(),
            )),
            Expr::Member(target, name) => {
                let (base, path) = self.chain_base(target, env)?;
                let value = base.and_then(|b| child(b, |v| property(v, name)));
                let path = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                Ok((value, path))
            }
            Expr::Index(target, index) => {
                let (base, path) = self.chain_base(target, env)?;
                let key = self.arg(index, env)?;
                match &key {
                    Value::Number(n) => {
                        let i = n.as_f64().unwrap_or(-1.0);
                        let value = base.and_then(|b| {
                            child(b, |v| {
                                if i < 0.0 || i.fract() != 0.0 {
                                    None
                                } else {
                                    v.as_array().and_then(|a| a.get(i as usize))
                                }
                            })
                        });
                        Ok((value, format!("{path}[{n}]")))
                    }
                    Value::String(k) => {
                        let value = base.and_then(|b| child(b, |v| property(v, k)));
                        Ok((value, format!("{path}['{k}']")))
                    }
                    _ => Err(EvalError::new(format!(
                        "{index} doesn't return an int or string"
                    ))),
                }
            }
            other => Ok((self.eval(other, env)?.map(Cow::Owned), String::new())),
        }
    }

    /// The base of a chain: another chain link, or any other expression evaluated whole.
    fn chain_base<'e>(
        &self,
        target: &Expr,
        env: &Env<'e>,
    ) -> Result<(Option<Cow<'e, Value>>, String), EvalError> {
        match target {
            Expr::Ident(_) | Expr::Member(..) | Expr::Index(..) => self.access(target, env),
            other => {
                let inner = Evaluator {
                    substitute: false,
                    ..*self
                };
                Ok((inner.eval(other, env)?.map(Cow::Owned), String::new()))
            }
        }
    }

    /// A top-level `target[index]` (AEL's Element evaluator).
    fn element(&self, target: &Expr, index: &Expr, env: &Env<'_>) -> EvalResult {
        let instance = self.eval(target, env)?;
        let key = self.arg(index, env)?;
        let Some(instance) = instance.filter(|v| !v.is_null()) else {
            return Ok(None);
        };
        match key {
            Value::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0) => {
                let i = n.as_f64().unwrap_or(-1.0);
                match &instance {
                    Value::Array(items) if i >= 0.0 && (i as usize) < items.len() => {
                        Ok(Some(items[i as usize].clone()))
                    }
                    Value::Array(_) => Err(EvalError::new(format!(
                        "{n} is out of range for {}",
                        super::value::to_js_string(&instance)
                    ))),
                    _ => Err(EvalError::new(format!(
                        "{} is not a collection.",
                        super::value::to_js_string(&instance)
                    ))),
                }
            }
            Value::String(k) => Ok(property(&instance, &k).cloned()),
            _ => Err(EvalError::new(format!(
                "Could not coerce {index} to an int or string."
            ))),
        }
    }
}

enum Resolved<'a> {
    Ref(&'a Value),
    Owned(Value),
}

fn resolve_name<'a>(name: &str, env: &Env<'a>) -> Option<Resolved<'a>> {
    let mut local = env.locals;
    while let Some(l) = local {
        if l.name == name {
            return Some(Resolved::Ref(l.value));
        }
        local = l.parent;
    }
    let scope = &env.scope;
    match name {
        "$root" => Some(Resolved::Ref(scope.root)),
        "$data" => Some(Resolved::Ref(scope.data)),
        "$host" => scope.host.map(Resolved::Ref),
        "$index" => scope.index.map(|i| Resolved::Owned(number(i as f64))),
        // The templating engine's version, as Microsoft's 2.3 exposes it.
        "$_acTemplateVersion" => Some(Resolved::Owned(serde_json::json!({"major": 2, "minor": 3}))),
        _ => property(scope.data, name).map(Resolved::Ref),
    }
}
