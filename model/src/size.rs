//! Byte sizes as Prometheus writes them (`512MB`, `1GB`).

/// Parses a size with an optional unit `B KB MB GB TB PB EB` (powers of
/// 1024, as upstream `units.Base2Bytes`); a bare number is bytes.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("not a size: {s:?}"))?;
    let shift = match unit {
        "" | "B" => 0,
        "KB" => 10,
        "MB" => 20,
        "GB" => 30,
        "TB" => 40,
        "PB" => 50,
        "EB" => 60,
        _ => {
            return Err(format!(
                "unknown unit {unit:?} in {s:?} (use B, KB, MB, GB, TB, PB or EB)"
            ))
        }
    };
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("size out of range: {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        for (s, want) in [
            ("0", Ok(0)),
            ("512MB", Ok(512 << 20)),
            ("1GB", Ok(1 << 30)),
            ("10", Ok(10)),
            ("7B", Ok(7)),
        ] {
            assert_eq!(parse_bytes(s), want, "input {s:?}");
        }
        for bad in ["", "MB", "1mb", "1.5GB", "99999999999EB"] {
            assert!(parse_bytes(bad).is_err(), "input {bad:?} accepted");
        }
    }
}
