//! PromQL compliance: the shared dataset imported, the server started on
//! it, and `compare.py --set public` scoring every query against the
//! answers a real Prometheus gave. The issue asks for at least 98 %.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/compliance")
}

#[test]
fn public_set_matches_prometheus() {
    let dir = shared();
    if !dir.join("compare.py").exists() {
        eprintln!("skipped: {} not found", dir.display());
        return;
    }
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("skipped: python3 is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let om = tmp.path().join("data.om");
    let gen = Command::new("python3")
        .arg(dir.join("gen_dataset.py"))
        .arg("--out")
        .arg(&om)
        .status()
        .unwrap();
    assert!(gen.success(), "gen_dataset.py failed");
    let db = tmp.path().join("data");
    let out = Command::new(env!("CARGO_BIN_EXE_watchfire"))
        .arg("import")
        .arg(&om)
        .arg("--storage.tsdb.path")
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let empty = tmp.path().join("empty.yml");
    std::fs::write(&empty, "").unwrap();
    let s = common::start(
        &db,
        Some(&empty),
        &["--storage.tsdb.retention.time", "100y"],
    );
    let out = Command::new("python3")
        .arg(dir.join("compare.py"))
        .arg("--url")
        .arg(format!("http://{}", s.addr))
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
    let [passed, failed] = nums[..] else {
        panic!("no `N passed, M failed` line in compare.py's output: {text}");
    };
    assert!(
        passed * 100 >= (passed + failed) * 98,
        "compliance {passed} passed, {failed} failed: under 98 %"
    );
}
