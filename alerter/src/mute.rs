//! One mute interface for everything that holds a notification back
//! (upstream `types.Muter`): inhibition rules ([`crate::inhibit`]),
//! silences ([`crate::silence`]) and a route's time intervals
//! ([`TimeMute`], [`TimeActive`], upstream `TimeMuteStage` and
//! `TimeActiveStage`). [`crate::pipeline`]'s mute stages ask a [`Muter`]
//! about each alert of a flush.

use std::collections::BTreeMap;

use crate::route::Route;
use crate::timeinterval::{any_contains, TimeInterval};

/// When and for which route a flush is muted.
#[derive(Clone, Copy)]
pub struct At<'a> {
    /// Unix ms.
    pub now: i64,
    /// The route whose group flushed, if it is still in the tree.
    pub route: Option<&'a Route>,
}

/// Says whether an alert is muted.
pub trait Muter {
    /// Whether an alert with `labels` is muted `at` a flush.
    fn mutes(&self, labels: &BTreeMap<String, String>, at: At<'_>) -> bool;
}

impl<M: Muter + ?Sized> Muter for &M {
    fn mutes(&self, labels: &BTreeMap<String, String>, at: At<'_>) -> bool {
        (**self).mutes(labels, at)
    }
}

/// Named time intervals, as `time_intervals:` defines them.
pub type Intervals = BTreeMap<String, Vec<TimeInterval>>;

fn holds(intervals: &Intervals, names: &[String], now: i64) -> bool {
    names
        .iter()
        .any(|n| intervals.get(n).is_some_and(|l| any_contains(l, now)))
}

/// Mutes every alert of a route while one of its
/// `mute_time_intervals` holds.
pub struct TimeMute<'a>(pub &'a Intervals);

impl Muter for TimeMute<'_> {
    fn mutes(&self, _: &BTreeMap<String, String>, at: At<'_>) -> bool {
        at.route
            .is_some_and(|r| holds(self.0, &r.mute_time_intervals, at.now))
    }
}

/// Mutes every alert of a route with `active_time_intervals` while none
/// of them holds.
pub struct TimeActive<'a>(pub &'a Intervals);

impl Muter for TimeActive<'_> {
    fn mutes(&self, _: &BTreeMap<String, String>, at: At<'_>) -> bool {
        at.route.is_some_and(|r| {
            !r.active_time_intervals.is_empty() && !holds(self.0, &r.active_time_intervals, at.now)
        })
    }
}

impl Muter for crate::silence::Silences {
    fn mutes(&self, labels: &BTreeMap<String, String>, at: At<'_>) -> bool {
        self.mutes_any(labels, at.now)
    }
}
