//! The write-ahead log: every committed batch is framed into the current
//! segment before `commit` returns, and fsynced by a background syncer on a
//! short interval. A checkpoint file replaces the segments before it, so
//! the WAL only holds what SQLite does not. Startup replays the latest
//! checkpoint and the segments after it, repairing damage by truncation at
//! the first bad record. Layout in `store/docs/format/wal.md`.

pub(crate) mod record;
pub(crate) mod segment;
pub(crate) mod tail;

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

pub(crate) use record::{Batch, Record};

/// The segment being written.
pub(crate) struct Wal {
    dir: PathBuf,
    segment_size: u64,
    index: u64,
    len: u64,
    sync: Arc<SyncState>,
    buf: Vec<u8>,
    compressor: Option<record::Compressor>,
}

/// What the background syncer needs: the file to fsync and whether it has
/// unsynced writes.
pub(crate) struct SyncState {
    file: Mutex<Arc<File>>,
    dirty: AtomicBool,
}

impl SyncState {
    /// Fsyncs the current segment if anything was written since the last
    /// call. Returns whether it synced.
    pub(crate) fn sync(&self) -> std::io::Result<bool> {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(false);
        }
        let file = self.file.lock().clone();
        if let Err(e) = file.sync_data() {
            self.dirty.store(true, Ordering::Release);
            return Err(e);
        }
        Ok(true)
    }
}

impl Wal {
    /// Starts writing at a new segment `index` in `dir`.
    /// With `compress`, records are written compressed where that makes
    /// them smaller.
    pub(crate) fn create(
        dir: &Path,
        index: u64,
        segment_size: u64,
        compress: Option<crate::WalCompression>,
    ) -> std::io::Result<Wal> {
        let compressor = compress.map(record::Compressor::new).transpose()?;
        let file = segment::create(&dir.join(segment::name(index)))?;
        File::open(dir)?.sync_all()?;
        Ok(Wal {
            dir: dir.to_path_buf(),
            segment_size,
            index,
            len: segment::HEADER.len() as u64,
            sync: Arc::new(SyncState {
                file: Mutex::new(Arc::new(file)),
                dirty: AtomicBool::new(true),
            }),
            buf: Vec::new(),
            compressor,
        })
    }

    pub(crate) fn sync_state(&self) -> Arc<SyncState> {
        self.sync.clone()
    }

    /// The index of the segment being written.
    pub(crate) fn index(&self) -> u64 {
        self.index
    }

    /// Bytes written to the current segment, header included.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Appends one record. When this returns, the bytes have reached the
    /// operating system (they survive the process being killed); a failed
    /// write is cut back off so no torn record stays behind.
    pub(crate) fn log(&mut self, raw: &[u8]) -> std::io::Result<()> {
        let mut compressor = self.compressor.take();
        let payload = match &mut compressor {
            Some(c) => c.compress(raw),
            None => raw,
        };
        let r = self.write(payload);
        self.compressor = compressor;
        r
    }

    fn write(&mut self, payload: &[u8]) -> std::io::Result<()> {
        segment::check_len(payload)?;
        if self.len > segment::HEADER.len() as u64
            && self.len + (segment::RECORD_HEADER_LEN + payload.len()) as u64 > self.segment_size
        {
            self.cut()?;
        }
        self.buf.clear();
        segment::frame(payload, &mut self.buf);
        let file = self.sync.file.lock().clone();
        if let Err(e) = (&*file).write_all(&self.buf) {
            let _ = file.set_len(self.len);
            return Err(e);
        }
        self.len += self.buf.len() as u64;
        self.sync.dirty.store(true, Ordering::Release);
        Ok(())
    }

    /// Fsyncs the current segment and starts the next. Returns the new
    /// index. On failure the current segment stays the one written and no
    /// new file is left behind, so a later cut can succeed.
    pub(crate) fn cut(&mut self) -> std::io::Result<u64> {
        let next = self.index + 1;
        let path = self.dir.join(segment::name(next));
        let file = segment::create(&path)?;
        let current = self.sync.file.lock().clone();
        if let Err(e) = current
            .sync_data()
            .and_then(|()| File::open(&self.dir)?.sync_all())
        {
            drop(file);
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        *self.sync.file.lock() = Arc::new(file);
        self.index = next;
        self.len = segment::HEADER.len() as u64;
        self.sync.dirty.store(true, Ordering::Release);
        Ok(next)
    }
}

/// Writes a checkpoint that stands for every segment up to `upto`, then
/// deletes older checkpoints and the segments it stands for, except those
/// at or after `keep_from` (a remote still has to send them).
pub(crate) fn write_checkpoint(
    dir: &Path,
    upto: u64,
    records: &[Vec<u8>],
    keep_from: u64,
    compress: Option<crate::WalCompression>,
) -> std::io::Result<()> {
    let path = dir.join(segment::checkpoint_name(upto));
    if let Some(codec) = compress {
        let mut c = record::Compressor::new(codec)?;
        let packed: Vec<Vec<u8>> = records.iter().map(|r| c.compress(r).to_vec()).collect();
        segment::write_atomic(&path, &packed)?;
    } else {
        segment::write_atomic(&path, records)?;
    }
    let listing = segment::list(dir)?;
    for (_, path) in listing.checkpoints.iter().filter(|(i, _)| *i < upto) {
        fs::remove_file(path)?;
    }
    delete_unneeded(dir, keep_from)
}

/// Deletes the segments the newest checkpoint stands for, except those at
/// or after `keep_from`.
pub(crate) fn delete_unneeded(dir: &Path, keep_from: u64) -> std::io::Result<()> {
    let listing = segment::list(dir)?;
    let Some((k, _)) = listing.checkpoints.last() else {
        return Ok(());
    };
    for (_, path) in listing
        .segments
        .iter()
        .filter(|(i, _)| i <= k && *i < keep_from)
    {
        fs::remove_file(path)?;
    }
    Ok(())
}

/// Bytes replay would read: the newest checkpoint and the segments after
/// it. Segments kept only for remotes do not count, so they do not make
/// checkpoints come sooner.
pub(crate) fn replay_bytes(dir: &Path) -> u64 {
    let Ok(listing) = segment::list(dir) else {
        return 0;
    };
    let k = listing.checkpoints.last().map(|(k, _)| *k);
    listing
        .checkpoints
        .last()
        .into_iter()
        .chain(
            listing
                .segments
                .iter()
                .filter(|(i, _)| k.is_none_or(|k| *i > k)),
        )
        .filter_map(|(_, p)| fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

pub(crate) fn dir_bytes(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Damage found and repaired during replay.
#[derive(Debug, Clone)]
pub(crate) struct Corruption {
    pub file: PathBuf,
    pub offset: u64,
    pub reason: String,
}

/// The result of a replay: where writing continues and what was repaired.
pub(crate) struct Replayed {
    pub next_index: u64,
    pub corruptions: Vec<Corruption>,
}

/// Hands every record of one file to `apply` up to the first damage, which
/// it returns: bad framing, an undecodable payload, or one `apply` refuses.
fn replay_file(
    path: &Path,
    apply: &mut impl FnMut(Record) -> Result<(), String>,
) -> std::io::Result<Option<segment::Damage>> {
    let contents = segment::read(path)?;
    for (offset, payload) in contents.records {
        if let Err(reason) = record::decode(&payload).and_then(&mut *apply) {
            return Ok(Some(segment::Damage { offset, reason }));
        }
    }
    Ok(contents.damage)
}

/// Replays the latest checkpoint and the segments after it, in order,
/// handing each decoded record to `apply`. The first damaged record (bad
/// framing, bad checksum, undecodable payload, or one `apply` refuses) ends
/// the replay: its segment is truncated there and later segments are
/// deleted, so the log is clean for the next start. Segments the
/// checkpoint stands for are not replayed; they are deleted unless they
/// are at or after `keep_from` (a remote still has to send them).
pub(crate) fn replay(
    dir: &Path,
    keep_from: u64,
    mut apply: impl FnMut(Record) -> Result<(), String>,
) -> std::io::Result<Replayed> {
    let listing = segment::list(dir)?;
    let mut corruptions = Vec::new();
    let checkpoint = listing.checkpoints.last().cloned();
    let mut next_index = 1;
    if let Some((k, path)) = &checkpoint {
        next_index = k + 1;
        for (_, old) in &listing.checkpoints[..listing.checkpoints.len() - 1] {
            fs::remove_file(old)?;
        }
        if let Some(d) = replay_file(path, &mut apply)? {
            // A checkpoint is written whole and renamed into place, so
            // damage here is the disk's doing; keep what reads and go on.
            corruptions.push(Corruption {
                file: path.clone(),
                offset: d.offset,
                reason: d.reason,
            });
        }
    }
    let first = checkpoint.as_ref().map_or(0, |(k, _)| *k);
    let mut segments = listing
        .segments
        .iter()
        .filter(|(i, _)| *i > first)
        .peekable();
    for (_, path) in listing
        .segments
        .iter()
        .filter(|(i, _)| *i <= first && *i < keep_from)
    {
        // Left over from a truncation interrupted after the checkpoint.
        fs::remove_file(path)?;
    }
    while let Some((i, path)) = segments.next() {
        next_index = next_index.max(i + 1);
        let Some(d) = replay_file(path, &mut apply)? else {
            continue;
        };
        if d.offset < segment::HEADER.len() as u64 {
            fs::remove_file(path)?;
        } else {
            OpenOptions::new()
                .write(true)
                .open(path)?
                .set_len(d.offset)?;
        }
        corruptions.push(Corruption {
            file: path.clone(),
            offset: d.offset,
            reason: d.reason,
        });
        for (j, later) in segments.by_ref() {
            next_index = next_index.max(j + 1);
            corruptions.push(Corruption {
                file: later.clone(),
                offset: 0,
                reason: "follows a damaged segment; deleted".into(),
            });
            fs::remove_file(later)?;
        }
    }
    Ok(Replayed {
        next_index,
        corruptions,
    })
}
