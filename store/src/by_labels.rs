//! The head's index from a label set to its series reference.
//!
//! A table of references hashed by their label sets' fingerprints; a
//! probe compares the label sets themselves, which the series table
//! holds, so the table keeps no copy of a key and fingerprints that
//! collide need no side list. References below 2^32 (all but those of a
//! store that created four billion series) take 4 bytes a slot, and a
//! slot plus its control byte at the table's load is about 10 bytes a
//! series, where a map from fingerprint to reference took about 36.

use hashbrown::HashTable;
use model::Labels;

use crate::head::MemSeries;
use crate::slab::Slab;

#[derive(Default)]
pub(crate) struct ByLabels {
    narrow: HashTable<u32>,
    /// References from 2^32 on.
    wide: HashTable<u64>,
}

/// The hash a series is filed under: its fingerprint, or 0 for a
/// reference the series table does not hold (never the case for a
/// filed reference, whose series leaves the index before the table).
fn hash_of(series: &Slab<MemSeries>, r: u64) -> u64 {
    series.get(&r).map_or(0, |s| s.labels.fingerprint())
}

fn same(series: &Slab<MemSeries>, r: u64, labels: &Labels) -> bool {
    series.get(&r).is_some_and(|s| &s.labels == labels)
}

impl ByLabels {
    /// The reference of the series with `labels` (fingerprint `fp`).
    pub(crate) fn find(&self, series: &Slab<MemSeries>, labels: &Labels, fp: u64) -> Option<u64> {
        self.narrow
            .find(fp, |&r| same(series, u64::from(r), labels))
            .map(|&r| u64::from(r))
            .or_else(|| self.wide.find(fp, |&r| same(series, r, labels)).copied())
    }

    /// Files series `r`, which the series table already holds, under its
    /// fingerprint `fp`.
    pub(crate) fn insert(&mut self, series: &Slab<MemSeries>, r: u64, fp: u64) {
        match u32::try_from(r) {
            Ok(n) => {
                self.narrow
                    .insert_unique(fp, n, |&x| hash_of(series, u64::from(x)));
            }
            Err(_) => {
                self.wide.insert_unique(fp, r, |&x| hash_of(series, x));
            }
        }
    }

    /// Drops series `r`, filed under `fp`.
    pub(crate) fn remove(&mut self, r: u64, fp: u64) {
        let gone = match u32::try_from(r) {
            Ok(n) => self
                .narrow
                .find_entry(fp, |&x| x == n)
                .map(|e| e.remove())
                .is_ok(),
            Err(_) => self
                .wide
                .find_entry(fp, |&x| x == r)
                .map(|e| e.remove())
                .is_ok(),
        };
        debug_assert!(gone, "series {r} was not in the index");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sets whose fingerprints collide (forced here: a table with room, so
    /// nothing is rehashed by real fingerprints) are told apart by their
    /// labels, in the narrow and the wide table, and removing one leaves
    /// the others.
    #[test]
    fn colliding_fingerprints_are_told_apart() {
        let mut series = Slab::default();
        let sets: Vec<(u64, Labels)> = [1, 2, (1 << 32) + 5]
            .into_iter()
            .map(|r| (r, Labels::from_pairs([("__name__", format!("m{r}"))])))
            .collect();
        let mut index = ByLabels {
            narrow: HashTable::with_capacity(16),
            wide: HashTable::with_capacity(16),
        };
        for (r, l) in &sets {
            series.insert(*r, MemSeries::new(l.clone()));
            index.insert(&series, *r, 7);
        }
        for (r, l) in &sets {
            assert_eq!(index.find(&series, l, 7), Some(*r));
        }
        let other = Labels::from_pairs([("__name__", "m3")]);
        assert_eq!(index.find(&series, &other, 7), None);
        index.remove(2, 7);
        series.remove(&2);
        assert_eq!(index.find(&series, &sets[1].1, 7), None);
        assert_eq!(index.find(&series, &sets[0].1, 7), Some(1));
        assert_eq!(index.find(&series, &sets[2].1, 7), Some((1 << 32) + 5));
    }
}
