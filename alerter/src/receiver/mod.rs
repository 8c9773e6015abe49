//! Receivers and `global:`: every integration Alertmanager has, read
//! strictly, checked as each upstream `UnmarshalYAML` checks it, and
//! filled from `global:` as upstream `Config.UnmarshalYAML` fills it, with
//! upstream's wording. Secrets are never echoed in errors.
//!
//! - [`global`]: `global:` and its defaults;
//! - [`integration`]: one raw struct per integration type;
//! - [`check`]: each integration's own checks;
//! - [`fill`]: values filled from `global:`, and the checks on the whole.

mod check;
mod fill;
pub mod global;
pub mod integration;

pub use global::GlobalConfig;
pub use integration::*;

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::http::HttpConfig;

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

fn http(h: &Option<HttpConfig>) -> Result<(), String> {
    match h {
        Some(h) => h.validate(),
        None => Ok(()),
    }
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
