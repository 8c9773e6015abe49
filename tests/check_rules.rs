//! `watchfire check rules` on the `check_rules` cases of
//! `../shared/conformance/promtool/cases.json`: promtool's exit code, and
//! the duplicate rules it reports.

mod common;

use std::process::Command;

/// Cases that cannot pass yet, each with the reason.
const KNOWN: &[(&str, &str)] = &[(
    "TestCheckRulesWithFeatureFlag",
    "promql-parser does not parse duration expressions (`up[1m * 2]`) or the experimental syntax",
)];

#[test]
fn check_rules_cases() {
    common::promtool_cases("check_rules", KNOWN, |dir, c| {
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
            return Ok(());
        }
        Err(common::Failure {
            problem: problems.join("; "),
            printed: stdout.into_owned(),
        })
    });
}
