//! PromQL compliance: the shared dataset imported, the server started on
//! it, and `compare.py --set public` scoring every query against the
//! answers a real Prometheus gave. The queries that fail must be exactly
//! the reviewed list in `tests/compliance/known_failures.txt` (one
//! `query-id: reason` a line), so one regression, or one listed query
//! that passes again, fails the test. On the same server, every
//! expression of the Grafana corpus (`conformance/grafana/queries.txt`),
//! its variables substituted, must parse and evaluate without error.
//! Under `CI=true` a missing corpus or `python3` fails instead of
//! skipping.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

#[test]
fn public_set_matches_prometheus() {
    let Some((dir, tmp, om)) = prepared() else {
        return;
    };
    let db = tmp.path().join("data");
    common::import(&om, &db);
    let empty = tmp.path().join("empty.yml");
    std::fs::write(&empty, "").unwrap();
    let s = common::start(
        &db,
        Some(&empty),
        &["--storage.tsdb.retention.time", "100y"],
    );
    score(&dir, s.addr);
    grafana_queries(s.addr);
}

/// The same dataset received over remote write (the harness's
/// `push_remote_write.py`, a remote write 1.0 sender) instead of imported:
/// the same score, the same failures.
#[test]
fn public_set_matches_prometheus_when_received_by_remote_write() {
    let Some((dir, tmp, om)) = prepared() else {
        return;
    };
    let empty = tmp.path().join("empty.yml");
    std::fs::write(&empty, "").unwrap();
    let s = common::start(
        &tmp.path().join("data"),
        Some(&empty),
        &[
            "--storage.tsdb.retention.time",
            "100y",
            "--web.enable-remote-write-receiver",
        ],
    );
    let push = Command::new("python3")
        .arg(dir.join("push_remote_write.py"))
        .arg("--data")
        .arg(&om)
        .arg("--url")
        .arg(format!("http://{}/api/v1/write", s.addr))
        .output()
        .unwrap();
    assert!(
        push.status.success(),
        "push_remote_write.py failed: {}{}",
        String::from_utf8_lossy(&push.stdout),
        String::from_utf8_lossy(&push.stderr)
    );
    score(&dir, s.addr);
}

/// The corpus folder, a temporary directory, and the dataset generated
/// into it; `None` after saying why when the corpus or `python3` is
/// missing (a failure under `CI=true`).
fn prepared() -> Option<(std::path::PathBuf, tempfile::TempDir, std::path::PathBuf)> {
    let dir = model::ci::shared("compliance")?;
    if Command::new("python3").arg("--version").output().is_err() {
        model::ci::skip("python3 is not installed");
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let om = dataset(&dir, tmp.path());
    Some((dir, tmp, om))
}

/// Generates the compliance dataset into `tmp`; returns its path.
fn dataset(dir: &std::path::Path, tmp: &std::path::Path) -> std::path::PathBuf {
    let om = tmp.join("data.om");
    let gen = Command::new("python3")
        .arg(dir.join("gen_dataset.py"))
        .arg("--out")
        .arg(&om)
        .status()
        .unwrap();
    assert!(gen.success(), "gen_dataset.py failed");
    om
}

/// Runs `compare.py --set public` against the server and holds its
/// failures to the reviewed list.
fn score(dir: &std::path::Path, addr: std::net::SocketAddr) {
    let out = Command::new("python3")
        .arg(dir.join("compare.py"))
        .arg("--url")
        .arg(format!("http://{addr}"))
        .args(["--set", "public", "--report-only"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}");
    let last = text.lines().last().unwrap_or("");
    let nums: Vec<usize> = last
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    let [_, failed] = nums[..] else {
        panic!("no `N passed, M failed` line in compare.py's output: {text}");
    };
    // Failures read `FAIL <id> ...` or `FAIL <id>: ...`.
    let failing: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("FAIL "))
        .filter_map(|l| l.split_whitespace().next())
        .map(|id| id.trim_end_matches(':').to_string())
        .collect();
    assert_eq!(
        failing.len(),
        failed,
        "compare.py counts {failed} failures but lists {failing:?}"
    );
    common::assert_known_failures("tests/compliance/known_failures.txt", &failing);
}

/// A value for each dashboard variable, as a user picking one would set
/// it; built-in intervals become durations.
fn substitute(q: &str) -> String {
    let mut q = q.to_string();
    for (from, to) in [
        ("$__rate_interval", "1m"),
        ("$__interval", "1m"),
        ("$__range", "1h"),
        ("$node", "node-0:9100"),
        ("$instance", "node-0:9100"),
        ("$host", "node-0:9100"),
        ("$job", "node"),
        ("$backend", "api"),
        ("$frontend", "web"),
        ("$server", "api-0"),
        ("$code", "5xx"),
    ] {
        q = q.replace(from, to);
    }
    q
}

fn grafana_queries(addr: std::net::SocketAddr) {
    let Some(dir) = model::ci::shared("conformance/grafana") else {
        return;
    };
    let text = std::fs::read_to_string(dir.join("queries.txt")).unwrap();
    let mut failures = Vec::new();
    let mut n = 0;
    for line in text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        n += 1;
        let q = substitute(line);
        let enc: String = form_urlencoded::byte_serialize(q.as_bytes()).collect();
        for path in [
            format!("/api/v1/query?query={enc}&time=1793491200"),
            format!("/api/v1/query_range?query={enc}&start=1793487600&end=1793491200&step=60"),
        ] {
            let (status, body) = common::http(addr, "GET", &path, "").unwrap();
            if status != 200 {
                failures.push(format!("{q}: {status} {body}"));
            }
        }
    }
    eprintln!(
        "grafana corpus: {n} expressions, {} failed evaluations",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
