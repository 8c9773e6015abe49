//! Reading the WAL as it is written, for remote write, and holding the
//! segments a reader still needs.
//!
//! A reader ([`WalTail`]) walks the segments record by record from a
//! [`WalPosition`] and returns each committed batch. Its owner acknowledges
//! positions through a [`WalHold`] once everything before them has been
//! delivered; the hold is written to `<data>/remote/<name>` so the next
//! start resumes there. Checkpoints keep every segment at or after the
//! oldest hold, bounded by [`Options::hold_max_bytes`] and
//! [`Options::hold_max_age`]; past them the oldest segments are dropped
//! from the hold, with a warning and a count. Layout and rules in
//! `store/docs/format/wal.md`.
//!
//! [`Options::hold_max_bytes`]: crate::Options::hold_max_bytes
//! [`Options::hold_max_age`]: crate::Options::hold_max_age

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use model::Labels;
use parking_lot::Mutex;

use super::record::{self, Record};
use super::segment;
use crate::{Error, Inner, Store};

/// The directory of hold files inside the data directory.
pub const HOLD_DIR: &str = "remote";

/// A place in the WAL: a segment and a byte offset in it. Positions order
/// as the records they point at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WalPosition {
    /// The segment's index.
    pub segment: u64,
    /// Bytes into the segment; 0 is its start.
    pub offset: u64,
}

impl std::fmt::Display for WalPosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.segment, self.offset)
    }
}

/// One committed batch as [`WalTail`] reads it.
#[derive(Debug, Clone, Default)]
pub struct TailBatch {
    /// Where the record ends: acknowledging it resumes after it.
    pub end: WalPosition,
    /// The series the batch created: reference and labels.
    pub series: Vec<(u64, Labels)>,
    /// The samples: series reference, timestamp, value.
    pub samples: Vec<(u64, i64, f64)>,
}

/// What one hold has.
#[derive(Debug, Clone, Copy, Default)]
struct HoldState {
    acked: WalPosition,
    /// Acknowledged but not yet written to the hold file.
    dirty: bool,
    dropped_segments: u64,
    dropped_bytes: u64,
}

/// Every hold, by name.
#[derive(Default)]
pub(crate) struct Holds {
    map: Mutex<BTreeMap<String, HoldState>>,
}

impl Holds {
    /// Loads the hold files of `data_dir`; unreadable ones are logged and
    /// skipped (their reader starts afresh).
    pub(crate) fn load(data_dir: &Path) -> Holds {
        let holds = Holds::default();
        let dir = data_dir.join(HOLD_DIR);
        let Ok(rd) = fs::read_dir(&dir) else {
            return holds;
        };
        let mut map = holds.map.lock();
        for e in rd.flatten() {
            let Some(name) = e.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if name.ends_with(".tmp") {
                let _ = fs::remove_file(e.path());
                continue;
            }
            match fs::read_to_string(e.path())
                .map_err(|e| e.to_string())
                .and_then(|s| parse_position(&s))
            {
                Ok(acked) => {
                    map.insert(
                        name,
                        HoldState {
                            acked,
                            ..Default::default()
                        },
                    );
                }
                Err(reason) => {
                    tracing::warn!(file = %e.path().display(), %reason, "unreadable WAL hold; its remote starts from the present");
                }
            }
        }
        drop(map);
        holds
    }

    /// The oldest segment any hold needs; `u64::MAX` with no holds.
    pub(crate) fn keep_from(&self) -> u64 {
        self.map
            .lock()
            .values()
            .map(|h| h.acked.segment)
            .min()
            .unwrap_or(u64::MAX)
    }

    fn acked(&self, name: &str) -> Option<WalPosition> {
        self.map.lock().get(name).map(|h| h.acked)
    }
}

fn parse_position(s: &str) -> Result<WalPosition, String> {
    let mut it = s.split_whitespace();
    let mut num = |what: &str| {
        it.next()
            .ok_or_else(|| format!("missing {what}"))?
            .parse::<u64>()
            .map_err(|e| format!("{what}: {e}"))
    };
    Ok(WalPosition {
        segment: num("segment")?,
        offset: num("offset")?,
    })
}

/// A hold file's name for a remote's name: the name itself when it is
/// made of letters, digits, `-`, `_` and `.` (and does not start with a
/// dot), else its hex.
fn file_name(name: &str) -> String {
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if plain {
        name.to_string()
    } else {
        name.bytes().map(|b| format!("{b:02x}")).collect()
    }
}

/// A reader's acknowledgements: moves its hold forward and saves it.
#[derive(Clone)]
pub struct WalHold {
    inner: Arc<Inner>,
    name: String,
}

impl WalHold {
    /// Everything before `pos` has been delivered: the hold moves there
    /// (never backwards). Saved by [`WalHold::save`].
    pub fn ack(&self, pos: WalPosition) {
        let mut map = self.inner.holds.map.lock();
        if let Some(h) = map.get_mut(&self.name) {
            if pos > h.acked {
                h.acked = pos;
                h.dirty = true;
            }
        }
    }

    /// The acknowledged position.
    pub fn acked(&self) -> WalPosition {
        self.inner.holds.acked(&self.name).unwrap_or_default()
    }

    /// Segments and bytes dropped from this hold because it passed the
    /// store's limits.
    pub fn dropped(&self) -> (u64, u64) {
        self.inner
            .holds
            .map
            .lock()
            .get(&self.name)
            .map_or((0, 0), |h| (h.dropped_segments, h.dropped_bytes))
    }

    /// Writes the acknowledged position to the hold file if it moved
    /// (written whole and renamed into place).
    pub fn save(&self) -> Result<(), Error> {
        let pos = {
            let mut map = self.inner.holds.map.lock();
            match map.get_mut(&self.name) {
                Some(h) if h.dirty => {
                    h.dirty = false;
                    h.acked
                }
                _ => return Ok(()),
            }
        };
        write_hold(&self.inner.dir, &self.name, pos).inspect_err(|_| {
            if let Some(h) = self.inner.holds.map.lock().get_mut(&self.name) {
                h.dirty = true;
            }
        })
    }
}

fn write_hold(data_dir: &Path, name: &str, pos: WalPosition) -> Result<(), Error> {
    let dir = data_dir.join(HOLD_DIR);
    fs::create_dir_all(&dir).map_err(Error::io(format!("create {}", dir.display())))?;
    let path = dir.join(file_name(name));
    let tmp = dir.join(format!("{}.tmp", file_name(name)));
    fs::write(&tmp, format!("{} {}\n", pos.segment, pos.offset))
        .and_then(|()| fs::rename(&tmp, &path))
        .map_err(Error::io(format!("write {}", path.display())))
}

/// Reads committed batches from the WAL, following the writer.
pub struct WalTail {
    inner: Arc<Inner>,
    name: String,
    pos: WalPosition,
    file: Option<(u64, File)>,
}

impl Store {
    /// A reader named `name` (a remote) and its hold. It starts where its
    /// hold file says, or, the first time, at the present: the end of
    /// what has been written.
    pub fn wal_tail(&self, name: &str) -> Result<(WalTail, WalHold), Error> {
        let inner = &self.inner;
        let start = {
            let st = inner.state.read();
            if st.closed {
                return Err(Error::Closed);
            }
            WalPosition {
                segment: st.wal.index(),
                offset: st.wal.len(),
            }
        };
        let key = file_name(name);
        let pos = {
            let mut map = inner.holds.map.lock();
            let h = map.entry(key.clone()).or_insert_with(|| HoldState {
                acked: start,
                dirty: true,
                ..Default::default()
            });
            h.acked
        };
        let hold = WalHold {
            inner: inner.clone(),
            name: key.clone(),
        };
        hold.save()?;
        Ok((
            WalTail {
                inner: inner.clone(),
                name: key,
                pos,
                file: None,
            },
            hold,
        ))
    }

    /// Forgets every hold whose name is not in `names` (remotes no longer
    /// configured) and deletes its file, so its segments can go.
    pub fn retain_wal_holds(&self, names: &[String]) {
        let keep: Vec<String> = names.iter().map(|n| file_name(n)).collect();
        let gone: Vec<String> = {
            let mut map = self.inner.holds.map.lock();
            let gone = map
                .keys()
                .filter(|k| !keep.contains(k))
                .cloned()
                .collect::<Vec<_>>();
            for k in &gone {
                map.remove(k);
            }
            gone
        };
        for k in gone {
            let path = self.inner.dir.join(HOLD_DIR).join(&k);
            tracing::info!(hold = %k, "remote no longer configured; its WAL hold is released");
            let _ = fs::remove_file(path);
        }
    }
}

impl WalTail {
    /// Where the next read starts.
    pub fn position(&self) -> WalPosition {
        self.pos
    }

    /// The labels of series `r`, for references created before the
    /// reader's start. `None` when retention has deleted the series.
    pub fn labels(&self, r: u64) -> Option<Labels> {
        self.inner
            .state
            .read()
            .head
            .series
            .get(&r)
            .map(|s| s.labels.clone())
    }

    fn segment_path(&self, i: u64) -> PathBuf {
        self.inner.dir.join(crate::WAL_DIR).join(segment::name(i))
    }

    /// Moves on to the next segment; `damage` says why the rest of this
    /// one is skipped.
    fn next_segment(&mut self, damage: Option<&str>) {
        if let Some(reason) = damage {
            tracing::warn!(file = %self.segment_path(self.pos.segment).display(), offset = self.pos.offset, %reason, "WAL damaged; the rest of the segment is not sent");
        }
        self.pos = WalPosition {
            segment: self.pos.segment + 1,
            offset: 0,
        };
        self.file = None;
    }

    /// The next committed batch, or `None` when the reader has caught up
    /// with the writer (call again later). A segment that is damaged is
    /// skipped from the damage on, with a warning.
    pub fn read(&mut self) -> Result<Option<TailBatch>, Error> {
        loop {
            let writing = {
                let st = self.inner.state.read();
                if st.closed {
                    return Err(Error::Closed);
                }
                st.wal.index()
            };
            // The hold moved past us: its oldest segments were dropped.
            if let Some(a) = self.inner.holds.acked(&self.name) {
                if a > self.pos {
                    self.pos = a;
                    self.file = None;
                }
            }
            // A segment before the one being written is complete.
            let complete = self.pos.segment < writing;
            if self.pos.segment > writing {
                return Ok(None);
            }
            if !matches!(&self.file, Some((i, _)) if *i == self.pos.segment) {
                let path = self.segment_path(self.pos.segment);
                match File::open(&path) {
                    Ok(f) => self.file = Some((self.pos.segment, f)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        if complete {
                            self.next_segment(None);
                            continue;
                        }
                        return Ok(None);
                    }
                    Err(e) => return Err(Error::io(format!("open {}", path.display()))(e)),
                }
            }
            let Some((_, file)) = &self.file else {
                continue;
            };
            let at = |buf: &mut [u8], off: u64| read_full_at(file, buf, off);
            if self.pos.offset < segment::HEADER.len() as u64 {
                let mut h = [0u8; 8];
                let n = at(&mut h, 0).map_err(Error::io("read WAL segment header"))?;
                if n < h.len() {
                    if complete {
                        self.next_segment(Some("truncated segment header"));
                        continue;
                    }
                    return Ok(None);
                }
                if !segment::is_header(&h) {
                    if complete {
                        self.next_segment(Some("bad segment header"));
                        continue;
                    }
                    return Ok(None);
                }
                self.pos.offset = h.len() as u64;
            }
            let off = self.pos.offset;
            let mut head = [0u8; segment::RECORD_HEADER_LEN];
            let n = at(&mut head, off).map_err(Error::io("read WAL record"))?;
            if n < head.len() {
                if complete {
                    self.next_segment((n > 0).then_some("torn record header"));
                    continue;
                }
                return Ok(None);
            }
            let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
            let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
            if len == 0 || len > segment::MAX_RECORD {
                if complete {
                    self.next_segment(Some("bad record length"));
                    continue;
                }
                return Ok(None);
            }
            let mut payload = vec![0u8; len];
            let n =
                at(&mut payload, off + head.len() as u64).map_err(Error::io("read WAL record"))?;
            if n < len || crc32fast::hash(&payload) != crc {
                if complete {
                    self.next_segment(Some(if n < len {
                        "torn record"
                    } else {
                        "bad checksum"
                    }));
                    continue;
                }
                return Ok(None);
            }
            self.pos.offset = off + (head.len() + len) as u64;
            match record::decode(&payload) {
                Ok(Record::Batch(mut b)) => {
                    // Out-of-order samples are sent like the others.
                    b.samples.append(&mut b.ooo);
                    return Ok(Some(TailBatch {
                        end: self.pos,
                        series: b.series,
                        samples: b.samples,
                    }));
                }
                Ok(Record::Chunks(_)) => continue,
                Err(reason) => {
                    tracing::warn!(file = %self.segment_path(self.pos.segment).display(), offset = off, %reason, "undecodable WAL record not sent");
                }
            }
        }
    }
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn read_full_at(file: &File, buf: &mut [u8], mut off: u64) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], off) {
            Ok(0) => break,
            Ok(k) => {
                n += k;
                off += k as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl Inner {
    /// Applies [`Options::hold_max_bytes`](crate::Options::hold_max_bytes)
    /// and [`Options::hold_max_age`](crate::Options::hold_max_age): a hold
    /// whose segments (before the one being written) pass either limit
    /// loses its oldest, with a warning and a count; then segments no hold
    /// needs and a checkpoint stands for are deleted.
    pub(crate) fn enforce_holds(&self) {
        let wal_dir = self.dir.join(crate::WAL_DIR);
        let Ok(listing) = segment::list(&wal_dir) else {
            return;
        };
        let writing = self.state.read().wal.index();
        let sizes: Vec<(u64, u64, Option<SystemTime>)> = listing
            .segments
            .iter()
            .filter(|(i, _)| *i < writing)
            .filter_map(|(i, p)| {
                let m = fs::metadata(p).ok()?;
                Some((*i, m.len(), m.modified().ok()))
            })
            .collect();
        let now = SystemTime::now();
        {
            let mut map = self.holds.map.lock();
            for (name, h) in map.iter_mut() {
                let from = h.acked.segment;
                let held: Vec<_> = sizes.iter().filter(|(i, _, _)| *i >= from).collect();
                let mut total: u64 = held.iter().map(|(_, b, _)| b).sum();
                for &&(i, bytes, modified) in &held {
                    let too_big = self.opts.hold_max_bytes.is_some_and(|m| total > m);
                    let too_old = self.opts.hold_max_age.is_some_and(|age| {
                        modified.is_some_and(|t| now.duration_since(t).is_ok_and(|d| d > age))
                    });
                    if !too_big && !too_old {
                        break;
                    }
                    tracing::warn!(remote = %name, segment = i, bytes, reason = if too_big { "the hold passed --storage.remote.wal-hold.size" } else { "the hold passed --storage.remote.wal-hold.time" }, "WAL segment not yet sent is dropped");
                    total -= bytes;
                    h.acked = WalPosition {
                        segment: i + 1,
                        offset: 0,
                    };
                    h.dirty = true;
                    h.dropped_segments += 1;
                    h.dropped_bytes += bytes;
                }
            }
        }
        self.save_holds();
        let keep_from = self.holds.keep_from();
        if let Err(e) = super::delete_unneeded(&wal_dir, keep_from) {
            tracing::error!(error = %e, "deleting WAL segments no remote needs failed; will retry");
        }
    }

    /// Writes every hold that moved.
    pub(crate) fn save_holds(&self) {
        let dirty: Vec<(String, WalPosition)> = {
            let mut map = self.holds.map.lock();
            map.iter_mut()
                .filter(|(_, h)| h.dirty)
                .map(|(n, h)| {
                    h.dirty = false;
                    (n.clone(), h.acked)
                })
                .collect()
        };
        for (name, pos) in dirty {
            if let Err(e) = write_hold(&self.dir, &name, pos) {
                tracing::error!(error = %e, "saving a WAL hold failed; will retry");
                if let Some(h) = self.holds.map.lock().get_mut(&name) {
                    h.dirty = true;
                }
            }
        }
    }
}
