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

/// `/api/v1/status/buildinfo`. Grafana reads `version` as the Prometheus
/// release the server's API matches, to decide which API features to use
/// (see the README); Watchfire's own version is `watchfireVersion`, and
/// `goVersion`, Prometheus's field for the toolchain, names the compiler.
pub async fn buildinfo() -> Response {
    let b = crate::build::INFO;
    success(
        json!({
            "version": b.prometheus_api,
            "revision": b.revision,
            "branch": b.branch,
            "buildUser": "",
            "buildDate": b.date,
            "goVersion": b.rustc,
            "watchfireVersion": b.version,
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
            // Ours: the kinds of storage write failing now (a full disk),
            // each with its latest error; empty while all is well.
            "storageWriteErrors": st.store.failing_writes().iter().map(|f| f.to_string()).collect::<Vec<_>>(),
        }),
        Vec::new(),
    )
}

#[derive(serde::Deserialize)]
pub struct MetadataQuery {
    metric: Option<String>,
    limit: Option<i64>,
    limit_per_metric: Option<i64>,
}

/// `/api/v1/metadata`: what the targets say about each metric family.
pub async fn metadata(State(st): State<Arc<AppState>>, Query(q): Query<MetadataQuery>) -> Response {
    let mut all: std::collections::BTreeMap<String, Vec<collector::scrape::Metadata>> =
        Default::default();
    for t in st.scrape.lock().await.targets() {
        for (name, m) in t.health.metadata.iter() {
            if q.metric.as_deref().is_some_and(|want| want != name) {
                continue;
            }
            let list = all.entry(name.clone()).or_default();
            if !list.contains(m) {
                list.push(m.clone());
            }
        }
    }
    let per = q
        .limit_per_metric
        .filter(|n| *n > 0)
        .map(|n| n as usize)
        .unwrap_or(usize::MAX);
    let limit = q
        .limit
        .filter(|n| *n >= 0)
        .map(|n| n as usize)
        .unwrap_or(usize::MAX);
    let data: Map<String, Value> = all
        .into_iter()
        .take(limit)
        .map(|(name, list)| {
            let v = list
                .iter()
                .take(per)
                .map(|m| json!({"type": m.kind, "help": m.help, "unit": m.unit}))
                .collect();
            (name, Value::Array(v))
        })
        .collect();
    success(Value::Object(data), Vec::new())
}

#[derive(serde::Deserialize)]
pub struct TargetMetadataQuery {
    match_target: Option<String>,
    metric: Option<String>,
    limit: Option<i64>,
}

/// `/api/v1/targets/metadata`: metadata per target.
pub async fn target_metadata(
    State(st): State<Arc<AppState>>,
    Query(q): Query<TargetMetadataQuery>,
) -> Result<Response, ApiError> {
    let sets = match q.match_target.as_deref().filter(|s| !s.is_empty()) {
        Some(sel) => promql::parse_selector(sel)
            .map_err(|e| ApiError::BadData(e.to_string().replace("match[]", "match_target")))?,
        None => vec![Vec::new()],
    };
    let limit = q
        .limit
        .filter(|n| *n >= 0)
        .map(|n| n as usize)
        .unwrap_or(usize::MAX);
    let mut out = Vec::new();
    for t in st.scrape.lock().await.targets() {
        if !sets
            .iter()
            .any(|set| model::storage::matches_all(&t.target.labels, set))
        {
            continue;
        }
        for (name, m) in t.health.metadata.iter() {
            if q.metric.as_deref().is_some_and(|want| want != name) {
                continue;
            }
            out.push(json!({
                "target": labels_json(&t.target.labels),
                "metric": name, "type": m.kind, "help": m.help, "unit": m.unit,
            }));
        }
    }
    out.truncate(limit);
    Ok(success(Value::Array(out), Vec::new()))
}

#[derive(serde::Deserialize)]
pub struct TsdbQuery {
    limit: Option<i64>,
}

/// `/api/v1/status/tsdb`: head cardinality statistics.
pub async fn tsdb(
    State(st): State<Arc<AppState>>,
    Query(q): Query<TsdbQuery>,
) -> Result<Response, ApiError> {
    let limit = match q.limit {
        None => 10,
        Some(n) if n > 0 => n as usize,
        Some(_) => return Err(ApiError::BadData("limit must be a positive number".into())),
    };
    let s = st.store.stats(limit);
    let list = |v: &[store::Stat]| {
        Value::Array(
            v.iter()
                .map(|x| json!({"name": x.name, "value": x.value}))
                .collect(),
        )
    };
    Ok(success(
        json!({
            "headStats": {
                "numSeries": s.num_series,
                "numLabelPairs": s.num_label_pairs,
                "chunkCount": s.chunk_count,
                "minTime": s.min_time,
                "maxTime": s.max_time,
            },
            "seriesCountByMetricName": list(&s.series_count_by_metric_name),
            "labelValueCountByLabelName": list(&s.label_value_count_by_label_name),
            "memoryInBytesByLabelName": list(&s.memory_in_bytes_by_label_name),
            "seriesCountByLabelValuePair": list(&s.series_count_by_label_value_pair),
        }),
        Vec::new(),
    ))
}
