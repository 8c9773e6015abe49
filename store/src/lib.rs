//! Watchfire's time-series store.
//!
//! Samples arrive through an [`Appender`] batch. [`Appender::commit`] frames
//! the batch as one record in our own write-ahead log ([`wal`]) and then
//! applies it to the head: per series an open Gorilla [`chunk`] in memory,
//! indexed by an in-memory postings index. A chunk is cut at 120 samples or
//! at a two-hour boundary. A flusher thread writes completed chunks and new
//! series to SQLite in batched transactions; a checkpoint then replaces the
//! WAL segments with a compact file of what SQLite does not hold yet.
//! Retention deletes chunks older than a time or beyond a size. The
//! [`Store`] answers [`model::Querier`] by merging SQLite and the head.
//!
//! Startup loads the series catalogue from SQLite, replays the latest
//! checkpoint and the WAL segments after it, and repairs a damaged WAL by
//! truncating it at the first bad record.
//!
//! A write that fails (a full disk) is counted, logged at most every ten
//! seconds and reported by [`Store::failing_writes`] until it succeeds
//! again; nothing half-written stays behind, so writing resumes by itself
//! once there is room.
//!
//! Durability: when `commit` returns, the batch has reached the operating
//! system (it survives the process being killed); it is fsynced within
//! [`Options::wal_fsync_interval`], so a power loss loses at most that much.
//!
//! On-disk formats are specified in `store/docs/format/`.
//!
//! ```
//! use model::{Appender, Labels, Querier};
//! # let dir = tempfile::tempdir().unwrap();
//! let store = store::Store::open(dir.path(), store::Options::default()).unwrap();
//! let now = model::time::now_ms();
//! let mut app = store.appender();
//! app.append(&Labels::from_pairs([("__name__", "up")]), now, 1.0).unwrap();
//! app.commit().unwrap();
//! let series: Vec<_> = store.select(&[model::Matcher::equal("__name__", "up")], now - 1000, now).unwrap().collect();
//! assert_eq!(series.len(), 1);
//! store.close().unwrap();
//! ```

mod append;
mod bits;
mod by_labels;
pub mod chunk;
mod db;
pub mod failure;
mod head;
mod maintain;
mod merge;
mod metrics;
mod open;
mod postings;
mod query;
mod slab;
mod stats;
pub(crate) mod wal;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex, RwLock};

pub use append::StoreAppender;
pub use maintain::RetentionReport;
pub use metrics::Metrics;
pub use stats::{Stat, TsdbStats};
pub use wal::tail::{TailBatch, WalHold, WalPosition, WalTail, HOLD_DIR};

/// The SQLite file inside the data directory.
pub const DB_FILE: &str = "watchfire.db";
/// The WAL directory inside the data directory.
pub const WAL_DIR: &str = "wal";

/// Why the store failed. Messages read like a path to the cause.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the file.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
    /// SQLite refused an operation on the named file.
    #[error("{}: {source}", file.display())]
    Sqlite {
        /// The database file.
        file: PathBuf,
        /// The cause.
        source: rusqlite::Error,
    },
    /// A file holds something we cannot use.
    #[error("{}: {reason}", file.display())]
    Corrupt {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The store was closed.
    #[error("store is closed")]
    Closed,
}

impl Error {
    pub(crate) fn sqlite(file: &Path, source: rusqlite::Error) -> Self {
        Error::Sqlite {
            file: file.to_path_buf(),
            source,
        }
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

impl From<Error> for model::StorageError {
    fn from(e: Error) -> Self {
        match e {
            Error::Closed => model::StorageError::Closed,
            e => model::StorageError::Io(e.to_string()),
        }
    }
}

/// How the store behaves. `Default` gives the server's defaults.
#[derive(Clone, Debug)]
pub struct Options {
    /// How often the WAL is fsynced (`--storage.wal.fsync-interval`, 1 s).
    /// Zero fsyncs at every commit, before it returns.
    pub wal_fsync_interval: Duration,
    /// Delete data older than this (`--storage.tsdb.retention.time`,
    /// 15 d); `None` keeps everything. Measured against the wall clock.
    pub retention_time: Option<Duration>,
    /// Delete the oldest chunks while SQLite holds more than this many bytes
    /// (`--storage.tsdb.retention.size`); `None` for no limit.
    pub retention_size: Option<u64>,
    /// How often completed chunks are written to SQLite.
    pub flush_interval: Duration,
    /// Checkpoint the WAL when it holds more than this many bytes...
    pub checkpoint_bytes: u64,
    /// ...or this long after the last checkpoint.
    pub checkpoint_interval: Duration,
    /// How often retention runs.
    pub retention_interval: Duration,
    /// Largest WAL segment file.
    pub segment_bytes: u64,
    /// Samples per chunk before it is cut.
    pub chunk_samples: usize,
    /// Chunks never span a multiple of this range.
    pub chunk_range: Duration,
    /// Open chunks whose newest sample is older than this (relative to the
    /// newest sample in the head) are closed at checkpoint time, so series
    /// that stopped free their memory.
    pub idle_chunk_after: Duration,
    /// Most bytes of WAL segments one hold (a remote's unsent data) may
    /// keep (`--storage.remote.wal-hold.size`); past it the oldest are
    /// dropped from the hold. `None` for no limit.
    pub hold_max_bytes: Option<u64>,
    /// Oldest a segment kept by a hold may get
    /// (`--storage.remote.wal-hold.time`), by its last write. `None` for no
    /// limit.
    pub hold_max_age: Option<Duration>,
    /// Merging writes a classic histogram's buckets against its `_count`
    /// (chunk encoding 5): files about a sixth smaller on histogram-heavy
    /// data, for about a fifth more CPU in queries that read the buckets.
    /// On by default; rows of encoding 5 are read either way.
    pub histogram_references: bool,
    /// Samples older than their series' newest are stored when they are no
    /// older than this behind the newest sample of any series
    /// (`storage.tsdb.out_of_order_time_window`); `None` refuses them all.
    pub out_of_order_window: Option<Duration>,
    /// WAL-only (agent mode): samples go to the WAL for remote write and
    /// are not kept for queries; the head keeps each series' newest sample
    /// for the order checks, SQLite only the series catalogue. A series
    /// with no sample for `hold_max_age` (24 h without it) plus an hour is
    /// forgotten, so churn does not grow memory.
    pub wal_only: bool,
    /// How WAL records and checkpoints are compressed
    /// (`--storage.tsdb.wal-compression` and
    /// `--storage.tsdb.wal-compression-type`: Snappy by default, as in
    /// Prometheus); `None` writes them plain. Every setting reads all
    /// three kinds.
    pub wal_compression: Option<WalCompression>,
    /// Run the background syncer and flusher threads. Off, the owner calls
    /// [`Store::sync_wal`], [`Store::flush`], [`Store::checkpoint`] and
    /// [`Store::apply_retention`] itself (tests, `import`).
    pub background: bool,
}

/// A compression for WAL records (`--storage.tsdb.wal-compression-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalCompression {
    /// Snappy, Prometheus's default: about three times as fast as zstd on
    /// a scrape's record, which comes out about a third larger.
    Snappy,
    /// zstd at level 1: the smaller WAL.
    Zstd,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            wal_fsync_interval: Duration::from_secs(1),
            retention_time: Some(Duration::from_secs(15 * 86_400)),
            retention_size: None,
            flush_interval: Duration::from_secs(10),
            checkpoint_bytes: 128 << 20,
            checkpoint_interval: Duration::from_secs(30 * 60),
            retention_interval: Duration::from_secs(60),
            segment_bytes: 64 << 20,
            chunk_samples: 120,
            chunk_range: Duration::from_secs(2 * 3600),
            idle_chunk_after: Duration::from_secs(3600),
            hold_max_bytes: Some(2 << 30),
            hold_max_age: Some(Duration::from_secs(12 * 3600)),
            wal_only: false,
            wal_compression: Some(WalCompression::Snappy),
            out_of_order_window: None,
            histogram_references: true,
            background: true,
        }
    }
}

/// State behind the head lock: the head and the WAL segment being written,
/// kept together so a commit's WAL record and its head update are one step.
pub(crate) struct State {
    pub head: head::Head,
    pub wal: wal::Wal,
    pub closed: bool,
}

pub(crate) struct Inner {
    pub dir: PathBuf,
    pub db_path: PathBuf,
    pub opts: Options,
    pub state: RwLock<State>,
    /// The flusher's connection; holding it serialises flush, checkpoint
    /// and retention.
    pub writer: Mutex<db::Db>,
    pub readers: Mutex<Vec<rusqlite::Connection>>,
    pub sync: Arc<wal::SyncState>,
    pub metrics: Metrics,
    /// When the store was opened (wall clock, ms).
    pub opened_ms: i64,
    /// What remotes still have to send ([`wal::tail`]).
    pub holds: wal::tail::Holds,
    pub failures: failure::Failures,
    pub shutdown: (Mutex<bool>, Condvar),
}

/// The time-series store. Cheap to share through an `Arc`; implements
/// [`model::Appendable`] and [`model::Querier`].
pub struct Store {
    inner: Arc<Inner>,
    workers: Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// The directory lock, released when the store is dropped (appenders
    /// that outlive it only get [`Error::Closed`]).
    _lock: std::fs::File,
}

impl Store {
    /// Opens the store in `dir`, creating it when empty; see [`open`].
    pub fn open(dir: &Path, opts: Options) -> Result<Store, Error> {
        open::open(dir, opts)
    }

    /// The store's counters and gauges.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The kinds of write that fail now (a full disk, an I/O error), with
    /// the latest error and since when; empty while all is well.
    pub fn failing_writes(&self) -> Vec<failure::Failing> {
        self.inner.failures.failing()
    }

    /// Changes the out-of-order window (a configuration reload); `None`
    /// refuses every out-of-order sample from now on.
    pub fn set_out_of_order_window(&self, window: Option<Duration>) {
        let ms = window.map_or(0, |d| d.as_millis().min(i64::MAX as u128) as i64);
        self.inner.state.write().head.set_ooo_window(ms);
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Stops the background threads and fsyncs the WAL. Unflushed head data
    /// stays in the WAL for the next start.
    pub fn close(self) -> Result<(), Error> {
        self.shutdown()
    }

    fn shutdown(&self) -> Result<(), Error> {
        {
            let (lock, cvar) = &self.inner.shutdown;
            *lock.lock() = true;
            cvar.notify_all();
        }
        for w in self.workers.lock().drain(..) {
            let _ = w.join();
        }
        self.inner.state.write().closed = true;
        self.inner.save_holds();
        self.sync_wal()
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            tracing::error!(error = %e, "closing store");
        }
    }
}
