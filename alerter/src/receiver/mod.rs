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

pub(crate) use httpclient::canonical_header;

impl ReceiverConfig {
    /// Every integration's `http_config`, to resolve its files.
    pub(crate) fn http_configs_mut(&mut self) -> impl Iterator<Item = &mut HttpConfig> {
        macro_rules! all {
            ($($list:ident),*) => {{
                let mut out: Vec<&mut Option<HttpConfig>> = Vec::new();
                $(out.extend(self.$list.iter_mut().flatten().map(|c| &mut c.http_config));)*
                out.into_iter().flatten()
            }};
        }
        all!(
            webhook_configs,
            slack_configs,
            pushover_configs,
            pagerduty_configs,
            incidentio_configs,
            opsgenie_configs,
            wechat_configs,
            victorops_configs,
            sns_configs,
            telegram_configs,
            discord_configs,
            webex_configs,
            msteams_configs,
            msteamsv2_configs,
            jira_configs,
            rocketchat_configs,
            mattermost_configs
        )
    }
}

fn exclusive(a: bool, b: bool, what: &str) -> Result<(), String> {
    if a && b {
        return Err(format!("at most one of {what} must be configured"));
    }
    Ok(())
}

/// At most one of a setting given inline and its `_file` twin, in
/// upstream's words (`at most one of api_key & api_key_file ...`).
fn at_most_one(name: &str, inline: bool, file: &str) -> Result<(), String> {
    exclusive(inline, set(file), &format!("{name} & {name}_file"))
}

/// Exactly one of a setting given inline and its `_file` twin.
fn one_of(name: &str, inline: bool, file: &str) -> Result<(), String> {
    if !inline && !set(file) {
        return Err(format!("one of {name} or {name}_file must be configured"));
    }
    at_most_one(name, inline, file)
}

/// An integration addressed by an incoming webhook: its HTTP settings,
/// and exactly one of `webhook_url` and `webhook_url_file`.
fn webhook_url(h: &Option<HttpConfig>, url: &str, file: &str) -> Result<(), String> {
    http(h)?;
    one_of("webhook_url", set(url), file)
}

#[cfg(test)]
mod tests {
    use crate::config;

    fn load(http_config: &str) -> Result<config::Loaded, String> {
        let text = format!(
            "route:\n  receiver: r\nreceivers:\n  - name: r\n    webhook_configs:\n      - url: http://127.0.0.1:1/hook\n        http_config:\n{http_config}"
        );
        config::parse(&text, "am.yml").map_err(|e| e.reason)
    }

    /// `http_config` at load: upstream's checks and words, Watchfire's
    /// stricter file check, and what loads although upstream's client
    /// would fail on it.
    #[test]
    fn http_config_is_checked_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "from-file\n").unwrap();
        let missing = dir.path().join("missing");
        // (http_config, Ok(()) or an error fragment)
        let cases: Vec<(String, Result<(), String>)> = vec![
            (
                format!("          basic_auth: {{username: u, password_file: '{}'}}\n", pw.display()),
                Ok(()),
            ),
            (
                format!("          basic_auth: {{username: u, password_file: '{}'}}\n", missing.display()),
                Err(format!("unable to read password_file {}", missing.display())),
            ),
            (
                format!("          authorization: {{credentials_file: '{}'}}\n", missing.display()),
                Err("unable to read credentials_file".into()),
            ),
            (
                format!("          http_headers: {{X-Token: {{files: ['{}']}}}}\n", missing.display()),
                Err("unable to read http_headers file".into()),
            ),
            (
                "          oauth2: {client_id: i, client_secret: s, token_url: 'http://127.0.0.1:1/token'}\n".into(),
                Ok(()),
            ),
            ("          proxy_url: 'http://127.0.0.1:3128'\n          no_proxy: localhost\n".into(), Ok(())),
            // Go's url.Parse takes it, and upstream's corpus loads it.
            ("          proxy_url: foo\n".into(), Ok(())),
            (
                "          bearer_token: a\n          bearer_token_file: b\n".into(),
                Err("at most one of bearer_token & bearer_token_file must be configured".into()),
            ),
            (
                "          tls_config: {min_version: TLS9}\n          bearer_token: a\n          bearer_token_file: b\n".into(),
                Err("unknown TLS version: TLS9".into()),
            ),
            (
                "          basic_auth: {username: u, password_ref: p}\n".into(),
                Err("field password_ref not found in type config.BasicAuth".into()),
            ),
        ];
        for (input, want) in cases {
            let got = load(&input).map(|_| ());
            let ok = match (&got, &want) {
                (Ok(()), Ok(())) => true,
                (Err(g), Err(w)) => g.contains(w.as_str()),
                _ => false,
            };
            assert!(ok, "input {input:?}: got {got:?}, want {want:?}");
        }
    }

    #[test]
    fn relative_files_are_relative_to_the_configuration() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "from-file\n").unwrap();
        let text = "route:\n  receiver: r\nreceivers:\n  - name: r\n    webhook_configs:\n      - url: http://127.0.0.1:1/hook\n        http_config:\n          basic_auth: {username: u, password_file: pw}\n";
        let file = dir.path().join("am.yml").display().to_string();
        let cfg = config::parse(text, &file).unwrap();
        let crate::receiver::WebhookConfig { http_config, .. } =
            cfg.receivers[0].webhook_configs[0].clone().unwrap();
        let got = http_config.unwrap().basic_auth.unwrap().password_file;
        let want = dir.path().join("pw").display().to_string();
        assert_eq!(got, want);
        // Elsewhere the file is missing, and that is an error at load.
        let other = tempfile::tempdir().unwrap();
        let file = other.path().join("am.yml").display().to_string();
        let got = config::parse(text, &file).map(|_| ()).unwrap_err().reason;
        assert!(got.contains("unable to read password_file"), "got {got:?}");
    }

    #[test]
    fn a_proxy_without_a_host_is_warned_about() {
        let cfg = load("          proxy_url: foo\n").unwrap();
        let a =
            crate::runtime::Alerter::new(&cfg, crate::silence::Silences::open(None, 0).unwrap())
                .unwrap();
        let got = a.unusable_http_configs();
        assert_eq!(got.len(), 1, "got {got:?}");
        assert!(got[0].2.contains("proxy_url"), "got {got:?}");
        let fine = load("          proxy_url: 'http://127.0.0.1:3128'\n").unwrap();
        let a =
            crate::runtime::Alerter::new(&fine, crate::silence::Silences::open(None, 0).unwrap())
                .unwrap();
        assert_eq!(a.unusable_http_configs(), Vec::new());
    }
}
