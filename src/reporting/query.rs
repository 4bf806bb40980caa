//! The query string of the reporting endpoints: filters, paging and format, each checked with
//! an error naming the parameter.

use std::collections::BTreeMap;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

use crate::admin::Refused;
use crate::http::problem::Problem;

/// Rows per page unless `limit` says otherwise, and the most one page holds.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

pub const CHANNELS: &[&str] = &["interact", "whatsapp"];

/// 400 `invalid_parameter` naming the parameter.
pub fn bad(name: &str, detail: String) -> Refused {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
        format!("{name}: {detail}"),
    )
    .into_response()
    .into()
}

/// The parameters of one request, each at most once, none unknown.
pub struct Params(BTreeMap<String, String>);

impl Params {
    pub fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<Params, Refused> {
        let mut params = BTreeMap::new();
        for (name, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            if !allowed.contains(&name.as_ref()) {
                return Err(Problem::new(
                    StatusCode::BAD_REQUEST,
                    "unknown_parameter",
                    format!("unknown parameter {name:?}; known: {}", allowed.join(", ")),
                )
                .into_response()
                .into());
            }
            if params
                .insert(name.clone().into_owned(), value.into_owned())
                .is_some()
            {
                return Err(bad(&name, "given more than once".into()));
            }
        }
        Ok(Params(params))
    }

    /// A non-empty text value.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A value that must be one of `choices`.
    pub fn choice(&self, name: &str, choices: &[&str]) -> Result<Option<String>, Refused> {
        match self.text(name) {
            None => Ok(None),
            Some(v) if choices.contains(&v) => Ok(Some(v.to_owned())),
            Some(v) => Err(bad(
                name,
                format!("{v:?} is not one of {}", choices.join(", ")),
            )),
        }
    }

    /// A time (RFC 3339, or a date meaning its midnight UTC) as Unix milliseconds.
    pub fn time(&self, name: &str) -> Result<Option<i64>, Refused> {
        let Some(v) = self.text(name) else {
            return Ok(None);
        };
        if let Ok(t) = DateTime::parse_from_rfc3339(v) {
            return Ok(Some(t.timestamp_millis()));
        }
        if let Some(t) = NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
        {
            return Ok(Some(t.and_utc().timestamp_millis()));
        }
        Err(bad(
            name,
            format!("{v:?} is not a time like 2026-11-21T09:00:00Z or a date like 2026-11-21"),
        ))
    }

    /// A whole number in `min..=max`.
    pub fn number(&self, name: &str, min: u64, max: u64) -> Result<Option<u64>, Refused> {
        let Some(v) = self.text(name) else {
            return Ok(None);
        };
        match v.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(bad(
                name,
                format!("{v:?} is not a whole number from {min} to {max}"),
            )),
        }
    }

    /// The query string with `name` set to `value` (for the next page's link).
    pub fn with(&self, name: &str, value: &str) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.0 {
            if k != name {
                out.append_pair(k, v);
            }
        }
        out.append_pair(name, value);
        out.finish()
    }
}

/// The time range, `[from, to)`, checked to be in order.
pub fn range(params: &Params) -> Result<(Option<i64>, Option<i64>), Refused> {
    let from = params.time("from")?;
    let to = params.time("to")?;
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        return Err(bad("to", "must be after from".into()));
    }
    Ok((from, to))
}

/// JSON unless `format=csv` or the client accepts CSV and not JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
}

impl Format {
    pub fn of(params: &Params, headers: &HeaderMap) -> Result<Format, Refused> {
        match params.choice("format", &["json", "csv"])?.as_deref() {
            Some("csv") => return Ok(Format::Csv),
            Some(_) => return Ok(Format::Json),
            None => {}
        }
        let accept = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        Ok(
            if accept.contains("text/csv") && !accept.contains("application/json") {
                Format::Csv
            } else {
                Format::Json
            },
        )
    }
}

/// Where a page starts: after the row with this end time and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub ended_at: i64,
    pub key: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.ended_at, self.key))
    }

    pub fn of(params: &Params) -> Result<Option<Cursor>, Refused> {
        let Some(v) = params.text("cursor") else {
            return Ok(None);
        };
        URL_SAFE_NO_PAD
            .decode(v)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| {
                let (at, key) = s.split_once(':')?;
                Some(Cursor {
                    ended_at: at.parse().ok()?,
                    key: key.to_owned(),
                })
            })
            .map(Some)
            .ok_or_else(|| {
                bad(
                    "cursor",
                    "not a cursor this API gave out (use the `next` link as is)".into(),
                )
            })
    }
}

/// Unix milliseconds as an RFC 3339 UTC time with milliseconds.
pub fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        let c = Cursor {
            ended_at: 1_700_000_000_123,
            key: "s:1".into(),
        };
        let params = Params::parse(Some(&format!("cursor={}", c.encode())), &["cursor"])
            .unwrap_or_else(|_| panic!("parses"));
        assert_eq!(Cursor::of(&params).ok().flatten(), Some(c));
        let params = Params::parse(Some("cursor=abc"), &["cursor"]).unwrap_or_else(|_| panic!());
        assert!(Cursor::of(&params).is_err());
    }

    #[test]
    fn times_dates_and_ranges() {
        let p = Params::parse(
            Some("from=2026-11-21&to=2026-11-21T01:00:00%2B01:00"),
            &["from", "to"],
        )
        .unwrap_or_else(|_| panic!());
        assert!(range(&p).is_err(), "to equals from");
        let p = Params::parse(
            Some("from=2026-11-21T00:00:00Z&to=2026-11-22"),
            &["from", "to"],
        )
        .unwrap_or_else(|_| panic!());
        let (from, to) = range(&p).unwrap_or_else(|_| panic!());
        assert_eq!(to.zip(from).map(|(t, f)| t - f), Some(86_400_000));
        assert!(Params::parse(Some("x=1"), &["from"]).is_err());
        assert!(Params::parse(Some("from=1&from=2"), &["from"]).is_err());
    }
}
