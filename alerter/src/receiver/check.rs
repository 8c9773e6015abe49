//! Each integration's own checks (upstream's per-type `UnmarshalYAML`).

use super::*;

impl ReceiverConfig {
    /// Each integration's own checks (upstream's per-type `UnmarshalYAML`).
    pub(crate) fn check_entries(&self) -> Result<(), String> {
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
            one_of("url", set(&c.url), &c.url_file)?;
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
            at_most_one("api_url", opt(&c.api_url), &c.api_url_file)?;
            at_most_one("app_token", set(&c.app_token), &c.app_token_file)?;
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
            one_of("user_key", set(&c.user_key), &c.user_key_file)?;
            one_of("token", set(&c.token), &c.token_file)?;
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
            at_most_one("routing_key", set(&c.routing_key), &c.routing_key_file)?;
            at_most_one("service_key", set(&c.service_key), &c.service_key_file)?;
        }
        for c in self.incidentio_configs.iter().flatten() {
            http(&c.http_config)?;
            one_of("url", opt(&c.url), &c.url_file)?;
            let token = set(&c.alert_source_token) || set(&c.alert_source_token_file);
            at_most_one(
                "alert_source_token",
                set(&c.alert_source_token),
                &c.alert_source_token_file,
            )?;
            if let Some(h) = &c.http_config {
                if has_authorization(h) && token {
                    return Err("cannot specify alert_source_token or alert_source_token_file when using http_config.authorization".into());
                }
                if !has_authorization(h) && !token {
                    return Err("at least one of alert_source_token, alert_source_token_file or http_config.authorization must be configured".into());
                }
            }
        }
        for c in self.opsgenie_configs.iter().flatten() {
            http(&c.http_config)?;
            at_most_one("api_key", set(&c.api_key), &c.api_key_file)?;
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
            at_most_one("api_secret", set(&c.api_secret), &c.api_secret_file)?;
        }
        for c in self.victorops_configs.iter().flatten() {
            http(&c.http_config)?;
            if c.routing_key.is_empty() {
                return Err("missing Routing key in VictorOps config".into());
            }
            at_most_one("api_key", set(&c.api_key), &c.api_key_file)?;
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
            at_most_one("bot_token", set(&c.bot_token), &c.bot_token_file)?;
            if c.chat_id == 0 && c.chat_id_file.is_empty() {
                return Err("missing chat_id or chat_id_file on telegram_config".into());
            }
            at_most_one("chat_id", c.chat_id != 0, &c.chat_id_file)?;
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
            if !c.http_config.as_ref().is_some_and(has_authorization) {
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
            at_most_one("token", c.token.is_some(), &c.token_file)?;
            at_most_one("token_id", c.token_id.is_some(), &c.token_id_file)?;
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
            at_most_one("webhook_url", opt(&c.webhook_url), &c.webhook_url_file)?;
        }
        Ok(())
    }
}
