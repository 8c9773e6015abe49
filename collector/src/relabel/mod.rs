//! Relabeling with Prometheus 3.x semantics: `relabel_configs` on targets
//! and `metric_relabel_configs` on samples.
//!
//! This mirrors upstream `model/relabel/relabel.go` (behaviour, not code):
//! the same defaults, the same validation and error messages under the
//! UTF-8 name validation that Prometheus 3 uses by default, regexes anchored
//! as `^(?s:...)$` with Go's RE2 meaning (via [`model::matcher::compile_anchored`]),
//! Go's `Regexp.Expand` for `$1`, `${name}` and `$$`, Go's one-to-one case
//! mapping for `lowercase`/`uppercase`, and the MD5-based `hashmod`.
//!
//! A [`RelabelConfig`] is the raw YAML rule; [`Rule`] is one compiled rule;
//! a [`Relabeler`] applies a list of them in order to a [`Labels`] set.
//!
//! ```
//! use collector::relabel::{RelabelConfig, Relabeler};
//! use model::Labels;
//!
//! let cfgs: Vec<RelabelConfig> = model::yaml::from_str(
//!     "- {source_labels: [__address__], regex: '(.+):\\d+', target_label: host}",
//! ).unwrap();
//! let r = Relabeler::new(&cfgs).unwrap();
//! let out = r.process(&Labels::from_pairs([("__address__", "db1:9100")])).unwrap();
//! assert_eq!(out.get("host"), Some("db1"));
//! ```

mod case;
mod template;

use case::{go_lower, go_upper};
use template::Template;

pub use config::relabel::{Action, RelabelConfig, RelabelError};
use model::Labels;
use regex::Regex;

/// A compiled, validated rule.
#[derive(Debug, Clone)]
pub struct Rule {
    action: Action,
    source_labels: Vec<String>,
    separator: String,
    regex: Regex,
    modulus: u64,
    target_label: String,
    /// `target_label` as a template (used by `replace` only).
    target: Template,
    replacement: Template,
}

impl Rule {
    /// Compiles and validates a rule as upstream's `UnmarshalYAML` and
    /// `Validate` do, with UTF-8 name validation (Prometheus 3's default): a
    /// label name is valid when it is not empty.
    pub fn new(c: &RelabelConfig) -> Result<Rule, RelabelError> {
        let c = c.check()?;
        Ok(Rule {
            target: Template::parse(&c.target_label, &c.regex),
            replacement: Template::parse(&c.replacement, &c.regex),
            action: c.action,
            source_labels: c.source_labels,
            separator: c.separator,
            regex: c.regex,
            modulus: c.modulus,
            target_label: c.target_label,
        })
    }

    /// Applies the rule to `b`; false when the set is to be dropped.
    fn apply(&self, b: &mut Scratch<'_>) -> bool {
        let val = self
            .source_labels
            .iter()
            .map(|n| b.get(n))
            .collect::<Vec<_>>()
            .join(&self.separator);
        match self.action {
            Action::Drop => return !self.regex.is_match(&val),
            Action::Keep => return self.regex.is_match(&val),
            Action::DropEqual => return b.get(&self.target_label) != val,
            Action::KeepEqual => return b.get(&self.target_label) == val,
            Action::Replace => {
                let Some(caps) = self.regex.captures(&val) else {
                    return true;
                };
                let target = self.target.expand(&caps);
                // The only invalid UTF-8 label name is the empty one.
                if !target.is_empty() {
                    b.set(&target, &self.replacement.expand(&caps));
                }
            }
            Action::Lowercase => b.set(&self.target_label, &go_lower(&val)),
            Action::Uppercase => b.set(&self.target_label, &go_upper(&val)),
            Action::HashMod => {
                use md5::Digest;
                let sum = md5::Md5::digest(val.as_bytes());
                // Upstream uses only the last 8 bytes, big-endian.
                let mut tail = [0u8; 8];
                tail.copy_from_slice(&sum[8..]);
                let m = u64::from_be_bytes(tail) % self.modulus;
                b.set(&self.target_label, &m.to_string());
            }
            Action::LabelMap => b.range(|b, name, value| {
                if self.regex.is_match(name) {
                    let new = self.replace_all(name);
                    b.set(&new, value);
                }
            }),
            Action::LabelDrop => b.range(|b, name, _| {
                if self.regex.is_match(name) {
                    b.del(name);
                }
            }),
            Action::LabelKeep => b.range(|b, name, _| {
                if !self.regex.is_match(name) {
                    b.del(name);
                }
            }),
        }
        true
    }

    /// Go's `Regexp.ReplaceAllString(s, replacement)`. With the anchored
    /// regex this is one expansion of the whole match; the loop only matters
    /// for patterns that escape the anchors, such as `a)|(b`.
    fn replace_all(&self, s: &str) -> String {
        let mut out = String::new();
        let mut last = 0;
        for caps in self.regex.captures_iter(s) {
            let Some(m) = caps.get(0) else { continue };
            out.push_str(&s[last..m.start()]);
            self.replacement.expand_into(&caps, &mut out);
            last = m.end();
        }
        out.push_str(&s[last..]);
        out
    }
}

/// A list of compiled rules applied in order.
#[derive(Debug, Clone, Default)]
pub struct Relabeler {
    rules: Vec<Rule>,
}

impl Relabeler {
    /// Compiles every rule; the error names the first bad rule's position.
    pub fn new(cfgs: &[RelabelConfig]) -> Result<Self, RelabelError> {
        let rules = cfgs
            .iter()
            .enumerate()
            .map(|(index, c)| Rule::new(c).map_err(|e| RelabelError { index, ..e }))
            .collect::<Result<_, _>>()?;
        Ok(Relabeler { rules })
    }

    /// Whether there are no rules, so that callers can skip the work.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Applies every rule in order (upstream `ProcessBuilder`); `None` when
    /// a rule drops the set or no label is left.
    pub fn process(&self, labels: &Labels) -> Option<Labels> {
        let mut b = Scratch::new(labels);
        for r in &self.rules {
            if !r.apply(&mut b) {
                return None;
            }
        }
        let out = b.labels();
        (!out.is_empty()).then_some(out)
    }
}

/// The working set of one `process` call, shaped like upstream's
/// `labels.Builder`: the input stays as the base, with additions in the
/// order first set and deletions on the side. Upstream `labelmap` visits the
/// base first and then the additions in that order, so when two labels map
/// to one name the later visited wins; a sorted rebuild after every rule
/// would pick a different winner.
struct Scratch<'a> {
    base: &'a Labels,
    add: Vec<(String, String)>,
    del: Vec<String>,
}

impl<'a> Scratch<'a> {
    fn new(base: &'a Labels) -> Self {
        Scratch {
            base,
            add: Vec::new(),
            del: Vec::new(),
        }
    }

    fn get(&self, name: &str) -> &str {
        if let Some((_, v)) = self.add.iter().find(|(n, _)| n == name) {
            return v;
        }
        if self.del.iter().any(|n| n == name) {
            return "";
        }
        self.base.get(name).unwrap_or("")
    }

    /// Sets `name`; an empty value deletes it.
    fn set(&mut self, name: &str, value: &str) {
        if value.is_empty() {
            return self.del(name);
        }
        match self.add.iter_mut().find(|(n, _)| n == name) {
            Some(pair) => pair.1 = value.to_string(),
            None => self.add.push((name.to_string(), value.to_string())),
        }
    }

    fn del(&mut self, name: &str) {
        self.add.retain(|(n, _)| n != name);
        self.del.push(name.to_string());
    }

    /// Visits the labels as they are now; `f` may set and delete without
    /// affecting what is visited.
    fn range(&mut self, mut f: impl FnMut(&mut Self, &str, &str)) {
        let add = self.add.clone();
        let del = self.del.clone();
        let base = self.base;
        for (n, v) in base.iter() {
            if !del.iter().any(|d| d == n) && !add.iter().any(|(a, _)| a == n) {
                f(self, n, v);
            }
        }
        for (n, v) in &add {
            f(self, n, v);
        }
    }

    fn labels(&self) -> Labels {
        if self.add.is_empty() && self.del.is_empty() {
            return self.base.clone();
        }
        let mut b = self.base.builder();
        b.retain(|n| !self.del.iter().any(|d| d == n));
        for (n, v) in &self.add {
            b.set(n, v);
        }
        b.labels()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    fn relabeler(yaml: &str) -> Relabeler {
        let cfgs: Vec<RelabelConfig> =
            model::yaml::from_str(yaml).unwrap_or_else(|e| panic!("parse {yaml}: {e}"));
        Relabeler::new(&cfgs).unwrap_or_else(|e| panic!("compile {yaml}: {e}"))
    }

    struct Case {
        name: &'static str,
        input: &'static [(&'static str, &'static str)],
        rules: &'static str,
        /// `None`: dropped.
        want: Option<&'static [(&'static str, &'static str)]>,
    }

    const ABC: &[(&str, &str)] = &[("a", "foo"), ("b", "bar"), ("c", "baz")];
    const PORTS: &[(&str, &str)] = &[
        ("__tmp_port", "1234"),
        ("__port1", "1234"),
        ("__port2", "5678"),
    ];
    const LINES: &[(&str, &str)] = &[("a", "line1\nline2"), ("b", "bar"), ("c", "baz")];

    /// Upstream `TestRelabel` (in order), its benchmark configurations, then
    /// our own cases for Go-specific behaviour.
    #[rustfmt::skip]
    const CASES: &[Case] = &[
        Case { name: "replace", input: ABC,
            rules: "- {source_labels: [a], regex: 'f(.*)', target_label: d, replacement: 'ch${1}-ch${1}'}",
            want: Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "choo-choo")]) },
        Case { name: "replace sees the previous rule", input: ABC,
            rules: "
                    - {source_labels: [a, b], regex: 'f(.*);(.*)r', target_label: a, replacement: 'b${1}${2}m'}
                    - {source_labels: [c, a], regex: '(b).*b(.*)ba(.*)', target_label: d, replacement: '$1$2$2$3'}",
            want: Some(&[("a", "boobam"), ("b", "bar"), ("c", "baz"), ("d", "boooom")]) },
        Case { name: "drop stops the list", input: &[("a", "foo")],
            rules: "
                    - {source_labels: [a], regex: '.*o.*', action: drop}
                    - {source_labels: [a], regex: 'f(.*)', target_label: d, replacement: 'ch$1-ch$1'}",
            want: None },
        Case { name: "drop", input: &[("a", "foo"), ("b", "bar")],
            rules: "- {source_labels: [a], regex: '.*o.*', action: drop}", want: None },
        Case { name: "group in the middle", input: &[("a", "abc")],
            rules: "- {source_labels: [a], regex: '.*(b).*', target_label: d, replacement: '$1'}",
            want: Some(&[("a", "abc"), ("d", "b")]) },
        Case { name: "drop without match", input: &[("a", "foo")],
            rules: "- {source_labels: [a], regex: no-match, action: drop}", want: Some(&[("a", "foo")]) },
        Case { name: "drop regex is anchored", input: &[("a", "foo")],
            rules: "- {source_labels: [a], regex: 'f|o', action: drop}", want: Some(&[("a", "foo")]) },
        Case { name: "keep without match", input: &[("a", "foo")],
            rules: "- {source_labels: [a], regex: no-match, action: keep}", want: None },
        Case { name: "keep", input: &[("a", "foo")],
            rules: "- {source_labels: [a], regex: 'f.*', action: keep}", want: Some(&[("a", "foo")]) },
        Case { name: "no match, no replacement", input: &[("a", "boo")],
            rules: "- {source_labels: [a], regex: f, target_label: b, replacement: bar}", want: Some(&[("a", "boo")]) },
        Case { name: "blank replacement deletes", input: &[("a", "foo"), ("f", "baz")],
            rules: "- {source_labels: [a], regex: '(f).*', target_label: '$1', replacement: '$2'}",
            want: Some(&[("a", "foo")]) },
        Case { name: "hashmod", input: ABC,
            rules: "- {source_labels: [c], target_label: d, action: hashmod, modulus: 1000}",
            want: Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "976")]) },
        Case { name: "hashmod of a newline", input: &[("a", "foo\nbar")],
            rules: "- {source_labels: [a], target_label: b, action: hashmod, modulus: 1000}",
            want: Some(&[("a", "foo\nbar"), ("b", "734")]) },
        Case { name: "labelmap", input: &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
            rules: "- {regex: '(b.*)', replacement: 'bar_${1}', action: labelmap}",
            want: Some(&[("a", "foo"), ("b1", "bar"), ("b2", "baz"), ("bar_b1", "bar"), ("bar_b2", "baz")]) },
        Case { name: "labelmap meta", input: &[("a", "foo"), ("__meta_my_bar", "aaa"), ("__meta_my_baz", "bbb"), ("__meta_other", "ccc")],
            rules: "- {regex: '__meta_(my.*)', replacement: '${1}', action: labelmap}",
            want: Some(&[("a", "foo"), ("__meta_my_bar", "aaa"), ("__meta_my_baz", "bbb"), ("__meta_other", "ccc"), ("my_bar", "aaa"), ("my_baz", "bbb")]) },
        Case { name: "target from a group", input: &[("a", "some-name-value")],
            rules: "- {source_labels: [a], regex: 'some-([^-]+)-([^,]+)', replacement: '${2}', target_label: '${1}'}",
            want: Some(&[("a", "some-name-value"), ("name", "value")]) },
        Case { name: "missing group in replacement", input: &[("a", "some-name-value")],
            rules: "- {source_labels: [a], regex: 'some-([^-]+)-([^,]+)', replacement: '${3}', target_label: '${1}'}",
            want: Some(&[("a", "some-name-value")]) },
        Case { name: "missing group in target", input: &[("a", "some-name-0")],
            rules: "
                    - {source_labels: [a], regex: 'some-([^-]+)-([^,]+)', replacement: '${1}', target_label: '${3}'}
                    - {source_labels: [a], regex: 'some-([^-]+)-([^,]+)', replacement: '${1}', target_label: '${3}'}
                    - {source_labels: [a], regex: 'some-([^-]+)(-[^,]+)', replacement: '${1}', target_label: '${3}'}",
            want: Some(&[("a", "some-name-0")]) },
        Case { name: "service discovery tags", input: &[("__meta_sd_tags", "path:/secret,job:some-job,label:foo=bar")],
            rules: "
                    - {source_labels: [__meta_sd_tags], regex: '(?:.+,|^)path:(/[^,]+).*', replacement: '${1}', target_label: __metrics_path__}
                    - {source_labels: [__meta_sd_tags], regex: '(?:.+,|^)job:([^,]+).*', replacement: '${1}', target_label: job}
                    - {source_labels: [__meta_sd_tags], regex: '(?:.+,|^)label:([^=]+)=([^,]+).*', replacement: '${2}', target_label: '${1}'}",
            want: Some(&[("__meta_sd_tags", "path:/secret,job:some-job,label:foo=bar"), ("__metrics_path__", "/secret"), ("job", "some-job"), ("foo", "bar")]) },
        Case { name: "issue 12283", input: &[("__meta_kubernetes_pod_container_port_name", "foo"), ("__meta_kubernetes_pod_annotation_XXX_metrics_port", "9091")],
            rules: "
                    - {regex: '^__meta_kubernetes_pod_container_port_name$', action: labeldrop}
                    - {source_labels: [__meta_kubernetes_pod_annotation_XXX_metrics_port], regex: '(.+)', replacement: metrics, target_label: __meta_kubernetes_pod_container_port_name}
                    - {source_labels: [__meta_kubernetes_pod_container_port_name], regex: '^metrics$', action: keep}",
            want: Some(&[("__meta_kubernetes_pod_annotation_XXX_metrics_port", "9091"), ("__meta_kubernetes_pod_container_port_name", "metrics")]) },
        Case { name: "labelkeep", input: &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
            rules: "- {regex: '(b.*)', action: labelkeep}", want: Some(&[("b1", "bar"), ("b2", "baz")]) },
        Case { name: "labeldrop", input: &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
            rules: "- {regex: '(b.*)', action: labeldrop}", want: Some(&[("a", "foo")]) },
        Case { name: "uppercase and lowercase", input: &[("foo", "bAr123Foo")],
            rules: "
                    - {source_labels: [foo], action: uppercase, target_label: foo_uppercase}
                    - {source_labels: [foo], action: lowercase, target_label: foo_lowercase}",
            want: Some(&[("foo", "bAr123Foo"), ("foo_lowercase", "bar123foo"), ("foo_uppercase", "BAR123FOO")]) },
        Case { name: "keepequal, equal", input: PORTS,
            rules: "- {source_labels: [__tmp_port], action: keepequal, target_label: __port1}", want: Some(PORTS) },
        Case { name: "dropequal, equal", input: PORTS,
            rules: "- {source_labels: [__tmp_port], action: dropequal, target_label: __port1}", want: None },
        Case { name: "dropequal, different", input: PORTS,
            rules: "- {source_labels: [__tmp_port], action: dropequal, target_label: __port2}", want: Some(PORTS) },
        Case { name: "keepequal, different", input: PORTS,
            rules: "- {source_labels: [__tmp_port], action: keepequal, target_label: __port2}", want: None },
        Case { name: "dot matches newline", input: LINES,
            rules: "- {source_labels: [a], regex: 'line1.*line2', target_label: d, replacement: 'match${1}'}",
            want: Some(&[("a", "line1\nline2"), ("b", "bar"), ("c", "baz"), ("d", "match")]) },
        Case { name: "UTF-8 source label", input: &[("utf-8.label", "line1\nline2"), ("b", "bar"), ("c", "baz")],
            rules: "- {source_labels: [utf-8.label], regex: 'line1.*line2', target_label: d, replacement: 'match${1}'}",
            want: Some(&[("utf-8.label", "line1\nline2"), ("b", "bar"), ("c", "baz"), ("d", "match")]) },
        Case { name: "UTF-8 target label", input: LINES,
            rules: "- {source_labels: [a], regex: 'line1.*line2', target_label: utf-8.label, replacement: 'match${1}'}",
            want: Some(&[("a", "line1\nline2"), ("b", "bar"), ("c", "baz"), ("utf-8.label", "match")]) },
        Case { name: "UTF-8 target label with a reference", input: LINES,
            rules: "- {source_labels: [a], regex: 'line1.*line2', target_label: 'utf-8.label${1}', replacement: 'match${1}'}",
            want: Some(&[("a", "line1\nline2"), ("b", "bar"), ("c", "baz"), ("utf-8.label", "match")]) },
        Case { name: "reference styles", input: LINES,
            rules: "
                    - {source_labels: [a], regex: '(line1).*(?<second>line2)', target_label: 'label1_${1}', replacement: 'val_${second}'}
                    - {source_labels: [a], regex: '(line1).*(?<second>line2)', target_label: 'label2_$1', replacement: 'val_$second'}",
            want: Some(&[("a", "line1\nline2"), ("b", "bar"), ("c", "baz"), ("label1_line1", "val_line2"), ("label2_line1", "val_line2")]) },
        Case { name: "__type__", input: &[("__name__", "http_requests_total")],
            rules: "- {source_labels: [__name__], regex: '.*_total$', target_label: __type__, replacement: counter}",
            want: Some(&[("__name__", "http_requests_total"), ("__type__", "counter")]) },
        Case { name: "__unit__", input: &[("__name__", "disk_usage_bytes")],
            rules: "- {source_labels: [__name__], regex: '.*_bytes$', target_label: __unit__, replacement: bytes}",
            want: Some(&[("__name__", "disk_usage_bytes"), ("__unit__", "bytes")]) },
        // BenchmarkRelabel's configurations.
        Case { name: "benchmark example", input: &[("__meta_dns_name", "example-some-x.com"), ("abc", "def"), ("job", "foo")],
            rules: "
            - source_labels: [job, __meta_dns_name]
              regex: \"(.*)some-[regex]\"
              target_label: job
              replacement: foo-${1}
            - source_labels: [abc]
              target_label: cde
            - replacement: static
              target_label: abc
            - regex:
              replacement: static
              target_label: abc",
            want: Some(&[("__meta_dns_name", "example-some-x.com"), ("abc", "static"), ("cde", "def"), ("job", "foo")]) },
        Case { name: "benchmark static label pair", input: &[("abcdefg01", "hijklmn1"), ("job", "foo")],
            rules: "
            - {replacement: wwwwww, target_label: wwwwww}
            - {replacement: yyyyyyyyyyyy, target_label: xxxxxxxxx}
            - {replacement: xxxxxxxxx, target_label: yyyyyyyyyyyy}
            - {source_labels: [something], target_label: with_source_labels, replacement: value}
            - {replacement: dropped, target_label: '${0}'}
            - {replacement: '${0}', target_label: dropped}",
            want: Some(&[("abcdefg01", "hijklmn1"), ("job", "foo"), ("wwwwww", "wwwwww"), ("xxxxxxxxx", "yyyyyyyyyyyy"), ("yyyyyyyyyyyy", "xxxxxxxxx"), ("with_source_labels", "value")]) },
        Case { name: "benchmark kubernetes (hash 1 is not kept)", input: &[("__address__", "10.132.183.40:80"), ("__meta_kubernetes_namespace", "loki"), ("__meta_kubernetes_pod_container_port_name", "http-metrics")],
            rules: "
            - {source_labels: [__meta_kubernetes_pod_container_port_name], regex: .*-metrics, action: keep}
            - {source_labels: [__address__, __meta_kubernetes_pod_annotation_prometheus_io_port], target_label: __address__, regex: '(.+?)(\\:\\d+)?;(\\d+)', replacement: '$1:$3'}
            - {source_labels: [__meta_kubernetes_namespace], regex: hosted-grafana, action: drop}
            - {source_labels: [__address__], target_label: __tmp_hash, modulus: 3, action: hashmod}
            - {source_labels: [__tmp_hash], regex: ^0$, action: keep}",
            want: None },
        // Our own: behaviour that follows from Go.
        Case { name: "labelmap: base first, then additions, last wins", input: &[("b_x", "base")],
            rules: "
                    - {target_label: a_x, replacement: added}
                    - {regex: '(a|b)_x', replacement: m, action: labelmap}",
            want: Some(&[("a_x", "added"), ("b_x", "base"), ("m", "added")]) },
        Case { name: "labelmap does not revisit its own output", input: &[("a", "1")],
            rules: "- {regex: '(.*)', replacement: '${1}a', action: labelmap}",
            want: Some(&[("a", "1"), ("aa", "1")]) },
        Case { name: "explicit null regex is the empty regex", input: &[("a", "foo")],
            rules: "- {source_labels: [a], regex: null, target_label: b, replacement: x}", want: Some(&[("a", "foo")]) },
        Case { name: "explicit null separator is empty", input: &[("a", "x"), ("b", "y")],
            rules: "- {source_labels: [a, b], separator: null, target_label: c}",
            want: Some(&[("a", "x"), ("b", "y"), ("c", "xy")]) },
        Case { name: "null source_labels", input: &[("a", "1")],
            rules: "- {source_labels: null, target_label: b, replacement: x}", want: Some(&[("a", "1"), ("b", "x")]) },
        Case { name: "numbers read as strings", input: &[("a", "1")],
            rules: "- {source_labels: [a], regex: 1, target_label: b, replacement: 2}", want: Some(&[("a", "1"), ("b", "2")]) },
        Case { name: "absent source label joins as empty", input: &[("a", "x")],
            rules: "- {source_labels: [a, nope, a], target_label: c}", want: Some(&[("a", "x"), ("c", "x;;x")]) },
        Case { name: "action is case-insensitive", input: &[("a", "foo")],
            rules: "- {source_labels: [a], regex: 'f.*', action: DROP}", want: None },
        Case { name: "lowercase of an empty value deletes", input: &[("a", "x"), ("b", "B")],
            rules: "- {source_labels: [nope], target_label: b, action: lowercase}", want: Some(&[("a", "x")]) },
        Case { name: "Go simple case mapping", input: &[("a", "İΣΑΣ"), ("b", "straße ᾳ")],
            rules: "
                    - {source_labels: [a], target_label: lo, action: lowercase}
                    - {source_labels: [b], target_label: up, action: uppercase}",
            want: Some(&[("a", "İΣΑΣ"), ("b", "straße ᾳ"), ("lo", "iσασ"), ("up", "STRAßE ᾼ")]) },
        Case { name: "Go classes: \\d is ASCII", input: &[("a", "١٢")],
            rules: "- {source_labels: [a], regex: '\\d+', action: keep}", want: None },
        Case { name: "dropping every label drops the set", input: &[("a", "x")],
            rules: "- {regex: 'a', action: labeldrop}", want: None },
        Case { name: "a set label can be read and deleted later", input: &[("a", "x")],
            rules: "
                    - {target_label: b, replacement: y}
                    - {source_labels: [b], target_label: c}
                    - {regex: b, action: labeldrop}
                    - {source_labels: [b], target_label: d, replacement: 'gone${1}'}",
            want: Some(&[("a", "x"), ("c", "y"), ("d", "gone")]) },
    ];

    #[test]
    fn relabel_table() {
        for c in CASES {
            let input = l(c.input);
            let got = relabeler(c.rules).process(&input);
            let want = c.want.map(l);
            assert_eq!(
                got, want,
                "case {:?}\ninput {input}\nrules {}\n got {got:?}\nwant {want:?}",
                c.name, c.rules
            );
        }
    }

    #[test]
    fn expand_like_go() {
        let re = compile("(?P<x>a)(b)?(c)(?P<x_1>d)?");
        let caps = re.captures("ac").expect("matches");
        // (template, want)
        #[rustfmt::skip]
        let cases = [
            ("$1", "a"), ("${1}", "a"), ("$x", "a"), ("${x}", "a"), ("$0", "ac"),
            ("$1x", ""), ("${1}x", "ax"), ("$3$1", "ca"), ("$2", ""), ("$x_1", ""),
            ("$$1", "$1"), ("$", "$"), ("a$", "a$"), ("${", "${"), ("${}", "${}"),
            ("${1", "${1"), ("${1-}", "${1-}"), ("$-", "$-"), ("$01", ""), ("$9", ""),
            ("$1.$3", "a.c"), ("$1Ⅻ", "aⅫ"), ("$1é", ""), ("$99999999999999999999", ""),
        ];
        for (tpl, want) in cases {
            let got = Template::parse(tpl, &re).expand(&caps);
            assert_eq!(got, want, "template {tpl:?}: got {got:?}, want {want:?}");
        }
    }

    fn compile(p: &str) -> Regex {
        model::matcher::compile_anchored(p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    #[test]
    fn validation_errors() {
        // (rules, error containing; "" = valid)
        #[rustfmt::skip]
        let cases = [
            ("- {action: hashmod, target_label: a}", "rule 0: relabel configuration for hashmod requires non-zero modulus"),
            ("- {action: replace}", "relabel configuration for replace action requires 'target_label' value"),
            ("- {action: lowercase}", "relabel configuration for lowercase action requires 'target_label' value"),
            ("- {action: keepequal, source_labels: [a]}", "for keepequal action requires 'target_label' value"),
            ("- {action: lowercase, target_label: '${3}'}", ""),
            ("- {action: hashmod, target_label: '${3}', modulus: 2}", ""),
            ("- {source_labels: [a], regex: 'some-([^-]+)-([^,]+)', replacement: '${1}', target_label: '${3}'}", ""),
            ("- {source_labels: [a], regex: 'some-([^-]+)-([^,]+)', replacement: '${1}', target_label: '0${3}'}", ""),
            ("- {source_labels: [a], regex: 'some-([^-]+)-([^,]+)', replacement: '${1}', target_label: '-${3}'}", ""),
            ("- {regex: '__meta_kubernetes_pod_label_(strimzi_io_.+)', action: labelmap, replacement: '$1'}", ""),
            ("- {regex: '__meta_(.+)', action: labelmap, replacement: '${1}'}", ""),
            ("- {regex: '__meta_(.+)', action: labelmap, replacement: ''}", r#""" is invalid 'replacement' for labelmap action"#),
            ("- {action: uppercase, target_label: a, replacement: x}", "'replacement' can not be set for uppercase action"),
            ("- {action: dropequal, target_label: a, replacement: x}", "'replacement' can not be set for dropequal action"),
            ("- {action: keepequal, target_label: a, replacement: '$1', separator: ';'}", ""),
            ("- {action: keepequal, target_label: a, regex: '(.*)'}", "keepequal action requires only 'source_labels' and `target_label`, and no other fields"),
            ("- {action: dropequal, target_label: a, separator: ','}", "dropequal action requires only"),
            ("- {action: keepequal, target_label: a, modulus: 3}", "keepequal action requires only"),
            ("- {action: labeldrop, source_labels: [a]}", "labeldrop action requires only 'regex', and no other fields"),
            ("- {action: labelkeep, target_label: a}", "labelkeep action requires only 'regex'"),
            ("- {action: labelkeep, replacement: x}", "labelkeep action requires only 'regex'"),
            ("- {action: labeldrop, separator: x}", "labeldrop action requires only 'regex'"),
            ("- {action: labeldrop, regex: a, replacement: '$1', separator: ';'}", ""),
            ("- {target_label: a, regex: '('}", "invalid regular expression"),
            ("- {target_label: a, source_labels: ['']}", r#""" is not a valid label name"#),
            ("- {target_label: a}\n- {action: drop}\n- {action: hashmod}", "rule 2: "),
        ];
        for (yaml, want) in cases {
            let cfgs: Vec<RelabelConfig> =
                model::yaml::from_str(yaml).unwrap_or_else(|e| panic!("parse {yaml}: {e}"));
            match (Relabeler::new(&cfgs), want) {
                (Ok(_), "") => {}
                (Ok(_), want) => panic!("rules {yaml}\n got ok\nwant error containing {want:?}"),
                (Err(e), want) => assert!(
                    !want.is_empty() && e.to_string().contains(want),
                    "rules {yaml}\n got {e}\nwant {}",
                    if want.is_empty() {
                        "ok".to_string()
                    } else {
                        format!("error containing {want:?}")
                    }
                ),
            }
        }
    }

    #[test]
    fn decoding_errors() {
        // (rules, error containing)
        let cases = [
            ("- {action: explode}", r#"unknown relabel action "explode""#),
            ("- {action: ''}", r#"unknown relabel action """#),
            (
                "- {action: null, target_label: a}",
                "relabel action cannot be empty",
            ),
            ("- {sauce_labels: [a]}", "unknown field `sauce_labels`"),
            ("- {modulus: -1}", "modulus"),
        ];
        for (yaml, want) in cases {
            match model::yaml::from_str::<Vec<RelabelConfig>>(yaml) {
                Ok(got) => panic!("rules {yaml}\n got {got:?}\nwant error containing {want:?}"),
                Err(e) => assert!(
                    e.to_string().contains(want),
                    "rules {yaml}\n got {e}\nwant {want:?}"
                ),
            }
        }
    }

    #[test]
    fn yaml_round_trip() {
        let cases = [
            "- {source_labels: [a, b], separator: ',', regex: '(.+)', target_label: x, replacement: '${1}', action: replace}",
            "- {source_labels: [a], target_label: h, modulus: 7, action: hashmod}",
            "- {source_labels: [a], separator: '', regex: '', replacement: '', target_label: t}",
            "- {regex: tmp_.*, action: labeldrop}",
            "- {target_label: t}",
        ];
        for yaml in cases {
            let cfgs: Vec<RelabelConfig> = model::yaml::from_str(yaml).expect("parses");
            let printed = model::yaml::to_string(&cfgs);
            let back: Vec<RelabelConfig> = model::yaml::from_str(&printed).expect("reparses");
            assert_eq!(back, cfgs, "input {yaml}\nprinted {printed}");
        }
        let upper: Vec<RelabelConfig> =
            model::yaml::from_str("- {action: LabelMap}").expect("parses");
        assert_eq!(upper[0].action, Some(Action::LabelMap));
        assert_eq!(
            model::yaml::to_string(&Action::KeepEqual).trim(),
            "keepequal"
        );
    }

    #[test]
    fn no_rules_keep_the_set() {
        let r = Relabeler::new(&[]).expect("empty list");
        assert!(r.is_empty());
        assert_eq!(r.process(&l(&[("a", "1")])), Some(l(&[("a", "1")])));
        assert_eq!(r.process(&Labels::empty()), None);
    }
}
