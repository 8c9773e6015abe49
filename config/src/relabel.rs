//! `relabel_config` as written in `prometheus.yml` (`relabel_configs`,
//! `metric_relabel_configs`, `alerting.alert_relabel_configs`), with
//! upstream's defaults and validation (`model/relabel/relabel.go`,
//! behaviour mirrored, not code). The collector compiles checked rules
//! into its relabeling engine.

use std::fmt;

use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const DEFAULT_SEPARATOR: &str = ";";
const DEFAULT_REGEX: &str = "(.*)";
const DEFAULT_REPLACEMENT: &str = "$1";

/// What a rule does with the labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Action {
    /// Writes the expanded replacement to the expanded target label when the
    /// regex matches the joined source values.
    #[default]
    Replace,
    /// Drops the set unless the regex matches the joined source values.
    Keep,
    /// Drops the set when the regex matches the joined source values.
    Drop,
    /// Drops the set unless the joined source values equal the target label's value.
    KeepEqual,
    /// Drops the set when the joined source values equal the target label's value.
    DropEqual,
    /// Sets the target label to the MD5 of the joined source values modulo `modulus`.
    HashMod,
    /// Copies every label whose name matches to the expanded replacement name.
    LabelMap,
    /// Removes every label whose name matches.
    LabelDrop,
    /// Removes every label whose name does not match.
    LabelKeep,
    /// Sets the target label to the joined source values in lower case.
    Lowercase,
    /// Sets the target label to the joined source values in upper case.
    Uppercase,
}

impl Action {
    const ALL: [Action; 11] = [
        Action::Replace,
        Action::Keep,
        Action::Drop,
        Action::KeepEqual,
        Action::DropEqual,
        Action::HashMod,
        Action::LabelMap,
        Action::LabelDrop,
        Action::LabelKeep,
        Action::Lowercase,
        Action::Uppercase,
    ];

    /// The name as written in `prometheus.yml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Action {
    /// Upstream lower-cases the name first, so `Keep` and `KEEP` are accepted.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        // Upstream lower-cases with Go's strings.ToLower; no action name
        // has a letter where that differs from Rust's.
        let lower = s.to_lowercase();
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == lower)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown relabel action {s:?}")))
    }
}

/// One rule as written in `prometheus.yml`.
///
/// An absent field takes the upstream default; an explicit YAML null takes
/// Go's zero value (the empty string), as upstream's YAML decoder does, so
/// `regex:` with nothing after it is the empty regex, not `(.*)`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RelabelConfig {
    /// Labels whose values are joined with `separator` to form the input.
    #[serde(
        default,
        deserialize_with = "null_as_empty_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub source_labels: Vec<String>,
    /// Joins the source values; `;` when absent.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Option::is_none"
    )]
    pub separator: Option<String>,
    /// RE2 pattern, anchored at both ends; `(.*)` when absent.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Option::is_none"
    )]
    pub regex: Option<String>,
    /// Divisor for `hashmod`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modulus: Option<u64>,
    /// The label written (a template for `replace`) or compared.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Option::is_none"
    )]
    pub target_label: Option<String>,
    /// Template of the written value (`replace`) or name (`labelmap`); `$1` when absent.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Option::is_none"
    )]
    pub replacement: Option<String>,
    /// What the rule does; `replace` when absent.
    #[serde(
        default,
        deserialize_with = "non_null_action",
        skip_serializing_if = "Option::is_none"
    )]
    pub action: Option<Action>,
}

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Some(Option::<String>::deserialize(d)?.unwrap_or_default()))
}

fn null_as_empty_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

fn non_null_action<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Action>, D::Error> {
    match Option::<Action>::deserialize(d)? {
        Some(a) => Ok(Some(a)),
        None => Err(serde::de::Error::custom("relabel action cannot be empty")),
    }
}

/// A rule that cannot be used: its position in the list and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelabelError {
    /// Position of the rule in its list (0 from [`Rule::new`] alone).
    pub index: usize,
    /// Upstream's message where upstream has one.
    pub reason: String,
}

impl fmt::Display for RelabelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rule {}: {}", self.index, self.reason)
    }
}

impl std::error::Error for RelabelError {}

/// A rule with its defaults filled in and its regex compiled.
#[derive(Debug, Clone)]
pub struct Checked {
    pub action: Action,
    pub source_labels: Vec<String>,
    pub separator: String,
    pub regex: Regex,
    pub modulus: u64,
    pub target_label: String,
    pub replacement: String,
}

impl RelabelConfig {
    /// Validates the rule as upstream's `UnmarshalYAML` and `Validate`
    /// do, with UTF-8 name validation (Prometheus 3's default): a label
    /// name is valid when it is not empty.
    pub fn check(&self) -> Result<Checked, RelabelError> {
        let c = self;
        let fail = |reason: String| RelabelError { index: 0, reason };
        let action = c.action.unwrap_or_default();
        let separator = c.separator.as_deref().unwrap_or(DEFAULT_SEPARATOR);
        let replacement = c.replacement.as_deref().unwrap_or(DEFAULT_REPLACEMENT);
        let target = c.target_label.as_deref().unwrap_or("");
        let modulus = c.modulus.unwrap_or(0);
        // Upstream checks these while decoding, before `Validate`.
        if c.source_labels.iter().any(String::is_empty) {
            return Err(fail(r#""" is not a valid label name"#.into()));
        }
        let regex = model::matcher::compile_anchored(c.regex.as_deref().unwrap_or(DEFAULT_REGEX))
            .map_err(|e| fail(e.to_string()))?;

        use Action::*;
        if action == HashMod && modulus == 0 {
            return Err(fail(
                "relabel configuration for hashmod requires non-zero modulus".into(),
            ));
        }
        let needs_target = matches!(
            action,
            Replace | HashMod | Lowercase | Uppercase | KeepEqual | DropEqual
        );
        if needs_target && target.is_empty() {
            return Err(fail(format!(
                "relabel configuration for {action} action requires 'target_label' value"
            )));
        }
        let writes_whole_value = matches!(action, Lowercase | Uppercase | KeepEqual | DropEqual);
        if writes_whole_value && replacement != DEFAULT_REPLACEMENT {
            return Err(fail(format!(
                "'replacement' can not be set for {action} action"
            )));
        }
        if action == LabelMap && replacement.is_empty() {
            return Err(fail(format!(
                "{replacement:?} is invalid 'replacement' for {action} action"
            )));
        }
        // Upstream compares the regex by identity with the default one, so
        // any `regex` written in the file counts as set, even `(.*)`.
        if matches!(action, KeepEqual | DropEqual)
            && (c.regex.is_some() || modulus != 0 || separator != DEFAULT_SEPARATOR)
        {
            return Err(fail(format!(
                "{action} action requires only 'source_labels' and `target_label`, and no other fields"
            )));
        }
        if matches!(action, LabelDrop | LabelKeep)
            && (!c.source_labels.is_empty()
                || !target.is_empty()
                || modulus != 0
                || separator != DEFAULT_SEPARATOR
                || replacement != DEFAULT_REPLACEMENT)
        {
            return Err(fail(format!(
                "{action} action requires only 'regex', and no other fields"
            )));
        }
        Ok(Checked {
            action,
            source_labels: c.source_labels.clone(),
            separator: separator.to_string(),
            regex,
            modulus,
            target_label: target.to_string(),
            replacement: replacement.to_string(),
        })
    }
}

/// Checks a list of rules; the error names the first bad one's position.
pub fn check_all(cfgs: &[RelabelConfig]) -> Result<Vec<Checked>, RelabelError> {
    cfgs.iter()
        .enumerate()
        .map(|(index, c)| c.check().map_err(|e| RelabelError { index, ..e }))
        .collect()
}
