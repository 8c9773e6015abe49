//! Relabeling, as Prometheus does it (upstream `model/relabel/relabel.go`):
//! `relabel_configs` on targets and `metric_relabel_configs` on samples.

use std::fmt;

use model::{Labels, LabelsBuilder};
use regex::Regex;
use serde::{Deserialize, Serialize};

/// What a rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    #[default]
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    HashMod,
    LabelMap,
    LabelDrop,
    LabelKeep,
    Lowercase,
    Uppercase,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = serde_yaml::to_string(self).unwrap_or_default();
        f.write_str(s.trim())
    }
}

const DEFAULT_SEPARATOR: &str = ";";
const DEFAULT_REGEX: &str = "(.*)";
const DEFAULT_REPLACEMENT: &str = "$1";

/// One rule as written in `prometheus.yml`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RelabelConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_labels: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separator: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modulus: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
    #[serde(default)]
    pub action: Action,
}

/// A rule that cannot be used: its position and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelabelError {
    pub index: usize,
    pub reason: String,
}

impl fmt::Display for RelabelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rule {}: {}", self.index, self.reason)
    }
}

impl std::error::Error for RelabelError {}

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    source_labels: Vec<String>,
    separator: String,
    regex: Regex,
    modulus: u64,
    target_label: String,
    replacement: String,
    action: Action,
}

impl Rule {
    /// Compiles and validates a rule the way Prometheus validates it.
    pub fn new(c: &RelabelConfig) -> Result<Rule, String> {
        use Action::*;
        let target = c.target_label.clone().unwrap_or_default();
        let modulus = c.modulus.unwrap_or(0);
        if c.action == HashMod && modulus == 0 {
            return Err("relabel configuration for hashmod requires non-zero modulus".into());
        }
        if matches!(
            c.action,
            Replace | HashMod | Lowercase | Uppercase | KeepEqual | DropEqual
        ) && target.is_empty()
        {
            return Err(format!(
                "relabel configuration for {} action requires 'target_label' value",
                c.action
            ));
        }
        if matches!(c.action, KeepEqual | DropEqual)
            && (c.regex.as_deref().is_some_and(|r| r != DEFAULT_REGEX)
                || modulus != 0
                || c.separator
                    .as_deref()
                    .is_some_and(|s| s != DEFAULT_SEPARATOR)
                || c.replacement
                    .as_deref()
                    .is_some_and(|r| r != DEFAULT_REPLACEMENT))
        {
            return Err(format!(
                "{} action requires only 'source_labels' and `target_label`, and no other fields",
                c.action
            ));
        }
        if matches!(c.action, LabelDrop | LabelKeep)
            && (!c.source_labels.is_empty()
                || !target.is_empty()
                || modulus != 0
                || c.separator
                    .as_deref()
                    .is_some_and(|s| s != DEFAULT_SEPARATOR)
                || c.replacement
                    .as_deref()
                    .is_some_and(|r| r != DEFAULT_REPLACEMENT))
        {
            return Err(format!(
                "{} action requires only 'regex', and no other fields",
                c.action
            ));
        }
        if matches!(c.action, HashMod | Lowercase | Uppercase) && target.contains('$') {
            return Err(format!(
                "{target:?} is invalid 'target_label' for {} action",
                c.action
            ));
        }
        let regex = model::matcher::compile_anchored(c.regex.as_deref().unwrap_or(DEFAULT_REGEX))
            .map_err(|e| e.to_string())?;
        Ok(Rule {
            source_labels: c.source_labels.clone(),
            separator: c
                .separator
                .clone()
                .unwrap_or_else(|| DEFAULT_SEPARATOR.into()),
            regex,
            modulus,
            target_label: target,
            replacement: c
                .replacement
                .clone()
                .unwrap_or_else(|| DEFAULT_REPLACEMENT.into()),
            action: c.action,
        })
    }

    /// Applies the rule; false drops the series or target.
    fn apply(&self, b: &mut LabelsBuilder, current: &Labels) -> bool {
        use Action::*;
        let val = self
            .source_labels
            .iter()
            .map(|n| current.get(n).unwrap_or(""))
            .collect::<Vec<_>>()
            .join(&self.separator);
        match self.action {
            Drop => return !self.regex.is_match(&val),
            Keep => return self.regex.is_match(&val),
            DropEqual => return current.get(&self.target_label).unwrap_or("") != val,
            KeepEqual => return current.get(&self.target_label).unwrap_or("") == val,
            Replace => {
                let Some(caps) = self.regex.captures(&val) else {
                    return true;
                };
                let target = expand(&self.target_label, &caps, &self.regex);
                if target.is_empty() {
                    return true;
                }
                let res = expand(&self.replacement, &caps, &self.regex);
                if res.is_empty() {
                    b.del(&target);
                } else {
                    b.set(&target, &res);
                }
            }
            Lowercase => {
                b.set(&self.target_label, &val.to_lowercase());
            }
            Uppercase => {
                b.set(&self.target_label, &val.to_uppercase());
            }
            HashMod => {
                use md5::Digest;
                let sum = md5::Md5::digest(val.as_bytes());
                let mut tail = [0u8; 8];
                tail.copy_from_slice(&sum[8..16]);
                b.set(
                    &self.target_label,
                    &(u64::from_be_bytes(tail) % self.modulus).to_string(),
                );
            }
            LabelMap => {
                for (n, v) in current.iter() {
                    if let Some(caps) = self.regex.captures(n) {
                        let res = expand(&self.replacement, &caps, &self.regex);
                        b.set(&res, v);
                    }
                }
            }
            LabelDrop => {
                b.retain(|n| !self.regex.is_match(n));
            }
            LabelKeep => {
                b.retain(|n| self.regex.is_match(n));
            }
        }
        true
    }
}

/// Go's `Regexp.Expand`: `$1`, `${1}`, `$name`, `${name}`, `$$`; a name
/// is the longest run of letters, digits and `_`, so `$1x` names group
/// `1x`; an unknown group expands to nothing.
fn expand(template: &str, caps: &regex::Captures<'_>, re: &Regex) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        if let Some(r) = rest.strip_prefix('$') {
            out.push('$');
            rest = r;
            continue;
        }
        let (name, after) = if let Some(r) = rest.strip_prefix('{') {
            match r.find('}') {
                Some(j) if j > 0 && r[..j].chars().all(|c| c.is_alphanumeric() || c == '_') => {
                    (&r[..j], &r[j + 1..])
                }
                _ => {
                    // Not a valid reference: Go keeps the `$` literally.
                    out.push('$');
                    continue;
                }
            }
        } else {
            let n = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            if n == 0 {
                out.push('$');
                continue;
            }
            (&rest[..n], &rest[n..])
        };
        let group = match name.parse::<usize>() {
            Ok(i) => caps.get(i),
            Err(_) => re
                .capture_names()
                .position(|n| n == Some(name))
                .and_then(|i| caps.get(i)),
        };
        if let Some(m) = group {
            out.push_str(m.as_str());
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// A list of compiled rules.
#[derive(Debug, Clone, Default)]
pub struct Relabeler {
    rules: Vec<Rule>,
}

impl Relabeler {
    pub fn new(cfgs: &[RelabelConfig]) -> Result<Self, RelabelError> {
        let rules = cfgs
            .iter()
            .enumerate()
            .map(|(index, c)| Rule::new(c).map_err(|reason| RelabelError { index, reason }))
            .collect::<Result<_, _>>()?;
        Ok(Relabeler { rules })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Applies every rule in order; `None` when a rule drops the labels or
    /// nothing is left.
    pub fn process(&self, labels: &Labels) -> Option<Labels> {
        let mut current = labels.clone();
        for r in &self.rules {
            let mut b = current.builder();
            if !r.apply(&mut b, &current) {
                return None;
            }
            current = b.labels();
        }
        (!current.is_empty()).then_some(current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    fn rules(yaml: &str) -> Relabeler {
        let cfgs: Vec<RelabelConfig> =
            serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"));
        Relabeler::new(&cfgs).unwrap_or_else(|e| panic!("{yaml}: {e}"))
    }

    #[test]
    fn actions_table() {
        // (input, rules, want; None = dropped)
        let cases: Vec<(Labels, &str, Option<Labels>)> = vec![
            (
                l(&[("a", "foo"), ("b", "bar"), ("c", "baz")]),
                "- {source_labels: [a], regex: 'f(.*)', target_label: d, replacement: 'ch${1}-ch${1}'}",
                Some(l(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "choo-choo")])),
            ),
            (
                l(&[("a", "foo"), ("b", "bar")]),
                "- {source_labels: [a, b], regex: 'f(.*);(.*)r', target_label: a, replacement: 'b${1}${2}m'}",
                Some(l(&[("a", "boobam"), ("b", "bar")])),
            ),
            (l(&[("a", "foo")]), "- {source_labels: [a], regex: '.*o.*', action: drop}", None),
            (l(&[("a", "foo")]), "- {source_labels: [a], regex: 'f.*', action: keep}", Some(l(&[("a", "foo")]))),
            (l(&[("a", "boo")]), "- {source_labels: [a], regex: 'f.*', action: keep}", None),
            (l(&[("a", "foo")]), "- {source_labels: [a], regex: 'no', target_label: b}", Some(l(&[("a", "foo")]))),
            (l(&[("a", "foo")]), "- {source_labels: [a], regex: '(f).*', target_label: a, replacement: ''}", None),
            (l(&[("a", "foo")]), "- {source_labels: [a], target_label: '${1}_x'}", Some(l(&[("a", "foo"), ("foo_x", "foo")]))),
            (l(&[("a", "foo"), ("b", "x")]), "- {source_labels: [a], target_label: b, replacement: '$1x$$'}", Some(l(&[("a", "foo"), ("b", "$")]))),
            (l(&[("a", "foo")]), "- {source_labels: [a], target_label: b, replacement: '${1}x'}", Some(l(&[("a", "foo"), ("b", "foox")]))),
            (l(&[("a", "FoO")]), "- {source_labels: [a], target_label: a, action: lowercase}", Some(l(&[("a", "foo")]))),
            (l(&[("a", "FoO")]), "- {source_labels: [a], target_label: b, action: uppercase}", Some(l(&[("a", "FoO"), ("b", "FOO")]))),
            (l(&[("a", "1"), ("b", "1")]), "- {source_labels: [a], target_label: b, action: keepequal}", Some(l(&[("a", "1"), ("b", "1")]))),
            (l(&[("a", "1"), ("b", "2")]), "- {source_labels: [a], target_label: b, action: keepequal}", None),
            (l(&[("a", "1"), ("b", "1")]), "- {source_labels: [a], target_label: b, action: dropequal}", None),
            (
                l(&[("__meta_x_one", "1"), ("__meta_x_two", "2"), ("c", "3")]),
                "- {regex: '__meta_x_(.+)', action: labelmap, replacement: 'x_$1'}",
                Some(l(&[("__meta_x_one", "1"), ("__meta_x_two", "2"), ("c", "3"), ("x_one", "1"), ("x_two", "2")])),
            ),
            (l(&[("a", "1"), ("b", "2"), ("ab", "3")]), "- {regex: 'a.*', action: labeldrop}", Some(l(&[("b", "2")]))),
            (l(&[("a", "1"), ("b", "2"), ("ab", "3")]), "- {regex: 'a.*', action: labelkeep}", Some(l(&[("a", "1"), ("ab", "3")]))),
            (l(&[("a", "1")]), "- {regex: 'a', action: labeldrop}", None),
        ];
        for (input, yaml, want) in cases {
            let got = rules(yaml).process(&input);
            assert_eq!(got, want, "input {input}, rules {yaml}");
        }
    }

    #[test]
    fn hashmod_matches_prometheus() {
        // Upstream relabel_test.go: "baz" with modulus 1000 gives 976 (the
        // low 8 bytes of its MD5, big-endian, modulo 1000).
        let got = rules("- {source_labels: [c], target_label: d, action: hashmod, modulus: 1000}")
            .process(&l(&[("c", "baz")]));
        assert_eq!(
            got.and_then(|x| x.get("d").map(str::to_string)).as_deref(),
            Some("976")
        );
    }

    #[test]
    fn validation_errors() {
        let cases = [
            (
                "- {action: hashmod, target_label: a}",
                "requires non-zero modulus",
            ),
            ("- {action: replace}", "requires 'target_label'"),
            (
                "- {action: labeldrop, source_labels: [a]}",
                "requires only 'regex'",
            ),
            (
                "- {action: keepequal, target_label: a, regex: x}",
                "requires only 'source_labels'",
            ),
            (
                "- {action: lowercase, target_label: '$1'}",
                "is invalid 'target_label'",
            ),
            (
                "- {target_label: a, regex: '('}",
                "invalid regular expression",
            ),
        ];
        for (yaml, want) in cases {
            let cfgs: Vec<RelabelConfig> = serde_yaml::from_str(yaml).unwrap();
            let e = Relabeler::new(&cfgs).unwrap_err();
            assert!(e.reason.contains(want), "{yaml}: got {e}, want {want:?}");
        }
        assert!(serde_yaml::from_str::<Vec<RelabelConfig>>("- {action: explode}").is_err());
        assert!(serde_yaml::from_str::<Vec<RelabelConfig>>("- {sauce_labels: [a]}").is_err());
    }
}
