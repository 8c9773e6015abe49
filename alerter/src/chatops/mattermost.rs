//! Mattermost's side of ChatOps: the notification with attachment actions
//! (buttons and menus), sent through the receiver's incoming webhook, the
//! requests Mattermost's server posts when one is used, and the answers
//! that edit the post.
//!
//! Shapes follow Mattermost's developer documentation, "Interactive
//! messages" (<https://developers.mattermost.com/integrate/plugins/interactive-messages/>):
//! an attachment's `actions` are buttons (`id`, `name`, `style`,
//! `integration` with `url` and `context`) or menus (`type: "select"`
//! with `options` of `{text, value}`); a use makes Mattermost's server
//! post JSON to the action's `integration.url` with `user_id`,
//! `user_name`, `channel_id`, `team_id`, `post_id`, `trigger_id` and the
//! action's `context` (a menu adds the choice as
//! `context.selected_option`); the answer may hold `update` (the post's
//! new `message` and `props`, which edits it) and `ephemeral_text` (a
//! reply only the user sees).
//!
//! Mattermost signs nothing. The action's `context`, which Mattermost's
//! server keeps and never shows to clients, carries the action token, the
//! action and `sig`: the hex HMAC-SHA256 of `{token}:{action}` keyed by
//! the ChatOps file's `mattermost.action_secret`. A request whose `sig`
//! does not verify is refused before anything else in it is used.
//!
//! An incoming webhook answers `ok`, not the post, so the post cannot be
//! edited later from our side: it is edited when someone uses an action
//! (through the answer's `update`), and a group's resolution is a new
//! post, as without ChatOps.

use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value as Json};
use sha2::Sha256;

use crate::ack::Actor;
use crate::chatops::View;

/// Where Mattermost posts the uses of our actions, under the external URL.
pub const ACTIONS_PATH: &str = "/api/v1/chatops/mattermost/actions";

/// Who, as Mattermost shows them: a mention for a Mattermost user.
pub fn who(a: &Actor) -> String {
    match a.via.as_str() {
        "mattermost" => format!("@{}", super::plain(&a.user)),
        via => format!("{} (via {via})", super::plain(&a.user)),
    }
}

/// The state line, in Mattermost's Markdown.
pub fn state_text(v: &View<'_>) -> Option<String> {
    super::state_text(v, &super::Style::emoji(who, super::utc_minutes, "at "))
}

/// The `sig` of an action's context: hex HMAC-SHA256 of `{token}:{action}`
/// keyed by the action secret.
pub fn sign(secret: &[u8], token: &str, action: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(token.as_bytes());
    mac.update(b":");
    mac.update(action.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Where the actions call, and the key their contexts are signed with.
#[derive(Clone, Copy)]
pub struct Callback<'a> {
    /// The absolute URL of [`ACTIONS_PATH`] under the external URL.
    pub url: &'a str,
    pub secret: &'a [u8],
}

/// The attachment actions: what the receiver allows and the state makes
/// sensible; none once the group resolved. Mattermost's legacy actions
/// have no link buttons: the runbook is a link in the state attachment.
pub fn actions(v: &View<'_>, cb: Callback<'_>) -> Vec<Json> {
    if v.resolved_at.is_some() {
        return Vec::new();
    }
    let allowed = |a: &str| v.receiver.actions.contains(a);
    let acked = v.answer.is_some_and(|a| a.ack.is_some());
    let integration = |action: &str| {
        json!({"url": cb.url, "context": {
            "token": v.token,
            "action": action,
            "sig": sign(cb.secret, v.token, action),
        }})
    };
    let button = |name: &str, action: &str, style: &str| {
        json!({"id": action, "type": "button", "name": name, "style": style,
               "integration": integration(action)})
    };
    let fmt = |d: &std::time::Duration| model::time::format_duration(*d);
    let menu = |name: &str, action: &str, options: Vec<Json>| {
        json!({"id": action, "type": "select", "name": name, "options": options,
               "integration": integration(action)})
    };
    let mut out = Vec::new();
    if acked && allowed("unack") {
        out.push(button("Unacknowledge", "unack", "default"));
    } else if !acked && allowed("ack") {
        out.push(button("Acknowledge", "ack", "primary"));
    }
    if allowed("graph") {
        out.push(button("Show graph", "graph", "default"));
    }
    if allowed("silence") {
        let mut options: Vec<Json> = v
            .receiver
            .silence_for
            .iter()
            .map(|d| json!({"text": fmt(d), "value": fmt(d)}))
            .collect();
        options.push(json!({"text": "until resolved", "value": super::slack::UNTIL_RESOLVED}));
        out.push(menu("Silence for…", "silence", options));
    }
    if !acked && allowed("snooze") && !v.receiver.snooze_for.is_empty() {
        let options = v
            .receiver
            .snooze_for
            .iter()
            .map(|d| json!({"text": fmt(d), "value": fmt(d)}))
            .collect();
        out.push(menu("Snooze for…", "snooze", options));
    }
    out
}

/// The post made from `base` (what `mattermost_configs` would send:
/// `text`, `attachments`, …) and `v`: the actions on the first
/// attachment, and the state line and the runbook in an attachment of
/// their own after the others.
pub fn message(base: &Map<String, Json>, v: &View<'_>, cb: Callback<'_>) -> Map<String, Json> {
    let mut out = base.clone();
    let mut atts: Vec<Json> = base
        .get("attachments")
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default();
    if atts.is_empty() {
        atts.push(json!({}));
    }
    let acts = actions(v, cb);
    if let Some(first) = atts[0].as_object_mut() {
        if acts.is_empty() {
            first.remove("actions");
        } else {
            first.insert("actions".into(), acts.into());
        }
    }
    let mut lines = Vec::new();
    if let Some(s) = state_text(v) {
        lines.push(s);
    }
    if let Some(url) = v.runbook {
        lines.push(format!("[Runbook]({url})"));
    }
    if !lines.is_empty() {
        atts.push(json!({"text": lines.join("\n")}));
    }
    out.insert("attachments".into(), atts.into());
    out
}

/// The answer that edits the post to `post` (a [`message`]).
pub fn update(post: &Map<String, Json>) -> Json {
    // The post's other props (a `card`) stay.
    let mut props = post
        .get("props")
        .and_then(Json::as_object)
        .cloned()
        .unwrap_or_default();
    if let Some(a) = post.get("attachments") {
        props.insert("attachments".into(), a.clone());
    }
    json!({"update": {
        "message": post.get("text").and_then(Json::as_str).unwrap_or(""),
        "props": props,
    }})
}

/// A reply only the user sees.
pub fn ephemeral(text: &str) -> Json {
    json!({ "ephemeral_text": text })
}

/// A slash command's answer: for the channel when it changed something,
/// else for the user only; an image as Markdown under the text.
pub fn command_answer(said: &super::command::Said) -> Json {
    let mut text = said.text.clone();
    if let Some(url) = &said.image {
        text.push_str(&format!("\n![graph]({url})"));
    }
    json!({
        "response_type": if said.in_channel { "in_channel" } else { "ephemeral" },
        "text": text,
    })
}

/// A use of one of our actions, from a request whose `sig` is yet to be
/// checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Press {
    pub user_id: String,
    pub user_name: String,
    pub team_id: Option<String>,
    /// Unique to each use, when Mattermost sends it: replays are told by it.
    pub trigger_id: Option<String>,
    pub token: String,
    pub action: String,
    pub value: Option<String>,
    pub sig: String,
}

/// Reads an action request's body; the error says what is wrong, for a 400.
pub fn parse(body: &[u8]) -> Result<Press, String> {
    let r: Json =
        serde_json::from_slice(body).map_err(|e| format!("the request is not JSON: {e}"))?;
    if !r.is_object() {
        return Err("the request is not a JSON object".into());
    }
    let user_id = r["user_id"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or("the request has no user_id")?
        .to_string();
    let user_name = r["user_name"]
        .as_str()
        .filter(|s| !s.is_empty())
        .unwrap_or(&user_id)
        .to_string();
    let c = &r["context"];
    let text = |k: &str| c[k].as_str().unwrap_or("").to_string();
    let non_empty = |v: &Json| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    Ok(Press {
        user_id,
        user_name,
        team_id: non_empty(&r["team_id"]),
        trigger_id: non_empty(&r["trigger_id"]),
        token: text("token"),
        action: text("action"),
        value: non_empty(&c["selected_option"]),
        sig: text("sig"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chatops::config::Receiver;

    fn receiver() -> Receiver {
        Receiver::every_action("team")
    }

    #[test]
    fn the_post_carries_signed_actions_and_its_state() {
        let rc = receiver();
        let v = View {
            token: "tok",
            receiver: &rc,
            answer: None,
            silenced: None,
            resolved_at: None,
            runbook: Some("https://runbooks.example/down"),
        };
        let cb = Callback {
            url: "http://wf/api/v1/chatops/mattermost/actions",
            secret: b"key",
        };
        let base = json!({"text": "", "attachments": [{"title": "Down"}]});
        let post = message(base.as_object().unwrap(), &v, cb);
        let acts = post["attachments"][0]["actions"].as_array().unwrap();
        let ids: Vec<&str> = acts.iter().map(|a| a["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["ack", "graph", "silence", "snooze"]);
        let ctx = &acts[0]["integration"]["context"];
        assert_eq!(ctx["token"], "tok");
        assert_eq!(ctx["sig"], sign(b"key", "tok", "ack"));
        assert_ne!(sign(b"key", "tok", "ack"), sign(b"key", "tok", "unack"));
        assert_eq!(acts[2]["options"][1]["value"], "resolved");
        assert_eq!(
            post["attachments"][1]["text"],
            "[Runbook](https://runbooks.example/down)"
        );
        let resolved = View {
            resolved_at: Some(0),
            runbook: None,
            ..v
        };
        let post = message(base.as_object().unwrap(), &resolved, cb);
        assert!(post["attachments"][0].get("actions").is_none());
        assert!(post["attachments"][1]["text"]
            .as_str()
            .unwrap()
            .starts_with("🟢 Resolved at 1970-01-01 00:00 UTC"));
        let u = update(&post);
        assert_eq!(u["update"]["props"]["attachments"], post["attachments"]);
    }

    #[test]
    fn requests_are_read() {
        let p = parse(br#"{"user_id": "u1", "user_name": "ana", "channel_id": "c", "team_id": "t", "post_id": "p", "trigger_id": "tr", "type": "", "context": {"token": "tok", "action": "silence", "sig": "ab", "selected_option": "1h"}}"#).unwrap();
        assert_eq!(
            p,
            Press {
                user_id: "u1".into(),
                user_name: "ana".into(),
                team_id: Some("t".into()),
                trigger_id: Some("tr".into()),
                token: "tok".into(),
                action: "silence".into(),
                value: Some("1h".into()),
                sig: "ab".into(),
            }
        );
        assert!(parse(b"{").is_err());
        assert!(parse(b"[]").is_err());
        assert!(parse(br#"{"context": {}}"#).is_err());
    }
}
