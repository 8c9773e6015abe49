//! The rule manager: one task per group, ticking at the group's
//! evaluation times (upstream `rules/manager.go` and `Group.run`).
//!
//! - A group evaluates at multiples of its interval plus its offset; a
//!   tick that comes too late counts the iterations it missed.
//! - At startup, after a group's second evaluation, alerting rules restore
//!   their `for` state from `ALERTS_FOR_STATE`.
//! - A reload loads every rule file first and changes nothing if any is
//!   bad. A group whose definition is unchanged keeps running; a changed
//!   group takes over its predecessor's alerts and series; a removed
//!   group marks its series stale.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::RwLock;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::alerting::{Alert, State};
use crate::file::{self, Options, RuleError};
use crate::group::{Counters, Env, Group, RuleState};
use crate::status::Status;

/// Timing of restores and re-sends.
#[derive(Debug, Clone)]
pub struct ManagerOptions {
    /// How old an `ALERTS_FOR_STATE` sample may be and still restore
    /// (`--rules.alert.for-outage-tolerance`).
    pub outage_tolerance: Duration,
    /// The least time an alert waits to fire after a restore
    /// (`--rules.alert.for-grace-period`).
    pub grace_period: Duration,
}

impl Default for ManagerOptions {
    fn default() -> Self {
        ManagerOptions {
            outage_tolerance: Duration::from_secs(3600),
            grace_period: Duration::from_secs(600),
        }
    }
}

/// What the API shows of a rule.
#[derive(Debug, Clone)]
pub struct RuleView {
    pub name: String,
    pub query: String,
    pub alerting: bool,
    pub labels: Vec<(String, String)>,
    pub annotations: Vec<(String, String)>,
    pub for_: Duration,
    pub keep_firing_for: Duration,
    pub status: Status,
    pub state: State,
    pub alerts: Vec<Alert>,
}

/// What the API shows of a group, refreshed after every evaluation.
#[derive(Debug, Clone)]
pub struct GroupView {
    pub name: String,
    pub file: String,
    pub interval: Duration,
    pub limit: u64,
    pub query_offset: Duration,
    pub last_evaluation: i64,
    pub evaluation_seconds: f64,
    pub last_samples: usize,
    pub counters: Counters,
    pub rules: Vec<RuleView>,
}

impl Group {
    /// A snapshot for the API.
    pub fn view(&self) -> GroupView {
        GroupView {
            name: self.name.clone(),
            file: self.file.clone(),
            interval: self.interval,
            limit: self.limit,
            query_offset: self.query_offset,
            last_evaluation: self.last_evaluation,
            evaluation_seconds: self.evaluation_seconds,
            last_samples: self.last_samples,
            counters: self.counters,
            rules: self
                .rules
                .iter()
                .map(|r| match r {
                    RuleState::Record(r) => RuleView {
                        name: r.name.clone(),
                        query: r.expr_text.clone(),
                        alerting: false,
                        labels: r.labels.clone().into_iter().collect(),
                        annotations: Vec::new(),
                        for_: Duration::ZERO,
                        keep_firing_for: Duration::ZERO,
                        status: r.status.clone(),
                        state: State::Inactive,
                        alerts: Vec::new(),
                    },
                    RuleState::Alert(a) => RuleView {
                        name: a.name.clone(),
                        query: a.expr_text.clone(),
                        alerting: true,
                        labels: a.labels.clone().into_iter().collect(),
                        annotations: a.annotations.clone().into_iter().collect(),
                        for_: Duration::from_millis(a.hold_ms as u64),
                        keep_firing_for: Duration::from_millis(a.keep_firing_for_ms as u64),
                        status: a.status.clone(),
                        state: a.state(),
                        alerts: a.alerts().into_iter().cloned().collect(),
                    },
                })
                .collect(),
        }
    }

    /// Takes over a predecessor's state (upstream `CopyState`): each rule
    /// gets the series and alerts of the old rule with the same name and
    /// labels.
    pub fn copy_state(&mut self, from: &mut Group) {
        self.last_evaluation = from.last_evaluation;
        self.evaluation_seconds = from.evaluation_seconds;
        self.counters = from.counters;
        let key = |r: &RuleState| -> String {
            match r {
                RuleState::Record(r) => format!("{}{:?}", r.name, r.labels),
                RuleState::Alert(a) => format!("{}{:?}", a.name, a.labels),
            }
        };
        let mut by_key: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, r) in from.rules.iter().enumerate() {
            by_key.entry(key(r)).or_default().push(i);
        }
        for i in 0..self.rules.len() {
            let Some(idx) = by_key.get_mut(&key(&self.rules[i])) else {
                continue;
            };
            if idx.is_empty() {
                continue;
            }
            let fi = idx.remove(0);
            self.set_previous(i, from.take_previous(fi));
            if let (RuleState::Alert(new), RuleState::Alert(old)) =
                (&mut self.rules[i], &mut from.rules[fi])
            {
                new.active = std::mem::take(&mut old.active);
                new.restored = old.restored;
            }
        }
        // Series of old rules that did not carry over go stale at the
        // first evaluation.
        self.stale_pending.extend(from.take_all_previous());
    }

    /// The group's definition as upstream's `Group.Equals` sees it: no
    /// line numbers, expressions as parsed.
    pub fn definition(&self) -> String {
        let mut s = format!(
            "{}|{}|{:?}|{:?}|{}",
            self.file, self.name, self.interval, self.query_offset, self.limit
        );
        for r in &self.rules {
            match r {
                RuleState::Record(r) => s.push_str(&format!(
                    "|record {} {} {:?}",
                    r.name, r.expr_text, r.labels
                )),
                RuleState::Alert(a) => s.push_str(&format!(
                    "|alert {} {} {} {} {:?} {:?}",
                    a.name, a.expr_text, a.hold_ms, a.keep_firing_for_ms, a.labels, a.annotations
                )),
            }
        }
        s
    }
}

struct Running {
    key: String,
    /// The definition it runs, to tell whether a reload changes it.
    source: String,
    interval: Duration,
    query_offset: Duration,
    view: Arc<RwLock<GroupView>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<Group>,
}

/// Runs rule groups on the Tokio runtime.
pub struct Manager {
    opts: ManagerOptions,
    env: Arc<RwLock<Env>>,
    running: Vec<Running>,
    /// False until the first load: groups then restore `for` state.
    started: bool,
    /// Removed groups waiting to mark their series stale.
    stale_tasks: Vec<JoinHandle<()>>,
}

/// The defaults a rule file's groups take from `prometheus.yml`.
#[derive(Debug, Clone, Copy)]
pub struct Defaults {
    pub interval: Duration,
    pub query_offset: Duration,
}

impl Manager {
    pub fn new(env: Env, opts: ManagerOptions) -> Self {
        Manager {
            opts,
            env: Arc::new(RwLock::new(env)),
            running: Vec::new(),
            started: false,
            stale_tasks: Vec::new(),
        }
    }

    /// Replaces the evaluation environment (external labels and URL after
    /// a reload); groups use it from their next evaluation.
    pub fn set_env(&self, env: Env) {
        *self.env.write() = env;
    }

    /// Loads every file; all or nothing.
    pub fn load(files: &[PathBuf], defaults: Defaults) -> Result<Vec<Group>, Vec<RuleError>> {
        let mut out = Vec::new();
        let mut errs = Vec::new();
        // A file matched by two patterns is one set of groups, as upstream
        // keys groups by file and name.
        let mut seen = std::collections::HashSet::new();
        for f in files {
            if !seen.insert(f.clone()) {
                continue;
            }
            match file::load(f, Options::default()) {
                Ok(rf) => {
                    // Upstream loads duplicate rules too; `check rules`
                    // reports them, and so does the log.
                    for (name, labels) in file::duplicates(&rf) {
                        tracing::warn!(file = %f.display(), rule = %name, ?labels, "duplicate rule: the same name and labels appear more than once");
                    }
                    for g in rf.groups {
                        match Group::new(f, &g, defaults.interval, defaults.query_offset) {
                            Ok(rg) => out.push(rg),
                            Err(e) => errs.push(RuleError {
                                file: f.clone(),
                                line: Some(g.line),
                                reason: e,
                            }),
                        }
                    }
                }
                Err(e) => errs.extend(e),
            }
        }
        if errs.is_empty() {
            Ok(out)
        } else {
            Err(errs)
        }
    }

    /// Puts `groups` (from [`Manager::load`]) in force.
    pub async fn update(&mut self, groups: Vec<Group>) {
        let restore = !self.started;
        self.started = true;
        let mut old: HashMap<String, Running> =
            self.running.drain(..).map(|r| (r.key.clone(), r)).collect();
        let mut next = Vec::with_capacity(groups.len());
        for mut g in groups {
            let key = g.key();
            let source = g.definition();
            if let Some(r) = old.remove(&key) {
                if r.source == source {
                    next.push(r);
                    continue;
                }
                let _ = r.stop.send(true);
                if let Ok(mut prev) = r.task.await {
                    g.copy_state(&mut prev);
                }
            }
            if !restore {
                g.set_restored();
            }
            next.push(self.start(key, source, g, restore));
        }
        // Groups that are gone: their series go stale two intervals after
        // they stopped, unless a renamed rule has written them since (its
        // newer samples make the markers out of order), as upstream.
        for (_, r) in old {
            let _ = r.stop.send(true);
            let stopped = model::time::now_ms();
            if let Ok(mut g) = r.task.await {
                let env = self.env.clone();
                let at = stopped - r.query_offset.as_millis() as i64;
                let wait = r.interval * 2;
                self.stale_tasks.push(tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    let env = env.read().clone();
                    let _ = tokio::task::spawn_blocking(move || g.mark_stale(at, &env)).await;
                }));
            }
        }
        self.stale_tasks.retain(|t| !t.is_finished());
        self.running = next;
    }

    fn start(&self, key: String, source: String, g: Group, restore: bool) -> Running {
        let (interval, query_offset) = (g.interval, g.query_offset);
        let view = Arc::new(RwLock::new(g.view()));
        let (stop, stop_rx) = watch::channel(false);
        let restore = restore.then_some((self.opts.outage_tolerance, self.opts.grace_period));
        let task = tokio::spawn(run(g, self.env.clone(), view.clone(), stop_rx, restore));
        Running {
            key,
            source,
            interval,
            query_offset,
            view,
            stop,
            task,
        }
    }

    /// Snapshots of every group, in the order of the rule files.
    pub fn views(&self) -> Vec<GroupView> {
        self.running.iter().map(|r| r.view.read().clone()).collect()
    }

    /// Stops every group after its current evaluation, leaving its series
    /// as they are (a restart resumes them).
    pub async fn shutdown(&mut self) {
        for t in self.stale_tasks.drain(..) {
            t.abort();
        }
        for r in self.running.drain(..) {
            let _ = r.stop.send(true);
            let _ = r.task.await;
        }
    }
}

fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// A group's task: evaluate at each evaluation time until told to stop,
/// then hand the group back.
async fn run(
    mut g: Group,
    env: Arc<RwLock<Env>>,
    view: Arc<RwLock<GroupView>>,
    mut stop: watch::Receiver<bool>,
    restore: Option<(Duration, Duration)>,
) -> Group {
    let interval = g.interval.as_nanos().max(1) as i64;
    let mut at = g.eval_timestamp(now_nanos()) + interval;
    let mut evaluations = 0u64;
    loop {
        let wait = at - now_nanos();
        if wait > 0 {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_nanos(wait as u64)) => {}
                _ = stop.changed() => return g,
            }
        }
        if *stop.borrow() {
            return g;
        }
        let e = env.read().clone();
        let ts = at.div_euclid(1_000_000);
        let restore_now = evaluations == 1 && restore.is_some();
        let (back, v) = match tokio::task::spawn_blocking(move || {
            g.eval(ts, &e);
            if restore_now {
                if let Some((tolerance, grace)) = restore {
                    g.restore_for_state(model::time::now_ms(), &e, tolerance, grace);
                }
            }
            let v = g.view();
            (g, v)
        })
        .await
        {
            Ok(r) => r,
            // Evaluation does not panic on input; if it did, the group
            // cannot go on.
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
        g = back;
        *view.write() = v;
        evaluations += 1;
        at += interval;
        let late = now_nanos() - at;
        if late >= interval {
            let missed = late / interval;
            at += missed * interval;
            g.counters.missed += missed as u64;
        }
    }
}
