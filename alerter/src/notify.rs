//! What receivers are sent: the notification data every template and the
//! webhook see (upstream `template.Data`) and the webhook's v4 message.
//! [`crate::send`] sends them.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::dispatch::Alert;
use crate::pipeline::Reason;

use model::time::format_go as go_time;

fn kv(m: &BTreeMap<String, String>) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect::<Map<_, _>>(),
    )
}

/// Labels (or annotations) every alert shares with the same value.
pub(crate) fn common(
    alerts: &[Alert],
    pick: fn(&Alert) -> &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let Some(first) = alerts.first() else {
        return BTreeMap::new();
    };
    let mut out = pick(first).clone();
    for a in &alerts[1..] {
        out.retain(|k, v| pick(a).get(k) == Some(v));
    }
    out
}

/// One alert as notifications carry it.
pub fn alert_json(a: &Alert, now: i64) -> Value {
    json!({
        "status": if a.is_resolved(now) { "resolved" } else { "firing" },
        "labels": kv(&a.labels),
        "annotations": kv(&a.annotations),
        "startsAt": go_time(a.starts_at),
        "endsAt": go_time(a.ends_at),
        "generatorURL": a.generator_url,
        "fingerprint": format!("{:016x}", a.fingerprint()),
    })
}

/// What a notification says about its group.
pub struct Context<'a> {
    pub receiver: &'a str,
    pub group_key: &'a str,
    pub group_labels: &'a BTreeMap<String, String>,
    pub route_labels: &'a BTreeMap<String, String>,
    pub reason: Reason,
    pub external_url: &'a str,
    pub now: i64,
}

/// Upstream `template.Data` as JSON, in its field order.
pub fn data(c: &Context, alerts: &[Alert]) -> Value {
    let firing = alerts.iter().any(|a| !a.is_resolved(c.now));
    json!({
        "receiver": c.receiver,
        "status": if firing { "firing" } else { "resolved" },
        "alerts": alerts.iter().map(|a| alert_json(a, c.now)).collect::<Vec<_>>(),
        "notification_reason": c.reason.as_str(),
        "groupLabels": kv(c.group_labels),
        "commonLabels": kv(&common(alerts, |a| &a.labels)),
        "commonAnnotations": kv(&common(alerts, |a| &a.annotations)),
        "routeLabels": kv(c.route_labels),
        "externalURL": c.external_url,
    })
}

/// The webhook's message (version 4): the data, the group key, and how
/// many alerts `max_alerts` left out.
pub fn webhook_message(c: &Context, alerts: &[Alert], max_alerts: u64) -> Value {
    let keep = if max_alerts > 0 {
        alerts.len().min(max_alerts as usize)
    } else {
        alerts.len()
    };
    let mut v = data(c, &alerts[..keep]);
    v["version"] = json!("4");
    v["groupKey"] = json!(c.group_key);
    v["truncatedAlerts"] = json!(alerts.len() - keep);
    v
}

/// Why a post failed, and whether trying again may help.
#[derive(Debug, Clone)]
pub struct SendError {
    pub message: String,
    pub retry: bool,
}

impl SendError {
    /// A failure that trying again will not mend.
    pub fn fatal(message: impl Into<String>) -> Self {
        SendError {
            message: message.into(),
            retry: false,
        }
    }

    /// A failure that may pass if tried again.
    pub fn retry(message: impl Into<String>) -> Self {
        SendError {
            message: message.into(),
            retry: true,
        }
    }

    /// The same failure with `what` in front (`channel "#ops": ...`).
    pub fn context(self, what: impl std::fmt::Display) -> Self {
        SendError {
            message: format!("{what}: {}", self.message),
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(name: &str, ends: i64) -> Alert {
        Alert {
            labels: [
                ("alertname".to_string(), name.to_string()),
                ("team".to_string(), "db".to_string()),
            ]
            .into(),
            annotations: [("summary".to_string(), format!("{name} broke"))].into(),
            starts_at: 1_000,
            ends_at: ends,
            generator_url: "http://g".into(),
            updated_at: 1_000,
        }
    }

    #[test]
    fn webhook_message_v4() {
        let gl = BTreeMap::from([("team".to_string(), "db".to_string())]);
        let rl = BTreeMap::new();
        let c = Context {
            receiver: "ops",
            group_key: "{}:{team=\"db\"}",
            group_labels: &gl,
            route_labels: &rl,
            reason: Reason::FirstNotification,
            external_url: "http://am",
            now: 5_000,
        };
        let m = webhook_message(&c, &[alert("A", 0), alert("B", 2_000)], 1);
        assert_eq!(m["version"], "4");
        assert_eq!(m["status"], "firing");
        assert_eq!(m["truncatedAlerts"], 1);
        assert_eq!(m["alerts"].as_array().unwrap().len(), 1);
        assert_eq!(m["commonLabels"]["team"], "db");
        assert_eq!(m["groupLabels"]["team"], "db");
        assert_eq!(m["notification_reason"], "first notification");
        assert_eq!(m["alerts"][0]["startsAt"], "1970-01-01T00:00:01Z");
        assert_eq!(m["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
        assert_eq!(m["alerts"][0]["fingerprint"].as_str().unwrap().len(), 16);
        let all = webhook_message(&c, &[alert("A", 2_000)], 0);
        assert_eq!(all["status"], "resolved");
        assert_eq!(all["commonAnnotations"]["summary"], "A broke");
    }
}
