//! The store's self-metrics, named after Prometheus's `prometheus_tsdb_*`.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A monotonically increasing count.
#[derive(Default, Debug)]
pub struct Counter(AtomicU64);

impl Counter {
    pub(crate) fn inc(&self) {
        self.add(1)
    }
    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// The current count.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Default, Debug)]
pub struct Gauge(AtomicU64);

impl Gauge {
    pub(crate) fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed);
    }
    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Count and total of observed durations (a summary without quantiles).
#[derive(Default, Debug)]
pub struct Durations {
    count: AtomicU64,
    micros: AtomicU64,
}

impl Durations {
    pub(crate) fn observe(&self, d: Duration) {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.micros
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }
    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
    /// Total seconds observed.
    pub fn sum_seconds(&self) -> f64 {
        self.micros.load(Ordering::Relaxed) as f64 / 1e6
    }
}

/// Every metric the store exports.
#[derive(Default, Debug)]
pub struct Metrics {
    /// `watchfire_tsdb_head_series`
    pub head_series: Gauge,
    /// `watchfire_tsdb_head_chunks`
    pub head_chunks: Gauge,
    /// `watchfire_tsdb_head_series_created_total`
    pub series_created: Counter,
    /// `watchfire_tsdb_head_samples_appended_total`
    pub samples_appended: Counter,
    /// `watchfire_tsdb_out_of_order_samples_total`
    pub out_of_order: Counter,
    /// `watchfire_tsdb_duplicate_samples_total`
    pub duplicate: Counter,
    /// `watchfire_tsdb_wal_corruptions_total`
    pub wal_corruptions: Counter,
    /// `prometheus_tsdb_wal_writes_failed_total`
    pub wal_writes_failed: Counter,
    /// `prometheus_tsdb_checkpoint_creations_failed_total`
    pub checkpoint_failures: Counter,
    /// `watchfire_tsdb_wal_fsync_duration_seconds`
    pub wal_fsync: Durations,
    /// `watchfire_tsdb_wal_size_bytes`
    pub wal_bytes: Gauge,
    /// `watchfire_tsdb_flush_duration_seconds`
    pub flush: Durations,
    /// `watchfire_tsdb_flushed_chunks_total`
    pub flushed_chunks: Counter,
    /// `watchfire_tsdb_flush_failures_total`
    pub flush_failures: Counter,
    /// `watchfire_tsdb_checkpoint_duration_seconds`
    pub checkpoint: Durations,
    /// `watchfire_tsdb_retention_deleted_chunks_total`
    pub retention_chunks: Counter,
    /// `watchfire_tsdb_retention_deleted_series_total`
    pub retention_series: Counter,
    /// `watchfire_tsdb_sqlite_size_bytes`
    pub sqlite_bytes: Gauge,
}

impl Metrics {
    /// Renders every metric in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let mut put = |name: &str, kind: &str, help: &str, value: String| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        put(
            "watchfire_tsdb_head_series",
            "gauge",
            "Series in the head.",
            self.head_series.get().to_string(),
        );
        put(
            "watchfire_tsdb_head_chunks",
            "gauge",
            "Chunks held in the head (open or waiting for the flusher).",
            self.head_chunks.get().to_string(),
        );
        put(
            "watchfire_tsdb_head_series_created_total",
            "counter",
            "Series created in the head.",
            self.series_created.get().to_string(),
        );
        put(
            "watchfire_tsdb_head_samples_appended_total",
            "counter",
            "Samples appended to the head.",
            self.samples_appended.get().to_string(),
        );
        put(
            "watchfire_tsdb_out_of_order_samples_total",
            "counter",
            "Samples rejected for being older than their series' newest sample.",
            self.out_of_order.get().to_string(),
        );
        put(
            "watchfire_tsdb_duplicate_samples_total",
            "counter",
            "Samples rejected for repeating a timestamp with another value.",
            self.duplicate.get().to_string(),
        );
        put(
            "watchfire_tsdb_wal_corruptions_total",
            "counter",
            "WAL damage found and repaired at startup.",
            self.wal_corruptions.get().to_string(),
        );
        put(
            "prometheus_tsdb_wal_writes_failed_total",
            "counter",
            "Commits whose write-ahead log record could not be written (a full disk); the batch was refused.",
            self.wal_writes_failed.get().to_string(),
        );
        put(
            "prometheus_tsdb_checkpoint_creations_failed_total",
            "counter",
            "WAL checkpoints that failed (retried on the next tick).",
            self.checkpoint_failures.get().to_string(),
        );
        put(
            "watchfire_tsdb_wal_size_bytes",
            "gauge",
            "Bytes in the WAL directory.",
            self.wal_bytes.get().to_string(),
        );
        put(
            "watchfire_tsdb_flushed_chunks_total",
            "counter",
            "Chunks written to SQLite.",
            self.flushed_chunks.get().to_string(),
        );
        put(
            "watchfire_tsdb_flush_failures_total",
            "counter",
            "Flushes to SQLite that failed (retried on the next tick).",
            self.flush_failures.get().to_string(),
        );
        put(
            "watchfire_tsdb_retention_deleted_chunks_total",
            "counter",
            "Chunks deleted by retention.",
            self.retention_chunks.get().to_string(),
        );
        put(
            "watchfire_tsdb_retention_deleted_series_total",
            "counter",
            "Series deleted by retention.",
            self.retention_series.get().to_string(),
        );
        put(
            "watchfire_tsdb_sqlite_size_bytes",
            "gauge",
            "Bytes of live pages in the SQLite file.",
            self.sqlite_bytes.get().to_string(),
        );
        for (name, help, d) in [
            (
                "watchfire_tsdb_wal_fsync_duration_seconds",
                "Duration of WAL fsyncs.",
                &self.wal_fsync,
            ),
            (
                "watchfire_tsdb_flush_duration_seconds",
                "Duration of flushes to SQLite.",
                &self.flush,
            ),
            (
                "watchfire_tsdb_checkpoint_duration_seconds",
                "Duration of WAL checkpoints.",
                &self.checkpoint,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} summary\n{name}_sum {}\n{name}_count {}",
                d.sum_seconds(),
                d.count()
            );
        }
    }
}
