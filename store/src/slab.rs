//! The head's series table: series by reference.
//!
//! References are handed out in sequence, so the table is a vector indexed
//! by `ref - base`. A scrape appends its series in the order they were
//! created, which makes lookups walk memory forwards instead of probing a
//! hash table at random. Retention removes old series, mostly the oldest
//! first; the vector's front is trimmed as it empties. A reference far
//! beyond the end (a catalogue with gaps) goes to a small side map rather
//! than growing the vector.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

/// A hasher for `u64` keys that are references or fingerprints: one
/// multiply, which spreads sequential references over the whole word.
#[derive(Default, Clone, Copy)]
pub(crate) struct U64Hasher(u64);

impl Hasher for U64Hasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, x: u64) {
        let h = (self.0 ^ x).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = h ^ (h >> 29);
    }
}

/// A map keyed by `u64` references or fingerprints.
pub(crate) type U64Map<V> = HashMap<u64, V, BuildHasherDefault<U64Hasher>>;

/// How far past the end a reference may land and still extend the vector.
const MAX_GAP: u64 = 1 << 16;

#[derive(Debug)]
pub(crate) struct Slab<T> {
    base: u64,
    slots: VecDeque<Option<T>>,
    far: BTreeMap<u64, T>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            base: 0,
            slots: VecDeque::new(),
            far: BTreeMap::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    fn index(&self, r: u64) -> Option<usize> {
        r.checked_sub(self.base)
            .filter(|&i| i < self.slots.len() as u64)
            .map(|i| i as usize)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn get(&self, r: &u64) -> Option<&T> {
        match self.index(*r) {
            Some(i) => self.slots[i].as_ref(),
            None => self.far.get(r),
        }
    }

    pub(crate) fn get_mut(&mut self, r: &u64) -> Option<&mut T> {
        match self.index(*r) {
            Some(i) => self.slots[i].as_mut(),
            None => self.far.get_mut(r),
        }
    }

    pub(crate) fn contains_key(&self, r: &u64) -> bool {
        self.get(r).is_some()
    }

    /// Stores `v` under `r`, returning what was there.
    pub(crate) fn insert(&mut self, r: u64, v: T) -> Option<T> {
        if self.len == 0 && self.far.is_empty() {
            self.base = r;
            self.slots.clear();
        }
        let old = if let Some(i) = self.index(r) {
            self.slots[i].replace(v)
        } else if r >= self.base && r - self.base - (self.slots.len() as u64) < MAX_GAP {
            let i = (r - self.base) as usize;
            self.slots.resize_with(i, || None);
            self.slots.push_back(Some(v));
            None
        } else if r < self.base && self.base - r < MAX_GAP && self.far.is_empty() {
            for _ in r..self.base {
                self.slots.push_front(None);
            }
            self.base = r;
            self.slots[0] = Some(v);
            None
        } else {
            self.far.insert(r, v)
        };
        if old.is_none() {
            self.len += 1;
        }
        if !self.far.is_empty() {
            self.adopt();
        }
        old
    }

    /// Moves side-map entries the vector now covers into it.
    fn adopt(&mut self) {
        let (lo, hi) = (self.base, self.base + self.slots.len() as u64);
        let inside: Vec<u64> = self.far.range(lo..hi).map(|(r, _)| *r).collect();
        for r in inside {
            let v = self.far.remove(&r);
            self.slots[(r - lo) as usize] = v;
        }
    }

    pub(crate) fn remove(&mut self, r: &u64) -> Option<T> {
        let old = match self.index(*r) {
            Some(i) => self.slots[i].take(),
            None => self.far.remove(r),
        };
        if old.is_some() {
            self.len -= 1;
            while matches!(self.slots.front(), Some(None)) {
                self.slots.pop_front();
                self.base += 1;
            }
            while matches!(self.slots.back(), Some(None)) {
                self.slots.pop_back();
            }
        }
        old
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, &T)> {
        let base = self.base;
        self.slots
            .iter()
            .enumerate()
            .filter_map(move |(i, s)| s.as_ref().map(|v| (base + i as u64, v)))
            .chain(self.far.iter().map(|(r, v)| (*r, v)))
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (u64, &mut T)> {
        let base = self.base;
        self.slots
            .iter_mut()
            .enumerate()
            .filter_map(move |(i, s)| s.as_mut().map(|v| (base + i as u64, v)))
            .chain(self.far.iter_mut().map(|(r, v)| (*r, v)))
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &T> {
        self.iter().map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random inserts and removes agree with a `BTreeMap`.
    #[test]
    fn matches_a_map() {
        let mut next = model::seeded::xorshift(0x9e37_79b9_7f4a_7c15);
        for round in 0..50 {
            let mut slab = Slab::default();
            let mut map = BTreeMap::new();
            let span = if round % 5 == 0 { 1 << 20 } else { 300 };
            for _ in 0..2_000 {
                let r = next() % span;
                match next() % 3 {
                    0 => assert_eq!(slab.remove(&r), map.remove(&r)),
                    _ => {
                        let v = next();
                        assert_eq!(slab.insert(r, v), map.insert(r, v));
                    }
                }
                assert_eq!(slab.len(), map.len());
                assert_eq!(slab.get(&r), map.get(&r));
            }
            let mut got: Vec<(u64, u64)> = slab.iter().map(|(r, v)| (r, *v)).collect();
            got.sort();
            let want: Vec<(u64, u64)> = map.iter().map(|(r, v)| (*r, *v)).collect();
            assert_eq!(got, want);
        }
    }
}
