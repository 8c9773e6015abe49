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
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        // Rust's shortest round-trip formatting matches Go's 'f', -1 for
        // the digits; only exponents differ, and `{}` never uses them.
        format!("{v}")
    }
}
