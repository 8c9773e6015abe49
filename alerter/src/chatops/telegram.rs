//! Telegram's side of ChatOps: the notification with an inline keyboard,
//! the same message restated after an action or the group's resolution,
//! the callback queries Telegram posts to the webhook when a button is
//! pressed, and the Bot API calls.
//!
//! Shapes follow the Telegram Bot API's documentation: `sendMessage`
//! (`chat_id`, `text`, `parse_mode`, `reply_markup` with an
//! `InlineKeyboardMarkup`: rows of buttons with `text` and
//! `callback_data` of 1 to 64 bytes, or `url`), `editMessageText`
//! (`chat_id`, `message_id`, the new text and keyboard; without
//! `reply_markup` the keyboard goes), `answerCallbackQuery`
//! (`callback_query_id`, `text`, `show_alert`), `sendPhoto` (`photo` as a
//! URL Telegram fetches), answers `{"ok": true, "result": …}`, and the
//! webhook's `Update` with a `callback_query` (`id`, `from`, `message`,
//! `data`), checked by `X-Telegram-Bot-Api-Secret-Token`.
//!
//! A button's `callback_data` is the action token, `:` and the action
//! (and `:` and a duration for a menu's choice): at most 32 + 1 + 7 + 1 +
//! the duration, well inside Telegram's 64 bytes.

use std::time::Duration;

use serde_json::{json, Map, Value as Json};

use crate::ack::Actor;
use crate::chatops::View;
use crate::notify::SendError;
use crate::send::http::Clients;

const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Telegram's limit on a message's text.
const TEXT_MAX: usize = 4096;

/// Who, as the message names them.
pub fn who(a: &Actor) -> String {
    match a.via.as_str() {
        "telegram" => super::plain(&a.user),
        via => format!("{} (via {via})", super::plain(&a.user)),
    }
}

/// The state line, as plain text.
pub fn state_text(v: &View<'_>) -> Option<String> {
    super::state_text(v, &super::Style::emoji(who, super::utc_minutes, "at "))
}

fn button(text: &str, token: &str, data: &str) -> Json {
    json!({"text": text, "callback_data": format!("{token}:{data}")})
}

/// The inline keyboard: what the receiver allows and the state makes
/// sensible; none once the group resolved.
pub fn keyboard(v: &View<'_>) -> Option<Json> {
    if v.resolved_at.is_some() {
        return None;
    }
    let allowed = |a: &str| v.receiver.actions.contains(a);
    let acked = v.answer.is_some_and(|a| a.ack.is_some());
    let t = v.token;
    let mut rows: Vec<Vec<Json>> = Vec::new();
    let mut first = Vec::new();
    if acked && allowed("unack") {
        first.push(button("Unacknowledge", t, "unack"));
    } else if !acked && allowed("ack") {
        first.push(button("Acknowledge", t, "ack"));
    }
    if allowed("graph") {
        first.push(button("Show graph", t, "graph"));
    }
    if let Some(url) = v.runbook {
        first.push(json!({"text": "Runbook", "url": url}));
    }
    rows.push(first);
    if allowed("silence") {
        let mut row: Vec<Json> = v
            .receiver
            .silence_for
            .iter()
            .map(|d| {
                let s = model::time::format_duration(*d);
                button(&format!("🔇 {s}"), t, &format!("silence:{s}"))
            })
            .collect();
        row.push(button(
            "🔇 until resolved",
            t,
            &format!("silence:{}", super::slack::UNTIL_RESOLVED),
        ));
        rows.push(row);
    }
    if !acked && allowed("snooze") {
        rows.push(
            v.receiver
                .snooze_for
                .iter()
                .map(|d| {
                    let s = model::time::format_duration(*d);
                    button(&format!("💤 {s}"), t, &format!("snooze:{s}"))
                })
                .collect(),
        );
    }
    rows.retain(|r| !r.is_empty());
    (!rows.is_empty()).then(|| json!({"inline_keyboard": rows}))
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The message's text and keyboard made from `base` (the `sendMessage`
/// body `telegram_configs` would send: `chat_id`, `text`, `parse_mode`, …)
/// and `v`: the state line under the text, the keyboard when there is
/// one.
pub fn message(base: &Map<String, Json>, v: &View<'_>) -> Map<String, Json> {
    let mut out = base.clone();
    let text = base.get("text").and_then(Json::as_str).unwrap_or("");
    if let Some(state) = state_text(v) {
        let state = match base.get("parse_mode").and_then(Json::as_str) {
            Some("HTML") => escape_html(&state),
            // MarkdownV2 wants most punctuation escaped; the state line
            // goes as it is under Markdown and plain text.
            Some("MarkdownV2") => state
                .chars()
                .flat_map(|c| {
                    let esc = "_*[]()~`>#+-=|{}.!".contains(c);
                    esc.then_some('\\').into_iter().chain(std::iter::once(c))
                })
                .collect(),
            _ => state,
        };
        let (joined, _) = crate::send::truncate_runes(&format!("{text}\n\n{state}"), TEXT_MAX);
        out.insert("text".into(), joined.into());
    }
    match keyboard(v) {
        Some(k) => {
            out.insert("reply_markup".into(), k);
        }
        None => {
            out.remove("reply_markup");
        }
    }
    out
}

/// A press of one of our buttons, from a verified update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Press {
    pub query_id: String,
    pub user_id: String,
    pub user_name: String,
    pub chat_id: Option<String>,
    pub token: String,
    pub action: String,
    pub value: Option<String>,
}

/// Reads a webhook update: a press, or `None` for an update of another
/// kind (a message, a member change), which is answered 200 and left
/// alone. The error says what is wrong, for a 400.
pub fn parse_update(body: &[u8]) -> Result<(i64, Option<Press>), String> {
    let u: Json =
        serde_json::from_slice(body).map_err(|e| format!("the update is not JSON: {e}"))?;
    let update_id = u["update_id"]
        .as_i64()
        .ok_or("the update has no update_id")?;
    let Some(q) = u.get("callback_query") else {
        return Ok((update_id, None));
    };
    let query_id = q["id"]
        .as_str()
        .ok_or("the callback query has no id")?
        .to_string();
    let user_id = q["from"]["id"]
        .as_i64()
        .ok_or("the callback query has no from.id")?
        .to_string();
    let user_name = q["from"]["username"]
        .as_str()
        .or_else(|| q["from"]["first_name"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| user_id.clone());
    let data = q["data"].as_str().unwrap_or("");
    let mut parts = data.splitn(3, ':');
    let token = parts.next().unwrap_or("").to_string();
    let action = parts.next().unwrap_or("").to_string();
    let value = parts.next().map(str::to_string);
    Ok((
        update_id,
        Some(Press {
            query_id,
            user_id,
            user_name,
            chat_id: q["message"]["chat"]["id"].as_i64().map(|i| i.to_string()),
            token,
            action,
            value,
        }),
    ))
}

/// Calls a Bot API method; the `result` when `ok`.
pub async fn call(
    clients: &Clients,
    api_url: &str,
    bot_token: &str,
    method: &str,
    body: &Json,
) -> Result<Json, SendError> {
    let url = format!("{}/bot{bot_token}/{method}", api_url.trim_end_matches('/'));
    let resp = clients
        .post(None, &url, &[], crate::send::go_json(body), CALL_TIMEOUT)
        .await
        .map_err(|e| SendError {
            message: format!(
                "telegram {method}: {}",
                e.message.replace(bot_token, "<secret>")
            ),
            retry: true,
        })?;
    let v: Json = serde_json::from_slice(&resp.body).unwrap_or(Json::Null);
    if v["ok"] == Json::Bool(true) {
        return Ok(v["result"].clone());
    }
    let description = v["description"]
        .as_str()
        .unwrap_or("no description")
        .to_string();
    Err(SendError {
        message: format!("telegram {method}: {description} ({})", resp.status),
        retry: resp.status >= 500 || resp.status == 429,
    })
}

/// Answers a callback query: a toast, or an alert the presser must close.
pub async fn answer(
    clients: &Clients,
    api_url: &str,
    bot_token: &str,
    query_id: &str,
    text: &str,
    alert: bool,
) {
    let body = json!({"callback_query_id": query_id, "text": text, "show_alert": alert});
    if let Err(e) = call(clients, api_url, bot_token, "answerCallbackQuery", &body).await {
        tracing::warn!(error = %e.message, "answering a Telegram callback query failed");
    }
}

/// Sends an interactive notification through the ChatOps file's bot: a
/// new message with the keyboard (and the graph as a photo answering
/// it), or, for the resolution of a group that has a message, an edit of
/// that message. Returns the message as now shown; its `body` is `base`,
/// which later edits start from.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn send(
    s: &crate::send::Sender,
    app: &crate::chatops::config::Telegram,
    rc: &crate::chatops::config::Receiver,
    d: &crate::runtime::Delivery,
    base: Map<String, Json>,
    token: &str,
    firing: bool,
    now: i64,
) -> Result<crate::chatops::state::Message, SendError> {
    let prior = d.message.as_ref().filter(|m| m.chat == "telegram");
    let view = View::of(d, token, rc, prior, firing, now);
    let bot = &app.bot_token.0;
    let mut msg = message(&base, &view);
    if let (Some(p), false) = (prior, firing) {
        let mut edit = msg.clone();
        edit.insert("chat_id".into(), p.channel.clone().into());
        edit.insert("message_id".into(), p.id.parse::<i64>().unwrap_or(0).into());
        match call(
            &s.clients,
            &app.api_url,
            bot,
            "editMessageText",
            &Json::Object(edit),
        )
        .await
        {
            Ok(_) => {
                return Ok(crate::chatops::state::Message {
                    body: Json::Object(base),
                    at: now,
                    ..p.clone()
                })
            }
            Err(e) if e.message.contains("message to edit not found") => {
                tracing::info!(error = %e.message, "the group's Telegram message is gone; sending a new one");
            }
            Err(e) => return Err(e),
        }
    }
    msg.remove("message_id");
    let result = call(
        &s.clients,
        &app.api_url,
        bot,
        "sendMessage",
        &Json::Object(msg),
    )
    .await?;
    let (Some(chat_id), Some(message_id)) =
        (result["chat"]["id"].as_i64(), result["message_id"].as_i64())
    else {
        return Err(SendError::fatal(
            "Telegram's answer to sendMessage has no chat.id and message_id, so the message cannot be edited later".to_string(),
        ));
    };
    if let Some(url) = &d.graph_url {
        let photo = json!({"chat_id": chat_id, "photo": url, "reply_to_message_id": message_id});
        if let Err(e) = call(&s.clients, &app.api_url, bot, "sendPhoto", &photo).await {
            tracing::warn!(error = %e.message, "the graph did not go to Telegram");
        }
    }
    Ok(crate::chatops::state::Message {
        chat: "telegram".into(),
        channel: chat_id.to_string(),
        id: message_id.to_string(),
        body: Json::Object(base),
        token: token.to_string(),
        first_sent: prior.map_or(now, |p| p.first_sent),
        at: now,
        silenced: prior.and_then(|p| p.silenced.clone()),
        runbook: view.runbook.unwrap_or_default().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chatops::config::Receiver;

    fn receiver() -> Receiver {
        Receiver {
            name: "team".into(),
            actions: ["ack", "unack", "silence", "snooze", "graph"]
                .map(String::from)
                .into(),
            silence_for: vec![Duration::from_secs(3600)],
            snooze_for: vec![Duration::from_secs(7200)],
            images: false,
            image_range: Duration::from_secs(3 * 3600),
            links: false,
            allow: Default::default(),
        }
    }

    #[test]
    fn the_keyboard_fits_telegrams_limits() {
        let r = receiver();
        let token = "0123456789abcdef0123456789abcdef";
        let v = View {
            token,
            receiver: &r,
            answer: None,
            silenced: None,
            resolved_at: None,
            runbook: Some("https://runbooks/x"),
        };
        let k = keyboard(&v).unwrap();
        let rows = k["inline_keyboard"].as_array().unwrap();
        assert_eq!(rows[0][0]["callback_data"], format!("{token}:ack"));
        assert_eq!(rows[0][2]["url"], "https://runbooks/x");
        assert_eq!(
            rows[1][1]["callback_data"],
            format!("{token}:silence:resolved")
        );
        assert_eq!(rows[2][0]["callback_data"], format!("{token}:snooze:2h"));
        for b in rows.iter().flat_map(|r| r.as_array().unwrap()) {
            if let Some(d) = b["callback_data"].as_str() {
                assert!(d.len() <= 64, "{d}");
            }
        }
        let base = json!({"chat_id": "-100", "text": "<b>Down</b>", "parse_mode": "HTML"});
        let m = message(
            base.as_object().unwrap(),
            &View {
                resolved_at: Some(0),
                ..v
            },
        );
        assert_eq!(
            m["text"],
            "<b>Down</b>\n\n🟢 Resolved at 1970-01-01 00:00 UTC"
        );
        assert!(m.get("reply_markup").is_none());
    }

    #[test]
    fn updates_are_read() {
        let body = br#"{"update_id": 7, "callback_query": {"id": "q1", "from": {"id": 42, "is_bot": false, "first_name": "Ana", "username": "ana"}, "message": {"message_id": 5, "chat": {"id": -100}}, "data": "tok:silence:1h"}}"#;
        let (id, p) = parse_update(body).unwrap();
        let p = p.unwrap();
        assert_eq!(id, 7);
        assert_eq!(
            (
                p.user_id.as_str(),
                p.user_name.as_str(),
                p.chat_id.as_deref()
            ),
            ("42", "ana", Some("-100"))
        );
        assert_eq!(
            (p.token.as_str(), p.action.as_str(), p.value.as_deref()),
            ("tok", "silence", Some("1h"))
        );
        assert_eq!(
            parse_update(br#"{"update_id": 8, "message": {}}"#).unwrap(),
            (8, None)
        );
        assert!(parse_update(b"{").is_err());
        assert!(parse_update(b"{}").unwrap_err().contains("update_id"));
    }
}
