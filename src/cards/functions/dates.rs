//! Date functions on ISO 8601 timestamps, always in UTC. `formatDateTime` takes .NET-style
//! custom formats (`yyyy-MM-dd HH:mm`, `dddd, MMMM d, yyyy h:mm tt`); the arithmetic functions
//! require the exact `toISOString()` form with milliseconds, as the reference does.

use chrono::{DateTime, Datelike, Duration, SecondsFormat, Timelike, Utc};
use serde_json::Value;

use super::super::value::number;
use super::{EvalError, EvalResult, number_arg, string_arg};

const DEFAULT_FORMAT: &str = "yyyy-MM-ddTHH:mm:ss.fffZ";
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

pub fn call(name: &str, v: &[Option<Value>], now: DateTime<Utc>) -> Option<EvalResult> {
    Some(match name {
        "utcNow" => format_arg(now, v.first()),
        "formatDateTime" => string_arg(name, &v[0])
            .and_then(|s| {
                parse_any(s).ok_or_else(|| {
                    EvalError::new(format!("formatDateTime: {s:?} is not a timestamp"))
                })
            })
            .and_then(|t| format_arg(t, v.get(1))),
        "addDays" | "addHours" | "addMinutes" | "addSeconds" => add(name, v),
        "dayOfWeek" => {
            strict(name, &v[0]).map(|t| Some(number(f64::from(t.weekday().num_days_from_sunday()))))
        }
        "dayOfMonth" => strict(name, &v[0]).map(|t| Some(number(f64::from(t.day())))),
        "month" => strict(name, &v[0]).map(|t| Some(number(f64::from(t.month())))),
        "year" => strict(name, &v[0]).map(|t| Some(number(f64::from(t.year())))),
        _ => return None,
    })
}

fn format_arg(t: DateTime<Utc>, format: Option<&Option<Value>>) -> EvalResult {
    let format = match format {
        Some(f) => string_arg("formatDateTime", f)?.to_owned(),
        None => DEFAULT_FORMAT.to_owned(),
    };
    Ok(Some(Value::String(format_datetime(t, &format))))
}

/// Any ISO 8601 timestamp (with or without fraction, `Z` or an offset), as UTC.
pub fn parse_any(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|n| n.and_utc())
        })
}

/// Only the exact `YYYY-MM-DDTHH:mm:ss.sssZ` form.
fn strict(name: &str, v: &Option<Value>) -> Result<DateTime<Utc>, EvalError> {
    let s = string_arg(name, v)?;
    parse_any(s).filter(|t| iso(*t) == s).ok_or_else(|| {
        EvalError::new(format!(
            "{name}: {s:?} is not an ISO 8601 timestamp with milliseconds"
        ))
    })
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn add(name: &str, v: &[Option<Value>]) -> EvalResult {
    let t = strict(name, &v[0])?;
    let amount = number_arg(name, &v[1])?;
    let millis = match name {
        "addDays" => amount * 86_400_000.0,
        "addHours" => amount * 3_600_000.0,
        "addMinutes" => amount * 60_000.0,
        _ => amount * 1000.0,
    };
    let shifted = t
        .checked_add_signed(Duration::milliseconds(millis as i64))
        .ok_or_else(|| EvalError::new(format!("{name}: result out of range")))?;
    match v.get(2) {
        Some(f) => format_arg(shifted, Some(f)),
        None => Ok(Some(Value::String(iso(shifted)))),
    }
}

/// Formats with .NET custom date and time format specifiers (invariant English names).
pub fn format_datetime(t: DateTime<Utc>, format: &str) -> String {
    let chars: Vec<char> = format.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let mut n = 1;
        while i + n < chars.len() && chars[i + n] == c {
            n += 1;
        }
        match c {
            'd' => match n {
                1 => out.push_str(&t.day().to_string()),
                2 => out.push_str(&format!("{:02}", t.day())),
                3 => out.push_str(&DAYS[t.weekday().num_days_from_sunday() as usize][..3]),
                _ => out.push_str(DAYS[t.weekday().num_days_from_sunday() as usize]),
            },
            'M' => match n {
                1 => out.push_str(&t.month().to_string()),
                2 => out.push_str(&format!("{:02}", t.month())),
                3 => out.push_str(&MONTHS[t.month0() as usize][..3]),
                _ => out.push_str(MONTHS[t.month0() as usize]),
            },
            'y' => match n {
                1 => out.push_str(&(t.year() % 100).to_string()),
                2 => out.push_str(&format!("{:02}", t.year() % 100)),
                _ => out.push_str(&format!("{:0width$}", t.year(), width = n)),
            },
            'H' => out.push_str(&pad(t.hour(), n)),
            'h' => out.push_str(&pad(
                if t.hour().is_multiple_of(12) {
                    12
                } else {
                    t.hour() % 12
                },
                n,
            )),
            'm' => out.push_str(&pad(t.minute(), n)),
            's' => out.push_str(&pad(t.second(), n)),
            'f' | 'F' => {
                let digits = format!("{:09}", t.nanosecond() % 1_000_000_000);
                let part = &digits[..n.min(9)];
                if c == 'F' {
                    out.push_str(part.trim_end_matches('0'));
                } else {
                    out.push_str(part);
                }
            }
            't' => {
                let designator = if t.hour() < 12 { "AM" } else { "PM" };
                out.push_str(if n == 1 { &designator[..1] } else { designator });
            }
            'z' => out.push_str(match n {
                1 => "+0",
                2 => "+00",
                _ => "+00:00",
            }),
            'K' => out.push('Z'),
            '\'' | '"' => {
                // Quoted literal text.
                let mut j = i + 1;
                while j < chars.len() && chars[j] != c {
                    out.push(chars[j]);
                    j += 1;
                }
                i = j + 1;
                continue;
            }
            '\\' if i + 1 < chars.len() => {
                out.push(chars[i + 1]);
                i += 2;
                continue;
            }
            _ => {
                for _ in 0..n {
                    out.push(c);
                }
            }
        }
        i += n;
    }
    out
}

fn pad(value: u32, width: usize) -> String {
    if width >= 2 {
        format!("{value:02}")
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotnet_formats_render_in_english_and_utc() {
        let t = parse_any("2024-03-05T14:07:09+02:00").expect("parse");
        assert_eq!(format_datetime(t, "HH:mm"), "12:07");
        let t = parse_any("2024-03-05T14:07:09Z").expect("parse");
        assert_eq!(
            format_datetime(t, "dddd, MMMM d, yyyy h:mm tt"),
            "Tuesday, March 5, 2024 2:07 PM"
        );
        assert_eq!(
            format_datetime(t, DEFAULT_FORMAT),
            "2024-03-05T14:07:09.000Z"
        );
        assert_eq!(format_datetime(t, "'at' HH\\h"), "at 14h");
    }
}
