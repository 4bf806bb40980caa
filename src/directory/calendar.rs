//! Opening-hours calendars (DESIGN.md §4 `CheckOpeningHours`): a default state, weekly periods
//! and dated periods, in the calendar's time zone. A service applies a primary and an optional
//! secondary calendar: primary period > secondary period > primary default (the secondary
//! calendar's default never applies).

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

pub use crate::workflow::interpret::OpeningState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum State {
    Open,
    Closed,
    Holiday,
}

impl From<State> for OpeningState {
    fn from(s: State) -> Self {
        match s {
            State::Open => OpeningState::Open,
            State::Closed => OpeningState::Closed,
            State::Holiday => OpeningState::Holiday,
        }
    }
}

/// Every week on the given days, from `from` to `to` (local time; `to` exclusive; `24:00`
/// allowed as the end of the day).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WeeklyPeriod {
    pub days: Vec<Day>,
    pub from: String,
    pub to: String,
    pub state: State,
}

/// From one date to another (both inclusive, local), all day or between two times each day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DatePeriod {
    pub from: NaiveDate,
    pub to: NaiveDate,
    #[serde(default)]
    pub from_time: Option<String>,
    #[serde(default)]
    pub to_time: Option<String>,
    pub state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    fn weekday(self) -> Weekday {
        match self {
            Day::Mon => Weekday::Mon,
            Day::Tue => Weekday::Tue,
            Day::Wed => Weekday::Wed,
            Day::Thu => Weekday::Thu,
            Day::Fri => Weekday::Fri,
            Day::Sat => Weekday::Sat,
            Day::Sun => Weekday::Sun,
        }
    }
}

/// A calendar as stored (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Calendar {
    pub id: String,
    pub name: String,
    /// IANA time zone, e.g. `Europe/Berlin`.
    pub time_zone: String,
    pub default: State,
    #[serde(default)]
    pub weekly: Vec<WeeklyPeriod>,
    #[serde(default)]
    pub dates: Vec<DatePeriod>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("calendar {calendar}: {message}")]
pub struct CalendarError {
    pub calendar: String,
    pub message: String,
}

/// Minutes since midnight of `HH:MM` (`24:00` is 1440).
fn minutes(text: &str) -> Option<u32> {
    if text == "24:00" {
        return Some(24 * 60);
    }
    let t = NaiveTime::parse_from_str(text, "%H:%M").ok()?;
    Some(chrono::Timelike::hour(&t) * 60 + chrono::Timelike::minute(&t))
}

impl Calendar {
    /// Checks the time zone and every time, so a bad calendar is refused when saved.
    pub fn validate(&self) -> Result<(), CalendarError> {
        let error = |message: String| CalendarError {
            calendar: self.id.clone(),
            message,
        };
        self.time_zone
            .parse::<Tz>()
            .map_err(|_| error(format!("unknown time zone {:?}", self.time_zone)))?;
        for (i, p) in self.weekly.iter().enumerate() {
            let (Some(from), Some(to)) = (minutes(&p.from), minutes(&p.to)) else {
                return Err(error(format!("weekly period {i}: times are HH:MM")));
            };
            if from >= to || p.days.is_empty() {
                return Err(error(format!(
                    "weekly period {i}: needs days and from < to"
                )));
            }
        }
        for (i, p) in self.dates.iter().enumerate() {
            if p.from > p.to {
                return Err(error(format!("date period {i}: from is after to")));
            }
            match (&p.from_time, &p.to_time) {
                (None, None) => {}
                (Some(a), Some(b)) if minutes(a).zip(minutes(b)).is_some_and(|(a, b)| a < b) => {}
                _ => {
                    return Err(error(format!(
                        "date period {i}: give both fromTime and toTime (HH:MM, from < to) or neither"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The state of the period covering `now`, if any (dated periods before weekly ones).
    pub fn period_state(&self, now: DateTime<Utc>) -> Option<State> {
        let tz: Tz = self.time_zone.parse().ok()?;
        let local = now.with_timezone(&tz);
        let date = local.date_naive();
        let minute = chrono::Timelike::hour(&local) * 60 + chrono::Timelike::minute(&local);
        let within = |from: &str, to: &str| {
            minutes(from)
                .zip(minutes(to))
                .is_some_and(|(f, t)| f <= minute && minute < t)
        };
        let dated = self.dates.iter().find(|p| {
            p.from <= date
                && date <= p.to
                && match (&p.from_time, &p.to_time) {
                    (Some(f), Some(t)) => within(f, t),
                    _ => true,
                }
        });
        if let Some(p) = dated {
            return Some(p.state);
        }
        self.weekly
            .iter()
            .find(|p| {
                p.days.iter().any(|d| d.weekday() == local.weekday()) && within(&p.from, &p.to)
            })
            .map(|p| p.state)
    }
}

/// primary period > secondary period > primary default.
pub fn opening_state(
    primary: &Calendar,
    secondary: Option<&Calendar>,
    now: DateTime<Utc>,
) -> OpeningState {
    primary
        .period_state(now)
        .or_else(|| secondary.and_then(|s| s.period_state(now)))
        .unwrap_or(primary.default)
        .into()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("time").into()
    }

    fn office() -> Calendar {
        serde_json::from_value(json!({
            "id": "office", "name": "Office", "timeZone": "Europe/Berlin", "default": "closed",
            "weekly": [{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "17:00", "state": "open"}],
            "dates": [{"from": "2026-12-24", "to": "2026-12-26", "state": "holiday"}]
        }))
        .expect("calendar")
    }

    #[test]
    fn weekly_hours_apply_in_the_calendars_time_zone() {
        let c = office();
        c.validate().expect("valid");
        // 08:30 UTC on a Monday in winter is 09:30 in Berlin.
        assert_eq!(
            opening_state(&c, None, at("2026-11-23T08:30:00Z")),
            OpeningState::Open
        );
        assert_eq!(
            opening_state(&c, None, at("2026-11-23T07:59:00Z")),
            OpeningState::Closed
        );
        assert_eq!(
            opening_state(&c, None, at("2026-11-23T16:00:00Z")),
            OpeningState::Closed,
            "17:00 is the end, exclusive"
        );
        assert_eq!(
            opening_state(&c, None, at("2026-11-21T10:00:00Z")),
            OpeningState::Closed,
            "Saturday"
        );
    }

    #[test]
    fn dated_periods_win_over_weekly_ones_and_primary_over_secondary() {
        let c = office();
        assert_eq!(
            opening_state(&c, None, at("2026-12-24T10:00:00Z")),
            OpeningState::Holiday
        );
        let weekend: Calendar = serde_json::from_value(json!({
            "id": "weekend", "name": "Weekend desk", "timeZone": "UTC", "default": "open",
            "weekly": [{"days": ["sat"], "from": "10:00", "to": "14:00", "state": "open"}]
        }))
        .expect("calendar");
        // Saturday 11:00 UTC: no primary period, the secondary's period applies.
        assert_eq!(
            opening_state(&c, Some(&weekend), at("2026-11-21T11:00:00Z")),
            OpeningState::Open
        );
        // Saturday 16:00 UTC: no period anywhere; the primary default applies, never the secondary's.
        assert_eq!(
            opening_state(&c, Some(&weekend), at("2026-11-21T16:00:00Z")),
            OpeningState::Closed
        );
    }

    #[test]
    fn bad_calendars_are_refused() {
        let mut c = office();
        c.time_zone = "Mars/Olympus".into();
        assert!(c.validate().is_err());
        let mut c = office();
        c.weekly[0].from = "18:00".into();
        assert!(c.validate().is_err());
        let mut c = office();
        c.dates[0].from_time = Some("10:00".into());
        assert!(c.validate().is_err());
    }
}
