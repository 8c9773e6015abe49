//! Target discovery from files (`file_sd_configs`, upstream
//! `discovery/file`): JSON or YAML lists of `{targets, labels}` groups,
//! with `*` and `?` globs in the file name, re-read when a file changes.
//! [`parse_http`] reads the same groups from an `http_sd_configs` response
//! (upstream `discovery/http`); the polling lives with the scrape manager.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Deserialize;

use crate::target::Group;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// The files a `files:` pattern names now (a literal path as it is, so a
/// missing file is reported when read).
pub fn expand(pattern: &str) -> Vec<PathBuf> {
    let p = Path::new(pattern);
    if !pattern.contains(['*', '?', '[']) {
        return vec![p.to_path_buf()];
    }
    model::glob::glob(p)
}

/// Reads one file's groups; each gets `__meta_filepath`.
pub fn read(path: &Path) -> Result<Vec<Group>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let raw: Vec<RawGroup> = match ext {
        "json" => serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?,
        "yml" | "yaml" => {
            model::yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        _ => {
            return Err(format!(
                "{}: file_sd files must end in .json, .yml or .yaml",
                path.display()
            ))
        }
    };
    Ok(raw
        .into_iter()
        .enumerate()
        .map(|(i, g)| {
            let mut labels = g.labels;
            labels.insert("__meta_filepath".into(), path.display().to_string());
            Group {
                source: format!("{}:{i}", path.display()),
                targets: g.targets,
                labels,
            }
        })
        .collect())
}

/// Reads an HTTP discovery response: a JSON list of groups, served as
/// `application/json`. Each group gets `__meta_url`.
pub fn parse_http(
    url: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Vec<Group>, String> {
    let ct = content_type.unwrap_or("").trim().to_ascii_lowercase();
    let json = ct == "application/json"
        || ct
            .strip_prefix("application/json;")
            .is_some_and(|rest| matches!(rest.trim_start(), "charset=utf-8" | "charset=\"utf-8\""));
    if !json {
        return Err(format!(
            "unsupported content type {:?}",
            content_type.unwrap_or("").trim()
        ));
    }
    let raw: Vec<Option<RawGroup>> =
        serde_json::from_slice(body).map_err(|e| format!("parse response: {e}"))?;
    let mut out = Vec::with_capacity(raw.len());
    for (i, g) in raw.into_iter().enumerate() {
        let Some(g) = g else {
            return Err("nil target group item found".into());
        };
        if let Some(bad) = g.labels.keys().find(|k| k.is_empty()) {
            return Err(format!("{bad:?} is not a valid label name"));
        }
        let mut labels = g.labels;
        labels.insert("__meta_url".into(), url.to_string());
        out.push(Group {
            source: format!("{url}:{i}"),
            targets: g.targets,
            labels,
        });
    }
    Ok(out)
}

/// When a file last changed, to notice edits cheaply.
pub fn stamp(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_responses_like_prometheus() {
        let url = "http://127.0.0.1:1/sd";
        let body = br#"[{"targets": ["a:1", "b:2"], "labels": {"env": "prod"}}, {"targets": []}]"#;
        for ct in [
            "application/json",
            "Application/JSON; charset=utf-8",
            " application/json;charset=\"utf-8\" ",
        ] {
            let g = parse_http(url, Some(ct), body).unwrap();
            assert_eq!(g.len(), 2, "{ct}");
            assert_eq!(g[0].source, "http://127.0.0.1:1/sd:0");
            assert_eq!(g[0].labels.get("__meta_url").map(String::as_str), Some(url));
            assert_eq!(g[0].targets, ["a:1", "b:2"]);
        }
        for (ct, body, want) in [
            (
                Some("text/plain"),
                &body[..],
                "unsupported content type \"text/plain\"",
            ),
            (None, &body[..], "unsupported content type \"\""),
            (
                Some("application/json; charset=latin1"),
                &body[..],
                "unsupported content type",
            ),
            (
                Some("application/json"),
                &b"[null]"[..],
                "nil target group item found",
            ),
            (
                Some("application/json"),
                &b"[{\"targetz\": []}]"[..],
                "parse response: unknown field",
            ),
            (Some("application/json"), &b"{}"[..], "parse response"),
        ] {
            let e = parse_http(url, ct, body).unwrap_err();
            assert!(e.starts_with(want), "{ct:?}: {e}");
        }
    }

    #[test]
    fn globs_and_formats() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.json"),
            r#"[{"targets": ["h:1"], "labels": {"env": "prod"}}]"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("b.yml"), "- targets: ['h:2', 'h:3']\n").unwrap();
        std::fs::write(dir.path().join("c.txt"), "").unwrap();
        let files = expand(&format!("{}/*.json", dir.path().display()));
        assert_eq!(files, vec![dir.path().join("a.json")]);
        let g = read(&files[0]).unwrap();
        assert_eq!(
            (g[0].targets.clone(), g[0].labels.get("env").cloned()),
            (vec!["h:1".to_string()], Some("prod".to_string()))
        );
        assert_eq!(read(&dir.path().join("b.yml")).unwrap()[0].targets.len(), 2);
        assert!(read(&dir.path().join("c.txt")).is_err());
        assert!(read(&dir.path().join("missing.json")).is_err());
        std::fs::write(dir.path().join("bad.json"), "[{\"targetz\": []}]").unwrap();
        assert!(read(&dir.path().join("bad.json"))
            .unwrap_err()
            .contains("targetz"));
    }
}
