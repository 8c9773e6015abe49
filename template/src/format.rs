//! Go's `fmt` for template values: `Sprint`, `Sprintln`, `Sprintf` and the
//! float formats of `strconv.FormatFloat` (`%v`, `%g`, `%e`, `%f`), which
//! templates such as `humanize` (`%.4g`) depend on digit for digit.

use crate::value::Value;

/// `%v` of a float: the shortest representation that reads back exactly,
/// in `%e` form when the decimal exponent is below -4 or at least 6, as Go's
/// `strconv.FormatFloat(v, 'g', -1, 64)`.
pub fn float_v(v: f64) -> String {
    float(v, 'g', None, false)
}

/// Decimal digits of `|v|` and the position of the decimal point: the
/// value is `0.d1d2… × 10^dp`. Trailing zeros are removed. `sig` rounds to
/// that many significant digits; `None` gives the shortest round trip.
fn digits(v: f64, sig: Option<usize>) -> (Vec<u8>, i32) {
    if v == 0.0 {
        return (Vec::new(), 0);
    }
    let s = match sig {
        None => format!("{:e}", v.abs()),
        Some(p) => format!("{:.*e}", p.max(1) - 1, v.abs()),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut d: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    while d.last() == Some(&b'0') {
        d.pop();
    }
    (d, exp + 1)
}

fn fmt_e(d: &[u8], dp: i32, prec: usize, upper: bool) -> String {
    let mut out = String::new();
    out.push(d.first().map_or('0', |&c| c as char));
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            out.push(d.get(i).map_or('0', |&c| c as char));
        }
    }
    out.push(if upper { 'E' } else { 'e' });
    let exp = if d.is_empty() { 0 } else { dp - 1 };
    out.push(if exp < 0 { '-' } else { '+' });
    let e = exp.unsigned_abs();
    if e < 10 {
        out.push('0');
    }
    out.push_str(&e.to_string());
    out
}

fn fmt_f(d: &[u8], dp: i32, prec: usize) -> String {
    let mut out = String::new();
    if dp > 0 {
        for i in 0..dp as usize {
            out.push(d.get(i).map_or('0', |&c| c as char));
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 0..prec as i32 {
            let j = dp + i;
            out.push(if j >= 0 {
                d.get(j as usize).map_or('0', |&c| c as char)
            } else {
                '0'
            });
        }
    }
    out
}

/// `strconv.FormatFloat(v, verb, prec, 64)` for `e`, `E`, `f`, `F`, `g`,
/// `G`, with a `+` sign when `plus` is set. Infinities print as `+Inf` and
/// `-Inf`, as `fmt` prints them.
pub fn float(v: f64, verb: char, prec: Option<usize>, plus: bool) -> String {
    if v.is_nan() {
        return if plus { "+NaN".into() } else { "NaN".into() };
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let sign = if v.is_sign_negative() {
        "-"
    } else if plus {
        "+"
    } else {
        ""
    };
    let body = match verb {
        'e' | 'E' => {
            let (d, dp) = digits(v, prec.map(|p| p + 1));
            let p = prec.unwrap_or(d.len().max(1) - 1);
            fmt_e(&d, dp, p, verb == 'E')
        }
        'f' | 'F' => match prec {
            Some(p) => format!("{:.*}", p, v.abs()),
            None => {
                let (d, dp) = digits(v, None);
                fmt_f(&d, dp, (d.len() as i32 - dp).max(0) as usize)
            }
        },
        _ => {
            let shortest = prec.is_none();
            let (d, dp) = digits(v, prec.map(|p| p.max(1)));
            let mut p = match prec {
                None => d.len(),
                Some(p) => p.max(1),
            };
            let mut eprec = p as i32;
            if eprec > d.len() as i32 && d.len() as i32 >= dp {
                eprec = d.len() as i32;
            }
            if shortest {
                eprec = 6;
            }
            let exp = dp - 1;
            if exp < -4 || exp >= eprec {
                if p > d.len() {
                    p = d.len();
                }
                fmt_e(&d, dp, p.max(1) - 1, verb == 'G')
            } else {
                if p as i32 > dp {
                    p = d.len();
                }
                fmt_f(&d, dp, (p as i32 - dp).max(0) as usize)
            }
        }
    };
    format!("{sign}{body}")
}

/// `fmt.Sprint`: operands joined, with a space between two operands when
/// neither is a string.
pub fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        let is_str = matches!(a, Value::String(_));
        if i > 0 && !is_str && !matches!(args[i - 1], Value::String(_)) {
            out.push(' ');
        }
        out.push_str(&print_v(a));
    }
    out
}

/// `fmt.Sprintln`: operands joined by spaces, then a newline.
pub fn sprintln(args: &[Value]) -> String {
    let mut out: Vec<String> = args.iter().map(print_v).collect();
    out.push(String::new());
    let mut s = out.join(" ");
    s.pop();
    s.push('\n');
    s
}

/// `%v` of one operand; a nil operand prints as `<nil>`.
fn print_v(v: &Value) -> String {
    match v {
        Value::Nil => "<nil>".into(),
        v => v.to_string(),
    }
}

/// The largest width or precision a format may ask for.
const MAX_WIDTH: usize = 4096;

#[derive(Default, Clone, Copy)]
struct Flags {
    minus: bool,
    plus: bool,
    sharp: bool,
    zero: bool,
    space: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// `fmt.Sprintf` over template values, with Go's `%!verb(type=value)`
/// notes for mismatched, missing and extra operands.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut next = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut f = Flags::default();
        while let Some(&c) = chars.peek() {
            match c {
                '-' => f.minus = true,
                '+' => f.plus = true,
                '#' => f.sharp = true,
                '0' => f.zero = true,
                ' ' => f.space = true,
                _ => break,
            }
            chars.next();
        }
        let num = |chars: &mut std::iter::Peekable<std::str::Chars>, next: &mut usize| {
            if chars.peek() == Some(&'*') {
                chars.next();
                let v = args.get(*next).and_then(|a| match a {
                    Value::Int(i) => Some(*i as usize),
                    _ => None,
                });
                *next += 1;
                return v;
            }
            let mut n: Option<usize> = None;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(d as usize));
                chars.next();
            }
            n
        };
        // Width and precision are capped so that no format can ask for an
        // unbounded allocation.
        f.width = num(&mut chars, &mut next).map(|w| w.min(MAX_WIDTH));
        if chars.peek() == Some(&'.') {
            chars.next();
            f.prec = Some(num(&mut chars, &mut next).unwrap_or(0).min(MAX_WIDTH));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        next += 1;
        out.push_str(&one(verb, f, arg));
    }
    if next < args.len() {
        let extra: Vec<String> = args[next..]
            .iter()
            .map(|a| format!("{}={}", a.type_name(), print_v(a)))
            .collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

fn bad(verb: char, arg: &Value) -> String {
    match arg {
        Value::Nil => format!("%!{verb}(<nil>)"),
        a => format!("%!{verb}({}={})", a.type_name(), print_v(a)),
    }
}

fn pad(s: String, f: Flags, numeric: bool) -> String {
    let Some(w) = f.width else { return s };
    let n = s.chars().count();
    if n >= w {
        return s;
    }
    let fill = w - n;
    if f.minus {
        format!("{s}{}", " ".repeat(fill))
    } else if f.zero && numeric {
        let (sign, digits) = match s.chars().next() {
            Some(c @ ('+' | '-' | ' ')) => (c.to_string(), s[1..].to_string()),
            _ => (String::new(), s),
        };
        format!("{sign}{}{digits}", "0".repeat(fill))
    } else {
        format!("{}{s}", " ".repeat(fill))
    }
}

fn one(verb: char, f: Flags, arg: &Value) -> String {
    let arg = arg.resolved();
    match (verb, &arg) {
        ('v', Value::Float(x)) => pad(float(*x, 'g', f.prec, f.plus), f, true),
        ('v', Value::Int(i)) => pad(int_sign(*i, f), f, true),
        ('v', a) => pad(print_v(a), f, false),
        ('s', Value::String(s)) => pad(truncate(s, f.prec), f, false),
        ('s', Value::List(_) | Value::Map(_)) => pad(arg.to_string(), f, false),
        ('q', Value::String(s)) => pad(quote(s), f, false),
        ('q', Value::Int(i)) => pad(
            format!("'{}'", char::from_u32(*i as u32).unwrap_or('\u{fffd}')),
            f,
            false,
        ),
        ('t', Value::Bool(b)) => pad(b.to_string(), f, false),
        ('d', Value::Int(i)) => pad(int_sign(*i, f), f, true),
        ('c', Value::Int(i)) => pad(
            char::from_u32(*i as u32).unwrap_or('\u{fffd}').to_string(),
            f,
            false,
        ),
        ('x' | 'X', Value::Int(i)) => {
            let mut s = format!("{:x}", i.unsigned_abs());
            if f.sharp {
                s = format!("0x{s}");
            }
            if *i < 0 {
                s = format!("-{s}");
            }
            if verb == 'X' {
                s = s.to_uppercase();
            }
            pad(s, f, true)
        }
        ('x' | 'X', Value::String(s)) => {
            let mut h: String = s.bytes().map(|b| format!("{b:02x}")).collect();
            if verb == 'X' {
                h = h.to_uppercase();
            }
            pad(h, f, false)
        }
        ('o', Value::Int(i)) => pad(format!("{i:o}"), f, true),
        ('b', Value::Int(i)) => pad(format!("{i:b}"), f, true),
        ('e' | 'E' | 'f' | 'F' | 'g' | 'G', Value::Float(x)) => {
            let prec = match verb {
                'e' | 'E' | 'f' | 'F' => Some(f.prec.unwrap_or(6)),
                _ => f.prec,
            };
            let mut s = float(*x, verb, prec, f.plus);
            if f.space && !s.starts_with(['-', '+']) {
                s.insert(0, ' ');
            }
            if x.is_finite() {
                pad(s, f, true)
            } else {
                pad(s, Flags { zero: false, ..f }, true)
            }
        }
        _ => bad(verb, &arg),
    }
}

fn int_sign(i: i64, f: Flags) -> String {
    if i >= 0 && f.plus {
        format!("+{i}")
    } else if i >= 0 && f.space {
        format!(" {i}")
    } else {
        i.to_string()
    }
}

fn truncate(s: &str, prec: Option<usize>) -> String {
    match prec {
        Some(p) => s.chars().take(p).collect(),
        None => s.to_string(),
    }
}

/// `strconv.Quote`.
pub fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Prometheus's `humanizeDuration` (prometheus/common, used by rule and
/// notification templates alike): seconds as `1d 2h 3m 4s`, or with SI
/// prefixes below one second.
pub fn humanize_duration(mut v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return float(v, 'g', Some(4), false);
    }
    if v == 0.0 {
        return "0s".into();
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        v = v.abs();
        let d = v as i64;
        let (days, hours, minutes, seconds) = (d / 86_400, d / 3600 % 24, d / 60 % 60, d % 60);
        if days != 0 {
            return format!("{sign}{days}d {hours}h {minutes}m {seconds}s");
        }
        if hours != 0 {
            return format!("{sign}{hours}h {minutes}m {seconds}s");
        }
        if minutes != 0 {
            return format!("{sign}{minutes}m {seconds}s");
        }
        return format!("{sign}{}s", float(v, 'g', Some(4), false));
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", float(v, 'g', Some(4), false))
}

/// Go's `time.Duration.String()` of `ns` nanoseconds (`1h2m3.5s`,
/// `150ms`, `0s`).
pub fn go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let sign = if ns < 0 { "-" } else { "" };
    let u = ns.unsigned_abs();
    if u < 1_000_000_000 {
        let (unit, div) = if u < 1_000 {
            ("ns", 1)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{sign}{}{unit}", trim_fraction(u, div));
    }
    let h = u / 3_600_000_000_000;
    let m = u / 60_000_000_000 % 60;
    let s = trim_fraction(u % 60_000_000_000, 1_000_000_000);
    match (h, m) {
        (0, 0) => format!("{sign}{s}s"),
        (0, m) => format!("{sign}{m}m{s}s"),
        (h, m) => format!("{sign}{h}h{m}m{s}s"),
    }
}

/// `v / div` with its fraction, trailing zeros removed.
fn trim_fraction(v: u64, div: u64) -> String {
    let whole = v / div;
    let frac = v % div;
    if frac == 0 {
        return whole.to_string();
    }
    let width = div.ilog10() as usize;
    let f = format!("{frac:0width$}");
    format!("{whole}.{}", f.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_as_go_prints_them() {
        let cases: &[(f64, char, Option<usize>, &str)] = &[
            (1.0, 'g', None, "1"),
            (0.5, 'g', None, "0.5"),
            (123456.0, 'g', None, "123456"),
            (1e6, 'g', None, "1e+06"),
            (1234567.0, 'g', None, "1.234567e+06"),
            (0.0001, 'g', None, "0.0001"),
            (0.00001, 'g', None, "1e-05"),
            (0.0, 'g', None, "0"),
            (-2.5, 'g', None, "-2.5"),
            (1234.0, 'g', Some(4), "1234"),
            (12345.0, 'g', Some(4), "1.234e+04"),
            (100000.0, 'g', Some(4), "1e+05"),
            (1.5, 'g', Some(4), "1.5"),
            (0.0, 'g', Some(4), "0"),
            (2.0 / 3.0, 'g', Some(4), "0.6667"),
            (1.0, 'f', Some(2), "1.00"),
            (2.675, 'f', Some(2), "2.67"),
            (1234.5678, 'e', Some(3), "1.235e+03"),
            (0.0, 'e', Some(2), "0.00e+00"),
            (f64::INFINITY, 'g', None, "+Inf"),
            (f64::NEG_INFINITY, 'g', Some(4), "-Inf"),
            (f64::NAN, 'g', None, "NaN"),
        ];
        for (v, verb, prec, want) in cases {
            let got = float(*v, *verb, *prec, false);
            assert_eq!(&got, want, "{v} %{verb} {prec:?}");
        }
    }

    #[test]
    fn sprintf_cases() {
        let s = |f: &str, a: Vec<Value>| sprintf(f, &a);
        assert_eq!(s("%.2f%%", vec![Value::Float(12.345)]), "12.35%");
        assert_eq!(s("%s=%d", vec!["a".into(), Value::Int(3)]), "a=3");
        assert_eq!(
            s(
                "%5.1f|%-4d|%04d",
                vec![Value::Float(4.25), Value::Int(7), Value::Int(-7)]
            ),
            "  4.2|7   |-007"
        );
        assert_eq!(s("%d", vec!["x".into()]), "%!d(string=x)");
        assert_eq!(s("%s", vec![Value::Float(1.5)]), "%!s(float64=1.5)");
        assert_eq!(s("%d %d", vec![Value::Int(1)]), "1 %!d(MISSING)");
        assert_eq!(
            s("%d", vec![Value::Int(1), "x".into()]),
            "1%!(EXTRA string=x)"
        );
        assert_eq!(s("%q", vec!["a\"b".into()]), "\"a\\\"b\"");
        assert_eq!(
            s("%v %v", vec![Value::Float(1e21), Value::Bool(true)]),
            "1e+21 true"
        );
    }

    #[test]
    fn go_durations() {
        for (ms, want) in [
            (0, "0s"),
            (500, "500ms"),
            (60_000, "1m0s"),
            (179_999, "2m59.999s"),
            (86_400_000, "24h0m0s"),
            (10_000, "10s"),
        ] {
            assert_eq!(go_duration(ms * 1_000_000), want, "{ms}");
        }
    }

    #[test]
    fn sprint_spacing() {
        assert_eq!(sprint(&[Value::Int(1), Value::Int(2)]), "1 2");
        assert_eq!(sprint(&["a".into(), Value::Int(2), "b".into()]), "a2b");
        assert_eq!(sprintln(&["a".into(), Value::Int(2)]), "a 2\n");
    }
}
