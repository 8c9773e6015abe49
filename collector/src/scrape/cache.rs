//! The scrape cache of one target (upstream's `scrapeCache`): what each
//! line of the last scrapes became, keyed by the line's series part, so a
//! line that repeats is not parsed, merged, relabeled or checked again;
//! only its value is read.
//!
//! An entry keeps a 128-bit keyed hash of the series part (XXH3 with a
//! random seed per cache), not its bytes: upstream keeps the string, which
//! costs more memory than the rest of the entry. Two different series
//! parts of one target share a hash with probability about 2^-128 per
//! pair (1e-25 for ten million lines), and even then the mix-up stays
//! within the target, whose lines can name any of its series anyway.
//!
//! Targets expose their lines in the same order at every scrape, so the
//! line after the one just read is, most of the time, the entry after its
//! entry. That guess is checked first ([`Cache::next`]): the entry knows
//! the length of its series part, so the line is hashed without scanning
//! it for the part's end. Only when the guess fails is the line scanned
//! and its hash looked up.

use std::hash::BuildHasher;

use model::{Labels, SeriesRef};
use xxhash_rust::xxh3::xxh3_128_with_seed;

/// The hash of a series part and the tag it was read under.
pub(super) type Key = [u64; 2];

/// One line of the scrape cache.
pub(super) struct Cached {
    /// Final labels; `None` when metric relabeling drops the sample.
    pub labels: Option<Labels>,
    /// The scrape (by number, wrapping) that last saw this line.
    pub seen: u32,
    /// The store's reference for the series (0: not known yet).
    pub hint: SeriesRef,
    /// The hash of the line's series part (see the module docs).
    key: Key,
    /// The length of the series part in the line, or 0 for a line the
    /// fast path cannot read (keyed by its parsed labels instead) or whose
    /// series part is 64 KiB or longer (found by scanning; 16 bits keep
    /// the entry at 48 bytes).
    len: u16,
    /// Whether the last successful scrape wrote this series, so that it
    /// gets a stale marker when it goes away.
    pub live: bool,
    /// Whether the last sample is one staleness tracks.
    pub tracked: bool,
}

impl Cached {
    /// A line seen for the first time in scrape `seen`.
    pub fn new(labels: Option<Labels>, seen: u32) -> Cached {
        Cached {
            labels,
            seen,
            hint: 0,
            key: [0; 2],
            len: 0,
            live: false,
            tracked: true,
        }
    }
}

pub(super) struct Cache {
    pub entries: Vec<Cached>,
    /// Entry numbers by the first word of their keys (32 bits: a target
    /// has far fewer lines).
    table: hashbrown::HashTable<u32>,
    seed: u64,
    /// The entry after the one the last line found.
    next: usize,
}

impl Default for Cache {
    fn default() -> Self {
        Cache {
            entries: Vec::new(),
            table: hashbrown::HashTable::new(),
            seed: foldhash::fast::RandomState::default().hash_one(0x5eed_u64),
            next: 0,
        }
    }
}

impl Cache {
    /// The key of a series part `bytes` read under `tag` (the parser's
    /// tag for raw series parts, or a tag of the caller's own for keys it
    /// builds from parsed labels).
    pub fn key(&self, tag: u8, bytes: &[u8]) -> Key {
        let h = xxh3_128_with_seed(bytes, self.seed ^ u64::from(tag));
        [h as u64, (h >> 64) as u64]
    }

    /// The entry most likely to match the next line (the one after the
    /// entry the last line found), with the length of its series part;
    /// `None` when there is none or it has no raw series part.
    pub fn next(&self) -> Option<(usize, usize)> {
        let e = self.entries.get(self.next)?;
        (e.len > 0).then_some((self.next, e.len as usize))
    }

    /// Whether entry `slot` has the key `key`.
    pub fn is(&self, slot: usize, key: Key) -> bool {
        self.entries.get(slot).is_some_and(|e| e.key == key)
    }

    /// Notes that a line found entry `slot`, for the next guess.
    pub fn found(&mut self, slot: usize) {
        self.next = slot + 1;
    }

    /// The entry whose key is `key`.
    pub fn find(&self, key: Key) -> Option<usize> {
        self.table
            .find(key[0], |&s| self.entries[s as usize].key == key)
            .map(|&s| s as usize)
    }

    /// Adds an entry for `key`, which [`Cache::find`] does not know; `len`
    /// is the length of its raw series part (0: none).
    pub fn insert(&mut self, key: Key, len: usize, mut c: Cached) -> usize {
        let slot = self.entries.len();
        c.key = key;
        c.len = u16::try_from(len).unwrap_or(0);
        self.entries.push(c);
        self.index(slot);
        slot
    }

    /// Puts entry `slot` into the table.
    fn index(&mut self, slot: usize) {
        let Cache { entries, table, .. } = self;
        // A target's lines number far below 2^32 (that many entries would
        // take 200 GB); past it an entry is only found by the next-line
        // guess.
        let Ok(n) = u32::try_from(slot) else {
            return;
        };
        table.insert_unique(entries[slot].key[0], n, |&s| entries[s as usize].key[0]);
    }

    /// Empties the cache, returning its entries.
    pub fn drain(&mut self) -> impl Iterator<Item = Cached> + '_ {
        self.table.clear();
        self.next = 0;
        self.entries.drain(..)
    }

    /// Keeps only the entries that `keep` accepts, in their order.
    pub fn retain(&mut self, keep: impl Fn(&Cached) -> bool) {
        if self.entries.iter().all(&keep) {
            return;
        }
        self.entries.retain(|c| keep(c));
        self.table.clear();
        self.next = 0;
        for slot in 0..self.entries.len() {
            self.index(slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A million-series scrape keeps a million entries: their size is
    /// memory per series.
    #[test]
    fn an_entry_takes_48_bytes() {
        assert_eq!(std::mem::size_of::<Cached>(), 48);
    }

    #[test]
    fn entries_are_found_by_key_and_guessed_in_order() {
        let mut c = Cache::default();
        let lines: Vec<Vec<u8>> = (0..300)
            .map(|i| format!("m{{i=\"{i}\"}}").into_bytes())
            .collect();
        let keys: Vec<Key> = lines.iter().map(|l| c.key(1, l)).collect();
        for (i, (k, l)) in keys.iter().zip(&lines).enumerate() {
            assert_eq!(c.find(*k), None);
            assert_eq!(c.insert(*k, l.len(), Cached::new(None, i as u32)), i);
        }
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(c.find(*k), Some(i));
            assert!(c.is(i, *k));
        }
        // The same bytes under another tag are another key.
        assert_eq!(c.find(c.key(2, &lines[5])), None);
        c.found(41);
        assert_eq!(c.next(), Some((42, lines[42].len())));
        c.found(299);
        assert_eq!(c.next(), None);
        // An entry without a raw series part is never guessed.
        let k = c.key(0xfe, b"parsed");
        let slot = c.insert(k, 0, Cached::new(None, 300));
        c.found(slot - 1);
        assert_eq!(c.next(), None);
        assert_eq!(c.find(k), Some(slot));
        // Dropping every third entry keeps the rest in order, under new
        // numbers, with their keys.
        c.retain(|e| e.seen % 3 != 0);
        assert_eq!(c.entries.len(), 200);
        for (i, k) in keys.iter().enumerate() {
            let found = c.find(*k);
            if i % 3 == 0 {
                assert_eq!(found, None);
            } else {
                let slot = found.unwrap();
                assert_eq!(c.entries[slot].seen, i as u32);
                assert!(c.is(slot, *k));
            }
        }
        assert_eq!(c.drain().count(), 200);
        assert_eq!(c.find(keys[1]), None);
        assert_eq!(c.next(), None);
    }
}
