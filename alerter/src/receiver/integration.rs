//! Every integration's configuration as written: one raw struct per
//! type, with `send_resolved` and upstream's field names.

use std::collections::BTreeMap;

use model::yaml::Value;
use serde::Deserialize;

use httpclient::HttpConfig;

use super::TlsConfig;

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
