//! Byte-level scanning shared by both formats: a cursor over one line,
//! metric and label names, quoted strings with their escapes, label sets.
//!
//! Everything here works on `&[u8]` and borrows from the line; a string is
//! copied only when an escape has to be resolved. Text that ends up in a
//! `str` is checked to be UTF-8 first.

use std::borrow::Cow;

use super::{Fault, Labels};

/// What happens to a backslash escape other than `\\`, `\n` and (where the
/// context allows it) `\"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Escapes {
    /// The backslash and the character are kept as written, as Prometheus
    /// does.
    Keep,
    /// The line is rejected, as the reference text parser (`expfmt`) does.
    Reject,
}

/// A position in one line.
pub(super) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    pub(super) fn pos(&self) -> usize {
        self.pos
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    pub(super) fn is_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// The unread rest of the line.
    pub(super) fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos.min(self.buf.len())..]
    }

    pub(super) fn advance(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
    }

    /// Consumes `b` if it is next.
    pub(super) fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Consumes `s` if the rest starts with it.
    pub(super) fn eat_str(&mut self, s: &[u8]) -> bool {
        if self.rest().starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    /// Skips spaces and tabs; returns how many.
    pub(super) fn skip_blanks(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// Consumes bytes up to (not including) the first `stop` byte or the end.
    pub(super) fn token(&mut self, stop: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if stop(b) {
                break;
            }
            self.pos += 1;
        }
        &self.buf[start..self.pos]
    }

    /// A legacy metric name, `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    pub(super) fn metric_name(&mut self) -> Option<&'a str> {
        self.ident(
            |b| b.is_ascii_alphabetic() || b == b'_' || b == b':',
            |b| b.is_ascii_alphanumeric() || b == b'_' || b == b':',
        )
    }

    /// A legacy label name, `[a-zA-Z_][a-zA-Z0-9_]*`.
    pub(super) fn label_name(&mut self) -> Option<&'a str> {
        self.ident(
            |b| b.is_ascii_alphabetic() || b == b'_',
            |b| b.is_ascii_alphanumeric() || b == b'_',
        )
    }

    fn ident(&mut self, first: impl Fn(u8) -> bool, rest: impl Fn(u8) -> bool) -> Option<&'a str> {
        let start = self.pos;
        match self.peek() {
            Some(b) if first(b) => self.pos += 1,
            _ => return None,
        }
        while matches!(self.peek(), Some(b) if rest(b)) {
            self.pos += 1;
        }
        // Only ASCII was consumed, so this cannot fail.
        std::str::from_utf8(&self.buf[start..self.pos]).ok()
    }

    /// A double-quoted string starting at the cursor; `what` names it in
    /// errors. `\\`, `\"` and `\n` are resolved, other escapes follow
    /// `escapes`.
    pub(super) fn quoted(&mut self, what: &str, escapes: Escapes) -> Result<Cow<'a, str>, Fault> {
        let open = self.pos;
        if !self.eat(b'"') {
            return Err(self.fault(format!("expected {what}")));
        }
        let start = self.pos;
        loop {
            match self.peek() {
                None => return Err(Fault::at(open, format!("unterminated {what}"))),
                Some(b'"') => break,
                Some(b'\\') => {
                    if self.pos + 1 >= self.buf.len() {
                        return Err(Fault::at(open, format!("unterminated {what}")));
                    }
                    self.pos += 2;
                }
                Some(_) => self.pos += 1,
            }
        }
        let raw = &self.buf[start..self.pos];
        self.pos += 1; // closing quote
        unescape(raw, start, what, escapes, true)
    }

    /// The metric name after `HELP`, `TYPE` or `UNIT` (`keyword`, for
    /// errors): a legacy name or a quoted one, not empty.
    pub(super) fn metadata_name(
        &mut self,
        keyword: &str,
        escapes: Escapes,
    ) -> Result<Cow<'a, str>, Fault> {
        let name = match self.peek() {
            Some(b'"') => self.quoted("metric name", escapes)?,
            _ => match self.metric_name() {
                Some(n) => Cow::Borrowed(n),
                None => return Err(self.fault(format!("expected metric name after {keyword}"))),
            },
        };
        if name.is_empty() {
            return Err(self.fault(format!("empty metric name after {keyword}")));
        }
        Ok(name)
    }

    /// An error at the cursor.
    pub(super) fn fault(&self, reason: impl Into<String>) -> Fault {
        Fault::at(self.pos, reason)
    }
}

/// Checks `raw` (found at byte `base` of the line) for UTF-8 and resolves
/// its escapes: `\\` and `\n` always, `\"` if `quote`, anything else per
/// `escapes`.
pub(super) fn unescape<'a>(
    raw: &'a [u8],
    base: usize,
    what: &str,
    escapes: Escapes,
    quote: bool,
) -> Result<Cow<'a, str>, Fault> {
    let text = std::str::from_utf8(raw)
        .map_err(|e| Fault::at(base + e.valid_up_to(), format!("invalid UTF-8 in {what}")))?;
    let Some(first) = raw.iter().position(|&b| b == b'\\') else {
        return Ok(Cow::Borrowed(text));
    };
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..first]);
    let mut i = first;
    while i < raw.len() {
        if raw[i] != b'\\' {
            let next = raw[i..]
                .iter()
                .position(|&b| b == b'\\')
                .map_or(raw.len(), |p| i + p);
            // Both ends sit at ASCII bytes or the end, so on char boundaries.
            out.push_str(&text[i..next]);
            i = next;
            continue;
        }
        match raw.get(i + 1) {
            Some(b'\\') => out.push('\\'),
            Some(b'n') => out.push('\n'),
            Some(b'"') if quote => out.push('"'),
            other => match escapes {
                Escapes::Keep => {
                    // Keep the backslash; the next character is copied as is.
                    out.push('\\');
                    i += 1;
                    continue;
                }
                Escapes::Reject => {
                    let shown = other.map_or(String::new(), |_| {
                        text[i + 1..]
                            .chars()
                            .next()
                            .map(String::from)
                            .unwrap_or_default()
                    });
                    return Err(Fault::at(
                        base + i,
                        format!("invalid escape sequence '\\{shown}' in {what}"),
                    ));
                }
            },
        }
        i += 2;
    }
    Ok(Cow::Owned(out))
}

/// How a label set is written.
#[derive(Debug, Clone, Copy)]
pub(super) struct LabelSyntax {
    /// Spaces and tabs may surround names, `=`, values and commas (text
    /// format); OpenMetrics allows none.
    pub(super) blanks: bool,
    /// A comma between two labels may be left out (Prometheus' text parser
    /// accepts that).
    pub(super) optional_commas: bool,
    /// A lone quoted string is the metric name (Prometheus 3 UTF-8 syntax);
    /// not inside exemplars.
    pub(super) name_inside: bool,
    pub(super) escapes: Escapes,
}

/// Up to this many labels, each new label name is compared with the ones
/// before it; beyond, duplicates are found by sorting once the set is read,
/// so a hostile line of many labels costs `n log n`, not `n²`.
const LINEAR_DUPLICATE_CHECK: usize = 16;

/// Parses a label set after its `{`, through the closing `}`. A quoted
/// metric name found inside is stored in `name`.
pub(super) fn label_set<'a>(
    cur: &mut Cursor<'a>,
    syntax: LabelSyntax,
    name: &mut Option<Cow<'a, str>>,
    out: &mut Labels<'a>,
) -> Result<(), Fault> {
    // Labels from index `first_late` on skip the linear check; `late`
    // holds their offsets for the error.
    let first_late = out.len().max(LINEAR_DUPLICATE_CHECK);
    let mut late = Vec::new();
    let read = label_pairs(cur, syntax, name, out, &mut late);
    if late.is_empty() {
        return read;
    }
    // The linear check would have failed at the first duplicate, before
    // any later error of the line; report that one whatever `read` says.
    match first_duplicate(out, first_late) {
        Some(j) => Err(Fault::at(
            late[j - first_late],
            format!("duplicate label name {:?}", out[j].0),
        )),
        None => read,
    }
}

/// The label loop of [`label_set`]. Duplicates are checked here only while
/// `out` is short; the offsets of later labels go to `late`.
fn label_pairs<'a>(
    cur: &mut Cursor<'a>,
    syntax: LabelSyntax,
    name: &mut Option<Cow<'a, str>>,
    out: &mut Labels<'a>,
    late: &mut Vec<usize>,
) -> Result<(), Fault> {
    loop {
        if syntax.blanks {
            cur.skip_blanks();
        }
        let at = cur.pos();
        let label = match cur.peek() {
            Some(b'}') => {
                cur.advance(1);
                return Ok(());
            }
            Some(b'"') => {
                let quoted = cur.quoted("label name", syntax.escapes)?;
                if syntax.blanks {
                    cur.skip_blanks();
                }
                if syntax.name_inside && matches!(cur.peek(), Some(b',' | b'}')) {
                    if name.is_some() {
                        return Err(Fault::at(at, "metric name already set"));
                    }
                    if quoted.is_empty() {
                        return Err(Fault::at(at, "empty metric name"));
                    }
                    *name = Some(quoted);
                    cur.eat(b',');
                    continue;
                }
                quoted
            }
            _ => match cur.label_name() {
                Some(n) => Cow::Borrowed(n),
                None => return Err(cur.fault("expected label name")),
            },
        };
        if syntax.blanks {
            cur.skip_blanks();
        }
        if !cur.eat(b'=') {
            return Err(cur.fault(format!("expected '=' after label name {label:?}")));
        }
        if syntax.blanks {
            cur.skip_blanks();
        }
        if cur.peek() != Some(b'"') {
            return Err(cur.fault(format!("expected label value for {label:?}")));
        }
        let value = cur.quoted("label value", syntax.escapes)?;
        if label.is_empty() {
            return Err(Fault::at(at, "empty label name"));
        }
        if label == "__name__" {
            return Err(Fault::at(at, "label name \"__name__\" is reserved"));
        }
        if out.len() < LINEAR_DUPLICATE_CHECK {
            if out.iter().any(|(n, _)| *n == label) {
                return Err(Fault::at(at, format!("duplicate label name {label:?}")));
            }
        } else {
            late.push(at);
        }
        out.push((label, value));
        if syntax.blanks {
            cur.skip_blanks();
        }
        match cur.peek() {
            Some(b',') => cur.advance(1),
            Some(b'}') => {}
            _ if syntax.optional_commas => {}
            _ => return Err(cur.fault("expected ',' or '}' after label value")),
        }
    }
}

/// The first index from `from` on whose label name occurs earlier in
/// `labels`: the label the linear check would have rejected.
fn first_duplicate(labels: &Labels<'_>, from: usize) -> Option<usize> {
    let mut order: Vec<usize> = (0..labels.len()).collect();
    // Equal names end up next to each other, in input order.
    order.sort_unstable_by(|&a, &b| labels[a].0.cmp(&labels[b].0).then(a.cmp(&b)));
    order
        .windows(2)
        .filter(|w| labels[w[0]].0 == labels[w[1]].0 && w[1] >= from)
        .map(|w| w[1])
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: LabelSyntax = LabelSyntax {
        blanks: true,
        optional_commas: true,
        name_inside: true,
        escapes: Escapes::Keep,
    };
    const OM: LabelSyntax = LabelSyntax {
        blanks: false,
        optional_commas: false,
        name_inside: true,
        escapes: Escapes::Keep,
    };
    const STRICT_TEXT: LabelSyntax = LabelSyntax {
        blanks: true,
        optional_commas: false,
        name_inside: true,
        escapes: Escapes::Reject,
    };

    type Parsed = (Option<String>, Vec<(String, String)>, String);

    fn run(syntax: LabelSyntax, input: &str) -> Result<Parsed, String> {
        let mut cur = Cursor::new(input.as_bytes());
        assert!(cur.eat(b'{'), "case must start with a brace: {input:?}");
        let mut name = None;
        let mut labels = Vec::new();
        label_set(&mut cur, syntax, &mut name, &mut labels).map_err(|f| f.reason)?;
        let rest = String::from_utf8_lossy(cur.rest()).into_owned();
        Ok((
            name.map(|n| n.into_owned()),
            labels
                .into_iter()
                .map(|(n, v)| (n.into_owned(), v.into_owned()))
                .collect(),
            rest,
        ))
    }

    #[test]
    fn label_set_cases() {
        type Want<'w> = Option<(Option<&'w str>, &'w [(&'w str, &'w str)], &'w str)>;
        let cases: &[(LabelSyntax, &str, Want)] = &[
            (OM, r#"{} 1"#, Some((None, &[], " 1"))),
            (
                OM,
                r#"{a="b",c="d"} 1"#,
                Some((None, &[("a", "b"), ("c", "d")], " 1")),
            ),
            (OM, r#"{a="b",}"#, Some((None, &[("a", "b")], ""))),
            (OM, r#"{a="1,2=3"}"#, Some((None, &[("a", "1,2=3")], ""))),
            (
                OM,
                r#"{a="x\"y\\z\nw\q"}"#,
                Some((None, &[("a", "x\"y\\z\nw\\q")], "")),
            ),
            (
                OM,
                r#"{"my.name",a="b"}"#,
                Some((Some("my.name"), &[("a", "b")], "")),
            ),
            (
                OM,
                r#"{a="b","my.name"}"#,
                Some((Some("my.name"), &[("a", "b")], "")),
            ),
            (
                OM,
                r#"{"dotted.label"="v"}"#,
                Some((None, &[("dotted.label", "v")], "")),
            ),
            (OM, r#"{a="b" }"#, None),
            (OM, r#"{a="b"c="d"}"#, None),
            (OM, r#"{a="b",,c="d"}"#, None),
            (OM, r#"{,a="b"}"#, None),
            (OM, r#"{a='b'}"#, None),
            (OM, r#"{a=}"#, None),
            (OM, r#"{a""}"#, None),
            (OM, r#"{a="b",a="c"}"#, None),
            (OM, r#"{__name__="x"}"#, None),
            (OM, r#"{1="x"}"#, None),
            (OM, r#"{a="b"#, None),
            (OM, r#"{"a","b"}"#, None),
            (
                TEXT,
                r#"{ a = "b" , c="d", }"#,
                Some((None, &[("a", "b"), ("c", "d")], "")),
            ),
            (
                TEXT,
                r#"{ quantile = "2.0" a = "b" }"#,
                Some((None, &[("quantile", "2.0"), ("a", "b")], "")),
            ),
            (TEXT, r#"{a="\t"}"#, Some((None, &[("a", "\\t")], ""))),
            (STRICT_TEXT, r#"{a="\t"}"#, None),
            (STRICT_TEXT, r#"{ quantile = "2.0" a = "b" }"#, None),
            (STRICT_TEXT, r#"{"a\xc5z",label="bla"}"#, None),
        ];
        for (syntax, input, want) in cases {
            let got = run(*syntax, input);
            let want_owned = want.map(|(n, l, r)| {
                (
                    n.map(String::from),
                    l.iter()
                        .map(|(a, b)| (a.to_string(), b.to_string()))
                        .collect::<Vec<_>>(),
                    r.to_string(),
                )
            });
            match (&got, &want_owned) {
                (Ok(g), Some(w)) => assert_eq!(g, w, "label_set({input:?}): got {g:?}, want {w:?}"),
                (Err(_), None) => {}
                _ => panic!("label_set({input:?}): got {got:?}, want {want_owned:?}"),
            }
        }
    }

    /// Long label sets, where duplicates are found after the loop: the
    /// outcome must be what the linear check gives on short ones.
    #[test]
    fn duplicates_in_long_label_sets() {
        // (labels, Some((i, j)): label j repeats the name of label i, a
        // syntax error after the last label, want Ok(count) or
        // Err((index of the label the error points at, reason))).
        type Case = (
            usize,
            Option<(usize, usize)>,
            bool,
            Result<usize, (usize, &'static str)>,
        );
        let cases: &[Case] = &[
            (3, None, false, Ok(3)),
            (
                3,
                Some((0, 2)),
                false,
                Err((2, "duplicate label name \"l0\"")),
            ),
            (5000, None, false, Ok(5000)),
            (
                5000,
                Some((0, 4999)),
                false,
                Err((4999, "duplicate label name \"l0\"")),
            ),
            (
                5000,
                Some((20, 4999)),
                false,
                Err((4999, "duplicate label name \"l20\"")),
            ),
            (
                5000,
                Some((3, 16)),
                false,
                Err((16, "duplicate label name \"l3\"")),
            ),
            (
                5000,
                Some((3, 15)),
                false,
                Err((15, "duplicate label name \"l3\"")),
            ),
            (
                5000,
                Some((100, 4000)),
                true,
                Err((4000, "duplicate label name \"l100\"")),
            ),
            (5000, None, true, Err((5000, "expected label name"))),
        ];
        for (count, duplicate, broken, want) in cases {
            let mut input = String::from("{");
            let mut starts = Vec::new();
            for k in 0..*count {
                if k > 0 {
                    input.push(',');
                }
                starts.push(input.len());
                let name = match duplicate {
                    Some((i, j)) if *j == k => *i,
                    _ => k,
                };
                input.push_str(&format!("l{name}=\"v{k}\""));
            }
            if *broken {
                input.push(',');
                starts.push(input.len());
                input.push_str("1=\"x\"");
            }
            input.push('}');
            let mut cur = Cursor::new(input.as_bytes());
            cur.advance(1);
            let mut name = None;
            let mut labels = Vec::new();
            let got = label_set(&mut cur, OM, &mut name, &mut labels)
                .map(|()| labels.len())
                .map_err(|f| (f.offset, f.reason));
            let want = want.map_err(|(k, reason)| (Some(starts[k]), reason.to_string()));
            assert_eq!(
                got, want,
                "{count} labels, duplicate {duplicate:?}, broken {broken}: got {got:?}, want {want:?}"
            );
        }
    }

    #[test]
    fn unescape_borrows_unless_needed() {
        let plain = unescape(b"plain text", 0, "help", Escapes::Keep, false).unwrap();
        assert!(
            matches!(plain, Cow::Borrowed("plain text")),
            "got {plain:?}"
        );
        let cases: &[(&[u8], Escapes, bool, Option<&str>)] = &[
            (br"a\\b", Escapes::Keep, false, Some("a\\b")),
            (br"a\nb", Escapes::Keep, false, Some("a\nb")),
            (br#"a\"b"#, Escapes::Keep, false, Some("a\\\"b")),
            (br#"a\"b"#, Escapes::Keep, true, Some("a\"b")),
            (br"tail\", Escapes::Keep, false, Some("tail\\")),
            (br"tail\", Escapes::Reject, false, None),
            (br"a\tb", Escapes::Reject, false, None),
            (
                "\\\u{2603}".as_bytes(),
                Escapes::Keep,
                false,
                Some("\\\u{2603}"),
            ),
            (b"bad \xff utf8", Escapes::Keep, false, None),
            (
                b"nul \0 is text",
                Escapes::Keep,
                false,
                Some("nul \0 is text"),
            ),
        ];
        for (input, escapes, quote, want) in cases {
            let got = unescape(input, 0, "text", *escapes, *quote).ok();
            assert_eq!(
                got.as_deref(),
                *want,
                "unescape({:?}, {escapes:?}, quote={quote})",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn names() {
        let cases: &[(&str, Option<&str>, Option<&str>)] = &[
            (
                "some:aggregate:rate5m{",
                Some("some:aggregate:rate5m"),
                Some("some"),
            ),
            ("_x1 ", Some("_x1"), Some("_x1")),
            ("9abc", None, None),
            (":a", Some(":a"), None),
            ("a.b", Some("a"), Some("a")),
        ];
        for (input, metric, label) in cases {
            let got = Cursor::new(input.as_bytes()).metric_name();
            assert_eq!(got, *metric, "metric_name({input:?})");
            let got = Cursor::new(input.as_bytes()).label_name();
            assert_eq!(got, *label, "label_name({input:?})");
        }
    }
}
