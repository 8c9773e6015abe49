//! `histogram_quantile` and `histogram_fraction` over classic buckets:
//! series with an `le` label, grouped by their other labels (upstream
//! `promql/quantile.go` `BucketQuantile`, `BucketFraction`).

use std::collections::HashMap;

use model::Labels;
use promql_parser::parser::Expr;

use super::{scalar_arg, vector_arg};
use crate::engine::Evaluator;
use crate::error::QueryError;
use crate::labels::drop_name;
use crate::value::{format_float, Elem, Value};

#[derive(Clone, Copy)]
struct Bucket {
    upper: f64,
    count: f64,
}

/// Buckets by series (labels without `le`, the name kept so that two
/// histograms never merge), in order of first appearance.
fn groups(ev: &mut Evaluator<'_>, v: Vec<Elem>) -> Vec<(Labels, Vec<Bucket>)> {
    let mut order: Vec<Labels> = Vec::new();
    let mut by: HashMap<Labels, Vec<Bucket>> = HashMap::new();
    for e in v {
        let le = e.labels.get("le").unwrap_or("");
        let Some(upper) = parse_go_float(le) else {
            ev.warnings.push(format!(
                "PromQL warning: bucket label \"le\" is missing or has a malformed value of \"{le}\""
            ));
            continue;
        };
        let mut b = e.labels.builder();
        b.del("le");
        let key = b.labels();
        by.entry(key.clone())
            .or_insert_with(|| {
                order.push(key);
                Vec::new()
            })
            .push(Bucket { upper, count: e.v });
    }
    order
        .into_iter()
        .map(|k| {
            let b = by.remove(&k).unwrap_or_default();
            (k, b)
        })
        .collect()
}

/// Go's `strconv.ParseFloat` for `le` values: numbers, `+Inf`, `-Inf`,
/// `NaN` in any case, `Inf`, `infinity`.
fn parse_go_float(s: &str) -> Option<f64> {
    let t = s.trim();
    if t != s || t.is_empty() {
        return None;
    }
    match t.to_ascii_lowercase().trim_start_matches(['+', '-']) {
        "inf" | "infinity" => {
            return Some(if t.starts_with('-') {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            })
        }
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return i64::from_str_radix(hex, 16).ok().map(|v| v as f64);
    }
    t.replace('_', "").parse::<f64>().ok()
}

fn sort_and_coalesce(b: &mut Vec<Bucket>) {
    b.sort_by(|x, y| {
        x.upper
            .partial_cmp(&y.upper)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut out: Vec<Bucket> = Vec::with_capacity(b.len());
    for x in b.drain(..) {
        match out.last_mut() {
            Some(l) if l.upper == x.upper => l.count += x.count,
            _ => out.push(x),
        }
    }
    *b = out;
}

fn almost_equal(a: f64, b: f64, eps: f64) -> bool {
    if a == b {
        return true;
    }
    let diff = (a - b).abs();
    let sum = a.abs() + b.abs();
    if a == 0.0 || b == 0.0 || sum < f64::MIN_POSITIVE {
        return diff < eps * f64::MIN_POSITIVE;
    }
    diff / sum.min(f64::MAX) < eps
}

/// The quantile and whether monotonicity had to be forced.
fn bucket_quantile(q: f64, b: &mut Vec<Bucket>) -> (f64, bool) {
    if q.is_nan() {
        return (f64::NAN, false);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false);
    }
    if q > 1.0 {
        return (f64::INFINITY, false);
    }
    sort_and_coalesce(b);
    if b.last().is_none_or(|l| l.upper != f64::INFINITY) {
        return (f64::NAN, false);
    }
    let mut forced = false;
    let mut prev = b[0].count;
    for x in b.iter_mut().skip(1) {
        let cur = x.count;
        if cur == prev {
            continue;
        }
        if almost_equal(prev, cur, 1e-12) {
            x.count = prev;
            continue;
        }
        if cur < prev {
            x.count = prev;
            forced = true;
            continue;
        }
        prev = cur;
    }
    if b.len() < 2 {
        return (f64::NAN, forced);
    }
    let n = b.len();
    let observations = b[n - 1].count;
    if observations == 0.0 {
        return (f64::NAN, forced);
    }
    let mut rank = q * observations;
    let i = b[..n - 1].partition_point(|x| x.count < rank);
    if i == n - 1 {
        return (b[n - 2].upper, forced);
    }
    if i == 0 && b[0].upper <= 0.0 {
        return (b[0].upper, forced);
    }
    let mut start = 0.0;
    let end = b[i].upper;
    let mut count = b[i].count;
    if i > 0 {
        start = b[i - 1].upper;
        count -= b[i - 1].count;
        rank -= b[i - 1].count;
    }
    (start + (end - start) * (rank / count), forced)
}

fn bucket_fraction(lower: f64, upper: f64, b: &mut Vec<Bucket>) -> f64 {
    sort_and_coalesce(b);
    if b.last().is_none_or(|l| l.upper != f64::INFINITY) {
        return f64::NAN;
    }
    let count = b[b.len() - 1].count;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let mut rank = 0.0;
    let (mut lower_rank, mut upper_rank) = (None, None);
    let first_lb = if b[0].upper <= 0.0 {
        f64::NEG_INFINITY
    } else {
        0.0
    };
    for i in 0..b.len() {
        let lb = if i == 0 { first_lb } else { b[i - 1].upper };
        let ub = b[i].upper;
        let c = b[i].count;
        let interp = |v: f64| {
            if lb == f64::NEG_INFINITY {
                c
            } else {
                rank + (c - rank) * (v - lb) / (ub - lb)
            }
        };
        if lower_rank.is_none() && lb >= lower {
            lower_rank = Some(rank);
        }
        if upper_rank.is_none() && lb >= upper {
            upper_rank = Some(rank);
        }
        if lower_rank.is_none() && lb < lower && lower < ub {
            lower_rank = Some(interp(lower));
        }
        if upper_rank.is_none() && lb < upper && upper < ub {
            upper_rank = Some(interp(upper));
        }
        rank = c;
    }
    let lr = lower_rank.filter(|r| *r <= count).unwrap_or(count);
    let ur = upper_rank.filter(|r| *r <= count).unwrap_or(count);
    (ur - lr) / count
}

pub(super) fn quantile(
    ev: &mut Evaluator<'_>,
    args: &[&Expr],
    ts: i64,
) -> Result<Value, QueryError> {
    let q = scalar_arg(ev, args.first(), ts)?;
    let v = vector_arg(ev, args.get(1), ts)?;
    ev.check_quantile(q);
    let mut out = Vec::new();
    for (labels, mut buckets) in groups(ev, v) {
        let (value, forced) = bucket_quantile(q, &mut buckets);
        if forced {
            ev.infos.push(MONOTONICITY.into());
        }
        out.push(Elem {
            labels: drop_name(&labels),
            v: value,
        });
    }
    Ok(Value::Vector(out))
}

/// `histogram_quantiles(v, "label", q1, q2, ...)`: one series per group and
/// quantile, the quantile in `label` (OpenMetrics float text).
pub(super) fn quantiles(
    ev: &mut Evaluator<'_>,
    args: &[&Expr],
    ts: i64,
) -> Result<Value, QueryError> {
    let v = vector_arg(ev, args.first(), ts)?;
    let label = super::string_arg(ev, args.get(1), ts)?;
    if label.is_empty() {
        return Err(QueryError::execution("invalid label name \"\""));
    }
    let mut qs = Vec::new();
    for i in 2..args.len() {
        let q = scalar_arg(ev, args.get(i), ts)?;
        ev.check_quantile(q);
        qs.push(q);
    }
    if let Some(e) = v.iter().find(|e| e.labels.get(&label).is_some()) {
        return Err(QueryError::execution(format!(
            "label {label:?} already exists on the input series {}",
            e.labels
        )));
    }
    let mut out = Vec::new();
    for (labels, buckets) in groups(ev, v) {
        for &q in &qs {
            let (value, forced) = bucket_quantile(q, &mut buckets.clone());
            if forced {
                ev.infos.push(MONOTONICITY.into());
            }
            let mut b = drop_name(&labels).builder();
            b.set(&label, &om_float(q));
            out.push(Elem {
                labels: b.labels(),
                v: value,
            });
        }
    }
    Ok(Value::Vector(out))
}

const MONOTONICITY: &str = "PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile)";

/// A float as OpenMetrics writes it: `1.0`, `0.25`, `NaN`, `+Inf`.
fn om_float(v: f64) -> String {
    let s = format_float(v);
    if v.is_finite() && !s.contains(['.', 'e']) {
        format!("{s}.0")
    } else {
        s
    }
}

pub(super) fn fraction(
    ev: &mut Evaluator<'_>,
    args: &[&Expr],
    ts: i64,
) -> Result<Value, QueryError> {
    let lower = scalar_arg(ev, args.first(), ts)?;
    let upper = scalar_arg(ev, args.get(1), ts)?;
    let v = vector_arg(ev, args.get(2), ts)?;
    let mut out = Vec::new();
    for (labels, mut buckets) in groups(ev, v) {
        out.push(Elem {
            labels: drop_name(&labels),
            v: bucket_fraction(lower, upper, &mut buckets),
        });
    }
    Ok(Value::Vector(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(pairs: &[(f64, f64)]) -> Vec<Bucket> {
        pairs
            .iter()
            .map(|&(upper, count)| Bucket { upper, count })
            .collect()
    }

    #[test]
    fn classic_quantiles() {
        let mut x = b(&[
            (0.1, 10.0),
            (0.5, 50.0),
            (1.0, 90.0),
            (f64::INFINITY, 100.0),
        ]);
        let (q, _) = bucket_quantile(0.5, &mut x);
        assert!((q - 0.5).abs() < 1e-12, "{q}");
        let (q, _) = bucket_quantile(0.99, &mut x);
        assert_eq!(q, 1.0);
        let mut no_inf = b(&[(1.0, 1.0)]);
        assert!(bucket_quantile(0.5, &mut no_inf).0.is_nan());
        let mut broken = b(&[(1.0, 10.0), (2.0, 5.0), (f64::INFINITY, 10.0)]);
        assert!(bucket_quantile(0.5, &mut broken).1);
        let f = bucket_fraction(0.0, 0.5, &mut x);
        assert!((f - 0.5).abs() < 1e-12, "{f}");
        assert_eq!(parse_go_float("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_go_float("0.5"), Some(0.5));
        assert_eq!(parse_go_float("x"), None);
    }
}
