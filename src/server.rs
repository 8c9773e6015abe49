//! The server: opens the store, loads `prometheus.yml` (or the embedded
//! default), runs the scrape loops and serves the HTTP API until
//! interrupted. SIGHUP and `POST /-/reload` reload the configuration; a bad
//! one is refused with file, line and reason and the old one keeps running.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use clap::Args;
use config::{Config, ConfigError};

use crate::StorageArgs;

/// The configuration `watchfire` runs without `--config.file`: it scrapes
/// itself every 15 s. `{listen}` becomes `--web.listen-address`.
const DEFAULT_CONFIG: &str = "\
global:
  scrape_interval: 15s
  evaluation_interval: 15s
scrape_configs:
  - job_name: watchfire
    static_configs:
      - targets: ['{listen}']
";

#[derive(Args, Debug)]
pub struct ServerArgs {
    /// A prometheus.yml; without it an embedded default scrapes Watchfire
    /// itself every 15 s.
    #[arg(long = "config.file", value_name = "FILE")]
    config_file: Option<PathBuf>,
    /// Address to listen on for the web interface and API.
    #[arg(
        long = "web.listen-address",
        value_name = "ADDR",
        default_value = "127.0.0.1:9090"
    )]
    listen: SocketAddr,
    /// How long to keep samples; `0` keeps them forever. Measured against
    /// the wall clock.
    #[arg(long = "storage.tsdb.retention.time", value_name = "DURATION", default_value = "15d", value_parser = crate::parse_duration)]
    retention_time: Duration,
    /// Most bytes the SQLite file may hold before the oldest chunks are
    /// deleted (units B, KB, MB, GB, TB, PB, EB; powers of 1024); `0` for
    /// no limit.
    #[arg(long = "storage.tsdb.retention.size", value_name = "BYTES", default_value = "0", value_parser = model::size::parse_bytes)]
    retention_size: u64,
    /// Longest time a query may run.
    #[arg(long = "query.timeout", value_name = "DURATION", default_value = "2m", value_parser = crate::parse_duration)]
    query_timeout: Duration,
    /// Most samples a query may hold in memory at once.
    #[arg(
        long = "query.max-samples",
        value_name = "N",
        default_value_t = 50_000_000
    )]
    query_max_samples: usize,
    /// How far back an instant selector looks for a sample.
    #[arg(long = "query.lookback-delta", value_name = "DURATION", default_value = "5m", value_parser = crate::parse_duration)]
    query_lookback_delta: Duration,
    /// Most queries evaluated at once; more wait their turn.
    #[arg(long = "query.max-concurrency", value_name = "N", default_value_t = 20)]
    query_max_concurrency: usize,
    /// The URL under which Watchfire is reached from outside; alert
    /// generator URLs and `$externalURL` use it. Default:
    /// `http://<host name>:<listen port>`, as Prometheus.
    #[arg(long = "web.external-url", value_name = "URL")]
    external_url: Option<String>,
    /// The path under which the server's routes are served, for a reverse
    /// proxy that strips the external URL's path (`--web.route-prefix /`).
    /// Default: the path of `--web.external-url`. Links in the UI and the
    /// redirect from `/` always use the external URL's path.
    #[arg(long = "web.route-prefix", value_name = "PATH")]
    route_prefix: Option<String>,
    /// How long an alert's `ALERTS_FOR_STATE` may be silent and still have
    /// its `for` state restored after a restart.
    #[arg(long = "rules.alert.for-outage-tolerance", value_name = "DURATION", default_value = "1h", value_parser = crate::parse_duration)]
    for_outage_tolerance: Duration,
    /// The least time a restored alert waits before it fires.
    #[arg(long = "rules.alert.for-grace-period", value_name = "DURATION", default_value = "10m", value_parser = crate::parse_duration)]
    for_grace_period: Duration,
    /// How often a firing alert is sent to Alertmanager again.
    #[arg(long = "rules.alert.resend-delay", value_name = "DURATION", default_value = "1m", value_parser = crate::parse_duration)]
    resend_delay: Duration,
    /// Alerts that may wait to be sent to Alertmanagers; beyond this the
    /// oldest are dropped (and counted).
    #[arg(
        long = "alertmanager.notification-queue-capacity",
        value_name = "N",
        default_value_t = 10_000
    )]
    notification_queue_capacity: usize,
    /// An alertmanager.yml: the built-in alerter routes the rules' alerts
    /// (and those posted to /api/v2/alerts) to its receivers.
    #[arg(long = "alertmanager.config.file", value_name = "FILE")]
    alertmanager_config: Option<PathBuf>,
    /// Watchfire's ChatOps file (alerter/docs/chatops.md): chat apps,
    /// which receivers' notifications can be answered, and by whom. Needs
    /// --alertmanager.config.file; re-read with it on reload.
    #[arg(
        long = "chatops.config.file",
        value_name = "FILE",
        requires = "alertmanager_config"
    )]
    chatops_config: Option<PathBuf>,
    /// Accept samples at `POST /api/v1/write` (remote write 1.0), as
    /// Prometheus's flag of the same name.
    #[arg(long = "web.enable-remote-write-receiver")]
    remote_write_receiver: bool,
    /// Accept OTLP/HTTP metrics at `POST /api/v1/otlp/v1/metrics`, as
    /// Prometheus's flag of the same name; `otlp:` in the configuration
    /// shapes the translation.
    #[arg(long = "web.enable-otlp-receiver")]
    otlp_receiver: bool,
    /// Most bytes of WAL segments each `remote_write` queue may keep
    /// while its remote is behind or down (units B, KB, MB, GB, TB;
    /// powers of 1024); past it the oldest unsent segments are dropped,
    /// logged and counted. `0` for no limit.
    #[arg(long = "storage.remote.wal-hold.size", value_name = "BYTES", default_value = "2GB", value_parser = model::size::parse_bytes)]
    wal_hold_size: u64,
    /// Oldest an unsent WAL segment may get (by its last write) before
    /// each `remote_write` queue gives it up, logged and counted. `0` for
    /// no limit.
    #[arg(long = "storage.remote.wal-hold.time", value_name = "DURATION", default_value = "12h", value_parser = crate::parse_duration)]
    wal_hold_time: Duration,
    /// How long a stopping `remote_write` queue (at shutdown or reload)
    /// goes on delivering what the WAL holds; the rest is sent after the
    /// next start.
    /// Agent mode, as Prometheus's `--agent`: scrape and remote-write only.
    /// Samples go to the WAL and leave with remote write; there is no
    /// local query API, no rules and no alerter (`rule_files`, `alerting`
    /// and `remote_read` are refused), and the store is
    /// `--storage.agent.path`.
    #[arg(long = "agent")]
    agent: bool,
    /// The agent's data directory (with `--agent`).
    #[arg(
        long = "storage.agent.path",
        value_name = "DIR",
        default_value = "data-agent"
    )]
    agent_path: PathBuf,
    /// Most samples one remote read may return in all (`SAMPLES`
    /// answers); `0` for no limit.
    #[arg(
        long = "storage.remote.read-sample-limit",
        value_name = "N",
        default_value_t = 50_000_000
    )]
    read_sample_limit: usize,
    /// Most remote reads served at once; more wait their turn.
    #[arg(
        long = "storage.remote.read-concurrent-limit",
        value_name = "N",
        default_value_t = 10
    )]
    read_concurrent_limit: usize,
    /// Largest frame of a streamed remote read answer, before framing; a
    /// series larger than this is split over frames.
    #[arg(
        long = "storage.remote.read-max-bytes-in-frame",
        value_name = "BYTES",
        default_value_t = 1_048_576
    )]
    read_max_bytes_in_frame: usize,
    #[arg(long = "storage.remote.flush-deadline", value_name = "DURATION", default_value = "1m", value_parser = crate::parse_duration)]
    flush_deadline: Duration,
    #[command(flatten)]
    storage: StorageArgs,
}

/// The configuration in force and how it got there.
pub struct Loaded {
    pub config: Config,
    pub last_reload_ok: bool,
    pub loaded_ms: i64,
}

/// What every handler shares.
pub struct AppState {
    pub store: Arc<store::Store>,
    pub scrape: tokio::sync::Mutex<collector::scrape::Manager>,
    pub config: parking_lot::RwLock<Loaded>,
    pub flags: BTreeMap<String, String>,
    pub started_ms: i64,
    pub retention: String,
    config_file: Option<PathBuf>,
    listen: SocketAddr,
    /// Serialises reloads.
    reloading: tokio::sync::Mutex<()>,
    pub query_limits: crate::api::query::QueryLimits,
    /// Permits for `--query.max-concurrency`.
    pub queries: tokio::sync::Semaphore,
    pub query_seconds: model::metrics::Histogram,
    /// Every part's self-metrics, for `/metrics`.
    pub registry: model::metrics::Registry,
    pub ruler: crate::ruler::Ruler,
    /// The built-in alerter, with `--alertmanager.config.file`.
    pub alerter: Option<Arc<alerter::Service>>,
    /// Where everything is served: `--web.route-prefix`, by default the
    /// path of `--web.external-url`.
    pub route_prefix: String,
    /// The path of `--web.external-url`, which links in the UI start with.
    pub link_prefix: String,
    /// `--web.enable-remote-write-receiver`.
    pub remote_write_receiver: bool,
    pub remote_receiver: Arc<remote::receive::Metrics>,
    /// The `remote_write` queues.
    pub remote_sender: Arc<remote::send::Sender>,
    /// `--storage.remote.flush-deadline`.
    pub flush_deadline: Duration,
    /// `--agent`.
    pub agent: bool,
    /// `--web.enable-otlp-receiver`.
    pub otlp_receiver: bool,
    pub otlp_metrics: Arc<crate::api::remote::OtlpMetrics>,
    /// Permits for `--storage.remote.read-concurrent-limit`.
    pub remote_reads: tokio::sync::Semaphore,
    pub remote_read_limits: crate::api::remote::ReadLimits,
}

impl AppState {
    fn read_config(&self) -> Result<Config, ConfigError> {
        read_config(self.config_file.as_deref(), self.listen, self.agent)
    }

    /// Reloads the configuration; on error the old one stays in force.
    pub async fn reload(self: &Arc<Self>) -> Result<(), String> {
        let _guard = self.reloading.lock().await;
        let read = self
            .read_config()
            .map_err(|e| e.to_string())
            .and_then(|cfg| self.ruler.prepare(&cfg).map(|r| (cfg, r)));
        match read {
            Ok((cfg, prepared)) => {
                if let Some(a) = &self.alerter {
                    if let Err(e) = a.reload() {
                        self.config.write().last_reload_ok = false;
                        tracing::error!(error = %e, "reloading configuration failed; the old one keeps running");
                        return Err(e.to_string());
                    }
                }
                if let Err(e) = tokio::task::block_in_place(|| self.apply_remote_write(&cfg)) {
                    self.config.write().last_reload_ok = false;
                    tracing::error!(error = %e, "reloading configuration failed; the old one keeps running");
                    return Err(e);
                }
                self.store.set_out_of_order_window(
                    cfg.storage.as_ref().and_then(|s| s.out_of_order_window()),
                );
                self.scrape.lock().await.apply(&cfg);
                self.ruler.apply(prepared).await;
                *self.config.write() = Loaded {
                    config: cfg,
                    last_reload_ok: true,
                    loaded_ms: model::time::now_ms(),
                };
                tracing::info!("configuration reloaded");
                Ok(())
            }
            Err(e) => {
                self.config.write().last_reload_ok = false;
                tracing::error!(error = %e, "reloading configuration failed; the old one keeps running");
                Err(e)
            }
        }
    }
}

impl AppState {
    /// Starts, keeps or stops the `remote_write` queues to match `cfg`.
    pub fn apply_remote_write(self: &Arc<Self>, cfg: &Config) -> Result<(), String> {
        let weak = Arc::downgrade(self);
        let ctx = remote::send::Context {
            store: self.store.clone(),
            runtime: tokio::runtime::Handle::current(),
            external_labels: cfg.global.external_labels.clone(),
            metadata: Some(Arc::new(move || {
                weak.upgrade().map(|st| st.metadata()).unwrap_or_default()
            })),
            flush_deadline: self.flush_deadline,
        };
        self.remote_sender.apply(&cfg.remote_write, &ctx)
    }

    /// Every scraped metric family's metadata, once per name, for
    /// remote write's `metadata_config`.
    fn metadata(&self) -> Vec<remote::proto::MetricMetadata> {
        let mut seen = BTreeMap::new();
        for t in self.scrape.blocking_lock().targets() {
            for (name, m) in t.health.metadata.iter() {
                seen.entry(name.to_string())
                    .or_insert_with(|| remote::proto::MetricMetadata {
                        r#type: remote::proto::MetricMetadata::type_number(&m.kind),
                        metric_family_name: name.to_string(),
                        help: m.help.clone(),
                        unit: m.unit.clone(),
                    });
            }
        }
        seen.into_values().collect()
    }
}

/// Reads the configuration; what it accepts without effect is logged.
fn read_config(
    file: Option<&std::path::Path>,
    listen: SocketAddr,
    agent: bool,
) -> Result<Config, ConfigError> {
    let cfg = match file {
        Some(f) => config::load(f),
        None => config::parse(
            &DEFAULT_CONFIG.replace("{listen}", &listen.to_string()),
            "<embedded default config>",
        ),
    }?;
    if agent {
        // As Prometheus's agent mode: nothing that queries or alerts.
        let a = cfg.alerting.as_ref();
        let refused = if !cfg.rule_files.is_empty() {
            Some("rule_files")
        } else if a
            .is_some_and(|a| !a.alertmanagers.is_empty() || !a.alert_relabel_configs.is_empty())
        {
            Some("alerting")
        } else if cfg.remote_read.is_some() {
            Some("remote_read")
        } else {
            None
        };
        if let Some(field) = refused {
            return Err(ConfigError {
                file: file.map_or("<embedded default config>".into(), |f| {
                    f.display().to_string()
                }),
                line: None,
                reason: format!("field {field} is not allowed in agent mode"),
            });
        }
    }
    for w in &cfg.warnings {
        tracing::warn!("{w}");
    }
    Ok(cfg)
}

pub fn run(args: &ServerArgs) -> anyhow::Result<()> {
    if args.agent {
        for (set, flag) in [
            (
                args.alertmanager_config.is_some(),
                "--alertmanager.config.file",
            ),
            (args.chatops_config.is_some(), "--chatops.config.file"),
        ] {
            if set {
                anyhow::bail!(
                    "{flag} is not allowed in agent mode: an agent scrapes and remote-writes only"
                );
            }
        }
    }
    let config = read_config(args.config_file.as_deref(), args.listen, args.agent)
        .map_err(|e| anyhow::anyhow!("load configuration: {e}"))?;
    let data_dir = if args.agent {
        args.agent_path.clone()
    } else {
        args.storage.path.clone()
    };
    let opts = store::Options {
        wal_fsync_interval: args.storage.fsync_interval,
        wal_compression: args.storage.wal_compression(),
        retention_time: (!args.retention_time.is_zero()).then_some(args.retention_time),
        retention_size: (args.retention_size > 0).then_some(args.retention_size),
        hold_max_bytes: (args.wal_hold_size > 0).then_some(args.wal_hold_size),
        hold_max_age: (!args.wal_hold_time.is_zero()).then_some(args.wal_hold_time),
        wal_only: args.agent,
        out_of_order_window: config
            .storage
            .as_ref()
            .and_then(|s| s.out_of_order_window()),
        ..store::Options::default()
    };
    let store = Arc::new(
        store::Store::open(&data_dir, opts)
            .with_context(|| format!("open store {}", data_dir.display()))?,
    );
    tracing::info!(path = %data_dir.display(), agent = args.agent, "store open");
    let flags = BTreeMap::from([
        (
            "config.file".to_string(),
            args.config_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ),
        ("web.listen-address".to_string(), args.listen.to_string()),
        ("agent".to_string(), args.agent.to_string()),
        (
            "storage.agent.path".to_string(),
            args.agent_path.display().to_string(),
        ),
        (
            "storage.tsdb.path".to_string(),
            args.storage.path.display().to_string(),
        ),
        (
            "storage.tsdb.retention.time".to_string(),
            model::time::format_duration(args.retention_time),
        ),
        (
            "storage.tsdb.retention.size".to_string(),
            format!("{}B", args.retention_size),
        ),
        (
            "storage.wal.fsync-interval".to_string(),
            model::time::format_duration(args.storage.fsync_interval),
        ),
        (
            "query.timeout".to_string(),
            model::time::format_duration(args.query_timeout),
        ),
        (
            "query.max-samples".to_string(),
            args.query_max_samples.to_string(),
        ),
        (
            "query.lookback-delta".to_string(),
            model::time::format_duration(args.query_lookback_delta),
        ),
        (
            "query.max-concurrency".to_string(),
            args.query_max_concurrency.to_string(),
        ),
        (
            "web.external-url".to_string(),
            args.external_url.clone().unwrap_or_default(),
        ),
        (
            "web.route-prefix".to_string(),
            args.route_prefix.clone().unwrap_or_default(),
        ),
        (
            "rules.alert.for-outage-tolerance".to_string(),
            model::time::format_duration(args.for_outage_tolerance),
        ),
        (
            "rules.alert.for-grace-period".to_string(),
            model::time::format_duration(args.for_grace_period),
        ),
        (
            "rules.alert.resend-delay".to_string(),
            model::time::format_duration(args.resend_delay),
        ),
        (
            "alertmanager.notification-queue-capacity".to_string(),
            args.notification_queue_capacity.to_string(),
        ),
        (
            "alertmanager.config.file".to_string(),
            args.alertmanager_config
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ),
        (
            "web.enable-remote-write-receiver".to_string(),
            args.remote_write_receiver.to_string(),
        ),
        (
            "web.enable-otlp-receiver".to_string(),
            args.otlp_receiver.to_string(),
        ),
        (
            "storage.remote.read-sample-limit".to_string(),
            args.read_sample_limit.to_string(),
        ),
        (
            "storage.remote.read-concurrent-limit".to_string(),
            args.read_concurrent_limit.to_string(),
        ),
        (
            "storage.remote.read-max-bytes-in-frame".to_string(),
            args.read_max_bytes_in_frame.to_string(),
        ),
        (
            "storage.remote.flush-deadline".to_string(),
            model::time::format_duration(args.flush_deadline),
        ),
        (
            "storage.remote.wal-hold.size".to_string(),
            format!("{}B", args.wal_hold_size),
        ),
        (
            "storage.remote.wal-hold.time".to_string(),
            model::time::format_duration(args.wal_hold_time),
        ),
        (
            "chatops.config.file".to_string(),
            args.chatops_config
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ),
    ]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start runtime")?;
    let external_url = args
        .external_url
        .clone()
        .unwrap_or_else(|| default_external_url(args.listen))
        .trim_end_matches('/')
        .to_string();
    let link_prefix = crate::web::route_prefix(&external_url).map_err(anyhow::Error::msg)?;
    let route_prefix = match &args.route_prefix {
        Some(p) => crate::web::normalize_route_prefix(p).map_err(anyhow::Error::msg)?,
        None => link_prefix.clone(),
    };
    let ruler = crate::ruler::Ruler::new(
        store.clone(),
        args.config_file.as_deref(),
        crate::ruler::RulerOptions {
            manager: rules::manager::ManagerOptions {
                outage_tolerance: args.for_outage_tolerance,
                grace_period: args.for_grace_period,
            },
            resend_delay: args.resend_delay,
            queue_capacity: args.notification_queue_capacity,
            external_url: external_url.clone(),
            engine: promql::Options {
                lookback_delta: args.query_lookback_delta,
                max_samples: args.query_max_samples,
                timeout: args.query_timeout,
                ..promql::Options::default()
            },
        },
    );
    let prepared = ruler
        .prepare(&config)
        .map_err(|e| anyhow::anyhow!("load configuration: {e}"))?;
    let alerter = match &args.alertmanager_config {
        Some(p) => Some(
            alerter::Service::open(alerter::service::Options {
                config_file: p.clone(),
                external_url: external_url.clone(),
                data_dir: args.storage.path.clone(),
                clock: None,
                transport: None,
                chatops_file: args.chatops_config.clone(),
            })
            .map_err(|e| anyhow::anyhow!("load alertmanager configuration: {e}"))?,
        ),
        None => None,
    };
    let state = rt.block_on(async {
        let manager = collector::scrape::Manager::new(store.clone());
        let scrape_config = config.clone();
        if let Some(a) = &alerter {
            ruler.notifier.set_local(Some(a.clone()));
        }
        ruler.apply(prepared).await;
        let state = Arc::new(AppState {
            store: store.clone(),
            scrape: tokio::sync::Mutex::new(manager),
            config: parking_lot::RwLock::new(Loaded {
                config,
                last_reload_ok: true,
                loaded_ms: model::time::now_ms(),
            }),
            flags,
            started_ms: model::time::now_ms(),
            retention: model::time::format_duration(args.retention_time),
            config_file: args.config_file.clone(),
            listen: args.listen,
            reloading: tokio::sync::Mutex::new(()),
            query_limits: crate::api::query::QueryLimits {
                timeout: args.query_timeout,
                max_samples: args.query_max_samples,
                lookback_delta: args.query_lookback_delta,
            },
            queries: tokio::sync::Semaphore::new(args.query_max_concurrency.max(1)),
            query_seconds: crate::metrics::query_histogram(),
            registry: Default::default(),
            ruler,
            alerter,
            route_prefix,
            link_prefix,
            remote_write_receiver: args.remote_write_receiver,
            remote_receiver: Default::default(),
            remote_sender: Default::default(),
            flush_deadline: args.flush_deadline,
            agent: args.agent,
            otlp_receiver: args.otlp_receiver,
            otlp_metrics: Default::default(),
            remote_reads: tokio::sync::Semaphore::new(args.read_concurrent_limit.max(1)),
            remote_read_limits: crate::api::remote::ReadLimits {
                sample_limit: args.read_sample_limit,
                max_frame_bytes: args.read_max_bytes_in_frame.max(1),
            },
        });
        // Queues first: each starts reading the WAL where its hold says, or
        // at the present, and the first scrape comes after that.
        state
            .apply_remote_write(&scrape_config)
            .map_err(|e| anyhow::anyhow!("load configuration: {e}"))?;
        state.scrape.lock().await.apply(&scrape_config);
        // The alerter draws its notifications' graphs with the server's
        // engine and renderer, from its first notification on.
        if let Some(a) = &state.alerter {
            a.set_grapher(Arc::new(crate::api::render::AlertGrapher(Arc::downgrade(
                &state,
            ))));
            a.start();
        }
        Ok::<_, anyhow::Error>(state)
    })?;
    crate::metrics::register(&state);
    let served = rt.block_on(serve(args.listen, state.clone()));
    rt.block_on(async {
        state.ruler.shutdown().await;
        state.scrape.lock().await.shutdown().await;
        let sender = state.remote_sender.clone();
        let _ = tokio::task::spawn_blocking(move || sender.stop()).await;
        if let Some(a) = &state.alerter {
            a.stop();
        }
    });
    drop(state);
    drop(rt);
    served?;
    match Arc::try_unwrap(store) {
        Ok(s) => s.close().context("close store")?,
        Err(_) => tracing::warn!("store still in use at exit; closing on drop"),
    }
    tracing::info!("stopped");
    Ok(())
}

/// Upstream's default external URL: the host's name and the listen port.
fn default_external_url(listen: SocketAddr) -> String {
    let host = model::hostname()
        .map(str::to_string)
        .unwrap_or_else(|| listen.ip().to_string());
    format!("http://{host}:{}", listen.port())
}

/// What an agent does not answer: everything that reads samples back or
/// shows rules and alerts, as Prometheus's agent mode (`/federate`,
/// `/api/v1/{query,query_range,series,labels,label/…/values,rules,alerts,
/// status/tsdb}`, and the image renderer).
fn agent_refuses(path: &str) -> bool {
    const EXACT: [&str; 11] = [
        "/api/v1/read",
        "/api/v1/query",
        "/api/v1/query_range",
        "/api/v1/query_exemplars",
        "/api/v1/render",
        "/api/v1/series",
        "/api/v1/labels",
        "/api/v1/rules",
        "/api/v1/alerts",
        "/api/v1/status/tsdb",
        "/federate",
    ];
    EXACT.iter().any(|p| path.ends_with(p))
        || (path.contains("/api/v1/label/") && path.ends_with("/values"))
}

async fn agent_guard(
    State(st): State<Arc<AppState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if st.agent && agent_refuses(req.uri().path()) {
        let body = serde_json::json!({
            "status": "error",
            "errorType": "execution",
            "error": "unavailable with Watchfire Agent (--agent)",
        });
        return (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(body)).into_response();
    }
    next.run(req).await
}

async fn serve(addr: SocketAddr, state: Arc<AppState>) -> anyhow::Result<()> {
    let routes = Router::new()
        .merge(crate::api::router())
        .merge(crate::web::router())
        .route("/metrics", get(crate::metrics::handler))
        .route("/-/healthy", get(|| async { "Watchfire is Healthy.\n" }))
        .route("/-/ready", get(|| async { "Watchfire is Ready.\n" }))
        .route("/-/reload", post(reload).put(reload))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            agent_guard,
        ));
    // Under a route prefix, as Prometheus serves behind a proxy; `/` and
    // the bare prefix lead to the UI.
    let prefix = state.route_prefix.clone();
    let app = if prefix.is_empty() {
        routes.with_state(state.clone())
    } else {
        // A redirect keeps the fragment of Alertmanager's silence links
        // (`/watchfire/#/silences/new?filter=…`) for the page to route.
        let home = format!("{}/query", state.link_prefix);
        let to_home = move || {
            let home = home.clone();
            async move { axum::response::Redirect::to(&home) }
        };
        Router::new()
            .nest(&prefix, routes)
            .route("/", get(to_home.clone()))
            .route(&format!("{prefix}/"), get(to_home))
            .with_state(state.clone())
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listen on {addr}"))?;
    tracing::info!(%addr, "listening");
    let hup = {
        let state = state.clone();
        tokio::spawn(async move {
            let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            else {
                return;
            };
            while s.recv().await.is_some() {
                let _ = state.reload().await;
            }
        })
    };
    // File discovery: notice edited target files within a second.
    let refresher = {
        let state = state.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                state.scrape.lock().await.refresh();
            }
        })
    };
    let r = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serve HTTP");
    hup.abort();
    refresher.abort();
    r
}

async fn reload(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    match state.reload().await {
        Ok(()) => (StatusCode::OK, String::new()),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {e}\n"),
        ),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
