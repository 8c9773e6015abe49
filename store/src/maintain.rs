//! Background work: fsync the WAL, flush completed chunks to SQLite,
//! checkpoint the WAL, apply retention.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::chunk;
use crate::db::Db;
use crate::failure::Write;
use crate::head::{Frozen, Head};
use crate::wal::{self, record, Batch};
use crate::{Error, Inner, Store};

/// What a retention pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RetentionReport {
    /// Chunks deleted from SQLite.
    pub chunks: usize,
    /// Series deleted from the catalogue and the head.
    pub series: usize,
    /// Bytes of the SQLite file before and after (free pages are returned
    /// to the file system by incremental vacuum, so the file shrinks).
    pub file_bytes_before: u64,
    /// See `file_bytes_before`.
    pub file_bytes_after: u64,
}

/// Out-of-order samples per checkpoint record (a sample takes at most 28
/// bytes, so a record stays far below the limit).
const CHECKPOINT_OOO_PER_RECORD: usize = 1_000_000;
/// Chunks per checkpoint record.
const CHECKPOINT_CHUNKS_PER_RECORD: usize = 10_000;
/// Series per checkpoint record: with label sets of a few hundred bytes a
/// record stays far below the WAL's record limit.
const CHECKPOINT_SERIES_PER_RECORD: usize = 50_000;

/// Time the flusher spends merging per tick at most, so flushes keep their
/// pace while a long backlog (an older data directory) is merged.
const MERGE_BUDGET: Duration = Duration::from_secs(1);

impl Inner {
    /// Periods ending at or before this are merged by the flusher: every
    /// series that goes on has cut its chunk there, and one that stopped
    /// had its open chunk closed as idle and flushed by then. A chunk that
    /// still arrives later reopens its period (see [`Db::write`]).
    pub(crate) fn merge_cutoff(&self) -> i64 {
        let newest = self.state.read().head.max_t;
        let settle = self.opts.idle_chunk_after + self.opts.checkpoint_interval;
        newest.saturating_sub(settle.as_millis().min(i64::MAX as u128) as i64)
    }

    pub(crate) fn sync_wal(&self) -> Result<(), Error> {
        let start = Instant::now();
        if self
            .sync
            .sync()
            .map_err(Error::io(format!("fsync WAL in {}", self.dir.display())))?
        {
            self.metrics.wal_fsync.observe(start.elapsed());
        }
        Ok(())
    }

    /// Writes queued chunks and new series in one transaction. On failure
    /// they go back to the queue for the next attempt.
    fn flush_locked(&self, db: &mut Db) -> Result<usize, Error> {
        let r = self.flush_once(db);
        match &r {
            Ok(_) => self.failures.succeeded(Write::Flush),
            Err(e) => self.failures.failed(Write::Flush, e),
        }
        r
    }

    fn flush_once(&self, db: &mut Db) -> Result<usize, Error> {
        let (queue, series) = {
            let mut st = self.state.write();
            st.head.release_ooo();
            let queue = std::mem::take(&mut st.head.flush_queue);
            let refs = if self.opts.wal_only {
                std::mem::take(&mut st.head.uncatalogued)
            } else {
                // A series enters the catalogue with its first chunk: until
                // then the WAL (and every checkpoint) has its labels, and
                // writing them to SQLite as well would store them twice.
                let flushing: std::collections::HashSet<u64> =
                    queue.iter().map(|(r, _)| *r).collect();
                let mut now = Vec::new();
                st.head.uncatalogued.retain(|r| {
                    let take = flushing.contains(r);
                    if take {
                        now.push(*r);
                    }
                    !take
                });
                now
            };
            (queue, st.head.labels_of(&refs))
        };
        if queue.is_empty() && series.is_empty() {
            return Ok(0);
        }
        let start = Instant::now();
        // Choosing the smallest encoding happens here, off the commit path
        // and outside the head lock; the head keeps its XOR copy until the
        // transaction commits.
        let compacted: Vec<(u64, Arc<Frozen>)> = queue
            .iter()
            .map(|(r, f)| {
                let data = chunk::compact(f.data.clone());
                (
                    *r,
                    Arc::new(Frozen {
                        mint: f.mint,
                        maxt: f.maxt,
                        data,
                        ooo: f.ooo,
                    }),
                )
            })
            .collect();
        if let Err(e) = db.write(&series, &compacted, self.range_ms()) {
            self.metrics.flush_failures.inc();
            let mut st = self.state.write();
            let later = std::mem::replace(&mut st.head.flush_queue, queue);
            st.head.flush_queue.extend(later);
            st.head.uncatalogued.extend(series.iter().map(|(r, _)| *r));
            return Err(e);
        }
        let mut st = self.state.write();
        st.head.persisted(&queue);
        self.metrics.head_chunks.set(st.head.chunk_count() as f64);
        drop(st);
        self.metrics.flush.observe(start.elapsed());
        self.metrics.flushed_chunks.add(queue.len() as u64);
        Ok(queue.len())
    }

    /// Flushes, then replaces the WAL up to now by a checkpoint holding the
    /// series SQLite lacks and every chunk still in the head.
    fn checkpoint_locked(&self, db: &mut Db, close_all: bool) -> Result<(), Error> {
        let r = self.checkpoint_once(db, close_all);
        match &r {
            Ok(()) => self.failures.succeeded(Write::Checkpoint),
            Err(e) => {
                self.metrics.checkpoint_failures.inc();
                self.failures.failed(Write::Checkpoint, e);
            }
        }
        r
    }

    fn checkpoint_once(&self, db: &mut Db, close_all: bool) -> Result<(), Error> {
        let start = Instant::now();
        if close_all {
            let mut st = self.state.write();
            st.head.close_chunks(None);
            st.head.cut_all_ooo();
        }
        self.flush_locked(db)?;
        if close_all {
            // Out-of-order chunks go once the in-order ones before them are
            // in SQLite, which the first flush did.
            self.flush_locked(db)?;
        }
        let (dir, upto, records) = {
            let mut st = self.state.write();
            if !close_all {
                let newest = st
                    .head
                    .series
                    .values()
                    .map(|s| s.last_t())
                    .max()
                    .unwrap_or(i64::MIN);
                let idle = self.opts.idle_chunk_after.as_millis() as i64;
                st.head.close_chunks(Some(newest.saturating_sub(idle)));
            }
            let upto = st.wal.index();
            st.wal
                .cut()
                .map_err(Error::io(format!("cut WAL segment {upto}")))?;
            let series = st.head.labels_of(&st.head.uncatalogued);
            let mut chunks: Vec<(u64, Arc<Frozen>)> = Vec::new();
            let mut ooo: Vec<(u64, i64, f64)> = Vec::new();
            for (r, s) in st.head.series.iter() {
                chunks.extend(Head::in_order_chunks(s).into_iter().map(|c| (r, c)));
                ooo.extend(Head::ooo_samples(s).into_iter().map(|(t, v)| (r, t, v)));
            }
            drop(st);
            // Series first, so chunk records always name known series.
            let mut records = Vec::new();
            for group in series.chunks(CHECKPOINT_SERIES_PER_RECORD) {
                let mut buf = Vec::new();
                record::encode_batch(
                    &Batch {
                        series: group.to_vec(),
                        samples: Vec::new(),
                        ooo: Vec::new(),
                    },
                    &mut buf,
                );
                records.push(buf);
            }
            // Chunks of one series must replay oldest first.
            chunks.sort_by_key(|(r, _)| *r);
            for group in chunks.chunks(CHECKPOINT_CHUNKS_PER_RECORD) {
                let mut buf = Vec::new();
                record::encode_chunks(group.iter().map(|(r, c)| (*r, &c.data[..])), &mut buf);
                records.push(buf);
            }
            // Out-of-order samples not in SQLite, as type 3 records with
            // no in-order samples; replay puts them back in the buffers.
            for group in ooo.chunks(CHECKPOINT_OOO_PER_RECORD) {
                let mut buf = Vec::new();
                record::encode_batch(
                    &Batch {
                        series: Vec::new(),
                        samples: Vec::new(),
                        ooo: group.to_vec(),
                    },
                    &mut buf,
                );
                records.push(buf);
            }
            (self.dir.join(crate::WAL_DIR), upto, records)
        };
        self.enforce_holds();
        wal::write_checkpoint(
            &dir,
            upto,
            &records,
            self.holds.keep_from(),
            self.opts.wal_compression,
        )
        .map_err(Error::io(format!("write checkpoint in {}", dir.display())))?;
        self.metrics.wal_bytes.set(wal::dir_bytes(&dir) as f64);
        self.metrics.checkpoint.observe(start.elapsed());
        Ok(())
    }

    fn retention_locked(&self, db: &mut Db, now: i64) -> Result<RetentionReport, Error> {
        let file_bytes = || {
            std::fs::metadata(&self.db_path)
                .map(|m| m.len())
                .unwrap_or(0)
        };
        let mut report = RetentionReport {
            file_bytes_before: file_bytes(),
            ..Default::default()
        };
        let cutoff = self
            .opts
            .retention_time
            .map(|d| now.saturating_sub(d.as_millis() as i64));
        if let Some(cutoff) = cutoff {
            report.chunks += db.delete_before(cutoff)?;
        }
        if let Some(limit) = self.opts.retention_size {
            while db.used_bytes()? > limit {
                let n = db.delete_oldest(1000)?;
                if n == 0 {
                    break;
                }
                report.chunks += n;
            }
        }
        if self.opts.wal_only {
            // No chunks to age out: forget series silent for longer than a
            // remote may hold their samples, so labels stay known to every
            // reader that still has to send them.
            let idle = self
                .opts
                .hold_max_age
                .unwrap_or(Duration::from_secs(86_400))
                + Duration::from_secs(3600);
            let cut = now.saturating_sub(idle.as_millis() as i64);
            // A series with no sample since the store opened counts from
            // the opening.
            let since_open = self.opened_ms < cut;
            let removed: Vec<u64> = {
                let mut st = self.state.write();
                let old: Vec<u64> = st
                    .head
                    .series
                    .iter()
                    .filter(|(_, s)| s.last_t() < cut && (s.last_t() != i64::MIN || since_open))
                    .map(|(r, _)| r)
                    .collect();
                for r in &old {
                    st.head.remove(*r);
                }
                self.metrics.head_series.set(st.head.series.len() as f64);
                old
            };
            if !removed.is_empty() {
                db.delete_series(&removed)?;
                report.series = removed.len();
            }
        } else if report.chunks > 0 {
            let empty = db.empty_series()?;
            let removed: Vec<u64> = {
                let mut st = self.state.write();
                let idle: Vec<u64> = empty
                    .into_iter()
                    .filter(|r| {
                        st.head
                            .series
                            .get(r)
                            .is_some_and(|s| s.is_idle() && cutoff.is_none_or(|c| s.last_t() < c))
                    })
                    .collect();
                for r in &idle {
                    st.head.remove(*r);
                }
                self.metrics.head_series.set(st.head.series.len() as f64);
                idle
            };
            db.delete_series(&removed)?;
            report.series = removed.len();
            db.compact()?;
        }
        report.file_bytes_after = file_bytes();
        self.metrics.retention_chunks.add(report.chunks as u64);
        self.metrics.retention_series.add(report.series as u64);
        self.metrics.sqlite_bytes.set(db.used_bytes()? as f64);
        Ok(report)
    }

    /// The oldest timestamp queries may return under time retention.
    pub(crate) fn retention_floor(&self) -> i64 {
        self.opts.retention_time.map_or(i64::MIN, |d| {
            model::time::now_ms().saturating_sub(d.as_millis() as i64)
        })
    }

    /// Waits `d` or until shutdown; returns whether shutdown was asked.
    fn wait(&self, d: Duration) -> bool {
        let (lock, cvar) = &self.shutdown;
        let mut stop = lock.lock();
        if !*stop {
            cvar.wait_for(&mut stop, d);
        }
        *stop
    }
}

pub(crate) fn spawn(inner: &Arc<Inner>) -> Vec<std::thread::JoinHandle<()>> {
    // With a zero interval every commit fsyncs itself: no syncer.
    let syncer = (!inner.opts.wal_fsync_interval.is_zero()).then(|| {
        let inner = inner.clone();
        std::thread::Builder::new()
            .name("wal-syncer".into())
            .spawn(move || {
                while !inner.wait(inner.opts.wal_fsync_interval) {
                    if let Err(e) = inner.sync_wal() {
                        tracing::error!(error = %e, "WAL fsync failed");
                    }
                }
            })
    });
    let flusher = {
        let inner = inner.clone();
        std::thread::Builder::new()
            .name("flusher".into())
            .spawn(move || {
                let mut last_checkpoint = Instant::now();
                let mut last_retention: Option<Instant> = None;
                while !inner.wait(inner.opts.flush_interval) {
                    let mut db = inner.writer.lock();
                    // A failure is logged and reported by `failures`.
                    let _ = inner.flush_locked(&mut db);
                    let wal_dir = inner.dir.join(crate::WAL_DIR);
                    inner.metrics.wal_bytes.set(wal::dir_bytes(&wal_dir) as f64);
                    let due = wal::replay_bytes(&wal_dir) > inner.opts.checkpoint_bytes
                        || last_checkpoint.elapsed() > inner.opts.checkpoint_interval;
                    if due && inner.checkpoint_locked(&mut db, false).is_ok() {
                        last_checkpoint = Instant::now();
                    }
                    inner.enforce_holds();
                    if last_retention.is_none_or(|t| t.elapsed() > inner.opts.retention_interval) {
                        last_retention = Some(Instant::now());
                        if let Err(e) = inner.retention_locked(&mut db, model::time::now_ms()) {
                            tracing::error!(error = %e, "retention failed; will retry");
                        }
                    }
                    if !inner.opts.wal_only {
                        let cutoff = inner.merge_cutoff();
                        if let Err(e) = inner.merge_locked(&mut db, cutoff, Some(MERGE_BUDGET)) {
                            tracing::error!(error = %e, "merging chunks failed; will retry");
                        }
                    }
                }
            })
    };
    syncer
        .into_iter()
        .chain([flusher])
        .filter_map(|r| {
            r.map_err(|e| tracing::error!(error = %e, "cannot start store thread"))
                .ok()
        })
        .collect()
}

impl Store {
    /// Fsyncs the WAL now if it has unsynced writes.
    pub fn sync_wal(&self) -> Result<(), Error> {
        self.inner.sync_wal()
    }

    /// Writes completed chunks and new series to SQLite now. Returns the
    /// number of chunks written.
    pub fn flush(&self) -> Result<usize, Error> {
        let mut db = self.inner.writer.lock();
        self.inner.flush_locked(&mut db)
    }

    /// Checkpoints the WAL now: flushes, then replaces the segments written
    /// so far by one file of what SQLite does not hold.
    pub fn checkpoint(&self) -> Result<(), Error> {
        let mut db = self.inner.writer.lock();
        self.inner.checkpoint_locked(&mut db, false)
    }

    /// Closes every open chunk and writes everything to SQLite, leaving an
    /// empty checkpoint and SQLite's own journal folded in: after this the
    /// SQLite file alone holds all data.
    pub fn flush_all(&self) -> Result<(), Error> {
        let mut db = self.inner.writer.lock();
        self.inner.checkpoint_locked(&mut db, true)?;
        db.compact()?;
        self.inner.metrics.sqlite_bytes.set(db.used_bytes()? as f64);
        Ok(())
    }

    /// Rewrites the SQLite file with every page full (`VACUUM`). Chunks
    /// arrive out of key order, so B-tree pages fill to about two thirds;
    /// after a bulk load this returns the rest. Takes the writer for as long
    /// as the rewrite lasts.
    pub fn vacuum(&self) -> Result<(), Error> {
        let db = self.inner.writer.lock();
        db.conn
            .execute_batch("VACUUM;")
            .map_err(|e| Error::sqlite(&db.path, e))?;
        db.compact()?;
        self.inner.metrics.sqlite_bytes.set(db.used_bytes()? as f64);
        Ok(())
    }

    /// Merges, now and to the end, each series' chunks in SQLite within
    /// every chunk range period that ends at or before `before` (see
    /// `store/docs/format/sqlite.md`, "Merging"). The flusher does the same
    /// in the background, a second per tick, up to the periods that ended
    /// 1 h 30 min before the newest sample. `i64::MAX` merges every period
    /// that has chunks, the one of the newest sample too.
    pub fn merge(&self, before: i64) -> Result<(), Error> {
        let mut db = self.inner.writer.lock();
        self.inner.merge_locked(&mut db, before, None)
    }

    /// Deletes data beyond the time and size retention now, as of `now_ms`.
    pub fn apply_retention(&self, now_ms: i64) -> Result<RetentionReport, Error> {
        let mut db = self.inner.writer.lock();
        self.inner.retention_locked(&mut db, now_ms)
    }

    /// Bytes on disk: the SQLite file (with its journal) and the WAL.
    pub fn disk_bytes(&self) -> u64 {
        let size = |name: &str| {
            std::fs::metadata(self.inner.dir.join(name))
                .map(|m| m.len())
                .unwrap_or(0)
        };
        size(crate::DB_FILE)
            + size(&format!("{}-wal", crate::DB_FILE))
            + wal::dir_bytes(&self.inner.dir.join(crate::WAL_DIR))
    }
}
