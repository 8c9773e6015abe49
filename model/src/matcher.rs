//! Label matchers with Prometheus 3.x semantics.
//!
//! Prometheus compiles matcher regexes with Go's RE2 as `^(?s:...)$`: fully
//! anchored, `.` matches a newline, and `\d \w \s \b` keep their ASCII
//! meaning (upstream `model/labels/regexp.go`). The Rust `regex` crate gives
//! those classes Unicode meanings, so the pattern is translated first. Common
//! shapes (literals, alternations of literals, `.*`, `prefix.*`) skip the
//! regex engine entirely.

use std::fmt;
use std::sync::Arc;

use regex::Regex;

/// The comparison a [`Matcher`] makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`
    RegexMatch,
    /// `!~`
    RegexNoMatch,
}

impl fmt::Display for MatchOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::RegexMatch => "=~",
            MatchOp::RegexNoMatch => "!~",
        })
    }
}

/// A regex that does not compile.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid regular expression {pattern:?}: {reason}")]
pub struct MatcherError {
    /// The pattern as given.
    pub pattern: String,
    /// Why it was refused.
    pub reason: String,
}

/// How a matcher tests a value, chosen once at construction.
#[derive(Clone, Debug)]
enum Pattern {
    Literal(String),
    Set(Vec<String>),
    Any,
    NonEmpty,
    Prefix(String),
    Suffix(String),
    Contains(String),
    Regex(Arc<Regex>),
}

/// A label matcher: `name op "value"`.
///
/// An absent label matches as the empty string, so `foo=""` selects series
/// without `foo` and `foo!=""` those that have it.
#[derive(Clone, Debug)]
pub struct Matcher {
    /// The label name.
    pub name: String,
    /// The comparison.
    pub op: MatchOp,
    /// The value or regex source as written.
    pub value: String,
    pattern: Pattern,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Matcher {
    /// Builds a matcher; a regex operator compiles `value` and fails when it
    /// is not a valid RE2 pattern.
    pub fn new(
        op: MatchOp,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, MatcherError> {
        let value = value.into();
        let pattern = match op {
            MatchOp::Equal | MatchOp::NotEqual => Pattern::Literal(value.clone()),
            MatchOp::RegexMatch | MatchOp::RegexNoMatch => compile(&value)?,
        };
        Ok(Matcher {
            name: name.into(),
            op,
            value,
            pattern,
        })
    }

    /// An equality matcher, which cannot fail.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        let value = value.into();
        Matcher {
            name: name.into(),
            op: MatchOp::Equal,
            pattern: Pattern::Literal(value.clone()),
            value,
        }
    }

    /// Whether `value` (the empty string for an absent label) matches.
    pub fn matches(&self, value: &str) -> bool {
        let hit = match &self.pattern {
            Pattern::Literal(s) => s == value,
            Pattern::Set(set) => set.iter().any(|s| s == value),
            Pattern::Any => true,
            Pattern::NonEmpty => !value.is_empty(),
            Pattern::Prefix(p) => value.starts_with(p.as_str()),
            Pattern::Suffix(p) => value.ends_with(p.as_str()),
            Pattern::Contains(p) => value.contains(p.as_str()),
            Pattern::Regex(re) => re.is_match(value),
        };
        match self.op {
            MatchOp::Equal | MatchOp::RegexMatch => hit,
            MatchOp::NotEqual | MatchOp::RegexNoMatch => !hit,
        }
    }

    /// Whether the matcher accepts the empty string, i.e. series that lack
    /// the label. Selection cannot use the postings index for these alone.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// The exact values this matcher accepts, when that is a finite list
    /// (`=` and `=~` over literals). Lets a store look values up directly
    /// instead of testing every value of the label.
    pub fn set_values(&self) -> Option<Vec<&str>> {
        match (self.op, &self.pattern) {
            (MatchOp::Equal | MatchOp::RegexMatch, Pattern::Literal(s)) => Some(vec![s.as_str()]),
            (MatchOp::RegexMatch, Pattern::Set(set)) => {
                Some(set.iter().map(String::as_str).collect())
            }
            _ => None,
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op, self.value)
    }
}

const META: &[char] = &[
    '\\', '.', '+', '*', '?', '(', ')', '|', '[', ']', '{', '}', '^', '$',
];

/// Compiles an RE2 pattern as Prometheus does for matchers and relabeling:
/// fully anchored, `.` matching newline, Go's ASCII classes.
pub fn compile_anchored(src: &str) -> Result<Regex, MatcherError> {
    Regex::new(&format!("(?s)^(?:{})$", translate(src))).map_err(|e| MatcherError {
        pattern: src.to_string(),
        reason: e
            .to_string()
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_string(),
    })
}

/// Compiled matcher regexes by source, shared across queries: dashboards
/// repeat the same few, and a compiled regex keeps the automaton states
/// it built while matching.
static REGEXES: crate::memo::Memo<Arc<Regex>> = crate::memo::Memo::new(1024);

fn compile_cached(src: &str) -> Result<Arc<Regex>, MatcherError> {
    if let Some(re) = REGEXES.get(src) {
        return Ok(re);
    }
    let re = Arc::new(compile_anchored(src)?);
    REGEXES.insert(src, re.clone());
    Ok(re)
}

fn compile(src: &str) -> Result<Pattern, MatcherError> {
    // Validate with the real engine even when a fast path applies, so a
    // pattern is accepted or refused the same way whichever path runs.
    let re = compile_cached(src)?;
    if src == ".*" {
        return Ok(Pattern::Any);
    }
    if src == ".+" {
        return Ok(Pattern::NonEmpty);
    }
    if !src.contains(META) {
        return Ok(Pattern::Literal(src.to_string()));
    }
    if let Some(prefix) = src.strip_suffix(".*") {
        if !prefix.contains(META) {
            return Ok(Pattern::Prefix(prefix.to_string()));
        }
        if let Some(inner) = prefix.strip_prefix(".*") {
            if !inner.contains(META) {
                return Ok(Pattern::Contains(inner.to_string()));
            }
        }
    }
    if let Some(suffix) = src.strip_prefix(".*") {
        if !suffix.contains(META) {
            return Ok(Pattern::Suffix(suffix.to_string()));
        }
    }
    if src.contains('|') && !src.replace('|', "").contains(META) {
        return Ok(Pattern::Set(src.split('|').map(str::to_string).collect()));
    }
    Ok(Pattern::Regex(re))
}

/// Rewrites an RE2 pattern so that Rust's `regex` gives it Go's meaning:
/// ASCII Perl classes, ASCII word boundaries, `\Q...\E` literals, and `[`,
/// `&`, `~` and `-` taken literally inside a class (Rust reads them as
/// nested classes and set operations).
fn translate(src: &str) -> String {
    let mut out = String::with_capacity(src.len() + 8);
    let mut chars = src.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(n) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let rep = match (n, in_class) {
                    ('d', false) => "[0-9]",
                    ('D', false) => "[^0-9]",
                    ('w', false) => "[0-9A-Za-z_]",
                    ('W', false) => "[^0-9A-Za-z_]",
                    ('s', false) => r"[\t\n\x0C\r ]",
                    ('S', false) => r"[^\t\n\x0C\r ]",
                    ('b', false) => r"(?-u:\b)",
                    ('B', false) => r"(?-u:\B)",
                    ('d', true) => "0-9",
                    ('w', true) => "0-9A-Za-z_",
                    ('s', true) => r"\t\n\x0C\r ",
                    ('D', true) => r"\x00-/:-\x{10FFFF}",
                    ('W', true) => r"\x00-/:-@\[-\^`\{-\x{10FFFF}",
                    ('S', true) => r"\x00-\x08\x0B\x0E-\x1F!-\x{10FFFF}",
                    ('Q', _) => {
                        let mut lit = String::new();
                        while let Some(c) = chars.next() {
                            if c == '\\' && chars.peek() == Some(&'E') {
                                chars.next();
                                break;
                            }
                            lit.push(c);
                        }
                        for c in lit.chars() {
                            push_literal(&mut out, c);
                        }
                        continue;
                    }
                    (other, _) => {
                        out.push('\\');
                        out.push(other);
                        continue;
                    }
                };
                out.push_str(rep);
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    out.push(chars.next().unwrap_or('^'));
                }
                // A `]` first in a class is a literal in RE2.
                if chars.peek() == Some(&']') {
                    chars.next();
                    out.push_str(r"\]");
                }
            }
            '[' if in_class => {
                if chars.peek() == Some(&':') {
                    // POSIX class `[:alpha:]`: copy through to `:]`.
                    out.push('[');
                    for c in chars.by_ref() {
                        out.push(c);
                        if c == ']' {
                            break;
                        }
                    }
                } else {
                    out.push_str(r"\[");
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
            }
            '-' if in_class && chars.peek() == Some(&'-') => out.push_str(r"\-"),
            c => out.push(c),
        }
    }
    out
}

fn push_literal(out: &mut String, c: char) {
    if c.is_ascii_punctuation() || c == ' ' {
        out.push('\\');
    }
    out.push(c);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(op: MatchOp, v: &str) -> Matcher {
        Matcher::new(op, "l", v).unwrap_or_else(|e| panic!("{v:?}: {e}"))
    }

    #[test]
    fn regex_semantics_table() {
        // (pattern, value, want)
        let cases: &[(&str, &str, bool)] = &[
            ("foo", "foo", true),
            ("foo", "foobar", false),
            ("fo+", "xfoo", false),
            ("a.b", "a\nb", true),
            (".*", "", true),
            (".*", "line1\nline2", true),
            (".+", "", false),
            ("foo.*", "foobar", true),
            ("foo.*", "barfoo", false),
            (".*bar", "foobar", true),
            (".*bar", "barfoo", false),
            (".*🚀.*", "a🚀b", true),
            (".*ab.*", "x\nab\ny", true),
            (".*ab.*", "a\nb", false),
            (".*.*", "", true),
            ("a|b|c", "b", true),
            ("a|b|c", "ab", false),
            (r"\d+", "123", true),
            (r"\d+", "١٢٣", false),
            (r"\w+", "abc_1", true),
            (r"\w+", "é", false),
            (r"\s", "\u{a0}", false),
            (r"\s", "\t", true),
            (r"[\d]+", "42", true),
            (r"[\D]", "x", true),
            (r"[\D]", "1", false),
            (r"[^\w]", "é", true),
            (r"a\b", "a", true),
            (r"é\b", "é", false),
            (r"\Qa.b\E", "a.b", true),
            (r"\Qa.b\E", "axb", false),
            ("[a&&b]", "&", true),
            ("[]a]", "]", true),
            ("[[:alpha:]]+", "abc", true),
            ("(?i)FOO", "foo", true),
            ("", "", true),
            ("", "x", false),
        ];
        for &(pat, val, want) in cases {
            let got = m(MatchOp::RegexMatch, pat).matches(val);
            assert_eq!(
                got, want,
                "pattern {pat:?} value {val:?}: got {got}, want {want}"
            );
            let neg = m(MatchOp::RegexNoMatch, pat).matches(val);
            assert_eq!(neg, !want, "negated pattern {pat:?} value {val:?}");
        }
    }

    #[test]
    fn equality_and_absent_labels() {
        assert!(m(MatchOp::Equal, "").matches(""));
        assert!(!m(MatchOp::NotEqual, "").matches(""));
        assert!(m(MatchOp::NotEqual, "a").matches(""));
        assert!(m(MatchOp::RegexMatch, "a|").matches_empty());
    }

    #[test]
    fn bad_regex_is_an_error() {
        for bad in ["(", "a[", "*a", r"\"] {
            let err = Matcher::new(MatchOp::RegexMatch, "l", bad).unwrap_err();
            assert_eq!(err.pattern, bad);
        }
    }

    #[test]
    fn set_values_only_for_finite_sets() {
        assert_eq!(
            m(MatchOp::RegexMatch, "a|b").set_values(),
            Some(vec!["a", "b"])
        );
        assert_eq!(m(MatchOp::Equal, "a").set_values(), Some(vec!["a"]));
        assert_eq!(m(MatchOp::RegexMatch, "a.*").set_values(), None);
        assert_eq!(m(MatchOp::NotEqual, "a").set_values(), None);
    }
}
