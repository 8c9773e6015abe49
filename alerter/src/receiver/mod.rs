//! Receivers and `global:`: every integration Alertmanager has, read
//! strictly, checked as each upstream `UnmarshalYAML` checks it, and
//! filled from `global:` as upstream `Config.UnmarshalYAML` fills it, with
//! upstream's wording. Secrets are never echoed in errors.
//!
//! - [`global`]: `global:` and its defaults;
//! - [`integration`]: one raw struct per integration type;
//! - [`check`]: each integration's own checks;
//! - [`fill`]: values filled from `global:`, and the checks on the whole;
//! - [`tls`]: an email integration's `tls_config`.
//!
//! `http_config` (global and per integration) is
//! [`httpclient::HttpConfig`], the same type and keys as in
//! `prometheus.yml`; its checks are upstream's, in upstream's words, and
//! its credential files must be readable at load.

mod check;
mod fill;
pub mod global;
pub mod integration;
pub mod tls;

pub use global::GlobalConfig;
pub use integration::*;
pub use tls::TlsConfig;

use std::collections::BTreeMap;

use httpclient::HttpConfig;
use serde::Deserialize;

fn set(s: &str) -> bool {
    !s.is_empty()
}

fn opt(s: &Option<String>) -> bool {
    s.as_deref().is_some_and(|v| !v.is_empty())
}

/// A `receivers` entry as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReceiverConfig {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub webhook_configs: Vec<Option<WebhookConfig>>,
    pub email_configs: Vec<Option<EmailConfig>>,
    pub slack_configs: Vec<Option<SlackConfig>>,
    pub pushover_configs: Vec<Option<PushoverConfig>>,
    pub pagerduty_configs: Vec<Option<PagerdutyConfig>>,
    pub incidentio_configs: Vec<Option<IncidentioConfig>>,
    pub opsgenie_configs: Vec<Option<OpsgenieConfig>>,
    pub wechat_configs: Vec<Option<WechatConfig>>,
    pub victorops_configs: Vec<Option<VictoropsConfig>>,
    pub sns_configs: Vec<Option<SnsConfig>>,
    pub telegram_configs: Vec<Option<TelegramConfig>>,
    pub discord_configs: Vec<Option<DiscordConfig>>,
    pub webex_configs: Vec<Option<WebexConfig>>,
    pub msteams_configs: Vec<Option<MsteamsConfig>>,
    pub msteamsv2_configs: Vec<Option<MsteamsV2Config>>,
    pub jira_configs: Vec<Option<JiraConfig>>,
    pub rocketchat_configs: Vec<Option<RocketchatConfig>>,
    pub mattermost_configs: Vec<Option<MattermostConfig>>,
}

/// Upstream's checks of an `http_config` (its `tls_config` first, as
/// upstream checks it while decoding), then Watchfire's: credential and
/// TLS files are readable.
///
/// A `proxy_url` that is not an absolute URL (`foo`) loads, as Go's
/// `url.Parse` takes it and upstream's corpus expects; such a client
/// cannot be built, so its notifications fail with the reason (and
/// [`crate::runtime::Alerter::unusable_http_configs`] warns at load).
fn http(h: &Option<HttpConfig>) -> Result<(), String> {
    let Some(h) = h else {
        return Ok(());
    };
    if let Some(t) = &h.tls_config {
        t.validate().map_err(|e| e.to_string())?;
    }
    if is_relative_proxy(&h.proxy_url) {
        let mut h = h.clone();
        h.proxy_url.clear();
        return h.validate().map_err(|e| e.to_string());
    }
    h.validate().map_err(|e| e.to_string())
}

/// A `proxy_url` Go parses but that names no host (`foo`).
pub(crate) fn is_relative_proxy(url: &str) -> bool {
    !url.is_empty()
        && matches!(
            url::Url::parse(url),
            Err(url::ParseError::RelativeUrlWithoutBase)
        )
}

/// Whether requests carry an `Authorization` (a bearer token counts, as
/// upstream turns it into one when reading).
pub(crate) fn has_authorization(h: &HttpConfig) -> bool {
    h.authorization.is_some() || !h.bearer_token.is_empty() || !h.bearer_token_file.is_empty()
}

/// Go's `textproto.CanonicalMIMEHeaderKey` for ASCII names (email
/// headers).
pub(crate) fn canonical_header(name: &str) -> String {
    let mut up = true;
    name.chars()
        .map(|c| {
            let out = if up {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            up = c == '-';
            out
        })
        .collect()
}

fn exclusive(a: bool, b: bool, what: &str) -> Result<(), String> {
    if a && b {
        return Err(format!("at most one of {what} must be configured"));
    }
    Ok(())
}

/// An integration addressed by an incoming webhook: its HTTP settings,
/// and exactly one of `webhook_url` and `webhook_url_file`.
fn webhook_url(h: &Option<HttpConfig>, url: &str, file: &str) -> Result<(), String> {
    http(h)?;
    one_of(set(url), set(file), "webhook_url", "webhook_url_file")
}

fn one_of(a: bool, b: bool, x: &str, y: &str) -> Result<(), String> {
    if !a && !b {
        return Err(format!("one of {x} or {y} must be configured"));
    }
    exclusive(a, b, &format!("{x} & {y}"))
}
