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
        Ok(out) => draw_answer(&mut chart, out),
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

/// A range query's series, as the chart's lines.
fn draw_answer(chart: &mut render::Chart, out: promql::Outcome) {
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

/// The alerter's graphs in notifications, drawn here: the server's query
/// engine and renderer behind the alerter's [`Grapher`].
///
/// [`Grapher`]: alerter::chatops::graph::Grapher
pub struct AlertGrapher(pub std::sync::Weak<AppState>);

impl alerter::chatops::graph::Grapher for AlertGrapher {
    fn png(
        &self,
        r: alerter::chatops::graph::GraphRequest,
    ) -> alerter::chatops::graph::GraphFuture<'_> {
        Box::pin(async move {
            let st = self.0.upgrade().ok_or("the server is stopping")?;
            alert_png(&st, r).await
        })
    }

    fn values(
        &self,
        expr: String,
        at_ms: i64,
        limit: usize,
    ) -> alerter::chatops::graph::ValuesFuture<'_> {
        Box::pin(async move {
            let st = self.0.upgrade().ok_or("the server is stopping")?;
            let p = Params(vec![("query".to_string(), expr)]);
            let out = match super::query::run_instant(&st, &p, at_ms).await {
                Ok(out) => out,
                Err(ApiError::Query(e)) => return Err(e.message),
                Err(ApiError::BadData(e)) | Err(ApiError::Internal(e)) => return Err(e),
            };
            Ok(values_of(out.answer, limit))
        })
    }
}

/// An instant query's answer as lines: `series value`.
fn values_of(answer: promql::Answer, limit: usize) -> alerter::chatops::graph::Values {
    let fmt = promql::format_float;
    let lines: Vec<String> = match answer {
        promql::Answer::Scalar { v, .. } => vec![fmt(v)],
        promql::Answer::String { s, .. } => vec![format!("{s:?}")],
        promql::Answer::Vector { elems, .. } => elems
            .iter()
            .map(|e| {
                let name = e.labels.to_string();
                let name = if name.is_empty() {
                    "{}".to_string()
                } else {
                    name
                };
                format!("{name} {}", fmt(e.v))
            })
            .collect(),
        promql::Answer::Matrix(m) => m
            .iter()
            .map(|r| {
                let last = r.points.last().map_or(String::new(), |p| fmt(p.1));
                format!("{} {last}", r.labels)
            })
            .collect(),
    };
    let total = lines.len();
    alerter::chatops::graph::Values {
        lines: lines.into_iter().take(limit).collect(),
        total,
    }
}

/// An alert's expression over a range as a PNG at about 250 points. A
/// comparison with a number (`rate(errors[5m]) > 0.1`) draws its other
/// side, with the number as the threshold line; a query that fails still
/// gives an image, which says why.
pub async fn alert_png(
    st: &Arc<AppState>,
    r: alerter::chatops::graph::GraphRequest,
) -> Result<Vec<u8>, String> {
    let (expr, threshold) = split_threshold(&r.expr);
    let step = ((r.end_ms - r.start_ms) / 250).max(1000);
    let p = Params(vec![("query".to_string(), expr)]);
    let mut chart = render::Chart {
        title: r.title,
        start_ms: r.start_ms,
        end_ms: r.end_ms,
        step_ms: step,
        width: r.width,
        height: r.height,
        threshold,
        ..render::Chart::default()
    };
    match run_range(st, &p, r.start_ms, r.end_ms, step).await {
        Ok(out) => draw_answer(&mut chart, out),
        Err(ApiError::Query(e)) => chart.error = Some(e.message),
        Err(ApiError::BadData(e)) => chart.error = Some(e),
        Err(ApiError::Internal(e)) => return Err(e),
    }
    tokio::task::spawn_blocking(move || render::png(&chart))
        .await
        .map_err(|e| format!("drawing the chart failed: {e}"))
}

/// An alerting expression split into what to draw and the threshold: the
/// other side of a comparison with a number (not `bool`), else the whole
/// expression and none.
pub fn split_threshold(expr: &str) -> (String, Option<f64>) {
    fn unparen(mut e: &promql::Expr) -> &promql::Expr {
        while let promql::Expr::Paren(p) = e {
            e = &p.expr;
        }
        e
    }
    let Ok(parsed) = promql::parse(expr) else {
        return (expr.to_string(), None);
    };
    if let promql::Expr::Binary(b) = unparen(&parsed) {
        let filters =
            b.op.is_comparison_operator() && !b.modifier.as_ref().is_some_and(|m| m.return_bool);
        if filters {
            if let promql::Expr::NumberLiteral(n) = unparen(&b.rhs) {
                return (b.lhs.to_string(), Some(n.val));
            }
            if let promql::Expr::NumberLiteral(n) = unparen(&b.lhs) {
                return (b.rhs.to_string(), Some(n.val));
            }
        }
    }
    (expr.to_string(), None)
}

#[cfg(test)]
mod tests {
    use super::split_threshold;

    #[test]
    fn thresholds_come_from_comparisons_with_numbers() {
        assert_eq!(split_threshold("up == 0"), ("up".to_string(), Some(0.0)));
        assert_eq!(
            split_threshold("(rate(errors_total[5m]) > 0.5)"),
            ("rate(errors_total[5m])".to_string(), Some(0.5))
        );
        assert_eq!(split_threshold("10 < x"), ("x".to_string(), Some(10.0)));
        assert_eq!(
            split_threshold("x > bool 1"),
            ("x > bool 1".to_string(), None)
        );
        assert_eq!(split_threshold("a > b"), ("a > b".to_string(), None));
        assert_eq!(
            split_threshold("absent(up)"),
            ("absent(up)".to_string(), None)
        );
        assert_eq!(
            split_threshold("not promql ("),
            ("not promql (".to_string(), None)
        );
    }
}
