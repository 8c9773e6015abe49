//! Cardinality statistics for `/api/v1/status/tsdb` (upstream
//! `tsdb/index/postingsstats.go`): the head's series by metric name, label
//! value counts, and the like, each list the top `limit` by count.

use std::collections::HashMap;

use crate::Store;

/// A name and a count, as the API lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub name: String,
    pub value: u64,
}

/// What `/api/v1/status/tsdb` reports.
#[derive(Debug, Clone, Default)]
pub struct TsdbStats {
    pub num_series: u64,
    pub num_label_pairs: u64,
    pub chunk_count: u64,
    /// Oldest and newest sample timestamps known to the head (ms).
    pub min_time: i64,
    pub max_time: i64,
    pub series_count_by_metric_name: Vec<Stat>,
    pub label_value_count_by_label_name: Vec<Stat>,
    pub memory_in_bytes_by_label_name: Vec<Stat>,
    pub series_count_by_label_value_pair: Vec<Stat>,
}

fn top(map: HashMap<String, u64>, limit: usize) -> Vec<Stat> {
    let mut v: Vec<Stat> = map
        .into_iter()
        .map(|(name, value)| Stat { name, value })
        .collect();
    v.sort_by(|a, b| b.value.cmp(&a.value).then_with(|| a.name.cmp(&b.name)));
    v.truncate(limit);
    v
}

impl Store {
    /// Cardinality statistics over every series the store knows.
    pub fn stats(&self, limit: usize) -> TsdbStats {
        let st = self.inner.state.read();
        let head = &st.head;
        let mut by_name: HashMap<String, u64> = HashMap::new();
        let mut values: HashMap<&str, std::collections::HashSet<&str>> = HashMap::new();
        let mut memory: HashMap<String, u64> = HashMap::new();
        let mut pairs: HashMap<String, u64> = HashMap::new();
        let (mut min, mut max) = (i64::MAX, i64::MIN);
        for s in head.series.values() {
            if let Some(n) = s.labels.metric_name() {
                *by_name.entry(n.to_string()).or_default() += 1;
            }
            for (n, v) in s.labels.iter() {
                values.entry(n).or_default().insert(v);
                *memory.entry(n.to_string()).or_default() += v.len() as u64;
                *pairs.entry(format!("{n}={v}")).or_default() += 1;
            }
            if s.last_t() != i64::MIN {
                min = min.min(s.min_t);
                max = max.max(s.last_t());
            }
        }
        let num_label_pairs = values.values().map(|v| v.len() as u64).sum();
        let label_values: HashMap<String, u64> = values
            .into_iter()
            .map(|(n, v)| (n.to_string(), v.len() as u64))
            .collect();
        TsdbStats {
            num_series: head.series.len() as u64,
            num_label_pairs,
            chunk_count: head.chunk_count() as u64,
            min_time: if min == i64::MAX { 0 } else { min },
            max_time: if max == i64::MIN { 0 } else { max },
            series_count_by_metric_name: top(by_name, limit),
            label_value_count_by_label_name: top(label_values, limit),
            memory_in_bytes_by_label_name: top(memory, limit),
            series_count_by_label_value_pair: top(pairs, limit),
        }
    }
}

#[cfg(test)]
mod tests {
    use model::{Appender, Labels};

    #[test]
    fn counts_and_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open(
            dir.path(),
            crate::Options {
                background: false,
                retention_time: None,
                ..Default::default()
            },
        )
        .unwrap();
        let mut app = store.appender();
        for (name, job) in [("a", "x"), ("a", "y"), ("b", "x")] {
            app.append(
                &Labels::from_pairs([("__name__", name), ("job", job)]),
                1000,
                1.0,
            )
            .unwrap();
        }
        app.commit().unwrap();
        let s = store.stats(10);
        assert_eq!(
            (s.num_series, s.num_label_pairs, s.min_time, s.max_time),
            (3, 4, 1000, 1000)
        );
        assert_eq!(s.series_count_by_metric_name[0].name, "a");
        assert_eq!(s.series_count_by_metric_name[0].value, 2);
        // Ties sort by name: __name__=a and job=x both have 2 series.
        assert_eq!(s.series_count_by_label_value_pair[0].name, "__name__=a");
        assert_eq!(s.series_count_by_label_value_pair[1].name, "job=x");
        assert_eq!(store.stats(1).label_value_count_by_label_name.len(), 1);
    }
}
