//! `remote_write:` — where samples are shipped (upstream
//! `RemoteWriteConfig`, `QueueConfig` and `MetadataConfig` in
//! `config/config.go`, with Prometheus 3.x's defaults).
//!
//! Everything that applies to float samples is implemented. `sigv4`,
//! `azuread` and `google_iam` are refused (no cloud signing), as is
//! `protobuf_message: io.prometheus.write.v2.Request` (remote write 2.0).
//! `send_exemplars` and `send_native_histograms` are accepted with a
//! warning when true: Watchfire keeps neither, so there is nothing to send.

use std::collections::BTreeMap;
use std::time::Duration;

use httpclient::HttpConfig;
use serde::{Deserialize, Serialize};

use crate::relabel::RelabelConfig;
use crate::PromDuration;

/// The 1.0 message, `prometheus.WriteRequest`.
pub const PROTO_V1: &str = "prometheus.WriteRequest";
/// The 2.0 message.
pub const PROTO_V2: &str = "io.prometheus.write.v2.Request";

fn d(secs: f64) -> PromDuration {
    PromDuration(Duration::from_secs_f64(secs))
}

fn default_timeout() -> PromDuration {
    d(30.0)
}

fn default_message() -> String {
    PROTO_V1.into()
}

/// One `remote_write` entry.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct RemoteWriteConfig {
    pub url: String,
    #[serde(default = "default_timeout")]
    pub remote_timeout: PromDuration,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub write_relabel_configs: Vec<RelabelConfig>,
    /// Names the queue in metrics and its WAL hold; default: a hash of
    /// the URL.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default)]
    pub send_exemplars: bool,
    #[serde(default)]
    pub send_native_histograms: bool,
    #[serde(default)]
    pub round_robin_dns: bool,
    #[serde(default = "default_message")]
    pub protobuf_message: String,
    /// Upstream logs failed remote write 2.0 requests with it; warned.
    #[serde(default)]
    pub failed_request_logging: bool,
    #[serde(default)]
    pub queue_config: QueueConfig,
    #[serde(default)]
    pub metadata_config: MetadataConfig,
    /// `basic_auth`, `authorization`, `oauth2`, `tls_config`, proxies,
    /// `follow_redirects`, `enable_http2`, `http_headers`: inline.
    #[serde(flatten)]
    pub http: HttpConfig,
    /// Keys neither this nor `http` knows: refused by [`crate::parse`].
    #[serde(flatten, skip_serializing)]
    pub unknown: BTreeMap<String, model::yaml::Value>,
}

/// `queue_config`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Samples buffered per shard before reading the WAL pauses.
    pub capacity: usize,
    pub max_shards: usize,
    pub min_shards: usize,
    pub max_samples_per_send: usize,
    pub batch_send_deadline: PromDuration,
    pub min_backoff: PromDuration,
    pub max_backoff: PromDuration,
    pub retry_on_http_429: bool,
    /// Samples older than this are dropped instead of sent; 0 sends all.
    pub sample_age_limit: PromDuration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            capacity: 10_000,
            max_shards: 50,
            min_shards: 1,
            max_samples_per_send: 2_000,
            batch_send_deadline: d(5.0),
            min_backoff: d(0.03),
            max_backoff: d(5.0),
            retry_on_http_429: false,
            sample_age_limit: d(0.0),
        }
    }
}

/// `metadata_config`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetadataConfig {
    pub send: bool,
    pub send_interval: PromDuration,
    pub max_samples_per_send: usize,
}

impl Default for MetadataConfig {
    fn default() -> Self {
        MetadataConfig {
            send: true,
            send_interval: d(60.0),
            max_samples_per_send: 2_000,
        }
    }
}

impl RemoteWriteConfig {
    /// The queue's name: `name`, else the first six hex digits of a hash
    /// of the URL (upstream hashes the whole entry; the URL alone keeps
    /// the name, and so the WAL hold, when other options change).
    pub fn queue_name(&self) -> String {
        if !self.name.is_empty() {
            return self.name.clone();
        }
        let h = fnv64(self.url.as_bytes());
        format!("{h:016x}")[..6].to_string()
    }

    /// Checks what serde cannot; `at` names the entry. Warnings (accepted
    /// without effect) are pushed to `warnings`.
    pub(crate) fn check(&self, at: &str, warnings: &mut Vec<String>) -> Result<(), String> {
        if self.url.is_empty() {
            return Err(format!("{at}: url for remote_write is empty"));
        }
        let u = url::Url::parse(&self.url).map_err(|e| format!("{at}.url: {e}"))?;
        if !matches!(u.scheme(), "http" | "https") {
            return Err(format!(
                "{at}.url: scheme {:?} is not http or https",
                u.scheme()
            ));
        }
        for h in self.headers.keys() {
            if h.eq_ignore_ascii_case("authorization") {
                return Err(format!(
                    "{at}.headers: authorization header must be changed via the basic_auth, authorization, oauth2, sigv4, azuread or google_iam parameter"
                ));
            }
            if httpclient::RESERVED_HEADERS
                .iter()
                .any(|r| r.eq_ignore_ascii_case(h))
            {
                return Err(format!(
                    "{at}.headers: {h} is a reserved header. It must not be changed"
                ));
            }
        }
        crate::relabel::check_all(&self.write_relabel_configs)
            .map_err(|e| format!("{at}.write_relabel_configs: {e}"))?;
        match self.protobuf_message.as_str() {
            PROTO_V1 => {}
            PROTO_V2 => {
                return Err(format!(
                    "{at}.protobuf_message: {PROTO_V2} (remote write 2.0) is not supported yet; use {PROTO_V1}"
                ))
            }
            other => {
                return Err(format!(
                    "{at}.protobuf_message: unknown remote write protobuf message {other:?}, supported: {PROTO_V1}"
                ))
            }
        }
        let q = &self.queue_config;
        if q.max_shards == 0 || q.min_shards == 0 {
            return Err(format!(
                "{at}.queue_config: max_shards and min_shards must be at least 1"
            ));
        }
        if q.min_shards > q.max_shards {
            return Err(format!(
                "{at}.queue_config: min_shards ({}) is greater than max_shards ({})",
                q.min_shards, q.max_shards
            ));
        }
        if q.max_samples_per_send == 0 || q.capacity == 0 {
            return Err(format!(
                "{at}.queue_config: capacity and max_samples_per_send must be at least 1"
            ));
        }
        if q.min_backoff > q.max_backoff {
            return Err(format!(
                "{at}.queue_config: min_backoff is greater than max_backoff"
            ));
        }
        if self.metadata_config.send && self.metadata_config.max_samples_per_send == 0 {
            return Err(format!(
                "{at}.metadata_config: max_samples_per_send must be at least 1"
            ));
        }
        if self.send_exemplars {
            warnings.push(format!(
                "{at}.send_exemplars has no effect: Watchfire keeps no exemplars, so none are sent"
            ));
        }
        if self.send_native_histograms {
            warnings.push(format!(
                "{at}.send_native_histograms has no effect: Watchfire keeps no native histograms, so none are sent"
            ));
        }
        if self.failed_request_logging {
            warnings.push(format!(
                "{at}.failed_request_logging has no effect: it logs remote write 2.0 requests, and Watchfire sends 1.0 (failed sends are always logged)"
            ));
        }
        if self.round_robin_dns {
            warnings.push(format!(
                "{at}.round_robin_dns has no effect: connections go to the first address the resolver gives"
            ));
        }
        Ok(())
    }
}

/// FNV-1a, 64 bits: stable across builds, which the hold's file name
/// needs.
fn fnv64(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325, |h, &x| {
        (h ^ x as u64).wrapping_mul(0x0100_0000_01b3)
    })
}
