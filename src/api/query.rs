//! `/api/v1/query`, `/api/v1/query_range`, `/api/v1/format_query` and
//! `/api/v1/parse_query`, shaped as Prometheus's (`web/api/v1/api.go`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::response::IntoResponse;
use axum::response::Response;
use promql::{Answer, Elem, Engine, Outcome, QueryError, Range};
use serde_json::{json, Value};

use super::{success, ApiError, Params};
use crate::server::AppState;

/// The most points a range query may return per series.
const MAX_POINTS: i64 = 11_000;

/// Query limits from the flags.
#[derive(Debug, Clone)]
pub struct QueryLimits {
    pub timeout: Duration,
    pub max_samples: usize,
    pub lookback_delta: Duration,
}

fn timeout(p: &Params, limits: &QueryLimits) -> Result<Duration, ApiError> {
    match p.get("timeout") {
        None | Some("") => Ok(limits.timeout),
        Some(s) => {
            let d = parse_duration_param(s).ok_or_else(|| {
                ApiError::BadData(format!(
                    "invalid parameter \"timeout\": cannot parse {s:?} to a valid duration"
                ))
            })?;
            Ok(d.min(limits.timeout))
        }
    }
}

/// A duration as Prometheus's API takes it: float seconds or `5m`.
fn parse_duration_param(s: &str) -> Option<Duration> {
    if let Ok(f) = s.parse::<f64>() {
        if (0.0..9.2e15).contains(&f) {
            return Some(Duration::from_secs_f64(f));
        }
        return None;
    }
    model::time::parse_duration(s).ok()
}

/// An engine with the flags' limits; a subquery without a step uses the
/// configuration's `evaluation_interval`, as in Prometheus.
fn engine(st: &AppState, timeout: Duration) -> Engine {
    let limits = &st.query_limits;
    let step = st.config.read().config.global.evaluation_interval.0;
    Engine::new(promql::Options {
        lookback_delta: limits.lookback_delta,
        max_samples: limits.max_samples,
        timeout,
        default_subquery_step: step,
    })
}

fn parse(p: &Params) -> Result<promql::Expr, ApiError> {
    let q = p.get("query").unwrap_or("");
    promql::parse(q).map_err(|e| ApiError::BadData(format!("invalid parameter \"query\": {e}")))
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        ApiError::Query(e)
    }
}

/// Runs a query on a blocking thread, at most `max_concurrency` at once.
async fn run(
    st: &Arc<AppState>,
    f: impl FnOnce(&store::Store) -> Result<Outcome, QueryError> + Send + 'static,
) -> Result<Outcome, ApiError> {
    let _permit = st
        .queries
        .acquire()
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let store = st.store.clone();
    let started = Instant::now();
    let out = tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| ApiError::Internal(format!("query task: {e}")))?;
    st.query_seconds.observe(started.elapsed().as_secs_f64());
    Ok(out?)
}

pub async fn instant(State(st): State<Arc<AppState>>, p: Params) -> Result<Response, ApiError> {
    let expr = parse(&p)?;
    let t = p.time("time", model::time::now_ms())?;
    let eng = engine(&st, timeout(&p, &st.query_limits)?);
    let stats = p.get("stats").is_some_and(|s| !s.is_empty());
    let out = run(&st, move |s| eng.instant(s, &expr, t)).await?;
    Ok(respond(out, stats))
}

pub async fn range(State(st): State<Arc<AppState>>, p: Params) -> Result<Response, ApiError> {
    let expr = parse(&p)?;
    let (start, end, step) = range_params(&p)?;
    let eng = engine(&st, timeout(&p, &st.query_limits)?);
    let stats = p.get("stats").is_some_and(|s| !s.is_empty());
    let out = run(&st, move |s| eng.range(s, &expr, start, end, step)).await?;
    Ok(respond(out, stats))
}

/// Runs an instant query's expression at `t` (ms).
pub async fn run_instant(st: &Arc<AppState>, p: &Params, t: i64) -> Result<Outcome, ApiError> {
    let expr = parse(p)?;
    let eng = engine(st, timeout(p, &st.query_limits)?);
    run(st, move |s| eng.instant(s, &expr, t)).await
}

/// Runs a range query's expression over `start..=end` by `step` (ms).
pub async fn run_range(
    st: &Arc<AppState>,
    p: &Params,
    start: i64,
    end: i64,
    step: i64,
) -> Result<Outcome, ApiError> {
    let expr = parse(p)?;
    let eng = engine(st, timeout(p, &st.query_limits)?);
    run(st, move |s| eng.range(s, &expr, start, end, step)).await
}

/// `start`, `end` and `step` of a range query, checked as Prometheus
/// checks them; times in milliseconds.
pub fn range_params(p: &Params) -> Result<(i64, i64, i64), ApiError> {
    let start = required_time(p, "start")?;
    let end = required_time(p, "end")?;
    if end < start {
        return Err(ApiError::BadData(
            "invalid parameter \"end\": end timestamp must not be before start time".into(),
        ));
    }
    let step_text = p.get("step").unwrap_or("");
    let step = parse_duration_param(step_text).ok_or_else(|| {
        ApiError::BadData(format!(
            "invalid parameter \"step\": cannot parse {step_text:?} to a valid duration"
        ))
    })?;
    let step = i64::try_from(step.as_millis()).unwrap_or(i64::MAX);
    if step <= 0 {
        return Err(ApiError::BadData(
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
        ));
    }
    // In i128: the span of two extreme timestamps overflows i64 (Go's
    // `Time.Sub` saturates instead).
    if (i128::from(end) - i128::from(start)) / i128::from(step) > i128::from(MAX_POINTS) {
        return Err(ApiError::BadData(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into(),
        ));
    }
    Ok((start, end, step))
}

fn required_time(p: &Params, name: &str) -> Result<i64, ApiError> {
    let s = p.get(name).unwrap_or("");
    super::parse_time(s).ok_or_else(|| {
        ApiError::BadData(format!(
            "invalid parameter \"{name}\": cannot parse {s:?} to a valid timestamp"
        ))
    })
}

/// `/api/v1/format_query`: the expression printed in canonical form.
pub async fn format(p: Params) -> Result<Response, ApiError> {
    let expr = parse(&p)?;
    Ok(success(json!(expr.prettify()), Vec::new()))
}

/// `/api/v1/parse_query`: the syntax tree as JSON.
pub async fn parse_query(p: Params) -> Result<Response, ApiError> {
    let expr = parse(&p)?;
    Ok(success(tree(&expr), Vec::new()))
}

/// A syntax tree in the shape of Prometheus's `parse_query` answer
/// (`web/api/v1/translate_ast.go`), for the node kinds and fields the UI
/// reads.
fn tree(e: &promql::Expr) -> Value {
    promql::nesting::grow(|| tree_node(e))
}

fn tree_node(e: &promql::Expr) -> Value {
    use promql::Expr as E;
    match e {
        E::NumberLiteral(n) => json!({"type": "numberLiteral", "val": promql::format_float(n.val)}),
        E::StringLiteral(s) => json!({"type": "stringLiteral", "val": s.val}),
        E::Paren(p) => json!({"type": "parenExpr", "expr": tree(&p.expr)}),
        E::Unary(u) => json!({"type": "unaryExpr", "op": "-", "expr": tree(&u.expr)}),
        E::Binary(b) => json!({
            "type": "binaryExpr",
            "op": b.op.to_string(),
            "lhs": tree(&b.lhs),
            "rhs": tree(&b.rhs),
            "bool": b.modifier.as_ref().is_some_and(|m| m.return_bool),
        }),
        E::Aggregate(a) => json!({
            "type": "aggregation",
            "op": a.op.to_string(),
            "expr": tree(&a.expr),
            "param": a.param.as_ref().map(|p| tree(p)),
            "grouping": a.modifier.as_ref().map(|m| m.labels().labels.clone()).unwrap_or_default(),
            "without": a.modifier.as_ref().is_some_and(|m| !m.is_include()),
        }),
        E::Call(c) => json!({
            "type": "call",
            "func": {"name": c.func.name},
            "args": c.args.args.iter().map(|a| tree(a)).collect::<Vec<_>>(),
        }),
        E::VectorSelector(vs) => json!({
            "type": "vectorSelector",
            "name": vs.name.clone().unwrap_or_default(),
            "matchers": vs.matchers.matchers.iter().map(|m| json!({"name": m.name, "value": m.value, "type": m.op.to_string()})).collect::<Vec<_>>(),
        }),
        E::MatrixSelector(m) => json!({
            "type": "matrixSelector",
            "range": m.range.as_millis() as u64,
            "vectorSelector": tree(&E::VectorSelector(m.vs.clone())),
        }),
        E::Subquery(s) => json!({
            "type": "subquery",
            "expr": tree(&s.expr),
            "range": s.range.as_millis() as u64,
            "step": s.step.map(|d| d.as_millis() as u64).unwrap_or(0),
        }),
        E::Extension(_) => json!({"type": "extension"}),
    }
}

fn respond(out: Outcome, stats: bool) -> Response {
    use std::fmt::Write;
    // Written by hand: a range query can hold millions of points, and a
    // serde_json::Value per point costs more than the evaluation.
    // About 24 bytes a point: a little more than most take, so the
    // buffer seldom grows (each growth copies what it holds).
    let points = match &out.answer {
        Answer::Matrix(m) => m.iter().map(|r| r.points.len() + 8).sum(),
        Answer::Vector { elems, .. } => elems.len() * 8,
        _ => 0,
    };
    let mut b = String::with_capacity(4096 + points * 24);
    b.push_str(r#"{"status":"success","data":{"resultType":"#);
    match &out.answer {
        Answer::Scalar { t, v } => {
            b.push_str(r#""scalar","result":"#);
            point(&mut b, *t, *v);
        }
        Answer::String { t, s } => {
            b.push_str(r#""string","result":"#);
            point_str(&mut b, *t, s);
        }
        Answer::Vector { t, elems } => {
            b.push_str(r#""vector","result":["#);
            for (i, e) in elems.iter().enumerate() {
                if i > 0 {
                    b.push(',');
                }
                vector_elem(&mut b, *t, e);
            }
            b.push(']');
        }
        Answer::Matrix(m) => {
            b.push_str(r#""matrix","result":["#);
            for (i, r) in m.iter().enumerate() {
                if i > 0 {
                    b.push(',');
                }
                series(&mut b, r);
            }
            b.push(']');
        }
    }
    if stats {
        let _ = write!(
            b,
            r#","stats":{{"timings":{{}},"samples":{{"totalQueryableSamples":{},"peakSamples":{}}}}}"#,
            out.samples, out.samples
        );
    }
    b.push('}');
    let mut warnings = out.warnings;
    warnings.extend(out.infos);
    if !warnings.is_empty() {
        b.push_str(r#","warnings":"#);
        b.push_str(&serde_json::to_string(&warnings).unwrap_or_else(|_| "[]".into()));
    }
    b.push('}');
    ([(axum::http::header::CONTENT_TYPE, "application/json")], b).into_response()
}

fn quoted(b: &mut String, s: &str) {
    // Most label names and values need no escape at all.
    if !s.bytes().any(|c| c == b'"' || c == b'\\' || c < 0x20) {
        b.push('"');
        b.push_str(s);
        b.push('"');
        return;
    }
    // serde_json escapes exactly as JSON needs; a &str cannot fail.
    b.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()));
}

fn metric(b: &mut String, l: &model::Labels) {
    b.push('{');
    for (i, (n, v)) in l.iter().enumerate() {
        if i > 0 {
            b.push(',');
        }
        quoted(b, n);
        b.push(':');
        quoted(b, v);
    }
    b.push('}');
}

/// `[seconds, "value"]` with the time as Prometheus prints it
/// (`1793491200`, `1793491200.5`).
fn point(b: &mut String, t: i64, v: f64) {
    time(b, t);
    // A formatted float needs no escapes.
    b.push('"');
    promql::write_float(b, v);
    b.push_str("\"]");
}

/// `[seconds, "string"]`.
fn point_str(b: &mut String, t: i64, s: &str) {
    time(b, t);
    quoted(b, s);
    b.push(']');
}

/// `[seconds,` of a point.
fn time(b: &mut String, t: i64) {
    use std::fmt::Write;
    b.push('[');
    if t >= 0 {
        let (secs, ms) = (t / 1000, t % 1000);
        if ms == 0 {
            let _ = write!(b, "{secs}");
        } else {
            let frac = format!("{ms:03}");
            let _ = write!(b, "{secs}.{}", frac.trim_end_matches('0'));
        }
    } else {
        promql::write_float(b, t as f64 / 1000.0);
    }
    b.push(',');
}

fn vector_elem(b: &mut String, t: i64, e: &Elem) {
    b.push_str(r#"{"metric":"#);
    metric(b, &e.labels);
    b.push_str(r#","value":"#);
    point(b, t, e.v);
    b.push('}');
}

fn series(b: &mut String, r: &Range) {
    b.push_str(r#"{"metric":"#);
    metric(b, &r.labels);
    b.push_str(r#","values":["#);
    for (i, (t, v)) in r.points.iter().enumerate() {
        if i > 0 {
            b.push(',');
        }
        point(b, *t, *v);
    }
    b.push_str("]}");
}
