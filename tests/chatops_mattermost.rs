//! ChatOps in Mattermost, end to end on loopback: a stand-in for a
//! Mattermost incoming webhook records what watchfire posts, and the test
//! uses the attachment actions by posting what Mattermost's server posts
//! to an action's `integration.url`.
//!
//! The documents followed (developers.mattermost.com):
//! - "Incoming webhooks": `POST /hooks/{key}` with `text`, `channel`,
//!   `username`, `attachments` (and `props`, `priority`); the answer is
//!   `ok`.
//! - "Interactive messages": an attachment's `actions` are buttons (`id`,
//!   `name`, `style`, `integration: {url, context}`) or menus (`type:
//!   "select"`, `options` of `{text, value}`); a use posts JSON with
//!   `user_id`, `user_name`, `channel_id`, `team_id`, `post_id`,
//!   `trigger_id`, `type` and the action's `context` (a menu's choice in
//!   `context.selected_option`) to the action's URL; the answer may hold
//!   `update` (`message`, `props`: the post's new content) and
//!   `ephemeral_text` (a reply only the user sees).

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{json, Value};

use common::{json as get_json, post_json, wait_for, Request};

const SECRET: &str = "0123456789abcdef-action-secret";
const PATH: &str = "/api/v1/chatops/mattermost/actions";

fn sig(secret: &str, token: &str, action: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{token}:{action}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

static TRIGGER: AtomicU64 = AtomicU64::new(1);

/// What Mattermost's server posts when `user` uses the action whose
/// context is `context` (`choice`: a menu's selected option).
fn use_action(user: &str, context: &Value, choice: Option<&str>) -> String {
    let mut ctx = context.clone();
    if let Some(c) = choice {
        ctx["selected_option"] = c.into();
    }
    json!({
        "user_id": format!("uid-{user}"), "user_name": user,
        "channel_id": "ch1", "channel_name": "alerts", "team_id": "team1", "team_domain": "eng",
        "post_id": "post1", "trigger_id": format!("trigger-{}", TRIGGER.fetch_add(1, Ordering::Relaxed)),
        "type": if choice.is_some() { "select" } else { "" }, "data_source": "",
        "context": ctx,
    })
    .to_string()
}

fn act(addr: std::net::SocketAddr, body: &str) -> (u16, Value) {
    let (status, text) = common::http(addr, "POST", PATH, body).unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The actions of a post's first attachment.
fn actions(post: &Value) -> Vec<Value> {
    post["attachments"][0]["actions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn action<'a>(acts: &'a [Value], id: &str) -> &'a Value {
    acts.iter()
        .find(|a| a["id"] == id)
        .unwrap_or_else(|| panic!("no action {id} in {acts:?}"))
}

/// The state attachment's text (the last attachment).
fn state(post: &Value) -> String {
    post["attachments"]
        .as_array()
        .and_then(|a| a.last())
        .and_then(|a| a["text"].as_str())
        .unwrap_or("")
        .to_string()
}

#[test]
fn mattermost_actions_acknowledge_snooze_silence_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let answer: common::Answer = Arc::new(|path, c| {
        if path == "/hooks/xyz" {
            common::reply(c, "200 OK", "Content-Type: text/plain\r\n", b"ok")
        } else {
            common::reply(c, "404 Not Found", "", b"")
        }
    });
    let (mm, log) = common::serve("127.0.0.1", answer);
    let posts = || -> Vec<Request> { log.lock().unwrap().clone() };
    let am = dir.path().join("am.yml");
    std::fs::write(
        &am,
        format!(
            "route: {{receiver: team, group_by: [alertname], group_wait: 0s, group_interval: 1s, repeat_interval: 2s}}\n\
             receivers:\n  - name: team\n    mattermost_configs:\n      - webhook_url: http://{mm}/hooks/xyz\n        channel: alerts\n        send_resolved: true\n"
        ),
    )
    .unwrap();
    let chatops = dir.path().join("chatops.yml");
    std::fs::write(
        &chatops,
        format!("mattermost:\n  action_secret: {SECRET}\nreceivers:\n  - name: team\n    images: true\n    allow:\n      users: ['mattermost:uid-ana']\n"),
    )
    .unwrap();
    let addr = common::free_addr();
    let _s = common::start_chatops(addr, dir.path(), &am, &chatops);
    let alert = json!([{"labels": {"alertname": "Down", "service": "api"},
        "annotations": {"runbook_url": "https://runbooks.example/down"},
        "generatorURL": "http://prom.example/graph?g0.expr=vector%281%29&g0.tab=1"}]);
    post_json(addr, "/api/v2/alerts", &alert.to_string());
    wait_for(Duration::from_secs(10), "the post", || !posts().is_empty());

    // The post: the configured attachment with the actions, the graph as
    // its image, and the runbook in the state attachment.
    let post = posts()[0].json();
    assert_eq!(post["channel"], "alerts", "{post}");
    assert!(
        post["attachments"][0]["title"]
            .as_str()
            .unwrap()
            .contains("Down"),
        "{post}"
    );
    let acts = actions(&post);
    let ids: Vec<&str> = acts.iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["ack", "graph", "silence", "snooze"]);
    for a in &acts {
        // The external URL, by default this host's name and the port.
        let url = a["integration"]["url"].as_str().unwrap();
        assert!(url.ends_with(&format!(":{}{PATH}", addr.port())), "{a}");
        let ctx = &a["integration"]["context"];
        assert_eq!(
            ctx["sig"],
            sig(
                SECRET,
                ctx["token"].as_str().unwrap(),
                a["id"].as_str().unwrap()
            )
        );
    }
    assert_eq!(action(&acts, "silence")["type"], "select");
    assert_eq!(
        action(&acts, "silence")["options"],
        json!([{"text": "1h", "value": "1h"}, {"text": "4h", "value": "4h"}, {"text": "1d", "value": "1d"}, {"text": "until resolved", "value": "resolved"}])
    );
    assert_eq!(state(&post), "[Runbook](https://runbooks.example/down)");
    let image = post["attachments"][0]["image_url"].as_str().unwrap();
    let path = image.split_once(&format!(":{}", addr.port())).unwrap().1;
    let (status, png) = common::get_bytes(addr, path).unwrap();
    assert_eq!(status, 200);
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    let ack_ctx = action(&acts, "ack")["integration"]["context"].clone();
    let token = ack_ctx["token"].as_str().unwrap().to_string();

    // Refusals: each answered as Mattermost expects, counted, and nothing
    // changes.
    let forged =
        json!({"token": token, "action": "ack", "sig": sig("not the secret", &token, "ack")});
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (
            "a wrong signature",
            use_action("ana", &forged, None),
            401,
            "bad_signature",
        ),
        (
            "no signature",
            use_action("ana", &json!({"token": token, "action": "ack"}), None),
            401,
            "bad_signature",
        ),
        (
            "a signature for another action",
            use_action(
                "ana",
                &json!({"token": token, "action": "ack", "sig": sig(SECRET, &token, "unack")}),
                None,
            ),
            401,
            "bad_signature",
        ),
        ("malformed JSON", "{\"user_id\": ".into(), 400, "malformed"),
        (
            "no trigger_id",
            json!({"user_id": "uid-ana", "user_name": "ana", "context": ack_ctx}).to_string(),
            400,
            "malformed",
        ),
        (
            "an unknown token",
            use_action(
                "ana",
                &json!({"token": "feedfeedfeedfeedfeedfeedfeedfeed", "action": "ack", "sig": sig(SECRET, "feedfeedfeedfeedfeedfeedfeedfeed", "ack")}),
                None,
            ),
            200,
            "unknown_token",
        ),
        (
            "a user not on the allowlist",
            use_action("bob", &ack_ctx, None),
            200,
            "not_allowed",
        ),
        (
            "a choice not offered",
            use_action(
                "ana",
                &action(&acts, "silence")["integration"]["context"],
                Some("7d"),
            ),
            200,
            "not_offered",
        ),
    ];
    for (what, body, want, reason) in &cases {
        let (status, reply) = act(addr, body);
        assert_eq!(status, *want, "{what}: {reply}");
        if *want == 200 {
            assert!(reply["ephemeral_text"].is_string(), "{what}: {reply}");
            assert!(reply.get("update").is_none(), "{what}: {reply}");
        }
        assert!(common::refused(addr, "mattermost", reason), "{what}");
        assert!(common::group_answer(addr, "Down").is_null(), "{what}");
        assert!(get_json(addr, "/api/v2/silences")
            .as_array()
            .unwrap()
            .is_empty());
    }
    let big = use_action("ana", &json!({"pad": "x".repeat(70_000)}), None);
    assert_eq!(act(addr, &big).0, 413);
    assert!(common::refused(addr, "mattermost", "too_large"));

    // Snooze 1h: the answer edits the post to say so.
    let snooze = action(&acts, "snooze")["integration"]["context"].clone();
    let (status, reply) = act(addr, &use_action("ana", &snooze, Some("1h")));
    assert_eq!(status, 200, "{reply}");
    let edited = &reply["update"]["props"];
    assert!(
        state(edited).contains("💤 Snoozed by @ana until"),
        "{reply}"
    );
    assert!(common::group_answer(addr, "Down")["snoozed"].is_object());

    // Acknowledge: the post says who, the button becomes Unacknowledge,
    // and the same request again is a replay.
    let ack = use_action("ana", &ack_ctx, None);
    let (status, reply) = act(addr, &ack);
    assert_eq!(status, 200, "{reply}");
    let edited = &reply["update"]["props"];
    assert!(
        state(edited).contains("✅ Acknowledged by @ana at"),
        "{reply}"
    );
    assert!(state(edited).contains("[Runbook](https://runbooks.example/down)"));
    assert_eq!(actions(edited)[0]["id"], "unack", "{reply}");
    assert_eq!(
        common::group_answer(addr, "Down")["acknowledged"]["by"],
        "ana"
    );
    assert_eq!(act(addr, &ack).0, 401);
    assert!(common::refused(addr, "mattermost", "replay"));
    // The audit trail: who did what, when, from where; and the answer on
    // the alert in /api/v2/alerts, which amtool still reads.
    let group = get_json(addr, "/api/v2/alerts/groups")[0].clone();
    let trail: Vec<(String, String, String)> = group["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["by"].as_str().unwrap().to_string(),
                e["via"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let who = |a: &str| (a.to_string(), "ana".to_string(), "mattermost".to_string());
    assert_eq!(trail, [who("snooze"), who("ack")], "{group}");
    assert!(group["audit"][0]["detail"]
        .as_str()
        .unwrap()
        .starts_with("until "));
    let alerts = get_json(addr, "/api/v2/alerts");
    assert_eq!(alerts[0]["answers"][0]["acknowledged"]["by"], "ana");
    assert_eq!(alerts[0]["answers"][0]["receiver"], "team");
    if common::installed("amtool", "prometheus-alertmanager") {
        let out = std::process::Command::new("amtool")
            .arg(format!("--alertmanager.url=http://{addr}"))
            .args(["alert", "query", "-o", "extended"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && text.contains("Down"), "{text}");
    }
    // Acknowledged and snoozed: no repeat after repeat_interval (2 s).
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(posts().len(), 1, "a repeat went out while acknowledged");

    // Show graph: a reply only the user sees, with the image.
    let graph = action(&acts, "graph")["integration"]["context"].clone();
    let (_, reply) = act(addr, &use_action("ana", &graph, None));
    assert!(
        reply["ephemeral_text"]
            .as_str()
            .unwrap()
            .starts_with("![The alert's graph](http://"),
        "{reply}"
    );

    // Silence 1h: a real silence by the user, which amtool shows.
    let silence = action(&acts, "silence")["integration"]["context"].clone();
    let (_, reply) = act(addr, &use_action("ana", &silence, Some("1h")));
    assert!(state(&reply["update"]["props"]).contains("🔇 Silenced by @ana until"));
    let silences = get_json(addr, "/api/v2/silences");
    assert_eq!(silences[0]["createdBy"], "ana");
    assert_eq!(
        silences[0]["comment"],
        "Silenced from Mattermost by ana for 1h"
    );
    if let Some(text) = common::amtool_silences(addr, &[]) {
        assert!(
            text.contains("Silenced from Mattermost by ana for 1h"),
            "{text}"
        );
    }

    // Resolved: an incoming webhook cannot edit, so a new post without
    // actions says it resolved and who acknowledged it. (A silenced group
    // sends no resolved notice, as in Alertmanager: expire it first.)
    common::expire_silence(addr, silences[0]["id"].as_str().unwrap());
    let mut resolved = alert.clone();
    resolved[0]["endsAt"] = "2020-01-01T00:00:00Z".into();
    post_json(addr, "/api/v2/alerts", &resolved.to_string());
    wait_for(Duration::from_secs(10), "the resolved post", || {
        posts().len() >= 2
    });
    let last = posts().last().unwrap().json();
    assert!(actions(&last).is_empty(), "{last}");
    let s = state(&last);
    assert!(s.contains("🟢 Resolved at"), "{last}");
    assert!(s.contains("Acknowledged by @ana"), "{last}");
    // Its buttons are gone: an old one is refused politely.
    let (status, reply) = act(addr, &use_action("ana", &ack_ctx, None));
    assert_eq!(status, 200);
    assert!(reply["ephemeral_text"].is_string(), "{reply}");
}
