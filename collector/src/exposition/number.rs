//! Numbers in exposition text: sample values, timestamps and the float text
//! of `le` and `quantile` label values.
//!
//! Values follow what Prometheus accepts (`model/textparse/promparse.go`,
//! `parseFloat`): Go's `strconv.ParseFloat` minus anything containing `p`,
//! `P` or `_`, which in practice leaves decimal floats, `Inf`/`Infinity` and
//! `NaN` in any case, and no hexadecimal. OpenMetrics timestamps are seconds
//! with a fraction; they are converted to milliseconds by decimal arithmetic
//! on the text, so `1793469601.237` becomes exactly `1793469601237`, which a
//! multiplication in `f64` does not guarantee.

use std::io::Write;

/// The NaN that Prometheus stores for a scraped `NaN` (`model/value`
/// `NormalNaN`); it differs from the staleness marker.
pub(super) const NORMAL_NAN: u64 = 0x7ff8_0000_0000_0001;

/// Parses a sample value. The error is a short reason without the input.
pub(super) fn parse_float(tok: &[u8]) -> Result<f64, &'static str> {
    // Fast path: short unsigned integers are exact in an f64.
    if !tok.is_empty() && tok.len() <= 15 && tok.iter().all(u8::is_ascii_digit) {
        let n = tok.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
        return Ok(n as f64);
    }
    match Token::read(tok)? {
        Token::Infinity { negative: true } => return Ok(f64::NEG_INFINITY),
        Token::Infinity { negative: false } => return Ok(f64::INFINITY),
        // Go takes no sign on NaN.
        Token::NaN { signed: true } => return Err("invalid float"),
        Token::NaN { signed: false } => return Ok(f64::from_bits(NORMAL_NAN)),
        Token::Decimal { .. } => {}
    }
    // The syntax check leaves only ASCII, so this cannot fail; the error
    // path is kept instead of an unwrap.
    let text = std::str::from_utf8(tok).map_err(|_| "invalid float")?;
    let v: f64 = text.parse().map_err(|_| "invalid float")?;
    if v.is_infinite() {
        // Go reports a finite literal beyond f64 as a range error.
        return Err("float out of range");
    }
    Ok(v)
}

/// A number token after the checks [`parse_float`] and [`Decimal::parse`]
/// share: sign, `Inf`/`NaN` in any case, then decimal syntax.
enum Token<'a> {
    Infinity {
        negative: bool,
    },
    /// `signed`: written with `+` or `-`.
    NaN {
        signed: bool,
    },
    /// A decimal number with valid syntax; `body` is without the sign.
    Decimal {
        negative: bool,
        body: &'a [u8],
    },
}

impl<'a> Token<'a> {
    fn read(tok: &'a [u8]) -> Result<Self, &'static str> {
        let (negative, body) = match tok.first() {
            Some(b'-') => (true, &tok[1..]),
            Some(b'+') => (false, &tok[1..]),
            _ => (false, tok),
        };
        if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
            return Ok(Token::Infinity { negative });
        }
        if body.eq_ignore_ascii_case(b"nan") {
            let signed = body.len() != tok.len();
            return Ok(Token::NaN { signed });
        }
        if tok.iter().any(|&b| matches!(b, b'p' | b'P' | b'_')) {
            return Err("unsupported character in float");
        }
        check_decimal_syntax(body)?;
        Ok(Token::Decimal { negative, body })
    }
}

/// Checks `digits [. digits] [(e|E) [sign] digits]` with at least one
/// mantissa digit; the sign has been removed already.
fn check_decimal_syntax(s: &[u8]) -> Result<(), &'static str> {
    let mut i = 0;
    let mut digits = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        i += 1;
        digits += 1;
    }
    if i < s.len() && s[i] == b'.' {
        i += 1;
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return Err("invalid float");
    }
    if i < s.len() && (s[i] == b'e' || s[i] == b'E') {
        i += 1;
        if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
            i += 1;
        }
        let start = i;
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err("invalid float");
        }
    }
    if i != s.len() {
        return Err("invalid float");
    }
    Ok(())
}

/// A finite decimal number as written: sign, all mantissa digits (integer
/// and fraction part, without the dot) and the power of ten they carry.
struct Decimal<'a> {
    negative: bool,
    int_part: &'a [u8],
    frac_part: &'a [u8],
    /// The value is `digits × 10^exponent`.
    exponent: i64,
}

impl<'a> Decimal<'a> {
    /// Parses what [`parse_float`] accepts, except `Inf` and `NaN`.
    fn parse(tok: &'a [u8]) -> Result<Self, &'static str> {
        let (negative, body) = match Token::read(tok)? {
            Token::Decimal { negative, body } => (negative, body),
            Token::Infinity { .. } | Token::NaN { .. } => return Err("timestamp is not finite"),
        };
        let (mantissa, exp_text) = match body.iter().position(|&b| b == b'e' || b == b'E') {
            Some(at) => (&body[..at], Some(&body[at + 1..])),
            None => (body, None),
        };
        let (int_part, frac_part) = match mantissa.iter().position(|&b| b == b'.') {
            Some(at) => (&mantissa[..at], &mantissa[at + 1..]),
            None => (mantissa, &mantissa[mantissa.len()..]),
        };
        let mut exponent = match exp_text {
            Some(e) => parse_exponent(e),
            None => 0,
        };
        exponent = exponent.saturating_sub(frac_part.len() as i64);
        Ok(Decimal {
            negative,
            int_part,
            frac_part,
            exponent,
        })
    }

    /// The value times `10^scale`, truncated toward zero and saturated to
    /// the range of `i128`.
    fn scaled(&self, scale: i64) -> i128 {
        // Significant digits, leading zeros removed.
        let all = || self.int_part.iter().chain(self.frac_part.iter()).copied();
        let zeros = all().take_while(|&d| d == b'0').count();
        let sig_len = self.int_part.len() + self.frac_part.len() - zeros;
        if sig_len == 0 {
            return 0;
        }
        let shift = self.exponent.saturating_add(scale);
        // Number of digits of the integer result.
        let keep = (sig_len as i64).saturating_add(shift);
        if keep <= 0 {
            return 0;
        }
        // i128 holds 38 full decimal digits.
        let magnitude = if keep > 38 {
            i128::MAX
        } else {
            let mut n: i128 = 0;
            let mut sig = all().skip(zeros);
            for _ in 0..keep {
                let d = sig.next().map_or(0, |d| i128::from(d - b'0'));
                n = n * 10 + d;
            }
            n
        };
        if self.negative {
            -magnitude
        } else {
            magnitude
        }
    }
}

/// Parses a decimal exponent (`[sign] digits`), saturating far beyond any
/// meaningful range.
fn parse_exponent(e: &[u8]) -> i64 {
    let (negative, digits) = match e.first() {
        Some(b'-') => (true, &e[1..]),
        Some(b'+') => (false, &e[1..]),
        _ => (false, e),
    };
    let n = digits.iter().fold(0i64, |n, &d| {
        n.saturating_mul(10).saturating_add(i64::from(d - b'0'))
    });
    if negative {
        -n
    } else {
        n
    }
}

/// An OpenMetrics timestamp: seconds as text, converted exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Seconds {
    /// Nanoseconds, truncated toward zero; only for ordering checks.
    pub(super) nanos: i128,
    /// Milliseconds, truncated toward zero and clamped to `i64`.
    pub(super) millis: i64,
}

/// Converts OpenMetrics seconds text to milliseconds without going through
/// a binary float. Values beyond the `i64` range of milliseconds are
/// clamped: the OpenMetrics suite requires accepting such timestamps.
pub(super) fn parse_seconds(tok: &[u8]) -> Result<Seconds, &'static str> {
    let nanos = Decimal::parse(tok)?.scaled(9);
    // Integer division truncates toward zero, as `scaled` does, so this is
    // the value scaled by 10^3. A saturated `nanos` is far beyond the clamp.
    let millis = (nanos / 1_000_000).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
    Ok(Seconds { nanos, millis })
}

/// Parses a text-format timestamp in milliseconds. Prometheus accepts
/// digits only; the reference text parser (`expfmt`) also takes a sign.
pub(super) fn parse_millis(tok: &[u8], signed: bool) -> Result<i64, &'static str> {
    let (negative, digits) = match tok.first() {
        Some(b'-') if signed => (true, &tok[1..]),
        Some(b'+') if signed => (false, &tok[1..]),
        _ => (false, tok),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err("expected integer as timestamp");
    }
    let mut n: i128 = 0;
    for &d in digits {
        n = n * 10 + i128::from(d - b'0');
        if n > i128::from(i64::MAX) + 1 {
            return Err("timestamp out of range");
        }
    }
    let n = if negative { -n } else { n };
    i64::try_from(n).map_err(|_| "timestamp out of range")
}

/// Appends `f` the way Prometheus writes `le` and `quantile` values
/// (`model/labels` `FormatOpenMetricsFloat`): Go's shortest `%g`, with
/// `.0` added to integers, and `NaN`, `+Inf`, `-Inf`.
pub(super) fn format_float(f: f64, out: &mut String) {
    if f.is_nan() {
        out.push_str("NaN");
        return;
    }
    if f.is_infinite() {
        out.push_str(if f > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    if f.is_sign_negative() {
        out.push('-');
    }
    if f == 0.0 {
        out.push_str("0.0");
        return;
    }
    // Rust's `{:e}` gives the shortest round-trip digits, as Go does. A
    // stack buffer keeps this free of allocations: the longest output is
    // 17 digits, a dot and a four-character exponent.
    let mut buf = [0u8; 40];
    let len = {
        let mut w = &mut buf[..];
        let _ = write!(w, "{:e}", f.abs());
        40 - w.len()
    };
    let sci = std::str::from_utf8(&buf[..len]).unwrap_or("0e0");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits_buf = [0u8; 40];
    let mut n = 0;
    for b in mantissa.bytes().filter(|b| *b != b'.') {
        digits_buf[n] = b;
        n += 1;
    }
    // Only ASCII digits were copied.
    let digits = std::str::from_utf8(&digits_buf[..n]).unwrap_or("0");
    let n = n as i32;
    if !(-4..6).contains(&exp) {
        // Go: %e when the exponent is < -4 or >= 6 (shortest precision),
        // with at least two exponent digits.
        out.push_str(&digits[..1]);
        if n > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let a = exp.unsigned_abs();
        if a >= 100 {
            out.push(char::from(b'0' + (a / 100) as u8));
        }
        out.push(char::from(b'0' + (a / 10 % 10) as u8));
        out.push(char::from(b'0' + (a % 10) as u8));
        return;
    }
    // %f with exactly the significant digits.
    let point = exp + 1; // digits before the decimal point
    if point <= 0 {
        out.push_str("0.");
        for _ in 0..-point {
            out.push('0');
        }
        out.push_str(digits);
    } else if point >= n {
        out.push_str(digits);
        for _ in 0..point - n {
            out.push('0');
        }
        out.push_str(".0");
    } else {
        out.push_str(&digits[..point as usize]);
        out.push('.');
        out.push_str(&digits[point as usize..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_float_cases() {
        // (input, want) where want None means rejected.
        let cases: &[(&str, Option<f64>)] = &[
            ("0", Some(0.0)),
            ("1", Some(1.0)),
            ("-3e3", Some(-3000.0)),
            ("+1.5", Some(1.5)),
            (".5", Some(0.5)),
            ("5.", Some(5.0)),
            ("08", Some(8.0)),
            ("1E+2", Some(100.0)),
            (
                "0000000000000000000000000000000000000000001.2e-1",
                Some(0.12),
            ),
            ("9223372036854775808", Some(9223372036854775808.0)),
            ("Inf", Some(f64::INFINITY)),
            ("+Inf", Some(f64::INFINITY)),
            ("-inf", Some(f64::NEG_INFINITY)),
            ("infinity", Some(f64::INFINITY)),
            ("1e-400", Some(0.0)),
            ("1e400", None),
            ("+NaN", None),
            ("1_2", None),
            ("0x1p-3", None),
            ("0x1", None),
            ("0X1", None),
            ("0b1", None),
            ("0o1", None),
            ("1z", None),
            ("true", None),
            ("", None),
            (".", None),
            ("1e", None),
            ("e5", None),
            ("1.1.1", None),
            ("infinit", None),
        ];
        for (input, want) in cases {
            let got = parse_float(input.as_bytes()).ok();
            assert_eq!(
                got, *want,
                "parse_float({input:?}): got {got:?}, want {want:?}"
            );
        }
        let nan = parse_float(b"nan").expect("nan parses");
        assert_eq!(nan.to_bits(), NORMAL_NAN, "NaN is Prometheus' normal NaN");
    }

    #[test]
    fn parse_seconds_cases() {
        let cases: &[(&str, Option<i64>)] = &[
            ("1793469601.237", Some(1793469601237)),
            ("123.123", Some(123123)),
            ("1520872607.123", Some(1520872607123)),
            ("1.520430000123e+09", Some(1520430000123)),
            ("1.5e3", Some(1500000)),
            ("000", Some(0)),
            ("0.0000000001", Some(0)),
            ("-1.1", Some(-1100)),
            ("-1.0005", Some(-1000)),
            ("1.2345", Some(1234)),
            ("12345678901234567890.1234567890", Some(i64::MAX)),
            ("-1e30", Some(i64::MIN)),
            ("1e-30", Some(0)),
            ("NaN", None),
            ("Inf", None),
            ("-Inf", None),
            ("1_2", None),
            ("1z", None),
            ("1.1.1", None),
        ];
        for (input, want) in cases {
            let got = parse_seconds(input.as_bytes()).ok().map(|s| s.millis);
            assert_eq!(
                got, *want,
                "parse_seconds({input:?}): got {got:?}, want {want:?}"
            );
        }
        let a = parse_seconds(b"-1").unwrap();
        let b = parse_seconds(b"-1.1").unwrap();
        assert!(b < a, "-1.1 s orders before -1 s");
        let c = parse_seconds(b"0.0000000010").unwrap();
        assert_eq!(c.nanos, 1, "nanosecond resolution for ordering");
    }

    /// Milliseconds derived from nanoseconds equal the value scaled by
    /// 10^3 directly, on seeded random decimal text.
    #[test]
    fn millis_from_nanos() {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |n: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % n
        };
        let digits = |next: &mut dyn FnMut(u64) -> u64, len: u64| -> String {
            (0..len)
                .map(|_| char::from(b'0' + next(10) as u8))
                .collect()
        };
        for _ in 0..20_000 {
            let mut tok = String::new();
            match next(3) {
                0 => tok.push('-'),
                1 => tok.push('+'),
                _ => {}
            }
            let int_len = next(25);
            tok += &digits(&mut next, int_len);
            if next(2) == 0 {
                tok.push('.');
                let frac_len = next(25);
                tok += &digits(&mut next, frac_len);
            }
            if tok
                .trim_start_matches(['+', '-'])
                .trim_matches('.')
                .is_empty()
            {
                tok.push('0');
            }
            if next(3) == 0 {
                tok.push('e');
                let e = next(80) as i64 - 40;
                tok += &e.to_string();
            }
            let d = Decimal::parse(tok.as_bytes()).expect("generated text is a decimal");
            let want = d
                .scaled(3)
                .clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
            let got = parse_seconds(tok.as_bytes()).map(|s| s.millis);
            assert_eq!(got, Ok(want), "parse_seconds({tok:?})");
        }
    }

    #[test]
    fn parse_millis_cases() {
        let cases: &[(&str, bool, Option<i64>)] = &[
            ("123123", false, Some(123123)),
            ("-2", false, None),
            ("-2", true, Some(-2)),
            ("+5", true, Some(5)),
            ("2.72", true, None),
            ("9223372036854775807", false, Some(i64::MAX)),
            ("9223372036854775808", false, None),
            ("-9223372036854775808", true, Some(i64::MIN)),
            ("", false, None),
        ];
        for (input, signed, want) in cases {
            let got = parse_millis(input.as_bytes(), *signed).ok();
            assert_eq!(
                got, *want,
                "parse_millis({input:?}, signed={signed}): got {got:?}, want {want:?}"
            );
        }
    }

    #[test]
    fn format_float_cases() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (0.25, "0.25"),
            (10.0, "10.0"),
            (100000.0, "100000.0"),
            (1e6, "1e+06"),
            (1555555.55555552, "1.55555555555552e+06"),
            (1e23, "1e+23"),
            (0.0001, "0.0001"),
            (0.00011, "0.00011"),
            (1e-5, "1e-05"),
            (1.1e-5, "1.1e-05"),
            (-0.00099, "-0.00099"),
            (-8.999999999999979e-05, "-8.999999999999979e-05"),
            (172.8, "172.8"),
            (123456.0, "123456.0"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
            (1e-300, "1e-300"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
        ];
        for (input, want) in cases {
            let mut got = String::new();
            format_float(*input, &mut got);
            assert_eq!(
                got, *want,
                "format_float({input:?}): got {got:?}, want {want:?}"
            );
        }
    }
}
