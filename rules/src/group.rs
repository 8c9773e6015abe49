//! A rule group at run time: its rules evaluated in order at one
//! timestamp, their output appended, staleness markers for series that
//! vanished, alerts handed to a [`Notify`], and the restore of `for` state
//! after a restart. Mirrors upstream `rules/group.go`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use model::sample::{is_stale_nan, stale_nan};
use model::{Appendable, Labels, Querier};
use promql::{Answer, Engine};

use crate::alerting::{Alert, AlertingRule};
use crate::expand::Context;
use crate::file::{self, RuleKind};
use crate::recording::RecordingRule;
use crate::status::Status;

/// How a rule runs its expression: at a time (Unix ms), giving a vector
/// (a scalar as one sample without labels).
pub type RuleQuery<'a> = dyn Fn(&promql::Expr, i64) -> Result<Vec<(Labels, f64)>, String> + 'a;

/// Where alerts go: the built-in alerter, external Alertmanagers, or both.
pub trait Notify: Send + Sync {
    /// Hands over the alerts a rule wants sent; `expr` is the rule's
    /// expression, for the generator URL.
    fn send(&self, expr: &str, alerts: Vec<Alert>);
}

/// What evaluation reads from and writes to.
#[derive(Clone)]
pub struct Env {
    pub engine: Engine,
    pub querier: Arc<dyn Querier>,
    pub appendable: Arc<dyn Appendable>,
    pub external_labels: Labels,
    pub external_url: String,
    pub notify: Option<Arc<dyn Notify>>,
    /// How often a firing alert is sent again (`--rules.alert.resend-delay`).
    pub resend_delay: Duration,
}

impl Env {
    /// Runs `expr` at `t` (ms) as a rule query: a vector, or a scalar as
    /// one sample without labels (upstream `EngineQueryFunc`).
    pub fn query(&self, expr: &promql::Expr, t: i64) -> Result<Vec<(Labels, f64)>, String> {
        query(&self.engine, self.querier.as_ref(), expr, t)
    }

    /// The template context for an evaluation at `t`: `query` runs there.
    fn context(&self, t: i64) -> Context {
        let engine = self.engine.clone();
        let querier = self.querier.clone();
        Context {
            time_ms: t,
            external_labels: self.external_labels.clone(),
            external_url: self.external_url.clone(),
            query: Some(Arc::new(move |q: &str| {
                let expr = promql::parse(q).map_err(|e| e.to_string())?;
                query(&engine, querier.as_ref(), &expr, t)
            })),
            funcs_cache: Default::default(),
        }
    }
}

fn query(
    engine: &Engine,
    q: &dyn Querier,
    expr: &promql::Expr,
    t: i64,
) -> Result<Vec<(Labels, f64)>, String> {
    let out = engine.instant(q, expr, t).map_err(|e| e.to_string())?;
    match out.answer {
        Answer::Vector { elems, .. } => Ok(elems.into_iter().map(|e| (e.labels, e.v)).collect()),
        Answer::Scalar { v, .. } => Ok(vec![(Labels::empty(), v)]),
        _ => Err("rule result is not a vector or scalar".into()),
    }
}

/// A recording or an alerting rule.
#[derive(Debug)]
pub enum RuleState {
    Record(RecordingRule),
    Alert(AlertingRule),
}

impl RuleState {
    pub fn name(&self) -> &str {
        match self {
            RuleState::Record(r) => &r.name,
            RuleState::Alert(a) => &a.name,
        }
    }

    pub fn status(&self) -> &Status {
        match self {
            RuleState::Record(r) => &r.status,
            RuleState::Alert(a) => &a.status,
        }
    }

    fn status_mut(&mut self) -> &mut Status {
        match self {
            RuleState::Record(r) => &mut r.status,
            RuleState::Alert(a) => &mut a.status,
        }
    }
}

/// Counters of a group's work, for the `prometheus_rule_*` metrics.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counters {
    pub iterations: u64,
    pub missed: u64,
    pub evaluations: u64,
    pub failures: u64,
}

/// A rule group ready to evaluate.
#[derive(Debug)]
pub struct Group {
    pub name: String,
    pub file: String,
    pub interval: Duration,
    pub query_offset: Duration,
    pub limit: u64,
    pub rules: Vec<RuleState>,
    /// The series each rule wrote in its last evaluation, by fingerprint.
    previous: Vec<HashMap<u64, Labels>>,
    pub last_evaluation: i64,
    pub evaluation_seconds: f64,
    pub last_samples: usize,
    pub counters: Counters,
    /// Series of a predecessor's rules that did not carry over: marked
    /// stale at the first evaluation (upstream `staleSeries`).
    pub(crate) stale_pending: Vec<Labels>,
}

impl Group {
    /// Builds a group of `file`, with the global interval and query offset
    /// where the group names none.
    pub fn new(
        file: &Path,
        g: &file::Group,
        default_interval: Duration,
        default_offset: Duration,
    ) -> Result<Self, String> {
        let mut rules = Vec::with_capacity(g.rules.len());
        for r in &g.rules {
            rules.push(match &r.kind {
                RuleKind::Record(n) => RuleState::Record(RecordingRule::new(r, n, &g.labels)?),
                RuleKind::Alert(n) => RuleState::Alert(AlertingRule::new(r, n, &g.labels)?),
            });
        }
        let interval = g
            .interval
            .filter(|d| !d.is_zero())
            .unwrap_or(default_interval);
        Ok(Group {
            name: g.name.clone(),
            file: file.display().to_string(),
            interval,
            query_offset: g.query_offset.unwrap_or(default_offset),
            limit: g.limit,
            previous: rules.iter().map(|_| HashMap::new()).collect(),
            rules,
            last_evaluation: 0,
            evaluation_seconds: 0.0,
            last_samples: 0,
            counters: Counters::default(),
            stale_pending: Vec::new(),
        })
    }

    /// Upstream's group key, `file;name`.
    pub fn key(&self) -> String {
        format!("{};{}", self.file, self.name)
    }

    /// The group's offset within its interval, in nanoseconds: upstream
    /// hashes the labels `{file, name}` (xxhash64 of their encoding as
    /// `labels.Labels` holds it: each string after its length, one byte
    /// below 255, else 255 and three bytes little-endian) so groups spread
    /// over the interval and keep their phase across restarts.
    pub fn offset_nanos(&self) -> u64 {
        let mut b = Vec::with_capacity(self.file.len() + self.name.len() + 24);
        for s in ["file", self.file.as_str(), "name", self.name.as_str()] {
            let n = s.len();
            if n < 255 {
                b.push(n as u8);
            } else {
                b.extend_from_slice(&[255, n as u8, (n >> 8) as u8, (n >> 16) as u8]);
            }
            b.extend_from_slice(s.as_bytes());
        }
        let interval = self.interval.as_nanos().max(1) as u64;
        xxhash_rust::xxh64::xxh64(&b, 0) % interval
    }

    /// The evaluation time at or before `now_nanos` (Unix nanoseconds):
    /// a multiple of the interval plus the group's offset.
    pub fn eval_timestamp(&self, now_nanos: i64) -> i64 {
        let offset = self.offset_nanos() as i64;
        let interval = self.interval.as_nanos().max(1) as i64;
        let adj = now_nanos - offset;
        adj - adj.rem_euclid(interval) + offset
    }

    /// Evaluates every rule at `ts` (Unix ms), in order; each rule's output
    /// is committed before the next rule runs, so later rules see it.
    pub fn eval(&mut self, ts: i64, env: &Env) {
        let start = Instant::now();
        let offset = self.query_offset.as_millis() as i64;
        let interval = self.interval.as_millis() as i64;
        let resend = env.resend_delay.as_millis() as i64;
        let q = |e: &promql::Expr, t: i64| env.query(e, t);
        let mut samples = 0;
        self.counters.iterations += 1;
        let ctx = env.context(ts);
        for i in 0..self.rules.len() {
            let rule_start = Instant::now();
            self.counters.evaluations += 1;
            let out = match &mut self.rules[i] {
                RuleState::Record(r) => r.eval(ts, offset, &q, self.limit),
                RuleState::Alert(a) => a.eval(ts, offset, &q, &ctx, self.limit),
            };
            let rule = &mut self.rules[i];
            let status = rule.status_mut();
            status.last_evaluation = ts;
            match out {
                Err(e) => {
                    status.set_err(e);
                    self.counters.failures += 1;
                }
                Ok(vector) => {
                    status.set_ok();
                    samples += vector.len();
                    if let (RuleState::Alert(a), Some(n)) = (&mut *rule, &env.notify) {
                        let alerts = a.to_send(ts, resend, interval);
                        if !alerts.is_empty() {
                            n.send(&a.expr_text, alerts);
                        }
                    }
                    if let Err(e) = self.write(i, ts - offset, vector, env) {
                        self.rules[i].status_mut().set_err(e);
                    }
                }
            }
            self.rules[i].status_mut().evaluation_seconds = rule_start.elapsed().as_secs_f64();
        }
        if !self.stale_pending.is_empty() {
            let mut app = env.appendable.appender();
            for l in self.stale_pending.drain(..) {
                let _ = app.append(&l, ts - offset, stale_nan());
            }
            // A series a rule wrote again since is newer; its marker is
            // refused as out of order, as upstream ignores it.
            let _ = app.commit();
        }
        self.last_samples = samples;
        self.last_evaluation = ts;
        self.evaluation_seconds = start.elapsed().as_secs_f64();
    }

    /// Appends a rule's output at `t` and staleness markers for the series
    /// it wrote last time but not now. Errors writing markers are ignored,
    /// as upstream ignores them.
    fn write(
        &mut self,
        i: usize,
        t: i64,
        vector: Vec<(Labels, f64)>,
        env: &Env,
    ) -> Result<(), String> {
        let mut app = env.appendable.appender();
        let mut now = HashMap::with_capacity(vector.len());
        let mut first_err = None;
        for (l, v) in vector {
            if let Err(e) = app.append(&l, t, v) {
                first_err.get_or_insert(e.to_string());
                continue;
            }
            now.insert(l.fingerprint(), l);
        }
        let summary = app.commit().map_err(|e| e.to_string())?;
        let gone: Vec<&Labels> = self.previous[i]
            .iter()
            .filter(|(h, _)| !now.contains_key(h))
            .map(|(_, l)| l)
            .collect();
        if !gone.is_empty() {
            let mut app = env.appendable.appender();
            for l in gone {
                let _ = app.append(l, t, stale_nan());
            }
            let _ = app.commit();
        }
        self.previous[i] = now;
        if let Some(e) = first_err {
            return Err(e);
        }
        if summary.out_of_order > 0 {
            return Err("out of order sample".into());
        }
        if summary.duplicate > 0 {
            return Err("duplicate sample for timestamp".into());
        }
        Ok(())
    }

    /// Hands over the series rule `i` wrote last (for a successor group).
    pub(crate) fn take_previous(&mut self, i: usize) -> HashMap<u64, Labels> {
        std::mem::take(&mut self.previous[i])
    }

    pub(crate) fn set_previous(&mut self, i: usize, series: HashMap<u64, Labels>) {
        self.previous[i] = series;
    }

    /// Hands over every series the group's rules wrote last.
    pub(crate) fn take_all_previous(&mut self) -> Vec<Labels> {
        self.previous
            .iter_mut()
            .flat_map(|p| std::mem::take(p).into_values())
            .collect()
    }

    /// Writes staleness markers at `ts` for every series the group wrote
    /// last, when it stops or leaves the configuration.
    pub fn mark_stale(&mut self, ts: i64, env: &Env) {
        let mut app = env.appendable.appender();
        for prev in &mut self.previous {
            for l in prev.values() {
                let _ = app.append(l, ts, stale_nan());
            }
            prev.clear();
        }
        let _ = app.commit();
    }

    /// Marks every alerting rule as restored without reading anything (a
    /// group that was not running before, or unit tests).
    pub fn set_restored(&mut self) {
        for r in &mut self.rules {
            if let RuleState::Alert(a) = r {
                a.restored = true;
            }
        }
    }

    /// Restores `for` state from `ALERTS_FOR_STATE` after a restart
    /// (upstream `RestoreForState`): series older than `outage_tolerance`
    /// are ignored, and an alert close to firing gets at least `grace`.
    pub fn restore_for_state(
        &mut self,
        ts: i64,
        env: &Env,
        outage_tolerance: Duration,
        grace: Duration,
    ) {
        let mint = ts - outage_tolerance.as_millis() as i64;
        let grace_ms = grace.as_millis() as i64;
        for r in &mut self.rules {
            let RuleState::Alert(a) = r else { continue };
            if a.hold_ms < grace_ms {
                a.restored = true;
                continue;
            }
            let series = match env.querier.select(&a.for_state_matchers(), mint, ts) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(group = %self.name, rule = %a.name, error = %e, "restoring alert state failed");
                    a.restored = true;
                    continue;
                }
            };
            let mut last: HashMap<Labels, (i64, f64)> = HashMap::new();
            for s in series {
                let Ok(s) = s else { continue };
                if let Some(p) = s.samples.last() {
                    let mut b = s.labels.builder();
                    b.del(model::METRIC_NAME);
                    last.insert(b.labels(), (p.t, p.v));
                }
            }
            let updates: Vec<(u64, i64)> = a
                .active
                .iter()
                .filter_map(|(h, alert)| {
                    let (t, v) = *last.get(&alert.labels)?;
                    if is_stale_nan(v) {
                        return None;
                    }
                    Some((*h, a.restored_active_at(ts, t, v, grace_ms)))
                })
                .collect();
            for (h, at) in updates {
                if let Some(alert) = a.active.get_mut(&h) {
                    alert.active_at = at;
                }
            }
            a.restored = true;
        }
    }
}
