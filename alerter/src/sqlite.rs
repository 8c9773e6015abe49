//! The alerter's SQLite file, `alerter.db` (laid out in
//! `alerter/docs/format/sqlite.md`): opened and read at start, then
//! written by a thread of its own. The notification log, the silences and
//! the acknowledgements and the chat state hand it their writes in order and never wait for the disk under the
//! alerter's lock or on an async worker; whoever must know a write is
//! durable (the delivery that counts a send, the API that answers a
//! silence) awaits its [`Written`] afterwards.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;

use rusqlite::{params, Connection};
use tokio::sync::oneshot;

use crate::ack::Acks;
use crate::chatops::state::ChatState;
use crate::nflog::Log;
use crate::silence::Silences;
use crate::Error;

/// One write, in the order it was handed over.
#[derive(Debug)]
pub(crate) enum Op {
    /// Upserts a notification log entry.
    LogPut {
        group_key: String,
        receiver: String,
        firing: String,
        resolved: String,
        at: i64,
    },
    /// Drops log entries sent before a time.
    LogDropBefore(i64),
    /// Upserts a silence, as its API v2 JSON.
    SilencePut { id: String, body: String },
    /// Drops a silence.
    SilenceDrop(String),
    /// Upserts a group's acknowledgement and snooze, as JSON.
    AckPut {
        group_key: String,
        receiver: String,
        body: String,
    },
    /// Drops a group's acknowledgement and snooze.
    AckDrop { group_key: String, receiver: String },
    /// Inserts an action token.
    TokenPut {
        id: String,
        body: String,
        expires: i64,
    },
    /// Drops the tokens expired before a time.
    TokenDropBefore(i64),
    /// Upserts the chat message of a group, receiver and integration.
    MessagePut {
        group_key: String,
        receiver: String,
        index: i64,
        body: String,
    },
    /// Drops the chat message of a group, receiver and integration.
    MessageDrop {
        group_key: String,
        receiver: String,
        index: i64,
    },
    /// Appends an entry to the audit trail of answers.
    AuditPut {
        at: i64,
        group_key: String,
        receiver: String,
        body: String,
    },
    /// Drops audit entries made before a time.
    AuditDropBefore(i64),
}

impl Op {
    fn table(&self) -> &'static str {
        match self {
            Op::LogPut { .. } | Op::LogDropBefore(_) => "nflog",
            Op::SilencePut { .. } | Op::SilenceDrop(_) => "silences",
            Op::AckPut { .. } | Op::AckDrop { .. } => "acks",
            Op::TokenPut { .. } | Op::TokenDropBefore(_) => "chat_tokens",
            Op::MessagePut { .. } | Op::MessageDrop { .. } => "chat_messages",
            Op::AuditPut { .. } | Op::AuditDropBefore(_) => "chat_audit",
        }
    }

    fn run(&self, c: &Connection) -> rusqlite::Result<usize> {
        match self {
            Op::LogPut {
                group_key,
                receiver,
                firing,
                resolved,
                at,
            } => c.execute(
                "INSERT INTO nflog (group_key, receiver, firing, resolved, at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(group_key, receiver) DO UPDATE SET firing = excluded.firing, resolved = excluded.resolved, at = excluded.at",
                params![group_key, receiver, firing, resolved, at],
            ),
            Op::LogDropBefore(cutoff) => c.execute("DELETE FROM nflog WHERE at < ?1", [cutoff]),
            Op::SilencePut { id, body } => c.execute(
                "INSERT INTO silences (id, body) VALUES (?1, ?2) ON CONFLICT(id) DO UPDATE SET body = excluded.body",
                params![id, body],
            ),
            Op::SilenceDrop(id) => c.execute("DELETE FROM silences WHERE id = ?1", params![id]),
            Op::AckPut {
                group_key,
                receiver,
                body,
            } => c.execute(
                "INSERT INTO acks (group_key, receiver, body) VALUES (?1, ?2, ?3)
                 ON CONFLICT(group_key, receiver) DO UPDATE SET body = excluded.body",
                params![group_key, receiver, body],
            ),
            Op::AckDrop {
                group_key,
                receiver,
            } => c.execute(
                "DELETE FROM acks WHERE group_key = ?1 AND receiver = ?2",
                params![group_key, receiver],
            ),
            Op::TokenPut { id, body, expires } => c.execute(
                "INSERT INTO chat_tokens (id, body, expires) VALUES (?1, ?2, ?3)
                 ON CONFLICT(id) DO UPDATE SET body = excluded.body, expires = excluded.expires",
                params![id, body, expires],
            ),
            Op::TokenDropBefore(t) => c.execute("DELETE FROM chat_tokens WHERE expires < ?1", [t]),
            Op::MessagePut {
                group_key,
                receiver,
                index,
                body,
            } => c.execute(
                "INSERT INTO chat_messages (group_key, receiver, idx, body) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(group_key, receiver, idx) DO UPDATE SET body = excluded.body",
                params![group_key, receiver, index, body],
            ),
            Op::MessageDrop {
                group_key,
                receiver,
                index,
            } => c.execute(
                "DELETE FROM chat_messages WHERE group_key = ?1 AND receiver = ?2 AND idx = ?3",
                params![group_key, receiver, index],
            ),
            Op::AuditPut {
                at,
                group_key,
                receiver,
                body,
            } => c.execute(
                "INSERT INTO chat_audit (at, group_key, receiver, body) VALUES (?1, ?2, ?3, ?4)",
                params![at, group_key, receiver, body],
            ),
            Op::AuditDropBefore(t) => c.execute("DELETE FROM chat_audit WHERE at < ?1", [t]),
        }
    }
}

type Job = (Op, Option<oneshot::Sender<Result<(), Error>>>);

/// The most writes committed together.
const MAX_BATCH: usize = 1024;

/// What `alerter.db` holds, each part writing through the same thread.
pub struct Stores {
    pub log: Log,
    pub silences: Silences,
    pub acks: Acks,
    pub chat: ChatState,
}

/// Opens the file at `path` once for its tables: the notification log
/// (entries older than `retention_ms` before `now` dropped), the
/// silences, the acknowledgements and the chat state (tokens expired
/// before `now` left out), written by one thread over one connection.
pub fn open_all(path: &Path, now: i64, retention_ms: i64) -> Result<Stores, Error> {
    let conn = open(path)?;
    let mut log = Log::read(&conn, path, now, retention_ms)?;
    let mut silences = Silences::read(&conn, path, now)?;
    let mut acks = Acks::read(&conn, path)?;
    let mut chat = ChatState::read(&conn, path, now, retention_ms)?;
    let writer = Writer::start(path, conn)?;
    log.set_writer(writer.clone());
    silences.set_writer(writer.clone());
    acks.set_writer(writer.clone());
    chat.set_writer(writer);
    Ok(Stores {
        log,
        silences,
        acks,
        chat,
    })
}

/// Opens (or creates) the file at `path` with its tables.
pub(crate) fn open(path: &Path) -> Result<Connection, Error> {
    let conn = Connection::open(path).map_err(|source| Error::Sqlite {
        path: path.to_path_buf(),
        table: "*",
        op: "open",
        source,
    })?;
    // FULL: a write the thread reports done survives a power loss, so a
    // counted send is never sent again.
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
         CREATE TABLE IF NOT EXISTS nflog (
             group_key TEXT NOT NULL, receiver TEXT NOT NULL,
             firing TEXT NOT NULL, resolved TEXT NOT NULL, at INTEGER NOT NULL,
             PRIMARY KEY (group_key, receiver));
         CREATE TABLE IF NOT EXISTS silences (id TEXT PRIMARY KEY, body TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS acks (
             group_key TEXT NOT NULL, receiver TEXT NOT NULL, body TEXT NOT NULL,
             PRIMARY KEY (group_key, receiver));
         CREATE TABLE IF NOT EXISTS chat_tokens (
             id TEXT PRIMARY KEY, body TEXT NOT NULL, expires INTEGER NOT NULL);
         CREATE TABLE IF NOT EXISTS chat_messages (
             group_key TEXT NOT NULL, receiver TEXT NOT NULL, idx INTEGER NOT NULL,
             body TEXT NOT NULL, PRIMARY KEY (group_key, receiver, idx));
         CREATE TABLE IF NOT EXISTS chat_keys (name TEXT PRIMARY KEY, key TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS chat_audit (
             seq INTEGER PRIMARY KEY, at INTEGER NOT NULL,
             group_key TEXT NOT NULL, receiver TEXT NOT NULL, body TEXT NOT NULL);",
    )
    .map_err(|source| Error::Sqlite {
        path: path.to_path_buf(),
        table: "*",
        op: "create tables",
        source,
    })?;
    Ok(conn)
}

struct Inner {
    path: PathBuf,
    tx: Option<mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Inner {
    /// Writes what was handed over before the file is let go.
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The writer thread of one connection; cheap to clone. The last clone
/// dropped waits for the writes handed over.
#[derive(Clone)]
pub(crate) struct Writer(Arc<Inner>);

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Writer({})", self.0.path.display())
    }
}

impl Writer {
    /// Starts the thread that owns `conn`.
    pub(crate) fn start(path: &Path, conn: Connection) -> Result<Writer, Error> {
        let (tx, rx) = mpsc::channel::<Job>();
        let p = path.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("alerter-sqlite".into())
            .spawn(move || {
                // Group commit: what was handed over while the last batch
                // was written goes in one transaction, so many writes share
                // one sync to disk; each still hears its own result, and
                // none hears success before the commit is on disk.
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    let in_tx = batch.len() > 1 && conn.execute_batch("BEGIN").is_ok();
                    let mut results: Vec<Result<(), Error>> = batch
                        .iter()
                        .map(|(op, _)| {
                            op.run(&conn).map(drop).map_err(|source| Error::Sqlite {
                                path: p.clone(),
                                table: op.table(),
                                op: "write",
                                source,
                            })
                        })
                        .collect();
                    if in_tx {
                        if let Err(source) = conn.execute_batch("COMMIT") {
                            let _ = conn.execute_batch("ROLLBACK");
                            let msg = source.to_string();
                            for (r, (op, _)) in results.iter_mut().zip(&batch) {
                                *r = Err(Error::Sqlite {
                                    path: p.clone(),
                                    table: op.table(),
                                    op: "commit",
                                    source: rusqlite::Error::SqliteFailure(
                                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
                                        Some(msg.clone()),
                                    ),
                                });
                            }
                        }
                    }
                    for ((_, done), r) in batch.into_iter().zip(results) {
                        match done {
                            Some(done) => {
                                let _ = done.send(r);
                            }
                            None => {
                                if let Err(e) = r {
                                    tracing::error!(error = %e, "alerter write failed");
                                }
                            }
                        }
                    }
                }
            })
            .map_err(|source| Error::Io {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Writer(Arc::new(Inner {
            path: path.to_path_buf(),
            tx: Some(tx),
            thread: Some(thread),
        })))
    }

    /// Hands a write over; await the answer to know it is on disk.
    pub(crate) fn write(&self, op: Op) -> Written {
        let (done, rx) = oneshot::channel();
        let sent = self
            .0
            .tx
            .as_ref()
            .is_some_and(|tx| tx.send((op, Some(done))).is_ok());
        if !sent {
            return Written(Some(Err(Error::WriterStopped {
                path: self.0.path.clone(),
            })));
        }
        Written(Some(Ok((self.0.path.clone(), rx))))
    }

    /// Hands a write over that no one waits for; a failure is logged.
    pub(crate) fn write_later(&self, op: Op) {
        let sent = self
            .0
            .tx
            .as_ref()
            .is_some_and(|tx| tx.send((op, None)).is_ok());
        if !sent {
            tracing::error!(path = %self.0.path.display(), "alerter writer stopped; a write was lost");
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0.path
    }
}

/// A write handed to the writer thread, or none (kept in memory only).
#[must_use = "a write is durable only once awaited"]
#[derive(Debug)]
pub struct Written(Option<Result<(PathBuf, Receiver), Error>>);

type Receiver = oneshot::Receiver<Result<(), Error>>;

impl Written {
    /// Nothing to wait for: the state is kept in memory only.
    pub fn none() -> Self {
        Written(None)
    }

    /// Waits until the write is on disk.
    pub async fn wait(self) -> Result<(), Error> {
        match self.0 {
            None => Ok(()),
            Some(Err(e)) => Err(e),
            Some(Ok((path, rx))) => rx.await.unwrap_or(Err(Error::WriterStopped { path })),
        }
    }

    /// [`Written::wait`] from a thread that is not async (tests, tools).
    pub fn wait_blocking(self) -> Result<(), Error> {
        match self.0 {
            None => Ok(()),
            Some(Err(e)) => Err(e),
            Some(Ok((path, rx))) => rx
                .blocking_recv()
                .unwrap_or(Err(Error::WriterStopped { path })),
        }
    }
}
