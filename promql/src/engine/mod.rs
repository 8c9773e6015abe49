//! The evaluator: an instant query evaluates the expression at one
//! timestamp; a range query evaluates it at every step and gathers the
//! results by label set (upstream `promql/engine.go` does the same through
//! `rangeEval`).
//!
//! Before evaluation one pass over the tree works out which time range
//! each selector will read, across all steps, offsets, `@` modifiers and
//! enclosing subqueries. Nothing is read yet: a node computed for all
//! steps at once (`columns`) streams its selector's series from the store
//! one at a time; otherwise a selector's series are loaded the first time
//! a step needs them, and each step finds its points with per-series
//! cursors that move forward from the last step's.
//!
//! Selection follows Prometheus 3: an instant selector takes the newest
//! sample in `(t - lookback, t]` unless it is a staleness marker; a range
//! selector takes the samples in `(t - range, t]` without markers; a
//! subquery evaluates its expression at multiples of its step in
//! `(t - range, t]`.

pub(crate) mod aggregate;
mod binary;
pub(crate) mod columns;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use model::{Labels, Matcher, Querier};
use promql_parser::parser::{AtModifier, Expr, Offset, SubqueryExpr, VectorSelector};

use crate::error::{ErrorKind, QueryError};
use crate::value::{Answer, Elem, Outcome, Range, Value};

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
        let mut ev = Evaluator::new(self, q, t, t, 0);
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
            ts += step;
        }
        let mut out = out.out;
        out.sort_by(|a, b| crate::labels::cmp(&a.labels, &b.labels));
        Ok(ev.finish(Answer::Matrix(out)))
    }
}

/// A selector's reads, not yet made.
struct Pending {
    sets: Vec<Vec<Matcher>>,
    mint: i64,
    maxt: i64,
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
}

pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

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
    /// Nodes whose once-per-query annotations are done.
    pub annotated: std::collections::HashSet<usize, foldhash::fast::RandomState>,
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
        }
    }

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
            return Err(QueryError {
                kind: ErrorKind::Timeout,
                message: "query timed out in expression evaluation".into(),
            });
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

    /// Loads every selector's data for steps in `[lo, hi]`.
    fn prepare(&mut self, e: &Expr, lo: i64, hi: i64) -> Result<(), QueryError> {
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
        mut f: impl FnMut(&mut Self, Range) -> Result<(), QueryError>,
    ) -> Result<(), QueryError> {
        let key = vs as *const VectorSelector as usize;
        if let Some(data) = self.data.get(&key).cloned() {
            for r in data.iter() {
                f(self, r.clone())?;
            }
            return Ok(());
        }
        let Some(p) = self.pending.get(&key) else {
            return Ok(());
        };
        let (sets, mint, maxt) = (p.sets.clone(), p.mint, p.maxt);
        let check_counter = self.counter_checks.contains(&key);
        let mut seen: std::collections::HashSet<Labels, foldhash::fast::RandomState> =
            Default::default();
        let several = sets.len() > 1;
        let q = self.q;
        let mut n = 0usize;
        for set in sets {
            let it = q
                .select(&set, mint, maxt)
                .map_err(|e| QueryError::execution(e.to_string()))?;
            for s in it {
                let s = s.map_err(|e| QueryError::execution(e.to_string()))?;
                if several && !seen.insert(s.labels.clone()) {
                    continue;
                }
                n += 1;
                if n.is_multiple_of(1024) {
                    self.check_deadline()?;
                }
                let r = Range {
                    labels: s.labels,
                    points: s.samples.iter().map(|p| (p.t, p.v)).collect(),
                };
                if check_counter {
                    self.counter_check(&r);
                }
                f(self, r)?;
            }
            self.check_deadline()?;
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
            .select(set, t - self.lookback + 1, t)
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
            all.push(r);
            Ok(())
        })?;
        let all = Arc::new(all);
        self.data.insert(key, all.clone());
        Ok(all)
    }

    /// An instant selector at step `ts`.
    fn select_instant(&mut self, vs: &VectorSelector, ts: i64) -> Result<Vec<Elem>, QueryError> {
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
            if pt <= t - self.lookback || model::sample::is_stale_nan(pv) {
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
    fn select_range(
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
            let lo = c.lo.seek(&r.points, t - range);
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

    /// A subquery at step `ts`.
    fn subquery(&mut self, sq: &SubqueryExpr, ts: i64) -> Result<Vec<Range>, QueryError> {
        let t = self.shift(ts, &sq.offset, &sq.at);
        let range = ms(&sq.range);
        let step = sq
            .step
            .as_ref()
            .map(ms)
            .unwrap_or(self.subquery_step)
            .max(1);
        let mint = t - range;
        let mut it = mint.div_euclid(step) * step;
        if it <= mint {
            it += step;
        }
        let key = &*sq.expr as *const Expr as usize;
        // The steps of every window the parent's steps ask for.
        let (lo, hi) = match self.grid {
            Some(g) => self.shifted(g.start, g.end, &sq.offset, &sq.at),
            None => (t, t),
        };
        let inner_grid = columns::Grid::aligned(lo.saturating_sub(range), hi, step);
        let mut out = Gather::default();
        while it <= t {
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
            it += step;
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

    /// Evaluates `e` at step `ts`.
    pub(crate) fn eval(&mut self, e: &Expr, ts: i64) -> Result<Value, QueryError> {
        crate::nesting::grow(|| self.eval_memo(e, ts))
    }

    fn eval_memo(&mut self, e: &Expr, ts: i64) -> Result<Value, QueryError> {
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

    fn eval_node(&mut self, e: &Expr, ts: i64) -> Result<Value, QueryError> {
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

/// A series' window edges from the last step that read it.
#[derive(Clone, Copy, Default)]
struct Window {
    lo: Cursor,
    hi: Cursor,
}

/// The index of the first point after a time, remembered: steps move
/// forward, so the next answer is usually a few points further on, in
/// memory the last step just touched. A step back searches afresh.
#[derive(Clone, Copy)]
struct Cursor {
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
    fn seek(&mut self, points: &[(i64, f64)], t: i64) -> usize {
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

impl Evaluator<'_> {
    /// A vector must not hold two elements with one label set. A node
    /// usually gives the same label sets in the same order at every step;
    /// those are checked once.
    fn unique(&mut self, node: &Expr, v: &Value) -> Result<(), QueryError> {
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

#[cfg(test)]
mod tests {
    use super::Cursor;

    /// A cursor answers as a binary search does, whichever way and however
    /// far the times move.
    #[test]
    fn cursor_agrees_with_search() {
        let points: Vec<(i64, f64)> = (0..500).map(|i| (i * 15 + (i % 7), 0.0)).collect();
        let mut seed = 42u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
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
