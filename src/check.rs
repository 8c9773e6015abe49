//! `watchfire check config|rules|alertmanager|chatops|metrics`: validate files
//! without running.

use std::io::Read;
use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use collector::exposition::{Entry, Format, MetricType, Strictness};

#[derive(Subcommand, Debug)]
pub enum CheckCommand {
    /// Validate prometheus.yml files, as `promtool check config` does.
    Config {
        /// The files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Validate Prometheus rule files, as `promtool check rules` does: exit
    /// 0 when all are valid, 1 when any is not (each problem with file,
    /// line and reason), 3 when only lint findings remain and
    /// `--lint-fatal` is given.
    Rules {
        /// The files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Lint to run: `duplicate-rules` (rules with the same name and
        /// labels in one file) or `none`.
        #[arg(long, value_enum, default_value_t = RulesLint::DuplicateRules)]
        lint: RulesLint,
        /// Exit 3 when a lint finds something.
        #[arg(long)]
        lint_fatal: bool,
        /// Accept only legacy label names (`[a-zA-Z_][a-zA-Z0-9_]*`).
        #[arg(long)]
        legacy_names: bool,
    },
    /// Validate alertmanager.yml files, as `amtool check-config` does: exit
    /// 0 when all load, 1 with file, line and reason otherwise.
    Alertmanager {
        /// The files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Validate ChatOps files (`--chatops.config.file`): exit 0 when all
    /// load, 1 with file, line and reason otherwise. With
    /// `--alertmanager.config.file`, every receiver named must be one of
    /// its receivers.
    Chatops {
        /// The files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The alertmanager.yml whose receivers the files refer to.
        #[arg(long = "alertmanager.config.file", value_name = "FILE")]
        alertmanager: Option<PathBuf>,
    },
    /// Validate an exposition read from standard input, as `promtool check
    /// metrics` does: exit 0 when it parses, 1 with line and reason when it
    /// does not. Lint findings are printed but do not change the exit code.
    Metrics {
        #[arg(long, value_enum, default_value_t = MetricsFormat::Text)]
        format: MetricsFormat,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RulesLint {
    DuplicateRules,
    None,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum MetricsFormat {
    Text,
    Openmetrics,
}

/// Runs a check and gives its exit code: 0 valid, 1 invalid, 3 lint
/// findings with `--lint-fatal`.
pub fn run(cmd: &CheckCommand) -> anyhow::Result<u8> {
    if let CheckCommand::Rules {
        files,
        lint,
        lint_fatal,
        legacy_names,
    } = cmd
    {
        return Ok(check_rules(files, *lint, *lint_fatal, *legacy_names));
    }
    run_other(cmd).map(|ok| if ok { 0 } else { 1 })
}

/// `check rules`, printing what promtool prints.
fn check_rules(files: &[PathBuf], lint: RulesLint, lint_fatal: bool, legacy: bool) -> u8 {
    let names = if legacy {
        rules::NameValidation::Legacy
    } else {
        rules::NameValidation::Utf8
    };
    let mut failed = false;
    let mut linted = false;
    for f in files {
        println!("Checking {}", f.display());
        match rules::file::load(f, names) {
            Ok(file) => {
                if lint == RulesLint::DuplicateRules {
                    let dups = rules::file::duplicates(&file);
                    if !dups.is_empty() {
                        linted = true;
                        println!("{} duplicate rule(s) found.", dups.len());
                        for (name, labels) in &dups {
                            println!("Metric: {name}");
                            let l: Vec<String> =
                                labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
                            println!("Label(s):");
                            if !l.is_empty() {
                                println!("\t{}", l.join(", "));
                            }
                        }
                        println!("Might cause inconsistency while recording expressions.");
                    }
                }
                let n: usize = file.groups.iter().map(|g| g.rules.len()).sum();
                println!("  SUCCESS: {n} rules found");
            }
            Err(errors) => {
                failed = true;
                println!("  FAILED:");
                for e in errors {
                    println!("{e}");
                }
            }
        }
        println!();
    }
    if failed {
        1
    } else if linted && lint_fatal {
        3
    } else {
        0
    }
}

fn run_other(cmd: &CheckCommand) -> anyhow::Result<bool> {
    match cmd {
        CheckCommand::Rules { .. } => Ok(true),
        CheckCommand::Alertmanager { files } => {
            let mut ok = true;
            for f in files {
                println!("Checking '{}'", f.display());
                match alerter::service::load(f, None) {
                    Ok(alerter::service::Source { config: cfg, .. }) => {
                        println!("  SUCCESS");
                        println!("Found:");
                        println!(" - global config");
                        println!(" - route");
                        println!(" - {} inhibit rules", cfg.raw.inhibit_rules.len());
                        println!(" - {} receivers", cfg.receivers.len());
                        println!(" - {} templates", cfg.raw.templates.len());
                    }
                    Err(e) => {
                        println!("  FAILED: {e}");
                        ok = false;
                    }
                }
                println!();
            }
            Ok(ok)
        }
        CheckCommand::Chatops {
            files,
            alertmanager,
        } => {
            let receivers = match alertmanager {
                None => None,
                Some(am) => match alerter::service::load(am, None) {
                    Ok(src) => Some(
                        src.config
                            .receivers
                            .iter()
                            .map(|r| r.name.clone())
                            .collect::<Vec<_>>(),
                    ),
                    Err(e) => {
                        println!("Checking '{}'\n  FAILED: {e}\n", am.display());
                        return Ok(false);
                    }
                },
            };
            let mut ok = true;
            for f in files {
                println!("Checking '{}'", f.display());
                match alerter::chatops::config::load(f, receivers.as_deref()) {
                    Ok(c) => {
                        println!("  SUCCESS");
                        println!("Found:");
                        let chats = c.chats();
                        if chats.is_empty() {
                            println!(" - no chats (links and the UI only)");
                        } else {
                            println!(" - chats: {}", chats.join(", "));
                        }
                        println!(" - {} receivers", c.receivers.len());
                    }
                    Err(e) => {
                        println!("  FAILED: {e}");
                        ok = false;
                    }
                }
                println!();
            }
            Ok(ok)
        }
        CheckCommand::Config { files } => {
            let mut ok = true;
            for f in files {
                println!("Checking {}", f.display());
                // The server's own checks: the configuration, then its
                // rule files and `alerting` section.
                let dir = f.parent().unwrap_or(std::path::Path::new(""));
                let checked = config::load(f).map_err(|e| e.to_string()).and_then(|cfg| {
                    crate::ruler::prepare(&cfg, dir, false)?;
                    Ok(cfg.warnings)
                });
                match checked {
                    Ok(warnings) => {
                        println!(
                            "  SUCCESS: {} is valid prometheus config file syntax",
                            f.display()
                        );
                        for w in warnings {
                            println!("  WARNING: {w}");
                        }
                    }
                    Err(e) => {
                        println!("  FAILED: {e}");
                        ok = false;
                    }
                }
            }
            Ok(ok)
        }
        CheckCommand::Metrics { format } => {
            let mut body = Vec::new();
            std::io::stdin().read_to_end(&mut body)?;
            let format = match format {
                MetricsFormat::Text => Format::Text,
                MetricsFormat::Openmetrics => Format::OpenMetrics,
            };
            match lint(&body, format) {
                Ok(findings) => {
                    for f in findings {
                        println!("{f}");
                    }
                    Ok(true)
                }
                Err(e) => {
                    eprintln!("error while linting: {e}");
                    Ok(false)
                }
            }
        }
    }
}

/// Parses `body` and returns lint findings in promtool's wording.
pub fn lint(body: &[u8], format: Format) -> Result<Vec<String>, collector::exposition::ParseError> {
    let entries = collector::exposition::parse_with(body, format, Strictness::Prometheus)?;
    let mut findings = Vec::new();
    let mut helped = std::collections::HashSet::new();
    let mut typed: Vec<(String, MetricType)> = Vec::new();
    for e in &entries {
        match e {
            Entry::Help { name, .. } => {
                helped.insert(name.to_string());
            }
            Entry::Type { name, kind } => typed.push((name.to_string(), *kind)),
            _ => {}
        }
    }
    for (name, kind) in &typed {
        if !helped.contains(name) {
            findings.push(format!("{name} no help text"));
        }
        if *kind == MetricType::Counter && format == Format::Text && !name.ends_with("_total") {
            findings.push(format!(
                "{name} counter metrics should have \"_total\" suffix"
            ));
        }
    }
    Ok(findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lint_findings_and_errors() {
        let f = lint(b"# TYPE requests counter\nrequests 1\n", Format::Text).unwrap();
        assert_eq!(
            f,
            [
                "requests no help text",
                "requests counter metrics should have \"_total\" suffix"
            ]
        );
        assert!(lint(
            b"# HELP a_total x\n# TYPE a_total counter\na_total 1\n",
            Format::Text
        )
        .unwrap()
        .is_empty());
        let e = lint(b"a 1\nb{ 2\n", Format::Text).unwrap_err();
        assert_eq!(e.line, 2);
    }
}
