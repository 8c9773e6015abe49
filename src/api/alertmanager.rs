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
        // Ours, beside Alertmanager's fields: each alert's groups that
        // were answered (acknowledged or snoozed), by fingerprint.
        let mut answers: std::collections::HashMap<u64, Vec<Value>> = Default::default();
        for g in a.groups() {
            if let Some(ans) = a.acks.get(&g.key, &g.receiver) {
                let mut v = answer_json(ans);
                v["receiver"] = g.receiver.clone().into();
                v["groupKey"] = g.key.clone().into();
                for x in &g.alerts {
                    answers.entry(x.fingerprint()).or_default().push(v.clone());
                }
            }
        }
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
                if let Some(ans) = answers.get(&x.fingerprint()) {
                    v["answers"] = ans.clone().into();
                }
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
                // Alertmanager's fields, then ours: the key the answer
                // API takes and the group's answer, when it has one.
                let mut v = json!({
                    "labels": g.labels,
                    "receiver": {"name": g.receiver},
                    "alerts": g.alerts.iter().map(|x| alerter::api::gettable(x, &a.receivers_of(x), now)).collect::<Vec<_>>(),
                    "groupKey": g.key,
                });
                if let Some(ans) = a.acks.get(&g.key, &g.receiver) {
                    v["answer"] = answer_json(ans);
                }
                let trail = a.chat.audit_of(&g.key, &g.receiver);
                if !trail.is_empty() {
                    v["audit"] = audit_json(trail);
                }
                v
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

/// The most audit entries a group shows, newest last.
const AUDIT_SHOWN: usize = 50;

/// A group's audit trail for the groups API and the UI: who answered how,
/// when and through which chat.
fn audit_json(trail: &[alerter::chatops::state::Audited]) -> Value {
    let from = trail.len().saturating_sub(AUDIT_SHOWN);
    trail[from..]
        .iter()
        .map(|e| {
            let mut v = json!({
                "at": model::time::format_go(e.at),
                "action": e.action,
                "by": e.by.user,
                "via": e.by.via,
                "outcome": e.outcome,
            });
            if !e.detail.is_empty() {
                v["detail"] = e.detail.clone().into();
            }
            v
        })
        .collect::<Vec<_>>()
        .into()
}

/// The answer a group has (acknowledged, snoozed), for the groups API and
/// the UI: times in RFC 3339.
fn answer_json(a: &alerter::ack::Answer) -> Value {
    let t = model::time::format_go;
    let mut out = serde_json::Map::new();
    if let Some(x) = &a.ack {
        out.insert(
            "acknowledged".into(),
            json!({"by": x.by.user, "via": x.by.via, "at": t(x.at)}),
        );
    }
    if let Some(x) = &a.snooze {
        out.insert(
            "snoozed".into(),
            json!({"by": x.by.user, "via": x.by.via, "at": t(x.at), "until": t(x.until)}),
        );
    }
    Value::Object(out)
}

/// `POST /api/v1/alerts/groups/{ack,unack,snooze}`: answers a group for a
/// receiver, as a chat button does. JSON body: `groupKey`, `receiver`,
/// `user` (who answers; required for `ack` and `snooze`), `via` (`ui` or
/// `api`, the default), and for `snooze` either `duration` (`1h`) or
/// `until` (RFC 3339). Answers `{"status": "success", "data": {"changed":
/// bool}}` once the answer is on disk; an action that was already so
/// changes nothing.
pub async fn answer_group(
    State(st): State<Arc<AppState>>,
    axum::extract::Path(action): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Some(svc) = st.alerter.clone() else {
        return not_running();
    };
    let fail = |status: StatusCode, kind: &str, e: String| {
        (
            status,
            Json(json!({"status": "error", "errorType": kind, "error": e})),
        )
            .into_response()
    };
    let bad = |e: String| fail(StatusCode::BAD_REQUEST, "bad_data", e);
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return bad("the body must be a JSON object".into()),
        Err(e) => return bad(format!("invalid JSON: {e}")),
    };
    let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let (group, receiver, user) = (field("groupKey"), field("receiver"), field("user"));
    if group.is_empty() || receiver.is_empty() {
        return bad("groupKey and receiver are required".into());
    }
    let via = match field("via").as_str() {
        "" | "api" => "api",
        "ui" => "ui",
        other => return bad(format!("via {other:?} is not ui or api")),
    };
    let by = alerter::ack::Actor {
        user: user.clone(),
        via: via.to_string(),
        ..Default::default()
    };
    if action != "unack" && user.trim().is_empty() {
        return bad("user is required: say who answers".into());
    }
    let r = match action.as_str() {
        "ack" => svc.ack(&group, &receiver, by).await,
        "unack" => svc.unack(&group, &receiver, by).await,
        "snooze" => {
            let now = svc.now();
            let until = match (field("duration").as_str(), field("until").as_str()) {
                (d, "") if !d.is_empty() => match model::time::parse_duration(d) {
                    Ok(d) => now.saturating_add(d.as_millis() as i64),
                    Err(e) => return bad(format!("duration {d:?}: {e}")),
                },
                ("", u) if !u.is_empty() => match model::time::parse_rfc3339(u) {
                    Some(t) => t,
                    None => return bad(format!("until {u:?} is not an RFC 3339 time")),
                },
                _ => return bad("snooze takes one of duration and until".into()),
            };
            svc.snooze(&group, &receiver, by, until).await
        }
        other => {
            return fail(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no action {other:?}: ack, unack or snooze"),
            )
        }
    };
    match r {
        Ok(changed) => {
            Json(json!({"status": "success", "data": {"changed": changed}})).into_response()
        }
        Err(AlerterError::Invalid { reason, .. }) => bad(reason),
        Err(e) => fail(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    }
}
