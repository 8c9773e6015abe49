//! `watchfire promql-test` on the shared promqltest corpus: the evals it
//! reports as failing must be exactly the reviewed list the promql
//! crate's own corpus test keeps (`promql/tests/corpus/known_failures.txt`),
//! so one regression, or one listed eval that passes again, fails.
//! Skipped evals (native histograms, syntax the parser lacks) are listed
//! with their reasons. Under `CI=true` a missing corpus fails.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

#[test]
fn conformance_scripts() {
    let Some(corpus) = model::ci::shared("conformance/promql") else {
        return;
    };
    let out = Command::new(env!("CARGO_BIN_EXE_watchfire"))
        .arg("promql-test")
        .arg(&corpus)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // Lines read `PATH:LINE: FAIL EXPR: WHY`; the list names the file
    // without its directory.
    let mut failed = BTreeSet::new();
    for l in text.lines() {
        if l.ends_with("skipped") {
            eprintln!("{l}");
        }
        let Some((at, _)) = l.split_once(": FAIL ") else {
            continue;
        };
        eprintln!("{l}");
        let file = at.rsplit('/').next().unwrap_or(at);
        failed.insert(file.to_string());
    }
    let last = text.lines().last().unwrap_or("");
    eprintln!("{last}");
    assert!(
        last.contains(" passed, "),
        "no summary line in promql-test's output: {text}"
    );
    assert_eq!(
        out.status.success(),
        failed.is_empty(),
        "exit status and failures disagree"
    );
    common::assert_known_failures("promql/tests/corpus/known_failures.txt", &failed);
    // A file that does not exist is an error, not a pass.
    let out = Command::new(env!("CARGO_BIN_EXE_watchfire"))
        .args(["promql-test", "/nonexistent/x.test"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}
