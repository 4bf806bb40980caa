//! The Adaptive Expressions functions cards use, with their arities (checked when a template
//! is loaded) and the reference's semantics. Operators are functions too (`+`, `==`, …).

mod collections;
mod dates;
mod math;
mod text;

use serde_json::Value;

use super::eval::{Env, EvalError, EvalResult, Evaluator, Local};
use super::expr::Expr;
use super::value::is_logic_true;

const ANY: usize = usize::MAX;

/// `(min, max)` argument counts of every known function; `None` for an unknown name.
pub fn arity(name: &str) -> Option<(usize, usize)> {
    Some(match name {
        "!" | "not" => (1, 1),
        "-" => (1, 2),
        "+" | "add" | "*" | "mul" | "&&" | "and" | "||" | "or" | "&" | "max" | "min" => (2, ANY),
        "/" | "div" | "%" | "mod" | "^" | "sub" | "==" | "equals" | "!=" | "<" | "<=" | ">"
        | ">=" | "less" | "lessOrEquals" | "greater" | "greaterOrEquals" => (2, 2),
        "if" => (3, 3),
        "where" | "select" | "foreach" => (3, 3),
        "round" => (1, 2),
        "floor" | "ceiling" | "abs" | "sum" | "average" => (1, 1),
        "exists" | "empty" | "isString" | "isInteger" | "isFloat" | "isArray" | "isObject"
        | "isBoolean" | "isNumber" | "isDateTime" => (1, 1),
        "coalesce" | "union" | "intersection" => (1, ANY),
        "concat" => (1, ANY),
        "createArray" => (0, ANY),
        "length" | "toUpper" | "toLower" | "trim" | "sentenceCase" | "titleCase"
        | "uriComponent" | "base64" | "base64ToString" | "count" | "first" | "last" | "string"
        | "int" | "float" | "bool" | "json" | "reverse" => (1, 1),
        "substring" => (2, 3),
        "replace" | "replaceIgnoreCase" => (3, 3),
        "split" => (1, 2),
        "join" => (2, 3),
        "startsWith" | "endsWith" | "contains" | "indexOf" | "lastIndexOf" | "take" | "skip" => {
            (2, 2)
        }
        "utcNow" => (0, 1),
        "formatDateTime" => (1, 3),
        "addDays" | "addHours" | "addMinutes" | "addSeconds" => (2, 3),
        "dayOfWeek" | "dayOfMonth" | "month" | "year" => (1, 1),
        "formatNumber" => (2, 3),
        _ => return None,
    })
}

/// Checks every call in `expr` against the arity table (unknown functions are allowed here:
/// the reference reports them only when evaluated).
pub fn check_arity(expr: &Expr) -> Result<(), String> {
    match expr {
        Expr::Call(name, args) => {
            if let Some((min, max)) = arity(name) {
                if args.len() < min {
                    return Err(format!(
                        "{name} needs at least {min} argument(s), has {}",
                        args.len()
                    ));
                }
                if args.len() > max {
                    return Err(format!(
                        "{name} takes at most {max} argument(s), has {}",
                        args.len()
                    ));
                }
                if matches!(name.as_str(), "where" | "select" | "foreach")
                    && !matches!(args[1], Expr::Ident(_))
                {
                    return Err(format!(
                        "the second argument of {name} must be a variable name"
                    ));
                }
            }
            args.iter().try_for_each(check_arity)
        }
        Expr::Member(t, _) => check_arity(t),
        Expr::Index(t, i) => check_arity(t).and_then(|()| check_arity(i)),
        Expr::Array(items) => items.iter().try_for_each(check_arity),
        Expr::Object(pairs) => pairs.iter().try_for_each(|(_, v)| check_arity(v)),
        Expr::Const(_) | Expr::Ident(_) => Ok(()),
    }
}

/// Calls `name` with unevaluated `args`. Logic, comparison, `exists`, `empty` and the
/// condition of `if` see a missing path as undefined (no `${path}` substitution) and treat an
/// argument that fails as false, as the reference does.
pub use math::known_locale;

pub fn call(ev: &Evaluator, name: &str, args: &[Expr], env: &Env<'_>) -> EvalResult {
    let plain = Evaluator {
        substitute: false,
        ..*ev
    };
    // `Err` from a plain argument counts as false.
    let truth = |e: &Expr| {
        plain
            .eval(e, env)
            .map(|v| is_logic_true(v.as_ref()))
            .unwrap_or(false)
    };
    let boolean = |b: bool| Ok(Some(Value::Bool(b)));
    match name {
        "if" => ev.eval(&args[if truth(&args[0]) { 1 } else { 2 }], env),
        "&&" | "and" => boolean(args.iter().all(truth)),
        "||" | "or" => boolean(args.iter().any(truth)),
        "!" | "not" => boolean(!truth(&args[0])),
        "exists" | "empty" => match plain.eval(&args[0], env) {
            Err(_) => boolean(false),
            Ok(v) => math::call(name, &[v], args, None).unwrap_or_else(|| boolean(false)),
        },
        "==" | "equals" | "!=" | "<" | "<=" | ">" | ">=" | "less" | "lessOrEquals" | "greater"
        | "greaterOrEquals" => {
            let mut values = Vec::with_capacity(2);
            for a in args {
                match plain.eval(a, env) {
                    Ok(v) => values.push(v),
                    Err(_) => return boolean(false),
                }
            }
            eager(ev, name, &values, args)
        }
        "where" | "select" | "foreach" => lambda(ev, name, args, env),
        _ => {
            let mut values = Vec::with_capacity(args.len());
            for a in args {
                values.push(ev.eval(a, env)?);
            }
            eager(ev, name, &values, args)
        }
    }
}

fn eager(ev: &Evaluator, name: &str, v: &[Option<Value>], exprs: &[Expr]) -> EvalResult {
    if let Some(result) = math::call(name, v, exprs, ev.locale) {
        return result;
    }
    if let Some(result) = text::call(name, v) {
        return result;
    }
    if let Some(result) = collections::call(name, v) {
        return result;
    }
    if let Some(result) = dates::call(name, v, ev.now) {
        return result;
    }
    Err(EvalError::new(format!("Unknown function {name}")))
}

/// `where`, `select`, `foreach`: the second argument names the item in the third.
fn lambda(ev: &Evaluator, name: &str, args: &[Expr], env: &Env<'_>) -> EvalResult {
    let collection = ev.arg(&args[0], env)?;
    let Expr::Ident(var) = &args[1] else {
        return Err(EvalError::new(format!(
            "the second argument of {name} must be a variable name"
        )));
    };
    let items: Vec<Value> = match collection {
        Value::Array(items) => items,
        Value::Object(map) => map
            .into_iter()
            .map(|(key, value)| serde_json::json!({"key": key, "value": value}))
            .collect(),
        other => {
            return Err(EvalError::new(format!(
                "{} is not a collection or structure object to run {name}",
                super::value::to_js_string(&other)
            )));
        }
    };
    let mut out = Vec::new();
    for item in &items {
        let local = Local {
            name: var,
            value: item,
            parent: env.locals,
        };
        let inner = Env {
            scope: env.scope,
            locals: Some(&local),
        };
        let result = ev.eval(&args[2], &inner)?;
        if name == "where" {
            if is_logic_true(result.as_ref()) {
                out.push(item.clone());
            }
        } else {
            out.push(result.unwrap_or(Value::Null));
        }
    }
    Ok(Some(Value::Array(out)))
}

/// Text of a value for AEL's own string concatenation (null is empty, objects are JSON).
pub fn stringify_value(v: &Option<Value>) -> String {
    text::stringify(v)
}

/// The argument as a string, or an error naming the function.
fn string_arg<'v>(name: &str, v: &'v Option<Value>) -> Result<&'v str, EvalError> {
    match v {
        Some(Value::String(s)) => Ok(s),
        other => Err(EvalError::new(format!(
            "{name} expects a string, got {}",
            other
                .as_ref()
                .map_or("undefined".into(), super::value::to_json_text)
        ))),
    }
}

/// The argument as a number, or an error naming the function.
fn number_arg(name: &str, v: &Option<Value>) -> Result<f64, EvalError> {
    v.as_ref().and_then(Value::as_f64).ok_or_else(|| {
        EvalError::new(format!(
            "{name} expects a number, got {}",
            v.as_ref()
                .map_or("undefined".into(), super::value::to_json_text)
        ))
    })
}

/// The argument as a whole number.
fn integer_arg(name: &str, v: &Option<Value>) -> Result<i64, EvalError> {
    let n = number_arg(name, v)?;
    if n.fract() != 0.0 {
        return Err(EvalError::new(format!(
            "{name} expects an integer, got {n}"
        )));
    }
    Ok(n as i64)
}
