//! The dispatcher: alerts into aggregation groups per route and grouping
//! labels, flushed on Alertmanager's timers (upstream `dispatch/dispatch.go`).
//! Each flush goes through [`crate::pipeline`], whose dedup stage asks
//! the notification log whether it is worth sending.
//!
//! Time is passed in (Unix ms), never read here, so timelines are tested
//! on an injected clock (the tests below drive the whole pipeline,
//! [`crate::runtime::Alerter::tick`] and its record stage):
//!
//! - an alert joins the group of every route it matches; a new group
//!   flushes after `group_wait` (at once if the alert started longer ago
//!   than that and the group never flushed);
//! - a group flushes again every `group_interval`;
//! - a flush is sent (the pipeline's dedup stage decides) when firing
//!   alerts are new to the receiver, when resolved alerts are new and
//!   `send_resolved` is on, when everything resolved, or when
//!   `repeat_interval` has passed since the last send;
//! - resolved alerts leave the group once a flush carried them.

use std::collections::{BTreeMap, BTreeSet};
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

    /// Whether a group with this key goes to this receiver.
    pub fn has_group(&self, key: &str, receiver: &str) -> bool {
        self.groups
            .iter()
            .any(|((_, k), g)| k == key && g.receiver == receiver)
    }

    /// Whether a group has an alert still firing at `now`.
    pub fn group_firing(&self, key: &str, receiver: &str, now: i64) -> bool {
        self.groups.iter().any(|((_, k), g)| {
            k == key && g.receiver == receiver && g.alerts.values().any(|a| !a.is_resolved(now))
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RouteConfig;

    const S: i64 = 1000;
    const M: i64 = 60 * S;

    fn tree(yaml: &str) -> Route {
        let cfg: RouteConfig = model::yaml::from_str(yaml).unwrap();
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

    /// Runs the real pipeline ([`crate::runtime::Alerter::tick`], then
    /// [`crate::runtime::Alerter::record`] for what it delivers, as the
    /// service does) under `route` over a timeline of alerts received,
    /// ticking every second, and returns what was sent: (time, firing
    /// names, resolved names). Alerts without an end stay firing.
    fn run(
        route: &str,
        events: &[(i64, Alert)],
        until: i64,
        send_resolved: bool,
    ) -> Vec<(i64, Vec<String>, Vec<String>)> {
        let route: String = route.lines().map(|l| format!("  {l}\n")).collect();
        let yaml = format!(
            "global:\n  resolve_timeout: 10000h\nroute:\n{route}receivers:\n  - name: r\n    webhook_configs:\n      - url: http://127.0.0.1:1/\n        send_resolved: {send_resolved}\n"
        );
        let cfg = crate::config::parse(&yaml, "am.yml").unwrap();
        let silences = crate::silence::Silences::open(None, 0).unwrap();
        let mut a = crate::runtime::Alerter::new(&cfg, silences).unwrap();
        let mut sent = Vec::new();
        let mut i = 0;
        let mut now = 0;
        while now <= until {
            while i < events.len() && events[i].0 <= now {
                a.put(vec![events[i].1.clone()], now);
                i += 1;
            }
            for d in a.tick(now) {
                let names = |resolved: bool| -> Vec<String> {
                    d.alerts
                        .iter()
                        .filter(|x| x.is_resolved(now) == resolved)
                        .map(|x| x.labels["alertname"].clone())
                        .collect()
                };
                sent.push((now / S, names(false), names(true)));
                a.record(&d).wait_blocking().unwrap();
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
        let route = "receiver: r\ngroup_by: [job]\ngroup_wait: 30s\ngroup_interval: 5m\nrepeat_interval: 1h\n";
        let events = vec![
            (0, alert("A", 0, 0, 0)),
            (60 * S, alert("B", 60 * S, 0, 60 * S)),
            (12 * M, alert("A", 0, 12 * M, 12 * M)),
        ];
        let sent = run(route, &events, 81 * M, true);
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
        let route = "receiver: r\ngroup_wait: 10s\ngroup_interval: 1m\n";
        let events = vec![
            (0, alert("A", 0, 0, 0)),
            (0, alert("B", 0, 0, 0)),
            (90 * S, alert("A", 0, 90 * S, 90 * S)),
            (200 * S, alert("B", 0, 200 * S, 200 * S)),
        ];
        let sent = run(route, &events, 10 * M, false);
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
