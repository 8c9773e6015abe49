//! Rule files in Prometheus's format (upstream `model/rulefmt`): groups of
//! recording and alerting rules, checked strictly. Every problem in a file
//! is reported, each with the file, the line where it can be found, and
//! Prometheus's wording of the reason.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use model::yaml::Value;

type Mapping = serde_json::Map<String, Value>;

/// A loaded, valid rule file.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleFile {
    pub path: PathBuf,
    pub groups: Vec<Group>,
}

/// A rule group.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub name: String,
    /// `None`: the global evaluation interval.
    pub interval: Option<Duration>,
    /// `None`: the global rule query offset.
    pub query_offset: Option<Duration>,
    /// The most alerts or series a rule may produce (0: no limit).
    pub limit: u64,
    /// Labels added to every rule's output (a rule's own labels win).
    pub labels: BTreeMap<String, String>,
    pub rules: Vec<Rule>,
    /// 1-based line of the group's `name`.
    pub line: usize,
}

/// Whether a rule records a series or raises alerts, with its name.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    Record(String),
    Alert(String),
}

/// One rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub kind: RuleKind,
    pub expr: String,
    /// How long an alert is pending before it fires.
    pub for_: Duration,
    /// How long an alert keeps firing after its condition clears.
    pub keep_firing_for: Duration,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// 1-based line of the rule's first key.
    pub line: usize,
}

impl Rule {
    /// The parsed expression and the rule's labels over its group's (a
    /// rule's own label wins), as both kinds of rule start from.
    pub fn compile(
        &self,
        group_labels: &BTreeMap<String, String>,
    ) -> Result<(promql::Expr, BTreeMap<String, String>), String> {
        let expr = promql::parse(&self.expr).map_err(|e| e.to_string())?;
        let mut labels = group_labels.clone();
        labels.extend(self.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok((expr, labels))
    }

    /// The record or alert name.
    pub fn name(&self) -> &str {
        match &self.kind {
            RuleKind::Record(n) | RuleKind::Alert(n) => n,
        }
    }
}

/// Which label names are valid: any UTF-8 (Prometheus 3's default) or
/// only `[a-zA-Z_][a-zA-Z0-9_]*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NameValidation {
    #[default]
    Utf8,
    Legacy,
}

/// One problem in a rule file.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleError {
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    pub reason: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.file.display(), self.reason),
            None => write!(f, "{}: {}", self.file.display(), self.reason),
        }
    }
}

impl std::error::Error for RuleError {}

const GROUP_FIELDS: &[&str] = &[
    "name",
    "interval",
    "query_offset",
    "limit",
    "labels",
    "rules",
];
const RULE_FIELDS: &[&str] = &[
    "record",
    "alert",
    "expr",
    "for",
    "keep_firing_for",
    "labels",
    "annotations",
];

/// How strictly a rule file is read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    pub names: NameValidation,
    /// Accept fields Prometheus does not know (`--ignore-unknown-fields`).
    pub ignore_unknown_fields: bool,
}

impl From<NameValidation> for Options {
    fn from(names: NameValidation) -> Self {
        Options {
            names,
            ignore_unknown_fields: false,
        }
    }
}

/// Reads and checks the rule file at `path`.
pub fn load(path: &Path, opts: impl Into<Options>) -> Result<RuleFile, Vec<RuleError>> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(path, &text, opts),
        Err(e) => Err(vec![RuleError {
            file: path.to_path_buf(),
            line: None,
            reason: format!("cannot read: {e}"),
        }]),
    }
}

/// Parses and checks the text of rule file `path`. All problems are
/// returned, not just the first.
pub fn parse(
    path: &Path,
    text: &str,
    opts: impl Into<Options>,
) -> Result<RuleFile, Vec<RuleError>> {
    let opts = opts.into();
    let mut p = Parser {
        path,
        lines: Lines::new(text),
        errors: Vec::new(),
        names: opts.names,
        ignore_unknown: opts.ignore_unknown_fields,
    };
    let groups = p.file(text);
    if p.errors.is_empty() {
        Ok(RuleFile {
            path: path.to_path_buf(),
            groups,
        })
    } else {
        Err(p.errors)
    }
}

/// Finds the lines that keys and values are on. The YAML parser keeps no
/// positions for values, so the lines are found in the text, in order: a
/// search starts after the line of what came before.
struct Lines<'a> {
    lines: Vec<&'a str>,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        Lines {
            lines: text.lines().collect(),
        }
    }

    /// The first line at or after `from` (1-based) holding `key:` followed
    /// by `value` (unquoted or quoted), or just `key:` when `value` is empty.
    fn find(&self, from: usize, key: &str, value: &str) -> Option<usize> {
        let start = from.saturating_sub(1);
        self.lines
            .iter()
            .enumerate()
            .skip(start)
            .find(|(_, l)| {
                let l = l.trim_start().trim_start_matches("- ").trim_start();
                let Some(rest) = l.strip_prefix(key).and_then(|r| r.strip_prefix(':')) else {
                    return false;
                };
                let rest = rest.trim();
                value.is_empty()
                    || rest == value
                    || rest.trim_matches(|c| c == '"' || c == '\'') == value
                    || rest.starts_with('&') && rest.ends_with(value)
                    || rest.starts_with('*')
            })
            .map(|(i, _)| i + 1)
    }
}

struct Parser<'a> {
    path: &'a Path,
    lines: Lines<'a>,
    errors: Vec<RuleError>,
    names: NameValidation,
    ignore_unknown: bool,
}

fn str_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A YAML syntax error in the words of upstream's parser (yaml.v3, after
/// libyaml) where serde-saphyr's differ.
fn syntax_error(message: &str) -> String {
    match message {
        "unclosed bracket '['" => "did not find expected ',' or ']'".into(),
        "unclosed bracket '{'" => "did not find expected ',' or '}'".into(),
        "unclosed quote" => "found unexpected end of stream".into(),
        m => match m.strip_prefix("duplicate mapping key: ") {
            Some(k) => {
                let k = k.split(", set DuplicateKeyPolicy").next().unwrap_or(k);
                format!("mapping key {k:?} already defined")
            }
            None => m.to_string(),
        },
    }
}

impl Parser<'_> {
    fn error(&mut self, line: Option<usize>, reason: impl Into<String>) {
        self.errors.push(RuleError {
            file: self.path.to_path_buf(),
            line,
            reason: reason.into(),
        });
    }

    fn file(&mut self, text: &str) -> Vec<Group> {
        let doc = match model::yaml::value_from_str(text) {
            Ok(v) => v,
            Err(e) => {
                self.error(e.line, syntax_error(&e.message));
                return Vec::new();
            }
        };
        let top = match doc {
            // An empty file has no groups.
            Value::Null => return Vec::new(),
            Value::Object(m) => m,
            _ => {
                self.error(Some(1), "a rule file must be a mapping with `groups:`");
                return Vec::new();
            }
        };
        self.unknown_fields(&top, &["groups"], "rulefmt.RuleGroups", 1);
        let groups = match top.get("groups") {
            None | Some(Value::Null) => return Vec::new(),
            Some(Value::Array(s)) => s.clone(),
            Some(_) => {
                let line = self.lines.find(1, "groups", "");
                self.error(line, "`groups` must be a list");
                return Vec::new();
            }
        };
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        let mut at = 1;
        for g in &groups {
            if let Some(g) = self.group(g, &mut at, &mut seen) {
                out.push(g);
            }
        }
        out
    }

    fn group(&mut self, v: &Value, at: &mut usize, seen: &mut HashSet<String>) -> Option<Group> {
        let Value::Object(m) = v else {
            self.error(Some(*at), "a group must be a mapping");
            return None;
        };
        let name = m.get("name").and_then(str_of).unwrap_or_default();
        let line = self
            .lines
            .find(*at, "name", &name)
            .or_else(|| self.lines.find(*at, "rules", ""))
            .unwrap_or(*at);
        *at = line + 1;
        let before = self.errors.len();
        self.unknown_fields(m, GROUP_FIELDS, "rulefmt.RuleGroup", line);
        if name.is_empty() {
            self.error(Some(line), "Groupname must not be empty");
        } else if !seen.insert(name.clone()) {
            self.error(
                Some(line),
                format!("groupname: \"{name}\" is repeated in the same file"),
            );
        }
        let interval = self.duration(m, "interval", line);
        let query_offset = self.duration(m, "query_offset", line);
        let limit = match m.get("limit") {
            None | Some(Value::Null) => 0,
            Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64().unwrap_or(0),
            // Upstream takes any integer; zero or less is no limit.
            Some(Value::Number(n)) if n.as_i64().is_some() => 0,
            Some(_) => {
                let l = self.lines.find(line, "limit", "");
                self.error(l, format!("group \"{name}\": limit must be an integer"));
                0
            }
        };
        let labels = self.map(m, "labels", line, &format!("group \"{name}\""));
        for k in labels.keys() {
            if !self.valid_label_name(k) || k == "__name__" {
                let l = self.lines.find(line, k, "");
                self.error(l, format!("group \"{name}\": invalid label name: {k}"));
            }
        }
        let mut rules = Vec::new();
        match m.get("rules") {
            None | Some(Value::Null) => {}
            Some(Value::Array(rs)) => {
                for (i, r) in rs.iter().enumerate() {
                    if let Some(r) = self.rule(r, at, &name, i + 1) {
                        rules.push(r);
                    }
                }
            }
            Some(_) => {
                let l = self.lines.find(line, "rules", "");
                self.error(l, format!("group \"{name}\": `rules` must be a list"));
            }
        }
        (self.errors.len() == before).then_some(Group {
            name,
            interval,
            query_offset,
            limit,
            labels,
            rules,
            line,
        })
    }

    fn rule(&mut self, v: &Value, at: &mut usize, group: &str, index: usize) -> Option<Rule> {
        let Value::Object(m) = v else {
            self.error(
                Some(*at),
                format!("group \"{group}\", rule {index}: a rule must be a mapping"),
            );
            return None;
        };
        let record = m.get("record").and_then(str_of).unwrap_or_default();
        let alert = m.get("alert").and_then(str_of).unwrap_or_default();
        let expr = m.get("expr").and_then(str_of).unwrap_or_default();
        let line = if !record.is_empty() {
            self.lines.find(*at, "record", &record)
        } else if !alert.is_empty() {
            self.lines.find(*at, "alert", &alert)
        } else {
            self.lines.find(*at, "expr", "")
        }
        .unwrap_or(*at);
        *at = line + 1;
        let name = if record.is_empty() { &alert } else { &record };
        let ctx = format!("group \"{group}\", rule {index}, \"{name}\"");
        let before = self.errors.len();
        self.unknown_fields(m, RULE_FIELDS, "rulefmt.RuleNode", line);
        let for_ = self.duration(m, "for", line);
        let keep_firing_for = self.duration(m, "keep_firing_for", line);
        let labels = self.map(m, "labels", line, &ctx);
        let annotations = self.map(m, "annotations", line, &ctx);
        let fail = |p: &mut Self, reason: String| p.error(Some(line), format!("{ctx}: {reason}"));
        match (record.is_empty(), alert.is_empty()) {
            (false, false) => fail(self, "only one of 'record' and 'alert' must be set".into()),
            (true, true) => fail(self, "one of 'record' or 'alert' must be set".into()),
            _ => {}
        }
        if expr.is_empty() {
            fail(self, "field 'expr' must be set in rule".into());
        } else if let Err(e) = promql::parse(&expr) {
            // Upstream points at the expression itself.
            let at = self.lines.find(line, "expr", "").unwrap_or(line);
            self.error(Some(at), format!("{ctx}: could not parse expression: {e}"));
        }
        if !record.is_empty() {
            if !annotations.is_empty() {
                fail(self, "invalid field 'annotations' in recording rule".into());
            }
            if for_.is_some_and(|d| !d.is_zero()) {
                fail(self, "invalid field 'for' in recording rule".into());
            }
            if keep_firing_for.is_some_and(|d| !d.is_zero()) {
                fail(
                    self,
                    "invalid field 'keep_firing_for' in recording rule".into(),
                );
            }
            if !self.valid_metric_name(&record) {
                fail(self, format!("invalid recording rule name: {record}"));
            }
            if record.contains(['{', '}']) {
                fail(
                    self,
                    format!(
                        "braces present in the recording rule name; should it be in expr?: {record}"
                    ),
                );
            }
        }
        for k in labels.keys() {
            if !self.valid_label_name(k) || k == "__name__" {
                fail(self, format!("invalid label name: {k}"));
            }
        }
        for k in annotations.keys() {
            if !self.valid_label_name(k) {
                fail(self, format!("invalid annotation name: {k}"));
            }
        }
        if !alert.is_empty() {
            // Upstream `testTemplateParsing`: every label and annotation of
            // an alerting rule must parse as a template.
            let texts = labels
                .iter()
                .map(|kv| ("label", kv))
                .chain(annotations.iter().map(|kv| ("annotation", kv)));
            for (what, (k, text)) in texts {
                if let Err(e) = crate::expand::check(&alert, text) {
                    let at = self.lines.find(line, k, "").unwrap_or(line);
                    self.error(Some(at), format!("{ctx}: {what} \"{k}\": {e}"));
                }
            }
        }
        if self.errors.len() != before {
            return None;
        }
        Some(Rule {
            kind: if record.is_empty() {
                RuleKind::Alert(alert)
            } else {
                RuleKind::Record(record)
            },
            expr,
            for_: for_.unwrap_or_default(),
            keep_firing_for: keep_firing_for.unwrap_or_default(),
            labels,
            annotations,
            line,
        })
    }

    fn unknown_fields(&mut self, m: &Mapping, known: &[&str], ty: &str, line: usize) {
        if self.ignore_unknown {
            return;
        }
        // In the order they are written, as upstream reports them.
        let mut unknown: Vec<(usize, &String)> = m
            .keys()
            .filter(|k| !known.contains(&k.as_str()))
            .map(|k| (self.lines.find(line, k, "").unwrap_or(line), k))
            .collect();
        unknown.sort();
        for (l, k) in unknown {
            self.error(Some(l), format!("field {k} not found in type {ty}"));
        }
    }

    fn duration(&mut self, m: &Mapping, key: &str, line: usize) -> Option<Duration> {
        let v = m.get(key)?;
        if v.is_null() {
            return None;
        }
        let text = str_of(v).unwrap_or_default();
        match model::time::parse_duration(&text) {
            Ok(d) => Some(d),
            Err(e) => {
                let l = self.lines.find(line, key, "").unwrap_or(line);
                self.error(Some(l), format!("{key}: {e}"));
                None
            }
        }
    }

    /// A mapping of strings to strings (labels, annotations).
    fn map(&mut self, m: &Mapping, key: &str, line: usize, ctx: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        match m.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::Object(kv)) => {
                for (k, v) in kv {
                    match str_of(v).or_else(|| v.is_null().then(String::new)) {
                        Some(text) => {
                            // A number keeps the text it was written with
                            // (`1.10`, not `1.1`), as upstream reads it into
                            // a string.
                            let text = match v {
                                Value::Number(_) => self.raw_scalar(line, k).unwrap_or(text),
                                _ => text,
                            };
                            out.insert(k.clone(), text);
                        }
                        None => {
                            let l = self.lines.find(line, key, "").unwrap_or(line);
                            self.error(
                                Some(l),
                                format!("{ctx}: {key} must map strings to strings"),
                            );
                        }
                    }
                }
            }
            Some(_) => {
                let l = self.lines.find(line, key, "").unwrap_or(line);
                self.error(Some(l), format!("{ctx}: {key} must be a mapping"));
            }
        }
        out
    }

    /// The text of the plain scalar after `key:` on the first line at or
    /// after `from` that holds it, without a trailing comment.
    fn raw_scalar(&self, from: usize, key: &str) -> Option<String> {
        let at = self.lines.find(from, key, "")?;
        let l = self.lines.lines.get(at - 1)?;
        let rest = l.split_once(&format!("{key}:"))?.1;
        let rest = rest.split(" #").next().unwrap_or(rest).trim();
        (!rest.is_empty() && !rest.starts_with(['"', '\'', '{', '[', '&', '*']))
            .then(|| rest.to_string())
    }

    fn valid_label_name(&self, n: &str) -> bool {
        match self.names {
            NameValidation::Utf8 => !n.is_empty(),
            NameValidation::Legacy => {
                let mut b = n.bytes();
                b.next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
                    && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
            }
        }
    }

    fn valid_metric_name(&self, n: &str) -> bool {
        match self.names {
            NameValidation::Utf8 => !n.is_empty(),
            NameValidation::Legacy => {
                let mut b = n.bytes();
                b.next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_' || c == b':')
                    && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
            }
        }
    }
}

/// Rules of one file with the same name and labels (the group's labels
/// included), as upstream `promtool check rules` lint `duplicate-rules`
/// finds them: each such name and label set once, sorted.
pub fn duplicates(file: &RuleFile) -> Vec<(String, BTreeMap<String, String>)> {
    let mut all: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    for g in &file.groups {
        for r in &g.rules {
            let mut labels = g.labels.clone();
            labels.extend(r.labels.clone());
            all.push((r.name().to_string(), labels));
        }
    }
    all.sort();
    let mut dups: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    for w in all.windows(2) {
        if w[0] == w[1] && dups.last() != Some(&w[1]) {
            dups.push(w[1].clone());
        }
    }
    dups
}

pub use model::glob::glob;

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<(Option<usize>, String)> {
        match parse(Path::new("r.yml"), text, NameValidation::Utf8) {
            Ok(_) => Vec::new(),
            Err(e) => e.into_iter().map(|e| (e.line, e.reason)).collect(),
        }
    }

    #[test]
    fn numbers_keep_their_text() {
        let text = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        labels:\n          version: 1.10 # pinned\n          port: 0x1F\n";
        let f = parse(Path::new("r.yml"), text, NameValidation::Utf8).unwrap();
        let l = &f.groups[0].rules[0].labels;
        assert_eq!(l["version"], "1.10");
        assert_eq!(l["port"], "0x1F");
    }

    #[test]
    fn every_error_with_its_line() {
        let text = "groups:
  - name: a
    rules:
      - record: ok
        expr: up
      - alert: Bad
        expr: sum(
      - record: r
        expr: up
        for: 5m
  - name: a
    rules: []
";
        let e = errors(text);
        assert_eq!(e.len(), 3, "{e:?}");
        // An expression error points at the expression's line.
        assert_eq!(e[0].0, Some(7));
        assert!(e[0]
            .1
            .starts_with("group \"a\", rule 2, \"Bad\": could not parse expression"));
        assert_eq!(
            e[1],
            (
                Some(8),
                "group \"a\", rule 3, \"r\": invalid field 'for' in recording rule".into()
            )
        );
        assert_eq!(
            e[2],
            (
                Some(11),
                "groupname: \"a\" is repeated in the same file".into()
            )
        );
    }

    #[test]
    fn yaml_errors_and_unknown_fields() {
        let e = errors("groups:\n  - name: a\n    rules:\n      - record: x\n        expr: [\n");
        assert_eq!(e.len(), 1);
        assert!(e[0].0.is_some());
        let e = errors("groups:\n  - name: a\n    intervall: 1m\n");
        assert_eq!(
            e,
            [(
                Some(3),
                "field intervall not found in type rulefmt.RuleGroup".into()
            )]
        );
        assert!(errors("").is_empty());
    }

    #[test]
    fn fields_are_read() {
        let text = "groups:
  - name: g
    interval: 30s
    query_offset: 1m
    limit: 10
    labels: {team: db}
    rules:
      - alert: Down
        expr: up == 0
        for: 5m
        keep_firing_for: 10m
        labels: {severity: page}
        annotations: {summary: \"{{ $labels.instance }} down\"}
";
        let f = parse(Path::new("r.yml"), text, NameValidation::Utf8).unwrap();
        let g = &f.groups[0];
        assert_eq!(g.interval, Some(Duration::from_secs(30)));
        assert_eq!(g.query_offset, Some(Duration::from_secs(60)));
        assert_eq!(g.limit, 10);
        assert_eq!(g.labels["team"], "db");
        let r = &g.rules[0];
        assert_eq!(r.kind, RuleKind::Alert("Down".into()));
        assert_eq!(r.for_, Duration::from_secs(300));
        assert_eq!(r.keep_firing_for, Duration::from_secs(600));
        assert_eq!(r.line, 8);
        assert_eq!(duplicates(&f), []);
    }
}
