//! Time intervals (`time_intervals`, `mute_time_intervals`): times of day,
//! weekdays, days of the month, months and years, parsed and checked as
//! upstream's `timeinterval` package does, and asked whether they hold at
//! a moment, in the interval's `location`: UTC by default, `Local`, or a
//! zone of the system's time zone database (`/usr/share/zoneinfo`, or
//! `$ZONEINFO`), as Go's `time.LoadLocation` reads it.

use std::sync::Arc;

use chrono::{Datelike, TimeZone, Timelike, Utc};
use model::yaml::Value;

use crate::Error;

/// A time zone, compared by name.
#[derive(Debug, Clone)]
pub struct Location {
    pub name: String,
    zone: Arc<tz::TimeZone>,
}

impl PartialEq for Location {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Location {
    /// Go's `time.LoadLocation`: "" and "UTC" are UTC, "Local" the
    /// system's zone, anything else a file of the time zone database.
    pub fn load(name: &str) -> Result<Option<Location>, Error> {
        Self::load_str(name).map_err(Error::BadTimeInterval)
    }

    fn load_str(name: &str) -> Result<Option<Location>, String> {
        let unknown = || format!("unknown time zone {name}");
        let zone = match name {
            "" | "UTC" => return Ok(None),
            "Local" => tz::TimeZone::local().map_err(|_| unknown())?,
            _ => {
                if name.starts_with('/') || name.split('/').any(|p| p == ".." || p.is_empty()) {
                    return Err(unknown());
                }
                let dirs = std::env::var("ZONEINFO").ok().into_iter().chain([
                    "/usr/share/zoneinfo".to_string(),
                    "/usr/share/lib/zoneinfo".to_string(),
                    "/usr/lib/locale/TZ".to_string(),
                ]);
                let data = dirs
                    .filter_map(|d| std::fs::read(std::path::Path::new(&d).join(name)).ok())
                    .next()
                    .ok_or_else(unknown)?;
                tz::TimeZone::from_tz_data(&data).map_err(|_| unknown())?
            }
        };
        Ok(Some(Location {
            name: name.to_string(),
            zone: Arc::new(zone),
        }))
    }

    /// The zone's offset from UTC at `ms`, in seconds.
    fn offset(&self, ms: i64) -> i64 {
        self.zone
            .find_local_time_type(ms.div_euclid(1000))
            .map(|t| i64::from(t.ut_offset()))
            .unwrap_or(0)
    }
}

/// One `time_intervals` entry; an empty list means "any".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TimeInterval {
    /// Minutes of the day, `[start, end)`.
    pub times: Vec<(u32, u32)>,
    /// Sunday = 0.
    pub weekdays: Vec<(u32, u32)>,
    /// Negative counts from the month's end (-1 is the last day).
    pub days_of_month: Vec<(i32, i32)>,
    pub months: Vec<(u32, u32)>,
    pub years: Vec<(i32, i32)>,
    /// `None`: UTC.
    pub location: Option<Location>,
}

const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

fn strings(v: &Value, key: &str) -> Result<Vec<String>, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(s)) => s
            .iter()
            .map(|x| match x {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(format!("{key}: expected a string")),
            })
            .collect(),
        Some(_) => Err(format!("{key}: expected a list")),
    }
}

/// `a` or `a:b`, lowercased, as upstream splits ranges.
fn range(s: &str) -> Result<(String, String), String> {
    let s = s.to_lowercase();
    if s.contains(':') {
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() != 2 {
            return Err(format!("couldn't parse range {s}, invalid format"));
        }
        return Ok((parts[0].to_string(), parts[1].to_string()));
    }
    Ok((s.clone(), s))
}

fn atoi(s: &str) -> Result<i32, String> {
    s.parse::<i32>()
        .map_err(|_| format!("strconv.Atoi: parsing {s:?}: invalid syntax"))
}

fn minutes(s: &str) -> Result<u32, String> {
    let ok = s == "24:00"
        || (s.len() == 5
            && s.as_bytes()[2] == b':'
            && s[..2].parse::<u32>().is_ok_and(|h| h < 24)
            && s[3..].parse::<u32>().is_ok_and(|m| m < 60));
    if !ok {
        return Err(format!("couldn't parse timestamp {s}, invalid format"));
    }
    let h: u32 = s[..2].parse().unwrap_or(0);
    let m: u32 = s[3..].parse().unwrap_or(0);
    Ok(h * 60 + m)
}

/// Parses one `time_intervals` entry (a YAML mapping).
pub fn parse(v: &Value) -> Result<TimeInterval, Error> {
    parse_str(v).map_err(Error::BadTimeInterval)
}

fn parse_str(v: &Value) -> Result<TimeInterval, String> {
    let Value::Object(m) = v else {
        return Err("a time interval must be a mapping".into());
    };
    for k in m.keys() {
        if ![
            "times",
            "weekdays",
            "days_of_month",
            "months",
            "years",
            "location",
        ]
        .contains(&k.as_str())
        {
            return Err(format!(
                "field {k} not found in type timeinterval.TimeInterval"
            ));
        }
    }
    let mut out = TimeInterval::default();
    if let Some(Value::Array(times)) = v.get("times") {
        for t in times {
            let get = |k: &str| t.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let (start, end) = (get("start_time"), get("end_time"));
            if start.is_empty() || end.is_empty() {
                return Err("both start and end times must be provided".into());
            }
            let (s, e) = (minutes(&start)?, minutes(&end)?);
            if s >= e {
                return Err("start time cannot be equal or greater than end time".into());
            }
            out.times.push((s, e));
        }
    }
    for w in strings(v, "weekdays")? {
        let (a, b) = range(&w)?;
        let day = |d: &str| {
            WEEKDAYS
                .iter()
                .position(|x| *x == d)
                .map(|i| i as u32)
                .ok_or_else(|| format!("{d} is not a valid weekday"))
        };
        let (a, b) = (day(&a)?, day(&b)?);
        if a > b {
            return Err("start day cannot be before end day".into());
        }
        out.weekdays.push((a, b));
    }
    for d in strings(v, "days_of_month")? {
        let (a, b) = range(&d)?;
        let (a, b) = (atoi(&a)?, atoi(&b)?);
        for x in [a, b] {
            if x == 0 || !(-31..=31).contains(&x) {
                return Err(format!("{x} is not a valid day of the month: out of range"));
            }
        }
        if a < 0 && b > 0 {
            return Err("end day must be negative if start day is negative".into());
        }
        let norm = |x: i32| if x < 0 { 28 + x } else { x };
        if norm(a) > norm(b) {
            return Err(format!("end day {b} is always before start day {a}"));
        }
        out.days_of_month.push((a, b));
    }
    for mo in strings(v, "months")? {
        let (a, b) = range(&mo)?;
        let month = |s: &str| -> Result<u32, String> {
            if let Some(i) = MONTHS.iter().position(|x| *x == s) {
                return Ok(i as u32 + 1);
            }
            s.parse::<u32>()
                .map_err(|_| format!("{s} is not a valid month"))
        };
        let (a, b) = (month(&a)?, month(&b)?);
        if a > b {
            let name = |m: u32| {
                MONTHS
                    .get(m.wrapping_sub(1) as usize)
                    .copied()
                    .unwrap_or("")
            };
            return Err(format!(
                "end month {} is before start month {}",
                name(b),
                name(a)
            ));
        }
        out.months.push((a, b));
    }
    for y in strings(v, "years")? {
        let (a, b) = range(&y)?;
        let (a, b) = (atoi(&a)?, atoi(&b)?);
        if a > b {
            return Err(format!("end year {b} is before start year {a}"));
        }
        out.years.push((a, b));
    }
    if let Some(name) = v.get("location").and_then(Value::as_str) {
        out.location = Location::load_str(name)?;
    }
    Ok(out)
}

fn days_in_month(year: i32, month: u32) -> i32 {
    let next = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    let first = chrono::NaiveDate::from_ymd_opt(year, month, 1);
    let next = chrono::NaiveDate::from_ymd_opt(next.0, next.1, 1);
    match (first, next) {
        (Some(a), Some(b)) => (b - a).num_days() as i32,
        _ => 31,
    }
}

impl TimeInterval {
    /// Whether the interval holds at `ms` (Unix ms), read as a wall clock
    /// time in the interval's location.
    pub fn contains(&self, ms: i64) -> bool {
        let local = match &self.location {
            None => ms,
            Some(l) => ms.saturating_add(l.offset(ms) * 1000),
        };
        let Some(t) = Utc.timestamp_millis_opt(local).single() else {
            return false;
        };
        let minute = t.hour() * 60 + t.minute();
        if !self.times.is_empty() && !self.times.iter().any(|(s, e)| *s <= minute && minute < *e) {
            return false;
        }
        let wd = t.weekday().num_days_from_sunday();
        if !self.weekdays.is_empty() && !self.weekdays.iter().any(|(a, b)| *a <= wd && wd <= *b) {
            return false;
        }
        if !self.days_of_month.is_empty() {
            let dim = days_in_month(t.year(), t.month());
            let day = t.day() as i32;
            let abs = |x: i32| if x < 0 { dim + 1 + x } else { x };
            if !self
                .days_of_month
                .iter()
                .any(|(a, b)| abs(*a) <= day && day <= abs(*b))
            {
                return false;
            }
        }
        if !self.months.is_empty()
            && !self
                .months
                .iter()
                .any(|(a, b)| *a <= t.month() && t.month() <= *b)
        {
            return false;
        }
        if !self.years.is_empty()
            && !self
                .years
                .iter()
                .any(|(a, b)| *a <= t.year() && t.year() <= *b)
        {
            return false;
        }
        true
    }
}

/// Whether any of a named interval's entries holds at `ms`.
pub fn any_contains(list: &[TimeInterval], ms: i64) -> bool {
    list.iter().any(|t| t.contains(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ti(yaml: &str) -> Result<TimeInterval, String> {
        parse(&model::yaml::from_str(yaml).unwrap()).map_err(|e| e.to_string())
    }

    #[test]
    fn parse_errors_as_upstream() {
        for (yaml, want) in [
            (
                "times: [{start_time: '09:00'}]",
                "both start and end times must be provided",
            ),
            (
                "times: [{start_time: '9:00', end_time: '10:00'}]",
                "couldn't parse timestamp 9:00, invalid format",
            ),
            (
                "times: [{start_time: '10:00', end_time: '09:00'}]",
                "start time cannot be equal or greater than end time",
            ),
            ("weekdays: [funday]", "funday is not a valid weekday"),
            (
                "weekdays: ['friday:monday']",
                "start day cannot be before end day",
            ),
            (
                "days_of_month: ['0']",
                "0 is not a valid day of the month: out of range",
            ),
            (
                "days_of_month: ['-3:5']",
                "end day must be negative if start day is negative",
            ),
            (
                "months: ['march:january']",
                "end month january is before start month march",
            ),
            (
                "years: ['2030:2020']",
                "end year 2020 is before start year 2030",
            ),
            (
                "weekdays: ['a:b:c']",
                "couldn't parse range a:b:c, invalid format",
            ),
        ] {
            assert_eq!(ti(yaml).unwrap_err(), want, "{yaml}");
        }
    }

    #[test]
    fn contains() {
        let business =
            ti("times: [{start_time: '09:00', end_time: '17:00'}]\nweekdays: ['monday:friday']")
                .unwrap();
        // 2026-11-27 is a Friday.
        let at = |h: u32, d: u32| {
            Utc.with_ymd_and_hms(2026, 11, d, h, 30, 0)
                .unwrap()
                .timestamp_millis()
        };
        assert!(business.contains(at(10, 27)));
        assert!(!business.contains(at(18, 27)));
        assert!(!business.contains(at(10, 28)), "Saturday");
        let last_day = ti("days_of_month: ['-1']").unwrap();
        assert!(last_day.contains(at(1, 30)));
        assert!(!last_day.contains(at(1, 29)));
    }

    #[test]
    fn locations() {
        assert_eq!(
            ti("location: Mars/Olympus_Mons").unwrap_err(),
            "unknown time zone Mars/Olympus_Mons"
        );
        assert_eq!(
            ti("location: ../etc/passwd").unwrap_err(),
            "unknown time zone ../etc/passwd"
        );
        assert!(ti("location: UTC").unwrap().location.is_none());
        if !std::path::Path::new("/usr/share/zoneinfo/Europe/Berlin").exists() {
            model::ci::skip("no time zone database in /usr/share/zoneinfo (Debian package tzdata)");
            return;
        }
        let office =
            ti("times: [{start_time: '09:00', end_time: '17:00'}]\nlocation: Europe/Berlin")
                .unwrap();
        let at = |m: u32, d: u32, h: u32, min: u32| {
            Utc.with_ymd_and_hms(2026, m, d, h, min, 0)
                .unwrap()
                .timestamp_millis()
        };
        // Summer (UTC+2): 07:30 UTC is 09:30 in Berlin, 15:30 UTC 17:30.
        assert!(office.contains(at(7, 1, 7, 30)));
        assert!(!office.contains(at(7, 1, 15, 30)));
        // Winter (UTC+1): 07:30 UTC is 08:30, 15:30 UTC 16:30.
        assert!(!office.contains(at(12, 1, 7, 30)));
        assert!(office.contains(at(12, 1, 15, 30)));
        // The day of the week is Berlin's: Friday 23:30 UTC is Saturday
        // 00:30 there.
        let weekdays = ti("weekdays: ['monday:friday']\nlocation: Europe/Berlin").unwrap();
        assert!(!weekdays.contains(at(11, 27, 23, 30)));
        assert!(weekdays.contains(at(11, 27, 22, 30)));
    }
}
