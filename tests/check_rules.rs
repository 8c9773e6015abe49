//! `watchfire check rules` on the `check_rules` cases of
//! `../shared/conformance/promtool/cases.json`: promtool's exit code, and
//! the duplicate rules it reports.

use std::path::PathBuf;
use std::process::Command;

fn corpus() -> Option<PathBuf> {
    model::ci::shared("conformance/promtool")
}

/// Cases that cannot pass yet, each with the reason.
const KNOWN: &[(&str, &str)] = &[(
    "TestCheckRulesWithFeatureFlag",
    "promql-parser does not parse duration expressions (`up[1m * 2]`) or the experimental syntax",
)];

#[test]
fn check_rules_cases() {
    let Some(dir) = corpus() else {
        return;
    };
    let cases: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap()).unwrap();
    let cases = cases["check_rules"].as_array().unwrap();
    let (mut passed, mut unexpected, mut known) = (0, Vec::new(), Vec::new());
    for c in cases {
        let name = c["upstream_test"].as_str().unwrap();
        let file = dir.join(c["file"].as_str().unwrap());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_watchfire"));
        cmd.args(["check", "rules"]);
        if c["lint_fatal"].as_bool() == Some(true) {
            cmd.arg("--lint-fatal");
        }
        let out = cmd.arg(&file).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let mut problems = Vec::new();
        if let Some(want) = c["exit_code"].as_i64() {
            if out.status.code() != Some(want as i32) {
                problems.push(format!("exit {:?}, want {want}", out.status.code()));
            }
        }
        if c["parses"].as_bool() == Some(true) && !stdout.contains("SUCCESS") {
            problems.push("does not parse".into());
        }
        if let Some(dups) = c["duplicates"].as_array() {
            let want = if dups.is_empty() {
                None
            } else {
                Some(format!("{} duplicate rule(s) found.", dups.len()))
            };
            let found = stdout
                .lines()
                .find(|l| l.contains("duplicate rule(s) found"));
            if found.map(str::to_string) != want {
                problems.push(format!("duplicates: got {found:?}, want {want:?}"));
            }
            for d in dups {
                let metric = d["record"].as_str().or(d["alert"].as_str()).unwrap_or("");
                if !stdout.contains(&format!("Metric: {metric}")) {
                    problems.push(format!("duplicate {metric} not reported"));
                }
            }
        }
        if problems.is_empty() {
            passed += 1;
        } else if let Some((_, why)) = KNOWN.iter().find(|(k, _)| *k == name) {
            known.push(format!("{name}: {} (known: {why})", problems.join("; ")));
        } else {
            unexpected.push(format!("{name}: {}\n{stdout}", problems.join("; ")));
        }
    }
    println!("check_rules: {passed} of {} cases as promtool", cases.len());
    for k in &known {
        println!("  not yet: {k}");
    }
    assert!(unexpected.is_empty(), "{}", unexpected.join("\n"));
}
