//! Slack's side of ChatOps: the notification as a Block Kit message with
//! buttons and duration menus, the same message restated after an action
//! or the group's resolution, the interaction payloads Slack posts when a
//! button is pressed, and the Web API calls (`chat.postMessage`,
//! `chat.update`, `response_url`).
//!
//! Shapes follow Slack's documentation: "Block Kit" (section, context,
//! image and actions blocks; button and static select elements),
//! "Handling user interaction in your Slack apps" (the `block_actions`
//! payload, posted as the form field `payload`), "chat.postMessage" and
//! "chat.update" (JSON bodies with a bearer token; answers with `ok`,
//! `channel` and `ts`).
//!
//! The message keeps the receiver's templates: the attachment Slack's
//! `slack_configs` would send (title, link, text, fields, colour) becomes
//! the blocks of one attachment, so the colour bar stays. Two blocks are
//! ours and are replaced on every restatement: the state line (block id
//! [`STATE_BLOCK`]) and the actions, whose block id is [`ACTIONS_PREFIX`]
//! followed by the action token, so each press names its token without
//! any label in the message.

use std::time::Duration;

use serde_json::{json, Map, Value as Json};

use crate::ack::Actor;
pub use crate::chatops::View;
use crate::notify::SendError;
use crate::send::http::Clients;

/// The block id of the state line.
pub const STATE_BLOCK: &str = "wf-state";
/// The block id of the actions block: this, then the token.
pub const ACTIONS_PREFIX: &str = "wf:";
/// Slack's limit on a section's text.
const SECTION_MAX: usize = 3000;
/// How long a Web API call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Who, as Slack shows them: a mention for a Slack user, else the name
/// and where the answer came from.
pub fn who(a: &Actor) -> String {
    if a.via == "slack" && !a.id.is_empty() {
        format!("<@{}>", a.id)
    } else if a.via == "slack" {
        super::plain(&a.user)
    } else {
        format!("{} (via {})", super::plain(&a.user), a.via)
    }
}

/// A time as Slack shows it in each reader's own time zone, with UTC as
/// the fallback text.
pub fn when(ms: i64) -> String {
    let s = ms.div_euclid(1000);
    let utc = chrono::DateTime::from_timestamp(s, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default();
    format!("<!date^{s}^{{date_short_pretty}} {{time}}|{utc}>")
}

/// The state line, if there is anything to say.
pub fn state_text(v: &View<'_>) -> Option<String> {
    super::state_text(
        v,
        &super::Style {
            resolved: ":large_green_circle:",
            acked: ":white_check_mark:",
            snoozed: ":zzz:",
            silenced: ":mute:",
            who,
            when,
            at: "",
        },
    )
}

fn plain(text: &str) -> Json {
    json!({"type": "plain_text", "text": text, "emoji": true})
}

/// The value of the silence menu's last choice.
pub const UNTIL_RESOLVED: &str = "resolved";

fn menu(action: &str, placeholder: &str, choices: &[Duration], until_resolved: bool) -> Json {
    let mut options: Vec<Json> = choices
        .iter()
        .take(99)
        .map(|d| {
            let s = model::time::format_duration(*d);
            json!({"text": plain(&s), "value": s})
        })
        .collect();
    if until_resolved {
        options.push(json!({"text": plain("until resolved"), "value": UNTIL_RESOLVED}));
    }
    json!({
        "type": "static_select",
        "action_id": action,
        "placeholder": plain(placeholder),
        "options": options,
    })
}

/// The actions block: what the receiver allows and the state makes
/// sensible. None once the group resolved.
pub fn actions_block(v: &View<'_>) -> Option<Json> {
    if v.resolved_at.is_some() {
        return None;
    }
    let allowed = |a: &str| v.receiver.actions.contains(a);
    let acked = v.answer.is_some_and(|a| a.ack.is_some());
    let mut elements = Vec::new();
    if acked && allowed("unack") {
        elements.push(json!({"type": "button", "action_id": "unack", "text": plain("Unacknowledge"), "value": "unack"}));
    } else if !acked && allowed("ack") {
        elements.push(json!({"type": "button", "action_id": "ack", "text": plain("Acknowledge"), "value": "ack", "style": "primary"}));
    }
    if allowed("silence") && !v.receiver.silence_for.is_empty() {
        elements.push(menu(
            "silence",
            "Silence for…",
            &v.receiver.silence_for,
            true,
        ));
    }
    if !acked && allowed("snooze") && !v.receiver.snooze_for.is_empty() {
        elements.push(menu("snooze", "Snooze for…", &v.receiver.snooze_for, false));
    }
    if allowed("graph") {
        elements.push(json!({"type": "button", "action_id": "graph", "text": plain("Show graph"), "value": "graph"}));
    }
    if let Some(url) = v.runbook {
        elements.push(
            json!({"type": "button", "action_id": "runbook", "text": plain("Runbook"), "url": url}),
        );
    }
    (!elements.is_empty()).then(|| {
        json!({
            "type": "actions",
            "block_id": format!("{ACTIONS_PREFIX}{}", v.token),
            "elements": elements,
        })
    })
}

/// Slack's escaping of `&`, `<` and `>` in text that is not markup.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The blocks that carry what `slack_configs` put in an attachment: the
/// title (linked), the text, the fields and the image.
fn attachment_blocks(att: &Map<String, Json>) -> Vec<Json> {
    let s = |k: &str| att.get(k).and_then(Json::as_str).unwrap_or("");
    let mut blocks = Vec::new();
    let title = match (s("title"), s("title_link")) {
        ("", _) => String::new(),
        (t, "") => format!("*{}*", escape(t)),
        (t, l) => format!("*<{l}|{}>*", escape(t)),
    };
    let mut text = [s("pretext"), &title, s("text")]
        .into_iter()
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    if text.is_empty() {
        text = " ".into();
    }
    let (text, _) = crate::send::truncate_runes(&text, SECTION_MAX);
    blocks.push(
        json!({"type": "section", "block_id": "wf-text", "text": {"type": "mrkdwn", "text": text}}),
    );
    if let Some(Json::Array(fields)) = att.get("fields") {
        let fs: Vec<Json> = fields
            .iter()
            .take(10)
            .map(|f| {
                let t = f["title"].as_str().unwrap_or("");
                let v = f["value"].as_str().unwrap_or("");
                let (s, _) = crate::send::truncate_runes(&format!("*{}*\n{v}", escape(t)), 2000);
                json!({"type": "mrkdwn", "text": s})
            })
            .collect();
        if !fs.is_empty() {
            blocks.push(json!({"type": "section", "block_id": "wf-fields", "fields": fs}));
        }
    }
    if let Some(url) = att.get("image_url").and_then(Json::as_str) {
        blocks.push(
            json!({"type": "image", "block_id": "wf-image", "image_url": url, "alt_text": "image"}),
        );
    }
    blocks
}

/// The `chat.postMessage` body of an interactive notification, from the
/// body `slack_configs` would send: the attachment's content as blocks,
/// then the state line and the actions.
pub fn interactive(mut req: Map<String, Json>, graph: Option<&str>, v: &View<'_>) -> Json {
    let att = match req.remove("attachments") {
        Some(Json::Array(mut a)) if !a.is_empty() => match a.swap_remove(0) {
            Json::Object(m) => m,
            _ => Map::new(),
        },
        _ => Map::new(),
    };
    let mut blocks = attachment_blocks(&att);
    if let Some(url) = graph {
        blocks.push(json!({"type": "image", "block_id": "wf-graph", "image_url": url, "alt_text": "the alert's graph"}));
    }
    let mut out = Map::new();
    for k in ["color", "fallback"] {
        if let Some(x) = att.get(k) {
            out.insert(k.into(), x.clone());
        }
    }
    out.insert("blocks".into(), blocks.into());
    let fallback = att
        .get("fallback")
        .and_then(Json::as_str)
        .unwrap_or("")
        .to_string();
    // The top-level text is what notifications and screen readers show.
    if req
        .get("text")
        .and_then(Json::as_str)
        .unwrap_or("")
        .is_empty()
    {
        req.insert("text".into(), fallback.into());
    }
    req.insert("attachments".into(), vec![Json::Object(out)].into());
    restate(&Json::Object(req), v)
}

/// `body` with its state line and actions made anew from `v`.
pub fn restate(body: &Json, v: &View<'_>) -> Json {
    let mut body = body.clone();
    let Some(blocks) = body
        .pointer_mut("/attachments/0/blocks")
        .and_then(Json::as_array_mut)
    else {
        return body;
    };
    // The runbook link stays as the message first had it.
    let runbook = blocks
        .iter()
        .filter(|b| {
            b["block_id"]
                .as_str()
                .unwrap_or("")
                .starts_with(ACTIONS_PREFIX)
        })
        .flat_map(|b| b["elements"].as_array().into_iter().flatten())
        .find(|e| e["action_id"] == "runbook")
        .and_then(|e| e["url"].as_str())
        .map(str::to_string);
    blocks.retain(|b| {
        let id = b["block_id"].as_str().unwrap_or("");
        id != STATE_BLOCK && !id.starts_with(ACTIONS_PREFIX)
    });
    if let Some(text) = state_text(v) {
        blocks.push(json!({"type": "context", "block_id": STATE_BLOCK, "elements": [{"type": "mrkdwn", "text": text}]}));
    }
    let v = View {
        runbook: v.runbook.or(runbook.as_deref()),
        ..*v
    };
    if let Some(a) = actions_block(&v) {
        blocks.push(a);
    }
    body
}

/// A press of one of our buttons or menus, from a verified request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Press {
    pub user_id: String,
    pub user_name: String,
    pub team_id: Option<String>,
    pub token: String,
    /// `ack`, `unack`, `silence`, `snooze`, `graph` or `runbook`.
    pub action: String,
    /// The chosen duration of a menu.
    pub value: Option<String>,
    pub response_url: Option<String>,
}

/// What an interaction request holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interaction {
    Press(Press),
    /// Something that is not a press of ours (another payload type, a
    /// block of someone else's): answered 200 and left alone.
    Other(String),
}

/// A slash command's answer: for the channel when it changed something,
/// else for the user only; the text in a section, the image under it.
pub fn command_answer(said: &super::command::Said) -> Json {
    let text = crate::send::truncate_runes(&said.text, 3000).0;
    let mut blocks = vec![json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})];
    if let Some(url) = &said.image {
        blocks.push(json!({"type": "image", "image_url": url, "alt_text": "graph"}));
    }
    json!({
        "response_type": if said.in_channel { "in_channel" } else { "ephemeral" },
        "text": said.text,
        "blocks": blocks,
    })
}

/// Reads an interaction request's body (`payload=` and the JSON, form
/// encoded). The error says what is wrong, for a 400.
pub fn parse_interaction(body: &[u8]) -> Result<Interaction, String> {
    let payload = url::form_urlencoded::parse(body)
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v.into_owned())
        .ok_or("the form has no payload field")?;
    let p: Json =
        serde_json::from_str(&payload).map_err(|e| format!("the payload is not JSON: {e}"))?;
    parse_payload(&p)
}

/// Reads an interaction's payload (the JSON a request's `payload` field
/// holds, or a Socket Mode envelope's `payload`).
pub fn parse_payload(p: &Json) -> Result<Interaction, String> {
    let kind = p["type"].as_str().ok_or("the payload has no type")?;
    if kind != "block_actions" {
        return Ok(Interaction::Other(kind.to_string()));
    }
    let action = p["actions"]
        .get(0)
        .ok_or("a block_actions payload without actions")?;
    let block = action["block_id"].as_str().unwrap_or("");
    let Some(token) = block.strip_prefix(ACTIONS_PREFIX) else {
        return Ok(Interaction::Other(format!("block {block:?}")));
    };
    let user_id = p["user"]["id"]
        .as_str()
        .ok_or("the payload has no user.id")?
        .to_string();
    let user_name = p["user"]["username"]
        .as_str()
        .or_else(|| p["user"]["name"].as_str())
        .unwrap_or(&user_id)
        .to_string();
    let team_id = p["user"]["team_id"]
        .as_str()
        .or_else(|| p["team"]["id"].as_str())
        .map(str::to_string);
    Ok(Interaction::Press(Press {
        user_id,
        user_name,
        team_id,
        token: token.to_string(),
        action: action["action_id"].as_str().unwrap_or("").to_string(),
        value: action["selected_option"]["value"]
            .as_str()
            .map(str::to_string),
        response_url: p["response_url"].as_str().map(str::to_string),
    }))
}

/// Calls a Web API method with the bot token; the answer when `ok`.
pub async fn call(
    clients: &Clients,
    api_url: &str,
    method: &str,
    token: &str,
    body: &Json,
) -> Result<Json, SendError> {
    let url = format!("{}/{method}", api_url.trim_end_matches('/'));
    let resp = clients
        .post(
            None,
            &url,
            &[("authorization", format!("Bearer {token}"))],
            crate::send::go_json(body),
            CALL_TIMEOUT,
        )
        .await
        .map_err(|e| e.context(format_args!("Slack {method}")))?;
    if !(200..300).contains(&resp.status) {
        return Err(SendError {
            message: format!("Slack {method}: {}", resp.describe()),
            retry: resp.status >= 500 || resp.status == 429,
        });
    }
    let v: Json = serde_json::from_slice(&resp.body).map_err(|_| {
        SendError::fatal(format!(
            "Slack {method}: the answer is not JSON: {}",
            String::from_utf8_lossy(&resp.body[..resp.body.len().min(256)])
        ))
    })?;
    if v["ok"] != Json::Bool(true) {
        let e = v["error"].as_str().unwrap_or("unknown error");
        // Slack's rate limit and its own failures are worth another try.
        let retry = matches!(
            e,
            "ratelimited" | "internal_error" | "fatal_error" | "service_unavailable"
        );
        return Err(SendError {
            message: format!("Slack {method}: {e}"),
            retry,
        });
    }
    Ok(v)
}

/// Posts a message only the presser sees, through the interaction's
/// `response_url`; failures are logged.
pub async fn tell(clients: &Clients, response_url: &str, text: &str) {
    let body = json!({"response_type": "ephemeral", "replace_original": false, "text": text});
    respond(clients, response_url, &body).await;
}

/// Shows the presser an image through the interaction's `response_url`.
pub async fn show_image(clients: &Clients, response_url: &str, image_url: &str) {
    let body = json!({
        "response_type": "ephemeral",
        "replace_original": false,
        "text": "The alert's graph",
        "blocks": [{"type": "image", "image_url": image_url, "alt_text": "the alert's graph"}],
    });
    respond(clients, response_url, &body).await;
}

/// Posts `body` to an interaction's `response_url`; failures are logged.
async fn respond(clients: &Clients, response_url: &str, body: &Json) {
    match clients
        .post(
            None,
            response_url,
            &[],
            crate::send::go_json(body),
            CALL_TIMEOUT,
        )
        .await
    {
        Ok(r) if (200..300).contains(&r.status) => {}
        Ok(r) => tracing::warn!(status = r.status, "Slack response_url refused a reply"),
        Err(e) => tracing::warn!(error = %e.message, "Slack response_url could not be reached"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ack::{Ack, Answer};
    use crate::chatops::config::Receiver;

    fn receiver() -> Receiver {
        Receiver {
            name: "team".into(),
            actions: ["ack", "unack", "silence", "snooze"]
                .map(String::from)
                .into(),
            silence_for: vec![Duration::from_secs(3600)],
            snooze_for: vec![Duration::from_secs(3600)],
            images: false,
            image_range: Duration::from_secs(3 * 3600),
            links: false,
            allow: Default::default(),
        }
    }

    fn legacy() -> Map<String, Json> {
        json!({
            "channel": "#ops",
            "attachments": [{
                "title": "[FIRING:1] Down <x>",
                "title_link": "http://wf/#/alerts",
                "text": "job is down",
                "fallback": "[FIRING:1] Down",
                "color": "danger",
                "fields": [{"title": "sev", "value": "page", "short": true}],
            }],
        })
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn the_attachment_becomes_blocks_with_actions() {
        let r = receiver();
        let v = View {
            token: "ab12",
            receiver: &r,
            answer: None,
            silenced: None,
            resolved_at: None,
            runbook: Some("http://runbooks/down"),
        };
        let m = interactive(legacy(), None, &v);
        assert_eq!(m["text"], "[FIRING:1] Down");
        let blocks = m["attachments"][0]["blocks"].as_array().unwrap();
        assert_eq!(m["attachments"][0]["color"], "danger");
        assert_eq!(
            blocks[0]["text"]["text"],
            "*<http://wf/#/alerts|[FIRING:1] Down &lt;x&gt;>*\njob is down"
        );
        assert_eq!(blocks[1]["fields"][0]["text"], "*sev*\npage");
        let actions = blocks.last().unwrap();
        assert_eq!(actions["block_id"], "wf:ab12");
        let ids: Vec<&str> = actions["elements"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["ack", "silence", "snooze", "runbook"]);
        assert_eq!(
            actions["elements"][1]["options"][0]["value"], "1h",
            "durations as Prometheus writes them"
        );
    }

    #[test]
    fn restating_replaces_state_and_actions() {
        let r = receiver();
        let mut v = View {
            token: "ab12",
            receiver: &r,
            answer: None,
            silenced: None,
            resolved_at: None,
            runbook: None,
        };
        let m = interactive(legacy(), None, &v);
        let answer = Answer {
            ack: Some(Ack {
                by: Actor {
                    user: "ana".into(),
                    via: "slack".into(),
                    id: "U1".into(),
                },
                at: 1_700_000_000_000,
            }),
            snooze: None,
            silence: None,
        };
        v.answer = Some(&answer);
        let acked = restate(&m, &v);
        let blocks = acked["attachments"][0]["blocks"].as_array().unwrap();
        let state = &blocks[blocks.len() - 2];
        assert_eq!(state["block_id"], STATE_BLOCK);
        let text = state["elements"][0]["text"].as_str().unwrap();
        assert!(
            text.starts_with(":white_check_mark: Acknowledged by <@U1> <!date^1700000000^"),
            "{text}"
        );
        assert!(text.ends_with("|2023-11-14 22:13 UTC>"), "{text}");
        assert_eq!(blocks.last().unwrap()["elements"][0]["action_id"], "unack");
        v.resolved_at = Some(1_700_000_100_000);
        let done = restate(&acked, &v);
        let blocks = done["attachments"][0]["blocks"].as_array().unwrap();
        assert_eq!(
            blocks.last().unwrap()["block_id"],
            STATE_BLOCK,
            "no actions once resolved"
        );
        assert_eq!(blocks.len(), 3, "one state line, kept once");
    }

    #[test]
    fn presses_are_read_from_the_form() {
        let payload = json!({
            "type": "block_actions",
            "user": {"id": "U1", "username": "ana", "team_id": "T1"},
            "team": {"id": "T1"},
            "response_url": "https://hooks.slack.com/actions/T1/1/x",
            "actions": [{"action_id": "silence", "block_id": "wf:ab12", "type": "static_select",
                         "selected_option": {"text": {"type": "plain_text", "text": "1h"}, "value": "1h"}}],
        });
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &payload.to_string())
            .finish();
        let Interaction::Press(p) = parse_interaction(body.as_bytes()).unwrap() else {
            panic!("not a press")
        };
        assert_eq!(
            (
                p.user_id.as_str(),
                p.user_name.as_str(),
                p.team_id.as_deref()
            ),
            ("U1", "ana", Some("T1"))
        );
        assert_eq!(
            (p.token.as_str(), p.action.as_str(), p.value.as_deref()),
            ("ab12", "silence", Some("1h"))
        );
        assert!(parse_interaction(b"payload=%7Bnot")
            .unwrap_err()
            .contains("not JSON"));
        assert!(parse_interaction(b"x=1")
            .unwrap_err()
            .contains("no payload"));
        let other = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", r#"{"type":"view_submission"}"#)
            .finish();
        assert_eq!(
            parse_interaction(other.as_bytes()).unwrap(),
            Interaction::Other("view_submission".into())
        );
    }
}
