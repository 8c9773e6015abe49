//! The alerter's error: what failed, with context that reads like a path
//! (`/data/alerter.db: nflog: write: disk I/O error`,
//! `alertmanager.yml: inhibit_rules[1].source_matchers: …`).

use std::path::PathBuf;

/// Why an alerter operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `alertmanager.yml` is refused: file, line and upstream's reason.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// A part of a configuration (or of a posted silence or alert) is
    /// invalid; `what` names the part.
    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The SQLite file failed: its path, the table and what was done.
    #[error("{}: {table}: {op}: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        table: &'static str,
        op: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    /// A row read back from the SQLite file does not parse.
    #[error("{}: {table} {key}: {reason}", path.display())]
    Corrupt {
        path: PathBuf,
        table: &'static str,
        key: String,
        reason: String,
    },
    /// The SQLite file's writer thread is gone, so a write was not made.
    #[error("{}: the writer stopped", path.display())]
    WriterStopped { path: PathBuf },
    /// A label matcher does not parse or compile, in upstream's words.
    #[error("{0}")]
    BadMatcher(String),
    /// A time interval (or its location) is invalid, in upstream's words.
    #[error("{0}")]
    BadTimeInterval(String),
    /// A posted (or handed-over) alert is refused, in upstream's words.
    #[error("{0}")]
    BadAlert(String),
    /// A posted silence is refused, in upstream's words.
    #[error("{0}")]
    BadSilence(String),
    /// A template file could not be read or parsed.
    #[error("{}: {reason}", path.display())]
    Template { path: PathBuf, reason: String },
    /// No silence has this id.
    #[error("silence {0} not found")]
    SilenceNotFound(String),
    /// The silence ended; it can no longer change.
    #[error("silence {0} is already expired")]
    SilenceExpired(String),
    /// The operating system's random source failed.
    #[error("no random numbers from the operating system: {0}")]
    Random(String),
}

impl Error {
    /// An [`Error::Invalid`] for `what`.
    pub fn invalid(what: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Error::Invalid {
            what: what.into(),
            reason: reason.to_string(),
        }
    }
}
