//! Selector loading: one pass over the tree before evaluation notes what
//! each selector will read, across all steps, offsets, `@` modifiers and
//! enclosing subqueries; the store is read only when a step (or a node's
//! columns) first needs the series.

use std::sync::Arc;
use std::time::Instant;

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
        f: impl FnMut(&mut Self, &mut Range) -> Result<(), QueryError>,
    ) -> Result<(), QueryError> {
        let key = vs as *const VectorSelector as usize;
        let Some(p) = self
            .pending
            .get(&key)
            .filter(|_| !self.data.contains_key(&key))
        else {
            return self.stream_loaded(key, f);
        };
        let (sets, mint, maxt) = (p.sets.clone(), p.mint, p.maxt);
        let q = self.q;
        self.pipeline(key, f, move |spare, emit| {
            read_sets(q, &sets, mint, maxt, spare, emit)
        })
    }

    /// `stream` over series already loaded (`series` keeps them; they are
    /// not read again), or none if the selector was never prepared.
    fn stream_loaded(
        &mut self,
        key: usize,
        mut f: impl FnMut(&mut Self, &mut Range) -> Result<(), QueryError>,
    ) -> Result<(), QueryError> {
        if let Some(data) = self.data.get(&key).cloned() {
            for r in data.iter() {
                f(self, &mut r.clone())?;
            }
        }
        Ok(())
    }

    /// Hands what `read` reads to `f` on this thread: in an instant query
    /// (a rule, mostly) `read` runs here too; in a range query it runs on
    /// a second thread, so the store is read and decoded while this one
    /// works on the series read so far (on big selectors the two halves
    /// take a similar time). At most `AHEAD` series wait in between, so
    /// memory stays bounded; when this side stops early (an error, the
    /// deadline), dropping the receiver stops the reader at its next
    /// series. Point buffers go back to the reader to be filled again, so
    /// they are allocated and freed on one thread: freed on this one, they
    /// would grow a second malloc arena.
    fn pipeline(
        &mut self,
        key: usize,
        mut f: impl FnMut(&mut Self, &mut Range) -> Result<(), QueryError>,
        read: impl FnOnce(
                &mut dyn FnMut() -> Vec<(i64, f64)>,
                &mut dyn FnMut(Result<Range, QueryError>) -> bool,
            ) + Send,
    ) -> Result<(), QueryError> {
        let check_counter = self.counter_checks.contains(&key);
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
            let mut result = Ok(());
            read(&mut Vec::new, &mut |r| {
                result = take(self, r).map(drop);
                result.is_ok()
            });
            result?;
            self.check_deadline()?;
        } else {
            std::thread::scope(|scope| {
                let (tx, rx) = std::sync::mpsc::sync_channel(AHEAD);
                let (back, spare) = std::sync::mpsc::sync_channel::<Vec<(i64, f64)>>(AHEAD);
                std::thread::Builder::new()
                    .name("query-read".into())
                    .spawn_scoped(scope, move || {
                        let mut refill = || spare.try_recv().unwrap_or_default();
                        read(&mut refill, &mut |r| tx.send(r).is_ok())
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

    /// Runs `work` on each series a selector reads, the selection cut in
    /// parts that threads read and work on side by side (each part's
    /// series in the store's order, with its own state from `init`); the
    /// states come back in the parts' order, so taking them one after the
    /// other gives what one pass over the selection would. `work` must not
    /// need the evaluator: what it computes, the caller takes from the
    /// states. A selection the store does not cut (a small one, one of
    /// several `or` sets, one already loaded) is one part, read as
    /// `stream` reads it.
    pub(crate) fn stream_parts<T: Send>(
        &mut self,
        vs: &VectorSelector,
        init: impl Fn(usize) -> T + Sync,
        work: impl Fn(&mut T, &mut Range) -> Result<(), QueryError> + Sync,
    ) -> Result<Vec<T>, QueryError> {
        let key = vs as *const VectorSelector as usize;
        let Some(p) = self
            .pending
            .get(&key)
            .filter(|_| !self.data.contains_key(&key))
        else {
            let mut one = init(self.data.get(&key).map_or(0, |d| d.len()));
            self.stream_loaded(key, |_, r| work(&mut one, r))?;
            return Ok(vec![one]);
        };
        let (sets, mint, maxt) = (p.sets.clone(), p.mint, p.maxt);
        let q = self.q;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let parts = match sets.as_slice() {
            [set] if threads > 1 => q
                .select_parts(set, mint, maxt, threads.min(MAX_PARTS))
                .map_err(|e| QueryError::execution(e.to_string()))?,
            _ => {
                let mut one = init(0);
                self.stream(vs, |_, r| work(&mut one, r))?;
                return Ok(vec![one]);
            }
        };
        // What a part's state may size itself for: its series at most.
        let hint = |it: &model::SeriesSet| it.size_hint().1.unwrap_or(0);
        let mut one = init(parts.first().map_or(0, hint));
        if parts.len() == 1 {
            let it = parts
                .into_iter()
                .next()
                .unwrap_or_else(|| Box::new(std::iter::empty()));
            self.pipeline(
                key,
                |_, r| work(&mut one, r),
                move |spare, emit| {
                    read_series(it, false, &mut Default::default(), spare, emit);
                },
            )?;
            return Ok(vec![one]);
        }
        let check_counter = self.counter_checks.contains(&key);
        let deadline = self.deadline;
        let stop = std::sync::atomic::AtomicBool::new(false);
        // A part stopped because another failed gives `None`: the other
        // part's error is the one to report.
        type Done<T> = Result<(T, Vec<String>), Option<QueryError>>;
        let run = |it: model::SeriesSet, mut state: T| -> Done<T> {
            let mut infos = Vec::new();
            let mut stopped = false;
            let mut result = Ok(());
            let mut n = 0usize;
            // Point buffers are reused, as `pipeline` reuses them.
            let points = std::cell::Cell::new(Vec::new());
            read_series(
                it,
                false,
                &mut Default::default(),
                &mut || points.take(),
                &mut |r| {
                    use std::sync::atomic::Ordering::Relaxed;
                    n += 1;
                    if stop.load(Relaxed) {
                        stopped = true;
                        return false;
                    }
                    result = r.and_then(|mut r| {
                        if n.is_multiple_of(1024) && Instant::now() > deadline {
                            return Err(timed_out());
                        }
                        if check_counter {
                            if let Some(m) = counter_info(&r) {
                                if !infos.contains(&m) {
                                    infos.push(m);
                                }
                            }
                        }
                        let w = work(&mut state, &mut r);
                        points.set(r.points);
                        w
                    });
                    if result.is_err() {
                        stop.store(true, Relaxed);
                    }
                    result.is_ok()
                },
            );
            if stopped {
                return Err(None);
            }
            result.map_err(Some)?;
            Ok((state, infos))
        };
        let mut parts = parts.into_iter();
        let first = parts.next();
        let done = std::thread::scope(|scope| {
            let mut others = Vec::new();
            for it in parts {
                let h = std::thread::Builder::new()
                    .name("query-part".into())
                    .spawn_scoped(scope, || {
                        let state = init(hint(&it));
                        run(it, state)
                    })
                    .map_err(|e| {
                        Some(QueryError::execution(format!("start a reader thread: {e}")))
                    });
                others.push(h);
            }
            let mut done = vec![match first {
                Some(it) => run(it, one),
                None => Ok((one, Vec::new())),
            }];
            for h in others {
                done.push(h.and_then(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(Some(QueryError::execution(
                            "a reader thread of the query panicked",
                        )))
                    })
                }));
            }
            done
        });
        // The first error in part order that a part met itself; parts it
        // stopped gave none.
        if let Some(e) = done
            .iter()
            .find_map(|d| d.as_ref().err().cloned().flatten())
        {
            return Err(e);
        }
        let mut states = Vec::with_capacity(done.len());
        for d in done {
            let Ok((state, infos)) = d else {
                return Err(QueryError::execution(
                    "a part of the query stopped without a reason",
                ));
            };
            for m in infos {
                if !self.infos.contains(&m) {
                    self.infos.push(m);
                }
            }
            states.push(state);
        }
        self.check_deadline()?;
        if check_counter {
            self.counter_checks.remove(&key);
        }
        Ok(states)
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
        if let Some(m) = counter_info(r) {
            if !self.infos.contains(&m) {
                self.infos.push(m);
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
        let parts = self.stream_parts(vs, Vec::with_capacity, |all, r| {
            all.push(std::mem::take(r));
            Ok(())
        })?;
        let all: Arc<Vec<Range>> = Arc::new(parts.into_iter().flatten().collect());
        self.data.insert(key, all.clone());
        Ok(all)
    }
}

/// Series a reader thread may have ready before they are taken.
const AHEAD: usize = 64;

/// Prometheus's "might not be a counter" info for a series a counter
/// function reads, if it applies.
fn counter_info(r: &Range) -> Option<String> {
    let n = r.labels.metric_name()?;
    let counter_like = ["_total", "_sum", "_count", "_bucket"]
        .iter()
        .any(|s| n.ends_with(s));
    (!counter_like && r.points.len() >= 2).then(|| {
        format!("PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {n:?}")
    })
}

/// The error of a query past its deadline.
pub(crate) fn timed_out() -> QueryError {
    QueryError {
        kind: crate::error::ErrorKind::Timeout,
        message: "query timed out in expression evaluation".into(),
    }
}

/// Most parts one selection is cut into.
const MAX_PARTS: usize = 8;

/// Reads the series of each matcher set in turn (the store's order, sets
/// merged without repeats) and hands them to `emit`, stopping after the
/// first error or when `emit` says to. Points go into buffers from
/// `spare`.
fn read_sets(
    q: &dyn model::Querier,
    sets: &[Vec<Matcher>],
    mint: i64,
    maxt: i64,
    spare: &mut dyn FnMut() -> Vec<(i64, f64)>,
    emit: &mut dyn FnMut(Result<Range, QueryError>) -> bool,
) {
    let several = sets.len() > 1;
    let mut seen = Default::default();
    for set in sets {
        let it = match q.select(set, mint, maxt) {
            Ok(it) => it,
            Err(e) => {
                emit(Err(QueryError::execution(e.to_string())));
                return;
            }
        };
        if !read_series(it, several, &mut seen, spare, emit) {
            return;
        }
    }
}

/// Hands the series of `it` to `emit` (without those already `seen`, if
/// `dedup`); false if it stopped early, after an error or when `emit`
/// said to.
fn read_series(
    it: model::SeriesSet,
    dedup: bool,
    seen: &mut std::collections::HashSet<Labels, foldhash::fast::RandomState>,
    spare: &mut dyn FnMut() -> Vec<(i64, f64)>,
    emit: &mut dyn FnMut(Result<Range, QueryError>) -> bool,
) -> bool {
    for s in it {
        let r = match s {
            Ok(s) => {
                if dedup && !seen.insert(s.labels.clone()) {
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
            return false;
        }
    }
    true
}
