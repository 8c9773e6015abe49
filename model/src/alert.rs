//! Alerts as rules hand them on: the typed form of what Alertmanager's API
//! v2 takes (upstream `PostableAlert`), and the [`AlertSink`] seam that
//! both the built-in alerter and the remote Alertmanager sender implement,
//! so the rule engine depends on neither.

use std::collections::BTreeMap;

use crate::Labels;

/// One alert handed to an [`AlertSink`]. Times are Unix ms.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// The alert's identity, external labels and relabelling applied.
    pub labels: Labels,
    /// Expanded annotations; an empty value is kept.
    pub annotations: BTreeMap<String, String>,
    /// When it started firing.
    pub starts_at: i64,
    /// When it resolved, or how long it stays valid without news.
    pub ends_at: i64,
    /// Where to see the rule's expression.
    pub generator_url: String,
}

/// Takes alerts from the rules: the built-in alerter, or the queues to
/// external Alertmanagers.
pub trait AlertSink: Send + Sync {
    /// Takes a batch of alerts; what a sink cannot take it counts or
    /// logs itself, as a rule has no one to tell.
    fn send(&self, alerts: Vec<Alert>);
}
