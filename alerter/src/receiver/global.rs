//! `global:` with upstream's defaults, checked as upstream checks it.

use serde::Deserialize;

use super::{at_most_one, opt, set};
use httpclient::HttpConfig;

use super::TlsConfig;

/// `global:` with upstream's defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GlobalConfig {
    pub resolve_timeout: String,
    pub http_config: Option<HttpConfig>,
    pub jira_api_url: Option<String>,
    pub smtp_from: String,
    pub smtp_hello: String,
    pub smtp_smarthost: String,
    pub smtp_auth_username: String,
    pub smtp_auth_password: String,
    pub smtp_auth_password_file: String,
    pub smtp_auth_secret: String,
    pub smtp_auth_secret_file: String,
    pub smtp_auth_identity: String,
    pub smtp_require_tls: bool,
    pub smtp_tls_config: Option<TlsConfig>,
    pub smtp_force_implicit_tls: Option<bool>,
    pub slack_api_url: Option<String>,
    pub slack_api_url_file: String,
    pub slack_app_token: String,
    pub slack_app_token_file: String,
    pub slack_app_url: Option<String>,
    pub pagerduty_url: Option<String>,
    pub opsgenie_api_url: Option<String>,
    pub opsgenie_api_key: String,
    pub opsgenie_api_key_file: String,
    pub wechat_api_url: Option<String>,
    pub wechat_api_secret: String,
    pub wechat_api_secret_file: String,
    pub wechat_api_corp_id: String,
    pub victorops_api_url: Option<String>,
    pub victorops_api_key: String,
    pub victorops_api_key_file: String,
    pub telegram_api_url: Option<String>,
    pub telegram_bot_token: String,
    pub telegram_bot_token_file: String,
    pub webex_api_url: Option<String>,
    pub rocketchat_api_url: Option<String>,
    pub rocketchat_token: Option<String>,
    pub rocketchat_token_file: String,
    pub rocketchat_token_id: Option<String>,
    pub rocketchat_token_id_file: String,
    pub mattermost_webhook_url: Option<String>,
    pub mattermost_webhook_url_file: String,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        let url = |s: &str| Some(s.to_string());
        GlobalConfig {
            resolve_timeout: "5m".into(),
            http_config: Some(HttpConfig::default()),
            jira_api_url: None,
            smtp_from: String::new(),
            smtp_hello: "localhost".into(),
            smtp_smarthost: String::new(),
            smtp_auth_username: String::new(),
            smtp_auth_password: String::new(),
            smtp_auth_password_file: String::new(),
            smtp_auth_secret: String::new(),
            smtp_auth_secret_file: String::new(),
            smtp_auth_identity: String::new(),
            smtp_require_tls: true,
            smtp_tls_config: None,
            smtp_force_implicit_tls: None,
            slack_api_url: None,
            slack_api_url_file: String::new(),
            slack_app_token: String::new(),
            slack_app_token_file: String::new(),
            slack_app_url: url("https://slack.com/api/chat.postMessage"),
            pagerduty_url: url("https://events.pagerduty.com/v2/enqueue"),
            opsgenie_api_url: url("https://api.opsgenie.com/"),
            opsgenie_api_key: String::new(),
            opsgenie_api_key_file: String::new(),
            wechat_api_url: url("https://qyapi.weixin.qq.com/cgi-bin/"),
            wechat_api_secret: String::new(),
            wechat_api_secret_file: String::new(),
            wechat_api_corp_id: String::new(),
            victorops_api_url: url(
                "https://alert.victorops.com/integrations/generic/20131114/alert/",
            ),
            victorops_api_key: String::new(),
            victorops_api_key_file: String::new(),
            telegram_api_url: url("https://api.telegram.org"),
            telegram_bot_token: String::new(),
            telegram_bot_token_file: String::new(),
            webex_api_url: url("https://webexapis.com/v1/messages"),
            rocketchat_api_url: url("https://open.rocket.chat/"),
            rocketchat_token: None,
            rocketchat_token_file: String::new(),
            rocketchat_token_id: None,
            rocketchat_token_id_file: String::new(),
            mattermost_webhook_url: None,
            mattermost_webhook_url_file: String::new(),
        }
    }
}

impl GlobalConfig {
    /// Upstream's exclusivity checks on `global:`, in its order.
    pub(crate) fn check(&self) -> Result<(), String> {
        at_most_one(
            "slack_app_token",
            set(&self.slack_app_token),
            &self.slack_app_token_file,
        )?;
        at_most_one(
            "slack_api_url",
            opt(&self.slack_api_url),
            &self.slack_api_url_file,
        )?;
        let token = set(&self.slack_app_token) || set(&self.slack_app_token_file);
        let api = opt(&self.slack_api_url) || set(&self.slack_api_url_file);
        if token && api && self.slack_api_url != self.slack_app_url {
            return Err("at most one of slack_app_token/slack_app_token_file & slack_api_url/slack_api_url_file must be configured".into());
        }
        at_most_one(
            "opsgenie_api_key",
            set(&self.opsgenie_api_key),
            &self.opsgenie_api_key_file,
        )?;
        at_most_one(
            "victorops_api_key",
            set(&self.victorops_api_key),
            &self.victorops_api_key_file,
        )?;
        at_most_one(
            "telegram_bot_token",
            set(&self.telegram_bot_token),
            &self.telegram_bot_token_file,
        )?;
        at_most_one(
            "smtp_auth_password",
            set(&self.smtp_auth_password),
            &self.smtp_auth_password_file,
        )?;
        at_most_one(
            "rocketchat_token",
            self.rocketchat_token.is_some(),
            &self.rocketchat_token_file,
        )?;
        at_most_one(
            "rocketchat_token_id",
            self.rocketchat_token_id.is_some(),
            &self.rocketchat_token_id_file,
        )?;
        at_most_one(
            "smtp_auth_secret",
            set(&self.smtp_auth_secret),
            &self.smtp_auth_secret_file,
        )?;
        at_most_one(
            "wechat_api_secret",
            set(&self.wechat_api_secret),
            &self.wechat_api_secret_file,
        )?;
        at_most_one(
            "mattermost_webhook_url",
            opt(&self.mattermost_webhook_url),
            &self.mattermost_webhook_url_file,
        )?;
        super::http(&self.http_config)?;
        if let Some(t) = &self.smtp_tls_config {
            t.validate()?;
        }
        Ok(())
    }
}
