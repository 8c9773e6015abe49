//! The in-memory postings index: label pair to sorted series references.

use std::collections::HashMap;
use std::sync::Arc;

use model::{Labels, Matcher};
use roaring::RoaringBitmap;

/// Label name → value → series references, ascending. References are
/// handed out in increasing order, so appending keeps every list sorted.
#[derive(Default)]
pub(crate) struct Postings {
    index: HashMap<Arc<str>, HashMap<Arc<str>, Refs>>,
    all: Refs,
}

/// A sorted set of series references. References start at 1 and rarely
/// pass `u32::MAX` (four billion series created in one store), so a set
/// keeps them in 32 bits: a short one as a vector, one past
/// [`SHORT`] entries as a compressed bitmap (runs of consecutive
/// references, as a target's series are created, take a few bytes, and a
/// label every series has, an eighth of a byte a series; as a vector every
/// entry took 4 bytes and more when the vector grew). A set that gets a
/// reference past 32 bits widens, alone, to a vector of 64-bit ones.
#[derive(Debug)]
enum Refs {
    Short(Vec<u32>),
    /// The bitmap and its length (counting a bitmap's entries walks its
    /// containers).
    Bitmap(RoaringBitmap, u64),
    Wide(Vec<u64>),
}

/// The most references a set keeps as a vector: a bitmap's own structure
/// takes more than the vector below about this many.
const SHORT: usize = 32;

impl Default for Refs {
    fn default() -> Self {
        Refs::Short(Vec::new())
    }
}

impl Refs {
    fn insert(&mut self, r: u64) {
        let Ok(narrow) = u32::try_from(r) else {
            let mut wide = self.to_vec();
            insert_sorted(&mut wide, r);
            *self = Refs::Wide(wide);
            return;
        };
        match self {
            Refs::Short(v) if v.len() < SHORT => insert_sorted(v, narrow),
            Refs::Short(v) => {
                let mut b: RoaringBitmap = v.iter().copied().collect();
                b.insert(narrow);
                b.optimize();
                let n = b.len();
                *self = Refs::Bitmap(b, n);
            }
            Refs::Bitmap(b, n) => {
                if b.insert(narrow) {
                    *n += 1;
                    // Containers are re-chosen (array, bitmap or runs)
                    // each time the set doubles: cheap over all inserts,
                    // and a set of consecutive references stays a few
                    // runs.
                    if n.is_power_of_two() {
                        b.optimize();
                    }
                }
            }
            Refs::Wide(v) => insert_sorted(v, r),
        }
    }

    fn remove(&mut self, r: u64) {
        match self {
            Refs::Short(v) => {
                if let Ok(r) = u32::try_from(r) {
                    remove_sorted(v, r);
                }
            }
            Refs::Bitmap(b, n) => {
                if u32::try_from(r).is_ok_and(|r| b.remove(r)) {
                    *n -= 1;
                }
            }
            Refs::Wide(v) => remove_sorted(v, r),
        }
    }

    fn len(&self) -> usize {
        match self {
            Refs::Short(v) => v.len(),
            Refs::Bitmap(_, n) => usize::try_from(*n).unwrap_or(usize::MAX),
            Refs::Wide(v) => v.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn extend_into(&self, out: &mut Vec<u64>) {
        match self {
            Refs::Short(v) => out.extend(v.iter().map(|&x| u64::from(x))),
            Refs::Bitmap(b, _) => out.extend(b.iter().map(u64::from)),
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

    /// Every form of a set (short vector, bitmap, wide vector) holds what a
    /// plain sorted set holds, through inserts in and out of order,
    /// removals, and the changes of form between them.
    #[test]
    fn sets_change_form_and_keep_their_references() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let mut refs = Refs::default();
        let mut want = std::collections::BTreeSet::new();
        let check = |refs: &Refs, want: &std::collections::BTreeSet<u64>| {
            assert_eq!(refs.to_vec(), want.iter().copied().collect::<Vec<_>>());
            assert_eq!(refs.len(), want.len());
            assert_eq!(refs.is_empty(), want.is_empty());
        };
        // Consecutive references, as a target's series are created.
        for r in 1..=SHORT as u64 {
            refs.insert(r);
            want.insert(r);
        }
        assert!(matches!(refs, Refs::Short(_)));
        for r in SHORT as u64 + 1..=5000 {
            refs.insert(r);
            want.insert(r);
        }
        assert!(matches!(refs, Refs::Bitmap(..)));
        check(&refs, &want);
        // Scattered inserts and removals, repeats and absent ones included.
        for _ in 0..20_000 {
            let r = rng.random_range(1..200_000u64);
            if rng.random_bool(0.3) {
                refs.remove(r);
                want.remove(&r);
            } else {
                refs.insert(r);
                want.insert(r);
            }
        }
        check(&refs, &want);
        let big = u64::from(u32::MAX) + 9;
        refs.insert(big);
        want.insert(big);
        assert!(matches!(refs, Refs::Wide(_)));
        check(&refs, &want);
        for r in want.clone() {
            refs.remove(r);
            want.remove(&r);
        }
        check(&refs, &want);
    }
}
