//! Selectors and range functions of a range query, computed series by
//! series for every step at once.
//!
//! Evaluating step by step visits every series at every step, each visit
//! in another part of memory. A node that only reads a selector (a plain
//! instant selector, or a range function over a range selector) does not
//! need that: its value at each step depends on one series at a time. It is
//! computed once, each series' points read front to back, and kept as one
//! column of `(series, value)` per step, which the step-by-step evaluation
//! of the rest of the expression then takes in turn (upstream Prometheus
//! evaluates these nodes for the whole range the same way). Inside a
//! subquery, the steps are the subquery's, for all the windows its parent
//! asks for.

use model::Labels;
use promql_parser::parser::VectorSelector;

use super::select::{without_markers, Cursor};
use super::Evaluator;
use crate::error::QueryError;
use crate::functions::range::{self, Window};
use crate::value::Elem;

/// Evaluation times `start, start + step, ... end`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Grid {
    pub start: i64,
    pub end: i64,
    pub step: i64,
}

/// More steps than this are evaluated one at a time.
const MAX_STEPS: i64 = 1 << 20;

impl Grid {
    /// The multiples of `step` in `(lo, hi]` (a subquery's steps), if
    /// there are any and not too many.
    pub(crate) fn aligned(lo: i64, hi: i64, step: i64) -> Option<Grid> {
        if step <= 0 {
            return None;
        }
        let start = lo.div_euclid(step).checked_add(1)?.checked_mul(step)?;
        let end = hi.div_euclid(step).checked_mul(step)?;
        let span = end.checked_sub(start)?;
        (span >= 0 && span / step < MAX_STEPS).then_some(Grid { start, end, step })
    }

    fn len(&self) -> usize {
        usize::try_from((self.end - self.start) / self.step + 1).unwrap_or(0)
    }

    fn at(&self, k: usize) -> i64 {
        self.start + k as i64 * self.step
    }
}

/// One node's values at every step of the query.
pub(crate) struct Columns {
    /// The output labels of each input series.
    labels: Vec<Labels>,
    /// By step: taken (`None`) once used.
    steps: Vec<Option<Column>>,
}

impl Columns {
    fn new(labels: Vec<Labels>, steps: Vec<Column>) -> Self {
        Columns {
            labels,
            steps: steps.into_iter().map(Some).collect(),
        }
    }
}

#[derive(Default)]
struct Column {
    series: Vec<u32>,
    values: Vec<f64>,
    /// Samples read for this step, for the query's sample limit.
    samples: usize,
}

impl Evaluator<'_> {
    /// The index of `ts` among the steps the node being evaluated is
    /// evaluated at, if there are several.
    pub(crate) fn main_step(&self, ts: i64) -> Option<usize> {
        let g = self.grid?;
        // A grid longer than an i64 holds has too many steps as well.
        let span = g.end.checked_sub(g.start)?;
        if ts < g.start || ts > g.end || (ts - g.start) % g.step != 0 || span / g.step >= MAX_STEPS
        {
            return None;
        }
        usize::try_from((ts - g.start) / g.step).ok()
    }

    fn grid_now(&self) -> Result<Grid, QueryError> {
        self.grid
            .ok_or_else(|| QueryError::execution("no steps to compute columns for"))
    }

    /// Counts values kept for later steps against the sample limit, as
    /// upstream counts a node evaluated over the whole range.
    fn keep(&self, kept: usize) -> Result<(), QueryError> {
        if kept > self.max_samples {
            return Err(QueryError::execution(
                "query processing would load too many samples into memory in query execution",
            ));
        }
        Ok(())
    }

    /// Node `key`'s value at step `k`, from its columns (built by `build`
    /// the first time). `None` if the step's column was already taken: the
    /// caller then evaluates the step itself.
    pub(crate) fn column_at(
        &mut self,
        key: usize,
        k: usize,
        build: impl FnOnce(&mut Self) -> Result<Columns, QueryError>,
    ) -> Result<Option<Vec<Elem>>, QueryError> {
        if !self.columns.contains_key(&key) {
            let c = build(self)?;
            self.columns.insert(key, c);
        }
        let Some(c) = self.columns.get_mut(&key) else {
            return Ok(None);
        };
        let Some(col) = c.steps.get_mut(k).and_then(Option::take) else {
            return Ok(None);
        };
        let out = col
            .series
            .iter()
            .zip(&col.values)
            .map(|(&i, &v)| Elem {
                labels: c.labels[i as usize].clone(),
                v,
            })
            .collect();
        self.count(col.samples)?;
        Ok(Some(out))
    }

    /// The times a selector reads at each step, and empty columns for them.
    fn step_times(&self, vs: &VectorSelector) -> Result<(Vec<i64>, Vec<Column>), QueryError> {
        let g = self.grid_now()?;
        let times = (0..g.len())
            .map(|k| self.shift(g.at(k), &vs.offset, &vs.at))
            .collect();
        Ok((times, (0..g.len()).map(|_| Column::default()).collect()))
    }

    /// An instant selector's columns: each step's newest sample within the
    /// lookback window, unless it is a staleness marker.
    pub(crate) fn instant_columns(&mut self, vs: &VectorSelector) -> Result<Columns, QueryError> {
        let (times, mut steps) = self.step_times(vs)?;
        let mut labels = Vec::new();
        let mut kept = 0;
        self.stream(vs, |ev, r| {
            let si = labels.len() as u32;
            labels.push(std::mem::take(&mut r.labels));
            let mut hi = Cursor::default();
            for (&t, col) in times.iter().zip(steps.iter_mut()) {
                let i = hi.seek(&r.points, t);
                let Some(&(pt, pv)) = i.checked_sub(1).and_then(|i| r.points.get(i)) else {
                    continue;
                };
                if pt <= t - ev.lookback || model::sample::is_stale_nan(pv) {
                    continue;
                }
                col.series.push(si);
                col.values.push(pv);
                col.samples += 1;
                kept += 1;
            }
            ev.keep(kept)
        })?;
        Ok(Columns::new(labels, steps))
    }

    /// A range function's columns: `f` of each series' window
    /// `(t - range, t]` without staleness markers, where it is not empty;
    /// `drop` removes the metric name from the output labels. `counter`
    /// (`Some(rate)`) says `f` is `rate` or `increase`: then the counter
    /// resets of each series are found once, and each window adds only its
    /// own (in order, as `f` would) instead of scanning every sample.
    pub(crate) fn range_columns(
        &mut self,
        vs: &VectorSelector,
        range: i64,
        drop: bool,
        counter: Option<bool>,
        f: &impl Fn(&[(i64, f64)], Window) -> Result<Option<f64>, QueryError>,
    ) -> Result<Columns, QueryError> {
        let (times, mut steps) = self.step_times(vs)?;
        let mut labels = Vec::new();
        let mut buf = Vec::new();
        let mut resets: Vec<usize> = Vec::new();
        let mut kept = 0;
        self.stream(vs, |ev, r| {
            let si = labels.len() as u32;
            labels.push(if drop {
                ev.drop_name(&r.labels)
            } else {
                std::mem::take(&mut r.labels)
            });
            // Windows never hold staleness markers: drop them once.
            let points = without_markers(&r.points, &mut buf);
            if counter.is_some() {
                resets.clear();
                resets.extend((1..points.len()).filter(|&i| points[i].1 < points[i - 1].1));
            }
            let (mut lo, mut hi) = (Cursor::default(), Cursor::default());
            let (mut first_reset, mut last_a) = (0, 0);
            for (&t, col) in times.iter().zip(steps.iter_mut()) {
                let a = lo.seek(points, t.saturating_sub(range));
                let b = hi.seek(points, t).max(a);
                if a < last_a {
                    first_reset = 0;
                }
                last_a = a;
                let w = &points[a..b];
                if w.is_empty() {
                    continue;
                }
                col.samples += w.len();
                let window = Window { end: t, range };
                let v = match counter {
                    Some(rate) => {
                        if w.len() < 2 {
                            None
                        } else {
                            // Resets strictly inside the window: at index
                            // i, the value fell below the one before it.
                            while first_reset < resets.len() && resets[first_reset] <= a {
                                first_reset += 1;
                            }
                            let mut result = w[w.len() - 1].1 - w[0].1;
                            for &i in resets[first_reset..].iter().take_while(|&&i| i < b) {
                                result += points[i - 1].1;
                            }
                            Some(range::extrapolate(w, result, window, true, rate))
                        }
                    }
                    None => f(w, window)?,
                };
                if let Some(v) = v {
                    col.series.push(si);
                    col.values.push(v);
                    kept += 1;
                }
            }
            ev.keep(kept)
        })?;
        Ok(Columns::new(labels, steps))
    }
}
