//! Opening a store: lock the directory, load the catalogue, replay the WAL.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use parking_lot::{Condvar, Mutex, RwLock};

use crate::db::Db;
use crate::head::{ChunkPolicy, Head};
use crate::wal::{self, Record};
use crate::{chunk, maintain, Error, Inner, Metrics, Options, State, Store, DB_FILE, WAL_DIR};

/// Opens the store in `dir`, creating the directory and an empty store when
/// there is none. A SQLite file that is missing while the WAL holds data,
/// or that is not a Watchfire database, is an error naming the file; a
/// damaged WAL is repaired (see [`crate::wal`]) and the damage counted in
/// `prometheus_tsdb_wal_corruptions_total`.
pub(crate) fn open(dir: &Path, opts: Options) -> Result<Store, Error> {
    fs::create_dir_all(dir).map_err(Error::io(format!("create {}", dir.display())))?;
    let lock_path = dir.join("lock");
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(Error::io(format!("open {}", lock_path.display())))?;
    lock.try_lock().map_err(|e| Error::Io {
        context: format!(
            "lock {} (is another watchfire using this directory?)",
            lock_path.display()
        ),
        source: std::io::Error::other(e.to_string()),
    })?;

    let db_path = dir.join(DB_FILE);
    let wal_dir = dir.join(WAL_DIR);
    let wal_has_data = fs::read_dir(&wal_dir)
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    if !db_path.exists() && wal_has_data {
        return Err(Error::Corrupt {
            file: db_path,
            reason: format!(
                "missing, but {} holds data: restore the file, or move the WAL away to start empty",
                wal_dir.display()
            ),
        });
    }
    let db = Db::open(&db_path, true)?;

    let policy = ChunkPolicy {
        samples: opts.chunk_samples.clamp(1, chunk::Encoder::MAX_SAMPLES),
        range_ms: (opts.chunk_range.as_millis() as i64).max(1),
        keep_samples: !opts.wal_only,
        ooo_window_ms: opts
            .out_of_order_window
            .map_or(0, |d| d.as_millis().min(i64::MAX as u128) as i64),
    };
    let mut head = Head::new(policy);
    for e in db.catalogue()? {
        head.insert(e.id, e.labels)
            .map_err(|reason| Error::Corrupt {
                file: db_path.clone(),
                reason,
            })?;
        if let (Some((min, max)), Some(s)) = (e.range, head.series.get_mut(&e.id)) {
            s.min_t = min;
            s.tip = crate::head::Tip::Closed { t: max, v: 0 };
            s.persisted_maxt = max;
            head.max_t = head.max_t.max(max);
        }
    }

    fs::create_dir_all(&wal_dir).map_err(Error::io(format!("create {}", wal_dir.display())))?;
    let holds = wal::tail::Holds::load(dir);
    let replayed = wal::replay(&wal_dir, holds.keep_from(), |rec| match rec {
        Record::Batch(b) => head.apply(b),
        Record::Chunks(chunks) => {
            for (r, bytes) in chunks {
                if !head.series.contains_key(&r) {
                    // Retention removed the series after this checkpoint
                    // was written: its data is past retention anyway.
                    tracing::debug!(series = r, "checkpoint chunk for a deleted series skipped");
                    continue;
                }
                for s in chunk::decode(&bytes).map_err(|e| format!("series {r}: {e}"))? {
                    head.append(r, s.t, s.v);
                }
            }
            Ok(())
        }
    })
    .map_err(Error::io(format!("replay {}", wal_dir.display())))?;

    let metrics = Metrics::default();
    for c in &replayed.corruptions {
        tracing::warn!(file = %c.file.display(), offset = c.offset, reason = %c.reason, "WAL damaged; repaired by truncation");
        metrics.wal_corruptions.inc();
    }
    let wal = wal::Wal::create(
        &wal_dir,
        replayed.next_index,
        opts.segment_bytes,
        opts.wal_compression,
    )
    .map_err(Error::io(format!(
        "create segment in {}",
        wal_dir.display()
    )))?;
    metrics.head_series.set(head.series.len() as f64);

    let inner = Arc::new(Inner {
        dir: dir.to_path_buf(),
        db_path,
        sync: wal.sync_state(),
        state: RwLock::new(State {
            head,
            wal,
            closed: false,
        }),
        writer: Mutex::new(db),
        readers: Mutex::new(Vec::new()),
        metrics,
        holds,
        opened_ms: model::time::now_ms(),
        failures: Default::default(),
        shutdown: (Mutex::new(false), Condvar::new()),
        opts,
    });
    let workers = if inner.opts.background {
        maintain::spawn(&inner)
    } else {
        Vec::new()
    };
    Ok(Store {
        inner,
        workers: Mutex::new(workers),
        _lock: lock,
    })
}
