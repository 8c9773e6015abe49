//! Reading: series from the postings index, samples from SQLite and the
//! head merged.

use std::sync::Arc;

use model::{Labels, Matcher, Querier, Sample, Series, SeriesSet, StorageError};

use crate::db::{self, Db};
use crate::head::{Frozen, Head};
use crate::merge::{RefCache, RefRows};
use crate::{chunk, Error, Inner, Store};

/// What the head knows of one selected series, copied out under the lock.
struct Selected {
    id: u64,
    labels: Labels,
    /// Whether SQLite may hold samples in range.
    in_db: bool,
    /// Head chunks overlapping the range, oldest first.
    head: Vec<Arc<Frozen>>,
}

impl Inner {
    fn selected(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Selected> {
        let st = self.state.read();
        let head = &st.head;
        let refs = head
            .postings
            .select(matchers, |r| head.series.get(&r).map(|s| &s.labels));
        let mut out = Vec::with_capacity(refs.len());
        for r in refs {
            let Some(s) = head.series.get(&r) else {
                continue;
            };
            if s.min_t > maxt || s.last_t() < mint {
                continue;
            }
            let chunks = Head::chunks_in(s, mint, maxt);
            let in_db = s.persisted_maxt >= mint;
            if chunks.is_empty() && !in_db {
                continue;
            }
            out.push(Selected {
                id: r,
                labels: s.labels.clone(),
                in_db,
                head: chunks,
            });
        }
        out.sort_by_cached_key(|s| s.labels.order_key());
        out
    }

    /// Calls `f` with the labels of every series matching `matchers` whose
    /// time range overlaps `[mint, maxt]` (within retention).
    fn each_label_set(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        mut f: impl FnMut(&Labels),
    ) {
        let st = self.state.read();
        let head = &st.head;
        let mint = mint.max(self.retention_floor());
        for r in head
            .postings
            .select(matchers, |r| head.series.get(&r).map(|s| &s.labels))
        {
            if let Some(s) = head
                .series
                .get(&r)
                .filter(|s| s.min_t <= maxt && s.last_t() >= mint)
            {
                f(&s.labels);
            }
        }
    }

    fn reader(&self) -> Result<rusqlite::Connection, Error> {
        match self.readers.lock().pop() {
            Some(c) => Ok(c),
            None => Db::reader(&self.db_path),
        }
    }

    fn give_back(&self, conn: rusqlite::Connection) {
        let mut pool = self.readers.lock();
        if pool.len() < 16 {
            pool.push(conn);
        }
    }

    /// Decodes one series' samples in `[mint, maxt]` from its chunks in
    /// SQLite (`stored`, see `Reader::rows`) and in the head. A chunk
    /// can be in both while the flusher is between its commit and its
    /// head update; chunks are identified by their first timestamp.
    fn load(
        &self,
        (stored, refs): Rows,
        sel: Selected,
        mint: i64,
        maxt: i64,
    ) -> Result<Option<Series>, Error> {
        let refs = refs.decode();
        let mut chunks: Vec<Arc<Frozen>> = Vec::with_capacity(stored.len() + sel.head.len());
        for (cmint, cmaxt, data) in stored {
            chunks.push(Arc::new(Frozen {
                mint: cmint,
                maxt: cmaxt,
                data: data.into(),
                ooo: false,
            }));
        }
        chunks.extend(sel.head);
        chunks.sort_by_key(|c| c.mint);
        // Chunks overlap when one is in both places (the flusher is between
        // its commit and its head update) or holds out-of-order samples:
        // then the samples are merged by time, a timestamp kept once.
        let overlap = chunks.windows(2).any(|w| w[1].mint <= w[0].maxt);
        // Chunks are decoded whole into the series' own vector, and the
        // samples out of range cut from it in place. Where most of what
        // was decoded is cut (a short window over long chunks), the
        // vector is shrunk to what it returns.
        let total = chunks.iter().map(|c| chunk::sample_count(&c.data)).sum();
        let mut samples: Vec<Sample> = Vec::with_capacity(total);
        for c in &chunks {
            let before = samples.len();
            refs.decode_row_into(&c.data, c.mint, &mut samples)
                .map_err(|e| Error::Corrupt {
                    file: self.db_path.clone(),
                    reason: format!("series {} chunk at {}: {e}", sel.id, c.mint),
                })?;
            // Keep only the range; samples are ascending within a chunk.
            let added = &mut samples[before..];
            let lo = added.partition_point(|s| s.t < mint);
            let hi = added.partition_point(|s| s.t <= maxt);
            samples.truncate(before + hi);
            samples.drain(before..before + lo);
        }
        if overlap {
            samples.sort_by_key(|s| s.t);
            samples.dedup_by_key(|s| s.t);
        }
        if samples.capacity() > 2 * samples.len() + 64 {
            samples.shrink_to_fit();
        }
        Ok((!samples.is_empty()).then_some(Series {
            labels: sel.labels,
            samples,
        }))
    }
}

/// The SQLite connection one selection is read through, shared by the
/// parts of a cut selection: one read transaction, and one memory map of
/// the file, whose pages count once in the process's memory (each
/// connection maps the file on its own, so parts on connections of their
/// own counted the pages both touched twice). Parts take turns only to
/// fetch rows; they decode on their own.
struct Reader {
    inner: Arc<Inner>,
    conn: parking_lot::Mutex<ReaderConn>,
    /// Samples of the series that rows of chunk encoding 5 refer to.
    refs: RefCache,
}

#[derive(Default)]
struct ReaderConn {
    conn: Option<rusqlite::Connection>,
    /// Series read so far.
    read: usize,
    /// The bound on rows' spans in the current snapshot ([`db::max_span`]).
    span: Option<i64>,
}

/// `(mint, maxt, data)` rows of one series' stored chunks, and the rows
/// its chunks of encoding 5 refer to.
type Rows = (Vec<(i64, i64, Vec<u8>)>, RefRows);

impl Reader {
    /// The stored chunks that overlap `[mint, maxt]` of the first series
    /// in `batch` (none for those SQLite does not hold), in one turn at the
    /// connection: all of them, or as many as fill [`BATCH_BYTES`] (at
    /// least one).
    fn rows(&self, batch: &[Selected], mint: i64, maxt: i64) -> Result<Vec<Rows>, Error> {
        let mut rc = self.conn.lock();
        let mut out = Vec::with_capacity(batch.len());
        if !batch.iter().any(|s| s.in_db) {
            out.resize_with(batch.len(), Rows::default);
            return Ok(out);
        }
        let ReaderConn { conn, span, read } = &mut *rc;
        let c = match conn {
            Some(c) => c,
            None => {
                let c = self.inner.reader()?;
                // One read transaction for the whole selection: the
                // database is locked once, not once per series, and every
                // series is read from one snapshot. It starts after the
                // head's chunks were taken, so a chunk the flusher moves
                // meanwhile is in one or the other.
                let _ = c.execute_batch("BEGIN");
                // The transaction's first read: it takes the snapshot,
                // and the bound read with it covers every row it holds.
                *span = match c.is_autocommit() {
                    true => None,
                    false => db::max_span(&c, &self.inner.db_path)?,
                };
                conn.insert(c)
            }
        };
        let path = &self.inner.db_path;
        let mut reader = db::ChunkReader::new(c, path);
        let mut bytes = 0;
        for sel in batch {
            if bytes >= BATCH_BYTES {
                break;
            }
            if !sel.in_db {
                out.push(Rows::default());
                continue;
            }
            // A caller may work between series (a range query computes
            // every step of one before asking for the next): renew the
            // snapshot now and then so the writer's checkpoints are not
            // held up. Each renewal still comes after the head's chunks
            // were taken, so nothing falls between head and database.
            *read += 1;
            if read.is_multiple_of(256) && !c.is_autocommit() {
                let _ = c.execute_batch("COMMIT; BEGIN");
                *span = match c.is_autocommit() {
                    true => None,
                    false => db::max_span(c, path)?,
                };
            }
            let rows = reader.read(sel.id, mint, maxt, *span)?;
            let refs = RefRows::fetch(
                &mut reader,
                rows.iter().map(|r| (r.0, r.1, &r.2[..])),
                *span,
                Some(&self.refs),
            )?;
            bytes += rows.iter().map(|r| r.2.len()).sum::<usize>() + refs.bytes();
            out.push((rows, refs));
        }
        Ok(out)
    }
}

/// Series whose rows a part fetches in one turn at the shared connection:
/// while one part fetches, the other decodes what it fetched. Turns of 32
/// series spent a tenth of an instant query's time handing the connection
/// between the parts; from 512 on, the gain stops. A turn also ends once
/// it holds `BATCH_BYTES` of rows, so long ranges keep no more than that
/// waiting for decoding.
const BATCH: usize = 512;
const BATCH_BYTES: usize = 1 << 20;

impl Drop for Reader {
    fn drop(&mut self) {
        if let Some(c) = self.conn.get_mut().conn.take() {
            if c.is_autocommit() || c.execute_batch("COMMIT").is_ok() {
                self.inner.give_back(c);
            }
        }
    }
}

struct SeriesIter {
    reader: Arc<Reader>,
    todo: std::vec::IntoIter<Selected>,
    /// Series whose rows were fetched, not yet decoded.
    fetched: std::vec::IntoIter<(Selected, Rows)>,
    mint: i64,
    maxt: i64,
}

impl Iterator for SeriesIter {
    type Item = Result<Series, StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let Some((sel, stored)) = self.fetched.next() else {
                let todo = self.todo.as_slice();
                if todo.is_empty() {
                    return None;
                }
                let n = todo.len().min(BATCH);
                match self.reader.rows(&todo[..n], self.mint, self.maxt) {
                    Ok(rows) => {
                        let sels = self.todo.by_ref().take(rows.len());
                        self.fetched = sels.zip(rows).collect::<Vec<_>>().into_iter();
                    }
                    Err(e) => {
                        // The batch goes with its error, as one at a time
                        // would have: a caller that reads on is not given
                        // the same error again.
                        self.todo.by_ref().take(n).for_each(drop);
                        return Some(Err(e.into()));
                    }
                }
                continue;
            };
            let inner = &self.reader.inner;
            match inner.load(stored, sel, self.mint, self.maxt) {
                Ok(Some(s)) => return Some(Ok(s)),
                Ok(None) => continue,
                Err(e) => return Some(Err(e.into())),
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.todo.len() + self.fetched.len()))
    }
}

/// The fewest series a part of a cut selection holds. A part costs a
/// thread; 900 series over 6 hours took 10-20 % less time in two parts
/// than in one, and instant queries over them as long as before.
const MIN_PART: usize = 128;

impl Store {
    fn series_iter(
        &self,
        reader: &Arc<Reader>,
        todo: Vec<Selected>,
        mint: i64,
        maxt: i64,
    ) -> SeriesSet {
        Box::new(SeriesIter {
            reader: reader.clone(),
            todo: todo.into_iter(),
            fetched: Vec::new().into_iter(),
            mint,
            maxt,
        })
    }

    /// The series matching `matchers` in `[mint, maxt]` within retention,
    /// and the range's start once retention is applied.
    fn selection(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> (i64, Vec<Selected>) {
        let mint = mint.max(self.inner.retention_floor());
        if mint > maxt {
            return (mint, Vec::new());
        }
        (mint, self.inner.selected(matchers, mint, maxt))
    }

    fn reader(&self) -> Arc<Reader> {
        Arc::new(Reader {
            inner: self.inner.clone(),
            conn: Default::default(),
            refs: RefCache::default(),
        })
    }
}

impl Querier for Store {
    fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<SeriesSet, StorageError> {
        let (mint, todo) = self.selection(matchers, mint, maxt);
        Ok(self.series_iter(&self.reader(), todo, mint, maxt))
    }

    /// Cuts selections of at least `2 * MIN_PART` series: a part costs a
    /// thread to read it on. The parts share one connection (`Reader`).
    fn select_parts(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        parts: usize,
    ) -> Result<Vec<SeriesSet>, StorageError> {
        let (mint, mut todo) = self.selection(matchers, mint, maxt);
        let parts = parts.min(todo.len() / MIN_PART).max(1);
        let per = todo.len().div_ceil(parts);
        let reader = self.reader();
        let mut out = Vec::with_capacity(parts);
        while todo.len() > per {
            let rest = todo.split_off(per);
            out.push(self.series_iter(&reader, todo, mint, maxt));
            todo = rest;
        }
        out.push(self.series_iter(&reader, todo, mint, maxt));
        Ok(out)
    }

    fn each_label_set(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        f: &mut dyn FnMut(&Labels),
    ) -> Result<(), StorageError> {
        self.inner.each_label_set(matchers, mint, maxt, f);
        Ok(())
    }
}
