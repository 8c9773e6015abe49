//! The reference evaluator: aggregations and binary operators written
//! straight from Prometheus's documented semantics (upstream
//! `promql/engine.go`: `aggregation`, `aggregationK`,
//! `aggregationCountValues`, `VectorBinop`, `VectorscalarBinop`,
//! `resultMetric`), slowly and plainly: no Kahan summation (inputs are
//! multiples of 0.25, so sums are exact), two-pass variance, sorting for
//! quantiles.

use std::collections::{BTreeMap, BTreeSet};

use crate::data::{Input, Lbls, NAME};
use crate::expr::{is_comparison, is_set, Agg, Binary, Card, Expr, Grouping, Param};
use crate::over_time;

pub type Vector = Vec<(Lbls, f64)>;

#[derive(Clone, Debug)]
pub enum Val {
    Scalar(f64),
    Vector(Vector),
}

/// Evaluates `e` at `t` (ms). Errors are kept as text; the check only
/// asks that the engine fails too.
pub fn eval(e: &Expr, input: &Input, t: i64) -> Result<Val, String> {
    let out = match e {
        Expr::Select(names) => Val::Vector(input.instant(names, t)),
        Expr::Number(v) => Val::Scalar(*v),
        Expr::Agg(a) => {
            let Val::Vector(v) = eval(&a.arg, input, t)? else {
                return Err("aggregation over a scalar".into());
            };
            Val::Vector(aggregate(a, v)?)
        }
        Expr::Binary(b) => binary(b, eval(&b.lhs, input, t)?, eval(&b.rhs, input, t)?)?,
        Expr::Range(r) => Val::Vector(over_time::call(r, input, t)),
    };
    if let Val::Vector(v) = &out {
        let distinct: BTreeSet<&Lbls> = v.iter().map(|e| &e.0).collect();
        if distinct.len() != v.len() {
            return Err("vector cannot contain metrics with the same labelset".into());
        }
    }
    Ok(out)
}

/// The labels that name an element's group.
pub fn group_key(l: &Lbls, g: &Grouping) -> Lbls {
    match g {
        Grouping::None => Lbls::new(),
        Grouping::By(names) => l
            .iter()
            .filter(|(k, _)| names.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        Grouping::Without(names) => l
            .iter()
            .filter(|(k, _)| k.as_str() != NAME && !names.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

/// NaN first, then ascending: the order upstream's `quantile` sorts in.
pub fn sort_nan_first(v: &mut [f64]) {
    v.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).unwrap(),
    });
}

/// The φ-quantile by linear interpolation between the two nearest ranks;
/// φ < 0 is -Inf, φ > 1 is +Inf, as documented for `quantile`.
pub fn quantile(phi: f64, values: &[f64]) -> f64 {
    if values.is_empty() || phi.is_nan() {
        return f64::NAN;
    }
    if phi < 0.0 {
        return f64::NEG_INFINITY;
    }
    if phi > 1.0 {
        return f64::INFINITY;
    }
    let mut v = values.to_vec();
    sort_nan_first(&mut v);
    let rank = phi * (v.len() - 1) as f64;
    let lower = rank.floor() as usize;
    let upper = (lower + 1).min(v.len() - 1);
    let weight = rank - rank.floor();
    v[lower] * (1.0 - weight) + v[upper] * weight
}

pub fn sum(v: &[f64]) -> f64 {
    v.iter().sum()
}

/// The mean, also where the sum of finite values overflows (upstream
/// then switches to an incremental mean, which does not overflow).
pub fn mean(v: &[f64]) -> f64 {
    let n = v.len() as f64;
    let s = sum(v);
    if s.is_infinite() && v.iter().all(|x| x.is_finite()) {
        return v.iter().map(|x| x / n).sum();
    }
    s / n
}

/// Population variance, two passes.
pub fn variance(v: &[f64]) -> f64 {
    let m = mean(v);
    v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64
}

/// The smallest value that is not NaN; NaN when all are.
pub fn min(v: &[f64]) -> f64 {
    v.iter()
        .copied()
        .filter(|x| !x.is_nan())
        .fold(f64::NAN, |m, x| if m.is_nan() || x < m { x } else { m })
}

pub fn max(v: &[f64]) -> f64 {
    -min(&v.iter().map(|x| -x).collect::<Vec<_>>())
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`, with Prometheus's names
/// for the infinities (formatting is not what this reference checks).
pub fn format(v: f64) -> String {
    promql::format_float(v)
}

fn aggregate(a: &Agg, v: Vector) -> Result<Vector, String> {
    let num = match a.param {
        Param::Number(p) => p,
        _ => f64::NAN,
    };
    if a.op == "count_values" {
        let Param::Label(name) = a.param else {
            unreachable!()
        };
        // The value label is set first; `by` keeps it, `without` may
        // remove it again.
        let grouping = match &a.grouping {
            Grouping::None => Grouping::By(vec![name]),
            Grouping::By(l) => Grouping::By(l.iter().copied().chain([name]).collect()),
            g => g.clone(),
        };
        let mut counts: BTreeMap<Lbls, f64> = BTreeMap::new();
        for (l, x) in v {
            let mut l = l.clone();
            l.insert(name.to_string(), format(x));
            *counts.entry(group_key(&l, &grouping)).or_default() += 1.0;
        }
        return Ok(counts.into_iter().collect());
    }
    let mut groups: BTreeMap<Lbls, Vector> = BTreeMap::new();
    for (l, x) in v {
        groups
            .entry(group_key(&l, &a.grouping))
            .or_default()
            .push((l, x));
    }
    let mut out = Vec::new();
    for (key, members) in groups {
        let vals: Vec<f64> = members.iter().map(|m| m.1).collect();
        let one = match a.op {
            "sum" => sum(&vals),
            "avg" => mean(&vals),
            "min" => min(&vals),
            "max" => max(&vals),
            "count" => vals.len() as f64,
            "group" => 1.0,
            "stdvar" => variance(&vals),
            "stddev" => variance(&vals).sqrt(),
            "quantile" => quantile(num, &vals),
            "topk" | "bottomk" => {
                // The k best; NaN is worst either way. Ties are broken by
                // labels here; the check accepts any choice among equals.
                let k = num.trunc();
                let mut m = members;
                m.sort_by(|x, y| match (x.1.is_nan(), y.1.is_nan()) {
                    (true, true) => x.0.cmp(&y.0),
                    (true, false) => std::cmp::Ordering::Greater,
                    (false, true) => std::cmp::Ordering::Less,
                    _ if a.op == "topk" => y.1.partial_cmp(&x.1).unwrap().then(x.0.cmp(&y.0)),
                    _ => x.1.partial_cmp(&y.1).unwrap().then(x.0.cmp(&y.0)),
                });
                if k >= 1.0 {
                    out.extend(m.into_iter().take(k as usize));
                }
                continue;
            }
            "limitk" => {
                let k = num.trunc();
                if k >= 1.0 {
                    out.extend(members.into_iter().take(k as usize));
                }
                continue;
            }
            "limit_ratio" => {
                let r = num.clamp(-1.0, 1.0);
                for (l, x) in members {
                    let offset = crate::check::hash(&l) as f64 / u64::MAX as f64;
                    let keep = if num == 0.0 {
                        false
                    } else if r >= 0.0 {
                        offset < r
                    } else {
                        offset >= 1.0 + r
                    };
                    if keep {
                        out.push((l, x));
                    }
                }
                continue;
            }
            op => panic!("no reference for {op}"),
        };
        out.push((key, one));
    }
    Ok(out)
}

/// The value of `l op r`, and whether a comparison holds.
fn apply(op: &str, l: f64, r: f64) -> (f64, bool) {
    match op {
        "+" => (l + r, true),
        "-" => (l - r, true),
        "*" => (l * r, true),
        "/" => (l / r, true),
        // Go's math.Mod and Rust's % are both C's fmod.
        "%" => (l % r, true),
        "^" => (l.powf(r), true),
        "atan2" => (l.atan2(r), true),
        "==" => (l, l == r),
        "!=" => (l, l != r),
        ">" => (l, l > r),
        "<" => (l, l < r),
        ">=" => (l, l >= r),
        "<=" => (l, l <= r),
        _ => panic!("no reference for {op}"),
    }
}

/// Arithmetic drops the metric name; comparisons keep it unless `bool`.
fn drops_name(op: &str) -> bool {
    !is_comparison(op) && !is_set(op)
}

fn without_name(l: &Lbls) -> Lbls {
    let mut l = l.clone();
    l.remove(NAME);
    l
}

/// The labels two elements are matched on.
fn signature(l: &Lbls, b: &Binary) -> Lbls {
    match &b.matching {
        Some(m) if m.on => group_key(l, &Grouping::By(m.labels.clone())),
        Some(m) => group_key(l, &Grouping::Without(m.labels.clone())),
        None => without_name(l),
    }
}

fn binary(b: &Binary, lhs: Val, rhs: Val) -> Result<Val, String> {
    let (lv, rv) = match (lhs, rhs) {
        (Val::Vector(l), Val::Vector(r)) => (l, r),
        (Val::Scalar(_), Val::Scalar(_)) => panic!("scalar-scalar is not generated"),
        (l, r) => return Ok(Val::Vector(with_scalar(b, l, r))),
    };
    if is_set(b.op) {
        let rsigs: BTreeSet<Lbls> = rv.iter().map(|e| signature(&e.0, b)).collect();
        let lsigs: BTreeSet<Lbls> = lv.iter().map(|e| signature(&e.0, b)).collect();
        let out = match b.op {
            "and" => lv
                .into_iter()
                .filter(|e| rsigs.contains(&signature(&e.0, b)))
                .collect(),
            "unless" => lv
                .into_iter()
                .filter(|e| !rsigs.contains(&signature(&e.0, b)))
                .collect(),
            _ => {
                let extra = rv
                    .into_iter()
                    .filter(|e| !lsigs.contains(&signature(&e.0, b)));
                lv.into_iter().chain(extra).collect()
            }
        };
        return Ok(Val::Vector(out));
    }
    if lv.is_empty() || rv.is_empty() {
        return Ok(Val::Vector(Vec::new()));
    }
    let right = matches!(b.card, Card::Right(_));
    let (many, one) = if right { (rv, lv) } else { (lv, rv) };
    let mut ones: BTreeMap<Lbls, (Lbls, f64)> = BTreeMap::new();
    for (l, x) in one {
        let sig = signature(&l, b);
        if ones.insert(sig, (l, x)).is_some() {
            return Err("found duplicate series for the match group".into());
        }
    }
    let mut seen: BTreeMap<Lbls, BTreeSet<Lbls>> = BTreeMap::new();
    let mut out = Vec::new();
    for (ml, mx) in many {
        let sig = signature(&ml, b);
        let Some((ol, ox)) = ones.get(&sig) else {
            continue;
        };
        let mut labels = result_labels(b, &ml, ol);
        if b.bool {
            labels.remove(NAME);
        }
        // Ambiguous matches are errors even where a comparison would
        // filter them out (upstream checks before filtering).
        let earlier = seen.entry(sig).or_default();
        if b.card == Card::OneToOne && !earlier.is_empty() {
            return Err(
                "multiple matches for labels: many-to-one matching must be explicit".into(),
            );
        }
        if !earlier.insert(labels.clone()) {
            return Err(
                "multiple matches for labels: grouping labels must ensure unique matches".into(),
            );
        }
        let (l, r) = if right { (*ox, mx) } else { (mx, *ox) };
        let (mut val, keep) = apply(b.op, l, r);
        if b.bool {
            val = if keep { 1.0 } else { 0.0 };
        } else if !keep {
            continue;
        }
        out.push((labels, val));
    }
    Ok(Val::Vector(out))
}

/// The result's labels: the "many" side's, without the metric name for
/// arithmetic; one-to-one keeps only the `on` labels or drops the
/// `ignoring` ones; `group_x(...)` labels are copied from the "one" side
/// (and removed where it has none).
fn result_labels(b: &Binary, many: &Lbls, one: &Lbls) -> Lbls {
    let mut l = if drops_name(b.op) {
        without_name(many)
    } else {
        many.clone()
    };
    let include = match &b.card {
        Card::OneToOne => {
            if let Some(m) = &b.matching {
                if m.on {
                    l.retain(|k, _| m.labels.contains(&k.as_str()));
                } else {
                    l.retain(|k, _| !m.labels.contains(&k.as_str()));
                }
            }
            return l;
        }
        Card::Left(i) | Card::Right(i) => i,
    };
    for name in include {
        match one.get(*name) {
            Some(v) => l.insert(name.to_string(), v.clone()),
            None => l.remove(*name),
        };
    }
    l
}

/// A vector and a scalar: comparisons keep the vector's value.
fn with_scalar(b: &Binary, lhs: Val, rhs: Val) -> Vector {
    let (v, s, vector_left) = match (lhs, rhs) {
        (Val::Vector(v), Val::Scalar(s)) => (v, s, true),
        (Val::Scalar(s), Val::Vector(v)) => (v, s, false),
        _ => unreachable!(),
    };
    let mut out = Vec::new();
    for (l, x) in v {
        let (lx, rx) = if vector_left { (x, s) } else { (s, x) };
        let (mut val, keep) = apply(b.op, lx, rx);
        if is_comparison(b.op) {
            val = x;
        }
        if b.bool {
            val = if keep { 1.0 } else { 0.0 };
        } else if !keep {
            continue;
        }
        let l = if drops_name(b.op) || b.bool {
            without_name(&l)
        } else {
            l
        };
        out.push((l, val));
    }
    out
}
