//! Subqueries: the inner expression evaluated at the multiples of the
//! subquery's step in `(t - range, t]`, with results shared between the
//! overlapping windows of adjacent steps.

use model::Labels;
use promql_parser::parser::{Expr, SubqueryExpr};

use super::{columns, ms, Evaluator, Gather};
use crate::error::QueryError;
use crate::value::{Elem, Range, Value};

impl Evaluator<'_> {
    /// A subquery at step `ts`.
    pub(super) fn subquery(
        &mut self,
        sq: &SubqueryExpr,
        ts: i64,
    ) -> Result<Vec<Range>, QueryError> {
        let t = self.shift(ts, &sq.offset, &sq.at);
        let range = ms(&sq.range);
        let step = sq
            .step
            .as_ref()
            .map(ms)
            .unwrap_or(self.subquery_step)
            .max(1);
        let mint = t.saturating_sub(range);
        // The first multiple of `step` after `mint`, if an i64 holds it.
        let mut next = mint
            .div_euclid(step)
            .checked_add(1)
            .and_then(|k| k.checked_mul(step));
        let key = &*sq.expr as *const Expr as usize;
        // The steps of every window the parent's steps ask for.
        let (lo, hi) = match self.grid {
            Some(g) => self.shifted(g.start, g.end, &sq.offset, &sq.at),
            None => (t, t),
        };
        let inner_grid = columns::Grid::aligned(lo.saturating_sub(range), hi, step);
        let mut out = Gather::default();
        while let Some(it) = next.filter(|&it| it <= t) {
            self.check_deadline()?;
            let v = match self.inner.get(&(key, it)) {
                Some(v) => v.clone(),
                None => {
                    let outer = self.grid;
                    self.grid = inner_grid;
                    let v = self.eval(&sq.expr, it);
                    self.grid = outer;
                    let v = v?;
                    self.inner.insert((key, it), v.clone());
                    v
                }
            };
            let elems = match v {
                Value::Vector(es) => es,
                Value::Scalar(v) => vec![Elem {
                    labels: Labels::empty(),
                    v,
                }],
                other => {
                    return Err(QueryError::execution(format!(
                        "subquery of a {}",
                        other.type_name()
                    )))
                }
            };
            out.add(elems, it);
            next = it.checked_add(step);
        }
        // Steps only move forward: results at or before this window's
        // start are not needed again.
        let stale: Vec<(usize, i64)> = self
            .inner
            .range((key, i64::MIN)..=(key, mint))
            .map(|(k, _)| *k)
            .collect();
        for k in stale {
            self.inner.remove(&k);
        }
        let n = out.out.iter().map(|r| r.points.len()).sum();
        self.count(n)?;
        Ok(out.out)
    }
}
