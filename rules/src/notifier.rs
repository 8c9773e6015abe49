//! Sending alerts to external Alertmanagers over API v2 (upstream
//! `notifier/notifier.go`): alerts get the external labels, wait in a
//! bounded queue whose overflow drops the oldest (counted), and go out in
//! batches of up to 256 to every Alertmanager under
//! `alerting.alertmanagers[].static_configs`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use model::Labels;
use parking_lot::Mutex;
use serde::Deserialize;

use crate::alerting::Alert;
use crate::group::Notify;

/// Most alerts in one request, as upstream.
pub const MAX_BATCH: usize = 256;

/// The `alerting` section of `prometheus.yml`, as far as sending goes.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct AlertingConfig {
    #[serde(default)]
    pub alertmanagers: Vec<AlertmanagerConfig>,
    #[serde(default)]
    pub alert_relabel_configs: Vec<serde_yaml::Value>,
}

/// One `alertmanagers` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AlertmanagerConfig {
    #[serde(default)]
    pub static_configs: Vec<StaticConfig>,
    #[serde(default = "default_scheme")]
    pub scheme: String,
    #[serde(default)]
    pub path_prefix: String,
    #[serde(default)]
    pub timeout: Option<String>,
    #[serde(default)]
    pub api_version: Option<String>,
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_yaml::Value>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StaticConfig {
    #[serde(default)]
    pub targets: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

fn default_scheme() -> String {
    "http".into()
}

/// An Alertmanager to send to.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// `http://host:port/prefix/api/v2/alerts`.
    pub url: String,
    pub timeout: Duration,
}

/// Reads the `alerting` section; errors name the problem.
pub fn targets(alerting: Option<&serde_yaml::Value>) -> Result<Vec<Target>, String> {
    let Some(v) = alerting else {
        return Ok(Vec::new());
    };
    let cfg: AlertingConfig =
        serde_yaml::from_value(v.clone()).map_err(|e| format!("alerting: {e}"))?;
    if !cfg.alert_relabel_configs.is_empty() {
        tracing::warn!(
            "alerting.alert_relabel_configs is not applied yet; alerts are sent unrelabelled"
        );
    }
    let mut out = Vec::new();
    for (i, am) in cfg.alertmanagers.iter().enumerate() {
        match am.api_version.as_deref() {
            None | Some("v2") => {}
            Some(v) => {
                return Err(format!(
                    "alerting.alertmanagers[{i}]: expected Alertmanager api version to be one of [v2] but got {v}"
                ))
            }
        }
        if am.scheme != "http" {
            return Err(format!(
                "alerting.alertmanagers[{i}]: scheme {:?} is not supported yet; use http",
                am.scheme
            ));
        }
        for k in am.other.keys() {
            if k != "follow_redirects" && k != "enable_http2" && k != "relabel_configs" {
                return Err(format!(
                    "alerting.alertmanagers[{i}]: {k} is not supported yet"
                ));
            }
        }
        let timeout = match &am.timeout {
            None => Duration::from_secs(10),
            Some(t) => model::time::parse_duration(t)
                .map_err(|e| format!("alerting.alertmanagers[{i}].timeout: {e}"))?,
        };
        let prefix = am.path_prefix.trim_end_matches('/');
        for sc in &am.static_configs {
            for t in &sc.targets {
                out.push(Target {
                    url: format!("{}://{t}{prefix}/api/v2/alerts", am.scheme),
                    timeout,
                });
            }
        }
    }
    Ok(out)
}

/// Counters for `watchfire_notifications_*`.
#[derive(Debug, Default)]
pub struct Counters {
    pub dropped: AtomicU64,
    pub sent: AtomicU64,
    pub errors: AtomicU64,
}

struct Shared {
    queue: Mutex<VecDeque<serde_json::Value>>,
    targets: Mutex<Vec<Target>>,
    wake: tokio::sync::Notify,
    capacity: usize,
    external_labels: Mutex<Labels>,
    external_url: Mutex<String>,
    counters: Counters,
}

/// Queues alerts for the Alertmanagers and sends them from a task.
#[derive(Clone)]
pub struct Notifier {
    shared: Arc<Shared>,
}

impl Notifier {
    /// A notifier with a queue of `capacity` alerts; call [`Notifier::run`]
    /// on a runtime to send.
    pub fn new(capacity: usize) -> Self {
        Notifier {
            shared: Arc::new(Shared {
                queue: Mutex::new(VecDeque::new()),
                targets: Mutex::new(Vec::new()),
                wake: tokio::sync::Notify::new(),
                capacity: capacity.max(1),
                external_labels: Mutex::new(Labels::empty()),
                external_url: Mutex::new(String::new()),
                counters: Counters::default(),
            }),
        }
    }

    /// Applies a (re)loaded configuration.
    pub fn configure(&self, targets: Vec<Target>, external_labels: Labels, external_url: String) {
        *self.shared.targets.lock() = targets;
        *self.shared.external_labels.lock() = external_labels;
        *self.shared.external_url.lock() = external_url;
        self.shared.wake.notify_one();
    }

    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    pub fn queue_len(&self) -> usize {
        self.shared.queue.lock().len()
    }

    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }

    pub fn alertmanagers(&self) -> Vec<String> {
        self.shared
            .targets
            .lock()
            .iter()
            .map(|t| t.url.clone())
            .collect()
    }

    /// Sends queued alerts until the task is dropped.
    pub async fn run(self) {
        let connector = HttpConnector::new();
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector);
        loop {
            let batch: Vec<serde_json::Value> = {
                let mut q = self.shared.queue.lock();
                let n = q.len().min(MAX_BATCH);
                q.drain(..n).collect()
            };
            if batch.is_empty() {
                self.shared.wake.notified().await;
                continue;
            }
            let targets = self.shared.targets.lock().clone();
            if targets.is_empty() {
                continue;
            }
            let body = Bytes::from(serde_json::to_vec(&batch).unwrap_or_default());
            // Every Alertmanager gets the batch at the same time.
            let mut set = tokio::task::JoinSet::new();
            for (i, t) in targets.iter().enumerate() {
                let (client, t, body) = (client.clone(), t.clone(), body.clone());
                set.spawn(async move { (i, post(&client, &t, body).await) });
            }
            let mut results = vec![Err("send task failed".to_string()); targets.len()];
            while let Some(done) = set.join_next().await {
                if let Ok((i, r)) = done {
                    results[i] = r;
                }
            }
            for (t, r) in targets.iter().zip(results) {
                match r {
                    Ok(()) => {
                        self.shared
                            .counters
                            .sent
                            .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    }
                    Err(e) => {
                        self.shared
                            .counters
                            .errors
                            .fetch_add(batch.len() as u64, Ordering::Relaxed);
                        tracing::error!(alertmanager = %t.url, count = batch.len(), error = %e, "error sending alerts");
                    }
                }
            }
        }
    }

    fn enqueue(&self, alerts: Vec<serde_json::Value>) {
        let mut q = self.shared.queue.lock();
        let mut alerts = alerts;
        // Only the newest fit when a batch is larger than the queue.
        if alerts.len() > self.shared.capacity {
            let drop = alerts.len() - self.shared.capacity;
            alerts.drain(..drop);
            self.shared
                .counters
                .dropped
                .fetch_add(drop as u64, Ordering::Relaxed);
        }
        let over = (q.len() + alerts.len()).saturating_sub(self.shared.capacity);
        if over > 0 {
            q.drain(..over);
            self.shared
                .counters
                .dropped
                .fetch_add(over as u64, Ordering::Relaxed);
            tracing::warn!(
                dropped = over,
                "alert notification queue full, dropping the oldest alerts"
            );
        }
        q.extend(alerts);
        drop(q);
        self.shared.wake.notify_one();
    }
}

impl Notify for Notifier {
    fn send(&self, expr: &str, alerts: Vec<Alert>) {
        let ext = self.shared.external_labels.lock().clone();
        let url = self.shared.external_url.lock().clone();
        let generator = format!(
            "{url}/graph?g0.expr={}&g0.tab=1",
            template::query_escape(expr)
        );
        let payload = alerts
            .iter()
            .map(|a| payload(a, &ext, &generator))
            .collect();
        self.enqueue(payload);
    }
}

/// One alert as Alertmanager's API v2 takes it (upstream
/// `alertsToOpenAPIAlerts`): external labels are added where the alert
/// has no label of that name; `endsAt` is the resolution time, or how
/// long the alert stays valid without news.
pub fn payload(a: &Alert, external: &Labels, generator_url: &str) -> serde_json::Value {
    let mut labels: serde_json::Map<String, serde_json::Value> = a
        .labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.into()))
        .collect();
    for (k, v) in external.iter() {
        labels.entry(k.to_string()).or_insert_with(|| v.into());
    }
    let annotations: serde_json::Map<String, serde_json::Value> = a
        .annotations
        .iter()
        .map(|(k, v)| (k.to_string(), v.into()))
        .collect();
    let ends = a.resolved_at.unwrap_or(a.valid_until);
    serde_json::json!({
        "labels": labels,
        "annotations": annotations,
        "startsAt": rfc3339_ms(a.fired_at),
        "endsAt": rfc3339_ms(ends),
        "generatorURL": generator_url,
    })
}

/// RFC 3339 with milliseconds, as Go's `strfmt.DateTime` writes it.
fn rfc3339_ms(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => "0001-01-01T00:00:00.000Z".into(),
    }
}

async fn post(
    client: &Client<HttpConnector, Full<Bytes>>,
    t: &Target,
    body: Bytes,
) -> Result<(), String> {
    let req = hyper::Request::post(&t.url)
        .header("content-type", "application/json")
        .header(
            "user-agent",
            concat!("Watchfire/", env!("CARGO_PKG_VERSION")),
        )
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    let resp = tokio::time::timeout(t.timeout, client.request(req))
        .await
        .map_err(|_| format!("timed out after {:?}", t.timeout))?
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let _ = resp.into_body().collect().await;
    if !status.is_success() {
        return Err(format!("bad response status {status}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::State;

    fn alert(i: usize) -> Alert {
        Alert {
            labels: Labels::from_pairs([("alertname", format!("A{i}")), ("dc", "x".into())]),
            annotations: Labels::from_pairs([("summary", "s")]),
            state: State::Firing,
            value: 1.0,
            active_at: 0,
            fired_at: 1_000,
            resolved_at: None,
            last_sent_at: Some(1_000),
            valid_until: 241_000,
            keep_firing_since: 0,
        }
    }

    #[test]
    fn payload_shape() {
        let p = payload(
            &alert(1),
            &Labels::from_pairs([("dc", "y"), ("region", "eu")]),
            "http://g",
        );
        assert_eq!(p["labels"]["dc"], "x", "the alert's own label wins");
        assert_eq!(p["labels"]["region"], "eu");
        assert_eq!(p["annotations"]["summary"], "s");
        assert_eq!(p["startsAt"], "1970-01-01T00:00:01.000Z");
        assert_eq!(p["endsAt"], "1970-01-01T00:04:01.000Z");
        assert_eq!(p["generatorURL"], "http://g");
    }

    #[test]
    fn full_queue_drops_the_oldest() {
        let n = Notifier::new(3);
        n.send("up == 0", (0..2).map(alert).collect());
        n.send("up == 0", (2..4).map(alert).collect());
        assert_eq!(n.queue_len(), 3);
        assert_eq!(n.counters().dropped.load(Ordering::Relaxed), 1);
        let first = n.shared.queue.lock()[0]["labels"]["alertname"].clone();
        assert_eq!(first, "A1");
    }

    #[test]
    fn targets_from_config() {
        let v: serde_yaml::Value = serde_yaml::from_str(
            "alertmanagers:\n  - static_configs:\n      - targets: ['127.0.0.1:9093']\n    path_prefix: /am/\n    timeout: 5s\n",
        )
        .unwrap();
        let t = targets(Some(&v)).unwrap();
        assert_eq!(t[0].url, "http://127.0.0.1:9093/am/api/v2/alerts");
        assert_eq!(t[0].timeout, Duration::from_secs(5));
        let bad: serde_yaml::Value =
            serde_yaml::from_str("alertmanagers:\n  - api_version: v1\n").unwrap();
        assert!(targets(Some(&bad)).unwrap_err().contains("api version"));
    }
}
