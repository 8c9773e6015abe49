//! `watchfire routes test`: the receivers an alert reaches, as `amtool
//! config routes test` prints them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum RoutesCommand {
    /// Print the receivers (comma-separated, in order) that an alert with
    /// the given labels reaches through the route tree.
    Test {
        /// The alertmanager.yml to route through.
        #[arg(
            long = "alertmanager.config.file",
            value_name = "FILE",
            default_value = "alertmanager.yml"
        )]
        config_file: PathBuf,
        /// The receivers expected, comma-separated; exit 1 when the alert
        /// reaches others.
        #[arg(long = "verify.receivers", value_name = "LIST")]
        verify: Option<String>,
        /// The alert's labels, `name=value`.
        #[arg(value_name = "LABEL=VALUE")]
        labels: Vec<String>,
    },
}

/// Runs the command; true unless a verification failed.
pub fn run(cmd: &RoutesCommand) -> anyhow::Result<bool> {
    let RoutesCommand::Test {
        config_file,
        verify,
        labels,
    } = cmd;
    let cfg = alerter::config::load(config_file).map_err(|e| anyhow::anyhow!("{e}"))?;
    let root = cfg
        .raw
        .route
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("{}: no routes provided", config_file.display()))?;
    let tree = alerter::route::Route::new(root).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut set = BTreeMap::new();
    for l in labels {
        for m in alerter::matcher::parse(l).map_err(|e| anyhow::anyhow!("{l}: {e}"))? {
            set.insert(m.name.clone(), m.value.clone());
        }
    }
    let got: Vec<&str> = tree
        .matches(&set)
        .iter()
        .map(|r| r.receiver.as_str())
        .collect();
    let line = got.join(",");
    println!("{line}");
    if let Some(want) = verify {
        if want != &line {
            println!("WARNING: Expected receivers did not match resolved receivers.");
            return Ok(false);
        }
    }
    Ok(true)
}
