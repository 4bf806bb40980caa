//! JSON values with the JavaScript semantics the reference engine has: every number is a
//! double, whole numbers print without a fraction, `String(value)` joins arrays with commas and
//! prints objects as `[object Object]`.

use serde_json::{Number, Value};

/// The largest integer a double holds exactly.
const MAX_SAFE: f64 = 9_007_199_254_740_991.0;

/// A JSON number from a double: whole numbers become integers (as JavaScript prints them).
pub fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() <= MAX_SAFE {
        // `as` is exact here: n is whole and within ±2^53.
        Value::Number(Number::from(n as i64))
    } else {
        Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

/// `Number.prototype.toString()`.
pub fn number_to_string(n: f64) -> String {
    if n.is_nan() {
        return "NaN".into();
    }
    if n.is_infinite() {
        return if n > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    if n == 0.0 {
        return "0".into();
    }
    let abs = n.abs();
    if (1e-6..1e21).contains(&abs) {
        if n.fract() == 0.0 {
            return format!("{n:.0}");
        }
        return format!("{n}");
    }
    // Exponent form: Rust prints `1e21` / `1.5e-7`; JavaScript `1e+21` / `1.5e-7`.
    let s = format!("{n:e}");
    match s.split_once('e') {
        Some((mantissa, exp)) if !exp.starts_with('-') => format!("{mantissa}e+{exp}"),
        _ => s,
    }
}

/// `String(value)` for a value inside an interpolated string. `None` (undefined) and null
/// have no text; see the deviations table in the module docs.
pub fn to_js_string(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number_to_string(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|v| match v {
                Value::Null => String::new(),
                other => to_js_string(other),
            })
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(_) => "[object Object]".into(),
    }
}

/// AEL's notion of truth (`isLogicTrue`): booleans are themselves, null and undefined are
/// false, everything else (0 and "" included) is true.
pub fn is_logic_true(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => true,
    }
}

/// JavaScript truthiness, for `$when` given as a JSON literal.
pub fn is_js_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// Compact JSON text (`JSON.stringify`).
pub fn to_json_text(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Length in UTF-16 code units, as JavaScript counts.
pub fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_javascript_does() {
        assert_eq!(number_to_string(3.0), "3");
        assert_eq!(number_to_string(3.3000000000000003), "3.3000000000000003");
        assert_eq!(number_to_string(0.09999999999999998), "0.09999999999999998");
        assert_eq!(number_to_string(1e21), "1e+21");
        assert_eq!(number_to_string(-2.5), "-2.5");
        assert_eq!(number_to_string(1.5e-7), "1.5e-7");
        assert_eq!(number_to_string(123456789012.0), "123456789012");
    }

    #[test]
    fn strings_of_collections_follow_javascript() {
        let v: Value = serde_json::json!([[1, 2], [3], null, {"a": 1}]);
        assert_eq!(to_js_string(&v), "1,2,3,,[object Object]");
    }
}
