//! Receivers and `global:`: every integration Alertmanager has, read
//! strictly, checked as each upstream `UnmarshalYAML` checks it, and
//! filled from `global:` as upstream `Config.UnmarshalYAML` fills it, with
//! upstream's wording. Secrets are never echoed in errors.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_yaml::Value;

use crate::http::{canonical_header, HttpConfig, TlsConfig};

fn set(s: &str) -> bool {
    !s.is_empty()
}

fn opt(s: &Option<String>) -> bool {
    s.as_deref().is_some_and(|v| !v.is_empty())
}

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
    pub fn check(&self) -> Result<(), String> {
        exclusive(
            set(&self.slack_app_token),
            set(&self.slack_app_token_file),
            "slack_app_token & slack_app_token_file",
        )?;
        exclusive(
            opt(&self.slack_api_url),
            set(&self.slack_api_url_file),
            "slack_api_url & slack_api_url_file",
        )?;
        let token = set(&self.slack_app_token) || set(&self.slack_app_token_file);
        let api = opt(&self.slack_api_url) || set(&self.slack_api_url_file);
        if token && api && self.slack_api_url != self.slack_app_url {
            return Err("at most one of slack_app_token/slack_app_token_file & slack_api_url/slack_api_url_file must be configured".into());
        }
        exclusive(
            set(&self.opsgenie_api_key),
            set(&self.opsgenie_api_key_file),
            "opsgenie_api_key & opsgenie_api_key_file",
        )?;
        exclusive(
            set(&self.victorops_api_key),
            set(&self.victorops_api_key_file),
            "victorops_api_key & victorops_api_key_file",
        )?;
        exclusive(
            set(&self.telegram_bot_token),
            set(&self.telegram_bot_token_file),
            "telegram_bot_token & telegram_bot_token_file",
        )?;
        exclusive(
            set(&self.smtp_auth_password),
            set(&self.smtp_auth_password_file),
            "smtp_auth_password & smtp_auth_password_file",
        )?;
        exclusive(
            self.rocketchat_token.is_some(),
            set(&self.rocketchat_token_file),
            "rocketchat_token & rocketchat_token_file",
        )?;
        exclusive(
            self.rocketchat_token_id.is_some(),
            set(&self.rocketchat_token_id_file),
            "rocketchat_token_id & rocketchat_token_id_file",
        )?;
        exclusive(
            set(&self.smtp_auth_secret),
            set(&self.smtp_auth_secret_file),
            "smtp_auth_secret & smtp_auth_secret_file",
        )?;
        exclusive(
            set(&self.wechat_api_secret),
            set(&self.wechat_api_secret_file),
            "wechat_api_secret & wechat_api_secret_file",
        )?;
        exclusive(
            opt(&self.mattermost_webhook_url),
            set(&self.mattermost_webhook_url_file),
            "mattermost_webhook_url & mattermost_webhook_url_file",
        )?;
        if let Some(h) = &self.http_config {
            h.validate()?;
        }
        if let Some(t) = &self.smtp_tls_config {
            t.validate()?;
        }
        Ok(())
    }
}

macro_rules! integration {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct $name {
            pub send_resolved: Option<bool>,
            $($(#[$fm])* pub $field: $ty,)*
        }
    };
}

integration!(WebhookConfig {
    http_config: Option<HttpConfig>, url: String, url_file: String, max_alerts: u64,
    timeout: Option<String>, payload: Option<Value>,
});
integration!(EmailConfig {
    to: String, from: String, hello: String, smarthost: String, auth_username: String,
    auth_password: String, auth_password_file: String, auth_secret: String, auth_secret_file: String,
    auth_identity: String, headers: BTreeMap<String, String>, html: Option<String>, text: Option<String>,
    require_tls: Option<bool>, tls_config: Option<TlsConfig>, force_implicit_tls: Option<bool>,
    threading: Option<Threading>,
});
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Threading {
    pub enabled: bool,
    pub thread_by_date: String,
}
integration!(SlackConfig {
    http_config: Option<HttpConfig>, api_url: Option<String>, api_url_file: String, app_token: String,
    app_token_file: String, app_url: Option<String>, channel: String, username: Option<String>,
    color: Option<String>, title: Option<String>, title_link: Option<String>, pretext: Option<String>,
    text: Option<String>, message_text: String, fields: Vec<SlackField>, short_fields: bool,
    footer: Option<String>, fallback: Option<String>, callback_id: Option<String>, icon_emoji: Option<String>,
    icon_url: Option<String>, image_url: String, thumb_url: String, link_names: bool,
    mrkdwn_in: Vec<String>, actions: Vec<SlackAction>, update_message: bool, timeout: Option<String>,
});
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlackField {
    pub title: String,
    pub value: String,
    pub short: Option<bool>,
}
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlackAction {
    #[serde(rename = "type")]
    pub kind: String,
    pub text: String,
    pub url: String,
    pub style: String,
    pub name: String,
    pub value: String,
    pub confirm: Option<SlackConfirm>,
}
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlackConfirm {
    pub text: String,
    pub title: String,
    pub ok_text: String,
    pub dismiss_text: String,
}
integration!(PagerdutyConfig {
    http_config: Option<HttpConfig>, service_key: String, service_key_file: String, routing_key: String,
    routing_key_file: String, url: Option<String>, client: Option<String>, client_url: Option<String>,
    description: Option<String>, details: BTreeMap<String, Value>, images: Vec<PagerdutyImage>,
    links: Vec<PagerdutyLink>, source: String, severity: String, class: String, component: String,
    group: String, timeout: Option<String>,
});
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PagerdutyImage {
    pub src: String,
    pub alt: String,
    pub href: String,
}
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PagerdutyLink {
    pub href: String,
    pub text: String,
}
integration!(OpsgenieConfig {
    http_config: Option<HttpConfig>, api_key: String, api_key_file: String, api_url: Option<String>,
    message: Option<String>, description: Option<String>, source: Option<String>,
    details: BTreeMap<String, String>, entity: String, responders: Vec<OpsgenieResponder>,
    actions: String, tags: String, note: String, priority: String, update_alerts: bool,
});
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpsgenieResponder {
    pub id: String,
    pub name: String,
    pub username: String,
    #[serde(rename = "type")]
    pub kind: String,
}
integration!(WechatConfig {
    http_config: Option<HttpConfig>, api_secret: String, api_secret_file: String, corp_id: String,
    message: Option<String>, api_url: Option<String>, to_user: Option<String>, to_party: Option<String>,
    to_tag: Option<String>, agent_id: Option<String>, message_type: String,
});
integration!(PushoverConfig {
    http_config: Option<HttpConfig>, user_key: String, user_key_file: String, token: String,
    token_file: String, title: Option<String>, message: Option<String>, url: Option<String>,
    url_title: String, device: String, sound: String, priority: Option<String>, retry: Option<String>,
    expire: Option<String>, ttl: Option<String>, html: bool, monospace: bool,
});
integration!(VictoropsConfig {
    http_config: Option<HttpConfig>, api_key: String, api_key_file: String, api_url: Option<String>,
    routing_key: String, message_type: Option<String>, state_message: Option<String>,
    entity_display_name: Option<String>, monitoring_tool: Option<String>,
    custom_fields: BTreeMap<String, String>,
});
integration!(SnsConfig {
    http_config: Option<HttpConfig>, api_url: String, sigv4: Option<SigV4>, topic_arn: String,
    phone_number: String, target_arn: String, subject: Option<String>, message: Option<String>,
    attributes: BTreeMap<String, String>, use_aws_http_client: bool,
});
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SigV4 {
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
    pub profile: String,
    pub role_arn: String,
    pub external_id: String,
    pub use_fips_sts_endpoint: bool,
    pub service_name: String,
}
integration!(TelegramConfig {
    http_config: Option<HttpConfig>, api_url: Option<String>, bot_token: String, bot_token_file: String,
    chat_id: i64, chat_id_file: String, message_thread_id: i64, message: Option<String>,
    disable_notifications: bool, parse_mode: Option<String>,
});
integration!(WebexConfig {
    http_config: Option<HttpConfig>, api_url: Option<String>, message: Option<String>, room_id: String,
});
integration!(DiscordConfig {
    http_config: Option<HttpConfig>, webhook_url: String, webhook_url_file: String, content: String,
    title: Option<String>, message: Option<String>, username: String, avatar_url: String,
});
integration!(MsteamsConfig {
    http_config: Option<HttpConfig>, webhook_url: String, webhook_url_file: String,
    title: Option<String>, summary: Option<String>, text: Option<String>,
});
integration!(MsteamsV2Config {
    http_config: Option<HttpConfig>, webhook_url: String, webhook_url_file: String,
    title: Option<String>, text: Option<String>,
});
integration!(JiraConfig {
    http_config: Option<HttpConfig>, api_url: Option<String>, api_type: Option<String>, project: String,
    summary: Option<Value>, description: Option<Value>, labels: Vec<String>, priority: Option<String>,
    issue_type: String, reopen_transition: String, resolve_transition: String,
    wont_fix_resolution: String, reopen_duration: Option<String>, fields: BTreeMap<String, Value>,
});
integration!(RocketchatConfig {
    http_config: Option<HttpConfig>, api_url: Option<String>, token_id: Option<String>,
    token_id_file: String, token: Option<String>, token_file: String, channel: String,
    color: Option<String>, title: Option<String>, title_link: Option<String>, text: Option<String>,
    fields: Vec<RocketchatField>, short_fields: bool, emoji: Option<String>, icon_url: Option<String>,
    image_url: String, thumb_url: String, link_names: bool, actions: Vec<RocketchatAction>,
});
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RocketchatField {
    pub short: Option<bool>,
    pub title: String,
    pub value: String,
}
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RocketchatAction {
    #[serde(rename = "type")]
    pub kind: String,
    pub text: String,
    pub url: String,
    pub imageurl: String,
    pub iswebview: bool,
    pub webviewheightratio: String,
    pub msg: String,
    pub msginchatwindow: bool,
    pub msgprocessingtype: String,
}
integration!(MattermostConfig {
    http_config: Option<HttpConfig>, webhook_url: Option<String>, webhook_url_file: String,
    channel: String, username: Option<String>, text: Option<String>, fallback: Option<String>,
    color: Option<String>, pretext: String, author_name: String, author_link: String,
    author_icon: String, title: Option<String>, title_link: Option<String>,
    fields: Vec<MattermostField>, thumb_url: String, footer: String, footer_icon: String,
    image_url: String, icon_url: String, icon_emoji: String, attachments: Vec<Value>,
    #[serde(rename = "type")] kind: String, props: Option<Value>, priority: Option<Value>,
});
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MattermostField {
    pub title: String,
    pub value: String,
    pub short: Option<bool>,
}
integration!(IncidentioConfig {
    http_config: Option<HttpConfig>, url: Option<String>, url_file: String, alert_source_token: String,
    alert_source_token_file: String, max_alerts: u64, timeout: Option<String>,
});

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

impl ReceiverConfig {
    /// Each integration's own checks (upstream's per-type `UnmarshalYAML`).
    pub fn check_entries(&self) -> Result<(), String> {
        if self.name.is_empty() {
            return Err("missing name in receiver".into());
        }
        if let Some(n) = self.labels.get("name") {
            if *n != self.name {
                return Err(format!(
                    "receiver label \"name\" must match receiver name {:?}, got {n:?}",
                    self.name
                ));
            }
        }
        for c in self.webhook_configs.iter().flatten() {
            http(&c.http_config)?;
            one_of(set(&c.url), set(&c.url_file), "url", "url_file")?;
        }
        for c in self.email_configs.iter().flatten() {
            if c.to.is_empty() {
                return Err("missing to address in email config".into());
            }
            let mut seen = std::collections::HashSet::new();
            for k in c.headers.keys() {
                let canon = canonical_header(k);
                if !seen.insert(canon.clone()) {
                    return Err(format!("duplicate header {canon:?} in email config"));
                }
            }
            if let Some(t) = c.threading.as_ref().filter(|t| t.enabled) {
                if seen.contains("References") {
                    return Err("conflicting configuration: threading.enabled conflicts with custom References header".into());
                }
                if seen.contains("In-Reply-To") {
                    return Err("conflicting configuration: threading.enabled conflicts with custom In-Reply-To header".into());
                }
                if t.thread_by_date != "none" && t.thread_by_date != "daily" {
                    return Err("threading.thread_by_date must be either 'none' or 'daily'".into());
                }
            }
            if let Some(t) = &c.tls_config {
                t.validate()?;
            }
        }
        for c in self.slack_configs.iter().flatten() {
            http(&c.http_config)?;
            for f in &c.fields {
                if f.title.is_empty() {
                    return Err("missing title in Slack field configuration".into());
                }
                if f.value.is_empty() {
                    return Err("missing value in Slack field configuration".into());
                }
            }
            for a in &c.actions {
                if a.kind.is_empty() {
                    return Err("missing type in Slack action configuration".into());
                }
                if a.text.is_empty() {
                    return Err("missing text in Slack action configuration".into());
                }
                if a.url.is_empty() && a.name.is_empty() {
                    return Err("missing name or url in Slack action configuration".into());
                }
                if let Some(conf) = &a.confirm {
                    if conf.text.is_empty() {
                        return Err("missing text in Slack confirmation configuration".into());
                    }
                }
            }
            exclusive(
                opt(&c.api_url),
                set(&c.api_url_file),
                "api_url & api_url_file",
            )?;
            exclusive(
                set(&c.app_token),
                set(&c.app_token_file),
                "app_token & app_token_file",
            )?;
            exclusive(
                opt(&c.api_url) || set(&c.api_url_file),
                set(&c.app_token) || set(&c.app_token_file),
                "api_url/api_url_file & app_token/app_token_file",
            )?;
            if c.update_message
                && opt(&c.api_url)
                && c.api_url.as_deref() != Some("https://slack.com/api/chat.postMessage")
            {
                return Err("update_message can only be used with bot tokens. api_url must be set to https://slack.com/api/chat.postMessage".into());
            }
        }
        for c in self.pushover_configs.iter().flatten() {
            http(&c.http_config)?;
            one_of(
                set(&c.user_key),
                set(&c.user_key_file),
                "user_key",
                "user_key_file",
            )?;
            one_of(set(&c.token), set(&c.token_file), "token", "token_file")?;
            exclusive(c.monospace, c.html, "monospace & html")?;
        }
        for c in self.pagerduty_configs.iter().flatten() {
            http(&c.http_config)?;
            if !set(&c.routing_key)
                && !set(&c.routing_key_file)
                && !set(&c.service_key)
                && !set(&c.service_key_file)
            {
                return Err("missing service or routing key in PagerDuty config".into());
            }
            exclusive(
                set(&c.routing_key),
                set(&c.routing_key_file),
                "routing_key & routing_key_file",
            )?;
            exclusive(
                set(&c.service_key),
                set(&c.service_key_file),
                "service_key & service_key_file",
            )?;
        }
        for c in self.incidentio_configs.iter().flatten() {
            http(&c.http_config)?;
            one_of(opt(&c.url), set(&c.url_file), "url", "url_file")?;
            let token = set(&c.alert_source_token) || set(&c.alert_source_token_file);
            exclusive(
                set(&c.alert_source_token),
                set(&c.alert_source_token_file),
                "alert_source_token & alert_source_token_file",
            )?;
            if let Some(h) = &c.http_config {
                if h.has_authorization() && token {
                    return Err("cannot specify alert_source_token or alert_source_token_file when using http_config.authorization".into());
                }
                if !h.has_authorization() && !token {
                    return Err("at least one of alert_source_token, alert_source_token_file or http_config.authorization must be configured".into());
                }
            }
        }
        for c in self.opsgenie_configs.iter().flatten() {
            http(&c.http_config)?;
            exclusive(
                set(&c.api_key),
                set(&c.api_key_file),
                "api_key & api_key_file",
            )?;
            for r in &c.responders {
                let shown = format!("{{{} {} {} {}}}", r.id, r.name, r.username, r.kind);
                if r.id.is_empty() && r.username.is_empty() && r.name.is_empty() {
                    return Err(format!("opsGenieConfig responder {shown} has to have at least one of id, username or name specified"));
                }
                if !r.kind.contains("{{") {
                    let k = r.kind.to_lowercase();
                    if !["team", "teams", "user", "escalation", "schedule"].contains(&k.as_str()) {
                        return Err(format!(
                            "opsGenieConfig responder {{{} {} {} {k}}} type does not match valid options ^(team|teams|user|escalation|schedule)$",
                            r.id, r.name, r.username
                        ));
                    }
                }
            }
        }
        for c in self.wechat_configs.iter().flatten() {
            http(&c.http_config)?;
            if !c.message_type.is_empty()
                && c.message_type != "text"
                && c.message_type != "markdown"
            {
                return Err(format!(
                    "weChat message type {:?} does not match valid options ^(text|markdown)$",
                    c.message_type
                ));
            }
            exclusive(
                set(&c.api_secret),
                set(&c.api_secret_file),
                "api_secret & api_secret_file",
            )?;
        }
        for c in self.victorops_configs.iter().flatten() {
            http(&c.http_config)?;
            if c.routing_key.is_empty() {
                return Err("missing Routing key in VictorOps config".into());
            }
            exclusive(
                set(&c.api_key),
                set(&c.api_key_file),
                "api_key & api_key_file",
            )?;
            for k in [
                "routing_key",
                "message_type",
                "state_message",
                "entity_display_name",
                "monitoring_tool",
                "entity_id",
                "entity_state",
            ] {
                if c.custom_fields.contains_key(k) {
                    return Err(format!("victorOps config contains custom field {k} which cannot be used as it conflicts with the fixed/static fields"));
                }
            }
        }
        for c in self.sns_configs.iter().flatten() {
            http(&c.http_config)?;
            if let Some(s) = &c.sigv4 {
                if set(&s.access_key) != set(&s.secret_key) {
                    return Err("must provide a AWS SigV4 Access key and Secret Key if credentials are specified in the SigV4 config".into());
                }
                if set(&s.external_id) && !set(&s.role_arn) {
                    return Err("external_id can only be used with role_arn".into());
                }
            }
            // Upstream's XOR of the three: exactly one, or all three.
            if !(set(&c.target_arn) ^ set(&c.topic_arn) ^ set(&c.phone_number)) {
                return Err(
                    "must provide either a Target ARN, Topic ARN, or Phone Number for SNS config"
                        .into(),
                );
            }
        }
        for c in self.telegram_configs.iter().flatten() {
            http(&c.http_config)?;
            exclusive(
                set(&c.bot_token),
                set(&c.bot_token_file),
                "bot_token & bot_token_file",
            )?;
            if c.chat_id == 0 && c.chat_id_file.is_empty() {
                return Err("missing chat_id or chat_id_file on telegram_config".into());
            }
            exclusive(
                c.chat_id != 0,
                set(&c.chat_id_file),
                "chat_id & chat_id_file",
            )?;
            if let Some(p) = &c.parse_mode {
                if !["", "Markdown", "MarkdownV2", "HTML"].contains(&p.as_str()) {
                    return Err("unknown parse_mode on telegram_config, must be Markdown, MarkdownV2, HTML or empty string".into());
                }
            }
        }
        for c in self.discord_configs.iter().flatten() {
            webhook_url(&c.http_config, &c.webhook_url, &c.webhook_url_file)?;
        }
        for c in self.webex_configs.iter().flatten() {
            http(&c.http_config)?;
            if c.room_id.is_empty() {
                return Err("missing room_id on webex_config".into());
            }
            if !c
                .http_config
                .as_ref()
                .is_some_and(HttpConfig::has_authorization)
            {
                return Err("missing webex_configs.http_config.authorization".into());
            }
        }
        for c in self.msteams_configs.iter().flatten() {
            webhook_url(&c.http_config, &c.webhook_url, &c.webhook_url_file)?;
        }
        for c in self.msteamsv2_configs.iter().flatten() {
            webhook_url(&c.http_config, &c.webhook_url, &c.webhook_url_file)?;
        }
        for c in self.jira_configs.iter().flatten() {
            http(&c.http_config)?;
            if c.project.is_empty() {
                return Err("missing project in jira_config".into());
            }
            if c.issue_type.is_empty() {
                return Err("missing issue_type in jira_config".into());
            }
            if let Some(t) = &c.api_type {
                if !["auto", "cloud", "datacenter"].contains(&t.as_str()) {
                    return Err(
                        "unknown api_type on jira_config, must be auto, cloud or datacenter".into(),
                    );
                }
            }
        }
        for c in self.rocketchat_configs.iter().flatten() {
            http(&c.http_config)?;
            exclusive(c.token.is_some(), set(&c.token_file), "token & token_file")?;
            exclusive(
                c.token_id.is_some(),
                set(&c.token_id_file),
                "token_id & token_id_file",
            )?;
        }
        for c in self.mattermost_configs.iter().flatten() {
            http(&c.http_config)?;
            for f in &c.fields {
                if f.title.is_empty() {
                    return Err("missing title in Mattermost field configuration".into());
                }
                if f.value.is_empty() {
                    return Err("missing value in Mattermost field configuration".into());
                }
            }
            exclusive(
                opt(&c.webhook_url),
                set(&c.webhook_url_file),
                "webhook_url & webhook_url_file",
            )?;
        }
        Ok(())
    }

    /// Fills unset values from `global:` and makes upstream's
    /// configuration-level checks, in its order of integrations.
    pub fn apply_global(&mut self, g: &GlobalConfig) -> Result<(), String> {
        fn missing<T>(v: &[Option<T>], kind: &str) -> Result<(), String> {
            if v.iter().any(Option::is_none) {
                return Err(format!("missing {kind} config"));
            }
            Ok(())
        }
        fn or(local: &mut String, global: &str) {
            if local.is_empty() {
                *local = global.to_string();
            }
        }
        fn or_url(
            local: &mut Option<String>,
            global: &Option<String>,
            err: &str,
        ) -> Result<(), String> {
            if local.is_none() {
                local.clone_from(global);
            }
            if local.is_none() {
                return Err(err.into());
            }
            Ok(())
        }
        let global_http = g.http_config.clone();
        let fill_http = |h: &mut Option<HttpConfig>| {
            if h.is_none() {
                h.clone_from(&global_http);
            }
        };
        missing(&self.webhook_configs, "webhook")?;
        for c in self.webhook_configs.iter_mut().flatten() {
            fill_http(&mut c.http_config);
        }
        missing(&self.email_configs, "email")?;
        for c in self.email_configs.iter_mut().flatten() {
            if c.tls_config.is_none() {
                c.tls_config.clone_from(&g.smtp_tls_config);
            }
            or(&mut c.smarthost, &g.smtp_smarthost);
            if c.smarthost.is_empty() {
                return Err("no global SMTP smarthost set".into());
            }
            or(&mut c.from, &g.smtp_from);
            if c.from.is_empty() {
                return Err("no global SMTP from set".into());
            }
            or(&mut c.hello, &g.smtp_hello);
            or(&mut c.auth_username, &g.smtp_auth_username);
            if c.auth_password.is_empty() && c.auth_password_file.is_empty() {
                c.auth_password.clone_from(&g.smtp_auth_password);
                c.auth_password_file.clone_from(&g.smtp_auth_password_file);
            }
            if c.auth_secret.is_empty() && c.auth_secret_file.is_empty() {
                c.auth_secret.clone_from(&g.smtp_auth_secret);
                c.auth_secret_file.clone_from(&g.smtp_auth_secret_file);
            }
            or(&mut c.auth_identity, &g.smtp_auth_identity);
            if c.require_tls.is_none() {
                c.require_tls = Some(g.smtp_require_tls);
            }
            if c.force_implicit_tls.is_none() {
                c.force_implicit_tls = g.smtp_force_implicit_tls;
            }
        }
        // A null slack, opsgenie, wechat or rocketchat entry is checked as
        // an empty one, as upstream does.
        for c in self.slack_configs.iter_mut() {
            let c = c.get_or_insert_with(SlackConfig::default);
            or_url(
                &mut c.app_url,
                &g.slack_app_url,
                "no global Slack App URL set",
            )?;
            let local_auth = c
                .http_config
                .as_ref()
                .is_some_and(HttpConfig::has_authorization);
            if c.app_token.is_empty()
                && c.app_token_file.is_empty()
                && !local_auth
                && c.api_url.is_none()
            {
                c.app_token.clone_from(&g.slack_app_token);
                c.app_token_file.clone_from(&g.slack_app_token_file);
            }
            if c.api_url.is_none() && c.api_url_file.is_empty() {
                c.api_url.clone_from(&g.slack_api_url);
                c.api_url_file.clone_from(&g.slack_api_url_file);
            }
            if !opt(&c.api_url)
                && c.api_url_file.is_empty()
                && c.app_token.is_empty()
                && c.app_token_file.is_empty()
            {
                return Err("no Slack API URL nor App token set either inline or in a file".into());
            }
            fill_http(&mut c.http_config);
            if set(&c.app_token) || set(&c.app_token_file) {
                if c.http_config
                    .as_ref()
                    .is_some_and(|h| h.authorization.is_some())
                {
                    return Err(
                        "http authorization can't be set when using Slack App tokens".into(),
                    );
                }
                c.api_url.clone_from(&c.app_url);
            }
        }
        missing(&self.pushover_configs, "pushover")?;
        for c in self.pushover_configs.iter_mut().flatten() {
            fill_http(&mut c.http_config);
        }
        missing(&self.pagerduty_configs, "pagerduty")?;
        for c in self.pagerduty_configs.iter_mut().flatten() {
            fill_http(&mut c.http_config);
            or_url(&mut c.url, &g.pagerduty_url, "no global PagerDuty URL set")?;
        }
        missing(&self.incidentio_configs, "incidentio")?;
        for c in self.incidentio_configs.iter_mut().flatten() {
            fill_http(&mut c.http_config);
        }
        for c in self.opsgenie_configs.iter_mut() {
            let c = c.get_or_insert_with(OpsgenieConfig::default);
            fill_http(&mut c.http_config);
            or_url(
                &mut c.api_url,
                &g.opsgenie_api_url,
                "no global OpsGenie URL set",
            )?;
            or(&mut c.api_key, &g.opsgenie_api_key);
            or(&mut c.api_key_file, &g.opsgenie_api_key_file);
            if c.api_key.is_empty() && c.api_key_file.is_empty() {
                return Err("no global OpsGenie API Key set either inline or in a file".into());
            }
        }
        for c in self.wechat_configs.iter_mut() {
            let c = c.get_or_insert_with(WechatConfig::default);
            fill_http(&mut c.http_config);
            or_url(
                &mut c.api_url,
                &g.wechat_api_url,
                "no global Wechat URL set",
            )?;
            if c.api_secret.is_empty() && c.api_secret_file.is_empty() {
                if g.wechat_api_secret.is_empty() && g.wechat_api_secret_file.is_empty() {
                    return Err("no global Wechat Api Secret set either inline or in a file".into());
                }
                c.api_secret.clone_from(&g.wechat_api_secret);
                c.api_secret_file.clone_from(&g.wechat_api_secret_file);
            }
            or(&mut c.corp_id, &g.wechat_api_corp_id);
            if c.corp_id.is_empty() {
                return Err("no global Wechat CorpID set".into());
            }
        }
        missing(&self.victorops_configs, "victorops")?;
        for c in self.victorops_configs.iter_mut().flatten() {
            fill_http(&mut c.http_config);
            or_url(
                &mut c.api_url,
                &g.victorops_api_url,
                "no global VictorOps URL set",
            )?;
            or(&mut c.api_key, &g.victorops_api_key);
            or(&mut c.api_key_file, &g.victorops_api_key_file);
            if c.api_key.is_empty() && c.api_key_file.is_empty() {
                return Err("no global VictorOps API Key set".into());
            }
        }
        missing(&self.sns_configs, "sns")?;
        for c in self.sns_configs.iter_mut().flatten() {
            fill_http(&mut c.http_config);
        }
        missing(&self.telegram_configs, "telegram")?;
        for c in self.telegram_configs.iter_mut().flatten() {
            fill_http(&mut c.http_config);
            if c.api_url.is_none() {
                c.api_url.clone_from(&g.telegram_api_url);
            }
            if c.bot_token.is_empty() && c.bot_token_file.is_empty() {
                if g.telegram_bot_token.is_empty() && g.telegram_bot_token_file.is_empty() {
                    return Err("missing bot_token or bot_token_file on telegram_config".into());
                }
                c.bot_token.clone_from(&g.telegram_bot_token);
                c.bot_token_file.clone_from(&g.telegram_bot_token_file);
            }
        }
        missing(&self.discord_configs, "discord")?;
        for c in self.discord_configs.iter_mut().flatten() {
            fill_http(&mut c.http_config);
        }
        missing(&self.webex_configs, "webex")?;
        for c in self.webex_configs.iter_mut().flatten() {
            fill_http(&mut c.http_config);
            or_url(&mut c.api_url, &g.webex_api_url, "no global Webex URL set")?;
        }
        missing(&self.msteams_configs, "msteams")?;
        for c in self.msteams_configs.iter_mut().flatten() {
            fill_http(&mut c.http_config);
        }
        missing(&self.msteamsv2_configs, "msteamsv2")?;
        for c in self.msteamsv2_configs.iter_mut().flatten() {
            match &mut c.http_config {
                None => c.http_config.clone_from(&global_http),
                Some(h) if h.proxy_url.is_empty() => {
                    if let Some(gh) = &global_http {
                        h.proxy_url.clone_from(&gh.proxy_url);
                    }
                }
                Some(_) => {}
            }
        }
        missing(&self.jira_configs, "jira")?;
        for c in self.jira_configs.iter_mut().flatten() {
            fill_http(&mut c.http_config);
            or_url(
                &mut c.api_url,
                &g.jira_api_url,
                "no global Jira Cloud URL set",
            )?;
        }
        for c in self.rocketchat_configs.iter_mut() {
            let c = c.get_or_insert_with(RocketchatConfig::default);
            fill_http(&mut c.http_config);
            if c.api_url.is_none() {
                c.api_url.clone_from(&g.rocketchat_api_url);
            }
            if c.token_id.is_none() {
                c.token_id.clone_from(&g.rocketchat_token_id);
            }
            or(&mut c.token_id_file, &g.rocketchat_token_id_file);
            if c.token_id.is_none() && c.token_id_file.is_empty() {
                return Err("no global Rocketchat TokenID set either inline or in a file".into());
            }
            if c.token.is_none() {
                c.token.clone_from(&g.rocketchat_token);
            }
            or(&mut c.token_file, &g.rocketchat_token_file);
            if c.token.is_none() && c.token_file.is_empty() {
                return Err("no global Rocketchat Token set either inline or in a file".into());
            }
        }
        missing(&self.mattermost_configs, "mattermost")?;
        for c in self.mattermost_configs.iter_mut().flatten() {
            fill_http(&mut c.http_config);
            if !opt(&c.webhook_url) && c.webhook_url_file.is_empty() {
                if !opt(&g.mattermost_webhook_url) && g.mattermost_webhook_url_file.is_empty() {
                    return Err(
                        "missing webhook_url or webhook_url_file on mattermost_config".into(),
                    );
                }
                c.webhook_url.clone_from(&g.mattermost_webhook_url);
                c.webhook_url_file
                    .clone_from(&g.mattermost_webhook_url_file);
            }
        }
        Ok(())
    }
}
