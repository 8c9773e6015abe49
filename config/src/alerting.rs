//! `alerting:` — where the rules side sends alerts (upstream
//! `AlertingConfig` and `AlertmanagerConfig` in `config/config.go`).
//!
//! Alertmanagers are found by `static_configs` only; the other service
//! discoveries, `relabel_configs`, per-Alertmanager `alert_relabel_configs`
//! and `sigv4` are refused at load with a reason that names them (see
//! [`crate::pending`]).

use std::collections::BTreeMap;
use std::time::Duration;

use httpclient::HttpConfig;
use serde::{Deserialize, Serialize};

use crate::relabel::RelabelConfig;
use crate::{PromDuration, StaticConfig};

/// The `alerting` section.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingConfig {
    /// Applied to every alert before it is sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alert_relabel_configs: Vec<RelabelConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alertmanagers: Vec<AlertmanagerConfig>,
}

fn default_timeout() -> PromDuration {
    PromDuration(Duration::from_secs(10))
}

fn default_scheme() -> String {
    "http".into()
}

fn default_api_version() -> String {
    "v2".into()
}

/// One `alertmanagers` entry.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct AlertmanagerConfig {
    #[serde(default = "default_timeout")]
    pub timeout: PromDuration,
    /// Only `v2`, as in Prometheus 3.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// Joined before `/api/v2/alerts`.
    #[serde(default)]
    pub path_prefix: String,
    #[serde(default = "default_scheme")]
    pub scheme: String,
    /// `basic_auth`, `authorization`, `oauth2`, `tls_config`, proxies,
    /// `follow_redirects`, `enable_http2`, `http_headers`: inline, as in
    /// Prometheus.
    #[serde(flatten)]
    pub http: HttpConfig,
    /// Keys neither this nor `http` knows: refused by [`crate::parse`]
    /// (serde cannot deny them next to a flattened `http`). After `http`,
    /// so it sees only what `http` left.
    #[serde(flatten, skip_serializing)]
    pub unknown: BTreeMap<String, model::yaml::Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub static_configs: Vec<StaticConfig>,
}

impl AlertmanagerConfig {
    /// The URL alerts are posted to at `target` (`host:port`): upstream
    /// joins "/", the prefix and the API path.
    pub fn url(&self, target: &str) -> String {
        let prefix = format!("/{}", self.path_prefix.trim_matches('/'));
        let prefix = prefix.trim_end_matches('/');
        format!("{}://{target}{prefix}/api/v2/alerts", self.scheme)
    }

    /// Checks what serde cannot; `i` is the entry's position.
    pub(crate) fn check(&self, i: usize) -> Result<(), String> {
        let at = format!("alerting.alertmanagers[{i}]");
        if self.api_version != "v2" {
            return Err(format!(
                "{at}: expected Alertmanager api version to be one of [v2] but got {}",
                self.api_version
            ));
        }
        if self.scheme != "http" && self.scheme != "https" {
            return Err(format!(
                "{at}: unknown scheme {:?} (http or https)",
                self.scheme
            ));
        }
        for t in self.static_configs.iter().flat_map(|s| &s.targets) {
            if t.contains('/') {
                return Err(format!("{at}: {t:?} is not a valid hostname"));
            }
        }
        // Builds the client once to refuse what it could not use (a
        // missing credential file, a bad certificate) at load.
        httpclient::Client::new(&self.http).map_err(|e| format!("{at}: {e}"))?;
        Ok(())
    }
}
