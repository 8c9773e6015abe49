//! Alertmanager's API v2 on the built-in alerter: what Prometheus posts
//! to and `amtool` reads.

use alerter::Error as AlerterError;
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
        Err(e) => return bad_request(format!("invalid alerts: {e}")),
    };
    let errs = svc.post(&alerts);
    if errs.is_empty() {
        StatusCode::OK.into_response()
    } else {
        let errs: Vec<String> = errs.iter().map(ToString::to_string).collect();
        (StatusCode::BAD_REQUEST, Json(json!(errs.join("; ")))).into_response()
    }
}

/// A boolean query parameter; `default` when absent.
fn flag(p: &crate::api::Params, name: &str, default: bool) -> bool {
    match p.get(name) {
        Some("false") | Some("0") => false,
        Some(_) => true,
        None => default,
    }
}

/// The `filter` matchers of a request.
fn filters(p: &crate::api::Params) -> Result<Vec<alerter::matcher::Matcher>, String> {
    let mut out = Vec::new();
    for f in p.all("filter") {
        out.extend(alerter::matcher::parse(f).map_err(|e| e.to_string())?);
    }
    Ok(out)
}

/// The running alerter, its clock and the request's `filter` matchers;
/// or the answer when there is no alerter or a filter is bad.
#[allow(clippy::result_large_err)]
fn alerter_and_filters(
    st: &AppState,
    p: &crate::api::Params,
) -> Result<(Arc<alerter::Service>, i64, Vec<alerter::matcher::Matcher>), Response> {
    let svc = st.alerter.clone().ok_or_else(not_running)?;
    let now = svc.now();
    let matchers = filters(p).map_err(bad_request)?;
    Ok((svc, now, matchers))
}

fn silence_not_found(id: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!(format!("silence {id} not found"))),
    )
        .into_response()
}

fn bad_request(e: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!(e))).into_response()
}

pub async fn get_alerts(State(st): State<Arc<AppState>>, p: crate::api::Params) -> Response {
    let (svc, now, matchers) = match alerter_and_filters(&st, &p) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let receiver = match p
        .get("receiver")
        .map(|r| regex::Regex::new(&format!("^(?:{r})$")))
    {
        Some(Ok(re)) => Some(re),
        Some(Err(e)) => return bad_request(e.to_string()),
        None => None,
    };
    let (active, silenced, inhibited) = (
        flag(&p, "active", true),
        flag(&p, "silenced", true),
        flag(&p, "inhibited", true),
    );
    let out: Vec<Value> = svc.with(|a| {
        let inhibitor = a.inhibitor(now);
        a.alerts()
            .filter(|x| !x.is_resolved(now))
            .filter(|x| matchers.iter().all(|m| m.matches(&x.labels)))
            .filter_map(|x| {
                let receivers = a.receivers_of(x);
                if let Some(re) = &receiver {
                    if !receivers.iter().any(|r| re.is_match(r)) {
                        return None;
                    }
                }
                let by = a.silences.muting(&x.labels, now);
                let inh: Vec<String> = inhibitor
                    .inhibited_by(&x.labels)
                    .map(|fp| format!("{fp:016x}"))
                    .into_iter()
                    .collect();
                let suppressed = !by.is_empty() || !inh.is_empty();
                if (!suppressed && !active)
                    || (!by.is_empty() && !silenced)
                    || (!inh.is_empty() && !inhibited)
                {
                    return None;
                }
                let mut v = alerter::api::gettable(x, &receivers, now);
                if suppressed {
                    v["status"] =
                        json!({"inhibitedBy": inh, "silencedBy": by, "state": "suppressed"});
                }
                Some(v)
            })
            .collect()
    });
    Json(out).into_response()
}

pub async fn get_silences(State(st): State<Arc<AppState>>, p: crate::api::Params) -> Response {
    let (svc, now, matchers) = match alerter_and_filters(&st, &p) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let out: Vec<Value> = svc.with(|a| {
        a.silences
            .all()
            .filter(|s| {
                // A filter holds when the silence has an equal matcher on
                // that label whose value the filter accepts.
                matchers.iter().all(|f| {
                    s.matchers.iter().any(|m| {
                        m.name == f.name && f.matches(&[(m.name.clone(), m.value.clone())].into())
                    })
                })
            })
            .map(|s| s.to_json(now))
            .collect()
    });
    Json(out).into_response()
}

pub async fn post_silence(State(st): State<Arc<AppState>>, body: axum::body::Bytes) -> Response {
    let Some(svc) = st.alerter.clone() else {
        return not_running();
    };
    let now = svc.now();
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(format!("invalid silence: {e}")),
    };
    let sil = match alerter::silence::from_json(&v, now) {
        Ok(s) => s,
        Err(e) => return bad_request(e.to_string()),
    };
    match svc.set_silence(sil).await {
        Ok(id) => Json(json!({"silenceID": id})).into_response(),
        Err(AlerterError::SilenceNotFound(id)) => silence_not_found(&id),
        Err(e @ AlerterError::SilenceExpired(_)) => bad_request(e.to_string()),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!(e.to_string())),
        )
            .into_response(),
    }
}

pub async fn get_silence(
    State(st): State<Arc<AppState>>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    let Some(svc) = st.alerter.clone() else {
        return not_running();
    };
    let now = svc.now();
    match svc.with(|a| a.silences.get(&id).map(|s| s.to_json(now))) {
        Some(v) => Json(v).into_response(),
        None => silence_not_found(&id),
    }
}

pub async fn delete_silence(
    State(st): State<Arc<AppState>>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    let Some(svc) = st.alerter.clone() else {
        return not_running();
    };
    match svc.expire_silence(&id).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(AlerterError::SilenceNotFound(id)) => silence_not_found(&id),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!(e.to_string())),
        )
            .into_response(),
    }
}

pub async fn groups(State(st): State<Arc<AppState>>) -> Response {
    let Some(svc) = st.alerter.clone() else {
        return not_running();
    };
    let now = svc.now();
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
    let uptime = model::time::format_go(svc.started_ms());
    Json(json!({
        "cluster": {"status": "disabled", "peers": []},
        // Secrets are masked, as upstream prints its configuration.
        "config": {"original": svc.shown_config()},
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
