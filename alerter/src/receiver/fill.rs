//! Values filled from `global:` (upstream `Config.UnmarshalYAML`), with
//! the configuration-level checks.

use super::*;

impl ReceiverConfig {
    /// Fills unset values from `global:` and makes upstream's
    /// configuration-level checks, in its order of integrations.
    pub(crate) fn apply_global(&mut self, g: &GlobalConfig) -> Result<(), String> {
        /// The entries of a list none of which may be null (upstream's
        /// "missing webhook config").
        fn present<'a, T>(
            v: &'a mut [Option<T>],
            kind: &str,
        ) -> Result<impl Iterator<Item = &'a mut T>, String> {
            if v.iter().any(Option::is_none) {
                return Err(format!("missing {kind} config"));
            }
            Ok(v.iter_mut().flatten())
        }
        fn or(local: &mut String, global: &str) {
            if local.is_empty() {
                *local = global.to_string();
            }
        }
        /// A secret and its file from `global:` when neither is set here:
        /// upstream takes both or neither.
        fn pair_or(local: (&mut String, &mut String), global: (&str, &str)) {
            if local.0.is_empty() && local.1.is_empty() {
                *local.0 = global.0.to_string();
                *local.1 = global.1.to_string();
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
        for c in present(&mut self.webhook_configs, "webhook")? {
            fill_http(&mut c.http_config);
        }
        for c in present(&mut self.email_configs, "email")? {
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
            pair_or(
                (&mut c.auth_password, &mut c.auth_password_file),
                (&g.smtp_auth_password, &g.smtp_auth_password_file),
            );
            pair_or(
                (&mut c.auth_secret, &mut c.auth_secret_file),
                (&g.smtp_auth_secret, &g.smtp_auth_secret_file),
            );
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
            let local_auth = c.http_config.as_ref().is_some_and(has_authorization);
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
        for c in present(&mut self.pushover_configs, "pushover")? {
            fill_http(&mut c.http_config);
        }
        for c in present(&mut self.pagerduty_configs, "pagerduty")? {
            fill_http(&mut c.http_config);
            or_url(&mut c.url, &g.pagerduty_url, "no global PagerDuty URL set")?;
        }
        for c in present(&mut self.incidentio_configs, "incidentio")? {
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
            pair_or(
                (&mut c.api_secret, &mut c.api_secret_file),
                (&g.wechat_api_secret, &g.wechat_api_secret_file),
            );
            if c.api_secret.is_empty() && c.api_secret_file.is_empty() {
                return Err("no global Wechat Api Secret set either inline or in a file".into());
            }
            or(&mut c.corp_id, &g.wechat_api_corp_id);
            if c.corp_id.is_empty() {
                return Err("no global Wechat CorpID set".into());
            }
        }
        for c in present(&mut self.victorops_configs, "victorops")? {
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
        for c in present(&mut self.sns_configs, "sns")? {
            fill_http(&mut c.http_config);
        }
        for c in present(&mut self.telegram_configs, "telegram")? {
            fill_http(&mut c.http_config);
            if c.api_url.is_none() {
                c.api_url.clone_from(&g.telegram_api_url);
            }
            pair_or(
                (&mut c.bot_token, &mut c.bot_token_file),
                (&g.telegram_bot_token, &g.telegram_bot_token_file),
            );
            if c.bot_token.is_empty() && c.bot_token_file.is_empty() {
                return Err("missing bot_token or bot_token_file on telegram_config".into());
            }
        }
        for c in present(&mut self.discord_configs, "discord")? {
            fill_http(&mut c.http_config);
        }
        for c in present(&mut self.webex_configs, "webex")? {
            fill_http(&mut c.http_config);
            or_url(&mut c.api_url, &g.webex_api_url, "no global Webex URL set")?;
        }
        for c in present(&mut self.msteams_configs, "msteams")? {
            fill_http(&mut c.http_config);
        }
        for c in present(&mut self.msteamsv2_configs, "msteamsv2")? {
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
        for c in present(&mut self.jira_configs, "jira")? {
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
        for c in present(&mut self.mattermost_configs, "mattermost")? {
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
