//! The smaller top-level sections: `storage`, `otlp`, `runtime`, and
//! those Watchfire does not implement yet.
//!
//! `remote_read` and `tracing` would change what happens to data (samples
//! read or traced), so setting one is refused at load with a reason that
//! names it; so is every `storage` key but
//! `tsdb.out_of_order_time_window`. `otlp` is checked as Prometheus checks
//! it and shapes the OTLP receiver's translation (`convert_histograms_to_nhcb`
//! is warned about: native histograms are not stored). `runtime` is checked,
//! then warned about: it tunes Go's garbage collector, which Watchfire does
//! not have. An empty section (`remote_read: []`) is not set.
//! (`remote_write` is typed: [`crate::remote`].)

use serde::{Deserialize, Serialize};

use crate::Config;
use model::yaml::Value;

/// `runtime:` (upstream `RuntimeConfig`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gogc: Option<i64>,
}

/// `otlp:` (upstream `OTLPConfig`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub promote_resource_attributes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promote_all_resource_attributes: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_resource_attributes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub translation_strategy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_identifying_resource_attributes: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub convert_histograms_to_nhcb: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promote_scope_metadata: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_name_underscore_sanitization: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_name_preserve_multiple_underscores: Option<bool>,
}

const STRATEGIES: [&str; 4] = [
    "UnderscoreEscapingWithSuffixes",
    "UnderscoreEscapingWithoutSuffixes",
    "NoUTF8EscapingWithSuffixes",
    "NoTranslation",
];

impl OtlpConfig {
    /// Upstream's checks (`OTLPConfig.UnmarshalYAML`, `config.Load`).
    pub fn check(&self) -> Result<(), String> {
        if let Some(s) = &self.translation_strategy {
            if !STRATEGIES.contains(&s.as_str()) {
                return Err(format!("unsupported OTLP translation strategy {s:?}"));
            }
        }
        let all = self.promote_all_resource_attributes.unwrap_or(false);
        if all && !self.promote_resource_attributes.is_empty() {
            return Err("'promote_all_resource_attributes' and 'promote_resource_attributes' cannot be configured simultaneously".into());
        }
        if !all && !self.ignore_resource_attributes.is_empty() {
            return Err("'ignore_resource_attributes' cannot be configured unless 'promote_all_resource_attributes' is true".into());
        }
        for (what, list) in [
            (
                "promote_resource_attributes",
                &self.promote_resource_attributes,
            ),
            (
                "ignore_resource_attributes",
                &self.ignore_resource_attributes,
            ),
        ] {
            if list.iter().any(|a| a.trim().is_empty()) {
                return Err(format!("empty {what}"));
            }
        }
        Ok(())
    }
}

/// Whether a raw section says anything.
fn is_set(v: &Option<Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(_) => true,
    }
}

/// A section that is set and cannot take effect.
pub struct Finding {
    /// The key, as written at the top of the file.
    pub key: &'static str,
    /// What is said about it.
    pub text: String,
    /// Harmless to ignore: a warning at load, not an error.
    pub warn: bool,
}

/// `storage:` (upstream `StorageConfig`): only
/// `tsdb.out_of_order_time_window` is implemented; every other key is
/// refused by [`findings`].
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tsdb: Option<TsdbConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exemplars: Option<Value>,
}

/// `storage.tsdb`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct TsdbConfig {
    /// How late a sample may be, behind the newest sample in the store,
    /// and still be stored; unset or 0 refuses late samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_of_order_time_window: Option<crate::PromDuration>,
    #[serde(flatten, skip_serializing)]
    pub unknown: std::collections::BTreeMap<String, Value>,
}

impl StorageConfig {
    /// The out-of-order window in force, `None` when off.
    pub fn out_of_order_window(&self) -> Option<std::time::Duration> {
        self.tsdb
            .as_ref()
            .and_then(|t| t.out_of_order_time_window)
            .map(|d| d.0)
            .filter(|d| !d.is_zero())
    }
}

/// The sections of `cfg` that are set but not implemented, refusals
/// first. The README lists them.
pub fn findings(cfg: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(st) = &cfg.storage {
        let why = |k: &str| match k {
            "retention" => " (retention is set by --storage.tsdb.retention.*)",
            _ => "",
        };
        for (k, v) in st.tsdb.iter().flat_map(|t| t.unknown.iter()) {
            if is_set(&Some(v.clone())) {
                out.push(Finding {
                    key: "storage",
                    text: format!("storage.tsdb.{k} is not supported yet{}", why(k)),
                    warn: false,
                });
            }
        }
        if is_set(&st.exemplars) {
            out.push(Finding {
                key: "storage",
                text: "storage.exemplars is not supported yet: exemplars are not kept".into(),
                warn: false,
            });
        }
    }
    for (key, v, why) in [
        ("remote_read", &cfg.remote_read, ""),
        ("tracing", &cfg.tracing, ": no span would be exported"),
    ] {
        if is_set(v) {
            out.push(Finding {
                key,
                text: format!("{key} is not supported yet{why}"),
                warn: false,
            });
        }
    }
    if let Some(o) = &cfg.otlp {
        if let Err(e) = o.check() {
            out.insert(
                0,
                Finding {
                    key: "otlp",
                    text: format!("otlp: {e}"),
                    warn: false,
                },
            );
        } else if o.convert_histograms_to_nhcb == Some(true) {
            out.push(Finding {
                key: "otlp",
                text: "otlp.convert_histograms_to_nhcb has no effect: native histograms are not stored, so OTLP histograms are stored as classic _bucket, _sum and _count series".into(),
                warn: true,
            });
        }
    }
    if cfg
        .runtime
        .as_ref()
        .is_some_and(|r| *r != RuntimeConfig::default())
    {
        out.push(Finding {
            key: "runtime",
            text:
                "runtime is ignored: it tunes Go's garbage collector, which Watchfire does not have"
                    .into(),
            warn: true,
        });
    }
    out.sort_by_key(|f| f.warn);
    out
}
