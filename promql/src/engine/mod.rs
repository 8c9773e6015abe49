//! The evaluator: an instant query evaluates the expression at one
//! timestamp; a range query evaluates it at every step and gathers the
//! results by label set (upstream `promql/engine.go` does the same through
//! `rangeEval`).
//!
//! Before evaluation one pass over the tree works out which time range
//! each selector will read, across all steps, offsets, `@` modifiers and
//! enclosing subqueries (`load`). Nothing is read yet: a node computed for
//! all steps at once (`columns`) streams its selector's series from the
//! store one at a time; otherwise a selector's series are loaded the first
//! time a step needs them, and each step finds its points with per-series
//! cursors that move forward from the last step's (`select`).
//!
//! Selection follows Prometheus 3: an instant selector takes the newest
//! sample in `(t - lookback, t]` unless it is a staleness marker; a range
//! selector takes the samples in `(t - range, t]` without markers; a
//! subquery evaluates its expression at multiples of its step in
//! `(t - range, t]` (`subquery`).
//!
//! This module holds the entry points ([`Engine`], [`Options`]), the range
//! query's step loop and the evaluator's state, limits and dispatch by
//! node. Label work and step invariance are remembered for the query's
//! life in `memo`; operators and aggregations are in `binary` and
//! `aggregate`, functions in `crate::functions`.

pub(crate) mod aggregate;
mod binary;
pub(crate) mod columns;
mod load;
mod memo;
mod select;
mod subquery;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use model::{Labels, Querier};
use promql_parser::parser::{AtModifier, Expr, Offset};

use crate::error::QueryError;
use crate::value::{Answer, Elem, Outcome, Range, Value};

use load::Pending;
use memo::Memo;
use select::Window;

/// Limits and defaults of query evaluation.
#[derive(Debug, Clone)]
pub struct Options {
    /// How far back an instant selector looks (`--query.lookback-delta`).
    pub lookback_delta: Duration,
    /// The most samples a query may hold at once (`--query.max-samples`).
    pub max_samples: usize,
    /// How long a query may run (`--query.timeout`).
    pub timeout: Duration,
    /// The step of a subquery that names none (Prometheus uses the global
    /// evaluation interval).
    pub default_subquery_step: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            lookback_delta: Duration::from_secs(300),
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
            default_subquery_step: Duration::from_secs(60),
        }
    }
}

/// Evaluates parsed expressions over a [`Querier`].
#[derive(Debug, Clone, Default)]
pub struct Engine {
    pub opts: Options,
}

impl Engine {
    pub fn new(opts: Options) -> Self {
        Engine { opts }
    }

    /// Evaluates `expr` at `t` (ms).
    pub fn instant(&self, q: &dyn Querier, expr: &Expr, t: i64) -> Result<Outcome, QueryError> {
        self.instant_with(q, expr, t, true)
    }

    /// `instant` with every node evaluated as a vector of labelled
    /// elements, as subqueries and step-invariant subtrees are: the
    /// reference the tests hold the column machinery to.
    #[doc(hidden)]
    pub fn instant_by_vectors(
        &self,
        q: &dyn Querier,
        expr: &Expr,
        t: i64,
    ) -> Result<Outcome, QueryError> {
        self.instant_with(q, expr, t, false)
    }

    fn instant_with(
        &self,
        q: &dyn Querier,
        expr: &Expr,
        t: i64,
        columns: bool,
    ) -> Result<Outcome, QueryError> {
        let mut ev = Evaluator::new(self, q, t, t, 0);
        // One step of the range machinery, as Prometheus evaluates an
        // instant query: nodes it can compute as columns (a selector's
        // series, a function over them, an aggregation's groups) skip the
        // vector of label sets in between. `step` stays 0: `step()` and
        // `sort`'s warning see an instant query.
        if columns {
            ev.grid = Some(columns::Grid {
                start: t,
                end: t,
                step: 1,
            });
        }
        ev.prepare(expr, t, t)?;
        let v = ev.eval(expr, t)?;
        let answer = match v {
            Value::Scalar(v) => Answer::Scalar { t, v },
            Value::String(s) => Answer::String { t, s },
            Value::Vector(elems) => Answer::Vector { t, elems },
            Value::Matrix(m) => Answer::Matrix(m),
        };
        Ok(ev.finish(answer))
    }

    /// Evaluates `expr` at every `step` from `start` to `end` (ms).
    pub fn range(
        &self,
        q: &dyn Querier,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<Outcome, QueryError> {
        use promql_parser::parser::value::ValueType;
        match expr.value_type() {
            ValueType::Scalar | ValueType::Vector => {}
            t => {
                let name = match t {
                    ValueType::Matrix => "range vector",
                    _ => "string",
                };
                return Err(QueryError::bad_data(format!(
                    "invalid expression type \"{name}\" for range query, must be Scalar or instant Vector"
                )));
            }
        }
        if step <= 0 {
            return Err(QueryError::bad_data(
                "zero or negative query resolution step widths are not accepted. Try a positive integer",
            ));
        }
        let mut ev = Evaluator::new(self, q, start, end, step);
        ev.prepare(expr, start, end)?;
        let mut out = Gather::default();
        let mut held = 0usize;
        let mut ts = start;
        while ts <= end {
            ev.check_deadline()?;
            ev.step_samples = 0;
            let elems = match ev.eval(expr, ts)? {
                Value::Scalar(v) => vec![Elem {
                    labels: Labels::empty(),
                    v,
                }],
                Value::Vector(es) => es,
                other => {
                    return Err(QueryError::execution(format!(
                        "unexpected {} at step",
                        other.type_name()
                    )))
                }
            };
            held += elems.len();
            ev.check_samples(held)?;
            out.add(elems, ts);
            // Stop at the last step an i64 can hold.
            let Some(next) = ts.checked_add(step) else {
                break;
            };
            ts = next;
        }
        let mut out = out.out;
        out.sort_by(|a, b| crate::labels::cmp(&a.labels, &b.labels));
        Ok(ev.finish(Answer::Matrix(out)))
    }
}

/// A range query's or subquery's result series, built step by step.
#[derive(Default)]
struct Gather {
    out: Vec<Range>,
    by_labels: FastMap<Labels, usize>,
    /// Series index by label set address; `pinned` keeps the sets alive.
    by_addr: FastMap<usize, usize>,
    pinned: Vec<Labels>,
}

impl Gather {
    /// Adds one step's elements to the series they belong to, in order of
    /// first appearance.
    fn add(&mut self, elems: Vec<Elem>, t: i64) {
        for e in elems {
            let i = match self.by_addr.get(&e.labels.addr()) {
                Some(i) => *i,
                None => {
                    let out = &mut self.out;
                    let i = *self.by_labels.entry(e.labels.clone()).or_insert_with(|| {
                        out.push(Range {
                            labels: e.labels.clone(),
                            points: Vec::new(),
                        });
                        out.len() - 1
                    });
                    self.by_addr.insert(e.labels.addr(), i);
                    self.pinned.push(e.labels);
                    i
                }
            };
            self.out[i].points.push((t, e.v));
        }
    }
}

/// The state of one query's evaluation.
pub(crate) struct Evaluator<'a> {
    q: &'a dyn Querier,
    pub start: i64,
    pub end: i64,
    /// The range query's step (0 for an instant query).
    pub step: i64,
    pub lookback: i64,
    subquery_step: i64,
    deadline: Instant,
    max_samples: usize,
    /// Loaded series by selector node address, with every sample in the
    /// range any step needs (staleness markers included).
    data: HashMap<usize, Arc<Vec<Range>>>,
    /// What each selector will read, until it is read.
    pending: FastMap<usize, Pending>,
    /// Selectors whose series get the counter check when read.
    counter_checks: std::collections::HashSet<usize, foldhash::fast::RandomState>,
    /// Subquery results by expression address and timestamp: adjacent
    /// steps share most of them.
    inner: std::collections::BTreeMap<(usize, i64), Value>,
    /// Where each selector's series were read last, so that the next step
    /// moves forward from there instead of searching the whole series.
    cursors: FastMap<usize, Vec<Window>>,
    /// Nodes computed for all steps at once, by node address.
    columns: FastMap<usize, columns::Columns>,
    /// The times the node being evaluated is evaluated at, when there are
    /// several: a range query's steps, or a subquery's steps for all the
    /// windows its parent asks for.
    grid: Option<columns::Grid>,
    /// Samples selected by the current step.
    step_samples: usize,
    /// Samples selected by the whole query.
    total_samples: u64,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
    /// Label work repeats at every step for the same series; these keep
    /// its results for the query's life.
    pub(crate) memo: Memo,
    /// The node (a call or selector, by address) whose step an
    /// aggregation being evaluated would take as a `RawColumn`, or 0.
    raw_for: usize,
    /// Set while that node is evaluated: the next `column_at` (the
    /// node's own) leaves its step in `raw`, and gives an empty vector.
    raw_here: bool,
    /// The step `column_at` left for the aggregation.
    raw: Option<columns::RawColumn>,
    /// How the aggregation that asks for a raw column groups: with it,
    /// the node's columns are built series by series and the groups of
    /// every step worked out at once.
    agg_spec: Option<aggregate::AggSpec>,
    /// The step's groups `column_at` left for the aggregation.
    agg_groups: Option<Vec<aggregate::Group>>,
    /// Set while a node's columns are built for `agg_spec`: whether the
    /// aggregation reads the values (`count` and `group` do not).
    series_major: Option<bool>,
}

pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Milliseconds of a duration.
pub(crate) fn ms(d: &Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

fn system_ms(t: &SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => ms(&d),
        Err(e) => -ms(&e.duration()),
    }
}

impl<'a> Evaluator<'a> {
    fn new(engine: &Engine, q: &'a dyn Querier, start: i64, end: i64, step: i64) -> Self {
        let o = &engine.opts;
        Evaluator {
            q,
            start,
            end,
            step,
            lookback: ms(&o.lookback_delta),
            subquery_step: ms(&o.default_subquery_step).max(1),
            deadline: Instant::now() + o.timeout,
            max_samples: o.max_samples,
            data: HashMap::new(),
            pending: Default::default(),
            counter_checks: Default::default(),
            inner: Default::default(),
            cursors: Default::default(),
            columns: Default::default(),
            grid: (step > 0).then_some(columns::Grid { start, end, step }),
            step_samples: 0,
            total_samples: 0,
            warnings: Vec::new(),
            infos: Vec::new(),
            memo: Memo::default(),
            raw_for: 0,
            raw_here: false,
            raw: None,
            agg_spec: None,
            agg_groups: None,
            series_major: None,
        }
    }

    /// Warns, as Prometheus does, when a quantile is outside [0, 1] (NaN
    /// included); the value is still computed.
    pub(crate) fn check_quantile(&mut self, q: f64) {
        if !(0.0..=1.0).contains(&q) {
            self.warnings.push(format!(
                "PromQL warning: quantile value should be between 0 and 1, got {}",
                crate::value::format_float(q)
            ));
        }
    }

    fn finish(mut self, answer: Answer) -> Outcome {
        self.warnings.dedup();
        self.infos.dedup();
        Outcome {
            answer,
            warnings: self.warnings,
            infos: self.infos,
            samples: self.total_samples,
        }
    }

    pub(crate) fn check_deadline(&self) -> Result<(), QueryError> {
        if Instant::now() > self.deadline {
            return Err(load::timed_out());
        }
        Ok(())
    }

    fn check_samples(&self, extra: usize) -> Result<(), QueryError> {
        if self.step_samples.saturating_add(extra) > self.max_samples {
            return Err(QueryError::execution(
                "query processing would load too many samples into memory in query execution",
            ));
        }
        Ok(())
    }

    fn count(&mut self, n: usize) -> Result<(), QueryError> {
        self.step_samples += n;
        self.total_samples += n as u64;
        self.check_samples(0)
    }

    /// The time a selector or subquery reads at step `ts`.
    pub(crate) fn shift(&self, ts: i64, offset: &Option<Offset>, at: &Option<AtModifier>) -> i64 {
        let base = match at {
            None => ts,
            Some(AtModifier::Start) => self.start,
            Some(AtModifier::End) => self.end,
            Some(AtModifier::At(t)) => system_ms(t),
        };
        match offset {
            None => base,
            Some(Offset::Pos(d)) => base.saturating_sub(ms(d)),
            Some(Offset::Neg(d)) => base.saturating_add(ms(d)),
        }
    }

    /// The range `[lo, hi]` of times a node is read at, for steps in
    /// `[lo, hi]` of its parent.
    fn shifted(
        &self,
        lo: i64,
        hi: i64,
        offset: &Option<Offset>,
        at: &Option<AtModifier>,
    ) -> (i64, i64) {
        if at.is_some() {
            let t = self.shift(0, offset, at);
            (t, t)
        } else {
            (self.shift(lo, offset, at), self.shift(hi, offset, at))
        }
    }

    /// Evaluates `e` at step `ts`.
    pub(crate) fn eval(&mut self, e: &Expr, ts: i64) -> Result<Value, QueryError> {
        crate::nesting::grow(|| self.eval_memo(e, ts))
    }

    fn eval_node(&mut self, e: &Expr, ts: i64) -> Result<Value, QueryError> {
        if matches!(e, Expr::Call(_) | Expr::VectorSelector(_)) {
            // Only the node the aggregation asked for gives its column
            // raw; any call or selector evaluated inside it clears this.
            let addr = e as *const Expr as usize;
            self.raw_here = self.raw_for == addr;
            if self.raw_here {
                self.raw_for = 0;
            }
        }
        match e {
            Expr::NumberLiteral(n) => Ok(Value::Scalar(n.val)),
            Expr::StringLiteral(s) => Ok(Value::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, ts),
            Expr::Unary(u) => {
                let v = self.negate(&u.expr, ts)?;
                self.unique(e, &v)?;
                Ok(v)
            }
            Expr::VectorSelector(vs) => {
                if let Some(k) = self.main_step(ts) {
                    let key = e as *const Expr as usize;
                    if let Some(v) = self.column_at(key, k, |ev| ev.instant_columns(vs))? {
                        return Ok(Value::Vector(v));
                    }
                }
                Ok(Value::Vector(self.select_instant(vs, ts)?))
            }
            Expr::MatrixSelector(m) => {
                Ok(Value::Matrix(self.select_range(&m.vs, ms(&m.range), ts)?))
            }
            Expr::Subquery(sq) => Ok(Value::Matrix(self.subquery(sq, ts)?)),
            Expr::Aggregate(a) => aggregate::eval(self, a, ts),
            Expr::Binary(b) => {
                let v = binary::eval(self, b, ts)?;
                self.unique(e, &v)?;
                Ok(v)
            }
            Expr::Call(c) => {
                let v = crate::functions::call(self, c, ts)?;
                self.unique(e, &v)?;
                Ok(v)
            }
            Expr::Extension(_) => Err(QueryError::execution(
                "extension expressions are not supported",
            )),
        }
    }

    fn negate(&mut self, e: &Expr, ts: i64) -> Result<Value, QueryError> {
        match self.eval(e, ts)? {
            Value::Scalar(v) => Ok(Value::Scalar(-v)),
            Value::Vector(es) => Ok(Value::Vector(
                es.into_iter()
                    .map(|e| Elem {
                        labels: self.drop_name(&e.labels),
                        v: -e.v,
                    })
                    .collect(),
            )),
            other => Err(QueryError::execution(format!(
                "unary minus on a {}",
                other.type_name()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use model::{mem::MemStore, Appendable, Labels};

    use super::Engine;
    use crate::value::Answer;

    /// A range query whose next step would be past `i64::MAX` stops after
    /// its last step instead of overflowing, in the step loop and in a
    /// subquery's; one longer than an i64 holds is evaluated step by step.
    #[test]
    fn queries_at_the_ends_of_time_answer_without_overflow() {
        let store = MemStore::new();
        let mut app = store.appender();
        let l = Labels::from_pairs([("__name__", "up")]);
        app.append(&l, 0, 1.0).unwrap();
        app.commit().unwrap();
        let queries = [
            "up",
            "up offset 1h",
            "up offset -1h",
            "count_over_time(up[1m])",
            "count_over_time(vector(1)[1m:1s])",
            "rate(up[5m] offset 1h)",
        ];
        for q in queries {
            let expr = crate::parse(q).unwrap();
            for (start, end) in [(i64::MIN + 1, i64::MIN + 11), (i64::MAX - 11, i64::MAX - 1)] {
                // Any answer will do; what matters is no overflow panic.
                let _ = Engine::default().range(&store, &expr, start, end, 5);
                let _ = Engine::default().instant(&store, &expr, start);
            }
        }
    }

    /// A selection read in parts (the test store cuts every one) over
    /// the sample limit fails with the limit's error. (Whether a part
    /// stopped by another's error stays silent depends on which thread
    /// gets there first; this store's parts are too quick to race, so
    /// that case rests on `stream_parts`'s reading, not on this test.)
    #[test]
    fn a_limit_met_in_parts_is_the_error_reported() {
        let store = MemStore::new();
        let mut app = store.appender();
        for i in 0..40 {
            let l = Labels::from_pairs([("__name__", "m".to_string()), ("i", i.to_string())]);
            for k in 0..600 {
                app.append(&l, k * 1000, k as f64).unwrap();
            }
        }
        app.commit().unwrap();
        let engine = Engine::new(super::Options {
            max_samples: 5_000,
            ..super::Options::default()
        });
        for q in ["sum(rate(m[1m]))", "sum(m)", "rate(m[1m])"] {
            let expr = crate::parse(q).unwrap();
            for _ in 0..5 {
                let err = engine
                    .range(&store, &expr, 0, 599_000, 1_000)
                    .err()
                    .unwrap_or_else(|| panic!("{q}: answered over the limit"));
                assert!(err.message.contains("too many samples"), "{q}: {err:?}");
            }
        }
    }

    #[test]
    fn range_ending_near_max_time() {
        let end = i64::MAX - 1;
        let store = MemStore::new();
        let mut app = store.appender();
        let l = Labels::from_pairs([("__name__", "up")]);
        app.append(&l, end - 20, 1.0).unwrap();
        app.append(&l, end - 15, 1.0).unwrap();
        app.commit().unwrap();
        let step = i64::MAX / 4;
        // (query, start, step, points wanted)
        let cases = [
            ("up", end - 10, step, 1),
            ("1", 0, step, 5),
            // Steps at -12, about i64::MAX / 2 and `end - 10`: more time
            // from first to last than an i64 holds.
            ("up", -12, i64::MAX / 2 + 1, 1),
            ("count_over_time(up[1m])", -12, i64::MAX / 2 + 1, 1),
            (
                "count_over_time(vector(1)[1m:1s])",
                -12,
                i64::MAX / 2 + 1,
                3,
            ),
            ("count_over_time(up[1m])", end - 10, step, 1),
            // The subquery's last step is `i64::MAX - 807`, a second before
            // the next overflows.
            ("count_over_time(vector(1)[1m:1s])", end - 10, step, 1),
            ("count_over_time(vector(1)[1m:1s])", end - 10, 3, 4),
        ];
        for (q, start, step, want) in cases {
            let expr = crate::parse(q).unwrap();
            let got = Engine::default().range(&store, &expr, start, end, step);
            let points = match &got {
                Ok(out) => match &out.answer {
                    Answer::Matrix(m) => m.iter().map(|r| r.points.len()).sum::<usize>(),
                    _ => usize::MAX,
                },
                Err(_) => usize::MAX,
            };
            assert_eq!(
                points, want,
                "{q} from {start} to {end} every {step}: got {got:?}, want {want} points"
            );
        }
    }
}
