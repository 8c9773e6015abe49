//! `watchfire test rules`: rule unit tests in `promtool test rules`
//! format, with promtool's output and exit codes.

use std::path::PathBuf;

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum TestCommand {
    /// Run rule unit tests (promtool's YAML: rule_files, input_series,
    /// alert_rule_test, promql_expr_test): exit 0 when every test group
    /// passes, 1 otherwise.
    Rules {
        /// The unit-test files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Run only the test groups whose name matches one of these regular
        /// expressions (repeatable).
        #[arg(long = "run", value_name = "REGEX")]
        run: Vec<String>,
        /// Accept fields the rule-file format does not know.
        #[arg(long)]
        ignore_unknown_fields: bool,
    },
}

/// Runs the tests; true when all passed.
pub fn run(cmd: &TestCommand) -> anyhow::Result<bool> {
    let TestCommand::Rules {
        files,
        run,
        ignore_unknown_fields,
    } = cmd;
    let run = if run.is_empty() {
        None
    } else {
        Some(regex::Regex::new(&run.join("|")).map_err(|e| anyhow::anyhow!("--run: {e}"))?)
    };
    let opts = rules::unittest::RunOptions {
        run,
        ignore_unknown_fields: *ignore_unknown_fields,
    };
    let mut ok = true;
    for f in files {
        println!("Unit Testing:  {}", f.display());
        let errs = rules::unittest::run_file(f, &opts);
        if errs.is_empty() {
            println!("  SUCCESS");
        } else {
            ok = false;
            eprintln!("  FAILED:");
            for e in errs {
                eprintln!("{e}");
                println!();
            }
        }
        println!();
    }
    Ok(ok)
}
