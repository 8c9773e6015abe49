//! Alertmanager's API v2 shapes: alerts as senders post them and as
//! `GET /api/v2/alerts` returns them (upstream `api/v2/openapi.yaml`).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::dispatch::Alert;
use crate::Error;
use model::time::format_go as go_time;

fn string_map(v: &Value, what: &str) -> Result<BTreeMap<String, String>, String> {
    match v {
        Value::Null => Ok(BTreeMap::new()),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(format!("{what}.{k} must be a string")),
            })
            .collect(),
        _ => Err(format!("{what} must be an object")),
    }
}

fn time(v: &Value, what: &str) -> Result<i64, String> {
    match v {
        Value::Null => Ok(0),
        Value::String(s) if s.is_empty() || s.starts_with("0001-01-01") => Ok(0),
        Value::String(s) => model::time::parse_rfc3339(s)
            .ok_or_else(|| format!("{what}: cannot parse {s:?} as RFC 3339")),
        _ => Err(format!("{what} must be a string")),
    }
}

/// One posted alert, checked as upstream's `Alert.Validate` checks it
/// (empty label values are dropped first, as upstream does).
pub fn postable(v: &Value) -> Result<Alert, Error> {
    let mut labels = string_map(&v["labels"], "labels").map_err(Error::BadAlert)?;
    labels.retain(|_, v| !v.is_empty());
    let annotations = string_map(&v["annotations"], "annotations").map_err(Error::BadAlert)?;
    check(Alert {
        labels,
        annotations,
        starts_at: time(&v["startsAt"], "startsAt").map_err(Error::BadAlert)?,
        ends_at: time(&v["endsAt"], "endsAt").map_err(Error::BadAlert)?,
        generator_url: v["generatorURL"].as_str().unwrap_or("").to_string(),
        updated_at: 0,
    })
}

/// Upstream's `Alert.Validate`, for alerts posted or handed over by the
/// rules.
pub fn check(a: Alert) -> Result<Alert, Error> {
    if a.labels.is_empty() {
        return Err(Error::BadAlert("at least one label pair required".into()));
    }
    for k in a.labels.keys() {
        if k.is_empty() || !k.chars().all(|c| !c.is_control()) {
            return Err(Error::BadAlert(format!(
                "invalid label set: invalid name {k:?}"
            )));
        }
    }
    if a.ends_at != 0 && a.starts_at != 0 && a.ends_at < a.starts_at {
        return Err(Error::BadAlert("start time must be before end time".into()));
    }
    Ok(a)
}

/// An alert as `GET /api/v2/alerts` returns it.
pub fn gettable(a: &Alert, receivers: &[String], now: i64) -> Value {
    let state = if a.is_resolved(now) {
        "unprocessed"
    } else {
        "active"
    };
    json!({
        "annotations": a.annotations,
        "endsAt": go_time(a.ends_at),
        "fingerprint": format!("{:016x}", a.fingerprint()),
        "receivers": receivers.iter().map(|r| json!({"name": r})).collect::<Vec<_>>(),
        "startsAt": go_time(a.starts_at),
        "status": {"inhibitedBy": [], "silencedBy": [], "state": state},
        "updatedAt": go_time(a.updated_at),
        "generatorURL": a.generator_url,
        "labels": a.labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posted_alerts_are_checked() {
        let ok = postable(
            &json!({"labels": {"alertname": "A", "empty": ""}, "startsAt": "2026-01-01T00:00:00Z"}),
        )
        .unwrap();
        assert_eq!(ok.labels.len(), 1);
        assert_eq!(ok.starts_at, 1_767_225_600_000);
        for (bad, want) in [
            (json!({"labels": {}}), "at least one label pair required"),
            (
                json!({"labels": {"a": "b"}, "startsAt": "2026-01-02T00:00:00Z", "endsAt": "2026-01-01T00:00:00Z"}),
                "start time must be before end time",
            ),
            (json!({"labels": {"a": 1}}), "labels.a must be a string"),
        ] {
            let got = postable(&bad).unwrap_err().to_string();
            assert_eq!(got, want, "input {bad}");
        }
    }
}
