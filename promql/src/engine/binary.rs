//! Binary operators: arithmetic, comparisons (filtering or `bool`) and the
//! set operators, with `on`/`ignoring` and `group_left`/`group_right`
//! matching (upstream `promql/engine.go`: `VectorBinop`, `VectorAnd`,
//! `VectorOr`, `VectorUnless`, `resultMetric`).

use std::collections::{HashMap, HashSet};

type FastSet<T> = HashSet<T, foldhash::fast::RandomState>;

use model::{Labels, METRIC_NAME};
use promql_parser::label::Labels as NameList;
use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};

use super::Evaluator;
use crate::error::QueryError;

use crate::value::{Elem, Value};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    And,
    Or,
    Unless,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "+" => Op::Add,
            "-" => Op::Sub,
            "*" => Op::Mul,
            "/" => Op::Div,
            "%" => Op::Mod,
            "^" => Op::Pow,
            "atan2" => Op::Atan2,
            "==" => Op::Eq,
            "!=" => Op::Ne,
            ">" => Op::Gt,
            "<" => Op::Lt,
            ">=" => Op::Ge,
            "<=" => Op::Le,
            "and" => Op::And,
            "or" => Op::Or,
            "unless" => Op::Unless,
            _ => return None,
        })
    }

    fn is_comparison(self) -> bool {
        matches!(self, Op::Eq | Op::Ne | Op::Gt | Op::Lt | Op::Ge | Op::Le)
    }

    /// The value and whether a comparison holds (arithmetic always
    /// keeps).
    fn apply(self, l: f64, r: f64) -> (f64, bool) {
        match self {
            Op::Add => (l + r, true),
            Op::Sub => (l - r, true),
            Op::Mul => (l * r, true),
            Op::Div => (l / r, true),
            Op::Mod => (l % r, true),
            Op::Pow => (l.powf(r), true),
            Op::Atan2 => (l.atan2(r), true),
            Op::Eq => (l, l == r),
            Op::Ne => (l, l != r),
            Op::Gt => (l, l > r),
            Op::Lt => (l, l < r),
            Op::Ge => (l, l >= r),
            Op::Le => (l, l <= r),
            Op::And | Op::Or | Op::Unless => (l, true),
        }
    }
}

fn names(l: &NameList) -> Vec<String> {
    l.labels.clone()
}

pub(super) fn eval(ev: &mut Evaluator<'_>, b: &BinaryExpr, ts: i64) -> Result<Value, QueryError> {
    let op_text = b.op.to_string();
    let op = Op::parse(&op_text)
        .ok_or_else(|| QueryError::execution(format!("unknown binary operator {op_text:?}")))?;
    let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
    if b.modifier
        .as_ref()
        .is_some_and(|m| m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some())
    {
        return Err(QueryError::execution("fill modifiers are not supported"));
    }
    let lhs = ev.eval(&b.lhs, ts)?;
    let rhs = ev.eval(&b.rhs, ts)?;
    match (lhs, rhs) {
        (Value::Scalar(l), Value::Scalar(r)) => {
            let (v, keep) = op.apply(l, r);
            Ok(Value::Scalar(if op.is_comparison() {
                f64::from(u8::from(keep))
            } else {
                v
            }))
        }
        (Value::Vector(l), Value::Scalar(r)) => {
            if filter_raw(ev, op, r, false, return_bool) {
                return Ok(Value::Vector(l));
            }
            Ok(Value::Vector(scalar_op(ev, op, l, r, false, return_bool)))
        }
        (Value::Scalar(l), Value::Vector(r)) => {
            if filter_raw(ev, op, l, true, return_bool) {
                return Ok(Value::Vector(r));
            }
            Ok(Value::Vector(scalar_op(ev, op, r, l, true, return_bool)))
        }
        (Value::Vector(l), Value::Vector(r)) => {
            let (card, matching) = match &b.modifier {
                Some(m) => (m.card.clone(), m.matching.clone()),
                None => (
                    if matches!(op, Op::And | Op::Or | Op::Unless) {
                        VectorMatchCardinality::ManyToMany
                    } else {
                        VectorMatchCardinality::OneToOne
                    },
                    None,
                ),
            };
            let (on, names) = match &matching {
                Some(LabelModifier::Include(l)) => (true, names(l)),
                Some(LabelModifier::Exclude(l)) => (false, names(l)),
                None => (false, Vec::new()),
            };
            let node = b as *const BinaryExpr as usize;
            let lsig: Vec<u32> = l
                .iter()
                .map(|e| ev.key(node, &e.labels, &names, on))
                .collect();
            let rsig: Vec<u32> = r
                .iter()
                .map(|e| ev.key(node, &e.labels, &names, on))
                .collect();
            match op {
                Op::And | Op::Unless => {
                    let right: FastSet<&u32> = rsig.iter().collect();
                    let want = op == Op::And;
                    Ok(Value::Vector(
                        l.into_iter()
                            .zip(&lsig)
                            .filter(|(_, s)| right.contains(s) == want)
                            .map(|(e, _)| e)
                            .collect(),
                    ))
                }
                Op::Or => {
                    let left: FastSet<&u32> = lsig.iter().collect();
                    let mut out = l;
                    out.extend(
                        r.into_iter()
                            .zip(&rsig)
                            .filter(|(_, s)| !left.contains(s))
                            .map(|(e, _)| e),
                    );
                    Ok(Value::Vector(out))
                }
                _ => {
                    let m = Matching {
                        card: &card,
                        on,
                        names: &names,
                        return_bool,
                        node,
                    };
                    vector_op(ev, op, (l, lsig), (r, rsig), &m).map(Value::Vector)
                }
            }
        }
        (l, r) => Err(QueryError::execution(format!(
            "binary operator {op_text} between {} and {}",
            l.type_name(),
            r.type_name()
        ))),
    }
}

/// A comparison with scalar `s` that filters (no `bool`) over a vector
/// its aggregation took as a raw column (`aggregate::raw_target`): the
/// column is filtered as `scalar_op` filters the vector (labels and
/// values unchanged), and true is returned; false, with nothing done,
/// otherwise.
fn filter_raw(ev: &mut Evaluator<'_>, op: Op, s: f64, swap: bool, return_bool: bool) -> bool {
    if !op.is_comparison() || return_bool {
        return false;
    }
    let Some(raw) = ev.raw.as_mut() else {
        return false;
    };
    raw.retain(|v| {
        let (l, r) = if swap { (s, v) } else { (v, s) };
        op.apply(l, r).1
    });
    true
}

/// A vector and a scalar; `swap` when the scalar was on the left.
fn scalar_op(
    ev: &mut Evaluator<'_>,
    op: Op,
    v: Vec<Elem>,
    s: f64,
    swap: bool,
    return_bool: bool,
) -> Vec<Elem> {
    let mut out = Vec::with_capacity(v.len());
    for e in v {
        let (l, r) = if swap { (s, e.v) } else { (e.v, s) };
        let (mut value, keep) = op.apply(l, r);
        // A comparison keeps the vector's value whichever side it is on.
        if op.is_comparison() && swap {
            value = r;
        }
        if return_bool {
            out.push(Elem {
                labels: ev.drop_name(&e.labels),
                v: f64::from(u8::from(keep)),
            });
        } else if keep {
            let labels = if op.is_comparison() {
                e.labels
            } else {
                ev.drop_name(&e.labels)
            };
            out.push(Elem { labels, v: value });
        }
    }
    out
}

/// How two vectors match.
struct Matching<'a> {
    card: &'a VectorMatchCardinality,
    on: bool,
    names: &'a [String],
    return_bool: bool,
    /// The expression's address, for memoised labels.
    node: usize,
}

/// The labels of a one-to-one or many-to-one result (upstream
/// `resultMetric`).
fn result_labels(op: Op, m: &Matching<'_>, many: &Labels, one: &Labels) -> Labels {
    let mut b = many.builder();
    if !op.is_comparison() || m.return_bool {
        for n in crate::labels::METADATA {
            b.del(n);
        }
    }
    if matches!(m.card, VectorMatchCardinality::OneToOne) {
        if m.on {
            b.retain(|n| m.names.iter().any(|k| k == n));
        } else {
            for n in m.names {
                b.del(n);
            }
        }
    }
    for n in m
        .card
        .labels()
        .map(|l| l.labels.as_slice())
        .unwrap_or_default()
    {
        match one.get(n) {
            Some(v) if !v.is_empty() => {
                b.set(n, v);
            }
            _ => {
                b.del(n);
            }
        }
    }
    b.labels()
}

/// One-to-one and many-to-one/one-to-many matching; each side comes with
/// its elements' match keys.
fn vector_op(
    ev: &mut Evaluator<'_>,
    op: Op,
    lhs: (Vec<Elem>, Vec<u32>),
    rhs: (Vec<Elem>, Vec<u32>),
    m: &Matching<'_>,
) -> Result<Vec<Elem>, QueryError> {
    // Nothing can match: no error for duplicates either (upstream
    // short-circuits the same way).
    if lhs.0.is_empty() || rhs.0.is_empty() {
        return Ok(Vec::new());
    }
    let one_to_many = matches!(m.card, VectorMatchCardinality::OneToMany(_));
    let one_to_one = matches!(m.card, VectorMatchCardinality::OneToOne);
    // For one-to-many the sides swap; values swap back for the operation.
    let ((many, many_sig), (one, one_sig)) = if one_to_many { (rhs, lhs) } else { (lhs, rhs) };
    // The same series on both sides, in the same order, as at this node's
    // last step (usual in a range query): the same pairs match, with the
    // same result labels and no error, so only the values are new. Label
    // sets are compared by address; the slow path below pinned them all.
    let same = |addrs: &[usize], es: &[Elem]| {
        addrs.len() == es.len() && addrs.iter().zip(es).all(|(a, e)| *a == e.labels.addr())
    };
    if let Some(c) = ev.memo.pairs.get(&m.node) {
        if same(&c.many, &many) && same(&c.one, &one) {
            let mut out = Vec::with_capacity(c.pairs.len());
            for (i, j, labels) in &c.pairs {
                let (e, o) = (&many[*i as usize], &one[*j as usize]);
                if let Some(v) = pair_value(op, m, one_to_many, e.v, o.v) {
                    out.push(Elem {
                        labels: labels.clone(),
                        v,
                    });
                }
            }
            return Ok(out);
        }
    }
    let mut one_by_sig: HashMap<&u32, usize, foldhash::fast::RandomState> =
        HashMap::with_capacity_and_hasher(one.len(), Default::default());
    for (j, (e, s)) in one.iter().zip(&one_sig).enumerate() {
        if let Some(prev) = one_by_sig.insert(s, j) {
            let side = if one_to_many { "left" } else { "right" };
            return Err(QueryError::execution(format!(
                "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                group_text(&e.labels, m.names, m.on),
                crate::labels::to_prometheus_string(&one[prev].labels),
                crate::labels::to_prometheus_string(&e.labels)
            )));
        }
    }
    let mut out = Vec::new();
    let mut pairs = Vec::new();
    let mut seen: FastSet<Labels> = FastSet::default();
    let mut matched_one: FastSet<&u32> = FastSet::default();
    for (i, (e, s)) in many.iter().zip(&many_sig).enumerate() {
        let Some(&j) = one_by_sig.get(s) else {
            continue;
        };
        let o = &one[j];
        // Ambiguous one-to-one matches fail even when a comparison would
        // filter them away.
        if one_to_one && !matched_one.insert(s) {
            return Err(QueryError::execution(
                "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
            ));
        }
        let key = (m.node, e.labels.addr(), o.labels.addr());
        let labels = match ev.memo.results.get(&key) {
            Some(l) => l.clone(),
            None => {
                let l = result_labels(op, m, &e.labels, &o.labels);
                ev.memo.pin(&e.labels);
                ev.memo.pin(&o.labels);
                ev.memo.results.insert(key, l.clone());
                l
            }
        };
        // Like the one-to-one check above, this holds before a comparison
        // filters, as in upstream's `VectorBinop`.
        if !one_to_one && !seen.insert(labels.clone()) {
            return Err(QueryError::execution(
                "multiple matches for labels: grouping labels must ensure unique matches",
            ));
        }
        pairs.push((i as u32, j as u32, labels.clone()));
        if let Some(v) = pair_value(op, m, one_to_many, e.v, o.v) {
            out.push(Elem { labels, v });
        }
    }
    let mut c = super::memo::StepPairs {
        pairs,
        ..Default::default()
    };
    for e in &many {
        c.many.push(ev.memo.pin(&e.labels));
    }
    for e in &one {
        c.one.push(ev.memo.pin(&e.labels));
    }
    ev.memo.pairs.insert(m.node, c);
    Ok(out)
}

/// The result of one matched pair, or `None` when a comparison drops it.
fn pair_value(op: Op, m: &Matching<'_>, one_to_many: bool, many: f64, one: f64) -> Option<f64> {
    let (l, r) = if one_to_many {
        (one, many)
    } else {
        (many, one)
    };
    let (value, keep) = op.apply(l, r);
    if m.return_bool {
        Some(f64::from(u8::from(keep)))
    } else if keep {
        Some(value)
    } else {
        None
    }
}

/// The match group as Prometheus prints it in errors: `{a="1", b="2"}`.
fn group_text(l: &Labels, names: &[String], on: bool) -> String {
    let parts: Vec<String> = l
        .iter()
        .filter(|(n, _)| {
            let listed = names.iter().any(|k| k == n);
            if on {
                listed
            } else {
                !listed && *n != METRIC_NAME
            }
        })
        .map(|(n, v)| format!("{n}=\"{v}\""))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

#[cfg(test)]
mod tests {

    #[test]
    fn ambiguous_group_left_fails_before_a_comparison_filters() {
        // Both left series take y="r" from the right: upstream fails even
        // though `>` would keep only one of them.
        let script = r#"
load 1m
  a{x="1", y="p"} 1
  a{x="1", y="q"} 5
  b{x="1", y="r"} 3

eval instant at 0m a > on(x) group_left(y) b
  expect fail

eval instant at 0m a > on(x) group_left b
  a{x="1", y="q"} 5
"#;
        crate::script::assert_passes(script);
    }
}
