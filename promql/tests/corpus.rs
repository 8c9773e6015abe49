//! The shared `promqltest` corpus (`../shared/conformance/promql`), run
//! through [`promql::script`], against a reviewed list of the evals known
//! to fail (`corpus/known_failures.txt`, one `file:line: reason` a line)
//! instead of a pass rate: an eval that fails and is not on the list
//! fails the test, and so does an eval on the list that now passes, so
//! that the list is kept honest. Evals the runner skips (native
//! histograms, syntax the parser lacks) are counted, not judged.
//!
//! Under `CI=true` a missing corpus is a failure, not a skip.
//! `CORPUS_LIST=1` prints every failing eval in the list's format.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use promql::script::{self, Verdict};

/// The reviewed list: `file:line` to the reason it fails.
fn known() -> BTreeMap<String, String> {
    model::ci::known_failures(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/known_failures.txt"),
    )
}

#[test]
fn corpus_against_known_failures() {
    let Some(dir) = model::ci::shared("conformance/promql/testdata") else {
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .test files in {}", dir.display());
    let known = known();
    let (mut passed, mut skipped) = (0, 0);
    // `file:line` to the expression and why it failed.
    let mut failed: BTreeMap<String, (String, String)> = BTreeMap::new();
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(f).unwrap();
        let results = match script::run(&text, &script::native_histogram_lines(f)) {
            Ok(r) => r,
            Err(e) => {
                failed.insert(
                    format!("{name}:0"),
                    (String::new(), format!("cannot run: {e}")),
                );
                continue;
            }
        };
        for r in results {
            match r.verdict {
                Verdict::Passed => passed += 1,
                Verdict::Skipped(_) => skipped += 1,
                Verdict::Failed(why) => {
                    failed.insert(format!("{name}:{}", r.line), (r.expr, why));
                }
            }
        }
    }
    eprintln!(
        "corpus: {passed} passed, {} failed ({} known), {skipped} skipped",
        failed.len(),
        known.len()
    );
    if std::env::var("CORPUS_LIST").is_ok() {
        for (at, (expr, why)) in &failed {
            println!("{at}: {expr} -- {why}");
        }
    }
    let unexpected: Vec<String> = failed
        .iter()
        .filter(|(at, _)| !known.contains_key(*at))
        .map(|(at, (expr, why))| format!("{at}: {expr}\n    {why}"))
        .collect();
    let fixed: Vec<String> = known
        .iter()
        .filter(|(at, _)| !failed.contains_key(*at))
        .map(|(at, reason)| format!("{at} (listed as: {reason})"))
        .collect();
    assert!(
        unexpected.is_empty() && fixed.is_empty(),
        "{} evals fail that are not on tests/corpus/known_failures.txt:\n{}\n\n\
         {} listed evals no longer fail (remove them from the list):\n{}",
        unexpected.len(),
        unexpected.join("\n"),
        fixed.len(),
        fixed.join("\n")
    );
}
