//! SQLite persistence: the series catalogue and completed chunks. One
//! writer (the flusher) and a pool of readers; the schema is specified in
//! `store/docs/format/sqlite.md`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use model::Labels;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use crate::head::Frozen;
use crate::merge::RefRows;
use crate::wal::record::put_uvarint;
use crate::Error;

/// The schema version this code reads and writes.
pub(crate) const FORMAT_VERSION: &str = "3";

/// The earlier version that opening moves to [`FORMAT_VERSION`] by
/// rewriting the `format` row alone: format 3 lets `chunks.data` hold
/// chunk encoding 5, which builds of format 2 cannot read (or read with
/// an earlier prediction), so they refuse a file that may hold it. Every
/// file of format 2 is a file of format 3.
const FORMAT_SYMBOLS: &str = "2";

/// The earlier version that opening migrates to [`FORMAT_VERSION`]: label
/// sets held as text in `series.labels`, without the `symbols` table.
const FORMAT_TEXT_LABELS: &str = "1";

/// Symbol ids the writer has looked up, at most this many before the map
/// starts over: new series mostly repeat the names and values of the last
/// ones, and a cache of every symbol would grow with label churn.
const SYMBOL_CACHE_MAX: usize = 65_536;

/// Unused symbols are dropped once the catalogue rows deleted since the
/// last sweep reach 1/20 of the rows left.
const SWEEP_SHARE: usize = 20;

pub(crate) struct Db {
    pub conn: Connection,
    pub path: PathBuf,
    /// How far merging has come ([`crate::merge`]).
    pub merge: MergeCursor,
    /// The longest chunk a merge writes: what a B-tree page of this file
    /// holds in place, less room for the key, so no row spills to an
    /// overflow page (which would waste most of a page).
    pub max_chunk_bytes: usize,
    /// The longest span (`maxt - mint`) of any row ever written to
    /// `chunks`, persisted in `meta` as `max_chunk_span` in the same
    /// transaction as the row (see [`max_span`]).
    pub max_span: i64,
    /// No row of `chunks` has a `maxt` below this: the smallest `maxt`,
    /// or less. `None` until time retention first measures it. Time
    /// retention scans the table only once its cutoff passes it.
    pub next_expiry: Option<i64>,
    /// Ids of symbols known to be in the `symbols` table, by text; filled
    /// as series are written, only with committed rows.
    pub symbols: HashMap<Box<str>, i64>,
    /// Catalogue rows deleted since unused symbols were last dropped.
    pub deleted_since_sweep: usize,
}

/// How far merging has come: every period before `merged_before` is
/// merged (persisted in `meta` as `merged_before`); within the period
/// starting there, `todo` lists the series still to look at, as the units
/// merging takes together (`merge::histogram_units`; in memory
/// only: after a restart the period is looked at again, which is harmless).
#[derive(Default)]
pub(crate) struct MergeCursor {
    pub merged_before: Option<i64>,
    pub todo: Option<std::vec::IntoIter<Vec<u64>>>,
    /// Whether any row of the period was rewritten, so its end returns
    /// free pages to the file system.
    pub rewrote: bool,
    /// Whether the period has any row at all.
    pub found: bool,
}

/// The `meta` key of [`MergeCursor::merged_before`].
const MERGED_BEFORE: &str = "merged_before";

/// The `meta` key of [`Db::max_span`]: readers bound the start of their
/// scan of a series' rows by it, so a read near the end of a long history
/// seeks to its window instead of stepping over every older row.
const MAX_SPAN: &str = "max_chunk_span";

/// A catalogue row with the time range of its persisted chunks.
pub(crate) struct CatalogueEntry {
    pub id: u64,
    pub labels: Labels,
    pub range: Option<(i64, i64)>,
}

impl Db {
    /// Opens (or, with `create`, creates) the database and checks that it is
    /// ours and of a version we understand.
    pub(crate) fn open(path: &Path, create: bool) -> Result<Db, Error> {
        let err = |e: rusqlite::Error| Error::sqlite(path, e);
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let conn = Connection::open_with_flags(path, flags).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(err)?;
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
            .map_err(err)?;
        if !tables.is_empty() && !tables.iter().any(|t| t == "meta") {
            return Err(Error::Corrupt {
                file: path.to_path_buf(),
                reason: format!("not a Watchfire database (tables: {})", tables.join(", ")),
            });
        }
        // The page size and auto_vacuum must be chosen before the first
        // table exists; an existing file keeps its own. 16 KiB pages leave
        // less of each page unused than SQLite's 4 KiB default (rows of a
        // few hundred bytes rarely fill a page exactly) and keep merged
        // rows of up to 4 KB off overflow pages.
        conn.execute_batch(&format!(
            "PRAGMA page_size = {PAGE_SIZE}; PRAGMA auto_vacuum = INCREMENTAL;"
        ))
        .map_err(err)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::Corrupt {
                file: path.to_path_buf(),
                reason: format!("cannot use WAL journal mode (got {mode})"),
            });
        }
        conn.execute_batch(
            "PRAGMA synchronous = FULL;
             PRAGMA journal_size_limit = 4194304;
             CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS series (id INTEGER PRIMARY KEY, labels BLOB NOT NULL);
             CREATE TABLE IF NOT EXISTS symbols (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE);
             CREATE TABLE IF NOT EXISTS chunks (
                 series_id INTEGER NOT NULL,
                 mint INTEGER NOT NULL,
                 maxt INTEGER NOT NULL,
                 data BLOB NOT NULL,
                 PRIMARY KEY (series_id, mint)
             ) WITHOUT ROWID;",
        )
        .map_err(err)?;
        let version: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'format'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(err)?;
        let mut migrated = false;
        match version.as_deref() {
            None => {
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('format', ?1)",
                    [FORMAT_VERSION],
                )
                .map_err(err)?;
            }
            Some(FORMAT_VERSION) => {}
            Some(FORMAT_SYMBOLS) => {
                conn.execute(
                    "UPDATE meta SET value = ?1 WHERE key = 'format'",
                    [FORMAT_VERSION],
                )
                .map_err(err)?;
                tracing::info!(
                    file = %path.display(),
                    "moved to format {FORMAT_VERSION} (rows may now be of chunk encoding 5; nothing to convert)"
                );
            }
            Some(FORMAT_TEXT_LABELS) => {
                migrate_text_labels(&conn, path)?;
                migrated = true;
            }
            Some(v) => {
                return Err(Error::Corrupt {
                    file: path.to_path_buf(),
                    reason: format!("format version {v}, this build reads {FORMAT_VERSION}"),
                })
            }
        }
        let merged_before = meta_value(&conn, MERGED_BEFORE).map_err(err)?;
        let merged_before = match merged_before {
            None => None,
            Some(v) => Some(v.parse::<i64>().map_err(|_| Error::Corrupt {
                file: path.to_path_buf(),
                reason: format!("meta {MERGED_BEFORE} is {v:?}, not a timestamp"),
            })?),
        };
        let max_span = match meta_value(&conn, MAX_SPAN).map_err(err)? {
            Some(v) => match v.parse::<i64>() {
                Ok(n) if n >= 0 => n,
                _ => {
                    return Err(Error::Corrupt {
                        file: path.to_path_buf(),
                        reason: format!("meta {MAX_SPAN} is {v:?}, not a span in milliseconds"),
                    })
                }
            },
            None => {
                // A new file starts at 0. One from a build that did not
                // record the bound gets it measured once, by a scan of
                // the table.
                let n = match tables.is_empty() {
                    true => 0,
                    false => {
                        tracing::info!(file = %path.display(), "measuring the longest chunk row once (a file from an earlier build)");
                        conn.query_row(
                            "SELECT COALESCE(MAX(maxt - mint), 0) FROM chunks",
                            [],
                            |r| r.get::<_, i64>(0),
                        )
                        .map_err(err)?
                        .max(0)
                    }
                };
                set_max_span(&conn, n).map_err(err)?;
                n
            }
        };
        let page: i64 = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(err)?;
        let db = Db {
            conn,
            path: path.to_path_buf(),
            max_chunk_bytes: max_local_payload(page as usize).saturating_sub(CHUNK_KEY_ROOM),
            max_span,
            next_expiry: None,
            symbols: HashMap::new(),
            deleted_since_sweep: 0,
            merge: MergeCursor {
                merged_before,
                ..MergeCursor::default()
            },
        };
        if migrated {
            // The text catalogue's pages go back to the file system.
            db.compact()?;
        }
        Ok(db)
    }

    /// A read-only connection for queries.
    pub(crate) fn reader(path: &Path) -> Result<Connection, Error> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| Error::sqlite(path, e))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(|e| Error::sqlite(path, e))?;
        // Read pages in place from a shared memory map. Without it, each
        // reader copies pages into a private 2 MiB cache, which a long
        // server life of varied queries keeps cold: repeated small queries
        // ran 2-3x slower after a round of heavy ones than on a fresh
        // start. Only SQLite's own connections change the file.
        conn.execute_batch("PRAGMA mmap_size = 17179869184;")
            .map_err(|e| Error::sqlite(path, e))?;
        Ok(conn)
    }

    fn err(&self, e: rusqlite::Error) -> Error {
        Error::sqlite(&self.path, e)
    }

    /// Every catalogued series with the time range of its chunks.
    pub(crate) fn catalogue(&self) -> Result<Vec<CatalogueEntry>, Error> {
        let mut stmt = self
            .conn
            .prepare(
                // A series' chunks do not overlap, so its newest sample is in
                // the chunk with the largest mint: both look-ups are one
                // index seek instead of a scan of the series' chunks.
                "SELECT s.id, s.labels, (SELECT MIN(mint) FROM chunks WHERE series_id = s.id),
                        (SELECT maxt FROM chunks WHERE series_id = s.id ORDER BY mint DESC LIMIT 1)
                 FROM series s ORDER BY s.id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let symbols = read_symbols(&self.conn).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, labels, min, max) = row.map_err(|e| self.err(e))?;
            let labels = decode_labels(&labels, &symbols).map_err(|reason| Error::Corrupt {
                file: self.path.clone(),
                reason: format!("series {id}: bad labels: {reason}"),
            })?;
            out.push(CatalogueEntry {
                id: id as u64,
                labels,
                range: min.zip(max),
            });
        }
        Ok(out)
    }

    /// Writes new series and completed chunks in one transaction. A chunk
    /// that starts in a period already merged moves `merged_before` back
    /// to that period's start (`range_ms` long), so it is merged again.
    pub(crate) fn write(
        &mut self,
        series: &[(u64, Labels)],
        chunks: &[(u64, std::sync::Arc<Frozen>)],
        range_ms: i64,
    ) -> Result<(), Error> {
        let reopen = chunks
            .iter()
            .map(|(_, c)| period_start(c.mint, range_ms))
            .min()
            .filter(|&p| self.merge.merged_before.is_some_and(|m| p < m));
        let self_span = self.max_span;
        let mut max_span = self_span;
        let mut min_maxt = i64::MAX;
        // Symbols this transaction adds: cached only once it commits.
        let mut added: Vec<(Box<str>, i64)> = Vec::new();
        if self.symbols.len() > SYMBOL_CACHE_MAX {
            self.symbols.clear();
        }
        let known = &self.symbols;
        let path = self.path.clone();
        let err = |e| Error::sqlite(&path, e);
        let tx = self.conn.transaction().map_err(err)?;
        {
            if let Some(p) = reopen {
                set_merged_before(&tx, p).map_err(err)?;
            }
            let mut ins = tx
                .prepare_cached("INSERT OR IGNORE INTO series (id, labels) VALUES (?1, ?2)")
                .map_err(err)?;
            let mut blob = Vec::new();
            for (id, labels) in series {
                encode_labels(labels, &mut blob, |text| match known.get(text) {
                    Some(&sym) => Ok(sym),
                    None => {
                        let sym = symbol_id(&tx, text).map_err(err)?;
                        added.push((text.into(), sym));
                        Ok(sym)
                    }
                })?;
                ins.execute(params![*id as i64, &blob[..]]).map_err(err)?;
            }
            let mut ins = tx
                .prepare_cached("INSERT OR REPLACE INTO chunks (series_id, mint, maxt, data) VALUES (?1, ?2, ?3, ?4)")
                .map_err(err)?;
            for (id, c) in chunks {
                let joined;
                let (maxt, data) = match c.ooo {
                    true => match join_same_start(&tx, &self.path, *id, c)? {
                        Some((maxt, data)) => {
                            joined = data;
                            (maxt, &joined[..])
                        }
                        None => (c.maxt, &c.data[..]),
                    },
                    false => (c.maxt, &c.data[..]),
                };
                ins.execute(params![*id as i64, c.mint, maxt, data])
                    .map_err(err)?;
                max_span = max_span.max(maxt.saturating_sub(c.mint));
                min_maxt = min_maxt.min(maxt);
            }
            raise_max_span(&tx, max_span, self_span).map_err(err)?;
        }
        tx.commit().map_err(err)?;
        self.symbols.extend(added);
        self.max_span = max_span;
        self.next_expiry = self.next_expiry.map(|e| e.min(min_maxt));
        if reopen.is_some() {
            self.merge = MergeCursor {
                merged_before: reopen,
                ..MergeCursor::default()
            };
        }
        Ok(())
    }

    /// The first timestamp of the oldest chunk that starts at or after `t`
    /// (a scan of the table: asked once when merging starts and after a
    /// period without rows).
    pub(crate) fn oldest_mint_from(&self, t: i64) -> Result<Option<i64>, Error> {
        self.conn
            .query_row("SELECT MIN(mint) FROM chunks WHERE mint >= ?1", [t], |r| {
                r.get(0)
            })
            .map_err(|e| self.err(e))
    }

    /// Replaces, in one transaction, the chunks of each listed series
    /// `(id, lo, chunks)` that start in `[lo, hi)` by the given ones.
    pub(crate) fn replace_chunks(
        &mut self,
        hi: i64,
        series: &[(u64, i64, crate::merge::Merged)],
    ) -> Result<(), Error> {
        let self_span = self.max_span;
        let mut max_span = self_span;
        let mut min_maxt = i64::MAX;
        self.transaction(|tx, err| {
            let mut del = tx
                .prepare_cached(
                    "DELETE FROM chunks WHERE series_id = ?1 AND mint >= ?2 AND mint < ?3",
                )
                .map_err(err)?;
            let mut ins = tx
                .prepare_cached(
                    "INSERT INTO chunks (series_id, mint, maxt, data) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(err)?;
            for (id, lo, chunks) in series {
                del.execute(params![*id as i64, lo, hi]).map_err(err)?;
                for (mint, maxt, data) in chunks {
                    ins.execute(params![*id as i64, mint, maxt, &data[..]])
                        .map_err(err)?;
                    max_span = max_span.max(maxt.saturating_sub(*mint));
                    min_maxt = min_maxt.min(*maxt);
                }
            }
            raise_max_span(tx, max_span, self_span).map_err(err)
        })?;
        self.max_span = max_span;
        self.next_expiry = self.next_expiry.map(|e| e.min(min_maxt));
        Ok(())
    }

    /// Records that every period before `t` is merged.
    pub(crate) fn set_merged_before(&mut self, t: i64) -> Result<(), Error> {
        set_merged_before(&self.conn, t).map_err(|e| self.err(e))?;
        self.merge = MergeCursor {
            merged_before: Some(t),
            ..MergeCursor::default()
        };
        Ok(())
    }

    /// Deletes chunks whose newest sample is older than `cutoff`. Both
    /// statements scan the table, so they run only once the cutoff has
    /// passed the oldest `maxt` ([`Self::next_expiry`]).
    pub(crate) fn delete_before(&mut self, cutoff: i64) -> Result<usize, Error> {
        let expiry = match self.next_expiry {
            Some(e) => e,
            None => self.smallest_maxt()?,
        };
        self.next_expiry = Some(expiry);
        if cutoff <= expiry {
            return Ok(0);
        }
        let n = self
            .conn
            .execute("DELETE FROM chunks WHERE maxt < ?1", [cutoff])
            .map_err(|e| self.err(e))?;
        self.next_expiry = Some(self.smallest_maxt()?);
        Ok(n)
    }

    /// The smallest `maxt` of any chunk (`i64::MAX` with none).
    fn smallest_maxt(&self) -> Result<i64, Error> {
        self.conn
            .query_row("SELECT MIN(maxt) FROM chunks", [], |r| {
                r.get::<_, Option<i64>>(0)
            })
            .map(|m| m.unwrap_or(i64::MAX))
            .map_err(|e| self.err(e))
    }

    /// Deletes the `n` chunks with the oldest newest-sample, and every
    /// other chunk whose newest sample is as old as the last of them: rows
    /// that refer to another series' rows (chunk encoding 5) end where
    /// those end, and go with them.
    pub(crate) fn delete_oldest(&self, n: usize) -> Result<usize, Error> {
        self.conn
            .execute(
                "DELETE FROM chunks WHERE maxt <= COALESCE(
                   (SELECT maxt FROM chunks ORDER BY maxt LIMIT 1 OFFSET ?1),
                   (SELECT MAX(maxt) FROM chunks))",
                [n.saturating_sub(1) as i64],
            )
            .map_err(|e| self.err(e))
    }

    /// Catalogued series without any chunk.
    pub(crate) fn empty_series(&self) -> Result<Vec<u64>, Error> {
        let mut stmt = self
            .conn
            .prepare("SELECT id FROM series s WHERE NOT EXISTS (SELECT 1 FROM chunks WHERE series_id = s.id)")
            .map_err(|e| self.err(e))?;
        let ids = stmt
            .query_map([], |r| r.get::<_, i64>(0))
            .map_err(|e| self.err(e))?;
        ids.map(|r| r.map(|i| i as u64).map_err(|e| self.err(e)))
            .collect()
    }

    /// Deletes catalogue rows and, once the rows deleted since the last
    /// time reach a twentieth of those left, the symbols that no remaining
    /// row uses (a scan of the catalogue, so not at every deletion).
    pub(crate) fn delete_series(&mut self, ids: &[u64]) -> Result<(), Error> {
        if ids.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        let deleted = self.deleted_since_sweep + ids.len();
        let mut swept = false;
        self.transaction(|tx, err| {
            let mut del = tx
                .prepare_cached("DELETE FROM series WHERE id = ?1")
                .map_err(err)?;
            for id in ids {
                del.execute([*id as i64]).map_err(err)?;
            }
            let left: i64 = tx
                .query_row("SELECT COUNT(*) FROM series", [], |r| r.get(0))
                .map_err(err)?;
            if deleted.saturating_mul(SWEEP_SHARE) >= left.max(0) as usize {
                swept = true;
                drop_unused_symbols(tx, &path)?;
            }
            Ok(())
        })?;
        if swept {
            self.deleted_since_sweep = 0;
            // Cached ids may name deleted symbols now.
            self.symbols.clear();
        } else {
            self.deleted_since_sweep = deleted;
        }
        Ok(())
    }

    /// Runs `f` in one transaction and commits what it did; `f` is handed
    /// the transaction and how to turn a SQLite error into one that names
    /// this database.
    fn transaction(
        &mut self,
        f: impl FnOnce(
            &rusqlite::Transaction<'_>,
            &dyn Fn(rusqlite::Error) -> Error,
        ) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let path = self.path.clone();
        let err = |e| Error::sqlite(&path, e);
        let tx = self.conn.transaction().map_err(err)?;
        f(&tx, &err)?;
        tx.commit().map_err(err)
    }

    /// Bytes of live pages (file size less free pages).
    pub(crate) fn used_bytes(&self) -> Result<u64, Error> {
        let q = |sql: &str| {
            self.conn
                .query_row(sql, [], |r| r.get::<_, i64>(0))
                .map_err(|e| self.err(e))
        };
        let pages = q("PRAGMA page_count")? - q("PRAGMA freelist_count")?;
        Ok((pages * q("PRAGMA page_size")?) as u64)
    }

    /// Returns free pages to the file system and folds SQLite's own WAL
    /// back into the database file.
    pub(crate) fn compact(&self) -> Result<(), Error> {
        // Each step of incremental_vacuum frees one page: run it to the end
        // (execute_batch would step it once).
        let mut stmt = self
            .conn
            .prepare("PRAGMA incremental_vacuum")
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
        while rows.next().map_err(|e| self.err(e))?.is_some() {}
        drop(rows);
        drop(stmt);
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(|e| self.err(e))
    }
}

/// Bytes of a `chunks` record other than the chunk: the record header and
/// the three integers, at most 9 + 3 × 8, rounded up.
const CHUNK_KEY_ROOM: usize = 40;

/// The page size of a new file, in bytes (`store/docs/format/sqlite.md`).
const PAGE_SIZE: usize = 16384;

/// The longest record an index B-tree page (a `WITHOUT ROWID` table) of
/// `page_size` bytes keeps in place; longer ones spill to overflow pages.
/// SQLite's file format: `(U − 12) × 64 / 255 − 23` with `U` the usable
/// page size (no bytes are reserved in our files).
fn max_local_payload(page_size: usize) -> usize {
    (page_size.saturating_sub(12) * 64 / 255).saturating_sub(23)
}

/// A chunk of late samples whose first timestamp is also the first of a
/// chunk already in SQLite would take its key, and `OR REPLACE` would drop
/// the older chunk's other samples. Instead both are joined into one chunk
/// for that key: by timestamp, the older chunk's sample kept where both
/// have one (as queries read overlapping chunks). `None` when there is no
/// such chunk, or when it does not decode (it is replaced then, with an
/// error logged: its samples are unreadable already).
fn join_same_start(
    conn: &Connection,
    path: &Path,
    id: u64,
    late: &Frozen,
) -> Result<Option<Joined>, Error> {
    let old: Option<(i64, Vec<u8>)> = conn
        .query_row(
            "SELECT maxt, data FROM chunks WHERE series_id = ?1 AND mint = ?2",
            params![id as i64, late.mint],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(|e| Error::sqlite(path, e))?;
    let Some((old_maxt, old)) = old else {
        return Ok(None);
    };
    let chunks = [
        (late.mint, old_maxt, &old[..]),
        (late.mint, late.maxt, &late.data[..]),
    ];
    // A stored chunk of encoding 5 is read with the series it refers to.
    let refs = RefRows::fetch(&mut ChunkReader::new(conn, path), [chunks[0]], None, None)?.decode();
    let samples = match crate::merge::joined_samples(chunks, &refs) {
        Ok(s) => s,
        Err((_, e)) => {
            tracing::error!(series = id, chunk = late.mint, error = %e, "damaged chunk replaced by late samples with the same first timestamp");
            return Ok(None);
        }
    };
    let maxt = samples.last().map_or(late.maxt, |s| s.t);
    Ok(crate::chunk::encode_smallest(&samples).map(|data| (maxt, data)))
}

/// A joined chunk's `maxt` and bytes.
type Joined = (i64, Box<[u8]>);

/// A stored chunk's `(mint, maxt, data)`.
pub(crate) type StoredRow = (i64, i64, Vec<u8>);

/// Reads a LEB128 varint of at most 10 bytes from the front of `b`.
fn read_uvarint(b: &mut &[u8]) -> Option<u64> {
    let mut x = 0u64;
    for i in 0..10 {
        let (&byte, rest) = b.split_first()?;
        *b = rest;
        x |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(x);
        }
    }
    None
}

/// Writes a label set as `series.labels` holds it into `blob` (cleared
/// first): the id of each name and value in turn, as varints, with ids
/// from `symbol`.
fn encode_labels(
    labels: &Labels,
    blob: &mut Vec<u8>,
    mut symbol: impl FnMut(&str) -> Result<i64, Error>,
) -> Result<(), Error> {
    blob.clear();
    for (name, value) in labels.iter() {
        for text in [name, value] {
            put_uvarint(blob, symbol(text)? as u64);
        }
    }
    Ok(())
}

/// The id of a symbol, inserted when the table does not hold it yet.
fn symbol_id(conn: &Connection, text: &str) -> rusqlite::Result<i64> {
    let found = conn
        .prepare_cached("SELECT id FROM symbols WHERE text = ?1")?
        .query_row([text], |r| r.get(0))
        .optional()?;
    match found {
        Some(id) => Ok(id),
        None => {
            conn.prepare_cached("INSERT INTO symbols (text) VALUES (?1)")?
                .execute([text])?;
            Ok(conn.last_insert_rowid())
        }
    }
}

/// Every symbol, by id.
fn read_symbols(conn: &Connection) -> rusqlite::Result<HashMap<i64, String>> {
    let mut stmt = conn.prepare("SELECT id, text FROM symbols")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// A `series.labels` value: the symbol ids of each name and value in turn,
/// as varints ([sqlite.md](../docs/format/sqlite.md#series)).
fn decode_labels(blob: &[u8], symbols: &HashMap<i64, String>) -> Result<Labels, String> {
    let mut rest = blob;
    let mut encoded = String::with_capacity(blob.len() * 8);
    while !rest.is_empty() {
        let id = read_uvarint(&mut rest).ok_or("truncated symbol id")?;
        let text = i64::try_from(id)
            .ok()
            .and_then(|id| symbols.get(&id))
            .ok_or_else(|| format!("symbol {id} is missing"))?;
        encoded.push_str(&text.len().to_string());
        encoded.push(':');
        encoded.push_str(text);
    }
    // The canonical text checks what the ids name: pairs, order, no empties.
    Labels::from_encoded(&encoded)
}

/// Deletes the symbols that no `series` row uses: one scan of the
/// catalogue, made after retention deleted some of its rows.
fn drop_unused_symbols(conn: &Connection, path: &Path) -> Result<(), Error> {
    let err = |e| Error::sqlite(path, e);
    let mut used = std::collections::HashSet::new();
    let mut stmt = conn.prepare("SELECT id, labels FROM series").map_err(err)?;
    let mut rows = stmt.query([]).map_err(err)?;
    while let Some(row) = rows.next().map_err(err)? {
        let id: i64 = row.get(0).map_err(err)?;
        let blob = row
            .get_ref(1)
            .map_err(err)?
            .as_bytes()
            .map_err(|e| Error::Corrupt {
                file: path.to_path_buf(),
                reason: format!("series {id}: bad labels: {e}"),
            })?;
        let mut rest = blob;
        while !rest.is_empty() {
            let sym = read_uvarint(&mut rest).ok_or_else(|| Error::Corrupt {
                file: path.to_path_buf(),
                reason: format!("series {id}: bad labels: truncated symbol id"),
            })?;
            used.insert(sym as i64);
        }
    }
    drop(rows);
    let unused: Vec<i64> = conn
        .prepare("SELECT id FROM symbols")
        .and_then(|mut st| {
            st.query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<i64>>>()
        })
        .map_err(err)?
        .into_iter()
        .filter(|id| !used.contains(id))
        .collect();
    let mut del = conn
        .prepare_cached("DELETE FROM symbols WHERE id = ?1")
        .map_err(err)?;
    for id in unused {
        del.execute([id]).map_err(err)?;
    }
    Ok(())
}

/// Moves a format 1 file to the current format in one transaction: the label sets
/// of `series`, held as text, become symbol ids (the `symbols` table exists
/// already, made empty by the schema statements). A failure leaves the
/// file as it was.
fn migrate_text_labels(conn: &Connection, path: &Path) -> Result<(), Error> {
    let err = |e| Error::sqlite(path, e);
    let started = std::time::Instant::now();
    conn.execute_batch("BEGIN IMMEDIATE").map_err(err)?;
    let done = (|| {
        conn.execute_batch(
            "CREATE TABLE series_v2 (id INTEGER PRIMARY KEY, labels BLOB NOT NULL);",
        )
        .map_err(err)?;
        let mut ids: HashMap<String, i64> = HashMap::new();
        let mut n = 0u64;
        {
            let mut read = conn
                .prepare("SELECT id, labels FROM series ORDER BY id")
                .map_err(err)?;
            let mut rows = read.query([]).map_err(err)?;
            let mut ins_sym = conn
                .prepare("INSERT INTO symbols (text) VALUES (?1)")
                .map_err(err)?;
            let mut ins = conn
                .prepare("INSERT INTO series_v2 (id, labels) VALUES (?1, ?2)")
                .map_err(err)?;
            let mut blob = Vec::new();
            while let Some(row) = rows.next().map_err(err)? {
                let id: i64 = row.get(0).map_err(err)?;
                let text: String = row.get(1).map_err(err)?;
                let labels = Labels::from_encoded(&text).map_err(|reason| Error::Corrupt {
                    file: path.to_path_buf(),
                    reason: format!("series {id}: bad labels: {reason}"),
                })?;
                encode_labels(&labels, &mut blob, |t| match ids.get(t) {
                    Some(&sym) => Ok(sym),
                    None => {
                        ins_sym.execute([t]).map_err(err)?;
                        let sym = conn.last_insert_rowid();
                        ids.insert(t.to_string(), sym);
                        Ok(sym)
                    }
                })?;
                ins.execute(params![id, &blob[..]]).map_err(err)?;
                n += 1;
            }
        }
        conn.execute_batch(
            "DROP TABLE series;
             ALTER TABLE series_v2 RENAME TO series;",
        )
        .map_err(err)?;
        conn.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'format'",
            [FORMAT_VERSION],
        )
        .map_err(err)?;
        conn.execute_batch("COMMIT").map_err(err)?;
        tracing::info!(
            file = %path.display(),
            series = n,
            symbols = ids.len(),
            elapsed = ?started.elapsed(),
            "moved the catalogue to format {FORMAT_VERSION}: label sets as symbol ids"
        );
        Ok(())
    })();
    if done.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    done
}

/// The `value` of a `meta` row.
fn meta_value(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
}

fn set_max_span(conn: &Connection, span: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
        params![MAX_SPAN, span.to_string()],
    )
    .map(|_| ())
}

/// Records `span` as the new bound when it exceeds `was`, in the
/// transaction that writes the rows it covers: a reader whose snapshot
/// holds a row also holds a bound that covers it.
fn raise_max_span(conn: &Connection, span: i64, was: i64) -> rusqlite::Result<()> {
    if span > was {
        set_max_span(conn, span)?;
    }
    Ok(())
}

/// The bound on row spans that a reader's snapshot holds: the start of
/// a scan for rows that reach `mint` is `mint - span`. `None` when the
/// file has no bound (a build that did not record it wrote last), and
/// then readers scan from a series' first row.
pub(crate) fn max_span(conn: &Connection, path: &Path) -> Result<Option<i64>, Error> {
    Ok(meta_value(conn, MAX_SPAN)
        .map_err(|e| Error::sqlite(path, e))?
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|&n| n >= 0))
}

fn set_merged_before(conn: &Connection, t: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
        params![MERGED_BEFORE, t.to_string()],
    )
    .map(|_| ())
}

/// The start of the `range_ms` period that holds `t` (periods are aligned
/// to multiples of the range, as chunks are).
pub(crate) fn period_start(t: i64, range_ms: i64) -> i64 {
    t.div_euclid(range_ms).saturating_mul(range_ms)
}

/// Chunks of one series that start in `[lo, hi)`, oldest first.
pub(crate) fn chunks_starting_in(
    conn: &Connection,
    path: &Path,
    id: u64,
    lo: i64,
    hi: i64,
) -> Result<Vec<(i64, i64, Vec<u8>)>, Error> {
    chunk_rows(
        conn,
        path,
        "SELECT mint, maxt, data FROM chunks WHERE series_id = ?1 AND mint >= ?2 AND mint < ?3 ORDER BY mint",
        params![id as i64, lo, hi],
    )
}

/// Reads the chunks of one series after another through one prepared
/// statement, prepared at the first read: taking a statement from the
/// connection's cache and giving it back for every series cost a tenth of
/// an instant query's time.
pub(crate) struct ChunkReader<'c> {
    conn: &'c Connection,
    stmt: Option<rusqlite::CachedStatement<'c>>,
    path: &'c Path,
}

impl<'c> ChunkReader<'c> {
    pub(crate) fn new(conn: &'c Connection, path: &'c Path) -> Self {
        ChunkReader {
            conn,
            stmt: None,
            path,
        }
    }

    /// The chunks of series `id` that overlap `[mint, maxt]`, oldest first.
    /// With `span`, the bound on rows' spans that the connection's snapshot
    /// holds ([`max_span`]), the scan starts at the first row that can
    /// reach `mint`.
    pub(crate) fn read(
        &mut self,
        id: u64,
        mint: i64,
        maxt: i64,
        span: Option<i64>,
    ) -> Result<Vec<(i64, i64, Vec<u8>)>, Error> {
        let from = span.map_or(i64::MIN, |s| mint.saturating_sub(s));
        let path = self.path;
        let err = |e| Error::sqlite(path, e);
        let stmt = match &mut self.stmt {
            Some(stmt) => stmt,
            None => self.stmt.insert(
                self.conn
                    .prepare_cached(
                        "SELECT mint, maxt, data FROM chunks
                          WHERE series_id = ?1 AND mint >= ?4 AND mint <= ?3 AND maxt >= ?2 ORDER BY mint",
                    )
                    .map_err(err)?,
            ),
        };
        stmt_rows(stmt, path, params![id as i64, mint, maxt, from])
    }
}

/// The last chunk of one series that starts in `[lo, hi)`.
pub(crate) fn last_chunk_in(
    conn: &Connection,
    path: &Path,
    id: u64,
    lo: i64,
    hi: i64,
) -> Result<Option<(i64, i64, Vec<u8>)>, Error> {
    let rows = chunk_rows(
        conn,
        path,
        "SELECT mint, maxt, data FROM chunks WHERE series_id = ?1 AND mint >= ?2 AND mint < ?3 ORDER BY mint DESC LIMIT 1",
        params![id as i64, lo, hi],
    )?;
    Ok(rows.into_iter().next())
}

/// `(mint, maxt, data)` rows of one series by `sql` and its `params`.
fn chunk_rows(
    conn: &Connection,
    path: &Path,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<(i64, i64, Vec<u8>)>, Error> {
    let mut stmt = conn
        .prepare_cached(sql)
        .map_err(|e| Error::sqlite(path, e))?;
    stmt_rows(&mut stmt, path, params)
}

/// `(mint, maxt, data)` rows that the prepared `stmt` gives for `params`.
fn stmt_rows(
    stmt: &mut rusqlite::Statement<'_>,
    path: &Path,
    params: impl rusqlite::Params,
) -> Result<Vec<(i64, i64, Vec<u8>)>, Error> {
    let err = |e| Error::sqlite(path, e);
    let rows = stmt
        .query_map(params, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .map_err(err)?;
    rows.map(|r| r.map_err(err)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Size retention deletes the oldest rows by `maxt`, and with them every
    /// row that ends where the last of them ends: a row of chunk encoding 5
    /// has the bounds of the rows it refers to, and never outlives them.
    #[test]
    fn deleting_the_oldest_takes_whole_ties() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("watchfire.db"), true).unwrap();
        let rows = |db: &Db| -> i64 {
            db.conn
                .query_row("SELECT COUNT(*) FROM chunks", [], |r| r.get(0))
                .unwrap()
        };
        let mut ins = db
            .conn
            .prepare("INSERT INTO chunks (series_id, mint, maxt, data) VALUES (?1, ?2, ?3, x'01')")
            .unwrap();
        // Series 1 to 3 end together at 5, 10, 15, …: 3 rows per end.
        for k in 1..=400i64 {
            for s in 1..=3i64 {
                ins.execute(params![s, k * 5 - 4, k * 5]).unwrap();
            }
        }
        drop(ins);
        // The 1 000th row ends at 1 670 with two more after it.
        assert_eq!(db.delete_oldest(1000).unwrap(), 1002);
        assert_eq!(rows(&db), 1200 - 1002);
        let oldest: i64 = db
            .conn
            .query_row("SELECT MIN(maxt) FROM chunks", [], |r| r.get(0))
            .unwrap();
        assert_eq!(oldest, 1675);
        // Fewer rows than asked for: all of them.
        assert_eq!(db.delete_oldest(1000).unwrap(), 198);
        assert_eq!(rows(&db), 0);
        assert_eq!(db.delete_oldest(1000).unwrap(), 0);
    }
}
