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
//!
//! A big selection is read in parts on several threads (`stream_parts`),
//! each part computing its own series' columns; a step's column is then
//! the parts' pieces in order. An aggregation directly above such a node
//! takes each step's column as it is (`RawColumn`) and groups by series
//! number instead of by label set.

use std::sync::Arc;

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
    labels: Arc<Vec<Labels>>,
    /// Whether no two series have one label set (then no step's vector
    /// can repeat one).
    unique: bool,
    /// Samples read for each step, for the query's sample limit.
    samples: Vec<usize>,
    /// By step: whether it is still to be taken.
    left: Vec<bool>,
    data: Data,
}

/// A node's values, in the form its consumer reads fastest.
enum Data {
    /// By step, the pieces of its column that the parts of the selection
    /// gave, each with the number of its first series.
    Steps(Vec<Vec<(u32, Column)>>),
    /// By part, with the number of its first series: each series' values
    /// at all its steps, one series after the other. Built for an
    /// aggregation that takes every step at once; turned into `Steps`
    /// if anything else asks.
    Series(Vec<(u32, SeriesMajor)>),
    /// An aggregation's groups at each step, worked out from `Series`
    /// for all steps at once.
    Groups(super::aggregate::StepGroups),
}

/// Series after series, the steps each has a value at and the values.
/// Steps are kept as runs of consecutive ones, so a series with a value
/// at every step costs its values and one run: an aggregation over 40,000
/// series and 361 steps held a step number beside each of 14 million
/// values before.
#[derive(Default)]
pub(crate) struct SeriesMajor {
    /// `(first step, steps)` runs, series after series.
    runs: Vec<(u32, u32)>,
    /// Empty unless `keeps_values`; else one per step of every run.
    values: Vec<f64>,
    /// Where each series' runs end.
    ends: Vec<usize>,
    /// Whether the values are kept: an aggregation that only counts
    /// (`count`, `group`) reads none, and where they are turned step by
    /// step for it, it gets zeros.
    keeps_values: bool,
}

impl SeriesMajor {
    pub(crate) fn new(series: usize, values: usize, keeps_values: bool) -> Self {
        SeriesMajor {
            runs: Vec::new(),
            values: Vec::with_capacity(if keeps_values { values } else { 0 }),
            ends: Vec::with_capacity(series),
            keeps_values,
        }
    }

    /// The current series' value at step `k`, after its earlier steps.
    #[inline]
    pub(crate) fn push(&mut self, k: u32, v: f64) {
        // A run continues only within the series.
        let own = self.runs.len() > self.ends.last().copied().unwrap_or(0);
        match self.runs.last_mut() {
            Some((s, n)) if own && *s + *n == k => *n += 1,
            _ => self.runs.push((k, 1)),
        }
        if self.keeps_values {
            self.values.push(v);
        }
    }

    /// Ends the current series.
    pub(crate) fn end_series(&mut self) {
        self.ends.push(self.runs.len());
    }

    /// Calls `f(series, step, value)` for every entry, series after
    /// series, each one's steps in order (values are zero where not kept).
    #[inline]
    pub(crate) fn each(&self, f: impl FnMut(u32, u32, f64)) {
        self.each_in(0, u32::MAX, f)
    }

    /// [`Self::each`] for the entries at steps `lo..hi` only.
    #[inline]
    pub(crate) fn each_in(&self, lo: u32, hi: u32, mut f: impl FnMut(u32, u32, f64)) {
        let mut i = 0;
        let mut r = 0;
        for (n, &end) in self.ends.iter().enumerate() {
            for &(s, len) in &self.runs[r..end] {
                for k in s.max(lo)..(s + len).min(hi) {
                    let v = self.values.get(i + (k - s) as usize).copied();
                    f(n as u32, k, v.unwrap_or(0.0));
                }
                i += len as usize;
            }
            r = end;
        }
    }

    /// How many entries there are.
    pub(crate) fn entries(&self) -> usize {
        self.runs.iter().map(|&(_, len)| len as usize).sum()
    }

    /// How many entries each step has.
    fn counts(&self, steps: usize) -> Vec<usize> {
        let mut counts = vec![0usize; steps];
        for &(s, len) in &self.runs {
            for c in &mut counts[s as usize..(s + len) as usize] {
                *c += 1;
            }
        }
        counts
    }
}

/// One step of a node's columns as they are: the values of the series
/// numbered in each piece, whose labels are in `labels`. An aggregation
/// over the node takes this instead of a vector (`Evaluator::raw_for`),
/// and so works per series index, not per label set.
pub(crate) struct RawColumn {
    pub labels: Arc<Vec<Labels>>,
    pieces: Vec<(u32, Column)>,
}

impl RawColumn {
    /// Keeps the series whose value `keep` accepts (a comparison with a
    /// scalar filtering the step).
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(f64) -> bool) {
        for (_, c) in &mut self.pieces {
            let mut n = 0;
            for i in 0..c.values.len() {
                if keep(c.values[i]) {
                    c.series[n] = c.series[i];
                    c.values[n] = c.values[i];
                    n += 1;
                }
            }
            c.series.truncate(n);
            c.values.truncate(n);
        }
    }

    /// Calls `f` with each series' number and value, in order.
    pub(crate) fn each(&self, mut f: impl FnMut(usize, f64)) {
        for (offset, c) in &self.pieces {
            for (&i, &v) in c.series.iter().zip(&c.values) {
                f((offset + i) as usize, v);
            }
        }
    }
}

#[derive(Default)]
struct Column {
    series: Vec<u32>,
    values: Vec<f64>,
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

    /// Node `key`'s value at step `k`, from its columns (built by `build`
    /// the first time). `None` if the step was already taken, or is not
    /// at hand in the form asked for: the caller then evaluates the step
    /// itself.
    ///
    /// An aggregation over the node may ask for the step as it is
    /// (`raw_here`): it then gets a `RawColumn` in `raw`, or, if it also
    /// said how it groups (`agg_spec`), its groups in `agg_groups`,
    /// worked out for all steps the first time from columns built series
    /// after series.
    pub(crate) fn column_at(
        &mut self,
        key: usize,
        k: usize,
        build: impl FnOnce(&mut Self) -> Result<Columns, QueryError>,
    ) -> Result<Option<Vec<Elem>>, QueryError> {
        let raw = std::mem::take(&mut self.raw_here);
        let spec = if raw { self.agg_spec.take() } else { None };
        if !self.columns.contains_key(&key) {
            self.series_major = spec.as_ref().map(|s| s.reads_values());
            let c = build(self);
            self.series_major = None;
            self.columns.insert(key, c?);
        }
        let Some(mut c) = self.columns.remove(&key) else {
            return Ok(None);
        };
        let out = self.take_step(&mut c, k, raw, spec);
        self.columns.insert(key, c);
        out
    }

    /// `column_at`'s step `k` of `c`.
    fn take_step(
        &mut self,
        c: &mut Columns,
        k: usize,
        raw: bool,
        spec: Option<super::aggregate::AggSpec>,
    ) -> Result<Option<Vec<Elem>>, QueryError> {
        if !c.left.get(k).copied().unwrap_or(false) {
            return Ok(None);
        }
        let raw = raw && c.unique;
        if let (true, Some(spec), Data::Series(parts)) = (raw, &spec, &c.data) {
            if let Some(groups) =
                super::aggregate::all_steps(self, spec, &c.labels, c.left.len(), parts)
            {
                c.data = Data::Groups(groups);
            }
        }
        if let Data::Series(parts) = &mut c.data {
            c.data = Data::Steps(transpose(std::mem::take(parts), c.left.len()));
        }
        let groups = match &c.data {
            Data::Groups(g) if raw && spec.is_some() => Some(g.step(self, k)),
            Data::Groups(_) => return Ok(None),
            _ => None,
        };
        c.left[k] = false;
        self.count(c.samples[k])?;
        if let Some(groups) = groups {
            self.agg_groups = Some(groups);
            return Ok(Some(Vec::new()));
        }
        let Data::Steps(steps) = &mut c.data else {
            return Ok(None);
        };
        let col = std::mem::take(&mut steps[k]);
        if raw {
            self.raw = Some(RawColumn {
                labels: c.labels.clone(),
                pieces: col,
            });
            return Ok(Some(Vec::new()));
        }
        let labels = &c.labels;
        let mut out = Vec::with_capacity(col.iter().map(|(_, c)| c.series.len()).sum());
        for (offset, c) in &col {
            out.extend(c.series.iter().zip(&c.values).map(|(&i, &v)| Elem {
                labels: labels[(offset + i) as usize].clone(),
                v,
            }));
        }
        Ok(Some(out))
    }

    /// The times a selector reads at each step.
    fn step_times(&self, vs: &VectorSelector) -> Result<Vec<i64>, QueryError> {
        let g = self.grid_now()?;
        Ok((0..g.len())
            .map(|k| self.shift(g.at(k), &vs.offset, &vs.at))
            .collect())
    }

    /// An instant selector's columns: each step's newest sample within the
    /// lookback window, unless it is a staleness marker.
    pub(crate) fn instant_columns(&mut self, vs: &VectorSelector) -> Result<Columns, QueryError> {
        let lookback = self.lookback;
        self.build_columns(vs, false, |part, si, times, points| {
            let mut hi = Cursor::default();
            let mut n = 0;
            for (k, &t) in times.iter().enumerate() {
                let i = hi.seek(points, t);
                let Some(&(pt, pv)) = i.checked_sub(1).and_then(|i| points.get(i)) else {
                    continue;
                };
                if pt <= t - lookback || model::sample::is_stale_nan(pv) {
                    continue;
                }
                part.out.put(k, si, pv);
                part.out.samples[k] += 1;
                n += 1;
            }
            Ok(n)
        })
    }

    /// A range function's columns: `f` of each series' window
    /// `(t - range, t]` without staleness markers, where it is not empty;
    /// `drop` removes the metric name from the output labels. `shortcut`
    /// says what `f` is where a window's value has a faster way than
    /// scanning it (see [`Shortcut`]).
    pub(crate) fn range_columns(
        &mut self,
        vs: &VectorSelector,
        range: i64,
        drop: bool,
        shortcut: Option<Shortcut>,
        f: &(impl Fn(&[(i64, f64)], Window) -> Result<Option<f64>, QueryError> + Sync),
    ) -> Result<Columns, QueryError> {
        self.build_columns(vs, drop, |part, si, times, points| {
            // Windows never hold staleness markers: drop them once.
            let points = without_markers(points, &mut part.buf);
            let resets = &mut part.resets;
            let sums = &mut part.sums;
            let out = &mut part.out;
            let exact = match shortcut {
                Some(Shortcut::Counter { .. }) => {
                    resets.clear();
                    resets.extend((1..points.len()).filter(|&i| points[i].1 < points[i - 1].1));
                    false
                }
                Some(Shortcut::Sum | Shortcut::Avg) => exact_sums(points, sums),
                None => false,
            };
            let (mut lo, mut hi) = (Cursor::default(), Cursor::default());
            let (mut first_reset, mut last_a) = (0, 0);
            let mut n = 0;
            for (k, &t) in times.iter().enumerate() {
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
                out.samples[k] += w.len();
                let window = Window { end: t, range };
                let v = match shortcut {
                    Some(Shortcut::Counter { rate }) => {
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
                    // What the compensated sums give when every sum is
                    // exact: the sum, plus a compensation of +0.
                    Some(Shortcut::Sum) if exact => Some((sums[b] - sums[a]) as f64 + 0.0),
                    Some(Shortcut::Avg) if exact => {
                        let count = w.len() as f64;
                        Some((sums[b] - sums[a]) as f64 / count + 0.0 / count)
                    }
                    _ => f(w, window)?,
                };
                if let Some(v) = v {
                    out.put(k, si, v);
                    n += 1;
                }
            }
            Ok(n)
        })
    }

    /// A node's columns over a selector's series, read in parts
    /// (`stream_parts`): `series` fills a part's columns from one series,
    /// numbered within its part, at the step times given, and says how
    /// many values it kept (counted against the sample limit).
    fn build_columns(
        &mut self,
        vs: &VectorSelector,
        drop: bool,
        series: impl Fn(&mut Part, u32, &[i64], &[(i64, f64)]) -> Result<usize, QueryError> + Sync,
    ) -> Result<Columns, QueryError> {
        let times = self.step_times(vs)?;
        let limit = Limit::new(self.max_samples);
        let major = self.series_major;
        let parts = self.stream_parts(
            vs,
            |series| Part::new(times.len(), series, major),
            |part, r| {
                let si = part.labels.len() as u32;
                part.labels.push(std::mem::take(&mut r.labels));
                let kept = series(part, si, &times, &r.points)?;
                part.out.end_series();
                limit.keep(kept)
            },
        )?;
        Ok(self.join(parts, times.len(), drop))
    }

    /// One node's columns from the parts of its selection, in their order;
    /// `drop` removes the metric name from the labels.
    fn join(&mut self, parts: Vec<Part>, steps: usize, drop: bool) -> Columns {
        let mut labels: Vec<Labels> = Vec::new();
        let mut samples = vec![0; steps];
        let mut pieces = Vec::with_capacity(parts.len());
        for p in parts {
            let offset = labels.len() as u32;
            labels.extend(p.labels);
            for (all, n) in samples.iter_mut().zip(&p.out.samples) {
                *all += n;
            }
            pieces.push((offset, p.out.data));
        }
        // Series read are distinct; without their names they may not be.
        let mut unique = true;
        if drop {
            for l in labels.iter_mut() {
                *l = self.drop_name(l);
            }
            let mut seen: std::collections::HashSet<&Labels, foldhash::fast::RandomState> =
                std::collections::HashSet::with_capacity_and_hasher(
                    labels.len(),
                    Default::default(),
                );
            unique = labels.iter().all(|l| seen.insert(l));
        }
        // The parts of one node are built alike; parts kept series by
        // series stay so, and should some not be, the others are turned
        // step by step to join them.
        let data =
            if pieces.iter().all(|(_, d)| matches!(d, PartData::Series(_))) && !pieces.is_empty() {
                Data::Series(
                    pieces
                        .into_iter()
                        .filter_map(|(offset, d)| match d {
                            PartData::Series(m) => Some((offset, m)),
                            PartData::Steps(_) => None,
                        })
                        .collect(),
                )
            } else {
                let mut by_step: Vec<Vec<(u32, Column)>> = (0..steps).map(|_| Vec::new()).collect();
                for (offset, d) in pieces {
                    let cols = match d {
                        PartData::Steps(cols) => cols,
                        PartData::Series(m) => transpose(vec![(0, m)], steps)
                            .into_iter()
                            .flat_map(|p| p.into_iter().map(|(_, c)| c))
                            .collect(),
                    };
                    for (step, c) in by_step.iter_mut().zip(cols) {
                        step.push((offset, c));
                    }
                }
                Data::Steps(by_step)
            };
        Columns {
            labels: Arc::new(labels),
            unique,
            samples,
            left: vec![true; steps],
            data,
        }
    }
}

/// Series-major pieces turned into step-major ones: each step's column
/// holds its series in order, as the parts would have filled it.
fn transpose(parts: Vec<(u32, SeriesMajor)>, steps: usize) -> Vec<Vec<(u32, Column)>> {
    let mut out: Vec<Vec<(u32, Column)>> = (0..steps).map(|_| Vec::new()).collect();
    for (offset, m) in parts {
        let mut cols: Vec<Column> = m
            .counts(steps)
            .iter()
            .map(|&n| Column {
                series: Vec::with_capacity(n),
                values: Vec::with_capacity(n),
            })
            .collect();
        m.each(|si, k, v| {
            let c = &mut cols[k as usize];
            c.series.push(si);
            c.values.push(v);
        });
        for (pieces, c) in out.iter_mut().zip(cols) {
            pieces.push((offset, c));
        }
    }
    out
}

/// What a range function computes, where all steps at once have a faster
/// way to the same answer than scanning each window.
#[derive(Clone, Copy)]
pub(crate) enum Shortcut {
    /// `rate` (or `increase`): the counter resets of each series are found
    /// once, and each window adds only its own (in order, as the function
    /// would).
    Counter {
        rate: bool,
    },
    /// `sum_over_time` and `avg_over_time`. Over a series of integers
    /// whose absolute values add up to less than 2^53, every partial sum
    /// is exact in any order, and the compensated sums Prometheus uses
    /// give the plain sum (compensation +0): a window's sum is then the
    /// difference of two prefix sums.
    Sum,
    Avg,
}

/// Prefix sums of `points`' values into `sums` (`sums[i]` adds the first
/// `i`), if every value is an integer and their absolute values add up
/// to less than 2^53; false (and `sums` unusable) otherwise.
fn exact_sums(points: &[(i64, f64)], sums: &mut Vec<i64>) -> bool {
    const LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53
    sums.clear();
    sums.push(0);
    let mut total = 0.0;
    for &(_, v) in points {
        // NaN and the infinities are not integers here.
        if !v.is_finite() || v.abs() >= LIMIT || v.trunc() != v {
            return false;
        }
        total += v.abs();
        if total >= LIMIT {
            return false;
        }
        sums.push(sums[sums.len() - 1] + v as i64);
    }
    true
}

/// The most values a part's columns make room for ahead (12 bytes each
/// step by step, 8 series by series).
const ROOM: usize = 1 << 22;

/// What one part of a selection gives towards a node's columns.
struct Part {
    /// The labels of the part's series, as read.
    labels: Vec<Labels>,
    out: PartOut,
    /// A series' points without staleness markers, when it has some.
    buf: Vec<(i64, f64)>,
    /// Where a series' counter resets are.
    resets: Vec<usize>,
    /// A series' prefix sums (`Shortcut::Sum`, `Shortcut::Avg`).
    sums: Vec<i64>,
}

/// A part's values, step by step or series by series, and the samples
/// read for each step.
struct PartOut {
    data: PartData,
    samples: Vec<usize>,
}

enum PartData {
    /// By step; series are numbered within the part.
    Steps(Vec<Column>),
    Series(SeriesMajor),
}

impl PartOut {
    /// Series `si`'s value at step `k`.
    #[inline]
    fn put(&mut self, k: usize, si: u32, v: f64) {
        match &mut self.data {
            PartData::Steps(cols) => {
                let c = &mut cols[k];
                c.series.push(si);
                c.values.push(v);
            }
            PartData::Series(m) => m.push(k as u32, v),
        }
    }

    /// Marks the end of a series' values.
    fn end_series(&mut self) {
        if let PartData::Series(m) = &mut self.data {
            m.end_series();
        }
    }
}

impl Part {
    /// A part for `series` series at most, step by step unless `major`
    /// (series by series, with the values if it says so).
    /// Unless that is more than `ROOM` values in all, there is room for a
    /// value of each series at each step, so filling the part never
    /// copies what it holds to grow.
    fn new(steps: usize, series: usize, major: Option<bool>) -> Self {
        let room = if series.saturating_mul(steps) <= ROOM {
            series
        } else {
            0
        };
        let data = if let Some(values) = major {
            PartData::Series(SeriesMajor::new(series, room * steps, values))
        } else {
            PartData::Steps(
                (0..steps)
                    .map(|_| Column {
                        series: Vec::with_capacity(room),
                        values: Vec::with_capacity(room),
                    })
                    .collect(),
            )
        };
        Part {
            labels: Vec::with_capacity(series),
            out: PartOut {
                data,
                samples: vec![0; steps],
            },
            buf: Vec::new(),
            resets: Vec::new(),
            sums: Vec::new(),
        }
    }
}

/// Values kept for later steps, counted against the sample limit across
/// the parts of a selection, as upstream counts a node evaluated over the
/// whole range.
struct Limit {
    max: usize,
    kept: std::sync::atomic::AtomicUsize,
}

impl Limit {
    fn new(max: usize) -> Self {
        Limit {
            max,
            kept: Default::default(),
        }
    }

    fn keep(&self, n: usize) -> Result<(), QueryError> {
        let kept = self.kept.fetch_add(n, std::sync::atomic::Ordering::Relaxed) + n;
        if kept > self.max {
            return Err(QueryError::execution(
                "query processing would load too many samples into memory in query execution",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{exact_sums, transpose, Column, SeriesMajor};

    /// Values kept series by series, turned step by step, are each step's
    /// series in order with their values, as the step-by-step columns
    /// would have held them.
    #[test]
    fn transposed_series_give_each_step_its_series_in_order() {
        // Part of 3 series over 4 steps: series 0 at steps 0, 2, 3;
        // series 1 at none; series 2 at steps 1 and 2.
        let major = |series: &[&[(u32, f64)]]| {
            let mut m = SeriesMajor::new(0, 0, true);
            for s in series {
                for &(k, v) in *s {
                    m.push(k, v);
                }
                m.end_series();
            }
            m
        };
        let part = major(&[&[(0, 1.0), (2, 2.0), (3, 3.0)], &[], &[(1, 4.0), (2, 5.0)]]);
        let second = major(&[&[(3, 6.0)]]);
        let steps = transpose(vec![(0, part), (3, second)], 4);
        type Piece = (u32, Vec<u32>, Vec<f64>);
        let got: Vec<Vec<Piece>> = steps
            .into_iter()
            .map(|pieces| {
                pieces
                    .into_iter()
                    .map(|(o, Column { series, values })| (o, series, values))
                    .collect()
            })
            .collect();
        assert_eq!(
            got,
            vec![
                vec![(0, vec![0], vec![1.0]), (3, vec![], vec![])],
                vec![(0, vec![2], vec![4.0]), (3, vec![], vec![])],
                vec![(0, vec![0, 2], vec![2.0, 5.0]), (3, vec![], vec![])],
                vec![(0, vec![0], vec![3.0]), (3, vec![0], vec![6.0])],
            ]
        );
    }
    use crate::functions::range;
    use crate::script::assert_passes as check;

    #[test]
    fn prefix_sums_give_the_compensated_sums_bit_for_bit() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut sums = Vec::new();
        for scale in [1u64, 1_000, 1 << 40, 1 << 46] {
            let points: Vec<(i64, f64)> = (0..200)
                .map(|i| {
                    let v = (next() % (2 * scale + 1)) as i64 - scale as i64;
                    (i, if v == 0 && i % 2 == 0 { -0.0 } else { v as f64 })
                })
                .collect();
            assert!(exact_sums(&points, &mut sums), "scale {scale}");
            for a in 0..points.len() {
                for b in a + 1..=points.len().min(a + 40) {
                    let w = &points[a..b];
                    let count = w.len() as f64;
                    let s = (sums[b] - sums[a]) as f64;
                    assert_eq!((s + 0.0).to_bits(), range::sum(w).to_bits());
                    assert_eq!((s / count + 0.0 / count).to_bits(), range::avg(w).to_bits());
                }
            }
        }
        assert!(!exact_sums(&[(0, 0.5)], &mut sums));
        assert!(!exact_sums(&[(0, f64::NAN)], &mut sums));
        assert!(!exact_sums(&[(0, 9.0e15), (1, -9.0e15)], &mut sums));
    }

    #[test]
    fn sums_over_integer_windows_match_the_window_by_window_answers() {
        // Range queries take windows' sums of integer series from prefix
        // sums; each step must equal the instant query's scan, signs of
        // zero included, and series that are not integers (or too big)
        // are scanned.
        check(
            r#"
load 1m
  g{s="int"} 3 -7 0 -0 12 5 -5 9007199254740000 1
  g{s="frac"} 0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9
  g{s="zero"} -0 -0 -0 -0 -0 -0 -0 -0 -0

eval range from 1m to 6m step 1m sum_over_time(g[3m])
  {s="int"} -4 -4 -7 12 17 12
  {s="frac"} 0.30000000000000004 0.6000000000000001 0.9 1.2 1.5 1.8
  {s="zero"} 0 0 0 0 0 0

eval range from 1m to 6m step 1m avg_over_time(g[3m])
  {s="int"} -2 -1.3333333333333333 -2.3333333333333335 4 5.666666666666667 4
  {s="frac"} 0.15000000000000002 0.20000000000000004 0.3 0.4 0.5 0.6
  {s="zero"} 0 0 0 0 0 0

eval instant at 3m avg_over_time(g[3m])
  {s="int"} -2.3333333333333335
  {s="frac"} 0.3
  {s="zero"} 0

eval range from 7m to 8m step 1m sum_over_time(g[2m])
  {s="int"} 9007199254739995 9007199254740001
  {s="frac"} 1.5 1.7000000000000002
  {s="zero"} 0 0
"#,
        );
    }
}
