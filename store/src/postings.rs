//! The in-memory postings index: label pair to sorted series references.

use std::collections::HashMap;
use std::sync::Arc;

use model::{Labels, Matcher};

/// Label name → value → series references, ascending. References are
/// handed out in increasing order, so appending keeps every list sorted.
#[derive(Default)]
pub(crate) struct Postings {
    index: HashMap<Arc<str>, HashMap<Arc<str>, Refs>>,
    all: Refs,
}

/// A sorted list of series references. References start at 1 and rarely
/// pass `u32::MAX` (four billion series created in one store), so a list
/// keeps them in 32 bits, half the memory, until one that does not fit
/// arrives; then that list alone widens to 64 bits.
#[derive(Debug)]
enum Refs {
    Narrow(Vec<u32>),
    Wide(Vec<u64>),
}

impl Default for Refs {
    fn default() -> Self {
        Refs::Narrow(Vec::new())
    }
}

impl Refs {
    fn insert(&mut self, r: u64) {
        match self {
            Refs::Narrow(v) => match u32::try_from(r) {
                Ok(r) => insert_sorted(v, r),
                Err(_) => {
                    let mut wide: Vec<u64> = v.iter().map(|&x| u64::from(x)).collect();
                    insert_sorted(&mut wide, r);
                    *self = Refs::Wide(wide);
                }
            },
            Refs::Wide(v) => insert_sorted(v, r),
        }
    }

    fn remove(&mut self, r: u64) {
        match self {
            Refs::Narrow(v) => {
                if let Ok(r) = u32::try_from(r) {
                    remove_sorted(v, r);
                }
            }
            Refs::Wide(v) => remove_sorted(v, r),
        }
    }

    fn len(&self) -> usize {
        match self {
            Refs::Narrow(v) => v.len(),
            Refs::Wide(v) => v.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn extend_into(&self, out: &mut Vec<u64>) {
        match self {
            Refs::Narrow(v) => out.extend(v.iter().map(|&x| u64::from(x))),
            Refs::Wide(v) => out.extend_from_slice(v),
        }
    }

    fn to_vec(&self) -> Vec<u64> {
        let mut out = Vec::with_capacity(self.len());
        self.extend_into(&mut out);
        out
    }
}

impl Postings {
    pub(crate) fn add(&mut self, r: u64, labels: &Labels) {
        self.all.insert(r);
        for (n, v) in labels.iter() {
            let values = match self.index.get_mut(n) {
                Some(values) => values,
                None => self.index.entry(Arc::from(n)).or_default(),
            };
            let refs = match values.get_mut(v) {
                Some(refs) => refs,
                None => values.entry(Arc::from(v)).or_default(),
            };
            refs.insert(r);
        }
    }

    pub(crate) fn remove(&mut self, r: u64, labels: &Labels) {
        self.all.remove(r);
        for (n, v) in labels.iter() {
            let Some(values) = self.index.get_mut(n) else {
                continue;
            };
            if let Some(refs) = values.get_mut(v) {
                refs.remove(r);
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
        let mut refs = result.unwrap_or_else(|| self.all.to_vec());
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
        let lists: Vec<&Refs> = match m.set_values() {
            Some(set) => set.iter().filter_map(|v| values.get(*v)).collect(),
            None => values
                .iter()
                .filter(|(v, _)| m.matches(v))
                .map(|(_, refs)| refs)
                .collect(),
        };
        match lists.len() {
            0 => Vec::new(),
            1 => lists[0].to_vec(),
            _ => {
                let mut out = Vec::new();
                for l in lists {
                    l.extend_into(&mut out);
                }
                out.sort_unstable();
                out.dedup();
                out
            }
        }
    }
}

fn insert_sorted<T: Ord + Copy>(v: &mut Vec<T>, r: T) {
    match v.last() {
        Some(&last) if last >= r => {
            if let Err(i) = v.binary_search(&r) {
                v.insert(i, r);
            }
        }
        _ => v.push(r),
    }
}

fn remove_sorted<T: Ord>(v: &mut Vec<T>, r: T) {
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

    #[test]
    fn lists_widen_for_references_past_32_bits() {
        let big = u64::from(u32::MAX) + 5;
        let mut p = Postings::default();
        let a = Labels::from_pairs([("__name__", "a".to_string())]);
        let b = Labels::from_pairs([("__name__", "b".to_string())]);
        for r in [1, 7, u64::from(u32::MAX)] {
            p.add(r, &a);
        }
        p.add(3, &b);
        p.add(big, &a);
        p.add(big + 1, &b);
        p.add(2, &a); // out of order: inserted in place
        let name_is = |v: &str| vec![Matcher::equal("__name__", v)];
        let none = |_| None;
        assert_eq!(
            p.select(&name_is("a"), none),
            [1, 2, 7, u64::from(u32::MAX), big]
        );
        assert_eq!(p.select(&name_is("b"), none), [3, big + 1]);
        assert_eq!(
            p.select(&[], none),
            [1, 2, 3, 7, u64::from(u32::MAX), big, big + 1]
        );
        p.remove(big, &a);
        p.remove(7, &a);
        assert_eq!(p.select(&name_is("a"), none), [1, 2, u64::from(u32::MAX)]);
        assert!(matches!(p.index["__name__"]["a"], Refs::Wide(_)));
        assert!(matches!(p.index["__name__"]["b"], Refs::Wide(_)));
    }
}
