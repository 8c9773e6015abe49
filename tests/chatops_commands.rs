//! The slash command, `/watchfire`, typed in Slack and in Mattermost, on
//! loopback: the test posts what each chat posts when someone types it,
//! signed or with its token as the chat does, and reads the answers.
//!
//! The documents followed:
//! - Slack, "Implementing slash commands" (docs.slack.dev): a form POST
//!   with `command`, `text`, `user_id`, `user_name`, `team_id`,
//!   `channel_id`, `response_url`, `trigger_id`, signed like every Slack
//!   request (`X-Slack-Signature`, `X-Slack-Request-Timestamp`, "Verifying
//!   requests from Slack"); the answer, within 3 s, is JSON with
//!   `response_type` (`ephemeral` or `in_channel`), `text` and `blocks`.
//! - Mattermost, "Slash commands" (developers.mattermost.com): a form
//!   POST with the same fields and `Authorization: Token <token>`; the
//!   answer is JSON with `response_type` and `text` (Markdown).

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use serde_json::{json, Value};

use common::{json as get_json, post_json};

const SIGNING: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const MM_TOKEN: &str = "mm-command-token-0123";

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn post(addr: SocketAddr, path: &str, body: &str, headers: &[(&str, String)]) -> (u16, Value) {
    let form = "application/x-www-form-urlencoded";
    let (status, text) = common::post_as(addr, path, form, body.as_bytes(), headers);
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The form a chat posts when `user` types `command text`.
fn typed(user: &str, command: &str, text: &str, trigger: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("token", "deprecated-verification-token")
        .append_pair("team_id", "T1")
        .append_pair("team_domain", "eng")
        .append_pair("channel_id", "C1")
        .append_pair("channel_name", "alerts")
        .append_pair("user_id", &format!("U_{}", user.to_uppercase()))
        .append_pair("user_name", user)
        .append_pair("command", command)
        .append_pair("text", text)
        .append_pair("response_url", "http://127.0.0.1:1/commands/1/2")
        .append_pair("trigger_id", trigger)
        .finish()
}

fn slack_sig(ts: u64, body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SIGNING.as_bytes()).unwrap();
    mac.update(format!("v0:{ts}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// `user` types `/watchfire text` in Slack.
fn slack(addr: SocketAddr, user: &str, text: &str) -> (u16, Value) {
    slack_as(addr, user, "/watchfire", text)
}

static TRIGGER: AtomicU64 = AtomicU64::new(1);

fn slack_as(addr: SocketAddr, user: &str, command: &str, text: &str) -> (u16, Value) {
    // Each request Slack sends has its own trigger_id.
    let trigger = format!("t{}", TRIGGER.fetch_add(1, Ordering::Relaxed));
    let body = typed(user, command, text, &trigger);
    let ts = now_s();
    post(
        addr,
        "/api/v1/chatops/slack/commands",
        &body,
        &[
            ("X-Slack-Request-Timestamp", ts.to_string()),
            ("X-Slack-Signature", slack_sig(ts, &body)),
        ],
    )
}

/// The text of a Slack answer's first section block.
fn section(v: &Value) -> String {
    v["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// The server with Slack, Mattermost and the command configured, and the
/// alert `Down` firing.
fn start(dir: &std::path::Path) -> (SocketAddr, common::Server) {
    let am = dir.join("am.yml");
    std::fs::write(
        &am,
        "route: {receiver: team, group_by: [alertname], group_wait: 1h, group_interval: 1h, repeat_interval: 4h}\n\
         receivers:\n  - name: team\n  - name: other\n",
    )
    .unwrap();
    let chatops = dir.join("chatops.yml");
    std::fs::write(
        &chatops,
        format!(
            "slack:\n  bot_token: xoxb-1\n  signing_secret: {SIGNING}\n\
             mattermost:\n  action_secret: 0123456789abcdef0123\n  command_token: {MM_TOKEN}\n\
             commands:\n  allow:\n    users: ['slack:U_ANA', 'mattermost:U_ANA', 'slack:U_CAROL']\n\
             receivers:\n  - name: team\n    allow:\n      users: ['slack:U_ANA', 'mattermost:U_ANA']\n"
        ),
    )
    .unwrap();
    let addr = common::free_addr();
    let s = common::start_chatops(addr, dir, &am, &chatops);
    post_json(
        addr,
        "/api/v2/alerts",
        &json!([{"labels": {"alertname": "Down", "service": "api"}}]).to_string(),
    );
    (addr, s)
}

#[test]
fn slack_slash_command() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, _s) = start(dir.path());

    // Help, for anyone in the workspace.
    let (status, a) = slack(addr, "bob", "");
    assert_eq!(status, 200);
    assert_eq!(a["response_type"], "ephemeral");
    assert!(section(&a).contains("/watchfire silence <matchers> <duration> [comment]"));

    // Requests that do not verify, and one that does not parse.
    let body = typed("ana", "/watchfire", "ack alertname=Down", "t");
    let ts = now_s();
    let path = "/api/v1/chatops/slack/commands";
    type Headers<'a> = Vec<(&'a str, String)>;
    let cases: Vec<(&str, Headers, &str, u16, &str)> = vec![
        (
            "a wrong signature",
            vec![
                ("X-Slack-Request-Timestamp", ts.to_string()),
                ("X-Slack-Signature", slack_sig(ts + 1, &body)),
            ],
            body.as_str(),
            401,
            "bad_signature",
        ),
        (
            "a timestamp 301 s old",
            vec![
                ("X-Slack-Request-Timestamp", (ts - 301).to_string()),
                ("X-Slack-Signature", slack_sig(ts - 301, &body)),
            ],
            body.as_str(),
            401,
            "stale",
        ),
        (
            "no user",
            vec![
                ("X-Slack-Request-Timestamp", ts.to_string()),
                ("X-Slack-Signature", slack_sig(ts, "command=%2Fwatchfire")),
            ],
            "command=%2Fwatchfire",
            400,
            "malformed",
        ),
    ];
    for (what, headers, body, want, reason) in &cases {
        assert_eq!(post(addr, path, body, headers).0, *want, "{what}");
        assert!(common::refused(addr, "slack", reason), "{what}");
    }
    let signed = [
        ("X-Slack-Request-Timestamp", ts.to_string()),
        ("X-Slack-Signature", slack_sig(ts, &body)),
    ];
    assert_eq!(post(addr, path, &body, &signed).0, 200);
    assert_eq!(post(addr, path, &body, &signed).0, 401, "a replay");
    assert!(common::refused(addr, "slack", "replay"));
    // That first one acknowledged; take it back for what follows.
    assert_eq!(
        common::group_answer(addr, "Down")["acknowledged"]["by"],
        "ana"
    );
    let (status, a) = slack(addr, "ana", "unack alertname=Down");
    assert_eq!(
        (status, &a["response_type"]),
        (200, &json!("in_channel")),
        "{a}"
    );
    assert!(common::group_answer(addr, "Down").is_null());

    // Someone not on commands.allow: refused, counted, nothing changes.
    let (status, a) = slack(addr, "bob", "silence alertname=Down 1h");
    assert_eq!(status, 200);
    assert!(section(&a).starts_with("Sorry"), "{a}");
    assert!(common::refused(addr, "slack", "not_allowed"));
    assert!(get_json(addr, "/api/v2/silences")
        .as_array()
        .unwrap()
        .is_empty());

    // alerts: the firing groups.
    let (_, a) = slack(addr, "ana", "alerts");
    let text = section(&a);
    assert!(text.starts_with("1 alert group firing:"), "{text}");
    assert!(text.contains("`{alertname=\"Down\"}` → team: 1 firing since"));
    assert_eq!(
        section(&slack(addr, "ana", "alerts service=web").1),
        "No alert is firing."
    );

    // ack: for the channel; someone allowed to type commands but not
    // on the receiver's list cannot answer its groups.
    let (_, a) = slack(addr, "carol", "ack alertname=Down");
    assert!(section(&a).contains("Not yours to answer"), "{a}");
    assert!(common::group_answer(addr, "Down").is_null());
    let (_, a) = slack(addr, "ana", "ack alertname=Down");
    assert_eq!(a["response_type"], "in_channel");
    assert_eq!(
        section(&a),
        "ana acknowledged:\n• `{alertname=\"Down\"}` → team"
    );
    let (_, a) = slack(addr, "ana", "ack alertname=Down");
    assert_eq!(section(&a), "1 matching group was already acknowledged.");

    // silence: a real silence by the user, with the comment given.
    let (_, a) = slack(
        addr,
        "ana",
        "silence alertname=Down service=“api” 2h deploying the fix",
    );
    assert_eq!(a["response_type"], "in_channel", "{a}");
    let silences = get_json(addr, "/api/v2/silences");
    let sil = &silences[0];
    assert_eq!(sil["createdBy"], "ana");
    assert_eq!(sil["comment"], "deploying the fix");
    let id = sil["id"].as_str().unwrap().to_string();
    assert!(section(&a).contains(&id), "{a}");
    if let Some(text) = common::amtool_silences(addr, &["alertname=Down"]) {
        assert!(
            text.contains("deploying the fix") && text.contains("ana"),
            "{text}"
        );
    }
    // unsilence: expired.
    let (_, a) = slack(addr, "ana", &format!("unsilence {id}"));
    assert_eq!(section(&a), format!("ana expired silence `{id}`."));
    assert_eq!(
        get_json(addr, "/api/v2/silences")[0]["status"]["state"],
        "expired"
    );
    let (_, a) = slack(addr, "ana", "unsilence no-such-id");
    assert!(section(&a).starts_with("That did not work"), "{a}");

    // query: the value now, and the graph as an image block.
    let (_, a) = slack(addr, "ana", "query vector(42)");
    let text = section(&a);
    assert!(text.contains("{} 42"), "{text}");
    let url = a["blocks"][1]["image_url"].as_str().unwrap();
    let path = url.split_once(&format!(":{}", addr.port())).unwrap().1;
    let (status, png) = common::get_bytes(addr, path).unwrap();
    assert_eq!(status, 200);
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    let (_, a) = slack(addr, "ana", "query sum(");
    assert!(section(&a).starts_with("`sum(`: "), "{a}");
    assert!(a["blocks"].as_array().unwrap().len() == 1);

    // Mistakes say what is wrong; another command's name is not ours.
    let (_, a) = slack(addr, "ana", "silence alertname=Down");
    assert!(section(&a).contains("needs a duration"), "{a}");
    let (_, a) = slack_as(addr, "ana", "/other", "alerts");
    assert!(
        section(&a).starts_with("This URL answers /watchfire"),
        "{a}"
    );
}

#[test]
fn mattermost_slash_command() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, _s) = start(dir.path());
    let path = "/api/v1/chatops/mattermost/commands";
    let auth = |t: &str| vec![("Authorization", format!("Token {t}"))];
    let body = typed("ana", "/watchfire", "ack alertname=Down", "trigger-1");
    assert_eq!(post(addr, path, &body, &auth("guess")).0, 401);
    assert!(common::refused(addr, "mattermost", "bad_token"));
    assert_eq!(post(addr, path, &body, &[]).0, 401);
    assert!(common::refused(addr, "mattermost", "missing_header"));
    assert_eq!(post(addr, path, "text=x", &auth(MM_TOKEN)).0, 400);
    assert!(common::refused(addr, "mattermost", "malformed"));
    assert!(common::group_answer(addr, "Down").is_null());

    let (status, a) = post(addr, path, &body, &auth(MM_TOKEN));
    assert_eq!(status, 200);
    assert_eq!(a["response_type"], "in_channel", "{a}");
    assert_eq!(
        a["text"],
        "ana acknowledged:\n• `{alertname=\"Down\"}` → team"
    );
    assert_eq!(
        common::group_answer(addr, "Down")["acknowledged"]["via"],
        "mattermost"
    );
    assert_eq!(post(addr, path, &body, &auth(MM_TOKEN)).0, 401, "a replay");
    assert!(common::refused(addr, "mattermost", "replay"));

    let q = typed("ana", "/watchfire", "query vector(7)", "trigger-2");
    let (_, a) = post(addr, path, &q, &auth(MM_TOKEN));
    let text = a["text"].as_str().unwrap();
    assert!(text.contains("{} 7"), "{text}");
    assert!(text.contains("![graph](http"), "{text}");
    let q = typed("bob", "/watchfire", "alerts", "trigger-3");
    let (_, a) = post(addr, path, &q, &auth(MM_TOKEN));
    assert!(a["text"].as_str().unwrap().starts_with("Sorry"), "{a}");
}
