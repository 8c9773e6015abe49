//! Selector loading: one pass over the tree before evaluation notes what
//! each selector will read, across all steps, offsets, `@` modifiers and
//! enclosing subqueries; the store is read only when a step (or a node's
//! columns) first needs the series.

use std::sync::Arc;

use model::{Labels, Matcher};
use promql_parser::parser::{Expr, VectorSelector};

use super::{ms, Evaluator};
use crate::error::QueryError;
use crate::value::Range;

/// A selector's reads, not yet made.
pub(super) struct Pending {
    sets: Vec<Vec<Matcher>>,
    mint: i64,
    maxt: i64,
}

impl Evaluator<'_> {
    /// Loads every selector's data for steps in `[lo, hi]`.
    pub(super) fn prepare(&mut self, e: &Expr, lo: i64, hi: i64) -> Result<(), QueryError> {
        crate::nesting::grow(|| self.prepare_node(e, lo, hi))
    }

    fn prepare_node(&mut self, e: &Expr, lo: i64, hi: i64) -> Result<(), QueryError> {
        match e {
            Expr::VectorSelector(vs) => {
                let (a, b) = self.shifted(lo, hi, &vs.offset, &vs.at);
                self.load(vs, a.saturating_sub(self.lookback), b)
            }
            Expr::MatrixSelector(m) => {
                let (a, b) = self.shifted(lo, hi, &m.vs.offset, &m.vs.at);
                self.load(&m.vs, a.saturating_sub(ms(&m.range)), b)
            }
            Expr::Subquery(sq) => {
                let (a, b) = self.shifted(lo, hi, &sq.offset, &sq.at);
                self.prepare(&sq.expr, a.saturating_sub(ms(&sq.range)), b)
            }
            Expr::Aggregate(a) => {
                if let Some(p) = &a.param {
                    self.prepare(p, lo, hi)?;
                }
                self.prepare(&a.expr, lo, hi)
            }
            Expr::Unary(u) => self.prepare(&u.expr, lo, hi),
            Expr::Paren(p) => self.prepare(&p.expr, lo, hi),
            Expr::Binary(b) => {
                self.prepare(&b.lhs, lo, hi)?;
                self.prepare(&b.rhs, lo, hi)
            }
            Expr::Call(c) => {
                // info()'s second argument selects info series, which it
                // reads itself, step by step.
                let n = if c.func.name == "info" {
                    1
                } else {
                    c.args.args.len()
                };
                for a in c.args.args.iter().take(n) {
                    self.prepare(a, lo, hi)?;
                }
                Ok(())
            }
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => Ok(()),
        }
    }

    /// Notes what a selector reads; nothing is read until a step needs it
    /// (see `series` and `stream`).
    fn load(&mut self, vs: &VectorSelector, mint: i64, maxt: i64) -> Result<(), QueryError> {
        let key = vs as *const VectorSelector as usize;
        if self.data.contains_key(&key) || self.pending.contains_key(&key) {
            return Ok(());
        }
        let sets = crate::selector::matcher_sets(vs).map_err(QueryError::bad_data)?;
        self.pending.insert(key, Pending { sets, mint, maxt });
        Ok(())
    }

    /// Calls `f` with each series a selector reads, in the store's order
    /// (`or` sets merged without repeats; only a range query's final
    /// matrix is sorted). Series are read from the store one at a time and
    /// not kept, unless `series` already loaded them all.
    pub(crate) fn stream(
        &mut self,
        vs: &VectorSelector,
        mut f: impl FnMut(&mut Self, &mut Range) -> Result<(), QueryError>,
    ) -> Result<(), QueryError> {
        let key = vs as *const VectorSelector as usize;
        if let Some(data) = self.data.get(&key).cloned() {
            for r in data.iter() {
                f(self, &mut r.clone())?;
            }
            return Ok(());
        }
        let Some(p) = self.pending.get(&key) else {
            return Ok(());
        };
        let (sets, mint, maxt) = (p.sets.clone(), p.mint, p.maxt);
        let check_counter = self.counter_checks.contains(&key);
        let q = self.q;
        let mut n = 0usize;
        // `f` may take the labels and points; what it leaves is returned.
        let mut take = |ev: &mut Self, r: Result<Range, QueryError>| -> Result<Range, QueryError> {
            let mut r = r?;
            n += 1;
            if n.is_multiple_of(1024) {
                ev.check_deadline()?;
            }
            if check_counter {
                ev.counter_check(&r);
            }
            f(ev, &mut r)?;
            Ok(r)
        };
        if self.step == 0 {
            // An instant query (a rule, mostly): one thread is enough.
            let mut result = Ok(());
            read_sets(q, &sets, mint, maxt, Vec::new, |r| {
                result = take(self, r).map(drop);
                result.is_ok()
            });
            result?;
            self.check_deadline()?;
        } else {
            // A range query: the store is read and decoded on a second
            // thread while this one works on the series read so far; on
            // big selectors the two halves take a similar time. At most
            // `AHEAD` series wait in between, so memory stays bounded;
            // when this side stops early (an error, the deadline),
            // dropping the receiver stops the reader at its next series.
            // Point buffers go back to the reader to be filled again, so
            // they are allocated and freed on one thread: freed on this
            // one, they would grow a second malloc arena.
            std::thread::scope(|scope| {
                let (tx, rx) = std::sync::mpsc::sync_channel(AHEAD);
                let (back, spare) = std::sync::mpsc::sync_channel::<Vec<(i64, f64)>>(AHEAD);
                std::thread::Builder::new()
                    .name("query-read".into())
                    .spawn_scoped(scope, move || {
                        let refill = || spare.try_recv().unwrap_or_default();
                        read_sets(q, &sets, mint, maxt, refill, |r| tx.send(r).is_ok())
                    })
                    .map_err(|e| QueryError::execution(format!("start a reader thread: {e}")))?;
                for r in rx.iter() {
                    let r = take(self, r)?;
                    let _ = back.try_send(r.points);
                }
                self.check_deadline()
            })?;
        }
        if check_counter {
            self.counter_checks.remove(&key);
        }
        Ok(())
    }

    /// Asks for Prometheus's "might not be a counter" info on the series of
    /// a selector a counter function reads, once they are read.
    pub(crate) fn check_counters(&mut self, vs: &VectorSelector) {
        let key = vs as *const VectorSelector as usize;
        match self.data.get(&key).cloned() {
            Some(data) => data.iter().for_each(|r| self.counter_check(r)),
            None => {
                self.counter_checks.insert(key);
            }
        }
    }

    fn counter_check(&mut self, r: &Range) {
        if let Some(n) = r.labels.metric_name() {
            let counter_like = ["_total", "_sum", "_count", "_bucket"]
                .iter()
                .any(|s| n.ends_with(s));
            if !counter_like && r.points.len() >= 2 {
                let msg = format!("PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {n:?}");
                if !self.infos.contains(&msg) {
                    self.infos.push(msg);
                }
            }
        }
    }

    /// The series matching `set` with a sample in `(t - lookback, t]`, and
    /// the time of their newest one (for `info`, which picks its series
    /// at evaluation time).
    pub(crate) fn select_at(
        &mut self,
        set: &[Matcher],
        t: i64,
    ) -> Result<Vec<(Labels, i64)>, QueryError> {
        let it = self
            .q
            .select(set, t.saturating_sub(self.lookback).saturating_add(1), t)
            .map_err(|e| QueryError::execution(e.to_string()))?;
        let mut out = Vec::new();
        for s in it {
            let s = s.map_err(|e| QueryError::execution(e.to_string()))?;
            if let Some(p) = s.samples.iter().rev().find(|p| p.t <= t) {
                if !model::sample::is_stale_nan(p.v) {
                    out.push((s.labels, p.t));
                }
            }
        }
        self.count(out.len())?;
        Ok(out)
    }

    /// Everything a selector reads, all steps' worth, loaded the first
    /// time.
    pub(crate) fn series(&mut self, vs: &VectorSelector) -> Result<Arc<Vec<Range>>, QueryError> {
        let key = vs as *const VectorSelector as usize;
        if let Some(d) = self.data.get(&key) {
            return Ok(d.clone());
        }
        let mut all = Vec::new();
        self.stream(vs, |_, r| {
            all.push(std::mem::take(r));
            Ok(())
        })?;
        let all = Arc::new(all);
        self.data.insert(key, all.clone());
        Ok(all)
    }
}

/// Series a reader thread may have ready before they are taken.
const AHEAD: usize = 64;

/// Reads the series of each matcher set in turn (the store's order, sets
/// merged without repeats) and hands them to `emit`, stopping after the
/// first error or when `emit` says to. Points go into buffers from
/// `spare`.
fn read_sets(
    q: &dyn model::Querier,
    sets: &[Vec<Matcher>],
    mint: i64,
    maxt: i64,
    mut spare: impl FnMut() -> Vec<(i64, f64)>,
    mut emit: impl FnMut(Result<Range, QueryError>) -> bool,
) {
    let several = sets.len() > 1;
    let mut seen: std::collections::HashSet<Labels, foldhash::fast::RandomState> =
        Default::default();
    for set in sets {
        let it = match q.select(set, mint, maxt) {
            Ok(it) => it,
            Err(e) => {
                emit(Err(QueryError::execution(e.to_string())));
                return;
            }
        };
        for s in it {
            let r = match s {
                Ok(s) => {
                    if several && !seen.insert(s.labels.clone()) {
                        continue;
                    }
                    let mut points = spare();
                    points.clear();
                    points.extend(s.samples.iter().map(|p| (p.t, p.v)));
                    Ok(Range {
                        labels: s.labels,
                        points,
                    })
                }
                Err(e) => Err(QueryError::execution(e.to_string())),
            };
            let stop = r.is_err();
            if !emit(r) || stop {
                return;
            }
        }
    }
}
