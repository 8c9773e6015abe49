//! Chat integrations: Slack (incoming webhooks and `chat.postMessage`),
//! Microsoft Teams (the legacy message card), Discord, Mattermost and
//! Telegram, each with upstream's defaults, limits and retry rule.

use serde_json::{json, Map, Value as Json};

use super::{go_json, optional_or_file, secret_or_file, timeout, truncate_runes, Sender, TIMEOUT};
use crate::chatops::slack::View;
use crate::chatops::state::Message;
use crate::notify::SendError;
use crate::receiver::{
    DiscordConfig, MattermostConfig, MsteamsConfig, SlackConfig, TelegramConfig,
};
use crate::runtime::Delivery;

pub(crate) fn firing(d: &Delivery, now: i64) -> bool {
    d.alerts.iter().any(|a| !a.is_resolved(now))
}

fn put(m: &mut Map<String, Json>, k: &str, v: String) {
    if !v.is_empty() {
        m.insert(k.into(), Json::String(v));
    }
}

/// Posts `body` to an incoming webhook (its URL inline or in a file),
/// with upstream's default retry rule.
async fn post(
    s: &Sender,
    http: Option<&httpclient::HttpConfig>,
    url: &str,
    url_file: &str,
    body: &Json,
) -> Result<(), SendError> {
    let url = secret_or_file(url, url_file)?;
    s.clients
        .post(http, &url, &[], go_json(body), TIMEOUT)
        .await?
        .default_retry()
}

/// Slack: one attachment; a webhook must answer `ok`, the Web API
/// `{"ok": true}`. With `update_message`, or for a receiver with ChatOps
/// settings (then as Block Kit with actions, through the ChatOps file's
/// Slack app), the message made is returned, so that it can be edited.
pub async fn slack(
    s: &Sender,
    c: &SlackConfig,
    d: &Delivery,
    now: i64,
) -> Result<Option<Message>, SendError> {
    let mut r = s.render(d, now);
    let (title, cut) = truncate_runes(&r.or(&c.title, "slack.default.title"), 1024);
    if cut {
        tracing::warn!(receiver = %d.receiver, "Slack title truncated to 1024 characters");
    }
    let mut att = Map::new();
    put(&mut att, "title", title);
    put(
        &mut att,
        "title_link",
        r.or(&c.title_link, "slack.default.titlelink"),
    );
    put(
        &mut att,
        "pretext",
        r.or(&c.pretext, "slack.default.pretext"),
    );
    att.insert("text".into(), r.or(&c.text, "slack.default.text").into());
    att.insert(
        "fallback".into(),
        r.or(&c.fallback, "slack.default.fallback").into(),
    );
    att.insert(
        "callback_id".into(),
        r.or(&c.callback_id, "slack.default.callbackid").into(),
    );
    let fields: Vec<Json> = c
        .fields
        .iter()
        .map(|f| {
            json!({
                "title": r.text(&f.title),
                "value": r.text(&f.value),
                "short": f.short.unwrap_or(c.short_fields),
            })
        })
        .collect();
    if !fields.is_empty() {
        att.insert("fields".into(), fields.into());
    }
    let actions: Vec<Json> = c
        .actions
        .iter()
        .map(|a| {
            let mut m = Map::new();
            for (k, v) in [
                ("type", &a.kind),
                ("text", &a.text),
                ("url", &a.url),
                ("style", &a.style),
                ("name", &a.name),
                ("value", &a.value),
            ] {
                put(&mut m, k, r.text(v));
            }
            if let Some(cf) = &a.confirm {
                let mut cm = Map::new();
                for (k, v) in [
                    ("text", &cf.text),
                    ("title", &cf.title),
                    ("ok_text", &cf.ok_text),
                    ("dismiss_text", &cf.dismiss_text),
                ] {
                    put(&mut cm, k, r.text(v));
                }
                m.insert("confirm".into(), cm.into());
            }
            Json::Object(m)
        })
        .collect();
    if !actions.is_empty() {
        att.insert("actions".into(), actions.into());
    }
    put(&mut att, "image_url", r.text(&c.image_url));
    put(&mut att, "thumb_url", r.text(&c.thumb_url));
    att.insert(
        "footer".into(),
        r.or(&c.footer, "slack.default.footer").into(),
    );
    put(&mut att, "color", r.or(&c.color, "slack.default.color"));
    let mrkdwn: Vec<String> = if c.mrkdwn_in.is_empty() {
        vec!["fallback".into(), "pretext".into(), "text".into()]
    } else {
        c.mrkdwn_in.clone()
    };
    att.insert("mrkdwn_in".into(), mrkdwn.into());

    let mut req = Map::new();
    let channel = r.text(&c.channel);
    put(&mut req, "channel", channel.clone());
    put(
        &mut req,
        "username",
        r.or(&c.username, "slack.default.username"),
    );
    put(
        &mut req,
        "icon_emoji",
        r.or(&c.icon_emoji, "slack.default.iconemoji"),
    );
    put(
        &mut req,
        "icon_url",
        r.or(&c.icon_url, "slack.default.iconurl"),
    );
    if c.link_names {
        req.insert("link_names".into(), true.into());
    }
    put(&mut req, "text", r.text(&c.message_text));
    req.insert("attachments".into(), vec![Json::Object(att)].into());
    r.check()?;

    let prior = d.message.as_ref().filter(|m| m.chat == "slack");
    let resolved = !firing(d, now);
    // A receiver with ChatOps settings, when the ChatOps file has a Slack
    // app: Block Kit with actions, through the app's bot token.
    if let (Some(token), Some((app, rc))) = (&d.token, s.slack_app(&d.receiver)) {
        let view = View::of(d, token, rc, prior, !resolved, now);
        let body = crate::chatops::slack::interactive(req, d.graph_url.as_deref(), &view);
        let url = format!("{}/chat.postMessage", app.api_url.trim_end_matches('/'));
        let auth = [("authorization", format!("Bearer {}", app.bot_token.0))];
        // The resolution edits the group's message; so does every
        // notification with `update_message`.
        let edit = prior.filter(|_| resolved || c.update_message);
        let limit = timeout(&c.timeout).unwrap_or(TIMEOUT);
        return post_or_update(s, None, &url, &auth, body, edit, token, now, limit)
            .await
            .map(Some);
    }

    let url = optional_or_file(&c.api_url, &c.api_url_file)?;
    let mut extra = Vec::new();
    let token = secret_or_file(&c.app_token, &c.app_token_file)?;
    if !token.is_empty() {
        extra.push(("authorization", format!("Bearer {token}")));
    }
    let url = if url.is_empty() && !token.is_empty() {
        c.app_url
            .clone()
            .unwrap_or_else(|| "https://slack.com/api/chat.postMessage".into())
    } else {
        url
    };
    let limit = timeout(&c.timeout).unwrap_or(TIMEOUT);
    // Alertmanager 0.32's `update_message`: the group's message is edited
    // (chat.update) once there is one, and forgotten when it resolves.
    if c.update_message {
        return post_or_update(
            s,
            c.http_config.as_ref(),
            &url,
            &extra,
            Json::Object(req),
            prior,
            "",
            now,
            limit,
        )
        .await
        .map(Some);
    }
    let resp = s
        .clients
        .post(
            c.http_config.as_ref(),
            &url,
            &extra,
            go_json(&Json::Object(req)),
            limit,
        )
        .await
        .map_err(|e| e.context(format_args!("channel {channel:?}")))?;
    slack_answer(&resp, &channel).map(|_| None)
}

/// The first `runbook_url` annotation of a delivery's alerts.
pub(crate) fn runbook(d: &Delivery) -> Option<&str> {
    runbook_of(&d.alerts)
}

/// The first `runbook_url` annotation (an http(s) URL) of `alerts`.
pub(crate) fn runbook_of(alerts: &[crate::dispatch::Alert]) -> Option<&str> {
    alerts
        .iter()
        .find_map(|a| a.annotations.get("runbook_url"))
        .map(String::as_str)
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
}

/// Checks Slack's answer: the Web API's JSON with `ok`, or an incoming
/// webhook's `ok`. The Web API's answer is returned.
fn slack_answer(resp: &super::http::Response, channel: &str) -> Result<Option<Json>, SendError> {
    if !(200..300).contains(&resp.status) {
        return Err(SendError {
            message: format!("channel {channel:?}: {}", resp.describe()),
            retry: resp.status >= 500,
        });
    }
    // The Web API answers JSON; an incoming webhook answers "ok".
    match serde_json::from_slice::<Json>(&resp.body) {
        Ok(v) if v.is_object() => {
            if v["ok"] == Json::Bool(true) {
                Ok(Some(v))
            } else {
                Err(SendError::fatal(format!(
                    "error response from Slack: {}",
                    v["error"].as_str().unwrap_or("unknown error")
                )))
            }
        }
        _ if resp.body == b"ok" => Ok(None),
        _ => Err(SendError::fatal(format!(
            "received an error response from Slack: {}",
            String::from_utf8_lossy(&resp.body[..resp.body.len().min(512)])
        ))),
    }
}

/// Posts `body` to `url` (a `chat.postMessage` URL), or, with `prior`,
/// edits that message through the sibling `chat.update`; a message Slack
/// no longer has is posted anew. Returns the message as now shown.
#[allow(clippy::too_many_arguments)]
async fn post_or_update(
    s: &Sender,
    http: Option<&httpclient::HttpConfig>,
    url: &str,
    extra: &[(&str, String)],
    mut body: Json,
    prior: Option<&Message>,
    token: &str,
    now: i64,
    limit: std::time::Duration,
) -> Result<Message, SendError> {
    let channel = body["channel"].as_str().unwrap_or("").to_string();
    if let Some(p) = prior {
        let update_url = match url.strip_suffix("chat.postMessage") {
            Some(base) => format!("{base}chat.update"),
            None => url.to_string(),
        };
        let mut edit = body.clone();
        edit["channel"] = p.channel.clone().into();
        edit["ts"] = p.id.clone().into();
        let resp = s
            .clients
            .post(http, &update_url, extra, go_json(&edit), limit)
            .await
            .map_err(|e| e.context(format_args!("channel {:?}", p.channel)))?;
        match slack_answer(&resp, &p.channel) {
            Ok(_) => {
                return Ok(Message {
                    body: edit,
                    at: now,
                    ..p.clone()
                })
            }
            Err(e)
                if e.message.ends_with("message_not_found")
                    || e.message.ends_with("cant_update_message") =>
            {
                tracing::info!(channel = %p.channel, error = %e.message, "the group's Slack message cannot be edited; posting a new one");
            }
            Err(e) => return Err(e),
        }
    }
    let resp = s
        .clients
        .post(http, url, extra, go_json(&body), limit)
        .await
        .map_err(|e| e.context(format_args!("channel {channel:?}")))?;
    let answer = slack_answer(&resp, &channel)?.unwrap_or_default();
    let (Some(ch), Some(ts)) = (answer["channel"].as_str(), answer["ts"].as_str()) else {
        return Err(SendError::fatal(
            "Slack's answer to chat.postMessage has no channel and ts, so the message cannot be edited later".to_string(),
        ));
    };
    body["channel"] = ch.into();
    Ok(Message {
        chat: "slack".into(),
        channel: ch.to_string(),
        id: ts.to_string(),
        body,
        token: token.to_string(),
        first_sent: prior.map_or(now, |p| p.first_sent),
        at: now,
        silenced: prior.and_then(|p| p.silenced.clone()),
        // Slack keeps its runbook button in the body, which restating keeps.
        runbook: String::new(),
    })
}

/// Microsoft Teams: the legacy `MessageCard` of an incoming webhook.
pub async fn msteams(
    s: &Sender,
    c: &MsteamsConfig,
    d: &Delivery,
    now: i64,
) -> Result<(), SendError> {
    let mut r = s.render(d, now);
    let mut body = json!({
        "@context": "http://schema.org/extensions",
        "type": "MessageCard",
        "title": r.or(&c.title, "msteams.default.title"),
        "summary": r.or(&c.summary, "msteams.default.summary"),
        "text": r.or(&c.text, "msteams.default.text"),
        "themeColor": if firing(d, now) { "8C1A1A" } else { "2DC72D" },
    });
    // Signed links as the card's buttons (OpenUri actions), each opening
    // its confirmation page.
    if !d.links.is_empty() {
        let actions: Vec<Json> = d
            .links
            .iter()
            .map(|l| {
                json!({"@type": "OpenUri", "name": l.label,
                       "targets": [{"os": "default", "uri": l.url}]})
            })
            .collect();
        body["potentialAction"] = actions.into();
    }
    r.check()?;
    post(
        s,
        c.http_config.as_ref(),
        &c.webhook_url,
        &c.webhook_url_file,
        &body,
    )
    .await
}

/// Discord: one embed, coloured by status.
pub async fn discord(
    s: &Sender,
    c: &DiscordConfig,
    d: &Delivery,
    now: i64,
) -> Result<Option<Message>, SendError> {
    let mut r = s.render(d, now);
    let (title, _) = truncate_runes(&r.or(&c.title, "discord.default.title"), 256);
    let (description, _) = truncate_runes(&r.or(&c.message, "discord.default.message"), 4096);
    let (content, _) = truncate_runes(&r.text(&c.content), 2000);
    r.check()?;
    let color = if firing(d, now) { 0x992D22 } else { 0x2ECC71 };
    let mut body = json!({
        "content": content,
        "embeds": [{"title": title, "description": description, "color": color}],
    });
    if !c.username.is_empty() {
        body["username"] = c.username.clone().into();
    }
    if !c.avatar_url.is_empty() && c.avatar_url.parse::<http::Uri>().is_ok() {
        body["avatar_url"] = c.avatar_url.clone().into();
    }
    // A receiver with ChatOps settings, when the ChatOps file has a
    // Discord application: components, through the same webhook.
    if let (Some(token), Some(rc)) = (&d.token, s.discord_receiver(&d.receiver)) {
        // The graph goes as an attachment of the message, which the embed
        // shows: Discord need not reach Watchfire to fetch it.
        let png = if rc.images && !resolved_edit(d, now) {
            s.graph_png(d, now, "the Discord message").await
        } else {
            None
        };
        if png.is_some() {
            body["embeds"][0]["image"] = json!({"url": format!("attachment://{GRAPH_FILE}")});
        }
        let url = secret_or_file(&c.webhook_url, &c.webhook_url_file)?;
        return discord_interactive(s, c, d, rc, body, &url, token, now, png)
            .await
            .map(Some);
    }
    post(
        s,
        c.http_config.as_ref(),
        &c.webhook_url,
        &c.webhook_url_file,
        &body,
    )
    .await
    .map(|()| None)
}

/// The file name of a graph attached to a Discord message.
const GRAPH_FILE: &str = "graph.png";

/// Whether a Discord delivery edits the group's message at its
/// resolution (which keeps the message's attachments) rather than posting.
fn resolved_edit(d: &Delivery, now: i64) -> bool {
    !firing(d, now) && d.message.as_ref().is_some_and(|m| m.chat == "discord")
}

/// A `multipart/form-data` body of Discord's "Uploading Files": the
/// message as `payload_json` (with `attachments` naming the file) and the
/// PNG as `files[0]`; and its content type.
fn discord_multipart(msg: &Json, png: &[u8]) -> (Vec<u8>, String) {
    let boundary = format!("watchfire-{:016x}", {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        png.hash(&mut h);
        h.finish()
    });
    let mut payload = msg.clone();
    payload["attachments"] = json!([{"id": 0, "filename": GRAPH_FILE}]);
    let mut out = Vec::new();
    out.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"payload_json\"\r\nContent-Type: application/json\r\n\r\n"
        )
        .as_bytes(),
    );
    out.extend_from_slice(&super::go_json(&payload));
    out.extend_from_slice(
        format!(
            "\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"files[0]\"; filename=\"{GRAPH_FILE}\"\r\nContent-Type: image/png\r\n\r\n"
        )
        .as_bytes(),
    );
    out.extend_from_slice(png);
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (out, format!("multipart/form-data; boundary={boundary}"))
}

/// Sends an interactive Discord notification through the webhook: a new
/// message with components (`?wait=true`, so Discord answers the message
/// and its id), with the graph attached when there is one, or, for the
/// resolution of a group that has a message, an edit of it (`PATCH
/// …/messages/{id}`, which keeps its attachment).
#[allow(clippy::too_many_arguments)]
async fn discord_interactive(
    s: &Sender,
    c: &DiscordConfig,
    d: &Delivery,
    rc: &crate::chatops::config::Receiver,
    body: Json,
    url: &str,
    token: &str,
    now: i64,
    png: Option<Vec<u8>>,
) -> Result<Message, SendError> {
    let base = body.as_object().cloned().unwrap_or_default();
    let prior = d.message.as_ref().filter(|m| m.chat == "discord");
    let resolved = !firing(d, now);
    let view = View::of(d, token, rc, prior, !resolved, now);
    let mut msg = Json::Object(crate::chatops::discord::message(&base, &view));
    // The resolution's edit keeps the message's attached graph in view.
    if let (Some(p), true) = (prior, resolved) {
        let image = &p.body["embeds"][0]["image"];
        if image.is_object() && msg["embeds"][0].is_object() {
            msg["embeds"][0]["image"] = image.clone();
        }
    }
    let (url, query) = url.split_once('?').unwrap_or((url, ""));
    let url = url.trim_end_matches('/');
    if let (Some(p), true) = (prior, resolved) {
        let edit = format!("{url}/messages/{}", p.id);
        let resp = s
            .clients
            .request(
                http::Method::PATCH,
                c.http_config.as_ref(),
                &edit,
                "application/json",
                &[],
                go_json(&msg),
                TIMEOUT,
            )
            .await?;
        match resp.status {
            200..=299 => {
                return Ok(Message {
                    body: Json::Object(base),
                    at: now,
                    ..p.clone()
                })
            }
            404 => tracing::info!("the group's Discord message is gone; sending a new one"),
            _ => {
                return Err(SendError {
                    message: format!("discord: editing the message: {}", resp.describe()),
                    retry: resp.status >= 500 || resp.status == 429,
                })
            }
        }
    }
    let post = if query.is_empty() {
        format!("{url}?wait=true")
    } else {
        format!("{url}?{query}&wait=true")
    };
    let (payload, kind) = match &png {
        Some(png) => discord_multipart(&msg, png),
        None => (go_json(&msg), "application/json".to_string()),
    };
    let resp = s
        .clients
        .request(
            http::Method::POST,
            c.http_config.as_ref(),
            &post,
            &kind,
            &[],
            payload,
            TIMEOUT,
        )
        .await?;
    resp.default_retry()?;
    let v: Json = serde_json::from_slice(&resp.body).unwrap_or(Json::Null);
    let (Some(id), Some(channel)) = (v["id"].as_str(), v["channel_id"].as_str()) else {
        return Err(SendError::fatal(
            "Discord's answer to the webhook has no id and channel_id, so the message cannot be edited later".to_string(),
        ));
    };
    Ok(Message {
        chat: "discord".into(),
        channel: channel.to_string(),
        id: id.to_string(),
        body: Json::Object(base),
        token: token.to_string(),
        first_sent: prior.map_or(now, |p| p.first_sent),
        at: now,
        silenced: prior.and_then(|p| p.silenced.clone()),
        runbook: runbook(d).unwrap_or_default().to_string(),
    })
}

/// Mattermost: an incoming webhook with one attachment built from the
/// configuration, or the configured `attachments`. For a receiver with
/// ChatOps settings, when the ChatOps file has a Mattermost section, the
/// first attachment carries the actions and the post is kept, so that an
/// action's answer can restate it.
pub async fn mattermost(
    s: &Sender,
    c: &MattermostConfig,
    d: &Delivery,
    now: i64,
) -> Result<Option<Message>, SendError> {
    let mut r = s.render(d, now);
    let mut req = Map::new();
    let channel = r.text(&c.channel);
    put(&mut req, "channel", channel.clone());
    put(
        &mut req,
        "username",
        r.or(&c.username, "mattermost.default.username"),
    );
    put(&mut req, "icon_url", r.text(&c.icon_url));
    put(&mut req, "icon_emoji", r.text(&c.icon_emoji));
    put(&mut req, "type", r.text(&c.kind));
    let text = r.or(&c.text, "mattermost.default.text");
    let field = |r: &mut super::Render, f: &crate::receiver::MattermostField| {
        let mut m = Map::new();
        put(&mut m, "title", r.text(&f.title));
        put(&mut m, "value", r.text(&f.value));
        if let Some(short) = f.short {
            m.insert("short".into(), short.into());
        }
        Json::Object(m)
    };
    if c.attachments.is_empty() {
        let mut a = Map::new();
        put(
            &mut a,
            "fallback",
            r.or(&c.fallback, "mattermost.default.fallback"),
        );
        put(&mut a, "color", r.or(&c.color, "mattermost.default.color"));
        put(&mut a, "pretext", r.text(&c.pretext));
        put(&mut a, "text", text);
        put(&mut a, "author_name", r.text(&c.author_name));
        put(&mut a, "author_link", r.text(&c.author_link));
        put(&mut a, "author_icon", r.text(&c.author_icon));
        put(&mut a, "title", r.or(&c.title, "mattermost.default.title"));
        put(
            &mut a,
            "title_link",
            r.or(&c.title_link, "mattermost.default.titlelink"),
        );
        let fields: Vec<Json> = c.fields.iter().map(|f| field(&mut r, f)).collect();
        if !fields.is_empty() {
            a.insert("fields".into(), fields.into());
        }
        put(&mut a, "thumb_url", r.text(&c.thumb_url));
        put(&mut a, "footer", r.text(&c.footer));
        put(&mut a, "footer_icon", r.text(&c.footer_icon));
        put(&mut a, "image_url", r.text(&c.image_url));
        req.insert("attachments".into(), vec![Json::Object(a)].into());
    } else {
        let (text, _) = truncate_runes(&text, 16383);
        put(&mut req, "text", text);
        let atts: Vec<Json> = c.attachments.iter().map(|a| r.json(a, false)).collect();
        req.insert("attachments".into(), atts.into());
    }
    if let Some(card) = c
        .props
        .as_ref()
        .and_then(|p| p.get("card"))
        .and_then(|v| v.as_str())
    {
        let card = r.text(card);
        if !card.is_empty() {
            req.insert("props".into(), json!({ "card": card }));
        }
    }
    if let Some(p) = &c.priority {
        let prio = p.get("priority").and_then(|v| v.as_str()).unwrap_or("");
        let prio = r.text(prio).to_lowercase();
        if !prio.is_empty() {
            let prio = if ["urgent", "important", "standard"].contains(&prio.as_str()) {
                prio
            } else {
                tracing::warn!(priority = %prio, "unknown Mattermost priority; sending standard");
                "standard".into()
            };
            let flag = |k: &str| p.get(k).and_then(|v| v.as_bool()).unwrap_or(false);
            let mut m = Map::new();
            m.insert("priority".into(), prio.clone().into());
            if flag("requested_ack") && prio != "standard" {
                m.insert("requested_ack".into(), true.into());
            }
            if flag("persistent_notifications") && prio == "urgent" {
                m.insert("persistent_notifications".into(), true.into());
            }
            req.insert("priority".into(), m.into());
        }
    }
    r.check()?;
    let url = optional_or_file(&c.webhook_url, &c.webhook_url_file)?;
    if url.is_empty() {
        return Err(SendError::fatal("webhook url missing"));
    }
    let mut kept = None;
    if let (Some(token), Some((app, rc))) = (&d.token, s.mattermost_app(&d.receiver)) {
        if let Some(g) = &d.graph_url {
            if let Some(Json::Array(atts)) = req.get_mut("attachments") {
                if let Some(Json::Object(first)) = atts.first_mut() {
                    first.entry("image_url").or_insert_with(|| g.clone().into());
                }
            }
        }
        let prior = d.message.as_ref().filter(|m| m.chat == "mattermost");
        let view = View::of(d, token, rc, prior, firing(d, now), now);
        let callback = format!(
            "{}{}",
            s.external_url.trim_end_matches('/'),
            crate::chatops::mattermost::ACTIONS_PATH
        );
        let cb = crate::chatops::mattermost::Callback {
            url: &callback,
            secret: app.action_secret.0.as_bytes(),
        };
        let post = crate::chatops::mattermost::message(&req, &view, cb);
        kept = Some(Message {
            chat: "mattermost".into(),
            channel: channel.clone(),
            // An incoming webhook answers "ok", not the post.
            id: String::new(),
            body: Json::Object(req),
            token: token.to_string(),
            first_sent: prior.map_or(now, |p| p.first_sent),
            at: now,
            silenced: prior.and_then(|p| p.silenced.clone()),
            runbook: runbook(d).unwrap_or_default().to_string(),
        });
        req = post;
    }
    let resp = s
        .clients
        .post(
            c.http_config.as_ref(),
            &url,
            &[],
            go_json(&Json::Object(req)),
            TIMEOUT,
        )
        .await?;
    resp.default_retry()
        .map_err(|e| e.context(format_args!("channel {channel:?}")))?;
    Ok(kept)
}

const TELEGRAM_TOO_LONG: &str = "Alertmanager notification could not be sent: message length exceeds Telegram limits.\n\t\t\tPlease check the template used for producing the message content.";

/// Telegram: `sendMessage` of the bot API; the answer's `ok` decides, and
/// every failure but a template error is retried.
pub async fn telegram(
    s: &Sender,
    c: &TelegramConfig,
    d: &Delivery,
    now: i64,
) -> Result<Option<Message>, SendError> {
    let mut r = s.render(d, now);
    let parse_mode = c.parse_mode.clone().unwrap_or_else(|| "HTML".into());
    let message = c
        .message
        .clone()
        .unwrap_or_else(|| "{{ template \"telegram.default.message\" . }}".into());
    // Upstream renders HTML messages with html/template.
    let text = if parse_mode == "HTML" {
        r.html(&message)
    } else {
        r.text(&message)
    };
    r.check()?;
    let text = if parse_mode == "HTML" {
        if text.chars().count() > 4096 {
            TELEGRAM_TOO_LONG.to_string()
        } else {
            text
        }
    } else {
        truncate_runes(&text, 4096).0
    };
    let retry = |e: SendError| SendError { retry: true, ..e };
    let token = secret_or_file(&c.bot_token, &c.bot_token_file).map_err(retry)?;
    let chat = if c.chat_id_file.is_empty() {
        c.chat_id
    } else {
        let raw = secret_or_file("", &c.chat_id_file).map_err(retry)?;
        raw.parse().map_err(|_| SendError {
            message: format!("chat_id_file {}: not a chat id", c.chat_id_file),
            retry: true,
        })?
    };
    let mut body = Map::new();
    body.insert("chat_id".into(), chat.to_string().into());
    if c.disable_notifications {
        body.insert("disable_notification".into(), "true".into());
    }
    body.insert("disable_web_page_preview".into(), "true".into());
    if c.message_thread_id != 0 {
        body.insert(
            "message_thread_id".into(),
            c.message_thread_id.to_string().into(),
        );
    }
    if !parse_mode.is_empty() {
        body.insert("parse_mode".into(), parse_mode.into());
    }
    body.insert("text".into(), text.into());
    // A receiver with ChatOps settings, when the ChatOps file has a
    // Telegram bot: a keyboard, through that bot.
    if let (Some(token), Some((app, rc))) = (&d.token, s.telegram_app(&d.receiver)) {
        return crate::chatops::telegram::send(s, app, rc, d, body, token, firing(d, now), now)
            .await
            .map(Some);
    }
    let api = c
        .api_url
        .clone()
        .unwrap_or_else(|| "https://api.telegram.org".into());
    let url = format!("{api}/bot{token}/sendMessage");
    let resp = s
        .clients
        .post(
            c.http_config.as_ref(),
            &url,
            &[],
            go_json(&Json::Object(body)),
            TIMEOUT,
        )
        .await
        .map_err(retry)?;
    let v: Json = serde_json::from_slice(&resp.body).unwrap_or(Json::Null);
    if v["ok"] == Json::Bool(true) {
        return Ok(None);
    }
    let description = v["description"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| resp.describe());
    Err(SendError {
        message: match v["error_code"].as_i64() {
            Some(code) => format!("telegram: {description} ({code})"),
            None => format!("telegram: {description}"),
        },
        retry: true,
    })
}
