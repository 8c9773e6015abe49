//! Series identity: label pairs sorted by name.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

/// The reserved label that holds the metric name.
pub const METRIC_NAME: &str = "__name__";

/// A set of label pairs sorted by name, with unique names and no empty values.
///
/// The pairs live in one reference-counted string, so a clone is a counter
/// increment and a set costs one allocation. The string is the canonical
/// encoding `<len>:<name><len>:<value>...` with decimal byte lengths; it is
/// what the store persists (see `store/docs/format/wal.md`) and what
/// [`Labels::fingerprint`] hashes, so equal sets have equal encodings.
#[derive(Clone, Eq)]
pub struct Labels {
    encoded: Arc<str>,
}

/// Two handles on one allocation are equal without reading it. The store
/// keeps the very set a scrape loop caches, and checks the loop's hint
/// against it for every sample; std compares `Arc<str>` byte by byte
/// (its pointer shortcut is for sized types only), a cache miss each.
impl PartialEq for Labels {
    fn eq(&self, other: &Labels) -> bool {
        Arc::ptr_eq(&self.encoded, &other.encoded) || self.encoded == other.encoded
    }
}

/// By the pairs, as equality is.
impl std::hash::Hash for Labels {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.encoded.hash(state);
    }
}

impl Default for Labels {
    fn default() -> Self {
        Self::empty()
    }
}

impl Labels {
    /// The empty label set: one shared allocation, so making one (a
    /// `Default` in a hot loop, say) costs a reference count, not a
    /// `malloc`.
    pub fn empty() -> Self {
        static EMPTY: std::sync::OnceLock<Arc<str>> = std::sync::OnceLock::new();
        Labels {
            encoded: EMPTY.get_or_init(|| Arc::from("")).clone(),
        }
    }

    /// Builds a set from pairs in any order. Pairs with an empty value are
    /// dropped (Prometheus treats an empty value as an absent label); for a
    /// repeated name the last pair wins.
    pub fn from_pairs<I, N, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<str>,
        V: AsRef<str>,
    {
        let mut b = LabelsBuilder::new();
        for (n, v) in pairs {
            b.set(n.as_ref(), v.as_ref());
        }
        b.labels()
    }

    /// Parses the canonical encoding produced by [`Labels::encoded`]. Checks
    /// framing, order and uniqueness, so a damaged record is refused rather
    /// than producing a set that breaks the sorted invariant.
    pub fn from_encoded(s: &str) -> Result<Self, String> {
        let mut prev: Option<&str> = None;
        let mut rest = s;
        while !rest.is_empty() {
            let (name, r) = split_field(rest).ok_or("bad label name framing")?;
            let (value, r) = split_field(r).ok_or("bad label value framing")?;
            if name.is_empty() || value.is_empty() {
                return Err("empty label name or value".into());
            }
            if let Some(p) = prev {
                if p >= name {
                    return Err(format!("label names out of order at {name:?}"));
                }
            }
            prev = Some(name);
            rest = r;
        }
        Ok(Labels {
            encoded: Arc::from(s),
        })
    }

    /// The address of the text this set shares with its clones: a cheap
    /// identity for caches, valid while the cache keeps a clone (no other
    /// set can take the address of a live one).
    pub fn addr(&self) -> usize {
        Arc::as_ptr(&self.encoded) as *const u8 as usize
    }

    /// The canonical encoding, suitable for persisting.
    pub fn encoded(&self) -> &str {
        &self.encoded
    }

    /// Iterates over `(name, value)` pairs in name order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            rest: &self.encoded,
        }
    }

    /// The number of pairs.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether the set has no pairs.
    pub fn is_empty(&self) -> bool {
        self.encoded.is_empty()
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        for (n, v) in self.iter() {
            match n.cmp(name) {
                Ordering::Less => continue,
                Ordering::Equal => return Some(v),
                Ordering::Greater => return None,
            }
        }
        None
    }

    /// The metric name (`__name__`), if present.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// A stable 64-bit hash of the set: the XXH3 hash of the canonical
    /// encoding. It does not change between runs or versions.
    pub fn fingerprint(&self) -> u64 {
        xxhash_rust::xxh3::xxh3_64(self.encoded.as_bytes())
    }

    /// Bytes held by this set's shared allocation (for memory accounting).
    pub fn heap_bytes(&self) -> usize {
        self.encoded.len()
    }

    /// Bytes that compare as the sets do (`Ord`): each name and value with
    /// its zero bytes escaped (`0 1`), ended by `0 0`. For sorting many sets,
    /// where comparing these is cheaper than walking the pairs each time.
    pub fn order_key(&self) -> Vec<u8> {
        let mut k = Vec::with_capacity(self.encoded.len() + 8);
        for (n, v) in self.iter() {
            for f in [n, v] {
                for &b in f.as_bytes() {
                    if b == 0 {
                        k.extend_from_slice(&[0, 1]);
                    } else {
                        k.push(b);
                    }
                }
                k.extend_from_slice(&[0, 0]);
            }
        }
        k
    }

    /// The set without the labels whose names `drop` accepts: this set
    /// itself (shared, not copied) when there are none, else one copy of
    /// the encoding with their pairs cut out. Removing pairs keeps the
    /// order, so nothing is parsed again or sorted.
    pub fn without_names(&self, mut drop: impl FnMut(&str) -> bool) -> Labels {
        let mut kept = String::new();
        let mut copied = 0;
        let mut dropped = false;
        let mut rest: &str = &self.encoded;
        while let Some((name, after_name)) = next_field(rest) {
            let Some((_, after_value)) = next_field(after_name) else {
                break;
            };
            let start = self.encoded.len() - rest.len();
            let end = self.encoded.len() - after_value.len();
            if drop(name) {
                if !dropped {
                    kept.reserve(self.encoded.len());
                    dropped = true;
                }
                kept.push_str(&self.encoded[copied..start]);
                copied = end;
            }
            rest = after_value;
        }
        if !dropped {
            return self.clone();
        }
        kept.push_str(&self.encoded[copied..]);
        Labels {
            encoded: Arc::from(kept),
        }
    }

    /// A builder that starts from this set.
    pub fn builder(&self) -> LabelsBuilder {
        LabelsBuilder {
            pairs: self
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        }
    }
}

fn split_field(s: &str) -> Option<(&str, &str)> {
    let colon = s.find(':')?;
    let digits = &s[..colon];
    // Only the canonical form: no sign, no leading zeros, so one label set
    // has exactly one encoding and one fingerprint.
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return None;
    }
    let len: usize = digits.parse().ok()?;
    let start = colon + 1;
    let end = start.checked_add(len)?;
    if end > s.len() || !s.is_char_boundary(end) {
        return None;
    }
    Some((&s[start..end], &s[end..]))
}

/// One field of an encoding already known to be canonical: the length is
/// read without the checks `split_field` makes (bounds are still checked).
#[inline]
fn next_field(s: &str) -> Option<(&str, &str)> {
    let b = s.as_bytes();
    let mut len = 0usize;
    let mut i = 0;
    loop {
        match b.get(i)? {
            b':' => break,
            d => {
                len = len
                    .checked_mul(10)?
                    .checked_add(usize::from(d.wrapping_sub(b'0')))?
            }
        }
        i += 1;
    }
    let start = i + 1;
    let end = start.checked_add(len)?;
    Some((s.get(start..end)?, s.get(end..)?))
}

/// Iterator over the pairs of a [`Labels`].
pub struct Iter<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        // The encoding is only ever built by `LabelsBuilder` or checked by
        // `from_encoded`, so framing errors cannot occur; stop if they did.
        let (name, r) = next_field(self.rest)?;
        let (value, r) = next_field(r)?;
        self.rest = r;
        Some((name, value))
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = (&'a str, &'a str);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl Ord for Labels {
    /// Orders as Prometheus does: pair by pair, name first, then value; a
    /// prefix sorts first.
    fn cmp(&self, other: &Self) -> Ordering {
        if Arc::ptr_eq(&self.encoded, &other.encoded) {
            return Ordering::Equal;
        }
        let (a, b) = (self.encoded.as_bytes(), other.encoded.as_bytes());
        // Pairs before the first differing byte are equal: compare from the
        // pair that holds it. Without one, the shorter set is a prefix of
        // the longer (fields are length-framed) and sorts first.
        let Some(d) = a.iter().zip(b).position(|(x, y)| x != y) else {
            return a.len().cmp(&b.len());
        };
        let mut pair = 0;
        let mut rest = &self.encoded[..];
        while let Some((_, after_name)) = next_field(rest) {
            let Some((_, after_value)) = next_field(after_name) else {
                break;
            };
            let end = self.encoded.len() - after_value.len();
            if end > d {
                break;
            }
            pair = end;
            rest = after_value;
        }
        match (self.encoded.get(pair..), other.encoded.get(pair..)) {
            (Some(x), Some(y)) => Iter { rest: x }.cmp(Iter { rest: y }),
            _ => self.iter().cmp(other.iter()),
        }
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Labels {
    /// Prints `name{a="b", c="d"}` the way Prometheus does, with the metric
    /// name in front when it is present.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.metric_name();
        if let Some(n) = name {
            f.write_str(n)?;
        }
        let mut first = true;
        for (n, v) in self.iter().filter(|(n, _)| *n != METRIC_NAME) {
            f.write_str(if first { "{" } else { ", " })?;
            first = false;
            write!(f, "{n}=\"")?;
            for c in v.chars() {
                match c {
                    '\\' => f.write_str("\\\\")?,
                    '"' => f.write_str("\\\"")?,
                    '\n' => f.write_str("\\n")?,
                    c => write!(f, "{c}")?,
                }
            }
            f.write_str("\"")?;
        }
        if !first {
            f.write_str("}")?;
        } else if name.is_none() {
            f.write_str("{}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Builds a [`Labels`] by setting and deleting pairs.
#[derive(Default, Clone, Debug)]
pub struct LabelsBuilder {
    pairs: Vec<(String, String)>,
}

impl LabelsBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name` to `value`; an empty value deletes the label.
    pub fn set(&mut self, name: &str, value: &str) -> &mut Self {
        // Later pairs win when the set is built; searching here would make
        // building a set of n labels quadratic in n.
        self.pairs.push((name.to_string(), value.to_string()));
        self
    }

    /// Deletes `name`.
    pub fn del(&mut self, name: &str) -> &mut Self {
        self.pairs.retain(|(n, _)| n != name);
        self
    }

    /// Keeps only the labels whose names `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) -> &mut Self {
        self.pairs.retain(|(n, _)| keep(n));
        self
    }

    /// The finished, sorted set.
    pub fn labels(&self) -> Labels {
        let mut sorted: Vec<&(String, String)> = self.pairs.iter().collect();
        // Stable, so of pairs with one name the last set comes last.
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let mut pairs: Vec<&(String, String)> = Vec::with_capacity(sorted.len());
        for p in sorted {
            if pairs.last().is_some_and(|last| last.0 == p.0) {
                pairs.pop();
            }
            pairs.push(p);
        }
        // An empty value deletes the label, so drop empties after the last
        // set of each name has won.
        pairs.retain(|(n, v)| !n.is_empty() && !v.is_empty());
        let mut s = String::with_capacity(pairs.iter().map(|(n, v)| n.len() + v.len() + 8).sum());
        for (n, v) in pairs {
            use fmt::Write;
            // Writing to a String cannot fail.
            let _ = write!(s, "{}:{}{}:{}", n.len(), n, v.len(), v);
        }
        Labels {
            encoded: Arc::from(s),
        }
    }
}

/// A label set as Go's `model.LabelSet` and Prometheus's
/// `Labels.String()` print it: `{a="b", c="d"}`, in the order given.
pub fn set_string<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let parts: Vec<String> = pairs
        .into_iter()
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Equality is by pairs, whether or not two sets share an allocation.
    #[test]
    fn equal_by_pairs_shared_or_not() {
        let a = Labels::from_pairs([("job", "a"), ("x", "1")]);
        let copy = Labels::from_encoded(a.encoded()).unwrap();
        assert_ne!(a.encoded().as_ptr(), copy.encoded().as_ptr());
        assert_eq!(a, copy);
        assert_eq!(a, a.clone());
        assert_ne!(a, Labels::from_pairs([("job", "a"), ("x", "2")]));
        assert_ne!(a, Labels::empty());
    }

    #[test]
    fn sorted_and_deduplicated() {
        let l = Labels::from_pairs([("job", "a"), ("__name__", "up"), ("job", "b"), ("x", "")]);
        let got: Vec<_> = l.iter().collect();
        assert_eq!(got, vec![("__name__", "up"), ("job", "b")]);
        assert_eq!(l.get("job"), Some("b"));
        assert_eq!(l.get("x"), None);
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn without_names_cuts_pairs_and_shares_an_untouched_set() {
        let l = Labels::from_pairs([
            ("__name__", "up"),
            ("a", "1"),
            ("z", "x:y"),
            ("__unit__", "s"),
        ]);
        let cut = l.without_names(|n| n.starts_with("__"));
        assert_eq!(cut, Labels::from_pairs([("a", "1"), ("z", "x:y")]));
        assert_eq!(
            cut.encoded(),
            Labels::from_pairs([("a", "1"), ("z", "x:y")]).encoded()
        );
        let last = l.without_names(|n| n == "z");
        assert_eq!(
            last,
            Labels::from_pairs([("__name__", "up"), ("__unit__", "s"), ("a", "1")])
        );
        assert!(l.without_names(|n| !n.is_empty()).is_empty());
        let same = cut.without_names(|n| n == "b");
        assert_eq!(same.addr(), cut.addr());
    }

    #[test]
    fn builder_set_and_delete() {
        let mut b = LabelsBuilder::new();
        b.set("b", "1")
            .set("a", "1")
            .set("b", "2")
            .set("c", "x")
            .set("c", "");
        assert_eq!(
            b.labels().iter().collect::<Vec<_>>(),
            vec![("a", "1"), ("b", "2")]
        );
        b.del("a").set("c", "y");
        assert_eq!(
            b.labels().iter().collect::<Vec<_>>(),
            vec![("b", "2"), ("c", "y")]
        );
        // Many labels build in n log n, not n².
        let mut big = LabelsBuilder::new();
        for i in 0..20_000 {
            big.set(&format!("l{i}"), "v");
        }
        assert_eq!(big.labels().len(), 20_000);
    }

    #[test]
    fn encoding_round_trip_with_awkward_values() {
        let cases = [
            vec![],
            vec![("a", "1:2"), ("b", "東京🚀"), ("c", "x\"y\\z\n")],
            vec![("__name__", "job:http_requests:rate5m"), ("le", "+Inf")],
        ];
        for pairs in cases {
            let l = Labels::from_pairs(pairs.clone());
            let back = Labels::from_encoded(l.encoded()).unwrap();
            assert_eq!(back, l, "pairs {pairs:?}");
            assert_eq!(back.fingerprint(), l.fingerprint());
        }
    }

    #[test]
    fn from_encoded_rejects_damage() {
        for bad in [
            "1:a",
            "1:a1:",
            "2:b1:x1:a1:y",
            "x:ab",
            "9:a1:b",
            "1:a1:b1:a1:c",
        ] {
            assert!(Labels::from_encoded(bad).is_err(), "input {bad:?} accepted");
        }
    }

    #[test]
    fn order_is_pairwise() {
        let a = Labels::from_pairs([("a", "1")]);
        let b = Labels::from_pairs([("a", "1"), ("b", "1")]);
        let c = Labels::from_pairs([("a", "2")]);
        assert!(a < b && b < c);
    }

    #[test]
    fn display_like_prometheus() {
        let l = Labels::from_pairs([("__name__", "up"), ("b", "x\"y"), ("a", "1")]);
        assert_eq!(l.to_string(), r#"up{a="1", b="x\"y"}"#);
        assert_eq!(Labels::empty().to_string(), "{}");
        assert_eq!(Labels::from_pairs([("a", "1")]).to_string(), r#"{a="1"}"#);
    }

    #[test]
    fn fingerprint_is_stable() {
        // Pinned: a change here breaks data on disk and must be deliberate.
        let l = Labels::from_pairs([("__name__", "up"), ("job", "api")]);
        assert_eq!(l.encoded(), "8:__name__2:up3:job3:api");
        assert_eq!(
            l.fingerprint(),
            xxhash_rust::xxh3::xxh3_64(b"8:__name__2:up3:job3:api")
        );
    }

    /// The fast comparison agrees with comparing pair by pair, on sets
    /// that share prefixes, names and values of many lengths.
    #[test]
    fn cmp_agrees_with_pairwise() {
        let mut rng = crate::seeded::xorshift(7);
        let mut next = move |n: u64| rng() % n;
        let words = [
            "",
            "a",
            "b",
            "ab",
            "a1",
            "aaaaaaaaaa",
            "1",
            "12",
            "x:y",
            "é",
            "\0",
            "a\0",
        ];
        let mut sets = Vec::new();
        for _ in 0..300 {
            let pairs: Vec<(String, String)> = (0..next(4))
                .map(|_| {
                    let n = format!("{}{}", words[next(12) as usize], words[next(12) as usize]);
                    (n, words[next(12) as usize].repeat(1 + next(12) as usize))
                })
                .filter(|(n, _)| !n.is_empty())
                .collect();
            sets.push(Labels::from_pairs(pairs));
        }
        for a in &sets {
            for b in &sets {
                assert_eq!(a.cmp(b), a.iter().cmp(b.iter()), "{a} vs {b}");
                assert_eq!(a.order_key().cmp(&b.order_key()), a.cmp(b), "{a} vs {b}");
            }
        }
    }
}
