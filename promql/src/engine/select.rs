//! Selection at one step: an instant selector takes each series' newest
//! sample in `(t - lookback, t]` unless it is a staleness marker; a range
//! selector takes the samples in `(t - range, t]` without markers. Each
//! series keeps cursors at its window's edges, so that the next step moves
//! forward from the last one's instead of searching the whole series.

use model::Labels;
use promql_parser::parser::VectorSelector;

use super::Evaluator;
use crate::error::QueryError;
use crate::value::{Elem, Range};

impl Evaluator<'_> {
    /// An instant selector at step `ts`.
    pub(super) fn select_instant(
        &mut self,
        vs: &VectorSelector,
        ts: i64,
    ) -> Result<Vec<Elem>, QueryError> {
        Ok(self
            .select_instant_with_time(vs, ts)?
            .into_iter()
            .map(|(e, _)| e)
            .collect())
    }

    /// An instant selector at step `ts`, with each sample's own time.
    pub(crate) fn select_instant_with_time(
        &mut self,
        vs: &VectorSelector,
        ts: i64,
    ) -> Result<Vec<(Elem, i64)>, QueryError> {
        let t = self.shift(ts, &vs.offset, &vs.at);
        let data = self.series(vs)?;
        let mut cursors = self.take_cursors(vs, data.len());
        let mut out = Vec::new();
        for (r, c) in data.iter().zip(cursors.iter_mut()) {
            let i = c.hi.seek(&r.points, t);
            if i == 0 {
                continue;
            }
            let (pt, pv) = r.points[i - 1];
            if pt <= t.saturating_sub(self.lookback) || model::sample::is_stale_nan(pv) {
                continue;
            }
            out.push((
                Elem {
                    labels: r.labels.clone(),
                    v: pv,
                },
                pt,
            ));
        }
        self.cursors
            .insert(vs as *const VectorSelector as usize, cursors);
        self.count(out.len())?;
        Ok(out)
    }

    /// A range selector at step `ts`: samples in `(t - range, t]`.
    pub(super) fn select_range(
        &mut self,
        vs: &VectorSelector,
        range: i64,
        ts: i64,
    ) -> Result<Vec<Range>, QueryError> {
        let mut out = Vec::new();
        self.with_windows(vs, range, ts, |labels, points| {
            out.push(Range {
                labels: labels.clone(),
                points: points.to_vec(),
            })
        })?;
        Ok(out)
    }

    /// Calls `f` with each series' window `(t - range, t]` at step `ts`,
    /// borrowed from the loaded data (copied only to drop staleness
    /// markers); series with an empty window are left out.
    pub(crate) fn with_windows(
        &mut self,
        vs: &VectorSelector,
        range: i64,
        ts: i64,
        mut f: impl FnMut(&Labels, &[(i64, f64)]),
    ) -> Result<(), QueryError> {
        let t = self.shift(ts, &vs.offset, &vs.at);
        let data = self.series(vs)?;
        let mut cursors = self.take_cursors(vs, data.len());
        let mut n = 0;
        let mut buf = Vec::new();
        for (r, c) in data.iter().zip(cursors.iter_mut()) {
            let lo = c.lo.seek(&r.points, t.saturating_sub(range));
            let hi = c.hi.seek(&r.points, t);
            let w = without_markers(&r.points[lo..hi], &mut buf);
            if !w.is_empty() {
                n += w.len();
                f(&r.labels, w);
            }
        }
        self.cursors
            .insert(vs as *const VectorSelector as usize, cursors);
        self.count(n)
    }

    /// The selector's per-series cursors (fresh ones the first time).
    fn take_cursors(&mut self, vs: &VectorSelector, n: usize) -> Vec<Window> {
        match self.cursors.remove(&(vs as *const VectorSelector as usize)) {
            Some(c) if c.len() == n => c,
            _ => vec![Window::default(); n],
        }
    }
}

/// A series' window edges from the last step that read it.
#[derive(Clone, Copy, Default)]
pub(super) struct Window {
    lo: Cursor,
    hi: Cursor,
}

/// The index of the first point after a time, remembered: steps move
/// forward, so the next answer is usually a few points further on, in
/// memory the last step just touched. A step back searches afresh.
#[derive(Clone, Copy)]
pub(super) struct Cursor {
    t: i64,
    i: usize,
}

impl Default for Cursor {
    fn default() -> Self {
        Cursor { t: i64::MIN, i: 0 }
    }
}

impl Cursor {
    /// The number of points with time `<= t`.
    pub(super) fn seek(&mut self, points: &[(i64, f64)], t: i64) -> usize {
        let mut i = if t >= self.t && self.i <= points.len() {
            self.i
        } else {
            0
        };
        if t < self.t {
            i = points.partition_point(|p| p.0 <= t);
        } else {
            // A long jump forward is a search too.
            let ahead = &points[i..];
            if ahead.len() > 64 && ahead.get(64).is_some_and(|p| p.0 <= t) {
                i += ahead.partition_point(|p| p.0 <= t);
            } else {
                while i < points.len() && points[i].0 <= t {
                    i += 1;
                }
            }
        }
        self.t = t;
        self.i = i;
        i
    }
}

/// A window's points without staleness markers: the window itself when it
/// has none, else a filtered copy in `buf`.
pub(crate) fn without_markers<'w>(
    w: &'w [(i64, f64)],
    buf: &'w mut Vec<(i64, f64)>,
) -> &'w [(i64, f64)] {
    if !w.iter().any(|p| model::sample::is_stale_nan(p.1)) {
        return w;
    }
    buf.clear();
    buf.extend(
        w.iter()
            .copied()
            .filter(|p| !model::sample::is_stale_nan(p.1)),
    );
    buf
}

#[cfg(test)]
mod tests {
    use super::Cursor;

    /// A cursor answers as a binary search does, whichever way and however
    /// far the times move.
    #[test]
    fn cursor_agrees_with_search() {
        let points: Vec<(i64, f64)> = (0..500).map(|i| (i * 15 + (i % 7), 0.0)).collect();
        let mut next = model::seeded::xorshift(42);
        let mut c = Cursor::default();
        let mut t = -100i64;
        for _ in 0..5_000 {
            t += match next() % 10 {
                0 => -((next() % 3000) as i64),
                1 => (next() % 5000) as i64,
                _ => (next() % 40) as i64,
            };
            let want = points.partition_point(|p| p.0 <= t);
            assert_eq!(c.seek(&points, t), want, "t {t}");
        }
        assert_eq!(Cursor::default().seek(&[], 5), 0);
    }
}
