//! An in-memory store for tests of the crates above the real one.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::storage::{
    matches_all, Appendable, Appender, CommitSummary, Querier, Series, SeriesSet, StorageError,
};
use crate::{Labels, Matcher, Sample};

/// A store that keeps every series in a sorted map. Same commit rules as the
/// real store: out-of-order and conflicting duplicate samples are rejected
/// and counted.
#[derive(Clone, Default)]
pub struct MemStore {
    series: Arc<Mutex<BTreeMap<Labels, Vec<Sample>>>>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Labels, Vec<Sample>>> {
        // A panic in another test thread must not hide this one's data.
        self.series.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct MemAppender {
    store: MemStore,
    batch: Vec<(Labels, Sample)>,
}

impl Appender for MemAppender {
    fn append(&mut self, labels: &Labels, t: i64, v: f64) -> Result<(), StorageError> {
        if labels.is_empty() {
            return Err(StorageError::Invalid("empty label set".into()));
        }
        self.batch.push((labels.clone(), Sample::new(t, v)));
        Ok(())
    }

    fn commit(&mut self) -> Result<CommitSummary, StorageError> {
        let mut sum = CommitSummary::default();
        let mut map = self.store.lock();
        for (labels, s) in self.batch.drain(..) {
            let samples = map.entry(labels).or_insert_with(|| {
                sum.new_series += 1;
                Vec::new()
            });
            match samples.last() {
                Some(last) if s.t < last.t => sum.out_of_order += 1,
                Some(last) if s.t == last.t => {
                    if s.v.to_bits() != last.v.to_bits() {
                        sum.duplicate += 1;
                    }
                }
                _ => {
                    samples.push(s);
                    sum.appended += 1;
                }
            }
        }
        map.retain(|_, v| !v.is_empty());
        Ok(sum)
    }

    fn rollback(&mut self) {
        self.batch.clear();
    }
}

impl Appendable for MemStore {
    fn appender(&self) -> Box<dyn Appender> {
        Box::new(MemAppender {
            store: self.clone(),
            batch: Vec::new(),
        })
    }
}

impl MemStore {
    fn matching(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Series> {
        self.lock()
            .iter()
            .filter(|(l, _)| matches_all(l, matchers))
            .filter_map(|(l, s)| {
                let samples: Vec<Sample> = s
                    .iter()
                    .filter(|s| s.t >= mint && s.t <= maxt)
                    .copied()
                    .collect();
                (!samples.is_empty()).then(|| Series {
                    labels: l.clone(),
                    samples,
                })
            })
            .collect()
    }
}

impl Querier for MemStore {
    fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<SeriesSet, StorageError> {
        Ok(Box::new(
            self.matching(matchers, mint, maxt).into_iter().map(Ok),
        ))
    }

    /// Cuts every selection of two series or more, however small, so that
    /// tests over this store exercise the readers that take a selection
    /// in parts.
    fn select_parts(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        parts: usize,
    ) -> Result<Vec<SeriesSet>, StorageError> {
        let all = self.matching(matchers, mint, maxt);
        let per = all.len().div_ceil(parts.max(1)).max(1);
        let mut out: Vec<SeriesSet> = Vec::new();
        let mut it = all.into_iter().peekable();
        while it.peek().is_some() {
            let part: Vec<Series> = it.by_ref().take(per).collect();
            out.push(Box::new(part.into_iter().map(Ok)));
        }
        if out.is_empty() {
            out.push(Box::new(std::iter::empty()));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_rejects_out_of_order_and_conflicts() {
        let store = MemStore::new();
        let l = Labels::from_pairs([("__name__", "x")]);
        let mut app = store.appender();
        for (t, v) in [(10, 1.0), (5, 2.0), (10, 1.0), (10, 3.0), (20, 4.0)] {
            app.append(&l, t, v).unwrap();
        }
        let sum = app.commit().unwrap();
        assert_eq!(
            sum,
            CommitSummary {
                appended: 2,
                new_series: 1,
                out_of_order: 1,
                duplicate: 1
            }
        );
        let got: Vec<_> = store
            .select(&[], 0, 100)
            .unwrap()
            .map(|s| s.unwrap().samples.len())
            .collect();
        assert_eq!(got, vec![2]);
    }

    #[test]
    fn label_names_and_values_come_from_the_selected_series() {
        let store = MemStore::new();
        let mut app = store.appender();
        for (labels, t) in [
            (&[("__name__", "up"), ("job", "b")][..], 10),
            (&[("__name__", "up"), ("job", "a"), ("zone", "z")][..], 20),
            (&[("__name__", "other"), ("job", "c")][..], 200),
        ] {
            app.append(&Labels::from_pairs(labels.iter().copied()), t, 1.0)
                .unwrap();
        }
        app.commit().unwrap();
        let up = [Matcher::new(crate::MatchOp::Equal, "__name__", "up").unwrap()];
        // (matchers, mint, maxt, want names, want job values)
        let cases = [
            (
                &[][..],
                0,
                1000,
                &["__name__", "job", "zone"][..],
                &["a", "b", "c"][..],
            ),
            (&up[..], 0, 15, &["__name__", "job"][..], &["b"][..]),
            (&[][..], 300, 400, &[][..], &[][..]),
        ];
        for (matchers, mint, maxt, names, values) in cases {
            let got = store.label_names(matchers, mint, maxt).unwrap();
            assert_eq!(got, names, "names of {matchers:?} in [{mint}, {maxt}]");
            let got = store.label_values("job", matchers, mint, maxt).unwrap();
            assert_eq!(
                got, values,
                "job values of {matchers:?} in [{mint}, {maxt}]"
            );
        }
    }
}
