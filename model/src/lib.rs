//! The shared vocabulary of Watchfire. No I/O happens here, but for the
//! directory listing of [`glob`], the host name [`hostname`] reads once
//! and the certificate files the optional `tls` module (feature `tls`)
//! reads.
//!
//! Every other crate speaks in these types:
//!
//! - [`Labels`]: a series identity, label pairs sorted by name, cheap to clone
//!   (one reference-counted allocation) and with a stable [`Labels::fingerprint`].
//! - [`Matcher`]: a label matcher (`=`, `!=`, `=~`, `!~`) with Prometheus 3.x
//!   regex semantics (fully anchored, `.` matches newline, ASCII `\d \w \s \b`).
//! - [`Sample`] and the millisecond [`time`] helpers, including the
//!   [`sample::STALE_NAN`] bit pattern Prometheus uses for staleness markers.
//! - [`alert::Alert`] and the [`AlertSink`] seam: rules hand typed alerts
//!   to the built-in alerter or to external Alertmanagers.
//! - The storage seams: an [`Appender`] takes a batch of samples that commits
//!   atomically or rolls back; a [`Querier`] selects series by matchers over a
//!   time range and lists label names and values.
//!
//! Data flows from a producer (scraper, rule engine, importer) through an
//! `Appender` into a store, and from the store through a `Querier` into the
//! PromQL engine and the HTTP API.
//!
//! ```
//! use model::{Labels, Matcher, MatchOp};
//!
//! let labels = Labels::from_pairs([("__name__", "up"), ("job", "api")]);
//! let m = Matcher::new(MatchOp::RegexMatch, "job", "a.i").unwrap();
//! assert!(m.matches(labels.get("job").unwrap_or("")));
//! assert_eq!(labels.to_string(), r#"up{job="api"}"#);
//! ```

pub mod alert;
pub mod ci;
pub mod glob;
pub mod labels;
pub mod matcher;
pub mod mem;
pub mod memo;
pub mod metrics;
pub mod sample;
pub mod seeded;
pub mod size;
pub mod storage;
pub mod time;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(feature = "yaml")]
pub mod yaml;

pub use alert::AlertSink;
pub use labels::{Labels, LabelsBuilder, METRIC_NAME};
pub use matcher::{MatchOp, Matcher, MatcherError};
pub use sample::Sample;
pub use storage::{
    Appendable, Appender, CommitSummary, Querier, Series, SeriesRef, SeriesSet, StorageError,
};

/// An error and its sources, joined with ": " (as Go prints wrapped
/// errors).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// The machine's host name (as Go's `os.Hostname` reads it on Linux),
/// read once; `None` when it cannot be read.
pub fn hostname() -> Option<&'static str> {
    static NAME: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
    })
    .as_deref()
}
