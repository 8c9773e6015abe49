//! `/api/v1/series`, `/api/v1/labels`, `/api/v1/label/<name>/values`.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use model::{Labels, Querier};
use serde_json::{json, Map, Value};

use super::{success, ApiError, Params, MAX_TIME, MIN_TIME};
use crate::server::AppState;

fn range(p: &Params) -> Result<(i64, i64), ApiError> {
    let start = p.time("start", MIN_TIME)?;
    let end = p.time("end", MAX_TIME)?;
    if end < start {
        return Err(ApiError::BadData(
            "invalid parameter \"end\": end timestamp must not be before start time".into(),
        ));
    }
    Ok((start, end))
}

fn truncate<T>(v: &mut Vec<T>, limit: usize, warnings: &mut Vec<String>) {
    if limit > 0 && v.len() > limit {
        v.truncate(limit);
        warnings.push("results truncated due to limit".into());
    }
}

fn labels_json(l: &Labels) -> Value {
    Value::Object(
        l.iter()
            .map(|(n, v)| (n.to_string(), Value::String(v.to_string())))
            .collect::<Map<_, _>>(),
    )
}

pub async fn series(State(st): State<Arc<AppState>>, p: Params) -> Result<Response, ApiError> {
    let sets = p.matcher_sets()?;
    if sets.is_empty() {
        return Err(ApiError::BadData("no match[] parameter provided".into()));
    }
    let (start, end) = range(&p)?;
    let limit = p.limit()?;
    let st2 = st.clone();
    let mut found: Vec<Labels> =
        tokio::task::spawn_blocking(move || -> Result<Vec<Labels>, ApiError> {
            let mut all = BTreeSet::new();
            for set in &sets {
                for s in st2.store.select(set, start, end)? {
                    all.insert(s?.labels);
                }
            }
            Ok(all.into_iter().collect())
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    let mut warnings = Vec::new();
    truncate(&mut found, limit, &mut warnings);
    Ok(success(
        Value::Array(found.iter().map(labels_json).collect()),
        warnings,
    ))
}

pub async fn names(State(st): State<Arc<AppState>>, p: Params) -> Result<Response, ApiError> {
    let sets = p.matcher_sets()?;
    let (start, end) = range(&p)?;
    let mut all = BTreeSet::new();
    if sets.is_empty() {
        all.extend(st.store.label_names(&[], start, end)?);
    }
    for set in &sets {
        all.extend(st.store.label_names(set, start, end)?);
    }
    let mut v: Vec<String> = all.into_iter().collect();
    let mut warnings = Vec::new();
    truncate(&mut v, p.limit()?, &mut warnings);
    Ok(success(json!(v), warnings))
}

pub async fn values(
    State(st): State<Arc<AppState>>,
    Path(name): Path<String>,
    p: Params,
) -> Result<Response, ApiError> {
    // Prometheus 3 allows UTF-8 names, escaped as `U__` + underscores.
    let name = unescape_name(&name)
        .ok_or_else(|| ApiError::BadData(format!("invalid label name: {name:?}")))?;
    let sets = p.matcher_sets()?;
    let (start, end) = range(&p)?;
    let mut all = BTreeSet::new();
    if sets.is_empty() {
        all.extend(st.store.label_values(&name, &[], start, end)?);
    }
    for set in &sets {
        all.extend(st.store.label_values(&name, set, start, end)?);
    }
    let mut v: Vec<String> = all.into_iter().collect();
    let mut warnings = Vec::new();
    truncate(&mut v, p.limit()?, &mut warnings);
    Ok(success(json!(v), warnings))
}

/// Undoes Prometheus's "U__" value escaping of a label name in a URL path:
/// `_xx_` hex code points, `__` an underscore.
fn unescape_name(s: &str) -> Option<String> {
    let Some(rest) = s.strip_prefix("U__") else {
        return (!s.is_empty()).then(|| s.to_string());
    };
    let mut out = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '_' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'_') {
            chars.next();
            out.push('_');
            continue;
        }
        let hex: String = chars.by_ref().take_while(|c| *c != '_').collect();
        out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn utf8_names() {
        for (i, o) in [
            ("job", Some("job")),
            ("U__a_2e_b", Some("a.b")),
            ("U__a__b", Some("a_b")),
            ("U___zz_", None),
            ("", None),
        ] {
            assert_eq!(super::unescape_name(i).as_deref(), o, "input {i:?}");
        }
    }
}
