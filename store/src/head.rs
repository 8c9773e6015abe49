//! The head: every known series with its open chunk and the completed
//! chunks not yet in SQLite, plus the postings index over all series.
//!
//! Samples must arrive in time order per series: an older timestamp is
//! rejected as out of order, the same timestamp with other value bits as a
//! duplicate, and an exact repeat is ignored (upstream `tsdb/head_append.go`
//! does the same).

use std::sync::Arc;

use model::{CommitSummary, Labels};

use crate::by_labels::ByLabels;
use crate::chunk::Encoder;
use crate::postings::Postings;
use crate::slab::{Slab, U64Map};
use crate::wal::Batch;

/// A completed chunk.
#[derive(Debug)]
pub(crate) struct Frozen {
    pub mint: i64,
    pub maxt: i64,
    pub data: Box<[u8]>,
    /// Out-of-order samples: may overlap the series' other chunks.
    pub ooo: bool,
}

/// Out-of-order samples a series buffers before they are cut into a
/// chunk (upstream's `out_of_order_cap` default).
pub(crate) const OOO_CAP: usize = 32;

/// The chunk being appended to.
#[derive(Debug)]
pub(crate) struct Open {
    pub enc: Encoder,
}

impl Open {
    /// The chunk's first timestamp.
    pub(crate) fn mint(&self) -> i64 {
        self.enc.first_t()
    }
}

/// What a series holds only now and then: completed chunks waiting for
/// the flusher and out-of-order samples not yet cut into a chunk. Most
/// series have neither most of the time, so both live in one box: 8 bytes
/// in every series instead of two vectors' 48.
#[derive(Debug, Default)]
pub(crate) struct Waiting(Option<Box<Rare>>);

#[derive(Debug, Default)]
struct Rare {
    /// Completed chunks, oldest first.
    chunks: Vec<Arc<Frozen>>,
    /// Out-of-order samples by timestamp: `(t, value bits)`.
    ooo: Vec<(i64, u64)>,
}

impl Waiting {
    fn push(&mut self, f: Arc<Frozen>) {
        self.0.get_or_insert_with(Box::default).chunks.push(f);
    }

    /// Drops chunk `f` (the same allocation), freeing the box once empty.
    fn remove(&mut self, f: &Arc<Frozen>) {
        if let Some(r) = &mut self.0 {
            r.chunks.retain(|p| !Arc::ptr_eq(p, f));
            self.tidy();
        }
    }

    fn tidy(&mut self) {
        if self
            .0
            .as_ref()
            .is_some_and(|r| r.chunks.is_empty() && r.ooo.is_empty())
        {
            self.0 = None;
        }
    }

    /// The out-of-order buffer, if it has samples.
    pub(crate) fn ooo(&self) -> Option<&[(i64, u64)]> {
        self.0
            .as_ref()
            .map(|r| r.ooo.as_slice())
            .filter(|b| !b.is_empty())
    }

    fn ooo_mut(&mut self) -> &mut Vec<(i64, u64)> {
        &mut self.0.get_or_insert_with(Box::default).ooo
    }

    fn take_ooo(&mut self) {
        if let Some(r) = &mut self.0 {
            r.ooo = Vec::new();
            self.tidy();
        }
    }
}

impl std::ops::Deref for Waiting {
    type Target = [Arc<Frozen>];

    fn deref(&self) -> &[Arc<Frozen>] {
        self.0.as_deref().map_or(&[], |r| r.chunks.as_slice())
    }
}

/// A series' newest part: the open chunk, whose encoder knows the newest
/// sample, or with none open the newest sample itself (`i64::MIN` when
/// there is none). Held in place, not boxed: appending then follows one
/// pointer less.
#[derive(Debug)]
pub(crate) enum Tip {
    Open(Open),
    Closed { t: i64, v: u64 },
}

#[derive(Debug)]
pub(crate) struct MemSeries {
    pub labels: Labels,
    pub tip: Tip,
    /// Completed chunks waiting for the flusher, oldest first, and the
    /// out-of-order samples not yet cut into a chunk.
    pub pending: Waiting,
    /// Oldest timestamp ever stored (i64::MAX when none).
    pub min_t: i64,
    /// Newest timestamp already in SQLite; replayed samples at or before it
    /// are skipped.
    pub persisted_maxt: i64,
}

impl MemSeries {
    pub(crate) fn new(labels: Labels) -> Self {
        MemSeries {
            labels,
            tip: Tip::Closed { t: i64::MIN, v: 0 },
            pending: Waiting::default(),
            min_t: i64::MAX,
            persisted_maxt: i64::MIN,
        }
    }

    /// The open chunk, if any.
    pub(crate) fn open(&self) -> Option<&Open> {
        match &self.tip {
            Tip::Open(o) => Some(o),
            Tip::Closed { .. } => None,
        }
    }

    /// The newest timestamp ever stored (`i64::MIN` when none).
    pub(crate) fn last_t(&self) -> i64 {
        match &self.tip {
            Tip::Open(o) => o.enc.last_t(),
            Tip::Closed { t, .. } => *t,
        }
    }

    /// The value bits of the newest sample.
    fn last_v(&self) -> u64 {
        match &self.tip {
            Tip::Open(o) => o.enc.last_v_bits(),
            Tip::Closed { v, .. } => *v,
        }
    }

    /// Whether the head holds none of this series' samples.
    pub(crate) fn is_idle(&self) -> bool {
        self.open().is_none() && self.pending.0.is_none()
    }

    fn close_open(&mut self) -> Option<Arc<Frozen>> {
        self.open()?;
        let last = Tip::Closed {
            t: self.last_t(),
            v: self.last_v(),
        };
        let Tip::Open(o) = std::mem::replace(&mut self.tip, last) else {
            return None;
        };
        let f = Arc::new(Frozen {
            mint: o.mint(),
            maxt: o.enc.last_t(),
            data: o.enc.finish(),
            ooo: false,
        });
        self.pending.push(f.clone());
        Some(f)
    }

    /// The out-of-order buffer as a chunk, if it has samples.
    fn ooo_chunk(&self) -> Option<Frozen> {
        let buf = self.pending.ooo()?;
        let mut enc = Encoder::new();
        for &(t, v) in buf.iter() {
            enc.append(t, f64::from_bits(v));
        }
        Some(Frozen {
            mint: buf[0].0,
            maxt: buf[buf.len() - 1].0,
            data: enc.finish(),
            ooo: true,
        })
    }

    /// Cuts the out-of-order buffer into a pending chunk.
    fn cut_ooo(&mut self) -> Option<Arc<Frozen>> {
        let f = Arc::new(self.ooo_chunk()?);
        self.pending.take_ooo();
        self.pending.push(f.clone());
        Some(f)
    }

    /// The value bits of the sample the head holds at `t`, if any: in the
    /// out-of-order buffer, a pending chunk or the open one. Only used for
    /// late samples, so decoding a few chunks is fine.
    fn sample_at(&self, t: i64) -> Option<u64> {
        if let Some(buf) = self.pending.ooo() {
            if let Ok(i) = buf.binary_search_by_key(&t, |s| s.0) {
                return Some(buf[i].1);
            }
        }
        let find = |data: &[u8]| {
            crate::chunk::decode(data)
                .ok()?
                .iter()
                .find(|x| x.t == t)
                .map(|x| x.v.to_bits())
        };
        for f in self.pending.iter().filter(|f| f.mint <= t && t <= f.maxt) {
            if let Some(v) = find(&f.data) {
                return Some(v);
            }
        }
        let o = self.open().filter(|o| o.mint() <= t)?;
        find(o.enc.bytes())
    }
}

/// How chunks are cut.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ChunkPolicy {
    pub samples: usize,
    pub range_ms: i64,
    /// False in WAL-only mode (agent): only each series' newest sample is
    /// kept, for the order checks.
    pub keep_samples: bool,
    /// How far behind the newest sample in the head an out-of-order
    /// sample may be and still be stored; 0 refuses every one.
    pub ooo_window_ms: i64,
}

/// The result of checking one sample against its series.
enum Verdict {
    Append,
    Ignore,
    OutOfOrder,
    Duplicate,
}

fn verdict(last_t: i64, last_v: u64, t: i64, v: f64) -> Verdict {
    if last_t == i64::MIN || t > last_t {
        Verdict::Append
    } else if t < last_t {
        Verdict::OutOfOrder
    } else if v.to_bits() == last_v {
        Verdict::Ignore
    } else {
        Verdict::Duplicate
    }
}

pub(crate) struct Head {
    pub series: Slab<MemSeries>,
    by_labels: ByLabels,
    pub postings: Postings,
    next_ref: u64,
    policy: ChunkPolicy,
    /// Completed chunks for the flusher, in cut order.
    pub flush_queue: Vec<(u64, Arc<Frozen>)>,
    /// Out-of-order chunks waiting until the series' in-order samples up
    /// to their newest are in SQLite, so SQLite's newest timestamp per
    /// series always comes from in-order data (replay relies on it).
    pub ooo_waiting: Vec<(u64, Arc<Frozen>)>,
    /// The newest timestamp of any series: out-of-order windows end here.
    pub max_t: i64,
    /// Series the SQLite catalogue does not have yet.
    pub uncatalogued: Vec<u64>,
}

/// A sample the caller gave, before validation.
#[derive(Clone, Copy)]
pub(crate) struct Pending<'a> {
    pub labels: &'a Labels,
    /// The caller's guess at the series reference (0: none).
    pub hint: u64,
    pub t: i64,
    pub v: f64,
}

impl Head {
    pub(crate) fn new(policy: ChunkPolicy) -> Self {
        Head {
            series: Slab::default(),
            by_labels: ByLabels::default(),
            postings: Postings::default(),
            next_ref: 1,
            policy,
            flush_queue: Vec::new(),
            ooo_waiting: Vec::new(),
            max_t: i64::MIN,
            uncatalogued: Vec::new(),
        }
    }

    /// Changes the out-of-order window (`out_of_order_time_window`).
    pub(crate) fn set_ooo_window(&mut self, ms: i64) {
        self.policy.ooo_window_ms = ms.max(0);
    }

    /// Whether a sample at `t`, older than its series' newest, is within
    /// the out-of-order window.
    fn ooo_ok(&self, t: i64) -> bool {
        self.policy.ooo_window_ms > 0
            && self.max_t != i64::MIN
            && t >= self.max_t.saturating_sub(self.policy.ooo_window_ms)
    }

    pub(crate) fn lookup(&self, labels: &Labels) -> Option<u64> {
        self.by_labels
            .find(&self.series, labels, labels.fingerprint())
    }

    /// Adds a series under a known reference (catalogue load, replay).
    /// Fails if the reference names other labels.
    pub(crate) fn insert(&mut self, r: u64, labels: Labels) -> Result<(), String> {
        if let Some(s) = self.series.get(&r) {
            if s.labels != labels {
                return Err(format!(
                    "series {r} is {} but the record says {labels}",
                    s.labels
                ));
            }
            return Ok(());
        }
        let fp = labels.fingerprint();
        self.postings.add(r, &labels);
        self.series.insert(r, MemSeries::new(labels));
        self.by_labels.insert(&self.series, r, fp);
        self.next_ref = self.next_ref.max(r + 1);
        Ok(())
    }

    /// Removes an idle series from the head and the index.
    pub(crate) fn remove(&mut self, r: u64) {
        let Some(fp) = self.series.get(&r).map(|s| s.labels.fingerprint()) else {
            return;
        };
        // Out of the index first: its probes read the series table.
        self.by_labels.remove(r, fp);
        let Some(s) = self.series.remove(&r) else {
            return;
        };
        self.postings.remove(r, &s.labels);
    }

    /// Validates a batch and turns it into a WAL record, creating nothing
    /// yet: new series get references the head will use if the record is
    /// written. Returns the record and the counts for the caller.
    pub(crate) fn prepare(
        &self,
        batch: &[Pending<'_>],
        refs: &mut Vec<u64>,
    ) -> (Batch, CommitSummary) {
        let mut rec = Batch::default();
        rec.samples.reserve(batch.len());
        let mut sum = CommitSummary::default();
        let mut fresh: std::collections::HashMap<&Labels, u64> = Default::default();
        refs.clear();
        refs.reserve(batch.len());
        for p in batch {
            let hinted = Some(p.hint)
                .filter(|h| *h != 0 && self.series.get(h).is_some_and(|s| s.labels == *p.labels));
            let r = match hinted.or_else(|| self.lookup(p.labels)) {
                Some(r) => r,
                None => *fresh.entry(p.labels).or_insert_with(|| {
                    let r = self.next_ref + rec.series.len() as u64;
                    rec.series.push((r, p.labels.clone()));
                    r
                }),
            };
            refs.push(r);
        }
        // A series can occur more than once in a batch; then its later
        // samples are checked against the earlier ones. Strictly rising
        // references (a steady scrape) rule that out without a map.
        let repeats = !refs.windows(2).all(|w| w[0] < w[1]);
        let mut latest: U64Map<(i64, u64)> = U64Map::default();
        for (p, &r) in batch.iter().zip(refs.iter()) {
            let seen = if repeats {
                latest.get(&r).copied()
            } else {
                None
            };
            let (last_t, last_v) = seen.unwrap_or_else(|| {
                self.series
                    .get(&r)
                    .map_or((i64::MIN, 0), |s| (s.last_t(), s.last_v()))
            });
            match verdict(last_t, last_v, p.t, p.v) {
                Verdict::Append => {
                    if repeats {
                        latest.insert(r, (p.t, p.v.to_bits()));
                    }
                    rec.samples.push((r, p.t, p.v));
                    sum.appended += 1;
                }
                Verdict::Ignore => {}
                Verdict::OutOfOrder if self.ooo_ok(p.t) => {
                    match self.series.get(&r).and_then(|s| s.sample_at(p.t)) {
                        Some(bits) if bits == p.v.to_bits() => {}
                        Some(_) => sum.duplicate += 1,
                        None => {
                            rec.ooo.push((r, p.t, p.v));
                            sum.appended += 1;
                        }
                    }
                }
                Verdict::OutOfOrder => sum.out_of_order += 1,
                Verdict::Duplicate => sum.duplicate += 1,
            }
        }
        // A new series' first sample is always appended, so every series
        // in the record has samples.
        sum.new_series = rec.series.len();
        (rec, sum)
    }

    /// Applies a record that is in the WAL: from a commit, a replay or a
    /// checkpoint. Samples the series already has are skipped, so replaying
    /// a record twice is harmless. Series the head did not know (so neither
    /// did the SQLite catalogue) are queued for the catalogue.
    pub(crate) fn apply(&mut self, rec: Batch) -> Result<(), String> {
        for (r, labels) in rec.series {
            let known = self.series.contains_key(&r);
            self.insert(r, labels)?;
            if !known {
                self.uncatalogued.push(r);
            }
        }
        for (r, t, v) in rec.samples {
            self.append(r, t, v);
        }
        for (r, t, v) in rec.ooo {
            self.insert_ooo(r, t, v);
        }
        Ok(())
    }

    /// Adds an out-of-order sample to its series' buffer (a sample at a
    /// timestamp the buffer has is skipped), cutting the buffer into a
    /// chunk at [`OOO_CAP`] samples. In WAL-only mode nothing is kept.
    pub(crate) fn insert_ooo(&mut self, r: u64, t: i64, v: f64) {
        if !self.policy.keep_samples {
            return;
        }
        let Some(s) = self.series.get_mut(&r) else {
            return;
        };
        let buf = s.pending.ooo_mut();
        if let Err(i) = buf.binary_search_by_key(&t, |x| x.0) {
            buf.insert(i, (t, v.to_bits()));
        }
        let full = buf.len() >= OOO_CAP;
        s.min_t = s.min_t.min(t);
        if full {
            if let Some(f) = s.cut_ooo() {
                self.ooo_waiting.push((r, f));
            }
        }
    }

    /// Cuts every out-of-order buffer into a chunk (checkpoint, flush_all).
    pub(crate) fn cut_all_ooo(&mut self) {
        let mut cut = Vec::new();
        for (r, s) in self.series.iter_mut() {
            if let Some(f) = s.cut_ooo() {
                cut.push((r, f));
            }
        }
        self.ooo_waiting.extend(cut);
    }

    /// Moves the out-of-order chunks whose series' in-order samples are in
    /// SQLite up to their newest timestamp (or that have no in-order
    /// samples in the head) to the flush queue.
    pub(crate) fn release_ooo(&mut self) {
        let waiting = std::mem::take(&mut self.ooo_waiting);
        for (r, f) in waiting {
            let ready = self.series.get(&r).is_none_or(|s| {
                f.maxt <= s.persisted_maxt
                    || (s.open().is_none() && s.pending.iter().all(|p| p.ooo))
            });
            if ready {
                self.flush_queue.push((r, f));
            } else {
                self.ooo_waiting.push((r, f));
            }
        }
    }

    /// Every out-of-order sample of a series in the head: its pending
    /// out-of-order chunks and its buffer (for checkpoints).
    pub(crate) fn ooo_samples(s: &MemSeries) -> Vec<(i64, f64)> {
        let mut out = Vec::new();
        for f in s.pending.iter().filter(|f| f.ooo) {
            if let Ok(samples) = crate::chunk::decode(&f.data) {
                out.extend(samples.iter().map(|x| (x.t, x.v)));
            }
        }
        if let Some(b) = s.pending.ooo() {
            out.extend(b.iter().map(|&(t, v)| (t, f64::from_bits(v))));
        }
        out
    }

    /// Appends one sample to a series, cutting a chunk when the open one is
    /// full or the sample crosses the chunk range boundary.
    pub(crate) fn append(&mut self, r: u64, t: i64, v: f64) {
        let policy = self.policy;
        let Some(s) = self.series.get_mut(&r) else {
            return;
        };
        if t <= s.persisted_maxt
            || !matches!(verdict(s.last_t(), s.last_v(), t, v), Verdict::Append)
        {
            return;
        }
        s.min_t = s.min_t.min(t);
        self.max_t = self.max_t.max(t);
        if !policy.keep_samples {
            s.tip = Tip::Closed { t, v: v.to_bits() };
            return;
        }
        if let Some(o) = s.open() {
            // No sample at or after the start of the next chunk range
            // goes into this chunk, so all of its samples share the first
            // one's range: comparing with the last one's (known without
            // decoding the first) tells whether `t` starts the next.
            let range = |x: i64| x.div_euclid(policy.range_ms);
            if o.enc.len() >= policy.samples || range(t) > range(o.enc.last_t()) {
                if let Some(f) = s.close_open() {
                    self.flush_queue.push((r, f));
                }
            }
        }
        match &mut s.tip {
            Tip::Open(o) => {
                o.enc.append(t, v);
            }
            Tip::Closed { .. } => {
                let mut enc = Encoder::new();
                enc.append(t, v);
                s.tip = Tip::Open(Open { enc });
            }
        }
    }

    /// Closes every open chunk (all of them, or those whose newest sample is
    /// older than `idle_before`) and queues them for the flusher.
    pub(crate) fn close_chunks(&mut self, idle_before: Option<i64>) {
        for (r, s) in self.series.iter_mut() {
            if idle_before.is_some_and(|cut| s.last_t() >= cut) {
                continue;
            }
            if let Some(f) = s.close_open() {
                self.flush_queue.push((r, f));
            }
        }
    }

    /// Marks chunks as persisted after the flusher committed them. Only
    /// in-order chunks move the series' persisted timestamp.
    pub(crate) fn persisted(&mut self, done: &[(u64, Arc<Frozen>)]) {
        for (r, f) in done {
            if let Some(s) = self.series.get_mut(r) {
                s.pending.remove(f);
                if !f.ooo {
                    s.persisted_maxt = s.persisted_maxt.max(f.maxt);
                }
            }
        }
    }

    /// The labels of those of `refs` that still exist.
    pub(crate) fn labels_of(&self, refs: &[u64]) -> Vec<(u64, Labels)> {
        refs.iter()
            .filter_map(|r| self.series.get(r).map(|s| (*r, s.labels.clone())))
            .collect()
    }

    /// The series' chunks in the head that overlap `[mint, maxt]`, oldest
    /// first; the open chunk is copied as it is now.
    pub(crate) fn chunks_in(s: &MemSeries, mint: i64, maxt: i64) -> Vec<Arc<Frozen>> {
        let mut out: Vec<Arc<Frozen>> = s
            .pending
            .iter()
            .filter(|f| f.mint <= maxt && f.maxt >= mint)
            .cloned()
            .collect();
        if let Some(o) = s
            .open()
            .filter(|o| o.mint() <= maxt && o.enc.last_t() >= mint)
        {
            out.push(Arc::new(Frozen {
                mint: o.mint(),
                maxt: o.enc.last_t(),
                data: o.enc.bytes().into(),
                ooo: false,
            }));
        }
        if let Some(f) = s.ooo_chunk().filter(|f| f.mint <= maxt && f.maxt >= mint) {
            out.push(Arc::new(f));
        }
        out
    }

    /// The series' in-order chunks in the head, oldest first (the open one
    /// copied), for checkpoints.
    pub(crate) fn in_order_chunks(s: &MemSeries) -> Vec<Arc<Frozen>> {
        Head::chunks_in(s, i64::MIN, i64::MAX)
            .into_iter()
            .filter(|f| !f.ooo)
            .collect()
    }

    pub(crate) fn chunk_count(&self) -> usize {
        self.series
            .values()
            .map(|s| {
                s.pending.len()
                    + usize::from(s.open().is_some())
                    + usize::from(s.pending.ooo().is_some())
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    /// Every series in the head has one record, and the series table holds
    /// them in place: the record must not grow unnoticed.
    #[test]
    fn series_record_stays_small() {
        let size = std::mem::size_of::<super::MemSeries>();
        assert!(size <= 88, "MemSeries is {size} bytes");
        assert_eq!(std::mem::size_of::<Option<super::MemSeries>>(), size);
    }
}
