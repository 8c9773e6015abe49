//! What expressions evaluate to, at one evaluation timestamp and for a
//! whole query.

use model::Labels;

/// One element of an instant vector at the evaluation time.
#[derive(Debug, Clone, PartialEq)]
pub struct Elem {
    pub labels: Labels,
    pub v: f64,
}

/// A series of points: a range vector's element, or a series of a range
/// query's result.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Range {
    pub labels: Labels,
    /// `(t, v)` in time order.
    pub points: Vec<(i64, f64)>,
}

/// The value of an expression at one timestamp.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar(f64),
    String(String),
    Vector(Vec<Elem>),
    Matrix(Vec<Range>),
}

impl Value {
    /// The type's name as Prometheus writes it in errors and in the
    /// API's `resultType`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar(_) => "scalar",
            Value::String(_) => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}

/// A query's answer: an instant query's value at its time, or a range
/// query's matrix (one series per label set, points at the steps).
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Scalar {
        t: i64,
        v: f64,
    },
    String {
        t: i64,
        s: String,
    },
    /// Elements with the evaluation time.
    Vector {
        t: i64,
        elems: Vec<Elem>,
    },
    Matrix(Vec<Range>),
}

/// A query's answer with the annotations Prometheus would attach.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub answer: Answer,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
    /// Samples the query touched, for `stats`.
    pub samples: u64,
}

/// Formats a float as Prometheus does in label values and JSON: Go's
/// `strconv.FormatFloat(v, 'f', -1, 64)` for `count_values`, and
/// `+Inf`, `-Inf`, `NaN`.
pub fn format_float(v: f64) -> String {
    let mut s = String::new();
    write_float(&mut s, v);
    s
}

/// [`format_float`] onto the end of `out`. The digits are the shortest
/// that read back as `v` (Ryū's, as Rust's `{}` and Go's `-1` precision
/// give), written out without an exponent as Go's `'f'` format does.
pub fn write_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    if v.is_sign_negative() {
        out.push('-');
    }
    let a = v.abs();
    // Whole numbers below 2^53 are their integer's digits.
    if a.fract() == 0.0 && a < 9_007_199_254_740_992.0 {
        out.push_str(format_u64(&mut [0; 20], a as u64));
        return;
    }
    let mut buf = ryu::Buffer::new();
    // `d.ddd`, `ddd.d` or either with `e<exp>`, no sign (`a` is positive).
    let r = buf.format_finite(a);
    let (mantissa, exp) = match r.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (r, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    // All digits (Ryū writes at most 17), and where the point goes among
    // them, without leading or trailing zeros.
    let mut all = [0u8; 40];
    let n = int.len() + frac.len();
    if n > all.len() {
        use std::fmt::Write;
        let _ = write!(out, "{a}");
        return;
    }
    all[..int.len()].copy_from_slice(int.as_bytes());
    all[int.len()..n].copy_from_slice(frac.as_bytes());
    let lead = all[..n - 1].iter().take_while(|&&c| c == b'0').count();
    let point = int.len() as i32 + exp - lead as i32;
    let trail = all[lead + 1..n]
        .iter()
        .rev()
        .take_while(|&&c| c == b'0')
        .count();
    let digits = &all[lead..n - trail];
    // With 16 digits or more, two shortest forms can be equally near the
    // value; Ryū and Rust then differ in which they take (Rust's matched
    // Prometheus's answers so far), so Rust's formatting decides.
    if digits.len() >= 16 {
        use std::fmt::Write;
        let _ = write!(out, "{a}");
        return;
    }
    let digits = std::str::from_utf8(digits).unwrap_or("0");
    if point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-point) as usize));
        out.push_str(digits);
    } else if point as usize >= digits.len() {
        out.push_str(digits);
        out.extend(std::iter::repeat_n('0', point as usize - digits.len()));
    } else {
        let (i, f) = digits.split_at(point as usize);
        out.push_str(i);
        out.push('.');
        out.push_str(f);
    }
}

/// `n`'s decimal digits, written at the end of `buf`.
fn format_u64(buf: &mut [u8; 20], mut n: u64) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).unwrap_or("0")
}

#[cfg(test)]
mod tests {
    use super::format_float;

    /// Go's 'f' format with the shortest digits is Rust's `{}` for finite
    /// values (which never uses an exponent): the two must agree on every
    /// kind of float, bit pattern by bit pattern.
    #[test]
    fn formats_as_rusts_shortest_plain_digits() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let check = |v: f64| {
            if v.is_finite() {
                assert_eq!(format_float(v), format!("{v}"), "{:#x}", v.to_bits());
            }
        };
        for v in [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            0.5,
            1e-7,
            1e-300,
            5e-324,
            1e15,
            1e16,
            1e21,
            1e22,
            1.7976931348623157e308,
            9007199254740992.0,
            9007199254740993.0,
            123456789012345680.0,
            0.30000000000000004,
            64.655652,
            1793491200.5,
        ] {
            check(v);
            check(-v);
        }
        for _ in 0..2_000_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Random bit patterns cover every exponent; scaled integers and
            // short decimals cover what scrapes give.
            check(f64::from_bits(x));
            check((x % 100_000_000) as f64 / 1000.0);
            check((x >> 11) as f64);
            // Up to twelve digits anywhere from 1e-32 to 1e20.
            check(((x >> 20) % 1_000_000_000_000) as f64 / 10f64.powi((x % 53) as i32 - 20));
        }
        assert_eq!(format_float(f64::NAN), "NaN");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
        assert_eq!(format_float(f64::NEG_INFINITY), "-Inf");
    }
}
