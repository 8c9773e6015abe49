//! Merging: once a chunk range period (two hours by default) is over, each
//! series' chunks in SQLite that start in it are merged into one row, re-
//! encoded in the smallest encoding. The head cuts chunks at 120 samples so
//! appends and recent reads stay cheap; in SQLite, longer rows cost less per
//! sample (each row carries a key, a header and a chunk's first sample in
//! full) and are read with fewer look-ups. Specified in
//! `store/docs/format/sqlite.md` ("Merging").

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use model::Sample;

use crate::db::{self, Db, MergeCursor};
use crate::{chunk, Error, Inner};

/// Most samples a merged row holds; a period with more is split into rows
/// of at most this many, so reading one old sample never decodes more.
pub(crate) const MERGE_MAX_SAMPLES: usize = 4096;
/// Series merged per transaction, so the flusher is not held up long.
const SERIES_PER_TX: usize = 500;
/// A merged row that ends less than this before its series' newest stored
/// sample holds that series' latest data, which reads of the latest values
/// (rules, dashboards, instant queries) come back to: see [`LATEST_ROW`].
const RECENT: i64 = 3_600_000;
/// In a merged row that holds a series' latest data ([`RECENT`]), the
/// samples of its last 15 minutes are written as a row of their own, so
/// those reads decode a few dozen samples, not a whole period. A server
/// merges a period 1 h 30 min after it ends, past [`RECENT`], so this
/// applies to `watchfire import` (which merges up to the newest sample)
/// and to series that stopped.
const LATEST_ROW: i64 = 900_000;
/// A series' merged row takes in the rows of the periods after it while
/// it holds at most this many samples (eight hours at 15 s)...
const CHAIN_MAX_SAMPLES: usize = 1920;
/// ...and starts in one of the last this many periods (with the default
/// two-hour range, its samples span less than eight hours). Each row costs
/// a key and a chunk header; longer rows of old data cost less, and a read
/// of a short window of old data decodes up to eight hours of samples.
const CHAIN_PERIODS: i64 = 4;

/// A series' chunks of one period merged: `(mint, maxt, data)` rows.
pub(crate) type Merged = Vec<(i64, i64, Box<[u8]>)>;

impl Inner {
    pub(crate) fn range_ms(&self) -> i64 {
        (self.opts.chunk_range.as_millis().min(i64::MAX as u128) as i64).max(1)
    }

    /// Merges the periods that end at or before `cutoff`, oldest first,
    /// until done or `budget` has passed.
    pub(crate) fn merge_locked(
        &self,
        db: &mut Db,
        cutoff: i64,
        budget: Option<Duration>,
    ) -> Result<(), Error> {
        let start = Instant::now();
        let range = self.range_ms();
        loop {
            let from = match db.merge.merged_before {
                Some(t) => t,
                None => match db.oldest_mint_from(i64::MIN)? {
                    Some(t) => {
                        // Kept in memory until the period is done, so the
                        // table is scanned for it once.
                        let p = db::period_start(t, range);
                        db.merge.merged_before = Some(p);
                        p
                    }
                    None => return Ok(()),
                },
            };
            let to = from.saturating_add(range);
            if to > cutoff || to == i64::MAX {
                return Ok(());
            }
            if db.merge.todo.is_none() {
                // Series with flushed samples in the period.
                let st = self.state.read();
                let mut refs: Vec<u64> = st
                    .head
                    .series
                    .iter()
                    .filter(|(_, s)| s.min_t < to && s.persisted_maxt >= from)
                    .map(|(r, _)| r)
                    .collect();
                let newest = st.head.series.values().map(|s| s.persisted_maxt).max();
                drop(st);
                if newest.is_none_or(|n| n < from) {
                    // Nothing flushed at or after this period yet.
                    return Ok(());
                }
                refs.sort_unstable();
                let units = match self.opts.histogram_references {
                    true => histogram_units(&self.state.read().head, refs),
                    false => refs.into_iter().map(|r| vec![r]).collect(),
                };
                db.merge.todo = Some(units.into_iter());
            }
            // Whole units, about SERIES_PER_TX series.
            let mut batch: Vec<Vec<u64>> = Vec::new();
            let mut n = 0;
            while n < SERIES_PER_TX {
                let Some(unit) = db.merge.todo.as_mut().and_then(|t| t.next()) else {
                    break;
                };
                n += unit.len();
                batch.push(unit);
            }
            if batch.is_empty() {
                let (rewrote, found) = (db.merge.rewrote, db.merge.found);
                // After a period without a single row (the server was
                // down), go straight to the next one that has rows.
                let next = match found {
                    true => to,
                    false => db
                        .oldest_mint_from(to)?
                        .map_or(to, |t| db::period_start(t, range).max(to)),
                };
                db.set_merged_before(next)?;
                if rewrote {
                    // The merged rows left free pages behind: give them
                    // back to the file system, as retention does.
                    db.compact()?;
                }
            } else {
                if let Err(e) = self.merge_batch(db, &batch, from, to) {
                    // Looked at again from the period's start next time.
                    db.merge = MergeCursor {
                        merged_before: Some(from),
                        ..MergeCursor::default()
                    };
                    return Err(e);
                }
            }
            if budget.is_some_and(|b| start.elapsed() >= b) {
                return Ok(());
            }
        }
    }

    /// Merges the chunks of the series of `units` (see [`histogram_units`])
    /// that start in `[from, to)`, in one transaction.
    fn merge_batch(
        &self,
        db: &mut Db,
        units: &[Vec<u64>],
        from: i64,
        to: i64,
    ) -> Result<(), Error> {
        let started = Instant::now();
        let mut out: Vec<(u64, i64, Merged)> = Vec::new();
        let mut merged_rows = 0;
        for unit in units {
            let Some((&leader, members)) = unit.split_first() else {
                continue;
            };
            let Some(lead) = self.merge_series(db, leader, from, to)? else {
                // The series' rows stay: so do the rows that refer to
                // them, and the unit's other series merge on their own.
                for &r in members {
                    if let Some(m) = self.merge_series(db, r, from, to)? {
                        merged_rows += m.rows;
                        out.push((r, m.lo, m.new));
                    }
                }
                continue;
            };
            if members.is_empty() {
                merged_rows += lead.rows;
                out.push((leader, lead.lo, lead.new));
                continue;
            }
            // The `_count`'s rows are rewritten: every member's rows from
            // the same start are rewritten with them, at the same
            // boundaries where they have the same timestamps, so that a
            // row that refers to the `_count` never outlives the rows it
            // needs (retention deletes a row by its own `maxt`).
            let count = joined_samples(rows_of_merged(&lead.new), &Refs::default()).map_err(
                |(mint, e)| Error::Corrupt {
                    file: db.path.clone(),
                    reason: format!("series {leader} merged chunk at {mint}: {e}"),
                },
            )?;
            // Converted once for all the unit's members.
            let reference = chunk::Reference::new(&count);
            let mut unit_out = Vec::with_capacity(unit.len());
            let mut unit_rows = lead.rows;
            let mut damaged = false;
            for &r in members {
                let rows = db::chunks_starting_in(&db.conn, &db.path, r, lead.lo, to)?;
                if rows.is_empty() {
                    continue;
                }
                // Read against the `_count`'s rows as they are now.
                let refs = current_refs(db, &rows)?;
                let samples = match joined_samples(rows_of(&rows), &refs) {
                    Ok(s) => s,
                    Err((mint, e)) => {
                        // Its rows stay, so the `_count`'s stay too: the
                        // whole unit's period is left unmerged.
                        self.damaged(db, r, mint, &e);
                        damaged = true;
                        break;
                    }
                };
                let newest = self.newest_persisted(r);
                let new = align(
                    &samples,
                    &count,
                    &reference,
                    &lead.new,
                    leader,
                    db.max_chunk_bytes,
                )
                .unwrap_or_else(|| merge_samples(&samples, db.max_chunk_bytes, newest));
                unit_rows += rows.len();
                unit_out.push((r, lead.lo, new));
            }
            if damaged {
                continue;
            }
            merged_rows += unit_rows;
            out.extend(unit_out);
            out.push((leader, lead.lo, lead.new));
        }
        if out.is_empty() {
            return Ok(());
        }
        db.replace_chunks(to, &out).inspect_err(|_| {
            self.metrics.merge_failures.inc();
        })?;
        db.merge.rewrote = true;
        self.metrics.merged_chunks.add(merged_rows as u64);
        self.metrics.merge.observe(started.elapsed());
        Ok(())
    }

    /// The series' newest stored sample (`i64::MIN` when unknown).
    fn newest_persisted(&self, r: u64) -> i64 {
        let st = self.state.read();
        st.head
            .series
            .get(&r)
            .map_or(i64::MIN, |s| s.persisted_maxt)
    }

    /// Logs and counts a row that does not decode: its period is left
    /// unmerged, and the query that reads it names the damage.
    fn damaged(&self, db: &Db, r: u64, mint: i64, e: &chunk::ChunkError) {
        tracing::error!(
            file = %db.path.display(),
            series = r,
            chunk = mint,
            error = %e,
            "damaged chunk; its period is left unmerged"
        );
        self.metrics.merge_damaged.inc();
    }

    /// One series' rows that start in `[from, to)` merged, with the row
    /// before them joined when it is short and recent enough: `None` when
    /// there is nothing to rewrite (fewer than two rows, or merging them
    /// leaves as many) or a row does not decode (logged and counted).
    fn merge_series(
        &self,
        db: &mut Db,
        r: u64,
        from: i64,
        to: i64,
    ) -> Result<Option<MergedSeries>, Error> {
        let newest = self.newest_persisted(r);
        let chain_from = to.saturating_sub(CHAIN_PERIODS.saturating_mul(self.range_ms()));
        let mut rows = db::chunks_starting_in(&db.conn, &db.path, r, from, to)?;
        db.merge.found |= !rows.is_empty();
        let Some(maxt) = rows.iter().map(|c| c.1).max() else {
            return Ok(None);
        };
        // Rows of data that is not the series' latest join the row
        // before them, if it is short and recent enough.
        let mut lo = from;
        if !is_recent(maxt, newest) {
            let samples: usize = rows.iter().map(|c| chunk::sample_count(&c.2)).sum();
            if let Some(prev) = db::last_chunk_in(&db.conn, &db.path, r, chain_from, from)?
                .filter(|p| chunk::sample_count(&p.2) + samples <= CHAIN_MAX_SAMPLES)
            {
                lo = prev.0;
                rows.insert(0, prev);
            }
        }
        if rows.len() < 2 {
            return Ok(None);
        }
        let refs = current_refs(db, &rows)?;
        let mut merged = merge_rows(&rows, &refs, db.max_chunk_bytes, newest);
        if matches!(merged, Err((mint, _)) if lo != from && mint == lo) {
            // The joined row is damaged (its own period was left
            // unmerged for it, and counted): the period merges alone.
            rows.remove(0);
            lo = from;
            if rows.len() < 2 {
                return Ok(None);
            }
            merged = merge_rows(&rows, &refs, db.max_chunk_bytes, newest);
        }
        match merged {
            Ok(new) if new.len() >= rows.len() => Ok(None),
            Ok(new) => Ok(Some(MergedSeries {
                lo,
                rows: rows.len(),
                new,
            })),
            Err((mint, e)) => {
                // Left as it is: the query that reads it names the
                // damage, and nothing else of the series is lost.
                self.damaged(db, r, mint, &e);
                Ok(None)
            }
        }
    }
}

/// One series merged by [`Inner::merge_series`]: rows from `lo` are
/// replaced by `new`, which were `rows` rows.
struct MergedSeries {
    lo: i64,
    rows: usize,
    new: Merged,
}

/// The series of a period in the order merging takes them, as units: a
/// classic histogram's `_count` first, then every `_bucket` (by `le`) and
/// `_sum` series with the same other labels that the head knows (whether or
/// not it has rows in the period: its rows may refer to the `_count`'s);
/// every other series of `refs` on its own. A member whose `_count` has no
/// rows in the period is on its own too.
fn histogram_units(head: &crate::head::Head, refs: Vec<u64>) -> Vec<Vec<u64>> {
    let mut counts: HashMap<String, u64> = HashMap::new();
    for (r, s) in head.series.iter() {
        if let Some(key) = unit_key(&s.labels, "_count") {
            counts.insert(key, r);
        }
    }
    let mut members: HashMap<u64, Vec<u64>> = HashMap::new();
    if !counts.is_empty() {
        for (r, s) in head.series.iter() {
            let key = unit_key(&s.labels, "_bucket").or_else(|| unit_key(&s.labels, "_sum"));
            if let Some(&c) = key.and_then(|k| counts.get(&k)) {
                members.entry(c).or_default().push(r);
            }
        }
    }
    let in_period: HashSet<u64> = refs.iter().copied().collect();
    let mut grouped: HashSet<u64> = HashSet::new();
    for (c, ms) in &members {
        if in_period.contains(c) {
            grouped.extend(ms.iter().copied());
        }
    }
    let mut units = Vec::with_capacity(refs.len());
    for r in refs {
        if grouped.contains(&r) {
            continue;
        }
        let mut unit = vec![r];
        if let Some(ms) = members.get_mut(&r) {
            ms.sort_unstable();
            unit.extend(ms.iter().copied());
        }
        units.push(unit);
    }
    units
}

/// The key that ties a histogram's series together: for a series named
/// `<base><suffix>` (`_bucket` with an `le` label; `_count` or `_sum`
/// without one), the base and its other labels; `None` for any other
/// series.
fn unit_key(labels: &model::Labels, suffix: &str) -> Option<String> {
    let base = labels.metric_name()?.strip_suffix(suffix)?;
    if (suffix == "_bucket") != labels.get("le").is_some() {
        return None;
    }
    let rest = labels.without_names(|n| n == "__name__" || n == "le");
    Some(format!("{base}\u{0}{}", rest.encoded()))
}

/// A member's `samples` cut at the `_count`'s new row boundaries (`rows`,
/// whose samples are `count`, as `reference` too), each piece in encoding
/// 5 against the `_count` (series `leader`) or in its own encoding, whichever is
/// smaller. `None` unless the member has exactly the `_count`'s
/// timestamps and every piece fits `max_bytes`.
fn align(
    samples: &[Sample],
    count: &[Sample],
    reference: &chunk::Reference,
    rows: &Merged,
    leader: u64,
    max_bytes: usize,
) -> Option<Merged> {
    if samples.len() != count.len() || samples.iter().zip(count).any(|(a, b)| a.t != b.t) {
        return None;
    }
    let mut out = Vec::with_capacity(rows.len());
    let mut i = 0;
    for &(mint, maxt, _) in rows {
        let j = i + count[i..].partition_point(|s| s.t <= maxt);
        let piece = &samples[i..j];
        if piece.first().map(|s| s.t) != Some(mint) {
            return None;
        }
        let own = chunk::encode_smallest(piece)?;
        let data = match chunk::encode_referenced(piece, leader, reference) {
            Some(r) if r.len() < own.len() => r,
            _ => own,
        };
        if data.len() > max_bytes && piece.len() > 1 {
            return None;
        }
        out.push((mint, maxt, data));
        i = j;
    }
    (i == samples.len()).then_some(out)
}

/// `(mint, maxt, data)` rows as the borrowed triples the readers take.
fn rows_of(rows: &[db::StoredRow]) -> impl Iterator<Item = (i64, i64, &[u8])> {
    rows.iter().map(|(mint, maxt, d)| (*mint, *maxt, &d[..]))
}

/// The samples of the series that `rows` of encoding 5 refer to, read as
/// the database holds them now (not from a query's cache).
fn current_refs(db: &Db, rows: &[db::StoredRow]) -> Result<Refs, Error> {
    let mut reader = db::ChunkReader::new(&db.conn, &db.path);
    Ok(RefRows::fetch(&mut reader, rows_of(rows), None, None)?.decode())
}

/// [`rows_of`] for merged rows.
fn rows_of_merged(rows: &Merged) -> impl Iterator<Item = (i64, i64, &[u8])> {
    rows.iter().map(|(mint, maxt, d)| (*mint, *maxt, &d[..]))
}

/// One series' rows of a period, oldest first, merged into as few rows as
/// [`MERGE_MAX_SAMPLES`] and `max_bytes` per row allow, with the last
/// [`LATEST_ROW`] in a row of their own when the period ends within
/// [`RECENT`] of `newest`, the series' newest stored sample. Where rows
/// overlap (out-of-order samples), samples are ordered by time and a
/// timestamp is kept once, from the earliest row: the rule queries apply
/// when they read overlapping chunks, so merging never changes an answer.
/// The error names the chunk (by its first timestamp) that does not
/// decode.
fn merge_rows(
    rows: &[(i64, i64, Vec<u8>)],
    refs: &Refs,
    max_bytes: usize,
    newest: i64,
) -> Result<Merged, (i64, chunk::ChunkError)> {
    let samples = joined_samples(rows_of(rows), refs)?;
    Ok(merge_samples(&samples, max_bytes, newest))
}

/// [`merge_rows`] of the samples of a series' rows, joined.
fn merge_samples(samples: &[Sample], max_bytes: usize, newest: i64) -> Merged {
    let last = samples.last().map_or(i64::MIN, |s| s.t);
    let split = match is_recent(last, newest) {
        true => samples.partition_point(|s| s.t <= last.saturating_sub(LATEST_ROW)),
        false => samples.len(),
    };
    let mut out = Vec::new();
    for part in [&samples[..split], &samples[split..]] {
        for piece in part.chunks(MERGE_MAX_SAMPLES) {
            encode_within(piece, max_bytes, &mut out);
        }
    }
    out
}

/// The samples of one series' chunks `(mint, maxt, data)`, given oldest
/// first, joined: where chunks overlap in time, ordered by timestamp with
/// each timestamp kept once, from the earliest chunk (the rule queries
/// apply to overlapping chunks). Chunks of encoding 5 are read with the
/// samples in `refs`. The error names the chunk, by its `mint`, that does
/// not decode.
pub(crate) fn joined_samples<'a>(
    chunks: impl IntoIterator<Item = (i64, i64, &'a [u8])>,
    refs: &Refs,
) -> Result<Vec<Sample>, (i64, chunk::ChunkError)> {
    let mut samples: Vec<Sample> = Vec::new();
    let mut overlap = false;
    let mut last_maxt = None;
    for (mint, maxt, data) in chunks {
        overlap |= last_maxt.is_some_and(|m| mint <= m);
        last_maxt = Some(last_maxt.map_or(maxt, |m: i64| m.max(maxt)));
        refs.decode_row_into(data, mint, &mut samples)
            .map_err(|e| (mint, e))?;
    }
    if overlap {
        samples.sort_by_key(|s| s.t);
        samples.dedup_by_key(|s| s.t);
    }
    Ok(samples)
}

/// The stored rows of the series that chunks of encoding 5
/// (`chunk::reference`) refer to: for each such series, its rows over the
/// time range of the chunks that refer to it, shared with the other
/// readers of the same rows through a [`RefCache`] when one is given.
/// Fetched where the rows are read (in the same snapshot), decoded with
/// [`RefRows::decode`].
#[derive(Default)]
pub(crate) struct RefRows {
    refs: Vec<(u64, Arc<RefEntry>)>,
    /// Bytes of the rows this fetch read from SQLite.
    read: usize,
}

/// A referenced series and the time range of the chunks that refer to it.
type RefKey = (u64, i64, i64);

/// One referenced series' rows over a [`RefKey`]'s range, decoded once by
/// whichever reader needs them first.
pub(crate) struct RefEntry {
    rows: parking_lot::Mutex<Vec<db::StoredRow>>,
    decoded: std::sync::OnceLock<Arc<chunk::Reference>>,
}

impl RefEntry {
    fn new(rows: Vec<db::StoredRow>) -> Self {
        RefEntry {
            rows: parking_lot::Mutex::new(rows),
            decoded: std::sync::OnceLock::new(),
        }
    }

    /// The series' samples. Rows that do not decode (or refer to yet
    /// another series) end them at the damage: the chunks that need more
    /// fail with `ChunkError::ReferenceMissing`, naming the series.
    fn reference(&self) -> Arc<chunk::Reference> {
        self.decoded
            .get_or_init(|| {
                let rows = std::mem::take(&mut *self.rows.lock());
                let mut samples = Vec::new();
                for (mint, _, data) in &rows {
                    if chunk::decode_row_into(data, *mint, &mut samples).is_err() {
                        break;
                    }
                }
                samples.sort_by_key(|s| s.t);
                samples.dedup_by_key(|s| s.t);
                Arc::new(chunk::Reference::new(&samples))
            })
            .clone()
    }
}

/// The referenced windows most recently fetched, by [`RefKey`]: a
/// histogram's buckets all refer to its `_count` over the same rows, which
/// are then read and decoded once per query (or per batch of series
/// fetched together), not once per bucket. Holds at most
/// [`RefCache::ENTRIES`] windows.
#[derive(Default)]
pub(crate) struct RefCache(parking_lot::Mutex<std::collections::VecDeque<(RefKey, Arc<RefEntry>)>>);

impl RefCache {
    const ENTRIES: usize = 32;

    fn get(&self, key: RefKey) -> Option<Arc<RefEntry>> {
        self.0
            .lock()
            .iter()
            .find(|e| e.0 == key)
            .map(|e| e.1.clone())
    }

    fn put(&self, key: RefKey, entry: Arc<RefEntry>) {
        let mut q = self.0.lock();
        if q.iter().any(|e| e.0 == key) {
            return;
        }
        if q.len() >= Self::ENTRIES {
            q.pop_front();
        }
        q.push_back((key, entry));
    }
}

impl RefRows {
    /// The rows that `chunks` `(mint, maxt, data)` refer to, read through
    /// `reader` (`span` as for [`db::ChunkReader::read`]), or taken from `cache`.
    /// Nothing is read when no chunk refers to another series.
    pub(crate) fn fetch<'a>(
        reader: &mut db::ChunkReader<'_>,
        chunks: impl IntoIterator<Item = (i64, i64, &'a [u8])>,
        span: Option<i64>,
        cache: Option<&RefCache>,
    ) -> Result<RefRows, Error> {
        let mut want: Vec<RefKey> = Vec::new();
        for (mint, maxt, data) in chunks {
            let Some(r) = chunk::reference(data) else {
                continue;
            };
            match want.iter_mut().find(|w| w.0 == r) {
                Some(w) => (w.1, w.2) = (w.1.min(mint), w.2.max(maxt)),
                None => want.push((r, mint, maxt)),
            }
        }
        let mut out = RefRows::default();
        for key in want {
            let entry = match cache.and_then(|c| c.get(key)) {
                Some(entry) => entry,
                None => {
                    let (r, lo, hi) = key;
                    let rows = reader.read(r, lo, hi, span)?;
                    out.read += rows.iter().map(|r| r.2.len()).sum::<usize>();
                    let entry = Arc::new(RefEntry::new(rows));
                    if let Some(c) = cache {
                        c.put(key, entry.clone());
                    }
                    entry
                }
            };
            out.refs.push((key.0, entry));
        }
        Ok(out)
    }

    /// Bytes of the rows this fetch read from SQLite (none for windows
    /// the cache had).
    pub(crate) fn bytes(&self) -> usize {
        self.read
    }

    /// Each referenced series' samples (decoded here unless another
    /// reader of the same entry did).
    pub(crate) fn decode(self) -> Refs {
        Refs(
            self.refs
                .into_iter()
                .map(|(series, entry)| (series, entry.reference()))
                .collect(),
        )
    }
}

/// The samples of the series that chunks of encoding 5 refer to
/// ([`RefRows::decode`]); empty for chunks that refer to none.
#[derive(Default)]
pub(crate) struct Refs(Vec<(u64, Arc<chunk::Reference>)>);

impl Refs {
    /// Decodes a chunk stored with first timestamp `mint`, of any
    /// encoding, appending to `out`.
    pub(crate) fn decode_row_into(
        &self,
        data: &[u8],
        mint: i64,
        out: &mut Vec<Sample>,
    ) -> Result<(), chunk::ChunkError> {
        static NONE: chunk::Reference = chunk::Reference::EMPTY;
        let reference = chunk::reference(data)
            .and_then(|r| self.0.iter().find(|x| x.0 == r))
            .map_or(&NONE, |x| &*x.1);
        chunk::decode_referenced_row_into(data, mint, reference, out)
    }
}

/// Whether samples up to `t` are among their series' latest ([`RECENT`]),
/// `newest` being its newest stored sample (`i64::MIN` when unknown).
fn is_recent(t: i64, newest: i64) -> bool {
    newest != i64::MIN && newest.saturating_sub(t) < RECENT
}

/// Encodes `samples` (at most [`MERGE_MAX_SAMPLES`], below the codec's
/// limit) as one row, or as several of about equal length when one would
/// be longer than `max_bytes`.
fn encode_within(samples: &[Sample], max_bytes: usize, out: &mut Merged) {
    let Some(data) = chunk::encode_smallest(samples) else {
        return;
    };
    if data.len() <= max_bytes || samples.len() < 2 {
        out.push((samples[0].t, samples[samples.len() - 1].t, data));
        return;
    }
    let parts = data.len().div_ceil(max_bytes).max(2);
    for part in samples.chunks(samples.len().div_ceil(parts)) {
        encode_within(part, max_bytes, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(samples: &[(i64, f64)]) -> (i64, i64, Vec<u8>) {
        let mut e = chunk::Encoder::new();
        for &(t, v) in samples {
            e.append(t, v);
        }
        (
            samples[0].0,
            samples[samples.len() - 1].0,
            e.finish().into_vec(),
        )
    }

    fn decoded(rows: &Merged) -> Vec<(i64, u64)> {
        rows.iter()
            .flat_map(|(mint, _, d)| chunk::decode_row(d, *mint).unwrap())
            .map(|s| (s.t, s.v.to_bits()))
            .collect()
    }

    #[test]
    fn rows_in_order_become_one_with_every_sample() {
        let a: Vec<(i64, f64)> = (0..120).map(|i| (i * 15_000, i as f64 * 0.25)).collect();
        let b: Vec<(i64, f64)> = (120..240).map(|i| (i * 15_000, f64::NAN)).collect();
        let merged = merge_rows(&[row(&a), row(&b)], &Refs::default(), 1000, i64::MIN).unwrap();
        assert_eq!(merged.len(), 1);
        assert_eq!((merged[0].0, merged[0].1), (0, 239 * 15_000));
        let want: Vec<(i64, u64)> = a.iter().chain(&b).map(|&(t, v)| (t, v.to_bits())).collect();
        assert_eq!(decoded(&merged), want);
    }

    #[test]
    fn overlapping_rows_keep_the_earliest_rows_sample() {
        let a = row(&[(10, 1.0), (20, 2.0), (30, 3.0)]);
        // Out-of-order row: 15 is new, 20 repeats a timestamp with another
        // value; the first row's value stays, as a query would return.
        let b = row(&[(15, 9.0), (20, 8.0)]);
        let merged = merge_rows(&[a, b], &Refs::default(), 1000, i64::MIN).unwrap();
        let got = decoded(&merged);
        let want: Vec<(i64, u64)> = [(10, 1.0), (15, 9.0), (20, 2.0), (30, 3.0)]
            .iter()
            .map(|&(t, v): &(i64, f64)| (t, v.to_bits()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn long_periods_split_at_the_row_limit() {
        let rows: Vec<_> = (0..80)
            .map(|c| {
                let s: Vec<(i64, f64)> = (0..100).map(|i| (c * 100 + i, i as f64)).collect();
                row(&s)
            })
            .collect();
        let merged = merge_rows(&rows, &Refs::default(), 100_000, i64::MIN).unwrap();
        assert_eq!(merged.len(), 2);
        assert_eq!(chunk::sample_count(&merged[0].2), MERGE_MAX_SAMPLES);
        assert_eq!(decoded(&merged).len(), 8000);
    }

    /// A period that ends near its series' newest sample keeps its last
    /// 15 minutes in a row of their own; one further back is one row.
    #[test]
    fn the_latest_quarter_hour_keeps_a_row_of_its_own() {
        // Two hours of 15 s samples in four rows of 120.
        let rows: Vec<_> = (0..4)
            .map(|c| {
                let s: Vec<(i64, f64)> = (0..120)
                    .map(|i| ((c * 120 + i) * 15_000, (c * 120 + i) as f64))
                    .collect();
                row(&s)
            })
            .collect();
        let last = 479 * 15_000;
        for newest in [last, last + 15_000, last + RECENT - 1] {
            let merged = merge_rows(&rows, &Refs::default(), 100_000, newest).unwrap();
            assert_eq!(merged.len(), 2, "newest {newest}");
            // Samples after `last − 15 min`: 60 of them.
            assert_eq!(merged[1].0, last - LATEST_ROW + 15_000);
            assert_eq!(chunk::sample_count(&merged[1].2), 60);
            assert_eq!(merged[0].1 + 15_000, merged[1].0);
            let got: Vec<i64> = decoded(&merged).iter().map(|s| s.0).collect();
            assert_eq!(got, (0..480).map(|i| i * 15_000).collect::<Vec<_>>());
        }
        for newest in [last + RECENT, i64::MIN] {
            assert_eq!(
                merge_rows(&rows, &Refs::default(), 100_000, newest)
                    .unwrap()
                    .len(),
                1
            );
        }
        // A period shorter than 15 minutes: one row.
        let short: Vec<_> = (0..2)
            .map(|c| row(&[(c * 15_000, 1.0), (c * 15_000 + 7_500, 2.0)]))
            .collect();
        assert_eq!(
            merge_rows(&short, &Refs::default(), 100_000, 22_500)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn rows_stay_within_the_byte_limit() {
        let rows: Vec<_> = (0..4)
            .map(|c| {
                let s: Vec<(i64, f64)> = (0..120)
                    .map(|i| (c * 120 + i, ((c * 120 + i) as f64).sqrt()))
                    .collect();
                row(&s)
            })
            .collect();
        // About 7 bytes a sample: 3.4 KB in all.
        let merged = merge_rows(&rows, &Refs::default(), 2000, i64::MIN).unwrap();
        assert!(
            merged.len() > 1 && merged.len() < 4,
            "{} rows",
            merged.len()
        );
        assert!(merged.iter().all(|(_, _, d)| d.len() <= 2000));
        let want: Vec<i64> = (0..480).collect();
        let got: Vec<i64> = decoded(&merged).iter().map(|s| s.0).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_damaged_row_is_named() {
        let good = row(&[(10, 1.0), (20, 2.0)]);
        let mut bad = row(&[(30, 1.0), (40, 2.0), (50, 3.0)]);
        bad.2.truncate(6);
        let (mint, _) = merge_rows(&[good, bad], &Refs::default(), 1000, i64::MIN).unwrap_err();
        assert_eq!(mint, 30);
    }
}
