//! Values filled from `global:` (upstream `Config.UnmarshalYAML`), with
//! the configuration-level checks.

use super::*;

impl ReceiverConfig {
    /// Fills unset values from `global:` and makes upstream's
    /// configuration-level checks, in its order of integrations.
    pub(crate) fn apply_global(&mut self, g: &GlobalConfig) -> Result<(), String> {
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
