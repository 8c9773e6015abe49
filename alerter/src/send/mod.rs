//! Sending notifications: each integration's message, rendered from the
//! notification templates, and the HTTP post or SMTP session that carries
//! it. Errors say whether trying again may help, as upstream's retry rules
//! do; a template error is never retried.
//!
//! - [`http`]: one [`httpclient::Client`] per `http_config` (TLS,
//!   credentials, OAuth2, proxy, redirects and answer limits are the
//!   client's), its errors as retryable or not, and upstream's default
//!   status rule.
//! - [`chat`]: Slack, Microsoft Teams, Discord, Mattermost, Telegram.
//! - [`incident`]: PagerDuty and Opsgenie.
//! - [`email`]: SMTP through lettre.

pub mod chat;
pub mod email;
pub mod http;
pub mod incident;

use std::path::Path;
use std::time::Duration;

use model::yaml::Value as Yaml;
use serde_json::Value as Json;
use template::Value;

use crate::chatops::state::Message;
use crate::notify::{Context, SendError};
use crate::runtime::{Delivery, Integration};
use crate::tmpl::Templates;

/// The templates every configuration starts with; `templates:` files may
/// redefine any of them.
pub const DEFAULT_TEMPLATES: &str = include_str!("default.tmpl");

/// The notification templates of a configuration: the built-in ones, then
/// the files its `templates:` patterns name (relative to `base`), in order.
pub fn load_templates(patterns: &[String], base: &Path) -> Result<Templates, crate::Error> {
    let mut sources = vec![("default.tmpl".to_string(), DEFAULT_TEMPLATES.to_string())];
    for p in patterns {
        let path = base.join(p);
        for f in model::glob::glob(&path) {
            let text = std::fs::read_to_string(&f).map_err(|source| crate::Error::Io {
                path: f.clone(),
                source,
            })?;
            sources.push((f.display().to_string(), text));
        }
    }
    Templates::new(&sources).map_err(|e| crate::Error::Template {
        path: base.to_path_buf(),
        reason: format!("failed to parse templates: {e}"),
    })
}

/// Sends deliveries with one set of templates and HTTP clients.
pub struct Sender {
    templates: Templates,
    external_url: String,
    pub(crate) clients: http::Clients,
    /// The ChatOps file in force, if any.
    chatops: Option<std::sync::Arc<crate::chatops::config::Chatops>>,
    /// The server's grapher, once it has one.
    grapher: crate::chatops::graph::Slot,
}

/// Renders a notification's texts; the first template error is kept, and
/// the notification fails with it (upstream's `TmplText`).
pub(crate) struct Render<'a> {
    templates: &'a Templates,
    delivery: &'a Delivery,
    external_url: &'a str,
    now: i64,
    /// The template data, made when first needed.
    data: std::cell::OnceCell<Value>,
    error: Option<String>,
}

impl Render<'_> {
    fn context(&self) -> Context<'_> {
        let d = self.delivery;
        Context {
            receiver: &d.receiver,
            group_key: &d.group_key,
            group_labels: &d.group_labels,
            route_labels: &d.route_labels,
            reason: d.reason,
            external_url: self.external_url,
            now: self.now,
        }
    }

    fn run(&mut self, text: &str, html: bool) -> String {
        if self.error.is_some() || text.is_empty() {
            return String::new();
        }
        // Text without actions renders as itself.
        if !text.contains("{{") {
            return text.to_string();
        }
        let data = self
            .data
            .get_or_init(|| crate::tmpl::data(&self.context(), &self.delivery.alerts));
        let out = if html {
            self.templates.render_html(text, data)
        } else {
            self.templates.render(text, data)
        };
        match out {
            Ok(s) => s,
            Err(e) => {
                self.error = Some(e);
                String::new()
            }
        }
    }

    /// `text` rendered; "" after an error.
    pub fn text(&mut self, text: &str) -> String {
        self.run(text, false)
    }

    /// `text` rendered as HTML (what actions print is escaped); "" after
    /// an error.
    pub fn html(&mut self, text: &str) -> String {
        self.run(text, true)
    }

    /// An optional field rendered, or the named default template.
    pub fn or(&mut self, text: &Option<String>, default: &str) -> String {
        match text {
            Some(t) => self.text(t),
            None => self.text(&format!("{{{{ template {default:?} . }}}}")),
        }
    }

    /// A YAML value with every string (and map key) rendered as a
    /// template; with `reparse`, a rendered string that reads as YAML of
    /// another kind (a number, a list, null) becomes that value, as
    /// PagerDuty's details do upstream.
    pub fn json(&mut self, v: &Yaml, reparse: bool) -> Json {
        match v {
            Yaml::String(s) => {
                let out = self.text(s);
                if reparse {
                    // YAML 1.1's booleans, which upstream's reader knows.
                    if let Some(b) = crate::config::yaml11_bool(&out) {
                        return Json::Bool(b);
                    }
                    match model::yaml::value_from_str(&out) {
                        Ok(Yaml::String(_)) | Err(_) => {}
                        Ok(other) => return other,
                    }
                }
                out.into()
            }
            Yaml::Array(l) => l
                .iter()
                .map(|v| self.json(v, reparse))
                .collect::<Vec<_>>()
                .into(),
            Yaml::Object(m) => m
                .iter()
                .map(|(k, v)| (self.text(k), self.json(v, reparse)))
                .collect::<serde_json::Map<_, _>>()
                .into(),
            other => other.clone(),
        }
    }

    /// Fails with the first template error, if any.
    pub fn check(&self) -> Result<(), SendError> {
        match &self.error {
            None => Ok(()),
            Some(e) => Err(SendError {
                message: format!("template error: {e}"),
                retry: false,
            }),
        }
    }
}

/// JSON as Go's encoder writes it: `<`, `>` and `&` escaped, and a
/// closing newline.
pub fn go_json(v: &Json) -> Vec<u8> {
    let s = v.to_string();
    let mut out = String::with_capacity(s.len() + 1);
    for ch in s.chars() {
        match ch {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.push('\n');
    out.into_bytes()
}

/// `s` cut to at most `n` characters, the last one `…` when cut
/// (upstream's `TruncateInRunes`; no `…` when `n` is 3 or less).
pub fn truncate_runes(s: &str, n: usize) -> (String, bool) {
    if s.chars().count() <= n {
        return (s.to_string(), false);
    }
    if n <= 3 {
        return (s.chars().take(n).collect(), true);
    }
    let mut out: String = s.chars().take(n - 1).collect();
    out.push('…');
    (out, true)
}

/// `s` cut to at most `n` bytes, ending in `…` when cut, never inside a
/// character (upstream's `TruncateInBytes`).
pub fn truncate_bytes(s: &str, n: usize) -> (String, bool) {
    if s.len() <= n {
        return (s.to_string(), false);
    }
    let ellipsis = '…'.len_utf8();
    if n < ellipsis {
        return (String::new(), true);
    }
    let mut end = n - ellipsis;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    (format!("{}…", &s[..end]), true)
}

impl Sender {
    pub fn new(templates: Templates, external_url: String) -> Self {
        Sender {
            templates,
            external_url,
            clients: http::Clients::default(),
            chatops: None,
            grapher: Default::default(),
        }
    }

    /// The sender with a ChatOps file's settings and the server's grapher.
    pub fn with_chat(
        mut self,
        c: Option<std::sync::Arc<crate::chatops::config::Chatops>>,
        grapher: crate::chatops::graph::Slot,
    ) -> Self {
        self.chatops = c;
        self.grapher = grapher;
        self
    }

    /// A receiver's settings, when the ChatOps file has a Discord
    /// application: that receiver's Discord messages are interactive.
    pub(crate) fn discord_receiver(
        &self,
        receiver: &str,
    ) -> Option<&crate::chatops::config::Receiver> {
        let c = self.chatops.as_deref()?;
        c.discord.as_ref()?;
        c.receiver(receiver)
    }

    /// The ChatOps file's Mattermost section and a receiver's settings,
    /// when both exist: that receiver's Mattermost posts are interactive.
    pub(crate) fn mattermost_app(
        &self,
        receiver: &str,
    ) -> Option<(
        &crate::chatops::config::Mattermost,
        &crate::chatops::config::Receiver,
    )> {
        let c = self.chatops.as_deref()?;
        Some((c.mattermost.as_ref()?, c.receiver(receiver)?))
    }

    /// The ChatOps file's Telegram bot and a receiver's settings, when both
    /// exist: that receiver's Telegram messages are interactive.
    pub(crate) fn telegram_app(
        &self,
        receiver: &str,
    ) -> Option<(
        &crate::chatops::config::Telegram,
        &crate::chatops::config::Receiver,
    )> {
        let c = self.chatops.as_deref()?;
        Some((c.telegram.as_ref()?, c.receiver(receiver)?))
    }

    /// The graph of a delivery's alerts for an email, when its receiver
    /// asks for images; a failure is logged and the mail goes without.
    pub(crate) async fn graph_for_email(&self, d: &Delivery, now: i64) -> Option<Vec<u8>> {
        self.graph_png(d, now, "the email").await
    }

    /// The group's graph as a PNG to attach to a notification (`what`
    /// names it in the log), when the receiver asks for images; `None`,
    /// with the reason logged, when it cannot be drawn.
    pub(crate) async fn graph_png(&self, d: &Delivery, now: i64, what: &str) -> Option<Vec<u8>> {
        use crate::chatops::graph;
        let rc = self.chatops.as_deref()?.receiver(&d.receiver)?;
        if !rc.images {
            return None;
        }
        let grapher = self.grapher.lock().clone();
        let why = match (grapher, graph::expr_of_alerts(&d.alerts)) {
            (None, _) => "the server has no grapher".to_string(),
            (_, None) => "no alert of the group has an expression in its generatorURL".to_string(),
            (Some(g), Some(expr)) => {
                let req = graph::GraphRequest {
                    expr,
                    start_ms: now - rc.image_range.as_millis() as i64,
                    end_ms: now,
                    width: graph::WIDTH,
                    height: graph::HEIGHT,
                    title: d.group_labels.get("alertname").cloned().unwrap_or_default(),
                };
                match tokio::time::timeout(Duration::from_secs(10), g.png(req)).await {
                    Ok(Ok(png)) => return Some(png),
                    Ok(Err(e)) => e,
                    Err(_) => "drawing took more than 10 s".to_string(),
                }
            }
        };
        tracing::warn!(receiver = %d.receiver, reason = %why, "{what} goes without its graph");
        None
    }

    /// The ChatOps file's Slack app and a receiver's settings, when both
    /// exist: that receiver's Slack messages are interactive.
    pub(crate) fn slack_app(
        &self,
        receiver: &str,
    ) -> Option<(
        &crate::chatops::config::Slack,
        &crate::chatops::config::Receiver,
    )> {
        let c = self.chatops.as_deref()?;
        Some((c.slack.as_ref()?, c.receiver(receiver)?))
    }

    pub(crate) fn render<'a>(&'a self, d: &'a Delivery, now: i64) -> Render<'a> {
        Render {
            templates: &self.templates,
            delivery: d,
            external_url: &self.external_url,
            now,
            data: std::cell::OnceCell::new(),
            error: None,
        }
    }

    /// Sends one delivery at `now` (ms). Returns the chat message made or
    /// edited, where the integration keeps one per group.
    pub async fn send(&self, d: &Delivery, now: i64) -> Result<Option<Message>, SendError> {
        let done = match &d.integration {
            Integration::Slack(c) => return chat::slack(self, c, d, now).await,
            Integration::Telegram(c) => return chat::telegram(self, c, d, now).await,
            Integration::Discord(c) => return chat::discord(self, c, d, now).await,
            Integration::Webhook(c) => self.webhook(c, d, now).await,
            Integration::Email(c) => email::send(self, c, d, now).await,
            Integration::Msteams(c) => chat::msteams(self, c, d, now).await,
            Integration::Mattermost(c) => return chat::mattermost(self, c, d, now).await,
            Integration::Pagerduty(c) => incident::pagerduty(self, c, d, now).await,
            Integration::Opsgenie(c) => incident::opsgenie(self, c, d, now).await,
            Integration::Unsupported(kind) => Err(SendError {
                message: format!("{kind} has no sender in Watchfire"),
                retry: false,
            }),
        };
        done.map(|()| None)
    }

    async fn webhook(
        &self,
        c: &crate::receiver::WebhookConfig,
        d: &Delivery,
        now: i64,
    ) -> Result<(), SendError> {
        let mut r = self.render(d, now);
        // A `payload` replaces the message: its strings are templates.
        let body = match &c.payload {
            Some(p) => {
                let v = r.json(p, false);
                r.check()
                    .map_err(|e| e.context("failed to render custom payload"))?;
                go_json(&v)
            }
            None => {
                let mut msg = crate::notify::webhook_message(&r.context(), &d.alerts, c.max_alerts);
                // Signed links, for a receiver with `links: true`, in a
                // field of our own that Alertmanager's payload lacks.
                if !d.links.is_empty() {
                    let links: Vec<Json> = d
                        .links
                        .iter()
                        .map(|l| serde_json::json!({"action": l.action, "label": l.label, "url": l.url}))
                        .collect();
                    msg["watchfireLinks"] = links.into();
                }
                go_json(&msg)
            }
        };
        let raw = secret_or_file(&c.url, &c.url_file)?;
        let url = r.text(&raw);
        r.check()
            .map_err(|e| e.context("failed to template webhook URL"))?;
        if url.is_empty() {
            return Err(SendError {
                message: "webhook URL is empty after templating".into(),
                retry: false,
            });
        }
        // Without a `timeout`, a post may take until the group's next
        // flush (at least 10 s), as upstream's context allows.
        let limit = timeout(&c.timeout)
            .unwrap_or_else(|| Duration::from_millis((d.deadline - now).max(10_000) as u64));
        let r = self
            .clients
            .post(c.http_config.as_ref(), &url, &[], body, limit)
            .await?;
        r.default_retry()
    }
}

/// How long a post to an integration may take when its `timeout` is not
/// set.
const TIMEOUT: Duration = Duration::from_secs(30);

/// An integration's `timeout`, when set and not zero.
fn timeout(t: &Option<String>) -> Option<Duration> {
    t.as_deref()
        .and_then(|t| model::time::parse_duration(t).ok())
        .filter(|d| !d.is_zero())
}

/// A value given inline (set and not empty) or else in a file; unlike
/// [`secret_or_file`], the inline value wins.
fn optional_or_file(inline: &Option<String>, file: &str) -> Result<String, SendError> {
    match inline {
        Some(v) if !v.is_empty() => Ok(v.clone()),
        _ => secret_or_file("", file),
    }
}

/// A value given inline or in a file (`*_file`), the file's content
/// trimmed of surrounding white space.
pub fn secret_or_file(inline: &str, file: &str) -> Result<String, SendError> {
    if !file.is_empty() {
        return std::fs::read_to_string(file)
            .map(|s| s.trim().to_string())
            .map_err(|e| SendError {
                message: format!("reading {file}: {e}"),
                retry: false,
            });
    }
    Ok(inline.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation() {
        assert_eq!(truncate_runes("abcdef", 4), ("abc…".to_string(), true));
        assert_eq!(truncate_runes("abc", 4), ("abc".to_string(), false));
        assert_eq!(truncate_bytes("ééé", 5), ("é…".to_string(), true));
        assert_eq!(truncate_bytes("abc", 3), ("abc".to_string(), false));
    }

    #[test]
    fn default_templates_parse() {
        let t = load_templates(&[], Path::new(".")).unwrap();
        assert_eq!(
            t.render("{{ template \"slack.default.username\" . }}", &Value::Nil)
                .unwrap(),
            "Alertmanager"
        );
    }
}
