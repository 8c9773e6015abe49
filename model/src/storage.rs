//! The seams between producers, the store and readers.
//!
//! A producer asks an [`Appendable`] for an [`Appender`], adds samples and
//! commits: the batch becomes visible and durable as a whole, or not at all.
//! A reader selects series through a [`Querier`]. [`crate::mem::MemStore`]
//! implements both in memory for tests of the crates above the store.

use std::collections::BTreeSet;

use crate::{Labels, Matcher, Sample};

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The input was refused (an empty label set, an invalid name).
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The store was closed.
    #[error("storage is closed")]
    Closed,
    /// Reading or writing failed; the message reads like a path to the cause.
    #[error("{0}")]
    Io(String),
}

/// What a commit did with the samples it was given. Rejected samples are
/// dropped one by one; the rest of the batch still commits.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CommitSummary {
    /// Samples written.
    pub appended: usize,
    /// Series created by this batch.
    pub new_series: usize,
    /// Samples older than their series' newest sample.
    pub out_of_order: usize,
    /// Samples at an existing timestamp with a different value. A repeat of
    /// the same timestamp and value is ignored without counting, as in
    /// Prometheus.
    pub duplicate: usize,
}

impl CommitSummary {
    /// Samples refused by the commit.
    pub fn rejected(&self) -> usize {
        self.out_of_order + self.duplicate
    }
}

/// A store's handle on a series, valid while the series lives; 0 is none.
/// A producer that writes the same series again and again (a scrape loop)
/// hands it back to skip the lookup by labels.
pub type SeriesRef = u64;

/// A batch of samples on its way into a store.
pub trait Appender: Send {
    /// Adds a sample to the batch. Nothing is visible before [`Appender::commit`].
    fn append(&mut self, labels: &Labels, t: i64, v: f64) -> Result<(), StorageError>;
    /// Like [`Appender::append`], with the series' reference from an
    /// earlier [`Appender::refs`] as a hint (0: none). A store checks the
    /// hint against `labels`, so a stale one costs only the lookup it was
    /// meant to save.
    fn append_hinted(
        &mut self,
        hint: SeriesRef,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> Result<(), StorageError> {
        let _ = hint;
        self.append(labels, t, v)
    }
    /// After a commit: the reference of each appended sample's series, in
    /// append order (0 where the store has none). Empty for a store without
    /// references.
    fn refs(&self) -> &[SeriesRef] {
        &[]
    }
    /// After a commit: replaces each label set in `sets` by the store's
    /// own copy of the series `r` names, where the store has one with the
    /// same pairs. A producer that keeps its label sets (a scrape cache)
    /// then shares one allocation with the store instead of holding a
    /// second copy, as it would after a restart, when the store's sets
    /// come from its WAL. A store without its own copies leaves `sets` as
    /// they are.
    fn share_labels(&self, sets: &mut [(SeriesRef, Labels)]) {
        let _ = sets;
    }
    /// Makes the batch visible and durable as one unit and starts a new one.
    fn commit(&mut self) -> Result<CommitSummary, StorageError>;
    /// Appends `batch` (hint, labels, time, value) to what was appended so
    /// far and commits it all as one unit, as [`Appender::append_hinted`]
    /// for each sample then [`Appender::commit`] would; a store may read
    /// the labels in place instead of copying them. A sample that
    /// `append_hinted` would refuse is left out. [`Appender::refs`] then
    /// has one reference per sample appended before and per sample of
    /// `batch` (0 for one left out).
    fn commit_with(
        &mut self,
        batch: &[(SeriesRef, &Labels, i64, f64)],
    ) -> Result<CommitSummary, StorageError> {
        for &(hint, labels, t, v) in batch {
            let _ = self.append_hinted(hint, labels, t, v);
        }
        self.commit()
    }
    /// Drops the batch.
    fn rollback(&mut self);
}

/// Something that hands out appenders.
pub trait Appendable: Send + Sync {
    /// A new, empty batch.
    fn appender(&self) -> Box<dyn Appender>;
}

/// One selected series and its samples in the requested range, in time order.
#[derive(Debug, Clone)]
pub struct Series {
    /// The series identity.
    pub labels: Labels,
    /// Samples with `mint <= t <= maxt`, ascending.
    pub samples: Vec<Sample>,
}

/// Selected series in label order. A series is read when the iterator
/// reaches it, so an error can surface midway.
pub type SeriesSet = Box<dyn Iterator<Item = Result<Series, StorageError>> + Send>;

/// Read access to stored series.
pub trait Querier: Send + Sync {
    /// Series matching all `matchers` that have at least one sample in
    /// `[mint, maxt]`, sorted by labels.
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64)
        -> Result<SeriesSet, StorageError>;
    /// What [`select`](Querier::select) gives, cut into at most `parts`
    /// consecutive runs (in label order, so reading them one after the
    /// other gives `select`'s order), each read on its own, so that
    /// several threads can read one selection. A store cuts only a
    /// selection big enough to be worth it; by default it is not cut.
    fn select_parts(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        parts: usize,
    ) -> Result<Vec<SeriesSet>, StorageError> {
        let _ = parts;
        Ok(vec![self.select(matchers, mint, maxt)?])
    }
    /// Calls `f` with the labels of each series matching `matchers` (all
    /// series when empty) with data in `[mint, maxt]`, in any order; what
    /// [`label_names`](Querier::label_names) and
    /// [`label_values`](Querier::label_values) are built on. By default the
    /// series are [`select`](Querier::select)ed; a store that can list them
    /// without reading their samples does so instead.
    fn each_label_set(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        f: &mut dyn FnMut(&Labels),
    ) -> Result<(), StorageError> {
        for s in self.select(matchers, mint, maxt)? {
            f(&s?.labels);
        }
        Ok(())
    }
    /// Sorted label names of the series matching `matchers` (all series when
    /// empty) with data in `[mint, maxt]`.
    fn label_names(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, StorageError> {
        let mut names = BTreeSet::new();
        self.each_label_set(matchers, mint, maxt, &mut |l| {
            names.extend(l.iter().map(|(n, _)| n.to_string()))
        })?;
        Ok(names.into_iter().collect())
    }
    /// Sorted values of label `name` over the series matching `matchers`
    /// (all series when empty) with data in `[mint, maxt]`.
    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, StorageError> {
        let mut values = BTreeSet::new();
        self.each_label_set(matchers, mint, maxt, &mut |l| {
            values.extend(l.get(name).map(str::to_string))
        })?;
        Ok(values.into_iter().collect())
    }
}

/// Whether `labels` satisfies every matcher (absent labels match as "").
pub fn matches_all(labels: &Labels, matchers: &[Matcher]) -> bool {
    matchers
        .iter()
        .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
}
