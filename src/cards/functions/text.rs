//! String and conversion functions. Lengths and positions count UTF-16 code units, as
//! JavaScript does.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use super::super::value::{number, number_to_string, to_js_string, to_json_text, utf16_len};
use super::{EvalError, EvalResult, integer_arg, number_arg, string_arg};

/// What `encodeURIComponent` leaves alone.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

fn text(s: impl Into<String>) -> EvalResult {
    Ok(Some(Value::String(s.into())))
}

/// Strings for concatenation (AEL's `commonStringify`): null is empty, objects are JSON.
pub fn stringify(v: &Option<Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::Object(_)) => to_json_text(v.as_ref().unwrap_or(&Value::Null)),
        Some(other) => to_js_string(other),
    }
}

/// Upper-cases every ASCII word character that follows a non-word character, as the
/// reference's `\b\w` regular expression does (so `éLAN` becomes `éLan`).
fn title_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut previous_is_word = false;
    for c in s.to_lowercase().chars() {
        let is_word = c.is_ascii_alphanumeric() || c == '_';
        if is_word && !previous_is_word {
            out.push(c.to_ascii_uppercase());
        } else {
            out.push(c);
        }
        previous_is_word = is_word;
    }
    out
}

fn utf16_slice(s: &str, start: usize, end: usize) -> String {
    let units: Vec<u16> = s.encode_utf16().collect();
    String::from_utf16_lossy(&units[start..end])
}

fn utf16_index(haystack: &str, needle: &str, last: bool) -> i64 {
    let found = if last {
        haystack.rfind(needle)
    } else {
        haystack.find(needle)
    };
    found.map_or(-1, |byte| utf16_len(&haystack[..byte]) as i64)
}

pub fn call(name: &str, v: &[Option<Value>]) -> Option<EvalResult> {
    Some(match name {
        "concat" => concat(v),
        "&" => text(v.iter().map(stringify).collect::<String>()),
        "length" => string_arg(name, &v[0]).map(|s| Some(number(utf16_len(s) as f64))),
        "toUpper" => text(stringify(&v[0]).to_uppercase()),
        "toLower" => text(stringify(&v[0]).to_lowercase()),
        "trim" => text(stringify(&v[0]).trim()),
        "sentenceCase" => {
            let lower = stringify(&v[0]).to_lowercase();
            let mut chars = lower.chars();
            text(
                chars
                    .next()
                    .map_or(String::new(), |c| c.to_uppercase().chain(chars).collect()),
            )
        }
        "titleCase" => text(title_case(&stringify(&v[0]))),
        "substring" => substring(v),
        "replace" | "replaceIgnoreCase" => replace(name, v),
        "split" => {
            let s = stringify(&v[0]);
            let sep = v.get(1).map(stringify).unwrap_or_default();
            let parts: Vec<Value> = if sep.is_empty() {
                s.chars().map(|c| Value::String(c.to_string())).collect()
            } else {
                s.split(sep.as_str())
                    .map(|p| Value::String(p.to_owned()))
                    .collect()
            };
            Ok(Some(Value::Array(parts)))
        }
        "startsWith" => Ok(Some(Value::Bool(
            stringify(&v[0]).starts_with(&stringify(&v[1])),
        ))),
        "endsWith" => Ok(Some(Value::Bool(
            stringify(&v[0]).ends_with(&stringify(&v[1])),
        ))),
        "uriComponent" => text(utf8_percent_encode(&stringify(&v[0]), URI_COMPONENT).to_string()),
        "base64" => text(STANDARD.encode(stringify(&v[0]))),
        "base64ToString" => string_arg(name, &v[0]).and_then(|s| {
            let bytes = STANDARD
                .decode(s)
                .map_err(|_| EvalError::new("base64ToString: not base64"))?;
            text(
                String::from_utf8(bytes)
                    .map_err(|_| EvalError::new("base64ToString: not UTF-8"))?,
            )
        }),
        "string" => text(match &v[0] {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => number_to_string(n.as_f64().unwrap_or(0.0)),
            Some(Value::Bool(b)) => b.to_string(),
            Some(other) => to_json_text(other),
        }),
        "int" => to_int(&v[0]),
        "float" => to_float(&v[0]),
        // Strings "true"/"false" (any case) are themselves, numbers are true unless 0, null is
        // false, everything else (including "" and "0") is true.
        "bool" => Ok(Some(Value::Bool(match &v[0] {
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
            Some(Value::Number(n)) => n.as_f64() != Some(0.0),
            other => super::super::value::is_logic_true(other.as_ref()),
        }))),
        "json" => match &v[0] {
            Some(Value::String(s)) => serde_json::from_str(s)
                .map(Some)
                .map_err(|e| EvalError::new(format!("json: invalid JSON text ({e})"))),
            Some(other @ (Value::Object(_) | Value::Array(_))) => Ok(Some(other.clone())),
            _ => Err(EvalError::new("json expects a JSON string")),
        },
        _ => return None,
    })
}

/// `concat`: arrays are joined into one array; otherwise every argument becomes text.
fn concat(v: &[Option<Value>]) -> EvalResult {
    if v.iter()
        .all(|x| matches!(x, Some(Value::Array(_)) | None | Some(Value::Null)))
        && v.iter().any(|x| matches!(x, Some(Value::Array(_))))
    {
        let mut out = Vec::new();
        for x in v.iter().flatten() {
            if let Value::Array(items) = x {
                out.extend(items.iter().cloned());
            }
        }
        return Ok(Some(Value::Array(out)));
    }
    text(v.iter().map(stringify).collect::<String>())
}

fn substring(v: &[Option<Value>]) -> EvalResult {
    let s = stringify(&v[0]);
    let len = utf16_len(&s) as i64;
    let start = integer_arg("substring", &v[1])?;
    if start < 0 || start > len {
        return Err(EvalError::new(format!(
            "substring: start index {start} is out of range"
        )));
    }
    let end = match v.get(2) {
        Some(n) => start + integer_arg("substring", n)?,
        None => len,
    };
    if end < start || end > len {
        return Err(EvalError::new(format!(
            "substring: length {} is out of range",
            end - start
        )));
    }
    text(utf16_slice(&s, start as usize, end as usize))
}

fn replace(name: &str, v: &[Option<Value>]) -> EvalResult {
    let s = stringify(&v[0]);
    let old = stringify(&v[1]);
    let new = stringify(&v[2]);
    if old.is_empty() {
        return Err(EvalError::new(format!(
            "{name}: the text to replace is empty"
        )));
    }
    if name == "replace" {
        return text(s.replace(&old, &new));
    }
    let lower = s.to_lowercase();
    let needle = old.to_lowercase();
    if lower.len() != s.len() {
        // Case mapping changed byte lengths: fall back to a case-sensitive replace.
        return text(s.replace(&old, &new));
    }
    let mut out = String::new();
    let mut rest = 0;
    for (at, _) in lower.match_indices(&needle) {
        out.push_str(&s[rest..at]);
        out.push_str(&new);
        rest = at + needle.len();
    }
    out.push_str(&s[rest..]);
    text(out)
}

fn to_int(v: &Option<Value>) -> EvalResult {
    let n = match v {
        Some(Value::String(s)) => {
            let trimmed = s.trim();
            let digits: String = trimmed
                .char_indices()
                .take_while(|(i, c)| c.is_ascii_digit() || (*i == 0 && (*c == '-' || *c == '+')))
                .map(|(_, c)| c)
                .collect();
            digits
                .parse::<f64>()
                .map_err(|_| EvalError::new(format!("int: {s:?} is not a valid number string")))?
        }
        other => number_arg("int", other)?.trunc(),
    };
    Ok(Some(number(n)))
}

fn to_float(v: &Option<Value>) -> EvalResult {
    let n = match v {
        Some(Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| EvalError::new(format!("float: {s:?} is not a valid number string")))?,
        other => number_arg("float", other)?,
    };
    Ok(Some(number(n)))
}

pub(super) fn index_of(v: &[Option<Value>], last: bool) -> EvalResult {
    match &v[0] {
        Some(Value::Array(items)) => {
            let target = v[1].clone().unwrap_or(Value::Null);
            let mut positions = items
                .iter()
                .enumerate()
                .filter(|(_, x)| super::math::values_equal(x, &target));
            let found = if last {
                positions.next_back()
            } else {
                positions.next()
            };
            Ok(Some(number(found.map_or(-1.0, |(i, _)| i as f64))))
        }
        _ => Ok(Some(number(
            utf16_index(&stringify(&v[0]), &stringify(&v[1]), last) as f64,
        ))),
    }
}
