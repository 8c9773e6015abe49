//! `/metrics`: the one registry every part reports into, and the parts
//! the binary itself owns (configuration reloads, the query API, the
//! process). Names follow Prometheus where it exports the same thing
//! (`prometheus_config_*`, `process_*`); the full list is in
//! `docs/metrics.md`.

use std::sync::{Arc, Weak};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use model::metrics::{Collect, Encoder, Histogram, CONTENT_TYPE};

use crate::server::AppState;

/// Upper bounds of the query API's duration histogram, in seconds.
pub const QUERY_BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0];

/// A new histogram of query API durations.
pub fn query_histogram() -> Histogram {
    Histogram::new(QUERY_BUCKETS)
}

/// Registers every part of a running server.
pub fn register(state: &Arc<AppState>) {
    let r = &state.registry;
    r.register(Arc::new(StorePart(state.store.clone())));
    // Called before the server runs: nothing else holds the manager yet.
    r.register(state.scrape.blocking_lock().metrics());
    if let Some(a) = &state.alerter {
        r.register(a.clone());
    }
    r.register(state.remote_receiver.clone());
    r.register(state.remote_sender.clone());
    r.register(state.otlp_metrics.clone());
    r.register(Arc::new(ServerPart(Arc::downgrade(state))));
    r.register(Arc::new(Process));
}

/// `GET /metrics`.
pub async fn handler(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    // The rule manager sits behind an async lock; refresh its snapshot
    // here, where waiting is allowed, so collecting never blocks.
    state.ruler.refresh_views().await;
    (
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        state.registry.render(),
    )
}

struct StorePart(Arc<store::Store>);

impl Collect for StorePart {
    fn collect(&self, e: &mut Encoder) {
        self.0.metrics().collect(e);
    }
}

/// What lives in [`AppState`]; weak, since the state owns the registry.
struct ServerPart(Weak<AppState>);

impl Collect for ServerPart {
    fn collect(&self, e: &mut Encoder) {
        let Some(st) = self.0.upgrade() else {
            return;
        };
        let (ok, at) = {
            let c = st.config.read();
            (c.last_reload_ok, c.loaded_ms)
        };
        e.gauge(
            "prometheus_config_last_reload_successful",
            "Whether the last configuration reload attempt was successful.",
        )
        .sample(&[], f64::from(u8::from(ok)));
        e.gauge(
            "prometheus_config_last_reload_success_timestamp_seconds",
            "Timestamp of the last successful configuration reload.",
        )
        .sample(&[], at as f64 / 1000.0);
        e.histogram(
            "watchfire_engine_query_duration_seconds",
            "Time spent answering queries of the query API.",
        )
        .histogram(&[], &st.query_seconds);
        st.ruler.collect(e);
        let b = crate::build::INFO;
        e.gauge(
            "watchfire_build_info",
            "A metric with a constant '1' value labeled by version, revision, branch and the compiler it was built with.",
        )
        .sample(
            &[
                ("branch", b.branch),
                ("revision", b.revision),
                ("rustversion", b.rustc),
                ("version", b.version),
            ],
            1.0,
        );
    }
}

/// Prometheus's `process_*` set, read from `/proc/self` (Linux); on other
/// systems, or when `/proc` cannot be read, the families are left out.
struct Process;

impl Collect for Process {
    fn collect(&self, e: &mut Encoder) {
        let Some(p) = read_process() else {
            return;
        };
        e.counter(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
        )
        .sample(&[], p.cpu_seconds);
        let gauges = [
            (
                "process_open_fds",
                "Number of open file descriptors.",
                Some(p.open_fds),
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors.",
                p.max_fds,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                Some(p.virtual_bytes),
            ),
            (
                "process_virtual_memory_max_bytes",
                "Maximum amount of virtual memory available in bytes.",
                p.max_virtual_bytes,
            ),
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                Some(p.resident_bytes),
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                Some(p.start_seconds),
            ),
        ];
        for (name, help, v) in gauges {
            if let Some(v) = v {
                e.gauge(name, help).sample(&[], v);
            }
        }
    }
}

struct ProcessStats {
    cpu_seconds: f64,
    open_fds: f64,
    max_fds: Option<f64>,
    virtual_bytes: f64,
    max_virtual_bytes: Option<f64>,
    resident_bytes: f64,
    start_seconds: f64,
}

/// Reads what client_golang's process collector reads (`procfs`): fields
/// 14, 15 (utime, stime), 22 (starttime), 23 (vsize) and 24 (rss) of
/// `/proc/self/stat`, the open descriptors and `/proc/self/limits`.
fn read_process() -> Option<ProcessStats> {
    const TICKS: f64 = 100.0; // USER_HZ, 100 on every Linux platform
    const PAGE: f64 = 4096.0;
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces and parentheses: fields start after
    // the last ')', with field 3 (state) first.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| f.get(n - 3)?.parse::<f64>().ok();
    let boot = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime ")?.trim().parse::<f64>().ok())?;
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    // The soft limit; "unlimited" is the largest u64, as procfs reads it.
    let limit = |name: &str| {
        let soft = limits
            .lines()
            .find(|l| l.starts_with(name))?
            .get(name.len()..)?
            .split_whitespace()
            .next()?;
        match soft {
            "unlimited" => Some(u64::MAX as f64),
            n => n.parse::<f64>().ok(),
        }
    };
    Some(ProcessStats {
        cpu_seconds: (field(14)? + field(15)?) / TICKS,
        open_fds: std::fs::read_dir("/proc/self/fd").ok()?.count() as f64,
        max_fds: limit("Max open files"),
        virtual_bytes: field(23)?,
        max_virtual_bytes: limit("Max address space"),
        resident_bytes: field(24)? * PAGE,
        start_seconds: boot + field(22)? / TICKS,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process() {
        let p = super::read_process().expect("/proc/self");
        assert!(p.open_fds >= 3.0);
        assert!(p.resident_bytes > 0.0 && p.virtual_bytes >= p.resident_bytes);
        let now = model::time::now_ms() as f64 / 1000.0;
        assert!(p.start_seconds > now - 3600.0 && p.start_seconds <= now + 1.0);
    }
}
