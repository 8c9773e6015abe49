//! The rule side of the server: rule files from `prometheus.yml`, the
//! rule manager that evaluates them, and the notifier that sends their
//! alerts to the Alertmanagers under `alerting`.
//!
//! A (re)load is two steps so a bad rule file changes nothing:
//! [`Ruler::prepare`] reads and checks everything, [`Ruler::apply`] puts it
//! in force.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use config::Config;
use model::Labels;
use rules::group::{Env, Group, Notify};
use rules::manager::{Defaults, Manager, ManagerOptions};
use rules::notifier::{Notifier, Target};

/// The rules Watchfire evaluates on its embedded default configuration:
/// its own health, so a fresh install alerts on what it watches.
pub const DEFAULT_RULES: &str = r#"groups:
  - name: watchfire
    rules:
      - alert: TargetDown
        expr: up == 0
        for: 5m
        labels:
          severity: warning
        annotations:
          summary: "Target {{ $labels.instance }} of job {{ $labels.job }} is down"
          description: "Scrapes of {{ $labels.instance }} have failed for 5 minutes."
      - alert: RuleEvaluationFailing
        expr: increase(prometheus_rule_evaluation_failures_total[5m]) > 0
        labels:
          severity: warning
        annotations:
          summary: "Rules of {{ $labels.rule_group }} fail to evaluate"
      - alert: AlertNotificationsFailing
        expr: sum(increase(prometheus_notifications_errors_total[5m])) > 0
        labels:
          severity: warning
        annotations:
          summary: "Alerts are not reaching an Alertmanager"
"#;

/// Where the embedded rules say they come from.
const DEFAULT_RULES_NAME: &str = "<embedded default rules>";

/// Flags of the rule side.
#[derive(Debug, Clone)]
pub struct RulerOptions {
    pub manager: ManagerOptions,
    pub resend_delay: Duration,
    pub queue_capacity: usize,
    pub external_url: String,
    pub engine: promql::Options,
}

/// Everything a configuration needs, read and checked.
pub struct Prepared {
    groups: Vec<Group>,
    targets: Vec<Target>,
    relabel: Option<rules::notifier::Relabel>,
    external_labels: Labels,
    evaluation_interval: Duration,
}

pub struct Ruler {
    manager: tokio::sync::Mutex<Manager>,
    pub notifier: Notifier,
    opts: RulerOptions,
    store: Arc<store::Store>,
    /// Where relative rule-file paths start.
    config_dir: PathBuf,
    /// Without a configuration file, the embedded rules run.
    embedded: bool,
    /// The groups as `/metrics` last saw them.
    metric_views: parking_lot::Mutex<Vec<rules::manager::GroupView>>,
}

impl Ruler {
    pub fn new(store: Arc<store::Store>, config_file: Option<&Path>, opts: RulerOptions) -> Self {
        let notifier = Notifier::new(opts.queue_capacity);
        let env = env(
            &store,
            &opts,
            &notifier,
            Labels::empty(),
            Duration::from_secs(60),
        );
        let config_dir = config_file
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        Ruler {
            manager: tokio::sync::Mutex::new(Manager::new(env, opts.manager.clone())),
            notifier,
            opts,
            store,
            config_dir,
            embedded: config_file.is_none(),
            metric_views: Default::default(),
        }
    }

    /// Reads every rule file of `cfg` and the `alerting` section; nothing
    /// changes yet.
    pub fn prepare(&self, cfg: &Config) -> Result<Prepared, String> {
        prepare(cfg, &self.config_dir, self.embedded)
    }

    /// Puts a prepared configuration in force.
    pub async fn apply(&self, p: Prepared) {
        self.notifier.configure(
            p.targets,
            p.external_labels.clone(),
            self.opts.external_url.clone(),
            p.relabel,
        );
        let mut m = self.manager.lock().await;
        m.set_env(env(
            &self.store,
            &self.opts,
            &self.notifier,
            p.external_labels,
            p.evaluation_interval,
        ));
        let n = p.groups.len();
        m.update(p.groups).await;
        tracing::info!(groups = n, "rules loaded");
    }

    pub async fn views(&self) -> Vec<rules::manager::GroupView> {
        self.manager.lock().await.views()
    }

    /// Stops the groups, then sends what the notifier still holds (for at
    /// most 10 s).
    pub async fn shutdown(&self) {
        self.manager.lock().await.shutdown().await;
        self.notifier.drain(Duration::from_secs(10)).await;
    }

    /// Takes a fresh snapshot of the groups for [`Ruler::collect`].
    pub async fn refresh_views(&self) {
        let views = self.views().await;
        *self.metric_views.lock() = views;
    }

    /// The rule groups' metrics (from the last [`Ruler::refresh_views`])
    /// and the notifier's, under Prometheus's names and labels
    /// (`rules/group.go`, `notifier/notifier.go`).
    pub fn collect(&self, e: &mut model::metrics::Encoder) {
        use std::sync::atomic::Ordering;
        type PerGroup = (
            &'static str,
            &'static str,
            bool,
            fn(&rules::manager::GroupView) -> f64,
        );
        let per_group: [PerGroup; 9] = [
            ("prometheus_rule_group_last_duration_seconds", "The duration of the last rule group evaluation.", false, |g| g.evaluation_seconds),
            ("prometheus_rule_group_last_evaluation_timestamp_seconds", "The timestamp of the last rule group evaluation in seconds.", false, |g| g.last_evaluation as f64 / 1000.0),
            ("prometheus_rule_group_interval_seconds", "The interval of a rule group.", false, |g| g.interval.as_secs_f64()),
            ("prometheus_rule_group_rules", "The number of rules.", false, |g| g.rules.len() as f64),
            ("prometheus_rule_group_last_evaluation_samples", "The number of samples returned during the last rule group evaluation.", false, |g| g.last_samples as f64),
            ("prometheus_rule_group_iterations_total", "The total number of scheduled rule group evaluations, whether executed or missed.", true, |g| (g.counters.iterations + g.counters.missed) as f64),
            ("prometheus_rule_group_iterations_missed_total", "The total number of rule group evaluations missed due to slow rule group evaluation.", true, |g| g.counters.missed as f64),
            ("prometheus_rule_evaluations_total", "The total number of rule evaluations.", true, |g| g.counters.evaluations as f64),
            ("prometheus_rule_evaluation_failures_total", "The total number of rule evaluation failures.", true, |g| g.counters.failures as f64),
        ];
        let views = self.metric_views.lock();
        // Upstream's group key: file and name joined by ';'.
        let keys: Vec<String> = views
            .iter()
            .map(|g| format!("{};{}", g.file, g.name))
            .collect();
        for (name, help, counter, f) in per_group {
            let mut fam = if counter {
                e.counter(name, help)
            } else {
                e.gauge(name, help)
            };
            for (g, key) in views.iter().zip(&keys) {
                fam.sample(&[("rule_group", key)], f(g));
            }
        }
        drop(views);
        let n = &self.notifier;
        let c = n.counters();
        e.counter(
            "prometheus_notifications_dropped_total",
            "Total number of alerts dropped due to errors when sending to Alertmanager.",
        )
        .sample(&[], c.dropped.load(Ordering::Relaxed) as f64);
        e.gauge(
            "prometheus_notifications_queue_length",
            "The number of alert notifications in the queue.",
        )
        .sample(&[], n.queue_len() as f64);
        e.gauge(
            "prometheus_notifications_queue_capacity",
            "The capacity of the alert notifications queue.",
        )
        .sample(&[], n.capacity() as f64);
        e.gauge(
            "prometheus_notifications_alertmanagers_discovered",
            "The number of alertmanagers discovered and active.",
        )
        .sample(&[], n.alertmanagers().len() as f64);
        let by = c.by_alertmanager.lock();
        let mut f = e.counter(
            "prometheus_notifications_sent_total",
            "Total number of alerts sent.",
        );
        for (url, (sent, _)) in by.iter() {
            f.sample(&[("alertmanager", url)], *sent as f64);
        }
        let mut f = e.counter(
            "prometheus_notifications_errors_total",
            "Total number of sent alerts affected by errors.",
        );
        for (url, (_, errors)) in by.iter() {
            f.sample(&[("alertmanager", url)], *errors as f64);
        }
    }
}

/// Reads every rule file of `cfg` (relative to `config_dir`) and its
/// `alerting` section, as the server does at start and at reload, and as
/// `check config` does: a rule file named without a pattern that does not
/// exist is an error, as promtool says; a pattern may match nothing.
pub fn prepare(cfg: &Config, config_dir: &Path, embedded: bool) -> Result<Prepared, String> {
    let mut files = Vec::new();
    for pattern in &cfg.rule_files {
        let p = config_dir.join(pattern);
        let found = rules::file::glob(&p);
        if found.is_empty() && !model::glob::has_meta(&p.to_string_lossy()) {
            return Err(format!(
                "{:?} does not point to an existing file",
                p.display().to_string()
            ));
        }
        files.extend(found);
    }

    let defaults = Defaults {
        interval: cfg.global.evaluation_interval.0,
        query_offset: cfg
            .global
            .rule_query_offset
            .map(|d| d.0)
            .unwrap_or_default(),
    };
    let mut groups = Manager::load(&files, defaults).map_err(|errs| {
        let list: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        format!("loading rules: {}", list.join("; "))
    })?;
    if embedded {
        let path = Path::new(DEFAULT_RULES_NAME);
        let file = rules::parse(path, DEFAULT_RULES, rules::NameValidation::Utf8)
            .map_err(|e| format!("embedded rules: {e:?}"))?;
        for g in file.groups {
            let rg = Group::new(path, &g, defaults.interval, defaults.query_offset)?;
            groups.push(rg);
        }
    }
    let targets = rules::notifier::targets(cfg.alerting.as_ref());
    let relabel = alert_relabel(cfg.alerting.as_ref())?;
    Ok(Prepared {
        groups,
        targets,
        relabel,
        external_labels: Labels::from_pairs(cfg.global.external_labels.clone()),
        evaluation_interval: cfg.global.evaluation_interval.0,
    })
}

/// `alerting.alert_relabel_configs`, compiled; `None` when there are none.
fn alert_relabel(
    alerting: Option<&config::alerting::AlertingConfig>,
) -> Result<Option<rules::notifier::Relabel>, String> {
    let Some(a) = alerting else {
        return Ok(None);
    };
    let r = collector::relabel::Relabeler::new(&a.alert_relabel_configs)
        .map_err(|e| format!("alerting.alert_relabel_configs: {e}"))?;
    if r.is_empty() {
        return Ok(None);
    }
    Ok(Some(Arc::new(move |l: &Labels| r.process(l))))
}

fn env(
    store: &Arc<store::Store>,
    opts: &RulerOptions,
    notifier: &Notifier,
    external_labels: Labels,
    eval_interval: Duration,
) -> Env {
    let notify: Arc<dyn Notify> = Arc::new(notifier.clone());
    Env {
        engine: promql::Engine::new(promql::Options {
            default_subquery_step: eval_interval,
            ..opts.engine.clone()
        }),
        querier: store.clone(),
        appendable: store.clone(),
        external_labels,
        external_url: opts.external_url.clone(),
        notify: Some(notify),
        resend_delay: opts.resend_delay,
    }
}
