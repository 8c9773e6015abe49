//! YAML as Prometheus and Alertmanager read it.
//!
//! Both read their files with Go's `yaml.v2` in strict mode. This module
//! gives the rest of the workspace one entry point with the same
//! behaviour, built on `serde-saphyr`:
//!
//! - YAML 1.1 booleans: `yes`, `no`, `on`, `off` decode into `bool`
//!   fields, and stay text in string fields;
//! - `<<` merge keys are expanded;
//! - a key given twice in one mapping is an error;
//! - `null` (`name:`, `name: ~`) decodes as the zero value of any type:
//!   `""`, `0`, `false`, an empty list, map or struct;
//! - every error carries its line and column, and the path of the field
//!   being decoded (`receivers[0].webhook_configs[1].url`).
//!
//! [`Value`] is the untyped tree for the few places that read YAML before
//! they know its shape (rule files, which report per-rule lines, and the
//! masked copies of configuration files). Read it with [`value_from_str`],
//! which keeps every scalar but `true`/`false`, numbers and `null` as text
//! (`n`, `no`, `0755` and `1_000` stay strings), so that a value decoded
//! later into a string field reads as written.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;

mod null;

/// An untyped YAML document. Mapping keys are strings, as in every file
/// Watchfire reads; a non-string key is turned into its text.
pub type Value = serde_json::Value;

/// A YAML decoding error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// 1-based line of the offending node, when known.
    pub line: Option<usize>,
    /// 1-based column of the offending node, when known.
    pub column: Option<usize>,
    /// The path of the field being decoded, such as
    /// `scrape_configs[0].static_configs[0].targets`; empty at the top.
    pub path: String,
    /// What went wrong, without location.
    pub message: String,
}

impl Error {
    /// The message prefixed with the field path (`a.b[0]: message`).
    pub fn with_path(&self) -> String {
        if self.path.is_empty() || self.path == "." {
            self.message.clone()
        } else {
            format!("{}: {}", self.path, self.message)
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.with_path())?;
        if let Some(line) = self.line {
            write!(f, " at line {line}")?;
            if let Some(col) = self.column {
                write!(f, " column {col}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// A configuration file that cannot be used, and where: the file, the
/// line when known, and the reason. Both `prometheus.yml` and
/// `alertmanager.yml` report their problems this way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    /// The file, as given.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.file, self.reason),
            None => write!(f, "{}: {}", self.file, self.reason),
        }
    }
}

impl std::error::Error for FileError {}

/// Reads a configuration file: its name as given, and its text.
pub fn read(path: &std::path::Path) -> Result<(String, String), FileError> {
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => Ok((file, text)),
        Err(e) => Err(FileError {
            file,
            line: None,
            reason: e.to_string(),
        }),
    }
}

fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        with_snippet: false,
    }
}

fn untyped_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        with_snippet: false,
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
    }
}

/// Decodes `text` into `T`. An empty document decodes as YAML `null`
/// (so a struct whose fields all have defaults decodes from an empty file).
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    decode(text, options())
}

/// Reads `text` as an untyped [`Value`]; see the module's notes.
pub fn value_from_str(text: &str) -> Result<Value, Error> {
    decode(text, untyped_options())
}

fn decode<T: DeserializeOwned>(text: &str, options: serde_saphyr::Options) -> Result<T, Error> {
    let mut path = String::new();
    let out = serde_saphyr::with_deserializer_from_str_with_options(text, options, |de| {
        serde_path_to_error::deserialize(null::Nullable(de)).map_err(|e| {
            path = e.path().to_string();
            e.into_inner()
        })
    });
    out.map_err(|e| convert(&e, path))
}

fn convert(e: &serde_saphyr::Error, path: String) -> Error {
    let e = e.without_snippet();
    let (line, column) = match e.location() {
        Some(l) if l.line() > 0 => (Some(l.line() as usize), Some(l.column() as usize)),
        _ => (None, None),
    };
    let formatter = serde_saphyr::DefaultMessageFormatter;
    let message = serde_saphyr::MessageFormatter::format_message(&formatter, e).into_owned();
    Error {
        line,
        column,
        path,
        message,
    }
}

/// Decodes a [`Value`] into `T`, as if `T` had been read from the text the
/// value came from.
pub fn from_value<T: DeserializeOwned>(v: Value) -> Result<T, Error> {
    let mut path = String::new();
    serde_path_to_error::deserialize(null::Nullable(v))
        .map_err(|e| {
            path = e.path().to_string();
            e.into_inner()
        })
        .map_err(|e| Error {
            line: None,
            column: None,
            path,
            message: e.to_string(),
        })
}

/// Prints `v` as YAML. Serialising Watchfire's own types cannot fail; a
/// type that does (a map with non-text keys) prints as an empty document.
pub fn to_string<T: Serialize>(v: &T) -> String {
    serde_saphyr::to_string(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Debug, Deserialize, Serialize, PartialEq, Default)]
    #[serde(deny_unknown_fields, default)]
    struct Job {
        name: String,
        honor: bool,
        labels: BTreeMap<String, String>,
        items: Vec<Item>,
    }

    #[derive(Debug, Deserialize, Serialize, PartialEq, Default)]
    #[serde(deny_unknown_fields)]
    struct Item {
        x: u32,
        #[serde(default)]
        y: String,
    }

    #[test]
    fn yaml_1_1_booleans_only_for_bool_fields() {
        let j: Job = from_str("name: no\nhonor: yes\nlabels: {a: on}\n").unwrap();
        assert_eq!(j.name, "no");
        assert!(j.honor);
        assert_eq!(j.labels["a"], "on");
    }

    #[test]
    fn merge_keys_expand() {
        let j: Job = from_str("items:\n  - &b {x: 1, y: q}\n  - <<: *b\n    y: z\n").unwrap();
        assert_eq!(
            j.items[1],
            Item {
                x: 1,
                y: "z".into()
            }
        );
    }

    #[test]
    fn errors_have_line_column_and_path() {
        let e = from_str::<Job>("name: a\nitems:\n  - x: 1\n  - x: 2\n    zz: 3\n").unwrap_err();
        assert_eq!(e.line, Some(5));
        assert_eq!(e.column, Some(5));
        assert_eq!(e.path, "items[1].zz");
        assert!(e.message.starts_with("unknown field `zz`"), "{e}");
        let e = from_str::<Job>("honor: true\nhonor: false\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("duplicate"), "{e}");
        let e = from_str::<Job>("items:\n  - x: -1\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert_eq!(e.path, "items[0].x");
    }

    #[test]
    fn null_is_the_zero_value() {
        let j: Job =
            from_str("name:\nhonor: ~\nlabels: null\nitems:\n  - x:\n    y: null\n").unwrap();
        assert_eq!(
            j,
            Job {
                items: vec![Item {
                    x: 0,
                    y: String::new()
                }],
                ..Job::default()
            }
        );
        let j: Job =
            from_value(value_from_str("name: ~\nitems: [{x: 1, y: ~}]\n").unwrap()).unwrap();
        assert_eq!(
            j.items[0],
            Item {
                x: 1,
                y: String::new()
            }
        );
        // A struct without defaults decodes from null as from `{}`.
        let e = from_str::<Job>("items: [~]\n").unwrap_err();
        assert_eq!(e.path, "items[0]");
        assert!(e.message.contains("missing field `x`"), "{e}");
        // Options stay `None`, and type errors are still errors.
        assert_eq!(from_str::<Option<u32>>("~").unwrap(), None);
        let e = from_str::<Job>("honor: maybe\n").unwrap_err();
        assert_eq!((e.line, e.path.as_str()), (Some(1), "honor"));
    }

    #[test]
    fn empty_document_is_defaults() {
        assert_eq!(from_str::<Job>("").unwrap(), Job::default());
        assert_eq!(
            from_str::<Job>("# only a comment\n").unwrap(),
            Job::default()
        );
    }

    #[test]
    fn values_round_trip() {
        let v = value_from_str("a: {b: [1, {c: d}]}\nt: yes\nf: false\no: 0755\n").unwrap();
        assert_eq!(v["a"]["b"][1]["c"], "d");
        assert_eq!(v["t"], "yes");
        assert_eq!(v["f"], false);
        assert_eq!(v["o"], "0755");
        let j: Job = from_value(value_from_str("name: n\nitems: [{x: 2}]\n").unwrap()).unwrap();
        assert_eq!(j.items[0].x, 2);
        let back: Job = from_str(&to_string(&j)).unwrap();
        assert_eq!(back, j);
    }
}
