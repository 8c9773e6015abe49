//! Alertmanager's matchers: the `matchers:` strings of routes and inhibit
//! rules (`severity="critical"`, `{team=~"db|web", env!="dev"}`, unquoted
//! values too), and the legacy `match` / `match_re` maps, whose regexes
//! are anchored as `^(?:…)$`.

use std::collections::BTreeMap;
use std::fmt;

use model::{MatchOp, Matcher as LabelMatcher};

use crate::Error;

/// A matcher as Alertmanager prints it in route keys: `name="value"`.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    /// The value as Alertmanager keeps it (anchored for `match_re`).
    pub value: String,
    m: LabelMatcher,
}

impl Matcher {
    pub fn new(op: MatchOp, name: &str, value: &str) -> Result<Self, Error> {
        let m = LabelMatcher::new(op, name, value).map_err(|e| Error::BadMatcher(e.to_string()))?;
        Ok(Matcher {
            name: name.to_string(),
            op,
            value: value.to_string(),
            m,
        })
    }

    /// Whether the labels (name → value) pass; a missing label is "".
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.m
            .matches(labels.get(&self.name).map_or("", String::as_str))
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = if crate::config::is_classic_name(&self.name) {
            self.name.clone()
        } else {
            format!("{:?}", self.name)
        };
        write!(f, "{name}{}{:?}", self.op, self.value)
    }
}

/// `{a="b",c=~"d"}`, the form of route keys.
pub fn list_string(ms: &[Matcher]) -> String {
    let parts: Vec<String> = ms.iter().map(|m| m.to_string()).collect();
    format!("{{{}}}", parts.join(","))
}

/// Sorts as Alertmanager's `labels.Matchers` sort: by name, value, type.
pub fn sort(ms: &mut [Matcher]) {
    ms.sort_by(|a, b| {
        a.name
            .cmp(&b.name)
            .then_with(|| a.value.cmp(&b.value))
            .then_with(|| op_rank(a.op).cmp(&op_rank(b.op)))
    });
}

fn op_rank(op: MatchOp) -> u8 {
    match op {
        MatchOp::Equal => 0,
        MatchOp::NotEqual => 1,
        MatchOp::RegexMatch => 2,
        MatchOp::RegexNoMatch => 3,
    }
}

/// Parses one `matchers:` entry, which may hold several matchers
/// separated by commas, optionally in braces.
pub fn parse(input: &str) -> Result<Vec<Matcher>, Error> {
    parse_str(input).map_err(Error::BadMatcher)
}

fn parse_str(input: &str) -> Result<Vec<Matcher>, String> {
    let mut s = input.trim();
    if let Some(inner) = s.strip_prefix('{') {
        s = inner
            .strip_suffix('}')
            .ok_or_else(|| format!("{input}: missing closing '}}'"))?
            .trim();
    }
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        if i >= chars.len() {
            break;
        }
        // The name: quoted, or up to the operator.
        let name = if chars[i] == '"' {
            let (v, next) = quoted(&chars, i)
                .ok_or_else(|| format!("{input}: unterminated quoted label name"))?;
            i = next;
            v
        } else {
            let start = i;
            while i < chars.len()
                && !matches!(chars[i], '=' | '!' | '~')
                && !chars[i].is_whitespace()
            {
                i += 1;
            }
            chars[start..i].iter().collect()
        };
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        let op = match (chars.get(i), chars.get(i + 1)) {
            (Some('='), Some('~')) => {
                i += 2;
                MatchOp::RegexMatch
            }
            (Some('!'), Some('=')) => {
                i += 2;
                MatchOp::NotEqual
            }
            (Some('!'), Some('~')) => {
                i += 2;
                MatchOp::RegexNoMatch
            }
            (Some('='), _) => {
                i += 1;
                MatchOp::Equal
            }
            _ => return Err(format!("bad matcher format: {input}")),
        };
        if name.is_empty() {
            return Err(format!("bad matcher format: {input}"));
        }
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        let value = if chars.get(i) == Some(&'"') {
            let (v, next) =
                quoted(&chars, i).ok_or_else(|| format!("{input}: unterminated quoted string"))?;
            i = next;
            v
        } else {
            let start = i;
            while i < chars.len() && chars[i] != ',' {
                i += 1;
            }
            chars[start..i]
                .iter()
                .collect::<String>()
                .trim()
                .to_string()
        };
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        if i < chars.len() {
            if chars[i] != ',' {
                return Err(format!("bad matcher format: {input}"));
            }
            i += 1;
        }
        out.push(Matcher::new(op, &name, &value).map_err(|e| format!("{input}: {e}"))?);
    }
    Ok(out)
}

/// A Go-quoted string starting at `i`; the string and the index after it.
fn quoted(chars: &[char], i: usize) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut j = i + 1;
    while j < chars.len() {
        match chars[j] {
            '"' => return Some((out, j + 1)),
            '\\' => {
                j += 1;
                match chars.get(j)? {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    c => out.push(*c),
                }
            }
            c => out.push(c),
        }
        j += 1;
    }
    None
}

/// The legacy `match` and `match_re` maps as matchers; regexes anchored.
pub fn from_maps(
    equal: &BTreeMap<String, String>,
    regex: &BTreeMap<String, String>,
) -> Result<Vec<Matcher>, Error> {
    let mut out = Vec::new();
    for (k, v) in equal {
        out.push(Matcher::new(MatchOp::Equal, k, v)?);
    }
    for (k, v) in regex {
        out.push(Matcher::new(MatchOp::RegexMatch, k, &format!("^(?:{v})$"))?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_alertmanager_matchers() {
        let cases: &[(&str, &str)] = &[
            ("severity=critical", "{severity=\"critical\"}"),
            ("severity = \"critical\"", "{severity=\"critical\"}"),
            (
                "{team=~\"db|web\", env!=dev}",
                "{team=~\"db|web\",env!=\"dev\"}",
            ),
            ("a!~\"x,y\"", "{a!~\"x,y\"}"),
            ("\"ünï\"=\"v\"", "{\"ünï\"=\"v\"}"),
        ];
        for (input, want) in cases {
            let got = parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(list_string(&got), *want, "{input}");
        }
        for bad in ["=x", "a", "a=\"x", "{a=b", "a=~\"(\""] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn legacy_regexes_are_anchored() {
        let m = from_maps(
            &BTreeMap::new(),
            &[("env".to_string(), "produ.*".to_string())].into(),
        )
        .unwrap();
        assert_eq!(m[0].to_string(), "env=~\"^(?:produ.*)$\"");
        let l = |v: &str| BTreeMap::from([("env".to_string(), v.to_string())]);
        assert!(m[0].matches(&l("production")));
        assert!(!m[0].matches(&l("xproduction")));
    }
}
