//! `/api/v1/targets` and `/api/v1/status/*`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::{success, ApiError};
use crate::server::AppState;

fn labels_json(l: &model::Labels) -> Value {
    Value::Object(
        l.iter()
            .map(|(n, v)| (n.to_string(), Value::String(v.to_string())))
            .collect::<Map<_, _>>(),
    )
}

#[derive(serde::Deserialize)]
pub struct TargetsQuery {
    state: Option<String>,
    #[serde(rename = "scrapePool")]
    scrape_pool: Option<String>,
}

pub async fn targets(
    State(st): State<Arc<AppState>>,
    Query(q): Query<TargetsQuery>,
) -> Result<Response, ApiError> {
    let state = q.state.as_deref().unwrap_or("any");
    if !["active", "dropped", "any"].contains(&state) {
        return Err(ApiError::BadData(format!(
            "invalid state {state:?}: use active, dropped or any"
        )));
    }
    let mgr = st.scrape.lock().await;
    let pool_ok = |job: &str| q.scrape_pool.as_deref().is_none_or(|p| p == job);
    let active: Vec<Value> = if state == "dropped" {
        Vec::new()
    } else {
        mgr.targets()
            .into_iter()
            .filter(|t| pool_ok(&t.job))
            .map(|t| {
                let h = &t.health;
                json!({
                    "discoveredLabels": labels_json(&t.target.discovered),
                    "labels": labels_json(&t.target.labels),
                    "scrapePool": t.job,
                    "scrapeUrl": t.target.url,
                    "globalUrl": t.target.url,
                    "lastError": h.last_error,
                    "lastScrape": if h.last_scrape_ms == 0 { "0001-01-01T00:00:00Z".to_string() } else { model::time::format_rfc3339(h.last_scrape_ms) },
                    "lastScrapeDuration": h.last_duration.as_secs_f64(),
                    "health": h.health,
                    "scrapeInterval": model::time::format_duration(t.interval),
                    "scrapeTimeout": model::time::format_duration(t.timeout),
                })
            })
            .collect()
    };
    let dropped: Vec<Value> = if state == "active" {
        Vec::new()
    } else {
        mgr.dropped().iter().filter(|d| pool_ok(&d.job)).map(|d| json!({"discoveredLabels": labels_json(&d.discovered), "scrapePool": d.job, "reason": d.reason})).collect()
    };
    Ok(success(
        json!({"activeTargets": active, "droppedTargets": dropped}),
        Vec::new(),
    ))
}

pub async fn buildinfo() -> Response {
    success(
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "revision": option_env!("WATCHFIRE_REVISION").unwrap_or("unknown"),
            "branch": "",
            "buildUser": "",
            "buildDate": "",
            "goVersion": "",
        }),
        Vec::new(),
    )
}

pub async fn config(State(st): State<Arc<AppState>>) -> Response {
    let yaml = st.config.read().config.to_yaml();
    success(json!({ "yaml": yaml }), Vec::new())
}

pub async fn flags(State(st): State<Arc<AppState>>) -> Response {
    success(json!(st.flags), Vec::new())
}

pub async fn runtimeinfo(State(st): State<Arc<AppState>>) -> Response {
    let c = st.config.read();
    success(
        json!({
            "startTime": model::time::format_rfc3339(st.started_ms),
            "CWD": std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default(),
            "reloadConfigSuccess": c.last_reload_ok,
            "lastConfigTime": model::time::format_rfc3339(c.loaded_ms),
            "corruptionCount": st.store.metrics().wal_corruptions.get(),
            "goroutineCount": 0,
            "GOMAXPROCS": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            "GOMEMLIMIT": 0,
            "GOGC": "",
            "GODEBUG": "",
            "storageRetention": st.retention.clone(),
        }),
        Vec::new(),
    )
}
