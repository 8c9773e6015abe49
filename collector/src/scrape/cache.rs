//! The scrape cache of one target (upstream's `scrapeCache`): what each
//! line of the last scrapes became, keyed by the line's series part as
//! raw bytes, so a line that repeats is not parsed, merged, relabeled or
//! checked again; only its value is read.
//!
//! Targets expose their lines in the same order at every scrape, so the
//! line after the one just read is, most of the time, the entry after its
//! entry. That guess is checked first by comparing bytes ([`Cache::next`]);
//! only when it fails is the key hashed and looked up. The keys of all
//! entries sit back to back in one buffer, in entry order, so the guesses
//! of one scrape read that buffer from start to end.

use std::hash::BuildHasher;

use model::{Labels, SeriesRef};

/// One line of the scrape cache.
pub(super) struct Cached {
    /// Final labels; `None` when metric relabeling drops the sample.
    pub labels: Option<Labels>,
    /// The scrape (by number) that last saw this line.
    pub seen: u64,
    /// Whether the last successful scrape wrote this series, so that it
    /// gets a stale marker when it goes away.
    pub live: bool,
    /// The store's reference for the series (0: not known yet).
    pub hint: SeriesRef,
    /// Whether the last sample is one staleness tracks.
    pub tracked: bool,
    /// Where this entry's key ends in [`Cache::keys`]; it starts where the
    /// previous entry's ends.
    key_end: usize,
}

impl Cached {
    /// A line seen for the first time in scrape `seen`.
    pub fn new(labels: Option<Labels>, seen: u64) -> Cached {
        Cached {
            labels,
            seen,
            live: false,
            hint: 0,
            tracked: true,
            key_end: 0,
        }
    }
}

#[derive(Default)]
pub(super) struct Cache {
    /// The keys of all entries, back to back in entry order.
    keys: Vec<u8>,
    pub entries: Vec<Cached>,
    /// Entry numbers by the hash of their keys.
    table: hashbrown::HashTable<usize>,
    hasher: foldhash::fast::RandomState,
    /// The entry after the one the last line found.
    next: usize,
}

impl Cache {
    fn key_of<'a>(keys: &'a [u8], entries: &[Cached], slot: usize) -> &'a [u8] {
        let start = slot.checked_sub(1).map_or(0, |p| entries[p].key_end);
        &keys[start..entries[slot].key_end]
    }

    /// The key of entry `slot`.
    pub fn key(&self, slot: usize) -> &[u8] {
        Self::key_of(&self.keys, &self.entries, slot)
    }

    /// The entry most likely to match the next line (the one after the
    /// entry the last line found), with its key.
    pub fn next(&self) -> Option<(usize, &[u8])> {
        (self.next < self.entries.len()).then(|| (self.next, self.key(self.next)))
    }

    /// Notes that a line found entry `slot`, for the next guess.
    pub fn found(&mut self, slot: usize) {
        self.next = slot + 1;
    }

    /// The entry whose key is `key`.
    pub fn find(&self, key: &[u8]) -> Option<usize> {
        let hash = self.hasher.hash_one(key);
        self.table.find(hash, |&s| self.key(s) == key).copied()
    }

    /// Adds an entry for `key`, which [`Cache::find`] does not know.
    pub fn insert(&mut self, key: &[u8], mut c: Cached) -> usize {
        let slot = self.entries.len();
        self.keys.extend_from_slice(key);
        c.key_end = self.keys.len();
        self.entries.push(c);
        self.index(slot);
        slot
    }

    /// Puts entry `slot`, whose key is in place, into the table.
    fn index(&mut self, slot: usize) {
        let Cache {
            keys,
            entries,
            table,
            hasher,
            ..
        } = self;
        let hash = hasher.hash_one(Self::key_of(keys, entries, slot));
        table.insert_unique(hash, slot, |&s| {
            hasher.hash_one(Self::key_of(keys, entries, s))
        });
    }

    /// Empties the cache, returning its entries.
    pub fn drain(&mut self) -> impl Iterator<Item = Cached> + '_ {
        self.keys.clear();
        self.table.clear();
        self.next = 0;
        self.entries.drain(..)
    }

    /// Keeps only the entries that `keep` accepts, in their order.
    pub fn retain(&mut self, keep: impl Fn(&Cached) -> bool) {
        if self.entries.iter().all(&keep) {
            return;
        }
        let old_keys = std::mem::take(&mut self.keys);
        let old = std::mem::take(&mut self.entries);
        self.table.clear();
        self.next = 0;
        let mut start = 0;
        for mut c in old {
            let key = &old_keys[start..c.key_end];
            start = c.key_end;
            if keep(&c) {
                self.keys.extend_from_slice(key);
                c.key_end = self.keys.len();
                self.entries.push(c);
                self.index(self.entries.len() - 1);
            }
        }
        self.keys.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_found_by_key_and_guessed_in_order() {
        let mut c = Cache::default();
        let keys: Vec<Vec<u8>> = (0..300)
            .map(|i| format!("m{{i=\"{i}\"}}").into_bytes())
            .collect();
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(c.find(k), None);
            assert_eq!(c.insert(k, Cached::new(None, i as u64)), i);
        }
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(c.find(k), Some(i));
            assert_eq!(c.key(i), &k[..]);
        }
        c.found(41);
        assert_eq!(c.next(), Some((42, &keys[42][..])));
        c.found(299);
        assert_eq!(c.next(), None);
        // Dropping every third entry keeps the rest in order, under new
        // numbers, with their keys.
        c.retain(|e| e.seen % 3 != 0);
        assert_eq!(c.entries.len(), 200);
        for (i, k) in keys.iter().enumerate() {
            let found = c.find(k);
            if i % 3 == 0 {
                assert_eq!(found, None);
            } else {
                let slot = found.unwrap();
                assert_eq!(c.entries[slot].seen, i as u64);
                assert_eq!(c.key(slot), &k[..]);
            }
        }
        assert_eq!(c.drain().count(), 200);
        assert_eq!(c.find(&keys[1]), None);
        assert_eq!(c.next(), None);
    }
}
