//! Batches of samples and their atomic commit.

use std::sync::Arc;

use model::{Appendable, Appender, CommitSummary, Labels, SeriesRef, StorageError};

use crate::failure::Write;
use crate::head::Pending;
use crate::wal::record;
use crate::{Error, Inner, Store};

/// A batch for [`Store`]. Nothing is visible or durable before
/// [`Appender::commit`]; a commit writes one WAL record, so a crash keeps
/// the whole batch or none of it.
pub struct StoreAppender {
    inner: Arc<Inner>,
    /// Samples appended one by one: labels, hint, time, value.
    batch: Vec<(Labels, SeriesRef, i64, f64)>,
    buf: Vec<u8>,
    refs: Vec<SeriesRef>,
}

impl Appender for StoreAppender {
    fn append(&mut self, labels: &Labels, t: i64, v: f64) -> Result<(), StorageError> {
        self.append_hinted(0, labels, t, v)
    }

    fn append_hinted(
        &mut self,
        hint: SeriesRef,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> Result<(), StorageError> {
        if labels.is_empty() {
            return Err(StorageError::Invalid(
                "a series needs at least one label".into(),
            ));
        }
        self.batch.push((labels.clone(), hint, t, v));
        Ok(())
    }

    fn commit(&mut self) -> Result<CommitSummary, StorageError> {
        self.commit_with(&[])
    }

    /// The labels of `batch` are read in place: a scrape of a thousand
    /// series copies no label set (each copy touches the set's memory, a
    /// cache miss per series).
    fn commit_with(
        &mut self,
        batch: &[(SeriesRef, &Labels, i64, f64)],
    ) -> Result<CommitSummary, StorageError> {
        let mut all: Vec<Pending<'_>> = Vec::with_capacity(self.batch.len() + batch.len());
        all.extend(self.batch.iter().map(|(labels, hint, t, v)| Pending {
            labels,
            hint: *hint,
            t: *t,
            v: *v,
        }));
        // Samples without labels are left out, as `append` refuses them;
        // their references are 0.
        let valid = |l: &Labels| !l.is_empty();
        all.extend(
            batch
                .iter()
                .filter(|s| valid(s.1))
                .map(|&(hint, labels, t, v)| Pending { labels, hint, t, v }),
        );
        let sum = self.inner.commit(&all, &mut self.buf, &mut self.refs);
        drop(all);
        self.batch.clear();
        if sum.is_err() {
            self.refs.clear();
        } else if batch.iter().any(|s| !valid(s.1)) {
            // A 0 in place of each sample left out.
            let kept = batch.iter().filter(|s| valid(s.1)).count();
            let mut given = self
                .refs
                .split_off(self.refs.len().saturating_sub(kept))
                .into_iter();
            self.refs.extend(batch.iter().map(|s| match valid(s.1) {
                true => given.next().unwrap_or(0),
                false => 0,
            }));
        }
        Ok(sum?)
    }

    fn refs(&self) -> &[SeriesRef] {
        &self.refs
    }

    fn share_labels(&self, sets: &mut [(SeriesRef, Labels)]) {
        if sets.is_empty() {
            return;
        }
        let st = self.inner.state.read();
        for (r, labels) in sets.iter_mut() {
            if let Some(s) = st.head.series.get(r) {
                if s.labels == *labels {
                    *labels = s.labels.clone();
                }
            }
        }
    }

    fn rollback(&mut self) {
        self.batch.clear();
    }
}

impl Inner {
    fn commit(
        &self,
        batch: &[Pending<'_>],
        buf: &mut Vec<u8>,
        refs: &mut Vec<u64>,
    ) -> Result<CommitSummary, Error> {
        refs.clear();
        if batch.is_empty() {
            return Ok(CommitSummary::default());
        }
        let mut st = self.state.write();
        if st.closed {
            return Err(Error::Closed);
        }
        let (rec, sum) = st.head.prepare(batch, refs);
        let m = &self.metrics;
        m.out_of_order.add(sum.out_of_order as u64);
        m.duplicate.add(sum.duplicate as u64);
        if rec.samples.is_empty() && rec.ooo.is_empty() {
            // Nothing to write; new series (none can be new without a
            // sample) and references stay as they are.
            return Ok(sum);
        }
        buf.clear();
        record::encode_batch(&rec, buf);
        let index = st.wal.index();
        if let Err(e) = st.wal.log(buf) {
            let e = Error::io(format!("write WAL segment {index}"))(e);
            m.wal_writes_failed.inc();
            self.failures.failed(Write::Wal, &e);
            return Err(e);
        }
        self.failures.succeeded(Write::Wal);
        st.head.apply(rec).map_err(|reason| Error::Corrupt {
            file: self.dir.clone(),
            reason,
        })?;
        m.samples_appended.add(sum.appended as u64);
        m.series_created.add(sum.new_series as u64);
        m.head_series.set(st.head.series.len() as f64);
        drop(st);
        if self.opts.wal_fsync_interval.is_zero() {
            // `--storage.wal.fsync-interval 0`: durable when commit returns.
            self.sync_wal()?;
        }
        Ok(sum)
    }
}

impl Store {
    /// A new batch.
    pub fn appender(&self) -> StoreAppender {
        StoreAppender {
            inner: self.inner.clone(),
            batch: Vec::new(),
            buf: Vec::new(),
            refs: Vec::new(),
        }
    }
}

impl Appendable for Store {
    fn appender(&self) -> Box<dyn Appender> {
        Box::new(Store::appender(self))
    }
}
