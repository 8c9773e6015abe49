//! Sending alerts to external Alertmanagers over API v2 (upstream
//! `notifier/notifier.go`): alerts get the external labels, wait in a
//! bounded queue whose overflow drops the oldest (counted), and go out in
//! batches of up to 256 to every Alertmanager under
//! `alerting.alertmanagers[].static_configs`, over http or https with the
//! section's `http_config` keys (basic auth, authorization, OAuth2, TLS,
//! proxies, headers) through [`httpclient`].

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use httpclient::{Client, HttpConfig, Request};
use model::Labels;
use parking_lot::Mutex;

use crate::alerting::Alert;
use crate::group::Notify;

/// Most alerts in one request, as upstream.
pub const MAX_BATCH: usize = 256;

/// An Alertmanager to send to.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// `http://host:port/prefix/api/v2/alerts`.
    pub url: String,
    pub timeout: Duration,
    /// How to reach it; relative file paths already joined to the
    /// configuration's directory, and validated.
    pub http: HttpConfig,
}

/// The most of an Alertmanager's answer read; it says nothing we use.
const MAX_ANSWER: u64 = 1 << 20;

/// The Alertmanagers of an `alerting` section that [`config::parse`]
/// checked (relative file paths already joined to the configuration's
/// directory).
pub fn targets(alerting: Option<&config::alerting::AlertingConfig>) -> Vec<Target> {
    let alertmanagers = alerting.iter().flat_map(|a| &a.alertmanagers);
    alertmanagers
        .flat_map(|am| {
            let targets = am.static_configs.iter().flat_map(|s| &s.targets);
            targets.map(|t| Target {
                url: am.url(t),
                timeout: am.timeout.0,
                http: am.http.clone(),
            })
        })
        .collect()
}

/// Counters for the `prometheus_notifications_*` metrics.
#[derive(Debug, Default)]
pub struct Counters {
    /// Alerts dropped because a queue was full.
    pub dropped: AtomicU64,
    /// By Alertmanager URL: alerts sent (whether or not they arrived) and
    /// alerts that failed, as upstream counts `sent` and `errors`.
    pub by_alertmanager: Mutex<std::collections::BTreeMap<String, (u64, u64)>>,
}

/// Takes the alerts in process too (the built-in alerter), after
/// external labels and relabelling, as a remote Alertmanager gets them.
pub type Local = Arc<dyn model::AlertSink>;

/// Rewrites or drops an alert's labels (`alerting.alert_relabel_configs`).
pub type Relabel = Arc<dyn Fn(&Labels) -> Option<Labels> + Send + Sync>;

/// One Alertmanager's queue; its own task drains it, so a slow or
/// unreachable Alertmanager holds up no other (upstream `sendloop.go`).
struct Queue {
    target: Target,
    client: Client,
    alerts: Mutex<VecDeque<serde_json::Value>>,
    wake: tokio::sync::Notify,
    stopped: AtomicBool,
}

struct Shared {
    queues: Mutex<Vec<Arc<Queue>>>,
    capacity: usize,
    external_labels: Mutex<Labels>,
    external_url: Mutex<String>,
    relabel: Mutex<Option<Relabel>>,
    local: Mutex<Option<Local>>,
    counters: Counters,
}

/// Queues alerts for the Alertmanagers and sends them, one task per
/// Alertmanager.
#[derive(Clone)]
pub struct Notifier {
    shared: Arc<Shared>,
}

impl Notifier {
    /// A notifier whose queues hold `capacity` alerts each.
    pub fn new(capacity: usize) -> Self {
        Notifier {
            shared: Arc::new(Shared {
                queues: Mutex::new(Vec::new()),
                capacity: capacity.max(1),
                external_labels: Mutex::new(Labels::empty()),
                external_url: Mutex::new(String::new()),
                relabel: Mutex::new(None),
                local: Mutex::new(None),
                counters: Counters::default(),
            }),
        }
    }

    /// Applies a (re)loaded configuration. An Alertmanager that stays keeps
    /// its queue; a new one gets a send task (on the current Tokio runtime);
    /// one that is gone stops.
    pub fn configure(
        &self,
        targets: Vec<Target>,
        external_labels: Labels,
        external_url: String,
        relabel: Option<Relabel>,
    ) {
        *self.shared.external_labels.lock() = external_labels;
        *self.shared.external_url.lock() = external_url;
        *self.shared.relabel.lock() = relabel;
        let mut queues = self.shared.queues.lock();
        let mut next = Vec::with_capacity(targets.len());
        for t in targets {
            if let Some(i) = queues.iter().position(|q| q.target == t) {
                next.push(queues.remove(i));
                continue;
            }
            let client = match Client::new(&t.http) {
                Ok(c) => c,
                Err(e) => {
                    // Validated by `targets`; a file may have gone since.
                    tracing::error!(alertmanager = %httpclient::origin(&t.url), error = %e, "cannot reach this Alertmanager");
                    continue;
                }
            };
            let q = Arc::new(Queue {
                target: t,
                client,
                alerts: Mutex::new(VecDeque::new()),
                wake: tokio::sync::Notify::new(),
                stopped: AtomicBool::new(false),
            });
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(send_loop(q.clone(), self.shared.clone()));
            }
            next.push(q);
        }
        for gone in queues.drain(..) {
            gone.stopped.store(true, Ordering::Relaxed);
            gone.wake.notify_one();
        }
        *queues = next;
    }

    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    /// Alerts waiting, over all queues.
    pub fn queue_len(&self) -> usize {
        self.shared
            .queues
            .lock()
            .iter()
            .map(|q| q.alerts.lock().len())
            .sum()
    }

    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }

    pub fn alertmanagers(&self) -> Vec<String> {
        self.shared
            .queues
            .lock()
            .iter()
            .map(|q| q.target.url.clone())
            .collect()
    }

    /// Sends what is still queued, for at most `limit`, and stops the send
    /// tasks: on shutdown, resolved notices and the last firing alerts still
    /// go out (upstream `--alertmanager.drain-notification-queue-on-shutdown`).
    pub async fn drain(&self, limit: Duration) {
        let queues: Vec<Arc<Queue>> = self.shared.queues.lock().drain(..).collect();
        for q in &queues {
            q.stopped.store(true, Ordering::Relaxed);
            q.wake.notify_one();
        }
        let work = async {
            for q in &queues {
                while send_batch(q, &self.shared).await {}
            }
        };
        if tokio::time::timeout(limit, work).await.is_err() {
            tracing::warn!("alert queue not drained before shutdown");
        }
    }

    /// Hands every alert to `local` too (the built-in alerter), or stops.
    pub fn set_local(&self, local: Option<Local>) {
        *self.shared.local.lock() = local;
    }

    fn enqueue(&self, alerts: Vec<model::alert::Alert>) {
        let local = self.shared.local.lock().clone();
        if let Some(l) = local {
            l.send(alerts.clone());
        }
        // Remote Alertmanagers get API v2 JSON.
        let alerts: Vec<serde_json::Value> = alerts.iter().map(to_json).collect();
        for q in self.shared.queues.lock().iter() {
            let mut held = q.alerts.lock();
            let mut alerts = alerts.clone();
            // Only the newest fit when a batch is larger than the queue.
            if alerts.len() > self.shared.capacity {
                let drop = alerts.len() - self.shared.capacity;
                alerts.drain(..drop);
                self.shared
                    .counters
                    .dropped
                    .fetch_add(drop as u64, Ordering::Relaxed);
            }
            let over = (held.len() + alerts.len()).saturating_sub(self.shared.capacity);
            if over > 0 {
                held.drain(..over);
                self.shared
                    .counters
                    .dropped
                    .fetch_add(over as u64, Ordering::Relaxed);
                tracing::warn!(alertmanager = %q.target.url, dropped = over, "alert queue full, dropping the oldest alerts");
            }
            held.extend(alerts);
            drop(held);
            q.wake.notify_one();
        }
    }
}

/// Posts the next batch (up to [`MAX_BATCH`]) of a queue and counts it as
/// sent or failed; `false` when the queue was empty.
async fn send_batch(q: &Queue, shared: &Shared) -> bool {
    let batch: Vec<serde_json::Value> = {
        let mut held = q.alerts.lock();
        let n = held.len().min(MAX_BATCH);
        held.drain(..n).collect()
    };
    if batch.is_empty() {
        return false;
    }
    let body = serde_json::to_vec(&batch).unwrap_or_default();
    let failed = match post(&q.client, &q.target, body).await {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!(alertmanager = %httpclient::origin(&q.target.url), count = batch.len(), error = %e, "error sending alerts");
            batch.len() as u64
        }
    };
    let mut by = shared.counters.by_alertmanager.lock();
    let (sent, errors) = by.entry(q.target.url.clone()).or_default();
    *sent += batch.len() as u64;
    *errors += failed;
    true
}

/// Sends one Alertmanager's queue in batches until it is stopped.
async fn send_loop(q: Arc<Queue>, shared: Arc<Shared>) {
    loop {
        if q.stopped.load(Ordering::Relaxed) {
            return;
        }
        if !send_batch(&q, &shared).await {
            q.wake.notified().await;
        }
    }
}

impl Notify for Notifier {
    fn send(&self, expr: &str, alerts: Vec<Alert>) {
        let ext = self.shared.external_labels.lock().clone();
        let url = self.shared.external_url.lock().clone();
        let relabel = self.shared.relabel.lock().clone();
        let generator = format!(
            "{url}/graph?g0.expr={}&g0.tab=1",
            template::query_escape(expr)
        );
        let payload = alerts
            .iter()
            .filter_map(|a| payload(a, &ext, relabel.as_ref(), &generator))
            .collect();
        model::AlertSink::send(self, payload);
    }
}

impl model::AlertSink for Notifier {
    fn send(&self, alerts: Vec<model::alert::Alert>) {
        self.enqueue(alerts);
    }
}

/// One alert as Alertmanager's API v2 takes it (upstream
/// `alertsToOpenAPIAlerts`): external labels are added where the alert
/// has no label of that name; `endsAt` is the resolution time, or how
/// long the alert stays valid without news.
pub fn payload(
    a: &Alert,
    external: &Labels,
    relabel: Option<&Relabel>,
    generator_url: &str,
) -> Option<model::alert::Alert> {
    let mut b = a.labels.builder();
    for (k, v) in external.iter() {
        if a.labels.get(k).is_none() {
            b.set(k, v);
        }
    }
    let mut all = b.labels();
    if let Some(r) = relabel {
        all = r(&all)?;
    }
    Some(model::alert::Alert {
        labels: all,
        annotations: a.annotations.clone(),
        starts_at: a.fired_at,
        ends_at: a.resolved_at.unwrap_or(a.valid_until),
        generator_url: generator_url.to_string(),
    })
}

/// An alert as API v2 JSON, for a remote Alertmanager.
pub fn to_json(a: &model::alert::Alert) -> serde_json::Value {
    let labels: serde_json::Map<String, serde_json::Value> = a
        .labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.into()))
        .collect();
    let annotations: serde_json::Map<String, serde_json::Value> = a
        .annotations
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_str().into()))
        .collect();
    serde_json::json!({
        "labels": labels,
        "annotations": annotations,
        "startsAt": model::time::format_rfc3339(a.starts_at),
        "endsAt": model::time::format_rfc3339(a.ends_at),
        "generatorURL": a.generator_url,
    })
}

/// POSTs one batch within the target's timeout, its answer read within
/// it too; anything but 2xx is an error.
async fn post(client: &Client, t: &Target, body: Vec<u8>) -> Result<(), String> {
    let resp = client
        .send(
            Request::post(&t.url, "application/json", body)
                .timeout(t.timeout)
                .body_limit(MAX_ANSWER),
        )
        .await
        .map_err(|e| e.to_string())?;
    if !resp.status.is_success() {
        return Err(format!("bad response status {}", resp.status));
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
            annotations: [("summary".to_string(), "s".to_string())].into(),
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
        let p = to_json(
            &payload(
                &alert(1),
                &Labels::from_pairs([("dc", "y"), ("region", "eu")]),
                None,
                "http://g",
            )
            .unwrap(),
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
        // Without a runtime no send task starts, so the queues only fill.
        let n = Notifier::new(3);
        let t = |p: u16| Target {
            url: format!("http://127.0.0.1:{p}/api/v2/alerts"),
            timeout: Duration::from_secs(1),
            http: HttpConfig::default(),
        };
        n.configure(vec![t(1), t(2)], Labels::empty(), String::new(), None);
        n.send("up == 0", (0..2).map(alert).collect());
        n.send("up == 0", (2..4).map(alert).collect());
        assert_eq!(n.queue_len(), 6, "each Alertmanager has its own queue");
        assert_eq!(n.counters().dropped.load(Ordering::Relaxed), 2);
        let first = n.shared.queues.lock()[0].alerts.lock()[0]["labels"]["alertname"].clone();
        assert_eq!(first, "A1");
    }

    #[test]
    fn relabelling_can_drop_and_rewrite() {
        let drop_a1: Relabel = Arc::new(|l: &Labels| {
            if l.get("alertname") == Some("A1") {
                return None;
            }
            let mut b = l.builder();
            b.del("dc");
            Some(b.labels())
        });
        assert!(payload(&alert(1), &Labels::empty(), Some(&drop_a1), "").is_none());
        let p = payload(&alert(2), &Labels::empty(), Some(&drop_a1), "").unwrap();
        assert!(p.labels.get("dc").is_none(), "{p:?}");
    }

    use std::path::Path;

    /// `text` as the `alerting` section of a configuration in `dir`.
    fn alerting(text: &str, dir: &Path) -> Result<Vec<Target>, String> {
        let indented: String = text.lines().map(|l| format!("  {l}\n")).collect();
        let file = dir.join("prometheus.yml").display().to_string();
        let cfg =
            config::parse(&format!("alerting:\n{indented}"), &file).map_err(|e| e.to_string())?;
        Ok(targets(cfg.alerting.as_ref()))
    }

    #[test]
    fn targets_from_config() {
        let t = alerting(
            "alertmanagers:\n  - static_configs:\n      - targets: ['127.0.0.1:9093']\n    path_prefix: /am/\n    timeout: 5s\n",
            Path::new(""),
        )
        .unwrap();
        assert_eq!(t[0].url, "http://127.0.0.1:9093/am/api/v2/alerts");
        let t2 = alerting(
            "alertmanagers:\n  - static_configs:\n      - targets: ['h:1']\n    path_prefix: am\n",
            Path::new(""),
        )
        .unwrap();
        assert_eq!(t2[0].url, "http://h:1/am/api/v2/alerts");
        assert_eq!(t[0].timeout, Duration::from_secs(5));
        assert!(
            alerting("alertmanagers:\n  - api_version: v1\n", Path::new(""))
                .unwrap_err()
                .contains("api version")
        );
    }

    #[test]
    fn http_config_of_alertmanagers() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "secret\n").unwrap();
        let t = alerting(
            "alertmanagers:\n  - scheme: https\n    basic_auth: {username: u, password_file: pw}\n    follow_redirects: false\n    static_configs: [{targets: ['am:9093']}]\n",
            dir.path(),
        )
        .unwrap();
        assert_eq!(t[0].url, "https://am:9093/api/v2/alerts");
        let b = t[0].http.basic_auth.as_ref().unwrap();
        assert_eq!(
            Path::new(&b.password_file),
            dir.path().join("pw"),
            "relative to the configuration"
        );
        assert!(!t[0].http.follow_redirects);
        // (section, error fragment)
        let cases = [
            ("alertmanagers:\n  - basic_auth: {username: u, password_file: /nonexistent/pw}\n", "alerting.alertmanagers[0]: unable to read password_file /nonexistent/pw"),
            ("alertmanagers:\n  - authorization: {credentials: c}\n    basic_auth: {username: u}\n", "at most one of basic_auth, oauth2 & authorization must be configured"),
            ("alertmanagers:\n  - dns_sd_configs: [{names: [x]}]\n", "dns_sd_configs is not supported yet"),
            ("alertmanagers:\n  - scheme: ftp\n", "unknown scheme \"ftp\""),
        ];
        for (text, want) in cases {
            let got = alerting(text, dir.path()).unwrap_err();
            assert!(
                got.contains(want),
                "input {text:?}: got {got:?}, want {want:?}"
            );
        }
    }

    /// Alerts reach an Alertmanager with the configured credentials.
    #[tokio::test(flavor = "current_thread")]
    async fn sends_with_credentials() {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let Ok((mut c, _)) = l.accept() else { return };
            let mut buf = vec![0u8; 65536];
            let mut got = Vec::new();
            // Head and body arrive in a few reads; stop at the JSON's end.
            while !got.ends_with(b"]") {
                let Ok(n) = c.read(&mut buf) else { break };
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            let _ =
                c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = tx.send(String::from_utf8_lossy(&got).to_string());
        });
        let t = alerting(
            &format!("alertmanagers:\n  - authorization: {{credentials: t0k}}\n    static_configs: [{{targets: ['{addr}']}}]\n"),
            Path::new(""),
        )
        .unwrap();
        let n = Notifier::new(10);
        n.configure(t, Labels::empty(), String::new(), None);
        n.send("up == 0", vec![alert(1)]);
        let req = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(10)))
            .await
            .unwrap()
            .unwrap();
        let lower = req.to_ascii_lowercase();
        assert!(lower.starts_with("post /api/v2/alerts "), "{req}");
        assert!(lower.contains("authorization: bearer t0k"), "{req}");
        assert!(req.contains("\"alertname\":\"A1\""), "{req}");
    }
}
