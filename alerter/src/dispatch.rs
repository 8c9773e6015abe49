//! The dispatcher: alerts into aggregation groups per route and grouping
//! labels, flushed on Alertmanager's timers (upstream `dispatch/dispatch.go`),
//! and the notification log that decides whether a flush is worth sending
//! (upstream `notify.DedupStage`).
//!
//! Time is passed in (Unix ms), never read here, so timelines are tested
//! on an injected clock:
//!
//! - an alert joins the group of every route it matches; a new group
//!   flushes after `group_wait` (at once if the alert started longer ago
//!   than that and the group never flushed);
//! - a group flushes again every `group_interval`;
//! - a flush is sent when firing alerts are new to the receiver, when
//!   resolved alerts are new and `send_resolved` is on, when everything
//!   resolved, or when `repeat_interval` has passed since the last send;
//! - resolved alerts leave the group once a flush carried them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::Hasher;

use crate::route::Route;

/// An alert as the dispatcher holds it. Times are Unix ms; `ends_at` 0 is
/// "not known".
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: i64,
    pub ends_at: i64,
    pub generator_url: String,
    /// When the alert was last received.
    pub updated_at: i64,
}

impl Alert {
    /// Whether the alert has resolved by `now`.
    pub fn is_resolved(&self, now: i64) -> bool {
        self.ends_at != 0 && self.ends_at <= now
    }

    /// A stable identity from the labels (upstream `Fingerprint`).
    pub fn fingerprint(&self) -> u64 {
        fingerprint(&self.labels)
    }
}

/// FNV-1a over `name\xffvalue\xff…`, stable across runs.
pub fn fingerprint(labels: &BTreeMap<String, String>) -> u64 {
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    for (k, v) in labels {
        h.write(k.as_bytes());
        h.write(&[0xff]);
        h.write(v.as_bytes());
        h.write(&[0xff]);
    }
    h.finish()
}

struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// One group's alerts handed to its receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct Flush {
    /// The group's route ([`Route::id`]).
    pub route: Vec<usize>,
    /// Upstream's group key: `route key:{grouping labels}`.
    pub group_key: String,
    pub receiver: String,
    pub group_labels: BTreeMap<String, String>,
    /// Every alert of the group, firing and resolved, by labels.
    pub alerts: Vec<Alert>,
    pub repeat_interval_ms: i64,
    /// When the flush was made.
    pub at: i64,
}

impl Flush {
    pub fn firing(&self) -> BTreeSet<u64> {
        self.alerts
            .iter()
            .filter(|a| !a.is_resolved(self.at))
            .map(Alert::fingerprint)
            .collect()
    }

    pub fn resolved(&self) -> BTreeSet<u64> {
        self.alerts
            .iter()
            .filter(|a| a.is_resolved(self.at))
            .map(Alert::fingerprint)
            .collect()
    }
}

/// One aggregation group as the API shows it.
#[derive(Debug, Clone)]
pub struct GroupView {
    pub key: String,
    pub receiver: String,
    pub labels: BTreeMap<String, String>,
    pub alerts: Vec<Alert>,
}

struct Group {
    receiver: String,
    labels: BTreeMap<String, String>,
    alerts: BTreeMap<u64, Alert>,
    next_flush: i64,
    has_flushed: bool,
    group_wait: i64,
    group_interval: i64,
    repeat_interval: i64,
}

/// Aggregation groups over a route tree.
pub struct Dispatcher {
    tree: Route,
    /// By route and group key: sibling routes with the same matchers
    /// share a key, not their groups.
    groups: BTreeMap<(Vec<usize>, String), Group>,
}

/// `{a="b", c="d"}`, as Go's `model.LabelSet` prints.
pub fn labels_string(l: &BTreeMap<String, String>) -> String {
    model::labels::set_string(l.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Dispatcher {
    pub fn new(tree: Route) -> Self {
        Dispatcher {
            tree,
            groups: BTreeMap::new(),
        }
    }

    /// Adds or updates an alert at `now`.
    pub fn insert(&mut self, alert: Alert, now: i64) {
        // The routes are borrowed from the tree while groups change, so
        // the tree is taken out for the walk.
        let tree = std::mem::replace(&mut self.tree, Route::empty());
        let fp = alert.fingerprint();
        for r in tree.matches(&alert.labels) {
            let labels: BTreeMap<String, String> = if r.group_by_all {
                alert.labels.clone()
            } else {
                alert
                    .labels
                    .iter()
                    .filter(|(k, _)| r.group_by.iter().any(|g| g == *k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            };
            let key = format!("{}:{}", r.key, labels_string(&labels));
            let g = self
                .groups
                .entry((r.id.clone(), key))
                .or_insert_with(|| Group {
                    receiver: r.receiver.clone(),
                    labels,
                    alerts: BTreeMap::new(),
                    next_flush: now.saturating_add(ms(r.group_wait)),
                    has_flushed: false,
                    group_wait: ms(r.group_wait),
                    group_interval: ms(r.group_interval),
                    repeat_interval: ms(r.repeat_interval),
                });
            // An alert that started longer ago than group_wait is not held
            // back again (upstream `aggrGroup.insert`).
            if !g.has_flushed && alert.starts_at.saturating_add(g.group_wait) < now {
                g.next_flush = g.next_flush.min(now);
            }
            g.alerts.insert(fp, alert.clone());
        }
        self.tree = tree;
    }

    /// The fingerprints of the alerts some group holds.
    pub fn held(&self) -> std::collections::HashSet<u64> {
        self.groups
            .values()
            .flat_map(|g| g.alerts.keys().copied())
            .collect()
    }

    /// When the next group is due, if any.
    pub fn next_due(&self) -> Option<i64> {
        self.groups.values().map(|g| g.next_flush).min()
    }

    /// Flushes every group due at `now`; each is next due a group interval
    /// later. A group with no alerts left is dropped.
    pub fn flush(&mut self, now: i64) -> Vec<Flush> {
        let mut out = Vec::new();
        self.groups.retain(|_, g| !g.alerts.is_empty());
        for ((route, key), g) in &mut self.groups {
            if g.next_flush > now {
                continue;
            }
            g.next_flush = now.saturating_add(g.group_interval);
            g.has_flushed = true;
            let mut alerts: Vec<Alert> = g.alerts.values().cloned().collect();
            // Upstream's order: by job, then instance, then all labels.
            alerts.sort_by(|a, b| {
                let k = |x: &Alert, n: &str| x.labels.get(n).cloned().unwrap_or_default();
                k(a, "job")
                    .cmp(&k(b, "job"))
                    .then_with(|| k(a, "instance").cmp(&k(b, "instance")))
                    .then_with(|| a.labels.cmp(&b.labels))
            });
            out.push(Flush {
                route: route.clone(),
                group_key: key.clone(),
                receiver: g.receiver.clone(),
                group_labels: g.labels.clone(),
                alerts,
                repeat_interval_ms: g.repeat_interval,
                at: now,
            });
        }
        out
    }

    /// After a flush was handled: resolved alerts it carried leave their
    /// group unless they changed since (upstream deletes only unchanged
    /// resolved alerts).
    pub fn flushed(&mut self, f: &Flush) {
        let Some(g) = self.groups.get_mut(&(f.route.clone(), f.group_key.clone())) else {
            return;
        };
        for a in &f.alerts {
            if !a.is_resolved(f.at) {
                continue;
            }
            let fp = a.fingerprint();
            if g.alerts.get(&fp).is_some_and(|cur| cur == a) {
                g.alerts.remove(&fp);
            }
        }
    }

    /// Every group with its receiver, labels and alerts, for the API.
    pub fn groups(&self) -> Vec<GroupView> {
        self.groups
            .iter()
            .map(|((_, k), g)| GroupView {
                key: k.clone(),
                receiver: g.receiver.clone(),
                labels: g.labels.clone(),
                alerts: g.alerts.values().cloned().collect(),
            })
            .collect()
    }
}

/// What the notification log holds for one group and receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    pub firing: BTreeSet<u64>,
    pub resolved: BTreeSet<u64>,
    /// When it was sent (Unix ms).
    pub at: i64,
}

/// Why a flush is sent (upstream `NotifyReason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    FirstNotification,
    NewAlertsInGroup,
    NewResolvedAlerts,
    AllAlertsResolved,
    RepeatIntervalElapsed,
}

impl Reason {
    /// Upstream's words, as the webhook's `notification_reason` carries.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::FirstNotification => "first notification",
            Reason::NewAlertsInGroup => "new alerts added",
            Reason::NewResolvedAlerts => "some alerts resolved",
            Reason::AllAlertsResolved => "all alerts resolved",
            Reason::RepeatIntervalElapsed => "repeat interval elapsed",
        }
    }
}

/// Upstream `DedupStage.needsUpdate`: whether, and why, a flush should be
/// sent, given what was last sent for the group and receiver.
pub fn needs_update(
    last: Option<&LogEntry>,
    firing: &BTreeSet<u64>,
    resolved: &BTreeSet<u64>,
    send_resolved: bool,
    repeat_interval_ms: i64,
    now: i64,
) -> Option<Reason> {
    let Some(e) = last else {
        return (!firing.is_empty()).then_some(Reason::FirstNotification);
    };
    if !firing.is_subset(&e.firing) {
        // After a resolution the group starts over.
        return Some(if e.firing.is_empty() {
            Reason::FirstNotification
        } else {
            Reason::NewAlertsInGroup
        });
    }
    // Everything resolved: say so, whatever send_resolved says, so the
    // log no longer holds firing alerts; unless the receiver never heard
    // of any.
    if firing.is_empty() {
        return (!e.firing.is_empty()).then_some(Reason::AllAlertsResolved);
    }
    if send_resolved && !resolved.is_subset(&e.resolved) {
        return Some(Reason::NewResolvedAlerts);
    }
    (e.at < now.saturating_sub(repeat_interval_ms)).then_some(Reason::RepeatIntervalElapsed)
}

/// The alerts a receiver gets from a flush: without `send_resolved` the
/// resolved ones are left out, and a flush with nothing firing is not
/// delivered at all (but still logged, as upstream's retry stage does).
pub fn deliverable(f: &Flush, send_resolved: bool) -> Option<Vec<Alert>> {
    if send_resolved {
        return Some(f.alerts.clone());
    }
    let firing: Vec<Alert> = f
        .alerts
        .iter()
        .filter(|a| !a.is_resolved(f.at))
        .cloned()
        .collect();
    (!firing.is_empty()).then_some(firing)
}

/// The notification log: what each group last sent to each receiver,
/// optionally kept in SQLite (table `nflog`) and written at each record,
/// so a restart does not send again what was sent.
#[derive(Debug, Default)]
pub struct Log {
    entries: HashMap<(String, String), LogEntry>,
    conn: Option<rusqlite::Connection>,
}

fn ids(set: &BTreeSet<u64>) -> String {
    set.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_ids(s: &str) -> BTreeSet<u64> {
    s.split(',').filter_map(|x| x.parse().ok()).collect()
}

impl Log {
    /// Opens the log kept in the SQLite file at `path`; entries older
    /// than `retention_ms` before `now` are dropped.
    pub fn open(path: &std::path::Path, now: i64, retention_ms: i64) -> Result<Self, String> {
        let conn = rusqlite::Connection::open(path)
            .map_err(|e| format!("open {}: {e}", path.display()))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
             CREATE TABLE IF NOT EXISTS nflog (
                 group_key TEXT NOT NULL, receiver TEXT NOT NULL,
                 firing TEXT NOT NULL, resolved TEXT NOT NULL, at INTEGER NOT NULL,
                 PRIMARY KEY (group_key, receiver));",
        )
        .map_err(|e| format!("{}: {e}", path.display()))?;
        conn.execute(
            "DELETE FROM nflog WHERE at < ?1",
            [now.saturating_sub(retention_ms)],
        )
        .map_err(|e| e.to_string())?;
        let mut entries = HashMap::new();
        {
            let mut stmt = conn
                .prepare("SELECT group_key, receiver, firing, resolved, at FROM nflog")
                .map_err(|e| e.to_string())?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, i64>(4)?,
                    ))
                })
                .map_err(|e| e.to_string())?;
            for row in rows {
                let (g, r, f, res, at) = row.map_err(|e| e.to_string())?;
                entries.insert(
                    (g, r),
                    LogEntry {
                        firing: parse_ids(&f),
                        resolved: parse_ids(&res),
                        at,
                    },
                );
            }
        }
        Ok(Log {
            entries,
            conn: Some(conn),
        })
    }

    pub fn get(&self, group_key: &str, receiver: &str) -> Option<&LogEntry> {
        self.entries
            .get(&(group_key.to_string(), receiver.to_string()))
    }

    /// Records a send; with a file, it is written before this returns.
    pub fn record(&mut self, group_key: &str, receiver: &str, entry: LogEntry) {
        if let Some(c) = &self.conn {
            let r = c.execute(
                "INSERT INTO nflog (group_key, receiver, firing, resolved, at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(group_key, receiver) DO UPDATE SET firing = excluded.firing, resolved = excluded.resolved, at = excluded.at",
                rusqlite::params![group_key, receiver, ids(&entry.firing), ids(&entry.resolved), entry.at],
            );
            if let Err(e) = r {
                tracing::error!(group_key, receiver, error = %e, "writing the notification log failed");
            }
        }
        self.entries
            .insert((group_key.to_string(), receiver.to_string()), entry);
    }

    /// Drops entries recorded more than `retention_ms` before `now`;
    /// returns how many.
    pub fn gc(&mut self, now: i64, retention_ms: i64) -> usize {
        let cutoff = now.saturating_sub(retention_ms);
        if let Some(c) = &self.conn {
            if let Err(e) = c.execute("DELETE FROM nflog WHERE at < ?1", [cutoff]) {
                tracing::error!(error = %e, "dropping old notification log entries failed");
                return 0;
            }
        }
        let before = self.entries.len();
        self.entries.retain(|_, e| e.at >= cutoff);
        before - self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RouteConfig;

    const S: i64 = 1000;
    const M: i64 = 60 * S;

    fn tree(yaml: &str) -> Route {
        let cfg: RouteConfig = serde_yaml::from_str(yaml).unwrap();
        Route::new(&cfg).unwrap()
    }

    fn alert(name: &str, starts: i64, ends: i64, now: i64) -> Alert {
        Alert {
            labels: [
                ("alertname".to_string(), name.to_string()),
                ("job".to_string(), "api".to_string()),
            ]
            .into(),
            annotations: BTreeMap::new(),
            starts_at: starts,
            ends_at: ends,
            generator_url: String::new(),
            updated_at: now,
        }
    }

    /// Runs the dispatcher and log over a timeline of inserts, flushing at
    /// every due time, and returns what was sent: (time, firing names,
    /// resolved names).
    fn run(
        d: &mut Dispatcher,
        events: &[(i64, Alert)],
        until: i64,
        send_resolved: bool,
    ) -> Vec<(i64, Vec<String>, Vec<String>)> {
        let mut log = Log::default();
        let mut sent = Vec::new();
        let mut i = 0;
        let mut now = 0;
        while now <= until {
            while i < events.len() && events[i].0 <= now {
                d.insert(events[i].1.clone(), now);
                i += 1;
            }
            for f in d.flush(now) {
                let (firing, resolved) = (f.firing(), f.resolved());
                let last = log.get(&f.group_key, &f.receiver);
                let why = needs_update(
                    last,
                    &firing,
                    &resolved,
                    send_resolved,
                    f.repeat_interval_ms,
                    now,
                );
                if why.is_some() {
                    if let Some(alerts) = deliverable(&f, send_resolved) {
                        let names = |resolved: bool| -> Vec<String> {
                            alerts
                                .iter()
                                .filter(|a| a.is_resolved(now) == resolved)
                                .map(|a| a.labels["alertname"].clone())
                                .collect()
                        };
                        sent.push((now / S, names(false), names(true)));
                    }
                    log.record(
                        &f.group_key,
                        &f.receiver,
                        LogEntry {
                            firing,
                            resolved,
                            at: now,
                        },
                    );
                }
                d.flushed(&f);
            }
            now += S;
        }
        sent
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn group_wait_interval_repeat_and_resolved() {
        let mut d = Dispatcher::new(tree("receiver: r\ngroup_by: [job]\ngroup_wait: 30s\ngroup_interval: 5m\nrepeat_interval: 1h\n"));
        let events = vec![
            (0, alert("A", 0, 0, 0)),
            (60 * S, alert("B", 60 * S, 0, 60 * S)),
            (12 * M, alert("A", 0, 12 * M, 12 * M)),
        ];
        let sent = run(&mut d, &events, 81 * M, true);
        assert_eq!(
            sent,
            vec![
                // group_wait after the first alert.
                (30, names(&["A"]), names(&[])),
                // B joined at 1m: sent with the next group interval.
                (330, names(&["A", "B"]), names(&[])),
                // A resolved at 12m: sent at the following interval.
                (930, names(&["B"]), names(&["A"])),
                // Nothing new: repeated at the first interval strictly
                // after the repeat interval (930 s + 1 h is not yet).
                (4830, names(&["B"]), names(&[])),
            ]
        );
    }

    #[test]
    fn resolution_without_send_resolved_and_all_resolved() {
        let mut d = Dispatcher::new(tree("receiver: r\ngroup_wait: 10s\ngroup_interval: 1m\n"));
        let events = vec![
            (0, alert("A", 0, 0, 0)),
            (0, alert("B", 0, 0, 0)),
            (90 * S, alert("A", 0, 90 * S, 90 * S)),
            (200 * S, alert("B", 0, 200 * S, 200 * S)),
        ];
        let sent = run(&mut d, &events, 10 * M, false);
        // Without send_resolved no resolution reaches the receiver; the
        // log still records that all resolved.
        assert_eq!(sent, vec![(10, names(&["A", "B"]), names(&[]))]);
    }

    #[test]
    fn old_alerts_skip_group_wait() {
        let mut d = Dispatcher::new(tree("receiver: r\ngroup_wait: 30s\n"));
        // Started 10 minutes before it reached the dispatcher.
        d.insert(alert("A", 0, 0, 10 * M), 10 * M);
        let f = d.flush(10 * M);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].group_key, "{}:{}");
    }

    #[test]
    fn the_log_survives_reopening() {
        let dir = std::env::temp_dir().join(format!("wf-nflog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("alerter.db");
        let e = LogEntry {
            firing: [1, u64::MAX].into(),
            resolved: [7].into(),
            at: 5_000,
        };
        Log::open(&path, 5_000, 1_000_000)
            .unwrap()
            .record("g", "r/0", e.clone());
        assert_eq!(
            Log::open(&path, 6_000, 1_000_000).unwrap().get("g", "r/0"),
            Some(&e)
        );
        // A running log drops it past retention, on disk too.
        let mut running = Log::open(&path, 6_000, 1_000_000).unwrap();
        assert_eq!(running.gc(500_000, 1_000_000), 0);
        assert_eq!(running.gc(1_500_000, 1_000_000), 1);
        assert_eq!(running.get("g", "r/0"), None);
        assert_eq!(
            Log::open(&path, 6_000, 1_000_000).unwrap().get("g", "r/0"),
            None
        );
        Log::open(&path, 5_000, 1_000_000)
            .unwrap()
            .record("g", "r/0", e.clone());
        // Past retention it is gone at opening.
        assert_eq!(
            Log::open(&path, 2_000_000, 1_000_000)
                .unwrap()
                .get("g", "r/0"),
            None
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sibling_routes_with_the_same_matchers_keep_their_own_groups() {
        let mut d = Dispatcher::new(tree("receiver: def\nroutes:\n- matchers: ['job=api']\n  receiver: a\n  continue: true\n- matchers: ['job=api']\n  receiver: b\n"));
        d.insert(alert("X", 0, 0, 0), 0);
        let mut got: Vec<(String, Vec<usize>)> = d
            .flush(60_000)
            .into_iter()
            .map(|f| (f.receiver, f.route))
            .collect();
        got.sort();
        assert_eq!(got, [("a".into(), vec![0]), ("b".into(), vec![1])]);
    }

    #[test]
    fn every_matching_route_gets_a_group() {
        let mut d = Dispatcher::new(tree("receiver: def\nroutes:\n- matchers: ['job=api']\n  receiver: a\n  continue: true\n- matchers: ['job=~\"a.*\"']\n  receiver: b\n  group_by: [alertname]\n"));
        d.insert(alert("X", 0, 0, 0), 0);
        let mut keys: Vec<String> = d
            .groups()
            .into_iter()
            .map(|g| format!("{} {}", g.receiver, g.key))
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "a {}/{job=\"api\"}:{}",
                "b {}/{job=~\"a.*\"}:{alertname=\"X\"}"
            ]
        );
    }
}
