//! Comparing the engine's answer with the reference's.

use std::collections::BTreeMap;
use std::fmt::Write;

use promql::Answer;

use crate::data::{from_model, show_labels, Lbls};

/// A query's result as series of points, whether instant or range.
pub type Series = BTreeMap<Lbls, Vec<(i64, f64)>>;

/// Prometheus's label-set hash (`labels.Labels.Hash`): XXH64 over each
/// name and value, each followed by 0xff, in name order.
pub fn hash(l: &Lbls) -> u64 {
    let mut b = Vec::new();
    for (k, v) in l {
        b.extend_from_slice(k.as_bytes());
        b.push(0xff);
        b.extend_from_slice(v.as_bytes());
        b.push(0xff);
    }
    xxhash_rust::xxh64::xxh64(&b, 0)
}

/// Equal within a relative tolerance (and an absolute one near zero);
/// NaN equals NaN.
pub fn close(a: f64, b: f64, rel: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a == b {
        return true;
    }
    (a - b).abs() <= rel * a.abs().max(b.abs()) + 1e-12
}

pub fn from_answer(a: &Answer) -> Result<Series, String> {
    let mut out = Series::new();
    match a {
        Answer::Vector { t, elems } => {
            for e in elems {
                if out.insert(from_model(&e.labels), vec![(*t, e.v)]).is_some() {
                    return Err(format!("label set twice: {}", e.labels));
                }
            }
        }
        Answer::Matrix(m) => {
            for r in m {
                if out
                    .insert(from_model(&r.labels), r.points.clone())
                    .is_some()
                {
                    return Err(format!("label set twice: {}", r.labels));
                }
            }
        }
        other => return Err(format!("not a vector: {other:?}")),
    }
    Ok(out)
}

/// Whether `got` and `want` hold the same series with close values at
/// the same times.
pub fn same(got: &Series, want: &Series, rel: f64) -> bool {
    got.len() == want.len()
        && got.iter().zip(want).all(|((gl, gp), (wl, wp))| {
            gl == wl
                && gp.len() == wp.len()
                && gp
                    .iter()
                    .zip(wp)
                    .all(|(g, w)| g.0 == w.0 && close(g.1, w.1, rel))
        })
}

pub fn show(r: &Result<Series, String>) -> String {
    match r {
        Err(e) => format!("  error: {e}\n"),
        Ok(s) if s.is_empty() => "  (empty)\n".into(),
        Ok(s) => {
            let mut out = String::new();
            for (l, p) in s {
                let _ = write!(out, "  {}:", show_labels(l));
                for (t, v) in p {
                    let _ = write!(out, " {v}@{}", *t as f64 / 1000.0);
                }
                out.push('\n');
            }
            out
        }
    }
}
