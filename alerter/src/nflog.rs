//! The notification log (upstream `nflog/`): what each aggregation group
//! last sent to each integration of a receiver, so a flush is sent only
//! when it says something new ([`crate::pipeline`]'s dedup stage asks it)
//! and a restart does not send again what was sent. Kept in memory and in
//! the `nflog` table of `alerter.db`; written by [`crate::sqlite`]'s
//! thread.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use crate::sqlite::{Op, Writer, Written};
use crate::Error;

/// What the notification log holds for one group and receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    pub firing: BTreeSet<u64>,
    pub resolved: BTreeSet<u64>,
    /// When it was sent (Unix ms).
    pub at: i64,
}

/// The notification log, optionally kept in SQLite.
#[derive(Debug, Default)]
pub struct Log {
    entries: HashMap<(String, String), LogEntry>,
    writer: Option<Writer>,
}

fn ids(set: &BTreeSet<u64>) -> String {
    set.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_ids(path: &Path, key: &str, s: &str) -> Result<BTreeSet<u64>, Error> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(|x| {
            x.parse().map_err(|e| Error::Corrupt {
                path: path.to_path_buf(),
                table: "nflog",
                key: key.to_string(),
                reason: format!("alert id {x:?}: {e}"),
            })
        })
        .collect()
}

impl Log {
    /// Opens the log kept in the SQLite file at `path`; entries older
    /// than `retention_ms` before `now` are dropped.
    pub fn open(path: &Path, now: i64, retention_ms: i64) -> Result<Self, Error> {
        let conn = crate::sqlite::open(path)?;
        let mut log = Log::read(&conn, path, now, retention_ms)?;
        log.writer = Some(Writer::start(path, conn)?);
        Ok(log)
    }

    /// Reads the log from `conn` (the file at `path`), dropping entries
    /// past retention; it writes nowhere until given a writer.
    pub(crate) fn read(
        conn: &rusqlite::Connection,
        path: &Path,
        now: i64,
        retention_ms: i64,
    ) -> Result<Self, Error> {
        let sql = |op: &'static str| {
            move |source| Error::Sqlite {
                path: path.to_path_buf(),
                table: "nflog",
                op,
                source,
            }
        };
        conn.execute(
            "DELETE FROM nflog WHERE at < ?1",
            [now.saturating_sub(retention_ms)],
        )
        .map_err(sql("drop old entries"))?;
        let mut entries = HashMap::new();
        {
            let mut stmt = conn
                .prepare("SELECT group_key, receiver, firing, resolved, at FROM nflog")
                .map_err(sql("read"))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, i64>(4)?,
                    ))
                })
                .map_err(sql("read"))?;
            for row in rows {
                let (g, r, f, res, at) = row.map_err(sql("read"))?;
                let key = format!("{g} {r}");
                let entry = LogEntry {
                    firing: parse_ids(path, &key, &f)?,
                    resolved: parse_ids(path, &key, &res)?,
                    at,
                };
                entries.insert((g, r), entry);
            }
        }
        Ok(Log {
            entries,
            writer: None,
        })
    }

    /// Writes through `writer` from now on.
    pub(crate) fn set_writer(&mut self, writer: Writer) {
        self.writer = Some(writer);
    }

    pub fn get(&self, group_key: &str, receiver: &str) -> Option<&LogEntry> {
        self.entries
            .get(&(group_key.to_string(), receiver.to_string()))
    }

    /// Records a send at once in memory; with a file, the returned
    /// [`Written`] says when it is on disk.
    pub fn record(&mut self, group_key: &str, receiver: &str, entry: LogEntry) -> Written {
        let written = match &self.writer {
            Some(w) => w.write(Op::LogPut {
                group_key: group_key.to_string(),
                receiver: receiver.to_string(),
                firing: ids(&entry.firing),
                resolved: ids(&entry.resolved),
                at: entry.at,
            }),
            None => Written::none(),
        };
        self.entries
            .insert((group_key.to_string(), receiver.to_string()), entry);
        written
    }

    /// Drops entries recorded more than `retention_ms` before `now`;
    /// returns how many. The file follows in the background.
    pub fn gc(&mut self, now: i64, retention_ms: i64) -> usize {
        let cutoff = now.saturating_sub(retention_ms);
        if let Some(w) = &self.writer {
            w.write_later(Op::LogDropBefore(cutoff));
        }
        let before = self.entries.len();
        self.entries.retain(|_, e| e.at >= cutoff);
        before - self.entries.len()
    }

    /// Where the log is kept, if in a file.
    pub fn path(&self) -> Option<&Path> {
        self.writer.as_ref().map(Writer::path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerter.db");
        let e = LogEntry {
            firing: [1, u64::MAX].into(),
            resolved: [7].into(),
            at: 5_000,
        };
        let record = || {
            Log::open(&path, 5_000, 1_000_000)
                .unwrap()
                .record("g", "r/0", e.clone())
                .wait_blocking()
                .unwrap()
        };
        record();
        assert_eq!(
            Log::open(&path, 6_000, 1_000_000).unwrap().get("g", "r/0"),
            Some(&e)
        );
        // A running log drops it past retention, on disk too (once its
        // writer has written, which closing it waits for).
        let mut running = Log::open(&path, 6_000, 1_000_000).unwrap();
        assert_eq!(running.gc(500_000, 1_000_000), 0);
        assert_eq!(running.gc(1_500_000, 1_000_000), 1);
        assert_eq!(running.get("g", "r/0"), None);
        drop(running);
        assert_eq!(
            Log::open(&path, 6_000, 1_000_000).unwrap().get("g", "r/0"),
            None
        );
        record();
        // Past retention it is gone at opening.
        assert_eq!(
            Log::open(&path, 2_000_000, 1_000_000)
                .unwrap()
                .get("g", "r/0"),
            None
        );
    }

    #[test]
    fn a_damaged_row_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerter.db");
        drop(Log::open(&path, 0, 1_000).unwrap());
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute("INSERT INTO nflog VALUES ('g', 'r/0', '1,x', '', 0)", [])
            .unwrap();
        drop(c);
        let got = Log::open(&path, 0, 1_000).unwrap_err().to_string();
        let want = format!(
            "{}: nflog g r/0: alert id \"x\": invalid digit found in string",
            path.display()
        );
        assert_eq!(got, want, "got {got}, want {want}");
    }
}
