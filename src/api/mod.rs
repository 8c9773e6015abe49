//! The Prometheus HTTP API: the JSON envelope, parameter parsing, and the
//! one mapping from errors to Prometheus's `errorType` and status code.

mod alertmanager;
mod chatops;
mod federate;
mod labels;
pub mod query;
pub mod remote;
pub mod render;
mod rules;
mod status;

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use crate::server::AppState;

/// Routes under `/api/v1`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/query", get(query::instant).post(query::instant))
        .route("/api/v1/query_range", get(query::range).post(query::range))
        .route("/api/v1/render", get(render::render))
        .route(
            "/api/v1/format_query",
            get(query::format).post(query::format),
        )
        .route(
            "/api/v1/parse_query",
            get(query::parse_query).post(query::parse_query),
        )
        .route("/api/v1/series", get(labels::series).post(labels::series))
        .route("/api/v1/labels", get(labels::names).post(labels::names))
        .route("/api/v1/label/{name}/values", get(labels::values))
        .route("/api/v1/targets", get(status::targets))
        .route("/api/v1/targets/metadata", get(status::target_metadata))
        .route("/api/v1/metadata", get(status::metadata))
        .route(
            "/federate",
            get(federate::federate).post(federate::federate),
        )
        .route("/api/v1/status/buildinfo", get(status::buildinfo))
        .route("/api/v1/status/config", get(status::config))
        .route("/api/v1/status/flags", get(status::flags))
        .route("/api/v1/status/runtimeinfo", get(status::runtimeinfo))
        .route("/api/v1/status/tsdb", get(status::tsdb))
        .route("/api/v1/rules", get(rules::rules).post(rules::rules))
        .route(
            "/api/v2/alerts",
            get(alertmanager::get_alerts).post(alertmanager::post_alerts),
        )
        .route("/api/v2/alerts/groups", get(alertmanager::groups))
        .route(
            "/api/v1/alerts/groups/{action}",
            post(alertmanager::answer_group),
        )
        .route(
            "/api/v2/silences",
            get(alertmanager::get_silences).post(alertmanager::post_silence),
        )
        .route(
            "/api/v2/silence/{id}",
            get(alertmanager::get_silence).delete(alertmanager::delete_silence),
        )
        .route(
            "/api/v1/chatops/slack/interactions",
            post(chatops::slack_interactions),
        )
        .route(
            "/api/v1/chatops/discord/interactions",
            post(chatops::discord_interactions),
        )
        .route(
            "/api/v1/chatops/telegram/webhook",
            post(chatops::telegram_webhook),
        )
        .route(
            "/api/v1/chatops/mattermost/actions",
            post(chatops::mattermost_actions),
        )
        .route(
            "/api/v1/chatops/slack/commands",
            post(chatops::slack_commands),
        )
        .route(
            "/api/v1/chatops/mattermost/commands",
            post(chatops::mattermost_commands),
        )
        .route("/api/v1/chatops/graph/{file}", get(chatops::graph))
        .route("/api/v2/receivers", get(alertmanager::receivers))
        .route("/api/v2/status", get(alertmanager::status))
        .route("/api/v1/alerts", get(rules::alerts).post(rules::alerts))
        .route("/api/v1/read", post(remote::read))
        .route(
            "/api/v1/otlp/v1/metrics",
            post(remote::otlp).layer(axum::extract::DefaultBodyLimit::max(remote::MAX_BODY)),
        )
        .route(
            "/api/v1/write",
            post(remote::write).layer(axum::extract::DefaultBodyLimit::max(remote::MAX_BODY)),
        )
}

/// Why an API call failed, as Prometheus classifies it.
#[derive(Debug)]
pub enum ApiError {
    /// A bad parameter or query: `bad_data`, 400.
    BadData(String),
    /// The server failed: `internal`, 500.
    Internal(String),
    /// A query failed: its kind gives `errorType` and status (`bad_data`
    /// 400, `execution` 422, `timeout` 503, `canceled` 499).
    Query(promql::QueryError),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind, msg) = match self {
            ApiError::BadData(m) => (StatusCode::BAD_REQUEST, "bad_data", m),
            ApiError::Internal(m) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", m),
            ApiError::Query(e) => {
                use promql::ErrorKind as K;
                let status = match e.kind {
                    K::BadData => StatusCode::BAD_REQUEST,
                    K::Execution => StatusCode::UNPROCESSABLE_ENTITY,
                    K::Timeout => StatusCode::SERVICE_UNAVAILABLE,
                    K::Canceled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
                };
                (status, e.kind.as_str(), e.message)
            }
        };
        (
            status,
            axum::Json(json!({"status": "error", "errorType": kind, "error": msg})),
        )
            .into_response()
    }
}

impl From<model::StorageError> for ApiError {
    fn from(e: model::StorageError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

/// A successful answer.
pub fn success(data: Value, warnings: Vec<String>) -> Response {
    let mut body = json!({"status": "success", "data": data});
    if !warnings.is_empty() {
        body["warnings"] = json!(warnings);
    }
    axum::Json(body).into_response()
}

/// Request parameters from the query string and, for a form POST, the body.
pub struct Params(Vec<(String, String)>);

/// Reads the query string and a form body: handlers take `Params` as their
/// last argument.
impl<S: Send + Sync> axum::extract::FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, _: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(body, 64 << 20)
            .await
            .map_err(|e| ApiError::BadData(format!("read request body: {e}")))?;
        Ok(Params::parse(
            &parts.method,
            &parts.uri,
            &parts.headers,
            &body,
        ))
    }
}

impl Params {
    fn parse(method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Self {
        let mut p: Vec<(String, String)> =
            form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        let form = headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if method == Method::POST && form {
            p.extend(form_urlencoded::parse(body).into_owned());
        }
        Params(p)
    }

    /// The last value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `name` to `value`, over any value it had.
    pub fn set(&mut self, name: &str, value: &str) {
        self.0.push((name.to_string(), value.to_string()));
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The matcher sets of every `match[]`; one selector may give several
    /// (`or` inside the braces).
    pub fn matcher_sets(&self) -> Result<Vec<Vec<model::Matcher>>, ApiError> {
        let mut out = Vec::new();
        for m in self.all("match[]") {
            out.extend(promql::parse_selector(m).map_err(|e| ApiError::BadData(e.to_string()))?);
        }
        Ok(out)
    }

    /// A time parameter (RFC 3339 or Unix seconds) in milliseconds, or
    /// `default` when absent.
    pub fn time(&self, name: &str, default: i64) -> Result<i64, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(s) => parse_time(s).ok_or_else(|| {
                ApiError::BadData(format!(
                    "invalid parameter \"{name}\": cannot parse {s:?} to a valid timestamp"
                ))
            }),
        }
    }

    /// `limit` (0 or absent: none).
    pub fn limit(&self) -> Result<usize, ApiError> {
        match self.get("limit") {
            None | Some("") => Ok(0),
            Some(s) => s
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .map(|n| n as usize)
                .ok_or_else(|| ApiError::BadData(format!("invalid parameter \"limit\": cannot parse {s:?}: must be a non-negative integer"))),
        }
    }
}

/// Prometheus accepts Unix seconds with a fraction or RFC 3339.
pub fn parse_time(s: &str) -> Option<i64> {
    if let Ok(f) = s.parse::<f64>() {
        if f.is_finite() {
            let ms = (f * 1000.0).round();
            if ms.abs() < 9.2e18 {
                return Some(ms as i64);
            }
        }
        return None;
    }
    model::time::parse_rfc3339(s)
}

/// The smallest and largest timestamps the API accepts as "no bound"
/// (Prometheus's `MinTime`/`MaxTime`).
pub const MIN_TIME: i64 = -9_223_309_901_257_974;
pub const MAX_TIME: i64 = 9_223_309_901_257_974;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        for (s, want) in [
            ("1793469600", Some(1_793_469_600_000)),
            ("1793469600.126", Some(1_793_469_600_126)),
            ("2026-10-31T18:00:00Z", Some(1_793_469_600_000)),
            ("x", None),
            ("NaN", None),
            ("1e300", None),
        ] {
            assert_eq!(parse_time(s), want, "input {s:?}");
        }
    }
}
