//! Notification as a pipeline of small stages, in Alertmanager's order
//! (upstream `notify/notify.go`, `PipelineBuilder.New`): for each flush of
//! an aggregation group,
//!
//! 1. [`MuteStage`] over the [`Inhibitor`](crate::inhibit::Inhibitor);
//! 2. [`MuteStage`] over the route's active time intervals
//!    ([`TimeActive`]) and then its mute time intervals ([`TimeMute`]);
//! 3. [`MuteStage`] over the silences;
//! 4. per integration of the receiver (upstream's fan-out):
//!    [`DedupStage`] against the notification log, which makes a
//!    [`Delivery`] when the flush says something new;
//! 5. [`retry`]: sending with a doubling back-off until the group's next
//!    flush (upstream `RetryStage`);
//! 6. recording the send in the notification log (upstream
//!    `SetNotifiesStage`), by [`crate::runtime::Alerter::record`].
//!
//! Stages 1–4 run under the alerter's lock, without I/O
//! ([`crate::runtime::Alerter::tick`]); 5 and 6 run in a task per delivery
//! ([`crate::service::Service`]). As upstream's `MultiStage`, a stage that
//! leaves no alert ends the pipeline.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use crate::ack::Answer;
use crate::dispatch::{Alert, Flush};
use crate::mute::{At, Muter};
use crate::nflog::{Log, LogEntry};
use crate::notify::SendError;
use crate::runtime::Delivery;

pub use crate::mute::{TimeActive, TimeMute};

/// One step of the pipeline (upstream `notify.Stage`): takes a flush's
/// alerts and gives back those that go on.
pub trait Stage {
    /// The stage's name, for logs and tests.
    fn name(&self) -> &'static str;
    /// Runs the stage over `alerts` at a flush.
    fn exec(&self, at: At<'_>, alerts: Vec<Alert>) -> Vec<Alert>;
}

/// Leaves out the alerts a [`Muter`] mutes (upstream `MuteStage`, and the
/// time stages, which mute a whole flush).
pub struct MuteStage<M> {
    name: &'static str,
    muter: M,
}

impl<M: Muter> MuteStage<M> {
    pub fn new(name: &'static str, muter: M) -> Self {
        MuteStage { name, muter }
    }
}

impl<M: Muter> Stage for MuteStage<M> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn exec(&self, at: At<'_>, mut alerts: Vec<Alert>) -> Vec<Alert> {
        alerts.retain(|a| !self.muter.mutes(&a.labels, at));
        alerts
    }
}

/// Runs `stages` in order (upstream `MultiStage`); an empty result ends
/// the run.
pub fn run(stages: &[&dyn Stage], at: At<'_>, mut alerts: Vec<Alert>) -> Vec<Alert> {
    for s in stages {
        if alerts.is_empty() {
            break;
        }
        alerts = s.exec(at, alerts);
    }
    alerts
}

/// Why a flush is sent (upstream `NotifyReason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    FirstNotification,
    NewAlertsInGroup,
    NewResolvedAlerts,
    AllAlertsResolved,
    RepeatIntervalElapsed,
    /// A snooze ran out (ours; Alertmanager has no snooze).
    SnoozeEnded,
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
            Reason::SnoozeEnded => "snooze ended",
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

/// Asks the notification log whether a flush says something new to one
/// integration (upstream `DedupStage`).
pub struct DedupStage<'a> {
    pub log: &'a Log,
    /// The log's receiver key: `receiver/integration index`.
    pub key: &'a str,
    pub send_resolved: bool,
    /// The group's acknowledgement or snooze for this receiver, if any:
    /// repeats are held back while it lasts, and a snooze that ran out is
    /// owed a notification.
    pub answer: Option<&'a Answer>,
}

/// What the dedup stage decided for one integration.
pub enum Dedup {
    /// Nothing new: not sent.
    Skip,
    /// Nothing firing for an integration that does not hear of
    /// resolutions: logged as sent, not delivered.
    LogOnly(LogEntry),
    /// Send these alerts, then log the entry.
    Send {
        reason: Reason,
        alerts: Vec<Alert>,
        entry: LogEntry,
    },
}

impl DedupStage<'_> {
    pub fn exec(&self, f: &Flush, now: i64) -> Dedup {
        let (firing, resolved): (BTreeSet<u64>, BTreeSet<u64>) = (f.firing(), f.resolved());
        let last = self.log.get(&f.group_key, self.key);
        let mut reason = needs_update(
            last,
            &firing,
            &resolved,
            self.send_resolved,
            f.repeat_interval_ms,
            now,
        );
        if let Some(a) = self.answer {
            let repeat = matches!(reason, None | Some(Reason::RepeatIntervalElapsed));
            if repeat && a.snooze_ended(now) && !firing.is_empty() && last.is_some() {
                reason = Some(Reason::SnoozeEnded);
            } else if reason == Some(Reason::RepeatIntervalElapsed) && a.quiets_repeats(now) {
                reason = None;
            }
        }
        let Some(reason) = reason else {
            return Dedup::Skip;
        };
        let entry = LogEntry {
            firing,
            resolved,
            at: now,
        };
        match deliverable(f, self.send_resolved) {
            Some(alerts) => Dedup::Send {
                reason,
                alerts,
                entry,
            },
            None => Dedup::LogOnly(entry),
        }
    }
}

/// How a delivery failed for good.
#[derive(Debug, Clone)]
pub struct Failure {
    /// `retries_exhausted` or `client_error`, as the metric's reason.
    pub reason: &'static str,
    pub error: SendError,
}

/// Sends a delivery until it succeeds, a failure is not worth retrying,
/// or the next retry would reach the group's next flush (which then takes
/// over): upstream `RetryStage`, with a doubling back-off from 500 ms
/// capped at 10 s. `attempt` makes one try at a time (Unix ms, from
/// `now`); `observe` hears how long each took.
pub async fn retry<T, F, Fut>(
    d: &Delivery,
    now: impl Fn() -> i64,
    mut attempt: F,
    mut observe: impl FnMut(Duration),
) -> Result<T, Failure>
where
    F: FnMut(i64) -> Fut,
    Fut: Future<Output = Result<T, SendError>>,
{
    let mut backoff = Duration::from_millis(500);
    loop {
        let started = tokio::time::Instant::now();
        let result = attempt(now()).await;
        observe(started.elapsed());
        let e = match result {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let late = now() + backoff.as_millis() as i64 >= d.deadline;
        if !e.retry || late {
            tracing::error!(receiver = %d.receiver, integration = %d.integration.name(), error = %e.message, "notify failed");
            let reason = if e.retry {
                "retries_exhausted"
            } else {
                "client_error"
            };
            return Err(Failure { reason, error: e });
        }
        tracing::warn!(receiver = %d.receiver, integration = %d.integration.name(), error = %e.message, "notify failed, retrying");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::collections::BTreeMap;

    fn alert(name: &str) -> Alert {
        Alert {
            labels: [("alertname".to_string(), name.to_string())].into(),
            annotations: BTreeMap::new(),
            starts_at: 0,
            ends_at: 0,
            generator_url: String::new(),
            updated_at: 0,
        }
    }

    /// Mutes one alert name and counts how often it was asked.
    struct Named(&'static str, Cell<usize>);

    impl Muter for Named {
        fn mutes(&self, labels: &BTreeMap<String, String>, _: At<'_>) -> bool {
            self.1.set(self.1.get() + 1);
            labels["alertname"] == self.0
        }
    }

    #[test]
    fn stages_run_in_order_and_stop_when_nothing_is_left() {
        let at = At {
            now: 0,
            route: None,
        };
        let (a, b, c) = (
            MuteStage::new("a", Named("A", Cell::new(0))),
            MuteStage::new("b", Named("B", Cell::new(0))),
            MuteStage::new("c", Named("C", Cell::new(0))),
        );
        let names = |v: Vec<Alert>| -> Vec<String> {
            v.into_iter()
                .map(|x| x.labels["alertname"].clone())
                .collect()
        };
        let got = names(run(
            &[&a, &b, &c],
            at,
            vec![alert("A"), alert("B"), alert("D")],
        ));
        assert_eq!(got, ["D"], "input A, B, D");
        // Each stage saw only what the one before let through.
        let asked: Vec<usize> = [&a, &b, &c].iter().map(|s| s.muter.1.get()).collect();
        assert_eq!(asked, [3, 2, 1]);
        let got = names(run(&[&a, &b, &c], at, vec![alert("A")]));
        assert!(got.is_empty(), "input A: got {got:?}, want nothing");
        let asked: Vec<usize> = [&a, &b, &c].iter().map(|s| s.muter.1.get()).collect();
        assert_eq!(asked, [4, 2, 1], "stages after an empty result do not run");
    }
}
