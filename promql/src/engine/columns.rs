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
//! evaluates these nodes for the whole range the same way).

use model::Labels;
use promql_parser::parser::VectorSelector;

use super::{Cursor, Evaluator};
use crate::error::QueryError;
use crate::functions::range::Window;
use crate::value::Elem;

/// One node's values at every step of the query.
pub(crate) struct Columns {
    /// The output labels of each input series.
    labels: Vec<Labels>,
    /// By step: taken (`None`) once used.
    steps: Vec<Option<Column>>,
}

#[derive(Default)]
struct Column {
    series: Vec<u32>,
    values: Vec<f64>,
    /// Samples read for this step, for the query's sample limit.
    samples: usize,
}

impl Evaluator<'_> {
    /// The index of `ts` among the range query's steps, when the node
    /// being evaluated is at those steps (not inside a subquery).
    pub(crate) fn main_step(&self, ts: i64) -> Option<usize> {
        if self.step <= 0
            || self.depth > 0
            || ts < self.start
            || ts > self.end
            || (ts - self.start) % self.step != 0
        {
            return None;
        }
        usize::try_from((ts - self.start) / self.step).ok()
    }

    fn step_count(&self) -> usize {
        usize::try_from((self.end - self.start) / self.step + 1).unwrap_or(0)
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

    /// An instant selector's columns: each step's newest sample within the
    /// lookback window, unless it is a staleness marker.
    pub(crate) fn instant_columns(&mut self, vs: &VectorSelector) -> Result<Columns, QueryError> {
        let data = self.series(vs);
        let mut steps: Vec<Column> = (0..self.step_count()).map(|_| Column::default()).collect();
        let mut labels = Vec::with_capacity(data.len());
        for (si, r) in data.iter().enumerate() {
            if si % 1024 == 0 {
                self.check_deadline()?;
            }
            labels.push(r.labels.clone());
            let mut hi = Cursor::default();
            for (k, col) in steps.iter_mut().enumerate() {
                let t = self.shift(self.start + k as i64 * self.step, &vs.offset, &vs.at);
                let i = hi.seek(&r.points, t);
                let Some(&(pt, pv)) = i.checked_sub(1).and_then(|i| r.points.get(i)) else {
                    continue;
                };
                if pt <= t - self.lookback || model::sample::is_stale_nan(pv) {
                    continue;
                }
                col.series.push(si as u32);
                col.values.push(pv);
                col.samples += 1;
            }
        }
        Ok(Columns {
            labels,
            steps: steps.into_iter().map(Some).collect(),
        })
    }

    /// A range function's columns: `f` of each series' window
    /// `(t - range, t]` without staleness markers, where it is not empty;
    /// `drop` removes the metric name from the output labels.
    pub(crate) fn range_columns(
        &mut self,
        vs: &VectorSelector,
        range: i64,
        drop: bool,
        f: &impl Fn(&[(i64, f64)], Window) -> Result<Option<f64>, QueryError>,
    ) -> Result<Columns, QueryError> {
        let data = self.series(vs);
        let mut steps: Vec<Column> = (0..self.step_count()).map(|_| Column::default()).collect();
        let mut labels = Vec::with_capacity(data.len());
        let mut buf = Vec::new();
        for (si, r) in data.iter().enumerate() {
            if si % 1024 == 0 {
                self.check_deadline()?;
            }
            labels.push(if drop {
                self.drop_name(&r.labels)
            } else {
                r.labels.clone()
            });
            let has_stale = r.points.iter().any(|p| model::sample::is_stale_nan(p.1));
            let (mut lo, mut hi) = (Cursor::default(), Cursor::default());
            for (k, col) in steps.iter_mut().enumerate() {
                let t = self.shift(self.start + k as i64 * self.step, &vs.offset, &vs.at);
                let a = lo.seek(&r.points, t - range);
                let b = hi.seek(&r.points, t).max(a);
                let mut w = &r.points[a..b];
                if w.is_empty() {
                    continue;
                }
                if has_stale && w.iter().any(|p| model::sample::is_stale_nan(p.1)) {
                    buf.clear();
                    buf.extend(
                        w.iter()
                            .copied()
                            .filter(|p| !model::sample::is_stale_nan(p.1)),
                    );
                    if buf.is_empty() {
                        continue;
                    }
                    w = &buf;
                }
                col.samples += w.len();
                if let Some(v) = f(w, Window { end: t, range })? {
                    col.series.push(si as u32);
                    col.values.push(v);
                }
            }
        }
        Ok(Columns {
            labels,
            steps: steps.into_iter().map(Some).collect(),
        })
    }
}
