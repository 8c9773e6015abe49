//! `/federate`: the newest sample of every selected series in the text
//! format, for another Prometheus to scrape (upstream `web/federate.go`).

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use model::{Labels, Querier};

use super::{ApiError, Params};
use crate::server::AppState;

/// How far back a series' newest sample may be (the query lookback).
const LOOKBACK_MS: i64 = 5 * 60_000;

pub async fn federate(State(st): State<Arc<AppState>>, p: Params) -> Result<Response, ApiError> {
    let sets = p.matcher_sets()?;
    let now = model::time::now_ms();
    let external: Vec<(String, String)> = st
        .config
        .read()
        .config
        .global
        .external_labels
        .clone()
        .into_iter()
        .collect();
    let store = st.store.clone();
    let newest =
        tokio::task::spawn_blocking(move || -> Result<Vec<(Labels, i64, f64)>, ApiError> {
            let mut seen = std::collections::BTreeMap::new();
            for set in &sets {
                for s in store.select(set, now - LOOKBACK_MS, now)? {
                    let s = s?;
                    if let Some(last) = s
                        .samples
                        .last()
                        .filter(|x| !model::sample::is_stale_nan(x.v))
                    {
                        seen.insert(s.labels, (last.t, last.v));
                    }
                }
            }
            Ok(seen.into_iter().map(|(l, (t, v))| (l, t, v)).collect())
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    let mut out = String::new();
    let mut last_name = String::new();
    for (labels, t, v) in newest {
        let mut b = labels.builder();
        for (n, val) in &external {
            if labels.get(n).is_none() {
                b.set(n, val);
            }
        }
        let labels = b.labels();
        let name = labels.metric_name().unwrap_or("").to_string();
        if name != last_name {
            let _ = writeln!(out, "# TYPE {name} untyped");
            last_name = name;
        }
        let _ = writeln!(out, "{labels} {} {t}", promql::format_float(v));
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response())
}
