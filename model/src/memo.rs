//! [`Memo`]: values computed from text, kept for when the same text comes
//! again (compiled matcher regexes, parsed PromQL). Dashboards and rules
//! send the same few texts over and over; a memo saves the work of all but
//! the first.
//!
//! ```
//! use model::memo::Memo;
//!
//! static LENGTHS: Memo<usize> = Memo::new(2);
//! assert_eq!(LENGTHS.get("abc"), None);
//! LENGTHS.insert("abc", 3);
//! assert_eq!(LENGTHS.get("abc"), Some(3));
//! ```

use std::collections::HashMap;
use std::sync::Mutex;

/// Up to `capacity` values by the text they were computed from, shared
/// between threads. When it is full the next insert empties it first:
/// cheaper than tracking use, and the texts that matter come back at once.
pub struct Memo<V> {
    kept: Mutex<Option<HashMap<String, V>>>,
    capacity: usize,
}

impl<V: Clone> Memo<V> {
    /// An empty memo; `const`, so that it can be a `static`.
    pub const fn new(capacity: usize) -> Self {
        Memo {
            kept: Mutex::new(None),
            capacity,
        }
    }

    /// The value kept for `text`, if any.
    pub fn get(&self, text: &str) -> Option<V> {
        let mut g = self.kept.lock().ok()?;
        g.get_or_insert_with(HashMap::new).get(text).cloned()
    }

    /// Keeps `v` for `text`, emptying the memo first when it is full. A
    /// memo whose lock a panicking thread poisoned keeps nothing more.
    pub fn insert(&self, text: &str, v: V) {
        if let Ok(mut g) = self.kept.lock() {
            let m = g.get_or_insert_with(HashMap::new);
            if m.len() >= self.capacity {
                m.clear();
            }
            m.insert(text.to_string(), v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_memo_starts_over() {
        let m: Memo<u32> = Memo::new(2);
        m.insert("a", 1);
        m.insert("b", 2);
        assert_eq!((m.get("a"), m.get("b")), (Some(1), Some(2)));
        m.insert("c", 3);
        // (text, want)
        for (text, want) in [("a", None), ("b", None), ("c", Some(3))] {
            assert_eq!(m.get(text), want, "get({text:?}) after the third insert");
        }
        m.insert("c", 4);
        assert_eq!(m.get("c"), Some(4));
    }
}
