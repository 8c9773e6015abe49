//! `/api/v1/render`: a range query drawn as an image by the `render`
//! crate, for links and for notifications. Parameters are
//! `/api/v1/query_range`'s (`query`, `start`, `end`, `step`; `step` may be
//! left out for about 250 points) and `width`, `height` (600×300 by
//! default), `threshold`, `title` and `format` (`svg`, the default, or
//! `png`). A query that fails still gives an image, which
//! says why; bad parameters get Prometheus's error JSON.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::query::{range_params, run_range};
use super::{ApiError, Params};
use crate::server::AppState;

pub async fn render(State(st): State<Arc<AppState>>, p: Params) -> Result<Response, ApiError> {
    let png = match p.get("format").unwrap_or("svg") {
        "svg" | "" => false,
        "png" => true,
        f => {
            return Err(ApiError::BadData(format!(
                "invalid parameter \"format\": {f:?} is not svg or png"
            )))
        }
    };
    let number = |name: &str, default: u32| -> Result<u32, ApiError> {
        match p.get(name) {
            None | Some("") => Ok(default),
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| (100..=4000).contains(n))
                .ok_or_else(|| {
                    ApiError::BadData(format!(
                        "invalid parameter {name:?}: {v:?} is not a size from 100 to 4000"
                    ))
                }),
        }
    };
    let (width, height) = (number("width", 600)?, number("height", 300)?);
    let threshold = match p.get("threshold") {
        None | Some("") => None,
        Some(v) => Some(v.parse::<f64>().map_err(|_| {
            ApiError::BadData(format!(
                "invalid parameter \"threshold\": {v:?} is not a number"
            ))
        })?),
    };
    // Without a step: about 250 points over the range, as the UI picks.
    let mut p = p;
    if p.get("step").is_none_or(str::is_empty) {
        let (s, e) = (p.time("start", 0)?, p.time("end", 0)?);
        let step = ((e - s) / 250).max(1000) as f64 / 1000.0;
        p.set("step", &step.to_string());
    }
    let (start, end, step) = range_params(&p)?;
    let mut chart = render::Chart {
        title: p.get("title").unwrap_or("").to_string(),
        start_ms: start,
        end_ms: end,
        step_ms: step,
        width,
        height,
        threshold,
        ..render::Chart::default()
    };
    match run_range(&st, &p, start, end, step).await {
        Ok(out) => {
            if let promql::Answer::Matrix(m) = out.answer {
                chart.series = m
                    .into_iter()
                    .map(|r| render::Series {
                        labels: r.labels,
                        points: r.points,
                    })
                    .collect();
            }
        }
        Err(ApiError::Query(e)) => chart.error = Some(e.message),
        Err(ApiError::BadData(e)) if p.get("query").is_some() => chart.error = Some(e),
        Err(e) => return Err(e),
    }
    // Drawing a large image is CPU work: off the async threads.
    let (kind, body) = tokio::task::spawn_blocking(move || {
        if png {
            ("image/png", render::png(&chart))
        } else {
            ("image/svg+xml", render::svg(&chart).into_bytes())
        }
    })
    .await
    .map_err(|e| ApiError::Internal(format!("drawing the chart failed: {e}")))?;
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, kind)], body).into_response())
}
