//! The query string of the reporting endpoints: filters, paging and format, each checked with
//! an error naming the parameter (the strict parser itself is [`crate::http::query::Params`]).

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::http::problem::Refused;
use crate::http::query::{Params, bad};

/// Rows per page unless `limit` says otherwise, and the most one page holds.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

pub const CHANNELS: &[&str] = &["interact", "whatsapp"];

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
