//! `$` templates in `target_label` and `replacement`, expanded the way
//! Go's `Regexp.Expand` does.

use std::sync::LazyLock;

use regex::{Captures, Regex};

/// A `target_label` or `replacement` parsed once with Go's `Regexp.Expand`
/// rules: `$$` is `$`; `$name` takes the longest run of letters, digits
/// and `_` (so `$1x` names group `1x`); `${name}` needs the closing brace; a
/// name of ASCII digits without a leading zero is a group number; any other
/// `$` is literal; a group that does not exist or did not take part expands
/// to nothing.
#[derive(Debug, Clone)]
pub(super) struct Template {
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone)]
pub(super) enum Piece {
    Literal(String),
    Group(usize),
}

/// Go's `unicode.IsLetter`, `unicode.IsDigit` or `_`: Unicode categories L
/// and Nd, which differ from `char::is_alphanumeric`.
static NAME: LazyLock<Regex> = LazyLock::new(|| {
    // A fixed, valid pattern: failure here is a bug, not input.
    Regex::new(r"^[\p{L}\p{Nd}_]*").expect("group name pattern compiles")
});

impl Template {
    pub(super) fn parse(src: &str, re: &Regex) -> Template {
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let mut rest = src;
        while let Some(i) = rest.find('$') {
            lit.push_str(&rest[..i]);
            rest = &rest[i + 1..];
            if let Some(r) = rest.strip_prefix('$') {
                lit.push('$');
                rest = r;
                continue;
            }
            let Some((name, after)) = reference(rest) else {
                lit.push('$');
                continue;
            };
            rest = after;
            if let Some(g) = group_index(name, re) {
                if !lit.is_empty() {
                    pieces.push(Piece::Literal(std::mem::take(&mut lit)));
                }
                pieces.push(Piece::Group(g));
            }
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            pieces.push(Piece::Literal(lit));
        }
        Template { pieces }
    }

    pub(super) fn expand(&self, caps: &Captures<'_>) -> String {
        let mut out = String::new();
        self.expand_into(caps, &mut out);
        out
    }

    pub(super) fn expand_into(&self, caps: &Captures<'_>, out: &mut String) {
        for p in &self.pieces {
            match p {
                Piece::Literal(s) => out.push_str(s),
                Piece::Group(i) => out.push_str(caps.get(*i).map_or("", |m| m.as_str())),
            }
        }
    }
}

/// Splits a `name` or `{name}` reference (after the `$`) from the rest.
fn reference(s: &str) -> Option<(&str, &str)> {
    let (braced, body) = match s.strip_prefix('{') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let n = NAME.find(body).map_or(0, |m| m.end());
    if n == 0 {
        return None;
    }
    let rest = if braced {
        body[n..].strip_prefix('}')?
    } else {
        &body[n..]
    };
    Some((&body[..n], rest))
}

fn group_index(name: &str, re: &Regex) -> Option<usize> {
    let numeric =
        name.bytes().all(|b| b.is_ascii_digit()) && (name == "0" || !name.starts_with('0'));
    if numeric {
        // Too long to parse means more groups than any regex has.
        let n: usize = name.parse().ok()?;
        return (n < re.captures_len()).then_some(n);
    }
    re.capture_names().position(|n| n == Some(name))
}
