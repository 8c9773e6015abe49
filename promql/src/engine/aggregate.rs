//! Aggregation operators with `by`/`without` (upstream
//! `promql/engine.go` `aggregation`, `aggregationK`,
//! `aggregationCountValues`), including Prometheus's Kahan-compensated
//! `sum`/`avg` and its switch to an incremental mean when a sum would
//! overflow.

use std::collections::HashMap;

use model::Labels;
use promql_parser::parser::{AggregateExpr, Expr, LabelModifier};

use super::Evaluator;
use crate::error::QueryError;
use crate::labels::{keep, without};
use crate::value::{format_float, Elem, Value};

/// Neumaier's improved Kahan summation step (upstream `kahanSumInc`).
pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// A quantile of `values` by linear interpolation between the closest
/// ranks (upstream `quantile`).
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Prometheus's label-set hash (`labels.Hash`): XXH64 of each name and
/// value followed by 0xff.
fn prometheus_hash(l: &Labels) -> u64 {
    let mut h = xxhash_rust::xxh64::Xxh64::new(0);
    for (n, v) in l.iter() {
        h.update(n.as_bytes());
        h.update(&[0xff]);
        h.update(v.as_bytes());
        h.update(&[0xff]);
    }
    h.digest()
}

/// What an aggregation does with each element.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Sum,
    Avg,
    Count,
    Group,
    Min,
    Max,
    Deviation,
    Quantile,
    Elems,
}

#[derive(Default)]
pub(crate) struct Group {
    labels: Labels,
    c: Cell,
    values: Vec<f64>,
    elems: Vec<Elem>,
}

/// What a group adds up, for the kinds that keep a value rather than
/// values or elements.
#[derive(Clone, Copy)]
struct Cell {
    count: f64,
    value: f64,
    kahan: f64,
    mean: f64,
    incremental: bool,
}

impl Default for Cell {
    /// A group before its first value (whose value is NaN until a kind
    /// sets it).
    fn default() -> Self {
        Cell {
            count: 0.0,
            value: f64::NAN,
            kahan: 0.0,
            mean: 0.0,
            incremental: false,
        }
    }
}

pub(super) fn eval(
    ev: &mut Evaluator<'_>,
    a: &AggregateExpr,
    ts: i64,
) -> Result<Value, QueryError> {
    let op = a.op.to_string();
    let param = match &a.param {
        Some(p) => Some(ev.eval(p, ts)?),
        None => None,
    };
    // An aggregation that only adds up values (not `topk` and its kin,
    // which return series, nor `count_values`) over a call or selector
    // computed in columns takes the step's column as it is.
    let op_adds = !matches!(
        op.as_str(),
        "topk" | "bottomk" | "limitk" | "limit_ratio" | "count_values"
    );
    let mut inner = &*a.expr;
    while let Expr::Paren(p) = inner {
        inner = &p.expr;
    }
    let (by, names) = match &a.modifier {
        Some(LabelModifier::Include(l)) => (true, l.labels.clone()),
        Some(LabelModifier::Exclude(l)) => (false, l.labels.clone()),
        None => (true, Vec::new()),
    };
    let node = a as *const AggregateExpr as usize;
    let kind = kind_of(&op);
    let target = raw_target(inner).filter(|_| op_adds && ev.main_step(ts).is_some());
    if let Some((target, direct)) = target {
        ev.raw_for = target as *const Expr as usize;
        // Every step's groups at once, where each group keeps a value
        // rather than the values (`quantile`), over the node itself.
        ev.agg_spec = kind
            .filter(|k| *k != Kind::Quantile && direct)
            .map(|kind| AggSpec {
                node,
                names: names.clone(),
                by,
                kind,
            });
    }
    let value = ev.eval(&a.expr, ts);
    ev.raw_for = 0;
    ev.agg_spec = None;
    let raw = ev.raw.take();
    let ready = ev.agg_groups.take();
    let input = match value? {
        Value::Vector(v) => v,
        other => {
            return Err(QueryError::execution(format!(
                "{op} over a {}",
                other.type_name()
            )))
        }
    };
    let scalar_param = || match &param {
        Some(Value::Scalar(v)) => Ok(*v),
        _ => Err(QueryError::execution(format!(
            "{op} needs a scalar parameter"
        ))),
    };
    if op == "count_values" {
        let label = match &param {
            Some(Value::String(s)) => s.clone(),
            _ => {
                return Err(QueryError::execution(
                    "count_values needs a string parameter",
                ))
            }
        };
        if !valid_label_name(&label) {
            return Err(QueryError::execution(format!(
                "invalid label name {label:?}"
            )));
        }
        let mut order: Vec<Labels> = Vec::new();
        let mut counts: HashMap<Labels, f64> = HashMap::new();
        // As upstream does, the value label is set on the series before
        // grouping: `by` keeps it, `without` may remove it again.
        let mut by_names = names.clone();
        by_names.push(label.clone());
        for e in &input {
            let mut b = e.labels.builder();
            b.set(&label, &format_float(e.v));
            let l = b.labels();
            let l = if by {
                keep(&l, &by_names)
            } else {
                without(&l, &names)
            };
            let c = counts.entry(l.clone()).or_insert_with(|| {
                order.push(l);
                0.0
            });
            *c += 1.0;
        }
        return Ok(Value::Vector(
            order
                .into_iter()
                .map(|l| {
                    let v = counts[&l];
                    Elem { labels: l, v }
                })
                .collect(),
        ));
    }
    let k_ops = matches!(op.as_str(), "topk" | "bottomk" | "limitk" | "limit_ratio");
    if k_ops && scalar_param()?.is_nan() {
        return Err(QueryError::execution(if op == "limit_ratio" {
            "Ratio value is NaN"
        } else {
            "Parameter value is NaN"
        }));
    }
    let Some(kind) = kind else {
        return Err(QueryError::execution(format!("unknown aggregation {op:?}")));
    };
    let groups = match (ready, raw) {
        (Some(groups), _) => groups,
        (None, Some(raw)) => raw_groups(ev, node, &names, by, kind, raw),
        (None, None) => vector_groups(ev, node, &names, by, k_ops, kind, input),
    };
    let mut out = Vec::new();
    for mut g in groups {
        let v = match op.as_str() {
            "sum" => g.c.value + g.c.kahan,
            "avg" => {
                if g.c.incremental {
                    g.c.mean + g.c.kahan
                } else {
                    (g.c.value + g.c.kahan) / g.c.count
                }
            }
            "count" => g.c.count,
            "stdvar" => g.c.value / g.c.count,
            "stddev" => (g.c.value / g.c.count).sqrt(),
            "quantile" => {
                let q = scalar_param()?;
                ev.check_quantile(q);
                quantile(q, &mut g.values)
            }
            "topk" | "bottomk" | "limitk" => {
                let k = scalar_param()?;
                let k = if k >= i64::MAX as f64 {
                    i64::MAX
                } else {
                    k as i64
                };
                if k < 1 {
                    continue;
                }
                let k = k as usize;
                let mut elems = g.elems;
                match op.as_str() {
                    "topk" => elems.sort_by(|a, b| nan_last(a.v, b.v).then(ascending(b.v, a.v))),
                    "bottomk" => elems.sort_by(|a, b| nan_last(a.v, b.v).then(ascending(a.v, b.v))),
                    _ => {}
                }
                elems.truncate(k);
                out.extend(elems);
                continue;
            }
            "limit_ratio" => {
                let r = scalar_param()?;
                let r = if !(-1.0..=1.0).contains(&r) {
                    ev.warnings.push(format!(
                        "PromQL warning: ratio value should be between -1 and 1, got {}, capping to {}",
                        format_float(r),
                        if r < 0.0 { "-1" } else { "1" }
                    ));
                    r.clamp(-1.0, 1.0)
                } else {
                    r
                };
                for e in g.elems {
                    let offset = prometheus_hash(&e.labels) as f64 / u64::MAX as f64;
                    if (r >= 0.0 && offset < r) || (r < 0.0 && offset >= 1.0 + r) {
                        out.push(e);
                    }
                }
                continue;
            }
            _ => g.c.value,
        };
        out.push(Elem {
            labels: g.labels,
            v,
        });
    }
    Ok(Value::Vector(out))
}

/// The groups of one step's vector, in order of first appearance, by key
/// id. A node usually sees the same series, in the same order, at every
/// step of a range query: then last step's grouping is taken as it is,
/// without a lookup per series. Label sets are compared by address, which
/// is safe because `key_and_group` pinned every set the grouping was
/// worked out from.
fn vector_groups(
    ev: &mut Evaluator<'_>,
    node: usize,
    names: &[String],
    by: bool,
    k_ops: bool,
    kind: Kind,
    input: Vec<Elem>,
) -> Vec<Group> {
    let same = ev.memo.steps.get(&node).is_some_and(|c| {
        c.addrs.len() == input.len()
            && c.addrs
                .iter()
                .zip(&input)
                .all(|(a, e)| *a == e.labels.addr())
    });
    if !same {
        let mut slots: super::FastMap<u32, u32> = super::FastMap::default();
        let mut c = super::memo::StepGrouping::default();
        for e in &input {
            let id = ev.key_and_group(node, &e.labels, names, by, !k_ops);
            let slot = *slots.entry(id).or_insert_with(|| {
                c.groups.push(id);
                c.groups.len() as u32 - 1
            });
            c.addrs.push(e.labels.addr());
            c.slots.push(slot);
        }
        ev.memo.steps.insert(node, c);
    }
    let grouping = &ev.memo.steps[&node];
    let mut groups: Vec<Group> = grouping
        .groups
        .iter()
        .map(|&id| Group {
            labels: ev.memo.group(id).clone(),
            ..Group::default()
        })
        .collect();
    for (e, &slot) in input.into_iter().zip(&grouping.slots) {
        let g = &mut groups[slot as usize];
        if let Kind::Elems = kind {
            g.elems.push(e);
            g.c.count += 1.0;
        } else {
            add(g, kind, e.v);
        }
    }
    groups
}

/// The node under an aggregation's argument `inner` that can give its
/// steps as raw columns: `inner` itself if it is a call or a selector
/// (`true`), or the call or selector that a comparison with a number
/// filters, without `bool` (`false`: `binary::filter_raw` filters the
/// column on its way up).
fn raw_target(inner: &Expr) -> Option<(&Expr, bool)> {
    fn unparen(mut e: &Expr) -> &Expr {
        while let Expr::Paren(p) = e {
            e = &p.expr;
        }
        e
    }
    let columnar = |e: &Expr| matches!(e, Expr::Call(_) | Expr::VectorSelector(_));
    if columnar(inner) {
        return Some((inner, true));
    }
    let Expr::Binary(b) = inner else {
        return None;
    };
    let filters = b.op.is_comparison_operator()
        && !b.modifier.as_ref().is_some_and(|m| {
            m.return_bool || m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some()
        });
    if !filters {
        return None;
    }
    match (unparen(&b.lhs), unparen(&b.rhs)) {
        (v, Expr::NumberLiteral(_)) | (Expr::NumberLiteral(_), v) if columnar(v) => {
            Some((v, false))
        }
        _ => None,
    }
}

/// What an aggregation does, by its name; `None` for a name that is not
/// one.
fn kind_of(op: &str) -> Option<Kind> {
    Some(match op {
        "sum" => Kind::Sum,
        "avg" => Kind::Avg,
        "count" => Kind::Count,
        "group" => Kind::Group,
        "min" => Kind::Min,
        "max" => Kind::Max,
        "stddev" | "stdvar" => Kind::Deviation,
        "quantile" => Kind::Quantile,
        "topk" | "bottomk" | "limitk" | "limit_ratio" => Kind::Elems,
        _ => return None,
    })
}

/// How an aggregation over a node's columns groups, handed to the node
/// (`Evaluator::column_at`) so that it can work out every step's groups
/// at once ([`all_steps`]).
pub(crate) struct AggSpec {
    node: usize,
    names: Vec<String>,
    by: bool,
    kind: Kind,
}

/// The aggregation `node`'s group of each series of a node's columns,
/// worked out once per query (`memo.column_groups`).
fn column_grouping(
    ev: &mut Evaluator<'_>,
    node: usize,
    names: &[String],
    by: bool,
    labels: &std::sync::Arc<Vec<Labels>>,
) {
    let known = ev
        .memo
        .column_groups
        .get(&node)
        .is_some_and(|g| std::sync::Arc::ptr_eq(&g.labels, labels));
    if known {
        return;
    }
    let mut dense_of: super::FastMap<u32, u32> = super::FastMap::default();
    let mut ids = Vec::new();
    let mut dense = Vec::with_capacity(labels.len());
    for l in labels.iter() {
        let id = ev.key_and_group(node, l, names, by, true);
        dense.push(*dense_of.entry(id).or_insert_with(|| {
            ids.push(id);
            ids.len() as u32 - 1
        }));
    }
    ev.memo.column_groups.insert(
        node,
        super::memo::ColumnGrouping {
            labels: labels.clone(),
            dense,
            ids,
        },
    );
}

impl AggSpec {
    /// Whether the aggregation reads its values: `count` and `group`
    /// only count them.
    pub(crate) fn reads_values(&self) -> bool {
        !matches!(self.kind, Kind::Count | Kind::Group)
    }
}

/// The groups of one step's column, as `vector_groups` gives them for the
/// same series: each series' group is worked out once per query, and a
/// step adds values by series index, with no label set touched.
fn raw_groups(
    ev: &mut Evaluator<'_>,
    node: usize,
    names: &[String],
    by: bool,
    kind: Kind,
    raw: super::columns::RawColumn,
) -> Vec<Group> {
    column_grouping(ev, node, names, by, &raw.labels);
    let grouping = &ev.memo.column_groups[&node];
    let mut slot = vec![u32::MAX; grouping.ids.len()];
    let mut groups: Vec<Group> = Vec::new();
    let memo = &ev.memo;
    raw.each(|i, v| {
        let d = grouping.dense[i] as usize;
        if slot[d] == u32::MAX {
            slot[d] = groups.len() as u32;
            groups.push(Group {
                labels: memo.group(grouping.ids[d]).clone(),
                ..Group::default()
            });
        }
        add(&mut groups[slot[d] as usize], kind, v);
    });
    groups
}

/// The most groups times steps [`all_steps`] keeps at once; past it, the
/// steps are aggregated one by one.
const ALL_STEPS_MAX: usize = 1 << 20;

/// Every step's groups of an aggregation over a node's values given
/// series by series (`parts`, each with the number of its first series):
/// what `raw_groups` gives at each step, with each group's values added
/// in the same order (series by series, as the step's column holds them),
/// so every sum comes out bit for bit the same, and the groups of a step
/// in the order their first series come. Reading series by series, each
/// series adds to its group's row of steps, one place after the other,
/// where step by step each value went to another column. `None` when
/// there are too many groups for it (40 bytes a group and step).
pub(crate) fn all_steps(
    ev: &mut Evaluator<'_>,
    spec: &AggSpec,
    labels: &std::sync::Arc<Vec<Labels>>,
    steps: usize,
    parts: &[(u32, super::columns::SeriesMajor)],
) -> Option<StepGroups> {
    column_grouping(ev, spec.node, &spec.names, spec.by, labels);
    let grouping = &ev.memo.column_groups[&spec.node];
    let cells = grouping.ids.len().checked_mul(steps)?;
    if cells > ALL_STEPS_MAX {
        return None;
    }
    // By group, then step: the group's state and the first series that
    // reached it.
    let groups = grouping.ids.len();
    let (dense, kind) = (&grouping.dense, spec.kind);
    // The cells of steps `lo..hi`, by group, then step.
    let fill = |lo: u32, hi: u32| -> (Vec<Cell>, Vec<u32>) {
        let w = (hi - lo) as usize;
        let mut acc = vec![Cell::default(); groups * w];
        let mut first = vec![u32::MAX; groups * w];
        for (offset, m) in parts {
            m.each_in(lo, hi, |n, k, v| {
                let si = offset + n;
                let cell = dense[si as usize] as usize * w + (k - lo) as usize;
                if first[cell] == u32::MAX {
                    first[cell] = si;
                }
                add_cell(&mut acc[cell], kind, v);
            });
        }
        (acc, first)
    };
    let entries: usize = parts.iter().map(|(_, m)| m.entries()).sum();
    let steps32 = u32::try_from(steps).ok()?;
    let (acc, first) = if entries < PARALLEL_ENTRIES || steps < 2 {
        fill(0, steps32)
    } else {
        // Two threads take half the steps each: every cell still gets
        // its values in series order.
        let mid = steps32 / 2;
        let (low, high) = std::thread::scope(|scope| {
            let high = std::thread::Builder::new()
                .name("query-part".into())
                .spawn_scoped(scope, || fill(mid, steps32));
            let low = fill(0, mid);
            let high = match high {
                Ok(h) => h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
                Err(_) => fill(mid, steps32),
            };
            (low, high)
        });
        let (lw, hw) = (mid as usize, (steps32 - mid) as usize);
        let mut acc = Vec::with_capacity(cells);
        let mut first = Vec::with_capacity(cells);
        for g in 0..groups {
            acc.extend_from_slice(&low.0[g * lw..(g + 1) * lw]);
            acc.extend_from_slice(&high.0[g * hw..(g + 1) * hw]);
            first.extend_from_slice(&low.1[g * lw..(g + 1) * lw]);
            first.extend_from_slice(&high.1[g * hw..(g + 1) * hw]);
        }
        (acc, first)
    };
    Some(StepGroups {
        ids: grouping.ids.clone(),
        steps,
        acc,
        first,
    })
}

/// Values from which [`all_steps`] adds up its cells on two threads.
const PARALLEL_ENTRIES: usize = 1 << 18;

/// An aggregation's groups at every step, from [`all_steps`]; a step's
/// `Group`s are made when it is taken.
pub(crate) struct StepGroups {
    /// Each group's key id (`memo.group`).
    ids: Vec<u32>,
    steps: usize,
    /// By group, then step.
    acc: Vec<Cell>,
    first: Vec<u32>,
}

impl StepGroups {
    /// Step `k`'s groups, in the order their first series come.
    pub(crate) fn step(&self, ev: &Evaluator<'_>, k: usize) -> Vec<Group> {
        let mut present: Vec<(u32, usize)> = (0..self.ids.len())
            .map(|d| (self.first[d * self.steps + k], d))
            .filter(|&(f, _)| f != u32::MAX)
            .collect();
        present.sort_unstable();
        present
            .iter()
            .map(|&(_, d)| Group {
                labels: ev.memo.group(self.ids[d]).clone(),
                c: self.acc[d * self.steps + k],
                ..Group::default()
            })
            .collect()
    }
}

/// Adds one value to a group (any kind but `Elems`, which keeps series).
fn add(g: &mut Group, kind: Kind, v: f64) {
    if let Kind::Quantile = kind {
        g.values.push(v);
        g.c.count += 1.0;
    } else {
        add_cell(&mut g.c, kind, v);
    }
}

/// Adds one value to a group's cell (any kind but `Quantile`, which keeps
/// values, and `Elems`, which keeps series).
fn add_cell(g: &mut Cell, kind: Kind, v: f64) {
    match kind {
        Kind::Sum => {
            if g.count == 0.0 {
                g.value = 0.0;
            }
            let (s, c) = kahan_inc(v, g.value, g.kahan);
            g.value = s;
            g.kahan = c;
        }
        Kind::Avg => {
            g.count += 1.0;
            if g.count == 1.0 {
                g.value = v;
                g.kahan = 0.0;
                return;
            }
            if !g.incremental {
                let (s, c) = kahan_inc(v, g.value, g.kahan);
                if !s.is_infinite() {
                    g.value = s;
                    g.kahan = c;
                    return;
                }
                g.incremental = true;
                g.mean = g.value / (g.count - 1.0);
                g.kahan /= g.count - 1.0;
            }
            let q = (g.count - 1.0) / g.count;
            let (m, c) = kahan_inc(v / g.count, q * g.mean, q * g.kahan);
            g.mean = m;
            g.kahan = c;
            return;
        }
        Kind::Count | Kind::Elems => {}
        Kind::Group => g.value = 1.0,
        Kind::Min => {
            if g.count == 0.0 || g.value > v || g.value.is_nan() {
                g.value = v;
            }
        }
        Kind::Max => {
            if g.count == 0.0 || g.value < v || g.value.is_nan() {
                g.value = v;
            }
        }
        Kind::Deviation => {
            if g.count == 0.0 {
                g.value = 0.0;
            }
            g.count += 1.0;
            let delta = v - g.mean;
            g.mean += delta / g.count;
            g.value += delta * (v - g.mean);
            return;
        }
        Kind::Quantile => {}
    }
    g.count += 1.0;
}

/// NaN after every number, whichever way `topk` and `bottomk` sort the
/// numbers; two NaNs, or two numbers, are `Equal` here.
fn nan_last(a: f64, b: f64) -> std::cmp::Ordering {
    a.is_nan().cmp(&b.is_nan())
}

/// `a` against `b`, ascending (equal when either is NaN).
fn ascending(a: f64, b: f64) -> std::cmp::Ordering {
    a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal)
}

/// A label name Prometheus accepts (UTF-8 names are valid in Prometheus 3;
/// only the empty name is not).
pub(crate) fn valid_label_name(n: &str) -> bool {
    !n.is_empty()
}

#[cfg(test)]
mod tests {
    use crate::script::assert_passes as check;

    #[test]
    fn aggregations_over_columns_match_step_by_step_answers() {
        // Range queries aggregate a rate's or a selector's columns per
        // series index; the answers are those of a vector per step,
        // including series that come and go and the name-less duplicates
        // that make the step fail.
        check(
            r#"
load 1m
  a{x="1", y="p"} 0+1x10
  a{x="2", y="p"} 0+2x4 _x3 8+2x2
  a{x="3", y="q"} 5+5x10
  b{x="1", y="p"} 0+1x10

eval range from 2m to 10m step 2m sum by (y) (rate(a[2m]))
  {y="p"} 0.05 0.05 0.016666666666666666 0.016666666666666666 0.05
  {y="q"} 0.0833333333333333 0.0833333333333333 0.0833333333333333 0.0833333333333333 0.0833333333333333

eval instant at 6m sum by (y) (rate(a[2m]))
  {y="p"} 0.016666666666666666
  {y="q"} 0.0833333333333333

eval instant at 10m sum by (y) (rate(a[2m]))
  {y="p"} 0.05
  {y="q"} 0.0833333333333333

eval range from 0m to 4m step 2m max without (x) (a)
  {y="p"} 0 4 8
  {y="q"} 5 15 25

eval range from 0m to 4m step 2m count((a))
  {} 3 3 3

eval_fail range from 2m to 4m step 2m sum(rate({__name__=~"a|b", x="1"}[2m]))
"#,
        );
    }

    #[test]
    fn count_values_sets_its_label_before_grouping() {
        // Upstream sets the value label first: `without` may remove it
        // again, so each group's series are counted together.
        check(
            r#"
load 1m
  m{x="a", y="1"} 1
  m{x="b", y="1"} 2
  m{x="c", y="2"} 2

eval instant at 0m count_values without (x) ("x", m)
  {y="1"} 2
  {y="2"} 1

eval instant at 0m count_values by (y) ("x", m)
  {x="1", y="1"} 1
  {x="2", y="1"} 1
  {x="2", y="2"} 1
"#,
        );
    }
}
