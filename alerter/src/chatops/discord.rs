//! Discord's side of ChatOps: the notification with message components
//! (buttons and select menus), sent through the receiver's webhook, the
//! interactions Discord posts when one is used, and the answers that edit
//! the message.
//!
//! Shapes follow Discord's developer documentation: "Execute Webhook"
//! (`POST /webhooks/{id}/{token}?wait=true` answers the `Message`, with
//! `id` and `channel_id`; a webhook made by the application may carry
//! `components`), "Edit Webhook Message" (`PATCH
//! /webhooks/{id}/{token}/messages/{message.id}`), "Message Components"
//! (an action row, type 1, of at most 5 buttons, type 2, with `style`,
//! `label` and `custom_id` of at most 100 characters, or `url` with style
//! 5; or one string select, type 3, with `custom_id`, `placeholder` and
//! `options` of `{label, value}`), and "Receiving and Responding"
//! (interaction type 1 PING answered with type 1 PONG; type 3
//! MESSAGE_COMPONENT with `data.custom_id`, `data.values`, `member.user` or
//! `user`, `guild_id`; answered with type 7 UPDATE_MESSAGE to edit the
//! message, or type 4 with flag 64 for a reply only the user sees).

use serde_json::{json, Map, Value as Json};

use crate::ack::Actor;
use crate::chatops::View;

/// Who, as Discord shows them: a mention for a Discord user.
pub fn who(a: &Actor) -> String {
    match (a.via.as_str(), a.id.is_empty()) {
        ("discord", false) => format!("<@{}>", a.id),
        ("discord", true) => super::plain(&a.user),
        (via, _) => format!("{} (via {via})", super::plain(&a.user)),
    }
}

/// A time as Discord shows it in each reader's time zone.
fn when(ms: i64) -> String {
    format!("<t:{}:f>", ms.div_euclid(1000))
}

/// The state line.
pub fn state_text(v: &View<'_>) -> Option<String> {
    super::state_text(v, &super::Style::emoji(who, when, ""))
}

fn select(token: &str, action: &str, placeholder: &str, choices: Vec<(String, String)>) -> Json {
    let options: Vec<Json> = choices
        .into_iter()
        .take(25)
        .map(|(label, value)| json!({"label": label, "value": value}))
        .collect();
    json!({"type": 1, "components": [{
        "type": 3,
        "custom_id": format!("{token}:{action}"),
        "placeholder": placeholder,
        "options": options,
    }]})
}

/// The message's components: what the receiver allows and the state
/// makes sensible; none once the group resolved.
pub fn components(v: &View<'_>) -> Vec<Json> {
    if v.resolved_at.is_some() {
        return Vec::new();
    }
    let allowed = |a: &str| v.receiver.actions.contains(a);
    let acked = v.answer.is_some_and(|a| a.ack.is_some());
    let t = v.token;
    let button = |label: &str, action: &str, style: u8| json!({"type": 2, "style": style, "label": label, "custom_id": format!("{t}:{action}")});
    let mut buttons = Vec::new();
    if acked && allowed("unack") {
        buttons.push(button("Unacknowledge", "unack", 2));
    } else if !acked && allowed("ack") {
        buttons.push(button("Acknowledge", "ack", 1));
    }
    if allowed("graph") {
        buttons.push(button("Show graph", "graph", 2));
    }
    if let Some(url) = v.runbook {
        buttons.push(json!({"type": 2, "style": 5, "label": "Runbook", "url": url}));
    }
    let mut rows = Vec::new();
    if !buttons.is_empty() {
        rows.push(json!({"type": 1, "components": buttons}));
    }
    let fmt = |d: &std::time::Duration| model::time::format_duration(*d);
    if allowed("silence") {
        let mut choices: Vec<(String, String)> = v
            .receiver
            .silence_for
            .iter()
            .map(|d| (fmt(d), fmt(d)))
            .collect();
        choices.push(("until resolved".into(), super::slack::UNTIL_RESOLVED.into()));
        rows.push(select(t, "silence", "Silence for…", choices));
    }
    if !acked && allowed("snooze") && !v.receiver.snooze_for.is_empty() {
        let choices = v
            .receiver
            .snooze_for
            .iter()
            .map(|d| (fmt(d), fmt(d)))
            .collect();
        rows.push(select(t, "snooze", "Snooze for…", choices));
    }
    rows
}

/// The message made from `base` (what `discord_configs` would send:
/// `content`, `embeds`, …) and `v`: the state line under the content, and
/// the components.
pub fn message(base: &Map<String, Json>, v: &View<'_>) -> Map<String, Json> {
    let mut out = base.clone();
    if let Some(state) = state_text(v) {
        let content = base.get("content").and_then(Json::as_str).unwrap_or("");
        let joined = if content.is_empty() {
            state
        } else {
            format!("{content}\n{state}")
        };
        out.insert(
            "content".into(),
            crate::send::truncate_runes(&joined, 2000).0.into(),
        );
    }
    out.insert("components".into(), components(v).into());
    out
}

/// A use of one of our components, from a verified interaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Press {
    pub user_id: String,
    pub user_name: String,
    pub guild_id: Option<String>,
    pub token: String,
    pub action: String,
    pub value: Option<String>,
}

/// What an interaction holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interaction {
    Ping,
    Press(Press),
    /// Another type (a slash command, a modal): answered and left alone.
    Other(i64),
}

/// Reads an interaction's body; the error says what is wrong, for a 400.
pub fn parse(body: &[u8]) -> Result<Interaction, String> {
    let i: Json =
        serde_json::from_slice(body).map_err(|e| format!("the interaction is not JSON: {e}"))?;
    match i["type"].as_i64() {
        Some(1) => return Ok(Interaction::Ping),
        Some(3) => {}
        Some(other) => return Ok(Interaction::Other(other)),
        None => return Err("the interaction has no type".into()),
    }
    let user = if i["member"]["user"].is_object() {
        &i["member"]["user"]
    } else {
        &i["user"]
    };
    let user_id = user["id"]
        .as_str()
        .ok_or("the interaction has no user id")?
        .to_string();
    let user_name = user["username"].as_str().unwrap_or(&user_id).to_string();
    let custom = i["data"]["custom_id"].as_str().unwrap_or("");
    let (token, action) = custom.split_once(':').unwrap_or((custom, ""));
    Ok(Interaction::Press(Press {
        user_id,
        user_name,
        guild_id: i["guild_id"].as_str().map(str::to_string),
        token: token.to_string(),
        action: action.to_string(),
        value: i["data"]["values"][0].as_str().map(str::to_string),
    }))
}

/// A reply only the user sees.
pub fn ephemeral(text: &str) -> Json {
    json!({"type": 4, "data": {"content": text, "flags": 64}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interactions_are_read() {
        assert_eq!(parse(br#"{"type": 1}"#).unwrap(), Interaction::Ping);
        let p = parse(br#"{"type": 3, "guild_id": "G1", "member": {"user": {"id": "U1", "username": "ana"}}, "data": {"custom_id": "tok:silence", "component_type": 3, "values": ["1h"]}}"#).unwrap();
        assert_eq!(
            p,
            Interaction::Press(Press {
                user_id: "U1".into(),
                user_name: "ana".into(),
                guild_id: Some("G1".into()),
                token: "tok".into(),
                action: "silence".into(),
                value: Some("1h".into()),
            })
        );
        assert_eq!(parse(br#"{"type": 2}"#).unwrap(), Interaction::Other(2));
        assert!(parse(b"{").is_err());
    }
}
