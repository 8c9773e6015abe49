//! The alerter's state: alerts received, their aggregation groups, the
//! notification log and the silences. Each [`Alerter::tick`] flushes the
//! groups that are due through [`crate::pipeline`]'s stages and gives back
//! the deliveries owed; [`crate::service::Service`] drives it with its
//! clock, does the sending, and [`Alerter::record`]s what went out.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::ack::{Acks, Actor, Change};
use crate::config::Loaded;
use crate::dispatch::{Alert, Dispatcher, GroupView};
use crate::inhibit::Inhibitor;
use crate::mute::At;
use crate::nflog::{Log, LogEntry};
use crate::pipeline::{Dedup, DedupStage, MuteStage, Reason, Stage, TimeActive, TimeMute};
use crate::receiver as r;
use crate::route::Route;
use crate::silence::Silences;
use crate::sqlite::Written;
use crate::Error;

/// How long expired silences and notification log entries are kept
/// (upstream's `--data.retention` default).
pub const RETENTION_MS: i64 = 120 * 3_600_000;
const GC_INTERVAL_MS: i64 = 15 * 60_000;

/// Where one integration of a receiver sends: its configuration, filled
/// from `global:`.
#[derive(Debug, Clone)]
pub enum Integration {
    Webhook(Arc<r::WebhookConfig>),
    Email(Arc<r::EmailConfig>),
    Slack(Arc<r::SlackConfig>),
    Pagerduty(Arc<r::PagerdutyConfig>),
    Opsgenie(Arc<r::OpsgenieConfig>),
    Telegram(Arc<r::TelegramConfig>),
    Discord(Arc<r::DiscordConfig>),
    Msteams(Arc<r::MsteamsConfig>),
    Mattermost(Arc<r::MattermostConfig>),
    /// A receiver type that has no sender: counted as dropped.
    Unsupported(String),
}

impl Integration {
    /// The integration's name, as upstream's metrics label it.
    pub fn name(&self) -> &str {
        match self {
            Integration::Webhook(_) => "webhook",
            Integration::Email(_) => "email",
            Integration::Slack(_) => "slack",
            Integration::Pagerduty(_) => "pagerduty",
            Integration::Opsgenie(_) => "opsgenie",
            Integration::Telegram(_) => "telegram",
            Integration::Discord(_) => "discord",
            Integration::Msteams(_) => "msteams",
            Integration::Mattermost(_) => "mattermost",
            Integration::Unsupported(kind) => kind,
        }
    }
}

/// One notification owed: a group's alerts for one integration.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub receiver: String,
    /// Position of the integration in the receiver (the log keeps one
    /// entry per integration, as upstream).
    pub index: usize,
    pub integration: Integration,
    pub group_key: String,
    pub group_labels: BTreeMap<String, String>,
    pub route_labels: BTreeMap<String, String>,
    pub alerts: Vec<Alert>,
    pub reason: Reason,
    /// What to log once it is sent.
    pub entry: LogEntry,
    /// Sending may go on until the group's next flush.
    pub deadline: i64,
    /// The group's acknowledgement or snooze when the send was decided,
    /// for the message to name.
    pub answer: Option<crate::ack::Answer>,
    /// The chat message this integration already shows for the group,
    /// which the notification may edit instead of posting anew.
    pub message: Option<crate::chatops::state::Message>,
    /// The action token the message's buttons and links carry: set (and
    /// on disk) before sending, for receivers with ChatOps settings.
    pub token: Option<String>,
    /// The URL of the group's graph, for a chat to show, when the
    /// receiver asks for images.
    pub graph_url: Option<String>,
    /// Signed action links, for a receiver with `links: true` whose
    /// integration has no buttons (email, Microsoft Teams, webhook).
    pub links: Vec<crate::chatops::links::Link>,
}

struct ReceiverPlan {
    integrations: Vec<(Integration, bool)>,
}

/// The alerter's state.
pub struct Alerter {
    tree: Route,
    dispatch: Dispatcher,
    log: Log,
    receivers: BTreeMap<String, ReceiverPlan>,
    alerts: BTreeMap<u64, Alert>,
    resolve_timeout_ms: i64,
    inhibitions: Vec<crate::inhibit::Rule>,
    intervals: crate::mute::Intervals,
    pub silences: Silences,
    /// Acknowledgements and snoozes, by group and receiver.
    pub acks: Acks,
    /// Action tokens and the chat messages sent per group.
    pub chat: crate::chatops::state::ChatState,
    /// When resolved alerts were last swept out.
    swept: i64,
    /// When expired silences and old log entries were last dropped.
    collected: i64,
}

fn plan(cfg: &Loaded) -> BTreeMap<String, ReceiverPlan> {
    let mut out = BTreeMap::new();
    for rc in &cfg.receivers {
        let mut integrations = Vec::new();
        // Upstream's defaults for `send_resolved`: email and Slack stay
        // quiet about resolutions, the others report them.
        macro_rules! add {
            ($list:expr, $variant:ident, $resolved:expr) => {
                for c in $list.iter().flatten() {
                    let resolved = c.send_resolved.unwrap_or($resolved);
                    integrations.push((Integration::$variant(Arc::new(c.clone())), resolved));
                }
            };
        }
        // Types without a sender load, and each notification they owe is
        // dropped and counted.
        macro_rules! none {
            ($list:expr, $kind:expr) => {
                for _ in $list.iter().flatten() {
                    integrations.push((Integration::Unsupported($kind.to_string()), true));
                }
            };
        }
        add!(rc.webhook_configs, Webhook, true);
        add!(rc.email_configs, Email, false);
        add!(rc.slack_configs, Slack, false);
        add!(rc.pagerduty_configs, Pagerduty, true);
        add!(rc.opsgenie_configs, Opsgenie, true);
        none!(rc.wechat_configs, "wechat");
        none!(rc.pushover_configs, "pushover");
        none!(rc.victorops_configs, "victorops");
        none!(rc.sns_configs, "sns");
        add!(rc.telegram_configs, Telegram, true);
        add!(rc.discord_configs, Discord, true);
        none!(rc.webex_configs, "webex");
        add!(rc.msteams_configs, Msteams, true);
        none!(rc.msteamsv2_configs, "msteamsv2");
        none!(rc.jira_configs, "jira");
        none!(rc.rocketchat_configs, "rocketchat");
        add!(rc.mattermost_configs, Mattermost, true);
        none!(rc.incidentio_configs, "incidentio");
        out.insert(rc.name.clone(), ReceiverPlan { integrations });
    }
    out
}

impl Alerter {
    /// Uses `log` as the notification log (one kept in a file survives
    /// restarts).
    pub fn set_log(&mut self, log: Log) {
        self.log = log;
    }

    /// An alerter for a loaded configuration, muting with `silences`.
    pub fn new(cfg: &Loaded, silences: Silences) -> Result<Self, Error> {
        let root = cfg
            .raw
            .route
            .as_ref()
            .ok_or_else(|| Error::invalid("route", "no routes provided"))?;
        let tree = Route::new(root)?;
        let resolve = cfg
            .raw
            .global
            .as_ref()
            .map(|g| g.resolve_timeout.clone())
            .unwrap_or_else(|| "5m".into());
        let resolve = model::time::parse_duration(&resolve)
            .map_err(|e| Error::invalid("global.resolve_timeout", e))?;
        Ok(Alerter {
            dispatch: Dispatcher::new(tree.clone()),
            tree,
            log: Log::default(),
            receivers: plan(cfg),
            alerts: BTreeMap::new(),
            resolve_timeout_ms: resolve.as_millis() as i64,
            inhibitions: crate::inhibit::rules(cfg)?,
            intervals: cfg.intervals.clone(),
            silences,
            acks: Acks::default(),
            chat: Default::default(),
            swept: 0,
            collected: 0,
        })
    }

    /// Receiver types without a sender, for a warning at load.
    pub fn unsupported(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (name, p) in &self.receivers {
            for (i, _) in &p.integrations {
                if let Integration::Unsupported(kind) = i {
                    out.push((name.clone(), kind.clone()));
                }
            }
        }
        out
    }

    /// `http_config`s that load (upstream takes them) but give no client,
    /// such as a `proxy_url` without a host, by receiver and integration
    /// with the reason, for a warning at load: their notifications fail.
    pub fn unusable_http_configs(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for (name, p) in &self.receivers {
            for (i, _) in &p.integrations {
                let http = match i {
                    Integration::Webhook(c) => c.http_config.as_ref(),
                    Integration::Slack(c) => c.http_config.as_ref(),
                    Integration::Pagerduty(c) => c.http_config.as_ref(),
                    Integration::Opsgenie(c) => c.http_config.as_ref(),
                    Integration::Telegram(c) => c.http_config.as_ref(),
                    Integration::Discord(c) => c.http_config.as_ref(),
                    Integration::Msteams(c) => c.http_config.as_ref(),
                    Integration::Mattermost(c) => c.http_config.as_ref(),
                    Integration::Email(_) | Integration::Unsupported(_) => None,
                };
                if let Some(Err(e)) = http.map(httpclient::Client::new) {
                    out.push((name.clone(), i.name().to_string(), e.to_string()));
                }
            }
        }
        out
    }

    /// Takes a new configuration, keeping alerts and the log.
    pub fn reload(&mut self, cfg: &Loaded) -> Result<(), Error> {
        // Built first, so a bad configuration changes nothing.
        let mut next = Alerter::new(cfg, Silences::open(None, 0)?)?;
        std::mem::swap(&mut next.silences, &mut self.silences);
        next.log = std::mem::take(&mut self.log);
        next.acks = std::mem::take(&mut self.acks);
        next.chat = std::mem::take(&mut self.chat);
        let now = self
            .alerts
            .values()
            .map(|a| a.updated_at)
            .max()
            .unwrap_or(0);
        for a in std::mem::take(&mut self.alerts).into_values() {
            next.dispatch.insert(a.clone(), now);
            next.alerts.insert(a.fingerprint(), a);
        }
        *self = next;
        Ok(())
    }

    /// Takes alerts at `now` (upstream's API and alert store): a missing
    /// start is now (or the end), a missing end is `resolve_timeout` away,
    /// and an alert already known keeps its earliest start while its
    /// activity overlaps.
    pub fn put(&mut self, alerts: Vec<Alert>, now: i64) {
        for mut a in alerts {
            a.updated_at = now;
            if a.starts_at == 0 {
                a.starts_at = if a.ends_at != 0 { a.ends_at } else { now };
            }
            if a.ends_at == 0 {
                a.ends_at = now.saturating_add(self.resolve_timeout_ms);
            }
            let fp = a.fingerprint();
            if let Some(old) = self.alerts.get(&fp) {
                let overlaps = (a.ends_at > old.starts_at && a.ends_at < old.ends_at)
                    || (a.starts_at > old.starts_at && a.starts_at < old.ends_at);
                if overlaps {
                    a.starts_at = a.starts_at.min(old.starts_at);
                }
            }
            self.dispatch.insert(a.clone(), now);
            self.alerts.insert(fp, a);
        }
    }

    /// When the next group flush is due.
    pub fn next_due(&self) -> Option<i64> {
        self.dispatch.next_due()
    }

    /// Flushes due groups at `now` and returns what to send. Deliveries for
    /// receivers without a sender come back as `Unsupported`, to be counted.
    pub fn tick(&mut self, now: i64) -> Vec<Delivery> {
        let mut out = Vec::new();
        let flushes = self.dispatch.flush(now);
        if !flushes.is_empty() {
            let inhibitor = Inhibitor::new(&self.inhibitions, &self.alerts, now);
            let inhibit = MuteStage::new("inhibit", &inhibitor);
            let active = MuteStage::new("time active", TimeActive(&self.intervals));
            let mute = MuteStage::new("time mute", TimeMute(&self.intervals));
            let silence = MuteStage::new("silence", &self.silences);
            let stages: [&dyn Stage; 4] = [&inhibit, &active, &mute, &silence];
            let mut ended = Vec::new();
            for f in flushes {
                let route = self.tree.at(&f.route);
                let at = At { now, route };
                let kept = crate::pipeline::run(&stages, at, f.alerts.clone());
                // The group forgets the resolved alerts the flush carried,
                // sent or muted (nothing below changes the group).
                self.dispatch.flushed(&f);
                // Resolved: every alert of the group, muted or not.
                let resolved = f.firing().is_empty();
                let answer = self.acks.get(&f.group_key, &f.receiver).cloned();
                let integrations = self
                    .receivers
                    .get(&f.receiver)
                    .map_or(0, |p| p.integrations.len());
                // From here on the flush holds what muting kept.
                let f = crate::dispatch::Flush { alerts: kept, ..f };
                if !f.alerts.is_empty() {
                    let to = Fanout {
                        receivers: &self.receivers,
                        log: &mut self.log,
                        chat: &self.chat,
                    };
                    to.decide(&f, route, answer.as_ref(), now, &mut out);
                    // A snooze that ran out was notified (every
                    // integration owed it sends).
                    if !resolved && answer.as_ref().is_some_and(|a| a.snooze_ended(now)) {
                        self.acks.end_snooze_later(&f.group_key, &f.receiver);
                    }
                }
                if resolved {
                    // A silence made "until resolved" ends now.
                    if let Some(held) = answer.as_ref().and_then(|a| a.silence.as_ref()) {
                        ended.push(held.id.clone());
                    }
                    // The group lets go of its chat messages (the resolved
                    // notices decided above carry them, to edit them) and
                    // forgets its answers (the notices name them).
                    for index in 0..integrations {
                        self.chat
                            .drop_message_later(&f.group_key, &f.receiver, index);
                    }
                    if answer.is_some() {
                        self.acks.forget_later(&f.group_key, &f.receiver);
                    }
                }
            }
            for id in ended {
                // In memory at once; the file follows in order.
                if let Ok(w) = self.silences.expire(&id, now) {
                    drop(w);
                }
            }
        }
        // Alerts resolved and carried are forgotten by the API too.
        // At most once a second: the sweep is over every alert held.
        if now - self.swept >= 1_000 {
            self.swept = now;
            if self.alerts.values().any(|a| a.is_resolved(now)) {
                let held = self.dispatch.held();
                self.alerts
                    .retain(|fp, a| !a.is_resolved(now) || held.contains(fp));
            }
        }
        // Every 15 minutes, as upstream: silences expired longer than the
        // retention and log entries older than it are dropped, from
        // memory and from disk.
        if now - self.collected >= GC_INTERVAL_MS {
            self.collected = now;
            let silences = self.silences.gc(now, RETENTION_MS);
            let entries = self.log.gc(now, RETENTION_MS);
            let live: std::collections::HashSet<String> =
                self.dispatch.groups().into_iter().map(|g| g.key).collect();
            let answers = self.acks.gc(now, RETENTION_MS, |g| live.contains(g));
            let chat = self.chat.sweep(now, RETENTION_MS);
            if silences + entries + answers + chat > 0 {
                tracing::debug!(
                    silences,
                    entries,
                    answers,
                    chat,
                    "dropped expired silences and old notification log entries"
                );
            }
        }
        out
    }
}

/// The parts of the alerter that decide a flush's sends.
struct Fanout<'a> {
    receivers: &'a BTreeMap<String, ReceiverPlan>,
    log: &'a mut Log,
    chat: &'a crate::chatops::state::ChatState,
}

impl Fanout<'_> {
    /// What a flush (its alerts after muting) owes each integration of its
    /// receiver: upstream's fan-out, each integration deduplicated and sent
    /// on its own.
    fn decide(
        self,
        f: &crate::dispatch::Flush,
        route: Option<&Route>,
        answer: Option<&crate::ack::Answer>,
        now: i64,
        out: &mut Vec<Delivery>,
    ) {
        let route_labels = route.map(|r| r.labels.clone()).unwrap_or_default();
        let interval = route.map_or(300_000, |r| r.group_interval.as_millis() as i64);
        let deadline = now.saturating_add(interval);
        let Some(p) = self.receivers.get(&f.receiver) else {
            return;
        };
        for (index, (integration, send_resolved)) in p.integrations.iter().enumerate() {
            let key = format!("{}/{index}", f.receiver);
            let dedup = DedupStage {
                log: self.log,
                key: &key,
                send_resolved: *send_resolved,
                answer,
            };
            match dedup.exec(f, now) {
                Dedup::Skip => {}
                Dedup::Send {
                    reason,
                    alerts,
                    entry,
                } => out.push(Delivery {
                    receiver: f.receiver.clone(),
                    index,
                    integration: integration.clone(),
                    group_key: f.group_key.clone(),
                    group_labels: f.group_labels.clone(),
                    route_labels: route_labels.clone(),
                    alerts,
                    reason,
                    entry,
                    deadline,
                    answer: answer.cloned(),
                    message: self.chat.message(&f.group_key, &f.receiver, index).cloned(),
                    token: None,
                    graph_url: None,
                    links: Vec::new(),
                }),
                // In memory at once; the file follows in order.
                Dedup::LogOnly(entry) => {
                    drop(self.log.record(&f.group_key, &key, entry));
                }
            }
        }
    }
}

impl Alerter {
    /// The firing alert that inhibits an alert with `labels` at `now`, if
    /// any (upstream `Inhibitor.Mutes`): a rule's target matchers match,
    /// and a firing source alert agrees on the `equal` labels. When the
    /// alert matches both sides, sources that do too are passed over, so
    /// an alert never inhibits itself.
    pub fn inhibited_by(&self, labels: &BTreeMap<String, String>, now: i64) -> Option<u64> {
        self.inhibitor(now).inhibited_by(labels)
    }

    /// The inhibitor at `now`, for many alerts: the firing sources are
    /// found once.
    pub fn inhibitor(&self, now: i64) -> Inhibitor<'_> {
        Inhibitor::new(&self.inhibitions, &self.alerts, now)
    }

    /// Records a delivery that went out, so it is not sent again (upstream
    /// `SetNotifiesStage`): in memory at once; the returned [`Written`]
    /// says when it is on disk. Await it after letting go of the lock.
    pub fn record(&mut self, d: &Delivery) -> Written {
        self.log.record(
            &d.group_key,
            &format!("{}/{}", d.receiver, d.index),
            d.entry.clone(),
        )
    }

    /// Every alert held.
    pub fn alerts(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.values()
    }

    /// The receivers an alert reaches.
    pub fn receivers_of(&self, a: &Alert) -> Vec<String> {
        let mut v: Vec<String> = self
            .tree
            .matches(&a.labels)
            .iter()
            .map(|r| r.receiver.clone())
            .collect();
        v.dedup();
        v
    }

    pub fn groups(&self) -> Vec<GroupView> {
        self.dispatch.groups()
    }

    /// Acknowledges a group for a receiver at `now` (repeats stop until it
    /// resolves). Refused for a group that does not exist.
    pub fn ack(
        &mut self,
        group_key: &str,
        receiver: &str,
        by: Actor,
        now: i64,
    ) -> Result<Change, Error> {
        self.firing_group(group_key, receiver, now)?;
        Ok(self.acks.ack(group_key, receiver, by, now))
    }

    /// Takes an acknowledgement back.
    pub fn unack(&mut self, group_key: &str, receiver: &str) -> Result<Change, Error> {
        self.known_group(group_key, receiver)?;
        Ok(self.acks.unack(group_key, receiver))
    }

    /// Snoozes a group for a receiver until `until`.
    pub fn snooze(
        &mut self,
        group_key: &str,
        receiver: &str,
        by: Actor,
        now: i64,
        until: i64,
    ) -> Result<Change, Error> {
        self.firing_group(group_key, receiver, now)?;
        if until <= now {
            return Err(Error::invalid(
                "snooze",
                "the snooze must end in the future",
            ));
        }
        Ok(self.acks.snooze(group_key, receiver, by, now, until))
    }

    fn known_group(&self, group_key: &str, receiver: &str) -> Result<(), Error> {
        if self.dispatch.has_group(group_key, receiver) {
            Ok(())
        } else {
            Err(Error::invalid(
                "group",
                format!("no alert group {group_key:?} for receiver {receiver:?}"),
            ))
        }
    }

    /// A group with an alert firing: one whose alerts all resolved has
    /// nothing left to acknowledge or snooze, and an answer given to it
    /// would outlive its incident.
    fn firing_group(&self, group_key: &str, receiver: &str, now: i64) -> Result<(), Error> {
        self.known_group(group_key, receiver)?;
        if self.dispatch.group_firing(group_key, receiver, now) {
            Ok(())
        } else {
            Err(Error::invalid(
                "group",
                "this group has resolved; there is nothing left to answer",
            ))
        }
    }

    pub fn receiver_names(&self) -> Vec<String> {
        self.receivers.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(labels: &[(&str, &str)]) -> Alert {
        Alert {
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            annotations: BTreeMap::new(),
            starts_at: 0,
            ends_at: 0,
            generator_url: String::new(),
            updated_at: 0,
        }
    }

    #[test]
    fn inhibition_as_upstream() {
        let cfg = crate::config::parse(
            "route:\n  receiver: r\n  group_wait: 0s\nreceivers:\n  - name: r\n    webhook_configs:\n      - url: http://127.0.0.1:1/\ninhibit_rules:\n  - source_matchers: ['severity=critical']\n    target_matchers: ['severity=~\"warning|critical\"']\n    equal: [cluster]\n",
            "am.yml",
        )
        .unwrap();
        let mut a = Alerter::new(&cfg, Silences::open(None, 0).unwrap()).unwrap();
        a.put(
            vec![
                alert(&[
                    ("alertname", "Down"),
                    ("severity", "critical"),
                    ("cluster", "eu"),
                ]),
                alert(&[
                    ("alertname", "Slow"),
                    ("severity", "warning"),
                    ("cluster", "eu"),
                ]),
                alert(&[
                    ("alertname", "Slow"),
                    ("severity", "warning"),
                    ("cluster", "us"),
                ]),
            ],
            1_000,
        );
        let l = |x: &[(&str, &str)]| alert(x).labels;
        assert!(a
            .inhibited_by(
                &l(&[
                    ("alertname", "Slow"),
                    ("severity", "warning"),
                    ("cluster", "eu")
                ]),
                1_000
            )
            .is_some());
        assert!(
            a.inhibited_by(
                &l(&[
                    ("alertname", "Slow"),
                    ("severity", "warning"),
                    ("cluster", "us")
                ]),
                1_000
            )
            .is_none(),
            "equal labels differ"
        );
        assert!(
            a.inhibited_by(
                &l(&[
                    ("alertname", "Down"),
                    ("severity", "critical"),
                    ("cluster", "eu")
                ]),
                1_000
            )
            .is_none(),
            "no self-inhibition"
        );
        // The flush carries only what is not inhibited.
        let d = a.tick(1_000);
        let names: Vec<String> = d
            .iter()
            .flat_map(|d| {
                d.alerts
                    .iter()
                    .map(|x| format!("{}/{}", x.labels["alertname"], x.labels["cluster"]))
            })
            .collect();
        assert_eq!(names, ["Down/eu", "Slow/us"]);
    }

    /// A timeline on an injected clock: inhibition holds a warning back
    /// while its critical source fires, the resolution is announced, a
    /// silence mutes new alerts of a group until it ends.
    #[test]
    fn timeline_with_inhibition_and_silence() {
        const S: i64 = 1000;
        const M: i64 = 60 * S;
        let cfg = crate::config::parse(
            "route:\n  receiver: r\n  group_by: [alertname]\n  group_wait: 30s\n  group_interval: 5m\n  repeat_interval: 4h\nreceivers:\n  - name: r\n    webhook_configs:\n      - url: http://127.0.0.1:1/\ninhibit_rules:\n  - source_matchers: [severity=critical]\n    target_matchers: [severity=warning]\n    equal: [cluster]\n",
            "am.yml",
        )
        .unwrap();
        let mut a = Alerter::new(&cfg, Silences::open(None, 0).unwrap()).unwrap();
        let with_end = |labels: &[(&str, &str)], ends: i64| Alert {
            ends_at: ends,
            ..alert(labels)
        };
        let disk_eu = [
            ("alertname", "Disk"),
            ("severity", "warning"),
            ("cluster", "eu"),
        ];
        let disk_us = [
            ("alertname", "Disk"),
            ("severity", "warning"),
            ("cluster", "us"),
        ];
        let down = [
            ("alertname", "Down"),
            ("severity", "critical"),
            ("cluster", "eu"),
        ];
        let mut sent: Vec<(i64, String)> = Vec::new();
        let mut now = 0;
        while now <= 25 * M {
            if now % M == 0 {
                // Senders re-send firing alerts every minute.
                let mut batch = vec![with_end(&disk_eu, now + 4 * M)];
                if now < 6 * M {
                    batch.push(with_end(&down, now + 4 * M));
                } else if now == 6 * M {
                    batch.push(with_end(&down, 6 * M));
                }
                if now >= 12 * M {
                    batch.push(with_end(&disk_us, now + 4 * M));
                }
                a.put(batch, now);
            }
            if now == 11 * M {
                let sil = crate::silence::from_json(
                    &serde_json::json!({"matchers": [{"name": "alertname", "value": "Disk", "isRegex": false, "isEqual": true}],
                        "startsAt": "1970-01-01T00:11:00Z", "endsAt": "1970-01-01T00:20:00Z", "createdBy": "t", "comment": "c"}),
                    now,
                )
                .unwrap();
                drop(a.silences.set(sil, now).unwrap());
            }
            for d in a.tick(now) {
                let what: Vec<String> = d
                    .alerts
                    .iter()
                    .map(|x| {
                        let state = if x.is_resolved(now) {
                            "resolved"
                        } else {
                            "firing"
                        };
                        format!("{}/{} {state}", x.labels["alertname"], x.labels["cluster"])
                    })
                    .collect();
                sent.push((
                    now / S,
                    format!("{}: {}", d.reason.as_str(), what.join(", ")),
                ));
                drop(a.record(&d));
            }
            now += S;
        }
        let want: Vec<(i64, String)> = vec![
            // Disk is inhibited by Down from the start.
            (30, "first notification: Down/eu firing".into()),
            // Down resolved at 6m: announced at its group's next flush,
            // and Disk, no longer inhibited, is sent at its own.
            (630, "first notification: Disk/eu firing".into()),
            (630, "all alerts resolved: Down/eu resolved".into()),
            // Disk/us arrives at 12m under a silence: nothing until the
            // silence ends at 20m.
            (
                1230,
                "new alerts added: Disk/eu firing, Disk/us firing".into(),
            ),
        ];
        assert_eq!(sent, want);
    }

    #[test]
    fn time_intervals_mute_and_activate_routes() {
        let cfg = crate::config::parse(
            "route:\n  receiver: r\n  group_wait: 0s\n  routes:\n    - matchers: [team=night]\n      mute_time_intervals: [always]\n    - matchers: [team=past]\n      active_time_intervals: [long_ago]\n    - matchers: [team=day]\n      active_time_intervals: [always]\nreceivers:\n  - name: r\n    webhook_configs:\n      - url: http://127.0.0.1:1/\ntime_intervals:\n  - name: always\n    time_intervals:\n      - weekdays: ['sunday:saturday']\n  - name: long_ago\n    time_intervals:\n      - years: ['2000:2001']\n",
            "am.yml",
        )
        .unwrap();
        let mut a = Alerter::new(&cfg, Silences::open(None, 0).unwrap()).unwrap();
        let now = 1_795_000_000_000;
        a.put(
            ["night", "past", "day"]
                .iter()
                .map(|t| alert(&[("alertname", "A"), ("team", t)]))
                .collect(),
            now,
        );
        let teams: Vec<String> = a
            .tick(now)
            .iter()
            .flat_map(|d| d.alerts.iter().map(|x| x.labels["team"].clone()))
            .collect();
        assert_eq!(teams, ["day"]);
    }
}
