//! The server: opens the store and serves HTTP until interrupted.
//!
//! Scraping, the Prometheus API, PromQL, rules and alerting plug in here as
//! they land; today the server keeps the store open and exposes its own
//! metrics and health endpoints.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use clap::Args;

use crate::StorageArgs;

#[derive(Args, Debug)]
pub struct ServerArgs {
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
    #[command(flatten)]
    storage: StorageArgs,
}

struct AppState {
    store: store::Store,
}

pub fn run(args: &ServerArgs) -> anyhow::Result<()> {
    let opts = store::Options {
        wal_fsync_interval: args.storage.fsync_interval,
        retention_time: (!args.retention_time.is_zero()).then_some(args.retention_time),
        retention_size: (args.retention_size > 0).then_some(args.retention_size),
        ..store::Options::default()
    };
    let store = store::Store::open(&args.storage.path, opts)
        .with_context(|| format!("open store {}", args.storage.path.display()))?;
    tracing::info!(path = %args.storage.path.display(), "store open");
    let state = Arc::new(AppState { store });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start runtime")?;
    rt.block_on(serve(args.listen, state.clone()))?;
    drop(rt);
    match Arc::try_unwrap(state) {
        Ok(s) => s.store.close().context("close store")?,
        Err(_) => tracing::warn!("store still in use at exit; closing on drop"),
    }
    tracing::info!("stopped");
    Ok(())
}

async fn serve(addr: SocketAddr, state: Arc<AppState>) -> anyhow::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/-/healthy", get(|| async { "Watchfire is Healthy.\n" }))
        .route("/-/ready", get(|| async { "Watchfire is Ready.\n" }))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listen on {addr}"))?;
    tracing::info!(%addr, "listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serve HTTP")
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

async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let mut out = String::new();
    state.store.metrics().render(&mut out);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}
