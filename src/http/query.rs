//! The query string of an admin API request, parsed strictly: each parameter at most once,
//! none unknown, every value checked with a 400 `invalid_parameter` naming the parameter.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, NaiveDate};

use crate::http::problem::{Problem, Refused};

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
