//! The in-memory postings index: label pair to sorted series references.

use std::collections::HashMap;
use std::sync::Arc;

use model::{Labels, Matcher};

/// Label name → value → series references, ascending. References are
/// handed out in increasing order, so appending keeps every list sorted.
#[derive(Default)]
pub(crate) struct Postings {
    index: HashMap<Arc<str>, HashMap<Arc<str>, Vec<u64>>>,
    all: Vec<u64>,
}

impl Postings {
    pub(crate) fn add(&mut self, r: u64, labels: &Labels) {
        insert_sorted(&mut self.all, r);
        for (n, v) in labels.iter() {
            let values = match self.index.get_mut(n) {
                Some(values) => values,
                None => self.index.entry(Arc::from(n)).or_default(),
            };
            let refs = match values.get_mut(v) {
                Some(refs) => refs,
                None => values.entry(Arc::from(v)).or_default(),
            };
            insert_sorted(refs, r);
        }
    }

    pub(crate) fn remove(&mut self, r: u64, labels: &Labels) {
        remove_sorted(&mut self.all, r);
        for (n, v) in labels.iter() {
            let Some(values) = self.index.get_mut(n) else {
                continue;
            };
            if let Some(refs) = values.get_mut(v) {
                remove_sorted(refs, r);
                if refs.is_empty() {
                    values.remove(v);
                }
            }
            if values.is_empty() {
                self.index.remove(n);
            }
        }
    }

    /// References of the series that satisfy every matcher, ascending.
    /// `labels_of` resolves a reference for matchers the index cannot answer
    /// (those that accept an absent label).
    pub(crate) fn select<'a>(
        &self,
        matchers: &[Matcher],
        labels_of: impl Fn(u64) -> Option<&'a Labels>,
    ) -> Vec<u64> {
        let mut result: Option<Vec<u64>> = None;
        let mut residual = Vec::new();
        for m in matchers {
            if m.matches_empty() {
                residual.push(m);
                continue;
            }
            let refs = self.matching(m);
            result = Some(match result {
                None => refs,
                Some(acc) => intersect(&acc, &refs),
            });
            if result.as_ref().is_some_and(Vec::is_empty) {
                return Vec::new();
            }
        }
        let mut refs = result.unwrap_or_else(|| self.all.clone());
        if !residual.is_empty() {
            refs.retain(|&r| {
                labels_of(r).is_some_and(|l| {
                    residual
                        .iter()
                        .all(|m| m.matches(l.get(&m.name).unwrap_or("")))
                })
            });
        }
        refs
    }

    /// Union of the lists of every value of `m.name` that `m` accepts.
    fn matching(&self, m: &Matcher) -> Vec<u64> {
        let Some(values) = self.index.get(m.name.as_str()) else {
            return Vec::new();
        };
        let lists: Vec<&Vec<u64>> = match m.set_values() {
            Some(set) => set.iter().filter_map(|v| values.get(*v)).collect(),
            None => values
                .iter()
                .filter(|(v, _)| m.matches(v))
                .map(|(_, refs)| refs)
                .collect(),
        };
        match lists.len() {
            0 => Vec::new(),
            1 => lists[0].clone(),
            _ => {
                let mut out: Vec<u64> = lists.into_iter().flatten().copied().collect();
                out.sort_unstable();
                out.dedup();
                out
            }
        }
    }
}

fn insert_sorted(v: &mut Vec<u64>, r: u64) {
    match v.last() {
        Some(&last) if last >= r => {
            if let Err(i) = v.binary_search(&r) {
                v.insert(i, r);
            }
        }
        _ => v.push(r),
    }
}

fn remove_sorted(v: &mut Vec<u64>, r: u64) {
    if let Ok(i) = v.binary_search(&r) {
        v.remove(i);
    }
}

fn intersect(a: &[u64], b: &[u64]) -> Vec<u64> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(a.len().min(b.len()));
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::MatchOp;

    #[test]
    fn select_against_naive_filter() {
        let series: Vec<Labels> = (0..60)
            .map(|i| {
                Labels::from_pairs([
                    ("__name__", if i % 2 == 0 { "a" } else { "b" }.to_string()),
                    ("i", i.to_string()),
                    (
                        "m",
                        if i % 3 == 0 {
                            String::new()
                        } else {
                            (i % 5).to_string()
                        },
                    ),
                ])
            })
            .collect();
        let mut p = Postings::default();
        for (r, l) in series.iter().enumerate() {
            p.add(r as u64, l);
        }
        p.remove(10, &series[10]);
        let cases: Vec<Vec<Matcher>> = vec![
            vec![Matcher::equal("__name__", "a")],
            vec![
                Matcher::equal("__name__", "a"),
                Matcher::new(MatchOp::RegexMatch, "m", "1|2").unwrap(),
            ],
            vec![Matcher::new(MatchOp::NotEqual, "m", "1").unwrap()],
            vec![Matcher::equal("m", "")],
            vec![
                Matcher::new(MatchOp::RegexMatch, "i", "1.*").unwrap(),
                Matcher::new(MatchOp::RegexNoMatch, "m", "").unwrap(),
            ],
            vec![Matcher::equal("nope", "x")],
            vec![],
        ];
        for ms in cases {
            let got = p.select(&ms, |r| series.get(r as usize));
            let want: Vec<u64> = (0..60u64)
                .filter(|&r| r != 10 && model::storage::matches_all(&series[r as usize], &ms))
                .collect();
            assert_eq!(got, want, "matchers {ms:?}");
        }
    }
}
