//! Label work and step invariance remembered for a query's life: a node
//! usually sees the same series at every step, so its grouping keys,
//! result labels and uniqueness checks are worked out once; a subtree
//! pinned by `@` is evaluated once.

use model::Labels;
use promql_parser::parser::Expr;

use super::{Evaluator, FastMap};
use crate::error::QueryError;
use crate::value::Value;

/// Memoised label computations, by node address where they depend on it.
/// Label sets are looked up by address (`Labels::addr`), which is cheap and
/// stable: `pinned` keeps a clone of every set a memo is keyed on, so no
/// other set can take its address while the query runs.
#[derive(Default)]
pub(crate) struct Memo {
    pinned: FastMap<usize, Labels>,
    dropped: FastMap<usize, Labels>,
    /// Aggregation and matching keys: (node, labels) → key id.
    keys: FastMap<(usize, usize), u32>,
    /// Key ids by (node, key text), for equal keys at other addresses.
    key_ids: FastMap<(usize, String), u32>,
    /// Each key id's group labels.
    groups: Vec<Labels>,
    /// Result labels of vector matching: (node, many side, one side).
    pub results: FastMap<(usize, usize, usize), Labels>,
    /// Compiled regular expressions of label functions by pattern.
    pub regexes: FastMap<String, regex::Regex>,
    /// `label_replace` results by (node, input labels).
    pub replaced: FastMap<(usize, usize), Labels>,
    /// The last vector of each node found free of repeated label sets.
    unique: FastMap<usize, Vec<Labels>>,
    /// Whether a node's value is the same at every step (all its
    /// selectors pinned by `@`), and that value once computed.
    invariant: FastMap<usize, bool>,
    invariant_values: FastMap<usize, Value>,
    /// Each vector matching's pairs at its last step (see `binary`).
    pub pairs: FastMap<usize, StepPairs>,
    /// Each aggregation's grouping at its last step (see `aggregate`).
    pub steps: FastMap<usize, StepGrouping>,
    /// Each aggregation's grouping of the series of the columns it reads
    /// raw (see `aggregate`).
    pub column_groups: FastMap<usize, ColumnGrouping>,
    /// Nodes whose once-per-query annotations are done.
    pub annotated: std::collections::HashSet<usize, foldhash::fast::RandomState>,
}

/// How one step's input series fell into groups: the label set address
/// of each series, the group slot of each, and each slot's key id.
#[derive(Default)]
pub(crate) struct StepGrouping {
    pub addrs: Vec<usize>,
    pub slots: Vec<u32>,
    pub groups: Vec<u32>,
}

/// How the series of a node's columns fall into an aggregation's groups:
/// `dense[series]` numbers each series' group from 0, and `ids[dense]` is
/// that group's key id.
pub(crate) struct ColumnGrouping {
    pub labels: std::sync::Arc<Vec<Labels>>,
    pub dense: Vec<u32>,
    pub ids: Vec<u32>,
}

/// Which series of one step's two sides matched: the label set address
/// of each series on the "many" and the "one" side, and the matched pairs
/// (many index, one index, result labels) in output order.
#[derive(Default)]
pub(crate) struct StepPairs {
    pub many: Vec<usize>,
    pub one: Vec<usize>,
    pub pairs: Vec<(u32, u32, Labels)>,
}

impl Memo {
    /// `l`'s address, with `l` kept alive for the query.
    pub(crate) fn pin(&mut self, l: &Labels) -> usize {
        let a = l.addr();
        self.pinned.entry(a).or_insert_with(|| l.clone());
        a
    }

    /// A key id's group labels (see `Evaluator::key_and_group`).
    pub(crate) fn group(&self, id: u32) -> &Labels {
        &self.groups[id as usize]
    }
}

/// Whether `e` gives the same value at every step: its selectors and
/// subqueries are all pinned with `@` and nothing reads the step's time
/// (upstream wraps such trees in `StepInvariantExpr`).
fn step_invariant(e: &Expr) -> bool {
    crate::nesting::grow(|| step_invariant_node(e))
}

fn step_invariant_node(e: &Expr) -> bool {
    match e {
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => true,
        Expr::VectorSelector(vs) => vs.at.is_some(),
        Expr::MatrixSelector(m) => m.vs.at.is_some(),
        Expr::Subquery(s) => s.at.is_some(),
        Expr::Paren(p) => step_invariant(&p.expr),
        Expr::Unary(u) => step_invariant(&u.expr),
        Expr::Binary(b) => step_invariant(&b.lhs) && step_invariant(&b.rhs),
        Expr::Aggregate(a) => {
            step_invariant(&a.expr) && a.param.as_deref().is_none_or(step_invariant)
        }
        Expr::Call(c) => {
            let reads_time = match c.func.name {
                "time" | "predict_linear" => true,
                "minute" | "hour" | "day_of_week" | "day_of_month" | "day_of_year"
                | "days_in_month" | "month" | "year" => c.args.args.is_empty(),
                _ => false,
            };
            !reads_time && c.args.args.iter().all(|a| step_invariant(a))
        }
        Expr::Extension(_) => false,
    }
}

impl Evaluator<'_> {
    /// The id of a match or grouping key of `l` at expression `node` (see
    /// `labels::signature`): equal keys at one node get one id. Memoised.
    pub(crate) fn key(&mut self, node: usize, l: &Labels, names: &[String], include: bool) -> u32 {
        self.key_and_group(node, l, names, include, false)
    }

    /// As `key`; with `group`, `memo.group(id)` also gives the group's
    /// labels (`by` keeps `names`, `without` drops them and the metadata
    /// labels).
    pub(crate) fn key_and_group(
        &mut self,
        node: usize,
        l: &Labels,
        names: &[String],
        include: bool,
        group: bool,
    ) -> u32 {
        if let Some(id) = self.memo.keys.get(&(node, l.addr())) {
            return *id;
        }
        let key = crate::labels::signature(l, names, include);
        let memo = &mut self.memo;
        let id = match memo.key_ids.get(&(node, key.clone())) {
            Some(id) => *id,
            None => {
                let labels = match (group, include) {
                    (false, _) => Labels::empty(),
                    (true, true) => crate::labels::keep(l, names),
                    (true, false) => crate::labels::without(l, names),
                };
                let id = memo.groups.len() as u32;
                memo.groups.push(labels);
                memo.key_ids.insert((node, key), id);
                id
            }
        };
        let a = memo.pin(l);
        memo.keys.insert((node, a), id);
        id
    }

    /// A label function's regular expression, compiled once per query.
    pub(crate) fn regex(&mut self, pattern: &str) -> Result<regex::Regex, model::MatcherError> {
        if let Some(r) = self.memo.regexes.get(pattern) {
            return Ok(r.clone());
        }
        let r = model::matcher::compile_anchored(pattern)?;
        self.memo.regexes.insert(pattern.to_string(), r.clone());
        Ok(r)
    }

    /// `labels::drop_name`, memoised.
    pub(crate) fn drop_name(&mut self, l: &Labels) -> Labels {
        if let Some(d) = self.memo.dropped.get(&l.addr()) {
            return d.clone();
        }
        let d = crate::labels::drop_name(l);
        let a = self.memo.pin(l);
        self.memo.dropped.insert(a, d.clone());
        d
    }

    /// `eval` of one node; in a range query, a step-invariant subtree is
    /// evaluated at its first step and that value reused at the others.
    pub(super) fn eval_memo(&mut self, e: &Expr, ts: i64) -> Result<Value, QueryError> {
        // In a range query, a subtree pinned by `@` is evaluated once.
        if self.step != 0
            && matches!(
                e,
                Expr::Call(_) | Expr::Aggregate(_) | Expr::Binary(_) | Expr::Subquery(_)
            )
        {
            let key = e as *const Expr as usize;
            let inv = match self.memo.invariant.get(&key) {
                Some(i) => *i,
                None => {
                    let i = step_invariant(e);
                    self.memo.invariant.insert(key, i);
                    i
                }
            };
            if inv {
                if let Some(v) = self.memo.invariant_values.get(&key) {
                    return Ok(v.clone());
                }
                // Evaluated once: no columns for steps it will not see.
                let grid = self.grid.take();
                let v = self.eval_node(e, ts);
                self.grid = grid;
                let v = v?;
                self.memo.invariant_values.insert(key, v.clone());
                return Ok(v);
            }
        }
        self.eval_node(e, ts)
    }

    /// A vector must not hold two elements with one label set. A node
    /// usually gives the same label sets in the same order at every step;
    /// those are checked once.
    pub(super) fn unique(&mut self, node: &Expr, v: &Value) -> Result<(), QueryError> {
        let Value::Vector(es) = v else {
            return Ok(());
        };
        if es.len() < 2 {
            return Ok(());
        }
        let node = node as *const Expr as usize;
        if let Some(prev) = self.memo.unique.get(&node) {
            if prev.len() == es.len()
                && prev
                    .iter()
                    .zip(es)
                    .all(|(p, e)| p.addr() == e.labels.addr())
            {
                return Ok(());
            }
        }
        let mut seen: std::collections::HashSet<&Labels, foldhash::fast::RandomState> =
            std::collections::HashSet::with_capacity_and_hasher(es.len(), Default::default());
        for e in es {
            if !seen.insert(&e.labels) {
                return Err(QueryError::execution(
                    "vector cannot contain metrics with the same labelset",
                ));
            }
        }
        self.memo
            .unique
            .insert(node, es.iter().map(|e| e.labels.clone()).collect());
        Ok(())
    }
}
