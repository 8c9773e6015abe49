//! Writes that fail: a full disk, a read-only file system, an I/O error.
//!
//! Every failure is counted by the caller; here it is remembered, so that
//! a status page can say what fails and since when, and logged at most
//! once every [`LOG_EVERY`] per kind of write, with the number of failures
//! in between, so a full disk under a busy scrape loop does not flood the
//! log. The first success after a failure clears it and says so. Nothing
//! here stops a write from being tried again: the store recovers by itself
//! once the cause is gone.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// How often one kind of failing write is logged at most.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// The writes the store makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// A commit's record to the write-ahead log.
    Wal,
    /// Completed chunks and new series to SQLite.
    Flush,
    /// A WAL checkpoint file.
    Checkpoint,
}

impl Write {
    const ALL: [Write; 3] = [Write::Wal, Write::Flush, Write::Checkpoint];

    /// How a person would name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Write::Wal => "WAL write",
            Write::Flush => "flush to SQLite",
            Write::Checkpoint => "WAL checkpoint",
        }
    }
}

/// A kind of write that is failing now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failing {
    /// Which write.
    pub write: Write,
    /// The latest error.
    pub error: String,
    /// When it began to fail, in Unix milliseconds.
    pub since_ms: i64,
    /// Failures since then.
    pub count: u64,
}

impl std::fmt::Display for Failing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} failing since {} ({} failures): {}",
            self.write.as_str(),
            model::time::format_rfc3339(self.since_ms),
            self.count,
            self.error
        )
    }
}

#[derive(Default)]
struct Slot {
    failing: Option<Failing>,
    logged: Option<Instant>,
    unlogged: u64,
}

/// The failure state of each kind of write.
#[derive(Default)]
pub(crate) struct Failures {
    slots: Mutex<[Slot; 3]>,
}

impl Failures {
    /// Records a failure of `write` and logs it unless it was logged less
    /// than [`LOG_EVERY`] ago.
    pub(crate) fn failed(&self, write: Write, error: &dyn std::fmt::Display) {
        let error = error.to_string();
        let mut slots = self.slots.lock();
        let slot = &mut slots[write as usize];
        let f = slot.failing.get_or_insert_with(|| Failing {
            write,
            error: String::new(),
            since_ms: model::time::now_ms(),
            count: 0,
        });
        f.count += 1;
        f.error = error;
        if slot.logged.is_some_and(|t| t.elapsed() < LOG_EVERY) {
            slot.unlogged += 1;
            return;
        }
        tracing::error!(
            write = write.as_str(),
            error = %f.error,
            failures = f.count,
            "storage write failed ({} more since the last report); retried until it succeeds",
            slot.unlogged
        );
        slot.logged = Some(Instant::now());
        slot.unlogged = 0;
    }

    /// Records a success of `write`; the first after failures is logged.
    pub(crate) fn succeeded(&self, write: Write) {
        let mut slots = self.slots.lock();
        let slot = &mut slots[write as usize];
        if let Some(f) = slot.failing.take() {
            tracing::info!(
                write = write.as_str(),
                failures = f.count,
                "storage write succeeds again"
            );
            *slot = Slot::default();
        }
    }

    /// The kinds of write failing now.
    pub(crate) fn failing(&self) -> Vec<Failing> {
        let slots = self.slots.lock();
        Write::ALL
            .iter()
            .filter_map(|w| slots[*w as usize].failing.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_remembered_until_a_success() {
        let f = Failures::default();
        assert!(f.failing().is_empty());
        f.failed(Write::Wal, &"No space left on device");
        f.failed(Write::Wal, &"No space left on device (again)");
        f.failed(Write::Checkpoint, &"No space left on device");
        let now = f.failing();
        assert_eq!(now.len(), 2, "{now:?}");
        assert_eq!(now[0].write, Write::Wal);
        assert_eq!(now[0].count, 2);
        assert_eq!(now[0].error, "No space left on device (again)");
        assert!(now[0].to_string().starts_with("WAL write failing since "));
        f.succeeded(Write::Wal);
        let now = f.failing();
        assert_eq!(now.len(), 1);
        assert_eq!(now[0].write, Write::Checkpoint);
        f.succeeded(Write::Flush);
        assert_eq!(f.failing().len(), 1);
    }
}
