//! The alerter as a service: it owns its state ([`Alerter`]), an injected
//! clock and its loop, which flushes groups as they come due, runs each
//! delivery's retry and record stages ([`crate::pipeline`]) in a task of
//! its own, and keeps the notification counters. The server only wires
//! it: [`Service::open`] with the configuration file and the data
//! directory, [`Service::start`], the HTTP routes, [`Service::stop`].

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use model::metrics::{Collect, Encoder, Histogram};
use parking_lot::Mutex;

use crate::ack::Actor;
use crate::chatops::config::Chatops;
use crate::config::Loaded;
use crate::notify::SendError;
use crate::runtime::{Alerter, Delivery, Integration};
use crate::send::Sender;
use crate::silence::Silence;
use crate::tmpl::Templates;
use crate::Error;

/// The time in ms since the epoch: the wall clock, but in tests.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Sends a delivery: a stand-in for the integrations in tests.
pub trait Transport: Send + Sync {
    fn send(&self, d: &Delivery, now: i64) -> Result<(), SendError>;
}

/// What a service is opened with.
#[derive(Clone)]
pub struct Options {
    /// `alertmanager.yml`; templates are found relative to its directory.
    pub config_file: PathBuf,
    /// The URL the alerter is reached under, for notifications' links.
    pub external_url: String,
    /// Where `alerter.db` is kept.
    pub data_dir: PathBuf,
    /// The clock; `None` is the wall clock.
    pub clock: Option<Clock>,
    /// Where deliveries go instead of the integrations (tests only).
    pub transport: Option<Arc<dyn Transport>>,
    /// The ChatOps file (`--chatops.config.file`), if any.
    pub chatops_file: Option<PathBuf>,
}

/// Counters of notifications, by integration, for `/metrics`.
#[derive(Default)]
pub struct Counters {
    pub sent: Mutex<BTreeMap<String, u64>>,
    pub failed: Mutex<BTreeMap<(String, String), u64>>,
    pub received: AtomicU64,
    pub invalid: AtomicU64,
    /// Time per send attempt, by integration.
    pub latency: Mutex<BTreeMap<String, Histogram>>,
    /// Send attempts (each try of a notification) and the failed ones,
    /// by integration: upstream's `alertmanager_notification_requests_*`.
    pub requests: Mutex<BTreeMap<String, (u64, u64)>>,
    /// Answers to notifications, by chat (`ui`, `api`, `slack`, …),
    /// action and outcome (`done`, `unchanged`, `refused`).
    pub actions: Mutex<BTreeMap<(String, String, String), u64>>,
    /// Chat requests refused, by chat and reason.
    pub refused: Mutex<BTreeMap<(String, String), u64>>,
    /// Whether Slack's Socket Mode connection is open (said hello).
    pub socket_connected: std::sync::atomic::AtomicBool,
    /// Time from a group's first notification in a chat to its
    /// acknowledgement, by chat.
    pub time_to_ack: Mutex<BTreeMap<String, Histogram>>,
}

/// Buckets of the time to acknowledgement, in seconds: a minute to a day.
pub(crate) const ACK_BUCKETS: &[f64] = &[
    60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0, 86400.0,
];

/// Upstream's notification latency buckets, in seconds.
const LATENCY_BUCKETS: &[f64] = &[1.0, 5.0, 10.0, 15.0, 20.0];

/// A configuration as loaded: checked, its text, its templates, and the
/// ChatOps file that goes with it.
pub struct Source {
    pub config: Loaded,
    pub text: String,
    pub templates: Templates,
    pub chatops: Option<Arc<Chatops>>,
}

/// Reads and checks an `alertmanager.yml` and the templates it names
/// (relative to its directory), and the ChatOps file, if given, against
/// its receivers.
pub fn load(path: &Path, chatops: Option<&Path>) -> Result<Source, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let config = crate::config::parse(&text, &path.display().to_string())?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let templates = crate::send::load_templates(&config.raw.templates, dir)?;
    let chatops = match chatops {
        None => None,
        Some(p) => {
            let names: Vec<String> = config
                .raw
                .receivers
                .iter()
                .map(|r| r.name.clone())
                .collect();
            let c = crate::chatops::config::load(p, Some(&names))?;
            if c.slack.is_some() {
                slack_channels(&config, &c, p)?;
            }
            Some(Arc::new(c))
        }
    };
    Ok(Source {
        config,
        text,
        templates,
        chatops,
    })
}

/// A receiver whose Slack messages go through the ChatOps file's app
/// needs a channel in each `slack_configs` entry (an incoming webhook
/// knows its own; the Web API does not). Its own URL and credentials serve
/// Alertmanager only, which the log says.
fn slack_channels(config: &Loaded, c: &Chatops, path: &Path) -> Result<(), Error> {
    for r in &config.raw.receivers {
        if c.receiver(&r.name).is_none() {
            continue;
        }
        for (i, s) in r.slack_configs.iter().flatten().enumerate() {
            if s.channel.is_empty() {
                return Err(Error::invalid(
                    path.display().to_string(),
                    format!(
                        "receiver {:?}: slack_configs[{i}] has no channel, which the ChatOps Slack app needs to post to",
                        r.name
                    ),
                ));
            }
            tracing::info!(receiver = %r.name, channel = %s.channel, "Slack notifications go through the ChatOps Slack app; slack_configs' api_url, app_token and http_config are not used for them");
        }
    }
    Ok(())
}

fn warn_unsupported(a: &Alerter) {
    for (receiver, kind) in a.unsupported() {
        tracing::warn!(%receiver, integration = %kind, "this receiver type has no sender; its notifications are dropped and counted");
    }
    for (receiver, kind, reason) in a.unusable_http_configs() {
        tracing::warn!(%receiver, integration = %kind, %reason, "http_config cannot be used; this integration's notifications will fail");
    }
}

/// The built-in alerter.
pub struct Service {
    pub(crate) state: Mutex<Alerter>,
    wake: tokio::sync::Notify,
    config_file: PathBuf,
    chatops_file: Option<PathBuf>,
    /// The ChatOps file in force.
    pub(crate) chatops: Mutex<Option<Arc<Chatops>>>,
    /// Signatures of chat requests seen lately, with when they may be
    /// forgotten: a request seen twice is a replay.
    pub(crate) seen: Mutex<std::collections::HashMap<String, i64>>,
    /// The configuration as `/api/v2/status` shows it: secrets masked.
    shown_config: Mutex<String>,
    /// Templates and clients of the running configuration.
    pub(crate) sender: Mutex<Arc<Sender>>,
    /// The server's grapher, for graphs in notifications.
    pub(crate) grapher: crate::chatops::graph::Slot,
    external_url: String,
    pub counters: Counters,
    started_ms: i64,
    /// Deliveries being sent or retried, by group, receiver and
    /// integration: a group's next flush waits for its last, as upstream's
    /// flushes do not overlap.
    inflight: Mutex<HashSet<(String, String, usize)>>,
    clock: Clock,
    transport: Option<Arc<dyn Transport>>,
    /// The loop, once started.
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// The Socket Mode task, once started.
    socket: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Service {
    /// Loads the configuration and the silences and notification log
    /// kept in `data_dir/alerter.db`.
    pub fn open(opts: Options) -> Result<Arc<Self>, Error> {
        let clock = opts
            .clock
            .unwrap_or_else(|| Arc::new(model::time::now_ms) as Clock);
        let src = load(&opts.config_file, opts.chatops_file.as_deref())?;
        let now = clock();
        // The log outlives any repeat interval people set (upstream keeps
        // it 120 h).
        let st = crate::sqlite::open_all(
            &opts.data_dir.join("alerter.db"),
            now,
            crate::runtime::RETENTION_MS,
        )?;
        let mut a = Alerter::new(&src.config, st.silences)?;
        a.set_log(st.log);
        a.acks = st.acks;
        a.chat = st.chat;
        warn_unsupported(&a);
        let grapher = crate::chatops::graph::Slot::default();
        Ok(Arc::new(Service {
            state: Mutex::new(a),
            wake: tokio::sync::Notify::new(),
            config_file: opts.config_file,
            chatops_file: opts.chatops_file,
            chatops: Mutex::new(src.chatops.clone()),
            seen: Mutex::new(Default::default()),
            shown_config: Mutex::new(crate::config::redacted(&src.text)),
            sender: Mutex::new(Arc::new(
                Sender::new(src.templates, opts.external_url.clone())
                    .with_chat(src.chatops, grapher.clone()),
            )),
            grapher,
            external_url: opts.external_url,
            counters: Counters::default(),
            started_ms: now,
            inflight: Mutex::new(HashSet::new()),
            clock,
            transport: opts.transport,
            task: Mutex::new(None),
            socket: Mutex::new(None),
        }))
    }

    /// Gives the service the server's grapher: graphs in notifications
    /// are drawn from then on.
    pub fn set_grapher(&self, g: Arc<dyn crate::chatops::graph::Grapher>) {
        *self.grapher.lock() = Some(g);
    }

    /// The URL the alerter is reached under.
    pub fn external_url(&self) -> &str {
        &self.external_url
    }

    /// The service's time, in ms since the epoch.
    pub fn now(&self) -> i64 {
        (self.clock)()
    }

    /// When the service started (Unix ms).
    pub fn started_ms(&self) -> i64 {
        self.started_ms
    }

    /// The configuration file.
    pub fn config_file(&self) -> &Path {
        &self.config_file
    }

    /// The configuration's text with its secrets masked.
    pub fn shown_config(&self) -> String {
        self.shown_config.lock().clone()
    }

    /// Re-reads the configuration and the ChatOps file; a bad one changes
    /// nothing.
    pub fn reload(&self) -> Result<(), Error> {
        let src = load(&self.config_file, self.chatops_file.as_deref())?;
        let mut s = self.state.lock();
        s.reload(&src.config)?;
        warn_unsupported(&s);
        *self.shown_config.lock() = crate::config::redacted(&src.text);
        *self.chatops.lock() = src.chatops.clone();
        *self.sender.lock() = Arc::new(
            Sender::new(src.templates, self.external_url.clone())
                .with_chat(src.chatops, self.grapher.clone()),
        );
        drop(s);
        self.wake.notify_one();
        Ok(())
    }

    /// Takes alerts in API v2 form; returns the problems of those refused.
    pub fn post(&self, alerts: &[serde_json::Value]) -> Vec<Error> {
        let mut ok = Vec::new();
        let mut errs = Vec::new();
        for v in alerts {
            match crate::api::postable(v) {
                Ok(a) => ok.push(a),
                Err(e) => errs.push(e),
            }
        }
        self.take(ok, errs.len());
        errs
    }

    fn take(&self, ok: Vec<crate::dispatch::Alert>, invalid: usize) {
        self.counters
            .invalid
            .fetch_add(invalid as u64, Ordering::Relaxed);
        self.counters
            .received
            .fetch_add(ok.len() as u64, Ordering::Relaxed);
        self.state.lock().put(ok, self.now());
        self.wake.notify_one();
    }

    /// Reads the state.
    pub fn with<T>(&self, f: impl FnOnce(&Alerter) -> T) -> T {
        f(&self.state.lock())
    }

    /// Creates or updates a silence; answers once it is on disk.
    pub async fn set_silence(&self, sil: Silence) -> Result<String, Error> {
        let now = self.now();
        let (id, written) = self.state.lock().silences.set(sil, now)?;
        self.wake.notify_one();
        written.wait().await?;
        Ok(id)
    }

    /// Expires a silence; answers once it is on disk.
    pub async fn expire_silence(&self, id: &str) -> Result<(), Error> {
        let now = self.now();
        let written = self.state.lock().silences.expire(id, now)?;
        self.wake.notify_one();
        written.wait().await
    }

    /// Acknowledges a group for a receiver; answers once it is on disk,
    /// with whether anything changed (an action is idempotent). The time
    /// since the group's first chat message is observed.
    pub async fn ack(&self, group_key: &str, receiver: &str, by: Actor) -> Result<bool, Error> {
        let via = by.via.clone();
        let by_copy = by.clone();
        let now = self.now();
        let (r, first) = {
            let mut s = self.state.lock();
            let first = s.chat.first_sent(group_key, receiver);
            (s.ack(group_key, receiver, by, now), first)
        };
        let changed = self
            .answered("ack", &by_copy, group_key, receiver, String::new(), r)
            .await?;
        if let (true, Some(first)) = (changed, first) {
            self.counters
                .time_to_ack
                .lock()
                .entry(via)
                .or_insert_with(|| Histogram::new(ACK_BUCKETS))
                .observe((now - first).max(0) as f64 / 1000.0);
        }
        Ok(changed)
    }

    /// Takes an acknowledgement back; repeats resume at the next flush.
    pub async fn unack(&self, group_key: &str, receiver: &str, by: Actor) -> Result<bool, Error> {
        let r = self.state.lock().unack(group_key, receiver);
        self.answered("unack", &by, group_key, receiver, String::new(), r)
            .await
    }

    /// Snoozes a group for a receiver until `until` (Unix ms).
    pub async fn snooze(
        &self,
        group_key: &str,
        receiver: &str,
        by: Actor,
        until: i64,
    ) -> Result<bool, Error> {
        let now = self.now();
        let r = self
            .state
            .lock()
            .snooze(group_key, receiver, by.clone(), now, until);
        let detail = format!("until {}", model::time::format_go(until));
        self.answered("snooze", &by, group_key, receiver, detail, r)
            .await
    }

    /// Waits for an action's write, puts it in the group's audit trail
    /// (on disk before it is confirmed), counts it by chat, action and
    /// outcome, and wakes the loop.
    pub(crate) async fn answered(
        &self,
        action: &str,
        by: &Actor,
        group_key: &str,
        receiver: &str,
        detail: String,
        r: Result<crate::ack::Change, Error>,
    ) -> Result<bool, Error> {
        let outcome = match r {
            Err(e) => Err(e),
            Ok(c) => {
                // The trail's row goes to the writer right behind the
                // answer's, so both share one commit.
                let label = if c.changed { "done" } else { "unchanged" };
                let e = crate::chatops::state::Audited {
                    at: self.now(),
                    action: action.to_string(),
                    detail,
                    by: by.clone(),
                    outcome: label.to_string(),
                };
                let trail = self.state.lock().chat.audit(group_key, receiver, e);
                let done = c.written.wait().await.map(|()| c.changed);
                // The answer itself is on disk; a trail that cannot be
                // written is said in the log, not turned into a failure.
                if let Err(e) = trail.wait().await {
                    tracing::error!(error = %e, action, "writing the audit trail failed");
                }
                done
            }
        };
        let label = match &outcome {
            Ok(true) => "done",
            Ok(false) => "unchanged",
            Err(_) => "refused",
        };
        self.count_action(&by.via, action, label);
        self.wake.notify_one();
        outcome
    }

    /// Adds an answer to a group's audit trail; answers once it is on disk.
    pub(crate) async fn audit(
        &self,
        group_key: &str,
        receiver: &str,
        action: &str,
        detail: String,
        by: &Actor,
        outcome: &str,
    ) -> Result<(), Error> {
        let e = crate::chatops::state::Audited {
            at: self.now(),
            action: action.to_string(),
            detail,
            by: by.clone(),
            outcome: outcome.to_string(),
        };
        let w = self.state.lock().chat.audit(group_key, receiver, e);
        w.wait().await
    }

    /// Counts an action by chat, action and outcome.
    pub(crate) fn count_action(&self, via: &str, action: &str, outcome: &str) {
        *self
            .counters
            .actions
            .lock()
            .entry((via.to_string(), action.to_string(), outcome.to_string()))
            .or_default() += 1;
    }

    /// Counts a chat request refused, by chat and reason.
    pub(crate) fn count_refused(&self, chat: &str, reason: &str) {
        *self
            .counters
            .refused
            .lock()
            .entry((chat.to_string(), reason.to_string()))
            .or_default() += 1;
    }

    /// Starts the loop on the current Tokio runtime.
    pub fn start(self: &Arc<Self>) {
        let handle = tokio::spawn(self.clone().run());
        if let Some(old) = self.task.lock().replace(handle) {
            old.abort();
        }
        // Slack's Socket Mode, while the ChatOps file asks for it.
        let socket = tokio::spawn(crate::chatops::socket::run(Arc::downgrade(self)));
        if let Some(old) = self.socket.lock().replace(socket) {
            old.abort();
        }
    }

    /// Stops the loop; deliveries under way finish or are dropped with
    /// the runtime.
    pub fn stop(&self) {
        if let Some(t) = self.task.lock().take() {
            t.abort();
        }
        if let Some(t) = self.socket.lock().take() {
            t.abort();
        }
    }

    /// Flushes groups as they come due and sends what they owe.
    async fn run(self: Arc<Self>) {
        loop {
            let now = self.now();
            let due = self.state.lock().next_due();
            let wait = due.map_or(1_000, |d| (d - now).clamp(0, 1_000));
            if wait > 0 {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
                    _ = self.wake.notified() => {}
                }
            }
            let deliveries = self.state.lock().tick(self.now());
            for d in deliveries {
                let key = (d.group_key.clone(), d.receiver.clone(), d.index);
                if !self.inflight.lock().insert(key.clone()) {
                    // Still sending the last flush; the log is unchanged,
                    // so the next flush asks again.
                    continue;
                }
                let me = self.clone();
                tokio::spawn(async move {
                    me.deliver(d).await;
                    me.inflight.lock().remove(&key);
                });
            }
        }
    }

    /// The retry and record stages of one delivery.
    async fn deliver(&self, mut d: Delivery) {
        if let Integration::Unsupported(kind) = &d.integration {
            self.fail(kind, "no_sender");
            return;
        }
        let sender = self.sender.lock().clone();
        // Buttons and links carry a token that is on disk before they go.
        if let Err(e) = self.give_token(&mut d).await {
            tracing::error!(receiver = %d.receiver, error = %e, "no action token: the notification goes without actions");
        }
        let name = d.integration.name().to_string();
        let attempt = |now: i64| {
            let sender = sender.clone();
            let d = &d;
            let name = &name;
            async move {
                let result = match &self.transport {
                    Some(t) => t.send(d, now).map(|()| None),
                    // No attempt outlives the group's next flush (10 s at
                    // least), so a peer that stops answering cannot hold
                    // the group.
                    None => {
                        let left = Duration::from_millis((d.deadline - now).max(10_000) as u64);
                        tokio::time::timeout(left, sender.send(d, now))
                            .await
                            .unwrap_or_else(|_| {
                                Err(SendError {
                                    message: format!("no answer within {left:?}"),
                                    retry: true,
                                })
                            })
                    }
                };
                let mut requests = self.counters.requests.lock();
                let n = requests.entry(name.clone()).or_default();
                n.0 += 1;
                n.1 += u64::from(result.is_err());
                result
            }
        };
        let observe = |took: Duration| {
            self.counters
                .latency
                .lock()
                .entry(name.clone())
                .or_insert_with(|| Histogram::new(LATENCY_BUCKETS))
                .observe(took.as_secs_f64());
        };
        match crate::pipeline::retry(&d, || self.now(), attempt, observe).await {
            Ok(message) => {
                // Logged on disk before it is counted, so the count says
                // the send will not be repeated after a crash.
                let (written, kept) = {
                    let mut s = self.state.lock();
                    let written = s.record(&d);
                    // A group that resolved starts a new message next time.
                    let resolved = d.alerts.iter().all(|a| a.is_resolved(self.now()));
                    let kept = match message {
                        Some(_) if resolved => {
                            s.chat
                                .drop_message_later(&d.group_key, &d.receiver, d.index);
                            None
                        }
                        Some(m) => Some(s.chat.put_message(&d.group_key, &d.receiver, d.index, m)),
                        None => None,
                    };
                    (written, kept)
                };
                if let Err(e) = written.wait().await {
                    tracing::error!(error = %e, "writing the notification log failed");
                }
                if let Some(Err(e)) = match kept {
                    Some(k) => Some(k.wait().await),
                    None => None,
                } {
                    tracing::error!(error = %e, "keeping the chat message's reference failed");
                }
                *self.counters.sent.lock().entry(name).or_default() += 1;
            }
            Err(f) => self.fail(&name, f.reason),
        }
    }

    fn fail(&self, integration: &str, reason: &str) {
        *self
            .counters
            .failed
            .lock()
            .entry((integration.to_string(), reason.to_string()))
            .or_default() += 1;
    }
}

/// The alerter's metrics under Alertmanager's names, types and labels
/// (`notify/notify.go`, `silence/silence.go`). `reason` values are ours
/// (`retries_exhausted`, `no_sender`, …), not upstream's HTTP classes.
impl Collect for Service {
    fn collect(&self, e: &mut Encoder) {
        let sent = self.counters.sent.lock().clone();
        let failed = self.counters.failed.lock().clone();
        let mut total = sent.clone();
        for ((i, _), n) in &failed {
            *total.entry(i.clone()).or_default() += n;
        }
        let mut f = e.counter(
            "alertmanager_notifications_total",
            "The total number of attempted notifications.",
        );
        for (i, n) in &total {
            f.sample(&[("integration", i)], *n as f64);
        }
        let mut f = e.counter(
            "alertmanager_notifications_failed_total",
            "The total number of failed notifications.",
        );
        for ((i, r), n) in &failed {
            f.sample(&[("integration", i), ("reason", r)], *n as f64);
        }
        let requests = self.counters.requests.lock().clone();
        let mut f = e.counter(
            "alertmanager_notification_requests_total",
            "The total number of attempted notification requests.",
        );
        for (i, (n, _)) in &requests {
            f.sample(&[("integration", i)], *n as f64);
        }
        let mut f = e.counter(
            "alertmanager_notification_requests_failed_total",
            "The total number of failed notification requests.",
        );
        for (i, (_, n)) in &requests {
            f.sample(&[("integration", i)], *n as f64);
        }
        let mut f = e.histogram(
            "alertmanager_notification_latency_seconds",
            "The latency of notifications in seconds.",
        );
        for (i, h) in self.counters.latency.lock().iter() {
            f.histogram(&[("integration", i)], h);
        }
        let mut f = e.counter(
            "watchfire_chatops_actions_total",
            "Answers to notifications (acknowledge, snooze, …) by chat, action and outcome.",
        );
        for ((chat, action, outcome), n) in self.counters.actions.lock().iter() {
            f.sample(
                &[("chat", chat), ("action", action), ("outcome", outcome)],
                *n as f64,
            );
        }
        let mut f = e.counter(
            "watchfire_chatops_requests_refused_total",
            "Chat callbacks refused, by chat and reason (bad_signature, stale, replay, unknown_token, expired, not_allowed, …).",
        );
        for ((chat, reason), n) in self.counters.refused.lock().iter() {
            f.sample(&[("chat", chat), ("reason", reason)], *n as f64);
        }
        if self
            .chatops()
            .is_some_and(|c| c.slack.as_ref().is_some_and(|s| s.app_token.is_some()))
        {
            let up = self
                .counters
                .socket_connected
                .load(std::sync::atomic::Ordering::Relaxed);
            e.gauge(
                "watchfire_chatops_slack_socket_connected",
                "1 while the Slack Socket Mode connection is open, else 0.",
            )
            .sample(&[], if up { 1.0 } else { 0.0 });
        }
        let mut f = e.histogram(
            "watchfire_chatops_time_to_acknowledge_seconds",
            "Time from a group's first chat message to its acknowledgement, by where it was acknowledged.",
        );
        for (via, h) in self.counters.time_to_ack.lock().iter() {
            f.histogram(&[("via", via)], h);
        }
        let mut by_state = BTreeMap::from([("active", 0u64), ("expired", 0), ("pending", 0)]);
        let now = self.now();
        self.with(|a| {
            for sil in a.silences.all() {
                *by_state.entry(sil.state(now).as_str()).or_default() += 1;
            }
        });
        let mut f = e.gauge("alertmanager_silences", "How many silences by state.");
        for (st, n) in by_state {
            f.sample(&[("state", st)], n as f64);
        }
        e.counter(
            "watchfire_alerts_received_total",
            "Alerts received, valid and refused.",
        )
        .sample(
            &[("status", "valid")],
            self.counters.received.load(Ordering::Relaxed) as f64,
        )
        .sample(
            &[("status", "invalid")],
            self.counters.invalid.load(Ordering::Relaxed) as f64,
        );
    }
}

/// Alerts from the rules, typed: labels with an empty value are dropped
/// and the alert is checked as a posted one is (upstream's API does the
/// same to what Prometheus posts).
impl model::AlertSink for Service {
    fn send(&self, alerts: Vec<model::alert::Alert>) {
        let mut ok = Vec::with_capacity(alerts.len());
        let mut invalid = 0;
        for a in alerts {
            let alert = crate::dispatch::Alert {
                labels: a
                    .labels
                    .iter()
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                annotations: a.annotations,
                starts_at: a.starts_at,
                ends_at: a.ends_at,
                generator_url: a.generator_url,
                updated_at: 0,
            };
            match crate::api::check(alert) {
                Ok(a) => ok.push(a),
                Err(e) => {
                    invalid += 1;
                    tracing::warn!(error = %e, "alert from the rules refused by the alerter");
                }
            }
        }
        self.take(ok, invalid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers 503 until `until`, then takes every notification.
    struct Flaky {
        until: i64,
        sent: Mutex<Vec<(String, i64)>>,
        attempts: AtomicU64,
    }

    impl Transport for Flaky {
        fn send(&self, d: &Delivery, now: i64) -> Result<(), SendError> {
            self.attempts.fetch_add(1, Ordering::Relaxed);
            if now < self.until {
                return Err(SendError {
                    message: "unexpected status code 503".into(),
                    retry: true,
                });
            }
            self.sent.lock().push((d.group_key.clone(), now));
            Ok(())
        }
    }

    /// A receiver that answers 503 for ten minutes gets each group exactly
    /// once when it recovers, and nothing more within `repeat_interval`,
    /// while the alerts keep firing (re-sent each minute, as rules do).
    #[tokio::test(start_paused = true)]
    async fn a_receiver_down_for_ten_minutes_gets_each_group_once_after() {
        let dir = tempfile::tempdir().unwrap();
        let am = dir.path().join("am.yml");
        std::fs::write(
            &am,
            "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 30s\n  group_interval: 5m\n  repeat_interval: 4h\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: http://127.0.0.1:9/\n",
        )
        .unwrap();
        let start = 1_800_000_000_000i64;
        let base = tokio::time::Instant::now();
        let clock: Clock = Arc::new(move || start + base.elapsed().as_millis() as i64);
        let flaky = Arc::new(Flaky {
            until: start + 10 * 60_000,
            sent: Mutex::new(Vec::new()),
            attempts: AtomicU64::new(0),
        });
        let svc = Service::open(Options {
            config_file: am,
            external_url: "http://wf".into(),
            data_dir: dir.path().to_path_buf(),
            clock: Some(clock),
            transport: Some(flaky.clone()),
            chatops_file: None,
        })
        .unwrap();
        svc.start();
        let alerts: Vec<serde_json::Value> = ["A", "B", "C"]
            .iter()
            .map(|n| serde_json::json!({ "labels": { "alertname": n } }))
            .collect();
        for _ in 0..15 {
            assert!(svc.post(&alerts).is_empty());
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        let sent = flaky.sent.lock().clone();
        let mut groups: Vec<&str> = sent.iter().map(|(g, _)| g.as_str()).collect();
        groups.sort();
        assert_eq!(
            groups,
            [
                "{}:{alertname=\"A\"}",
                "{}:{alertname=\"B\"}",
                "{}:{alertname=\"C\"}"
            ],
            "{sent:?}"
        );
        assert!(sent.iter().all(|(_, at)| *at >= flaky.until));
        // Retried all along: far more attempts than notifications.
        assert!(flaky.attempts.load(Ordering::Relaxed) > 30);
        for _ in 0..180 {
            svc.post(&alerts);
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        assert_eq!(flaky.sent.lock().len(), 3, "{:?}", flaky.sent.lock());
        let failed = svc.counters.failed.lock().clone();
        assert_eq!(
            failed.get(&("webhook".to_string(), "retries_exhausted".to_string())),
            Some(&3),
            "each group's first flush (at 30 s) gave up at the next (at 5 m 30 s), whose retries outlived the outage: {failed:?}"
        );
    }

    /// A silence is on disk when `set_silence` answers: a new service
    /// over the same directory (as after a SIGKILL) has it, and an
    /// expiry likewise.
    #[tokio::test]
    async fn silences_are_durable_when_the_api_answers() {
        let dir = tempfile::tempdir().unwrap();
        let am = dir.path().join("am.yml");
        std::fs::write(&am, "route:\n  receiver: r\nreceivers:\n  - name: r\n").unwrap();
        let opts = Options {
            config_file: am,
            external_url: "http://wf".into(),
            data_dir: dir.path().to_path_buf(),
            clock: Some(Arc::new(|| 1_800_000_000_000)),
            transport: None,
            chatops_file: None,
        };
        let svc = Service::open(opts.clone()).unwrap();
        let sil = crate::silence::from_json(
            &serde_json::json!({"matchers": [{"name": "job", "value": "api", "isRegex": false, "isEqual": true}],
                "startsAt": "2027-01-15T08:00:00Z", "endsAt": "2027-01-15T10:00:00Z", "createdBy": "t", "comment": "c"}),
            svc.now(),
        )
        .unwrap();
        let id = svc.set_silence(sil).await.unwrap();
        let state = |s: &Service| s.with(|a| a.silences.get(&id).map(|x| x.state(s.now())));
        let again = Service::open(opts.clone()).unwrap();
        assert_eq!(state(&again), Some(crate::silence::State::Active));
        svc.expire_silence(&id).await.unwrap();
        let again = Service::open(opts).unwrap();
        assert_eq!(state(&again), Some(crate::silence::State::Expired));
        let err = svc.expire_silence("nope").await.unwrap_err();
        assert!(matches!(err, Error::SilenceNotFound(_)), "{err}");
    }
}
