//! The `watchfire` binary: the server and its subcommands.
//!
//! `watchfire` with no subcommand runs the server on its defaults (data in
//! `./data`, listening on `127.0.0.1:9090`, scraping itself). Subcommands:
//! `import` backfills a store from an exposition file; `check config`,
//! `check rules`, `check alertmanager`, `check chatops` and `check metrics`
//! validate without running; `test rules` runs rule unit tests; `routes
//! test` routes an alert through an alertmanager.yml; `promql-test` runs
//! promqltest scripts against the PromQL engine; `query` asks a running
//! server.

mod api;
mod build;
mod check;
mod import;
mod metrics;
mod promql_test;
mod query_cli;
mod routes_cli;
mod ruler;
mod server;
mod test_rules;
mod web;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Metrics, PromQL and alerting in one binary.
#[derive(Parser, Debug)]
#[command(name = "watchfire", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    server: server::ServerArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Backfill a store from an OpenMetrics file (timestamps in seconds) or
    /// a Prometheus text file (timestamps in milliseconds).
    Import(import::ImportArgs),
    /// Validate configuration files or an exposition without running.
    #[command(subcommand)]
    Check(check::CheckCommand),
    /// Run Prometheus promqltest scripts (.test files, or directories of
    /// them) against the PromQL engine; exit 0 only when no eval fails.
    PromqlTest(promql_test::PromqlTestArgs),
    /// Evaluate an expression on a running server and print the answer.
    Query(query_cli::QueryArgs),
    /// Run unit tests.
    #[command(subcommand)]
    Test(test_rules::TestCommand),
    /// Work with an alertmanager.yml route tree.
    #[command(subcommand)]
    Routes(routes_cli::RoutesCommand),
}

/// Flags that shape the store, shared by the server and `import`.
#[derive(Args, Debug, Clone)]
pub struct StorageArgs {
    /// Directory of the time-series store.
    #[arg(long = "storage.tsdb.path", value_name = "DIR", default_value = "data")]
    pub path: PathBuf,
    /// How often the write-ahead log is fsynced; a power loss loses at most
    /// this much of the newest data. 0 fsyncs every commit before it is
    /// acknowledged.
    #[arg(long = "storage.wal.fsync-interval", value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub fsync_interval: Duration,
    /// Compress the write-ahead log (on by default, as in Prometheus).
    /// `--storage.tsdb.wal-compression=false` or
    /// `--no-storage.tsdb.wal-compression` writes it uncompressed; any
    /// setting reads every kind.
    #[arg(long = "storage.tsdb.wal-compression", value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub wal_compression: bool,
    #[arg(long = "no-storage.tsdb.wal-compression", hide = true)]
    pub no_wal_compression: bool,
    /// How the write-ahead log is compressed, as in Prometheus: snappy
    /// (the default, the faster) or zstd (about a quarter smaller).
    /// Ignored when compression is off.
    #[arg(long = "storage.tsdb.wal-compression-type", value_name = "TYPE", default_value = "snappy", value_parser = ["snappy", "zstd"])]
    pub wal_compression_type: String,
}

impl StorageArgs {
    /// How WAL records are written compressed, if they are.
    pub fn wal_compression(&self) -> Option<store::WalCompression> {
        let kind = match self.wal_compression_type.as_str() {
            "zstd" => store::WalCompression::Zstd,
            _ => store::WalCompression::Snappy,
        };
        (self.wal_compression && !self.no_wal_compression).then_some(kind)
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    model::time::parse_duration(s)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WATCHFIRE_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Some(Command::Import(args)) => import::run(&args),
        Some(Command::Check(cmd)) => match check::run(&cmd) {
            Ok(0) => Ok(()),
            Ok(code) => return ExitCode::from(code),
            Err(e) => Err(e),
        },
        Some(Command::PromqlTest(args)) => match promql_test::run(&args) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::FAILURE,
            Err(e) => Err(e),
        },
        Some(Command::Routes(cmd)) => match routes_cli::run(&cmd) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::FAILURE,
            Err(e) => Err(e),
        },
        Some(Command::Test(cmd)) => match test_rules::run(&cmd) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::FAILURE,
            Err(e) => Err(e),
        },
        Some(Command::Query(args)) => match query_cli::run(&args) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::FAILURE,
            Err(e) => Err(e),
        },
        None => server::run(&cli.server),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("watchfire: {e:#}");
            ExitCode::FAILURE
        }
    }
}
