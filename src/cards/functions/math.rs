//! Arithmetic, comparison and logic functions, with JavaScript number semantics.

use serde_json::Value;

use super::super::value::{is_logic_true, number, to_js_string};
use super::{EvalError, EvalResult, number_arg};
use crate::cards::expr::Expr;

pub fn call(
    name: &str,
    v: &[Option<Value>],
    exprs: &[Expr],
    locale: Option<&'static str>,
) -> Option<EvalResult> {
    Some(match name {
        "+" | "add" => add(v),
        "-" if v.len() == 1 => number_arg(name, &v[0]).map(|n| Some(number(-n))),
        "-" | "sub" => fold(name, v, |a, b| Ok(a - b)),
        "*" | "mul" => fold(name, v, |a, b| Ok(a * b)),
        "/" | "div" => fold(name, v, |a, b| {
            if b == 0.0 {
                return Err(EvalError::new(format!(
                    "Cannot divide by 0 from {}",
                    exprs[1]
                )));
            }
            Ok(if a.fract() == 0.0 && b.fract() == 0.0 {
                (a / b).floor()
            } else {
                a / b
            })
        }),
        "%" | "mod" => fold(name, v, |a, b| {
            if b == 0.0 {
                return Err(EvalError::new(format!("Cannot mod by 0 from {}", exprs[1])));
            }
            Ok(a % b)
        }),
        "^" => fold(name, v, |a, b| Ok(a.powf(b))),
        "max" => fold(name, v, |a, b| Ok(a.max(b))),
        "min" => fold(name, v, |a, b| Ok(a.min(b))),
        "round" => round(v),
        "floor" => number_arg(name, &v[0]).map(|n| Some(number(n.floor()))),
        "ceiling" => number_arg(name, &v[0]).map(|n| Some(number(n.ceil()))),
        "abs" => number_arg(name, &v[0]).map(|n| Some(number(n.abs()))),
        "sum" | "average" => aggregate(name, &v[0]),
        "==" | "equals" => Ok(Some(Value::Bool(equal(&v[0], &v[1])))),
        "!=" => Ok(Some(Value::Bool(!equal(&v[0], &v[1])))),
        "<" | "less" => compare(name, v, |o| o.is_lt()),
        "<=" | "lessOrEquals" => compare(name, v, |o| o.is_le()),
        ">" | "greater" => compare(name, v, |o| o.is_gt()),
        ">=" | "greaterOrEquals" => compare(name, v, |o| o.is_ge()),
        "!" | "not" => Ok(Some(Value::Bool(!is_logic_true(v[0].as_ref())))),
        "exists" => Ok(Some(Value::Bool(
            v[0].as_ref().is_some_and(|x| !x.is_null()),
        ))),
        "empty" => Ok(Some(Value::Bool(match &v[0] {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.is_empty(),
            Some(Value::Array(a)) => a.is_empty(),
            Some(Value::Object(o)) => o.is_empty(),
            Some(_) => false,
        }))),
        "isString" => Ok(Some(Value::Bool(matches!(v[0], Some(Value::String(_)))))),
        "isInteger" => Ok(Some(Value::Bool(
            v[0].as_ref()
                .and_then(Value::as_f64)
                .is_some_and(|n| n.fract() == 0.0),
        ))),
        "isFloat" => Ok(Some(Value::Bool(
            v[0].as_ref()
                .and_then(Value::as_f64)
                .is_some_and(|n| n.fract() != 0.0),
        ))),
        "isNumber" => Ok(Some(Value::Bool(matches!(v[0], Some(Value::Number(_)))))),
        "isArray" => Ok(Some(Value::Bool(matches!(v[0], Some(Value::Array(_)))))),
        "isObject" => Ok(Some(Value::Bool(matches!(v[0], Some(Value::Object(_)))))),
        "isBoolean" => Ok(Some(Value::Bool(matches!(v[0], Some(Value::Bool(_)))))),
        "coalesce" => Ok(v
            .iter()
            .flatten()
            .find(|x| !x.is_null())
            .cloned()
            .or(Some(Value::Null))),
        "formatNumber" => format_number(v, locale),
        _ => return None,
    })
}

/// `+`: numbers add; if any operand is not a number, the operands are joined as strings.
fn add(v: &[Option<Value>]) -> EvalResult {
    if v.iter().all(|x| matches!(x, Some(Value::Number(_)))) {
        let sum = v.iter().flatten().filter_map(Value::as_f64).sum();
        return Ok(Some(number(sum)));
    }
    if v.iter().any(|x| x.as_ref().is_none_or(Value::is_null)) {
        return Err(EvalError::new(
            "add cannot combine null or undefined operands",
        ));
    }
    Ok(Some(Value::String(
        v.iter().flatten().map(to_js_string).collect(),
    )))
}

fn fold(
    name: &str,
    v: &[Option<Value>],
    f: impl Fn(f64, f64) -> Result<f64, EvalError>,
) -> EvalResult {
    let mut acc = number_arg(name, &v[0])?;
    for x in &v[1..] {
        acc = f(acc, number_arg(name, x)?)?;
    }
    if !acc.is_finite() {
        return Err(EvalError::new(format!(
            "{name} produced a number out of range"
        )));
    }
    Ok(Some(number(acc)))
}

fn round(v: &[Option<Value>]) -> EvalResult {
    let n = number_arg("round", &v[0])?;
    let digits = match v.get(1) {
        Some(d) => super::integer_arg("round", d)?,
        None => 0,
    };
    if !(0..=15).contains(&digits) {
        return Err(EvalError::new("round's precision must be between 0 and 15"));
    }
    let factor = 10f64.powi(digits as i32);
    Ok(Some(number(js_round(n * factor) / factor)))
}

fn aggregate(name: &str, v: &Option<Value>) -> EvalResult {
    let Some(Value::Array(items)) = v else {
        return Err(EvalError::new(format!(
            "{name} expects an array of numbers"
        )));
    };
    let numbers: Option<Vec<f64>> = items.iter().map(Value::as_f64).collect();
    let numbers =
        numbers.ok_or_else(|| EvalError::new(format!("{name} expects an array of numbers")))?;
    let sum: f64 = numbers.iter().sum();
    if name == "average" {
        if numbers.is_empty() {
            return Err(EvalError::new("average of an empty array"));
        }
        return Ok(Some(number(sum / numbers.len() as f64)));
    }
    Ok(Some(number(sum)))
}

/// Deep equality with numbers compared as doubles (`3 == 3.0`, `3 != '3'`).
pub fn equal(a: &Option<Value>, b: &Option<Value>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => values_equal(x, y),
        (None, Some(Value::Null)) | (Some(Value::Null), None) => true,
        _ => false,
    }
}

pub fn values_equal(x: &Value, y: &Value) -> bool {
    match (x, y) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(p, q)| values_equal(p, q))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, v)| b.get(k).is_some_and(|w| values_equal(v, w)))
        }
        _ => x == y,
    }
}

/// Ordering: null or undefined operands compare false; numbers with numbers and strings with
/// strings; anything else is an error.
fn compare(
    name: &str,
    v: &[Option<Value>],
    test: impl Fn(std::cmp::Ordering) -> bool,
) -> EvalResult {
    let ordering = match (&v[0], &v[1]) {
        (None | Some(Value::Null), _) | (_, None | Some(Value::Null)) => {
            return Ok(Some(Value::Bool(false)));
        }
        (Some(Value::Number(a)), Some(Value::Number(b))) => a.as_f64().partial_cmp(&b.as_f64()),
        (Some(Value::String(a)), Some(Value::String(b))) => {
            Some(a.encode_utf16().cmp(b.encode_utf16()))
        }
        (Some(a), Some(b)) => {
            return Err(EvalError::new(format!(
                "{} and {} must be comparable ({name})",
                to_js_string(a),
                to_js_string(b)
            )));
        }
    };
    Ok(Some(Value::Bool(ordering.is_some_and(test))))
}

/// `Math.round`: halves go towards positive infinity (`-2.5` → `-2`).
fn js_round(x: f64) -> f64 {
    let floor = x.floor();
    if x - floor >= 0.5 { floor + 1.0 } else { floor }
}

/// `formatNumber(number, precision, locale?)`: fixed decimals with en-US digit grouping, as
/// the reference's d3-format prints them (exact ties round away from zero, `−` for minus).
fn format_number(v: &[Option<Value>], default_locale: Option<&'static str>) -> EvalResult {
    let n = number_arg("formatNumber", &v[0])?;
    let precision = super::integer_arg("formatNumber", &v[1])?;
    if !(0..=20).contains(&precision) {
        return Err(EvalError::new(
            "formatNumber's precision must be between 0 and 20",
        ));
    }
    let precision = precision as usize;
    let magnitude = n.abs();
    let factor = 10f64.powi(precision as i32);
    let scaled = magnitude * factor;
    let fixed = if scaled.fract() == 0.5 {
        format!("{:.*}", precision, (scaled + 0.5) / factor)
    } else {
        format!("{magnitude:.precision$}")
    };
    let (int_part, frac) = fixed
        .split_once('.')
        .map_or((fixed.as_str(), None), |(i, f)| (i, Some(f)));
    let locale = match v.get(2) {
        Some(Some(Value::String(l))) => Some(l.as_str()),
        _ => default_locale,
    };
    let style = number_style(locale);
    // Groups from the right: the first of `grouping`, then the next, the last repeating.
    let digits: Vec<char> = int_part.chars().collect();
    let mut sizes = Vec::new();
    let mut left = digits.len();
    let mut g = 0;
    while left > 0 {
        let size = style.grouping[g.min(style.grouping.len() - 1)].min(left);
        sizes.push(size);
        left -= size;
        g += 1;
    }
    let mut groups = Vec::new();
    let mut at = 0;
    for size in sizes.iter().rev() {
        groups.push(digits[at..at + size].iter().collect::<String>());
        at += size;
    }
    let grouped = groups.join(style.thousands);
    let is_zero = fixed.chars().all(|c| c == '0' || c == '.');
    let sign = if n < 0.0 && !is_zero { "\u{2212}" } else { "" };
    let text = match frac {
        Some(f) => format!("{sign}{grouped}{}{f}", style.decimal),
        None => format!("{sign}{grouped}"),
    };
    Ok(Some(Value::String(match style.numerals {
        Some(numerals) => text
            .chars()
            .map(|c| c.to_digit(10).map_or(c, |d| numerals[d as usize]))
            .collect(),
        None => text,
    })))
}

/// How a locale writes numbers: the reference engine's own table (`adaptive-expressions`
/// 4.23.3, `localeInfo`), by exact name (`de-DE`, not `de-de`); any other locale is en-US.
struct NumberStyle {
    decimal: &'static str,
    thousands: &'static str,
    grouping: &'static [usize],
    numerals: Option<[char; 10]>,
}

/// The locale table's own name for `locale` (matched case-insensitively, `de_DE` as `de-DE`):
/// the names `formatNumber` knows, else `None`.
pub fn known_locale(locale: &str) -> Option<&'static str> {
    const KNOWN: &[&str] = &[
        "ar-MA", "it-IT", "ca-ES", "es-ES", "ar-DZ", "nl-NL", "es-BO", "ar-TN", "pt-BR", "ar-LY",
        "pl-PL", "mk-MK", "de-DE", "uk-UA", "sv-SE", "fi-FI", "cs-CZ", "fr-CA", "ru-RU", "hu-HU",
        "fr-FR", "de-CH", "en-IN", "ar-BH", "ar-PS", "ar-EG", "ar-IQ", "ar-AE", "ar-MR", "ar-TD",
        "ar-SY", "ar-JO", "ar-ER", "ar-LB", "ar-YE", "ar-SS", "ar-SO", "ar-DJ", "ar-SD", "ar-001",
        "ar-SA", "ar-KW", "ar-QA", "ar-IL", "ar-OM", "ar-KM", "en-US",
    ];
    let wanted = locale.trim().replace('_', "-");
    KNOWN
        .iter()
        .copied()
        .find(|k| k.eq_ignore_ascii_case(&wanted))
}

fn number_style(locale: Option<&str>) -> NumberStyle {
    const ARABIC: [char; 10] = ['٠', '١', '٢', '٣', '٤', '٥', '٦', '٧', '٨', '٩'];
    let style = |decimal, thousands| NumberStyle {
        decimal,
        thousands,
        grouping: &[3],
        numerals: None,
    };
    match locale.unwrap_or("en-US") {
        "ar-MA" | "it-IT" | "ca-ES" | "es-ES" | "ar-DZ" | "nl-NL" | "es-BO" | "ar-TN" | "pt-BR"
        | "ar-LY" | "pl-PL" | "mk-MK" | "de-DE" => style(",", "."),
        "uk-UA" | "sv-SE" | "fi-FI" | "cs-CZ" | "fr-CA" | "ru-RU" | "hu-HU" | "fr-FR" => {
            style(",", "\u{a0}")
        }
        "de-CH" => style(",", "'"),
        "en-IN" => NumberStyle {
            grouping: &[3, 2],
            ..style(".", ",")
        },
        "ar-BH" | "ar-PS" | "ar-EG" | "ar-IQ" | "ar-AE" | "ar-MR" | "ar-TD" | "ar-SY" | "ar-JO"
        | "ar-ER" | "ar-LB" | "ar-YE" | "ar-SS" | "ar-SO" | "ar-DJ" | "ar-SD" | "ar-001"
        | "ar-SA" | "ar-KW" | "ar-QA" | "ar-IL" | "ar-OM" | "ar-KM" => NumberStyle {
            numerals: Some(ARABIC),
            ..style("\u{66b}", "\u{66c}")
        },
        _ => style(".", ","),
    }
}
