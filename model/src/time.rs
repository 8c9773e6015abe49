//! Millisecond timestamps and Prometheus durations.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, the unit of every timestamp here.
pub type Timestamp = i64;

/// The current time in milliseconds.
pub fn now_ms() -> Timestamp {
    to_ms(SystemTime::now())
}

/// A system time in milliseconds (negative before 1970).
pub fn to_ms(t: SystemTime) -> Timestamp {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

/// Units of a Prometheus duration, largest first, in milliseconds.
const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 86_400_000),
    ("w", 7 * 86_400_000),
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Parses a Prometheus duration such as `15d`, `1h30m`, `500ms` or `2y`
/// (units `ms s m h d w y`, a year being 365 days, largest unit first, each
/// at most once), as upstream `model.ParseDuration` does. `0` is accepted.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err("empty duration string".into());
    }
    let bad = || format!("not a valid duration string: {s:?}");
    let mut rest = s;
    let mut total: u64 = 0;
    let mut last_unit = None;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
        let unit = &rest[..unit_len];
        let idx = UNITS.iter().position(|(u, _)| *u == unit).ok_or_else(bad)?;
        if last_unit.is_some_and(|l| idx <= l) {
            return Err(bad());
        }
        last_unit = Some(idx);
        total = n
            .checked_mul(UNITS[idx].1)
            .and_then(|v| total.checked_add(v))
            // Upstream holds durations in int64 nanoseconds (about 292 years).
            .filter(|v| *v <= (i64::MAX / 1_000_000) as u64)
            .ok_or_else(|| format!("duration out of range: {s:?}"))?;
        rest = &rest[unit_len..];
    }
    Ok(Duration::from_millis(total))
}

/// Formats a duration the way Prometheus prints one (`1h30m`, `15d`, `0s`).
/// Years and weeks are used only when they divide the whole duration, as
/// upstream does (`90d`, not `12w6d`).
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis() as u64;
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in UNITS {
        if (unit == "y" || unit == "w") && !ms.is_multiple_of(size) {
            continue;
        }
        if ms >= size {
            out.push_str(&format!("{}{}", ms / size, unit));
            ms %= size;
        }
    }
    out
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Parses an RFC 3339 timestamp (`2026-10-31T18:00:00Z`,
/// `2026-10-31T19:00:00.5+01:00`) into milliseconds; sub-millisecond
/// digits are truncated.
pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) && !part.is_empty() {
            part.parse().ok()
        } else {
            None
        }
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, mo, d, h, mi, sec) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut ms = 0i64;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        let frac = &s[start..i];
        let digits: String = frac.chars().chain("000".chars()).take(3).collect();
        ms = digits.parse().ok()?;
    }
    let offset_min = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        c @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let o = num(i + 1..i + 3)? * 60 + num(i + 4..i + 6)?;
            if *c == b'-' {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    Some(((days * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60) * 1000) + ms)
}

/// Formats milliseconds as RFC 3339 in UTC with millisecond precision
/// (`2026-10-31T18:00:00.126Z`).
pub fn format_rfc3339(t: Timestamp) -> String {
    let days = t.div_euclid(86_400_000);
    let rem = t.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, mi, s, ms) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
}

/// A time as Go's `time.Time` marshals to JSON: RFC 3339 in UTC with only
/// the fraction digits it needs (`…:05.12Z`, `…:05Z`); 0 is Go's zero
/// time, `0001-01-01T00:00:00Z`.
pub fn format_go(t: Timestamp) -> String {
    if t == 0 {
        return "0001-01-01T00:00:00Z".into();
    }
    let s = format_rfc3339(t);
    match s.strip_suffix('Z').and_then(|b| b.rsplit_once('.')) {
        Some((head, frac)) => {
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                format!("{head}Z")
            } else {
                format!("{head}.{frac}Z")
            }
        }
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_time_json() {
        assert_eq!(format_go(0), "0001-01-01T00:00:00Z");
        assert_eq!(format_go(1_500), "1970-01-01T00:00:01.5Z");
        assert_eq!(format_go(2_000), "1970-01-01T00:00:02Z");
    }

    #[test]
    fn durations() {
        let ok = [
            ("0", 0),
            ("15d", 15 * 86_400_000),
            ("1h30m", 5_400_000),
            ("500ms", 500),
            ("1y", 365 * 86_400_000),
            ("2w1d", 15 * 86_400_000),
        ];
        for (s, want) in ok {
            assert_eq!(
                parse_duration(s).map(|d| d.as_millis() as u64),
                Ok(want),
                "input {s:?}"
            );
            assert_eq!(
                parse_duration(&format_duration(Duration::from_millis(want)))
                    .unwrap()
                    .as_millis() as u64,
                want
            );
        }
        let day = 86_400_000;
        for (ms, want) in [
            (90 * day, "90d"),
            (14 * day, "2w"),
            (365 * day, "1y"),
            (106_700 * day, "106700d"),
            (day + 1_500, "1d1s500ms"),
        ] {
            assert_eq!(format_duration(Duration::from_millis(ms)), want);
        }
        for bad in [
            "",
            "1",
            "h",
            "1x",
            "1m1h",
            "1h1h",
            "-1s",
            "1.5h",
            "99999999999999999999y",
        ] {
            assert!(parse_duration(bad).is_err(), "input {bad:?} accepted");
        }
    }

    #[test]
    fn rfc3339() {
        // (input, milliseconds)
        let ok = [
            ("1970-01-01T00:00:00Z", 0),
            ("2026-10-31T18:00:00Z", 1_793_469_600_000),
            ("2026-10-31T19:00:00.126+01:00", 1_793_469_600_126),
            ("2026-10-31T17:00:00.1234-01:00", 1_793_469_600_123),
            ("1969-12-31T23:59:59.999Z", -1),
            ("2000-02-29T12:00:00z", 951_825_600_000),
        ];
        for (s, want) in ok {
            assert_eq!(parse_rfc3339(s), Some(want), "input {s:?}");
        }
        for bad in [
            "",
            "2026-10-31",
            "2026-13-01T00:00:00Z",
            "2026-10-31T18:00:00",
            "2026-10-31T18:00:00.Z",
            "2026-10-31T18:00:00+0100",
            "abcd-10-31T18:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "input {bad:?}");
        }
        for t in [0, 1_793_469_600_126, -1, 951_825_600_000] {
            assert_eq!(parse_rfc3339(&format_rfc3339(t)), Some(t), "round trip {t}");
        }
        assert_eq!(
            format_rfc3339(1_793_469_600_126),
            "2026-10-31T18:00:00.126Z"
        );
    }
}
