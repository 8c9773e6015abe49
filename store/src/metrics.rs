//! The store's self-metrics. Where Prometheus's TSDB exports a metric for
//! the same thing, it has Prometheus's name, type and labels
//! (`tsdb/head.go`, `tsdb/wlog/wlog.go`, `tsdb/db.go`); the rest are
//! `watchfire_tsdb_*`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use model::metrics::{Collect, Encoder};
pub use model::metrics::{Counter, Gauge};

/// Count and total of observed durations: a summary without quantiles.
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

/// Every metric the store exports; the doc of each field names it.
#[derive(Default, Debug)]
pub struct Metrics {
    /// `prometheus_tsdb_head_series`
    pub head_series: Gauge,
    /// `prometheus_tsdb_head_chunks`
    pub head_chunks: Gauge,
    /// `prometheus_tsdb_head_series_created_total`
    pub series_created: Counter,
    /// `prometheus_tsdb_head_samples_appended_total{type="float"}`
    pub samples_appended: Counter,
    /// `prometheus_tsdb_out_of_order_samples_total{type="float"}`
    pub out_of_order: Counter,
    /// `watchfire_tsdb_duplicate_samples_total`
    pub duplicate: Counter,
    /// `prometheus_tsdb_wal_corruptions_total`
    pub wal_corruptions: Counter,
    /// `prometheus_tsdb_wal_writes_failed_total`
    pub wal_writes_failed: Counter,
    /// `prometheus_tsdb_checkpoint_creations_failed_total`
    pub checkpoint_failures: Counter,
    /// `prometheus_tsdb_wal_fsync_duration_seconds`
    pub wal_fsync: Durations,
    /// `prometheus_tsdb_wal_storage_size_bytes`
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
    /// `watchfire_tsdb_merged_chunks_total`
    pub merged_chunks: Counter,
    /// `watchfire_tsdb_merge_failures_total`
    pub merge_failures: Counter,
    /// `watchfire_tsdb_merge_damaged_chunks_total`
    pub merge_damaged: Counter,
    /// `watchfire_tsdb_merge_duration_seconds`
    pub merge: Durations,
    /// `prometheus_tsdb_storage_blocks_bytes`: live bytes of the SQLite
    /// file, which holds what Prometheus keeps in blocks.
    pub sqlite_bytes: Gauge,
}

impl Collect for Metrics {
    fn collect(&self, e: &mut Encoder) {
        let float = [("type", "float")];
        let gauges = [
            (
                "prometheus_tsdb_head_series",
                "Total number of series in the head block.",
                &self.head_series,
            ),
            (
                "prometheus_tsdb_head_chunks",
                "Total number of chunks in the head block (open or waiting for the flusher).",
                &self.head_chunks,
            ),
            (
                "prometheus_tsdb_wal_storage_size_bytes",
                "Size of the write log directory.",
                &self.wal_bytes,
            ),
            (
                "prometheus_tsdb_storage_blocks_bytes",
                "Bytes of live pages in the SQLite file, which holds what the head has flushed.",
                &self.sqlite_bytes,
            ),
        ];
        for (name, help, g) in gauges {
            e.gauge(name, help).sample(&[], g.get());
        }
        type Row<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], &'a Counter);
        let counters: [Row; 14] = [
            (
                "prometheus_tsdb_head_series_created_total",
                "Total number of series created in the head.",
                &[],
                &self.series_created,
            ),
            (
                "prometheus_tsdb_head_samples_appended_total",
                "Total number of appended samples.",
                &float,
                &self.samples_appended,
            ),
            (
                "prometheus_tsdb_out_of_order_samples_total",
                "Total number of samples refused for being older than their series' newest sample.",
                &float,
                &self.out_of_order,
            ),
            (
                "watchfire_tsdb_duplicate_samples_total",
                "Samples refused for repeating a timestamp with another value.",
                &[],
                &self.duplicate,
            ),
            (
                "prometheus_tsdb_wal_corruptions_total",
                "Total number of WAL corruptions found and repaired at startup.",
                &[],
                &self.wal_corruptions,
            ),
            (
                "prometheus_tsdb_wal_writes_failed_total",
                "Total number of WAL writes that failed (a full disk); their batches were refused.",
                &[],
                &self.wal_writes_failed,
            ),
            (
                "prometheus_tsdb_checkpoint_creations_failed_total",
                "Total number of checkpoint creations that failed.",
                &[],
                &self.checkpoint_failures,
            ),
            (
                "watchfire_tsdb_flushed_chunks_total",
                "Chunks written to SQLite.",
                &[],
                &self.flushed_chunks,
            ),
            (
                "watchfire_tsdb_flush_failures_total",
                "Flushes to SQLite that failed (retried on the next tick).",
                &[],
                &self.flush_failures,
            ),
            (
                "watchfire_tsdb_retention_deleted_chunks_total",
                "Chunks deleted by retention.",
                &[],
                &self.retention_chunks,
            ),
            (
                "watchfire_tsdb_retention_deleted_series_total",
                "Series deleted by retention.",
                &[],
                &self.retention_series,
            ),
            (
                "watchfire_tsdb_merged_chunks_total",
                "Chunks in SQLite merged into longer ones once their period was over (counted before merging).",
                &[],
                &self.merged_chunks,
            ),
            (
                "watchfire_tsdb_merge_failures_total",
                "Merges of chunks in SQLite that failed (retried on a later tick).",
                &[],
                &self.merge_failures,
            ),
            (
                "watchfire_tsdb_merge_damaged_chunks_total",
                "Chunks that did not decode when merging; their period is left as it is.",
                &[],
                &self.merge_damaged,
            ),
        ];
        for (name, help, labels, c) in counters {
            e.counter(name, help).sample(labels, c.get() as f64);
        }
        for (name, help, d) in [
            (
                "prometheus_tsdb_wal_fsync_duration_seconds",
                "Duration of write log fsync.",
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
            (
                "watchfire_tsdb_merge_duration_seconds",
                "Duration of merge transactions in SQLite.",
                &self.merge,
            ),
        ] {
            e.summary(name, help)
                .summary(&[], &[], d.sum_seconds(), d.count());
        }
    }
}
