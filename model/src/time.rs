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
            .filter(|v| *v <= i64::MAX as u64)
            .ok_or_else(|| format!("duration out of range: {s:?}"))?;
        rest = &rest[unit_len..];
    }
    Ok(Duration::from_millis(total))
}

/// Formats a duration the way Prometheus prints one (`1h30m`, `15d`, `0s`).
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis() as u64;
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in UNITS {
        if ms >= size {
            out.push_str(&format!("{}{}", ms / size, unit));
            ms %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
