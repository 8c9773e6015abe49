//! Alerting rules: the inactive → pending → firing → resolved state
//! machine with `for` and `keep_firing_for`, the `ALERTS` and
//! `ALERTS_FOR_STATE` series, and the choice of what to (re)send. Mirrors
//! upstream `rules/alerting.go`.

use std::collections::{BTreeMap, HashMap};

use model::{Labels, MatchOp, Matcher, METRIC_NAME};

use crate::expand::Context;
use crate::file::Rule;
use crate::group::RuleQuery;
use crate::status::Status;

/// How long a resolved alert stays in the active set: it is re-sent as
/// resolved meanwhile, and a `for` resumes if it fires again (upstream
/// `resolvedRetention`).
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

pub const ALERTS: &str = "ALERTS";
pub const ALERTS_FOR_STATE: &str = "ALERTS_FOR_STATE";
pub const ALERT_NAME: &str = "alertname";
pub const ALERT_STATE: &str = "alertstate";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Inactive,
    Pending,
    Firing,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Inactive => "inactive",
            State::Pending => "pending",
            State::Firing => "firing",
        }
    }
}

/// One alert of a rule. Times are Unix milliseconds; 0 in `fired_at`,
/// `valid_until` and `keep_firing_since` is "not yet".
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub labels: Labels,
    /// Expanded annotations; unlike labels, an empty value is kept.
    pub annotations: BTreeMap<String, String>,
    pub state: State,
    pub value: f64,
    pub active_at: i64,
    pub fired_at: i64,
    pub resolved_at: Option<i64>,
    pub last_sent_at: Option<i64>,
    pub valid_until: i64,
    pub keep_firing_since: i64,
}

impl Alert {
    /// Upstream `needsSending`: never while pending; at once after a
    /// resolution; otherwise once `resend_delay` has passed since the last
    /// send.
    fn needs_sending(&self, ts: i64, resend_delay: i64) -> bool {
        if self.state == State::Pending {
            return false;
        }
        let Some(last) = self.last_sent_at else {
            return true;
        };
        if self.resolved_at.is_some_and(|r| r > last) {
            return true;
        }
        last + resend_delay < ts
    }
}

/// An alerting rule and its active alerts.
#[derive(Debug)]
pub struct AlertingRule {
    pub name: String,
    pub expr_text: String,
    expr: promql::Expr,
    pub hold_ms: i64,
    pub keep_firing_for_ms: i64,
    /// The rule's labels, group labels merged in.
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// Active alerts by the fingerprint of their labels.
    pub active: HashMap<u64, Alert>,
    /// Whether `for` state has been restored; `ALERTS` and
    /// `ALERTS_FOR_STATE` are written only after that.
    pub restored: bool,
    pub status: Status,
}

impl AlertingRule {
    pub fn new(
        rule: &Rule,
        name: &str,
        group_labels: &BTreeMap<String, String>,
    ) -> Result<Self, String> {
        let (expr, labels) = rule.compile(group_labels)?;
        Ok(AlertingRule {
            name: name.to_string(),
            expr_text: expr.to_string(),
            expr,
            hold_ms: rule.for_.as_millis() as i64,
            keep_firing_for_ms: rule.keep_firing_for.as_millis() as i64,
            labels,
            annotations: rule.annotations.clone(),
            active: HashMap::new(),
            restored: false,
            status: Status::default(),
        })
    }

    pub fn expr(&self) -> &promql::Expr {
        &self.expr
    }

    /// Evaluates the rule at `ts` (the query runs at `ts - offset`) and
    /// returns the `ALERTS` and `ALERTS_FOR_STATE` samples to write.
    pub fn eval(
        &mut self,
        ts: i64,
        offset: i64,
        query: &RuleQuery<'_>,
        ctx: &Context,
        limit: u64,
    ) -> Result<Vec<(Labels, f64)>, String> {
        let res = query(&self.expr, ts - offset)?;
        let mut fresh: HashMap<u64, Alert> = HashMap::with_capacity(res.len());
        for (metric, value) in &res {
            let expand = |text: &str| ctx.expand(&self.name, text, metric, *value);
            let mut b = metric.builder();
            b.del(METRIC_NAME);
            for (k, v) in &self.labels {
                // An empty expansion removes the label, as upstream.
                let v = expand(v);
                if v.is_empty() {
                    b.del(k);
                } else {
                    b.set(k, &v);
                }
            }
            b.set(ALERT_NAME, &self.name);
            let labels = b.labels();
            let annotations: BTreeMap<String, String> = self
                .annotations
                .iter()
                .map(|(k, v)| (k.clone(), expand(v)))
                .collect();
            let h = labels.fingerprint();
            if fresh.contains_key(&h) {
                return Err(
                    "vector contains metrics with the same labelset after applying alert labels"
                        .into(),
                );
            }
            fresh.insert(
                h,
                Alert {
                    labels,
                    annotations,
                    state: State::Pending,
                    value: *value,
                    active_at: ts,
                    fired_at: 0,
                    resolved_at: None,
                    last_sent_at: None,
                    valid_until: 0,
                    keep_firing_since: 0,
                },
            );
        }
        let seen: std::collections::HashSet<u64> = fresh.keys().copied().collect();
        for (h, a) in fresh {
            match self.active.get_mut(&h) {
                Some(old) if old.state != State::Inactive => {
                    old.value = a.value;
                    old.annotations = a.annotations;
                }
                _ => {
                    self.active.insert(h, a);
                }
            }
        }
        let mut out = Vec::new();
        let mut active_pending = 0u64;
        let mut remove = Vec::new();
        let mut keys: Vec<u64> = self.active.keys().copied().collect();
        // A stable order for the series written.
        keys.sort_by(|a, b| self.active[a].labels.cmp(&self.active[b].labels));
        for h in keys {
            let Some(a) = self.active.get_mut(&h) else {
                continue;
            };
            if !seen.contains(&h) {
                let mut keep_firing = false;
                if a.state == State::Firing && self.keep_firing_for_ms > 0 {
                    if a.keep_firing_since == 0 {
                        a.keep_firing_since = ts;
                    }
                    keep_firing = ts - a.keep_firing_since < self.keep_firing_for_ms;
                }
                if a.state == State::Pending
                    || a.resolved_at
                        .is_some_and(|r| ts - r > RESOLVED_RETENTION_MS)
                {
                    remove.push(h);
                }
                if a.state != State::Inactive && !keep_firing {
                    a.state = State::Inactive;
                    a.resolved_at = Some(ts);
                }
                if !keep_firing {
                    continue;
                }
            } else {
                a.keep_firing_since = 0;
            }
            active_pending += 1;
            if a.state == State::Pending && ts - a.active_at >= self.hold_ms {
                a.state = State::Firing;
                a.fired_at = ts;
            }
            // A firing alert whose rule now holds longer (a reload raised
            // `for`) goes back to pending.
            if a.state == State::Firing && ts - a.active_at < self.hold_ms {
                a.state = State::Pending;
                a.fired_at = 0;
                a.last_sent_at = None;
                a.keep_firing_since = 0;
            }
            if self.restored {
                out.push((series(ALERTS, &a.labels, Some(a.state)), 1.0));
                out.push((
                    series(ALERTS_FOR_STATE, &a.labels, None),
                    (a.active_at / 1000) as f64,
                ));
            }
        }
        for h in remove {
            self.active.remove(&h);
        }
        if limit > 0 && active_pending > limit {
            self.active.clear();
            return Err(format!(
                "exceeded limit of {limit} with {active_pending} alerts"
            ));
        }
        Ok(out)
    }

    /// The alerts to hand to Alertmanager at `ts`, marked as sent (upstream
    /// `sendAlerts`). `valid_until` allows for two missed evaluations or
    /// sends.
    pub fn to_send(&mut self, ts: i64, resend_delay: i64, interval: i64) -> Vec<Alert> {
        let mut out = Vec::new();
        for a in self.active.values_mut() {
            if a.needs_sending(ts, resend_delay) {
                a.last_sent_at = Some(ts);
                a.valid_until = ts.saturating_add(resend_delay.max(interval).saturating_mul(4));
                out.push(a.clone());
            }
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    /// Alerts in the pending or firing state, in label order.
    pub fn alerts(&self) -> Vec<&Alert> {
        let mut v: Vec<&Alert> = self
            .active
            .values()
            .filter(|a| a.state != State::Inactive)
            .collect();
        v.sort_by(|a, b| a.labels.cmp(&b.labels));
        v
    }

    /// The rule's overall state: firing if any alert fires, else pending if
    /// any is pending.
    pub fn state(&self) -> State {
        let mut s = State::Inactive;
        for a in self.active.values() {
            match a.state {
                State::Firing => return State::Firing,
                State::Pending => s = State::Pending,
                State::Inactive => {}
            }
        }
        s
    }

    /// Matchers selecting this rule's `ALERTS_FOR_STATE` series: the name,
    /// the alert name and every rule label that is not a template.
    pub fn for_state_matchers(&self) -> Vec<Matcher> {
        let mut m = vec![
            eq(METRIC_NAME, ALERTS_FOR_STATE),
            eq(ALERT_NAME, &self.name),
        ];
        for (k, v) in &self.labels {
            if !v.contains("{{") {
                m.push(eq(k, v));
            }
        }
        m
    }

    /// Upstream `RestoreForState` for one alert: `down_at` is the time of
    /// the last `ALERTS_FOR_STATE` sample (ms), `active_at_s` its value;
    /// `ts` is now. Returns the restored `active_at` (ms): the original one
    /// when the alert was already firing (it fires again at the next
    /// evaluation), else shifted so that it fires no sooner than `grace`
    /// from now and waits out the time it was down.
    pub fn restored_active_at(
        &self,
        ts: i64,
        down_at: i64,
        active_at_s: f64,
        grace_ms: i64,
    ) -> i64 {
        let down_at = down_at.div_euclid(1000) * 1000;
        // The value is whatever the store holds; one out of any sensible
        // range saturates rather than wrapping.
        let active_at = if active_at_s.is_finite() {
            (active_at_s.trunc() as i64).saturating_mul(1000)
        } else {
            ts
        };
        let remaining = self
            .hold_ms
            .saturating_sub(down_at.saturating_sub(active_at));
        if remaining <= 0 {
            active_at
        } else if remaining < grace_ms {
            ts.saturating_add(grace_ms).saturating_sub(self.hold_ms)
        } else {
            active_at.saturating_add(ts.saturating_sub(down_at))
        }
    }
}

fn eq(name: &str, value: &str) -> Matcher {
    Matcher::new(MatchOp::Equal, name, value)
        .expect("an equality matcher has no pattern that could fail to compile")
}

/// `ALERTS{…, alertstate="…"}` or `ALERTS_FOR_STATE{…}` for an alert.
fn series(name: &str, labels: &Labels, state: Option<State>) -> Labels {
    let mut b = labels.builder();
    b.set(METRIC_NAME, name);
    if let Some(s) = state {
        b.set(ALERT_STATE, s.as_str());
    }
    b.labels()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::file::RuleKind;

    const M: i64 = 60_000;

    fn rule(for_: u64, keep: u64) -> AlertingRule {
        let r = Rule {
            kind: RuleKind::Alert("Down".into()),
            expr: "up == 0".into(),
            for_: Duration::from_millis(for_),
            keep_firing_for: Duration::from_millis(keep),
            labels: [("severity".to_string(), "page".to_string())].into(),
            annotations: [(
                "summary".to_string(),
                "{{ $labels.job }} is down".to_string(),
            )]
            .into(),
            line: 1,
        };
        let mut a = AlertingRule::new(&r, "Down", &BTreeMap::new()).unwrap();
        a.restored = true;
        a
    }

    /// Evaluates `r` at `ts` with the expression returning one series
    /// when `present`.
    fn step(r: &mut AlertingRule, ts: i64, present: bool) -> Vec<(Labels, f64)> {
        let q = move |_: &promql::Expr, _: i64| {
            Ok(if present {
                vec![(
                    Labels::from_pairs([("__name__", "up"), ("job", "api")]),
                    0.0,
                )]
            } else {
                vec![]
            })
        };
        r.eval(ts, 0, &q, &Context::default(), 0).unwrap()
    }

    fn state(r: &AlertingRule) -> Option<State> {
        r.active.values().next().map(|a| a.state)
    }

    #[test]
    fn pending_then_firing_then_resolved() {
        let mut r = rule(2 * M as u64, 0);
        // (time, present, state after, ALERTS samples written)
        let timeline = [
            (0, true, Some(State::Pending), 2),
            (M, true, Some(State::Pending), 2),
            (2 * M, true, Some(State::Firing), 2),
            (3 * M, false, Some(State::Inactive), 0),
            (4 * M, false, Some(State::Inactive), 0),
            (3 * M + RESOLVED_RETENTION_MS + 1, false, None, 0),
        ];
        for (ts, present, want, series) in timeline {
            let out = step(&mut r, ts, present);
            assert_eq!(state(&r), want, "t={ts}");
            assert_eq!(out.len(), series, "t={ts}: {out:?}");
        }
    }

    #[test]
    fn alerts_series_and_labels() {
        let mut r = rule(0, 0);
        let out = step(&mut r, 5 * M, true);
        let a = r.alerts()[0].clone();
        assert_eq!(a.labels.get("alertname"), Some("Down"));
        assert_eq!(a.labels.get("severity"), Some("page"));
        assert_eq!(a.labels.get("__name__"), None);
        assert_eq!(a.annotations["summary"], "api is down");
        assert_eq!(out[0].0.get("__name__"), Some("ALERTS"));
        assert_eq!(out[0].0.get("alertstate"), Some("firing"));
        assert_eq!(out[1].0.get("__name__"), Some("ALERTS_FOR_STATE"));
        assert_eq!(out[1].1, 300.0);
        // Not restored yet: nothing is written.
        r.restored = false;
        assert!(step(&mut r, 6 * M, true).is_empty());
    }

    #[test]
    fn pending_alert_that_goes_away_is_forgotten() {
        let mut r = rule(5 * M as u64, 0);
        step(&mut r, 0, true);
        step(&mut r, M, false);
        assert!(r.active.is_empty());
        // Comes back: pending again from the new time.
        step(&mut r, 2 * M, true);
        assert_eq!(r.alerts()[0].active_at, 2 * M);
    }

    #[test]
    fn raising_for_sends_a_firing_alert_back_to_pending() {
        let mut r = rule(0, 0);
        step(&mut r, 0, true);
        assert_eq!(state(&r), Some(State::Firing));
        // A reload raised `for` to 10m; the alert became active at 0.
        r.hold_ms = 10 * M;
        step(&mut r, M, true);
        let a = r.alerts()[0];
        assert_eq!(
            (a.state, a.fired_at, a.last_sent_at),
            (State::Pending, 0, None)
        );
        step(&mut r, 10 * M, true);
        assert_eq!(state(&r), Some(State::Firing));
    }

    #[test]
    fn keep_firing_for() {
        let mut r = rule(0, 2 * M as u64);
        let timeline = [
            (0, true, State::Firing),
            (M, false, State::Firing),
            (2 * M, false, State::Firing),
            (3 * M, false, State::Inactive),
        ];
        for (ts, present, want) in timeline {
            step(&mut r, ts, present);
            assert_eq!(state(&r), Some(want), "t={ts}");
        }
    }

    #[test]
    fn resend_schedule() {
        let mut r = rule(0, 0);
        let sent = |r: &mut AlertingRule, ts: i64| r.to_send(ts, M, 15_000).len();
        step(&mut r, 0, true);
        assert_eq!(sent(&mut r, 0), 1, "first firing is sent");
        assert_eq!(r.alerts()[0].valid_until, 4 * M);
        step(&mut r, 30_000, true);
        assert_eq!(sent(&mut r, 30_000), 0, "within the resend delay");
        step(&mut r, 75_000, true);
        assert_eq!(sent(&mut r, 75_000), 1, "after the resend delay");
        step(&mut r, 90_000, false);
        assert_eq!(sent(&mut r, 90_000), 1, "resolution is sent at once");
        step(&mut r, 105_000, false);
        assert_eq!(sent(&mut r, 105_000), 0);
        step(&mut r, 160_000, false);
        assert_eq!(sent(&mut r, 160_000), 1, "resolved alerts are re-sent");
    }

    #[test]
    fn restore_math_as_upstream() {
        let r = rule(10 * M as u64, 0);
        let grace = 10 * M;
        // Pending 2m when it went down at 100m, back at 105m: 8m remain,
        // less than the grace period, so it fires at now + grace.
        let now = 105 * M;
        assert_eq!(
            r.restored_active_at(now, 100 * M, (98 * M / 1000) as f64, grace),
            now + grace - 10 * M
        );
        // With a 1m grace period the down time is added instead.
        assert_eq!(
            r.restored_active_at(now, 100 * M, (98 * M / 1000) as f64, M),
            98 * M + 5 * M
        );
        // Already firing when it went down: the original time, so it fires
        // again at the next evaluation.
        assert_eq!(
            r.restored_active_at(now, 100 * M, (80 * M / 1000) as f64, grace),
            80 * M
        );
    }
}
