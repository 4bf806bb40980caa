//! Collection functions: arrays (and strings where AEL allows them).

use serde_json::Value;

use super::super::value::{number, utf16_len};
use super::math::values_equal;
use super::text::{index_of, stringify};
use super::{EvalError, EvalResult, integer_arg};

pub fn call(name: &str, v: &[Option<Value>]) -> Option<EvalResult> {
    Some(match name {
        "count" => match &v[0] {
            Some(Value::Array(a)) => Ok(Some(number(a.len() as f64))),
            Some(Value::String(s)) => Ok(Some(number(utf16_len(s) as f64))),
            Some(Value::Object(o)) => Ok(Some(number(o.len() as f64))),
            _ => Err(EvalError::new("count expects an array or a string")),
        },
        "first" | "last" => Ok(match &v[0] {
            Some(Value::Array(a)) => if name == "first" { a.first() } else { a.last() }.cloned(),
            Some(Value::String(s)) => {
                let c = if name == "first" {
                    s.chars().next()
                } else {
                    s.chars().next_back()
                };
                c.map(|c| Value::String(c.to_string()))
            }
            _ => None,
        }),
        "contains" => Ok(Some(Value::Bool(match &v[0] {
            Some(Value::Array(a)) => v[1]
                .as_ref()
                .is_some_and(|t| a.iter().any(|x| values_equal(x, t))),
            Some(Value::Object(o)) => o.contains_key(&stringify(&v[1])),
            Some(Value::String(s)) => s.contains(&stringify(&v[1])),
            _ => false,
        }))),
        "indexOf" => index_of(v, false),
        "lastIndexOf" => index_of(v, true),
        "join" => join(v),
        "union" | "intersection" => set_operation(name, v),
        "take" | "skip" => take_skip(name, v),
        "reverse" => match &v[0] {
            Some(Value::Array(a)) => Ok(Some(Value::Array(a.iter().rev().cloned().collect()))),
            Some(Value::String(s)) => Ok(Some(Value::String(s.chars().rev().collect()))),
            _ => Err(EvalError::new("reverse expects an array or a string")),
        },
        "createArray" => Ok(Some(Value::Array(
            v.iter().map(|x| x.clone().unwrap_or(Value::Null)).collect(),
        ))),
        _ => return None,
    })
}

fn join(v: &[Option<Value>]) -> EvalResult {
    let Some(Value::Array(items)) = &v[0] else {
        return Err(EvalError::new("join expects an array"));
    };
    let separator = stringify(&v[1]);
    let texts: Vec<String> = items.iter().map(|x| stringify(&Some(x.clone()))).collect();
    Ok(Some(Value::String(match (v.get(2), texts.len()) {
        (Some(last), n) if n >= 2 => format!(
            "{}{}{}",
            texts[..n - 1].join(&separator),
            stringify(last),
            texts[n - 1]
        ),
        _ => texts.join(&separator),
    })))
}

fn set_operation(name: &str, v: &[Option<Value>]) -> EvalResult {
    let mut arrays = Vec::new();
    for x in v {
        match x {
            Some(Value::Array(a)) => arrays.push(a),
            _ => return Err(EvalError::new(format!("{name} expects arrays"))),
        }
    }
    let mut out: Vec<Value> = Vec::new();
    if name == "union" {
        for item in arrays.iter().flat_map(|a| a.iter()) {
            if !out.iter().any(|o| values_equal(o, item)) {
                out.push(item.clone());
            }
        }
    } else if let Some((first, rest)) = arrays.split_first() {
        for item in first.iter() {
            if rest.iter().all(|a| a.iter().any(|x| values_equal(x, item)))
                && !out.iter().any(|o| values_equal(o, item))
            {
                out.push(item.clone());
            }
        }
    }
    Ok(Some(Value::Array(out)))
}

fn take_skip(name: &str, v: &[Option<Value>]) -> EvalResult {
    let n = integer_arg(name, &v[1])?.max(0) as usize;
    match &v[0] {
        Some(Value::Array(a)) => {
            let n = n.min(a.len());
            let part = if name == "take" { &a[..n] } else { &a[n..] };
            Ok(Some(Value::Array(part.to_vec())))
        }
        Some(Value::String(s)) => {
            let chars: Vec<char> = s.chars().collect();
            let n = n.min(chars.len());
            let part = if name == "take" {
                &chars[..n]
            } else {
                &chars[n..]
            };
            Ok(Some(Value::String(part.iter().collect())))
        }
        _ => Err(EvalError::new(format!(
            "{name} expects an array or a string"
        ))),
    }
}
