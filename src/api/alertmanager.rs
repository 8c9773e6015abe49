//! Alertmanager's API v2 on the built-in alerter: what Prometheus posts
//! to and `amtool` reads.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::server::AppState;

fn not_running() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!(
            "the alerter is not running: start with --alertmanager.config.file"
        )),
    )
        .into_response()
}

pub async fn post_alerts(State(st): State<Arc<AppState>>, body: axum::body::Bytes) -> Response {
    let Some(svc) = st.alerter.clone() else {
        return not_running();
    };
    let alerts: Vec<Value> = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!(format!("invalid alerts: {e}"))),
            )
                .into_response()
        }
    };
    let errs = svc.post(&alerts);
    if errs.is_empty() {
        StatusCode::OK.into_response()
    } else {
        (StatusCode::BAD_REQUEST, Json(json!(errs.join("; ")))).into_response()
    }
}

pub async fn get_alerts(State(st): State<Arc<AppState>>) -> Response {
    let Some(svc) = st.alerter.clone() else {
        return not_running();
    };
    let now = model::time::now_ms();
    let out: Vec<Value> = svc.with(|a| {
        a.alerts()
            .iter()
            .filter(|x| !x.is_resolved(now))
            .map(|x| alerter::api::gettable(x, &a.receivers_of(x), now))
            .collect()
    });
    Json(out).into_response()
}

pub async fn groups(State(st): State<Arc<AppState>>) -> Response {
    let Some(svc) = st.alerter.clone() else {
        return not_running();
    };
    let now = model::time::now_ms();
    let out: Vec<Value> = svc.with(|a| {
        a.groups()
            .iter()
            .map(|g| {
                json!({
                    "labels": g.labels,
                    "receiver": {"name": g.receiver},
                    "alerts": g.alerts.iter().map(|x| alerter::api::gettable(x, &a.receivers_of(x), now)).collect::<Vec<_>>(),
                })
            })
            .collect()
    });
    Json(out).into_response()
}

pub async fn receivers(State(st): State<Arc<AppState>>) -> Response {
    let Some(svc) = st.alerter.clone() else {
        return not_running();
    };
    let out: Vec<Value> = svc.with(|a| {
        a.receiver_names()
            .into_iter()
            .map(|n| json!({"name": n}))
            .collect()
    });
    Json(out).into_response()
}

pub async fn status(State(st): State<Arc<AppState>>) -> Response {
    let Some(svc) = st.alerter.clone() else {
        return not_running();
    };
    let uptime = alerter::notify::go_time(svc.started_ms);
    Json(json!({
        "cluster": {"status": "disabled", "peers": []},
        "config": {"original": svc.config_text.lock().clone()},
        "uptime": uptime,
        "versionInfo": {
            "branch": "",
            "buildDate": "",
            "buildUser": "",
            "goVersion": "",
            "revision": option_env!("WATCHFIRE_REVISION").unwrap_or("unknown"),
            "version": env!("CARGO_PKG_VERSION"),
        },
    }))
    .into_response()
}
