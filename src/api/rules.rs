//! `/api/v1/rules` and `/api/v1/alerts`, shaped as Prometheus's.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use rules::alerting::Alert;
use rules::manager::RuleView;
use serde_json::{json, Map, Value};

use super::{success, ApiError, Params};
use crate::server::AppState;

fn pairs_json<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Value {
    Value::Object(
        pairs
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect::<Map<_, _>>(),
    )
}

fn alert_json(a: &Alert) -> Value {
    let mut v = json!({
        "labels": pairs_json(a.labels.iter()),
        "annotations": pairs_json(a.annotations.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        "state": a.state.as_str(),
        "activeAt": model::time::format_go(a.active_at),
        "value": template::format::float(a.value, 'e', None, false),
    });
    if a.keep_firing_since != 0 {
        v["keepFiringSince"] = json!(model::time::format_go(a.keep_firing_since));
    }
    v
}

fn rule_json(r: &RuleView, with_alerts: bool) -> Value {
    let labels = pairs_json(r.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let mut v = if r.alerting {
        json!({
            "state": r.state.as_str(),
            "name": r.name,
            "query": r.query,
            "duration": r.for_.as_secs_f64(),
            "keepFiringFor": r.keep_firing_for.as_secs_f64(),
            "labels": labels,
            "annotations": pairs_json(r.annotations.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            "alerts": if with_alerts { r.alerts.iter().map(alert_json).collect::<Vec<_>>() } else { Vec::new() },
            "health": r.status.health.as_str(),
            "evaluationTime": r.status.evaluation_seconds,
            "lastEvaluation": model::time::format_go(r.status.last_evaluation),
            "type": "alerting",
        })
    } else {
        let mut v = json!({
            "name": r.name,
            "query": r.query,
            "health": r.status.health.as_str(),
            "evaluationTime": r.status.evaluation_seconds,
            "lastEvaluation": model::time::format_go(r.status.last_evaluation),
            "type": "recording",
        });
        if !r.labels.is_empty() {
            v["labels"] = labels;
        }
        v
    };
    if let Some(e) = &r.status.last_error {
        v["lastError"] = json!(e);
    }
    v
}

pub async fn rules(State(st): State<Arc<AppState>>, p: Params) -> Result<Response, ApiError> {
    let kind = match p.get("type").unwrap_or("") {
        "" => None,
        "alert" => Some(true),
        "record" => Some(false),
        t => {
            return Err(ApiError::BadData(format!(
                "invalid query parameter type='{t}'"
            )))
        }
    };
    let names = p.all("rule_name[]");
    let groups = p.all("rule_group[]");
    let files = p.all("file[]");
    let exclude_alerts = match p.get("exclude_alerts").unwrap_or("false") {
        "true" | "1" => true,
        "false" | "0" | "" => false,
        v => {
            return Err(ApiError::BadData(format!(
                "parameter \"exclude_alerts\": invalid boolean {v:?}"
            )))
        }
    };
    let rule_filter = kind.is_some() || !names.is_empty();
    let mut out = Vec::new();
    for g in st.ruler.views().await {
        if !groups.is_empty() && !groups.contains(&g.name.as_str()) {
            continue;
        }
        if !files.is_empty() && !files.contains(&g.file.as_str()) {
            continue;
        }
        let rules: Vec<Value> = g
            .rules
            .iter()
            .filter(|r| kind.is_none_or(|k| r.alerting == k))
            .filter(|r| names.is_empty() || names.contains(&r.name.as_str()))
            .map(|r| rule_json(r, !exclude_alerts))
            .collect();
        if rule_filter && rules.is_empty() {
            continue;
        }
        out.push(json!({
            "name": g.name,
            "file": g.file,
            "rules": rules,
            "interval": g.interval.as_secs_f64(),
            "limit": g.limit,
            "evaluationTime": g.evaluation_seconds,
            "lastEvaluation": model::time::format_go(g.last_evaluation),
        }));
    }
    Ok(success(json!({"groups": out}), Vec::new()))
}

pub async fn alerts(State(st): State<Arc<AppState>>) -> Response {
    let alerts: Vec<Value> = st
        .ruler
        .views()
        .await
        .iter()
        .flat_map(|g| g.rules.iter())
        .flat_map(|r| r.alerts.iter())
        .map(alert_json)
        .collect();
    success(json!({"alerts": alerts}), Vec::new())
}
