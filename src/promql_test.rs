//! `watchfire promql-test PATH...`: runs Prometheus `promqltest` scripts
//! against the PromQL engine and reports each failing and skipped eval,
//! each file's counts and the totals.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use promql::script::{self, Verdict};

#[derive(Args, Debug)]
pub struct PromqlTestArgs {
    /// `.test` script files, or directories of them.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

/// Runs the scripts; `Ok(true)` when no eval failed.
pub fn run(args: &PromqlTestArgs) -> anyhow::Result<bool> {
    let mut files = Vec::new();
    for p in &args.paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("read {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "test"))
                .collect();
            if found.is_empty() {
                // The shared corpus keeps its scripts in testdata/.
                let sub = p.join("testdata");
                if sub.is_dir() {
                    found = std::fs::read_dir(&sub)?
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|f| f.extension().is_some_and(|x| x == "test"))
                        .collect();
                }
            }
            found.sort();
            files.extend(found);
        } else {
            files.push(p.clone());
        }
    }
    let (mut passed, mut failed, mut skipped) = (0usize, 0usize, 0usize);
    for f in &files {
        let (p, fl, s) = run_file(f)?;
        passed += p;
        failed += fl;
        skipped += s;
    }
    if skipped > 0 {
        println!("{passed} passed, {failed} failed, {skipped} skipped");
    } else {
        println!("{passed} passed, {failed} failed");
    }
    Ok(failed == 0)
}

fn run_file(path: &Path) -> anyhow::Result<(usize, usize, usize)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let shown = path.display();
    let nh = script::native_histogram_lines(path);
    let results = match script::run(&text, &nh) {
        Ok(r) => r,
        Err(e) => {
            println!("{shown}: cannot run: {e}");
            println!("{shown}: 0 passed, 1 failed");
            return Ok((0, 1, 0));
        }
    };
    let (mut p, mut f, mut s) = (0, 0, 0);
    for r in &results {
        match &r.verdict {
            Verdict::Passed => p += 1,
            Verdict::Failed(why) => {
                f += 1;
                println!("{shown}:{}: FAIL {}: {why}", r.line, r.expr);
            }
            Verdict::Skipped(why) => {
                s += 1;
                println!("{shown}:{}: SKIP {}: {why}", r.line, r.expr);
            }
        }
    }
    println!("{shown}: {p} passed, {f} failed, {s} skipped");
    Ok((p, f, s))
}
