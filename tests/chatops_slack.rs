//! ChatOps in Slack, end to end on loopback: a stand-in for Slack's Web
//! API records what watchfire sends, and the test "clicks" by posting
//! signed interaction requests, as Slack does.
//!
//! The documents the stand-in and the clicks follow (api.slack.com):
//! - "chat.postMessage" and "chat.update": `POST /api/<method>` with a JSON
//!   body and `Authorization: Bearer xoxb-…`; the answer is
//!   `{"ok": true, "channel": "C…", "ts": "…"}`. The channel posted to may
//!   be a name (`#ops`); the answer gives its id, which edits must use.
//! - "Block Kit": a message's `blocks` (here in its one attachment, which
//!   keeps the colour bar): `section` (`text` of type `mrkdwn`),
//!   `context` (`elements`), `actions` (`block_id`, `elements` of type
//!   `button` with `action_id`, `text` of type `plain_text`, `value`,
//!   optional `style` and `url`, and `static_select` with `placeholder`
//!   and `options` of `{text, value}`).
//! - "Handling user interaction": a press is `POST`ed to the request URL
//!   as `application/x-www-form-urlencoded` with one field, `payload`,
//!   the JSON of a `block_actions` payload (`user`, `team`, `container`,
//!   `channel`, `message`, `response_url`, `actions` with `action_id`,
//!   `block_id`, `value` or `selected_option`); the app answers 200
//!   within 3 seconds, and may post to `response_url`
//!   (`response_type: ephemeral`, `replace_original: false`).
//! - "Verifying requests from Slack": `X-Slack-Request-Timestamp` and
//!   `X-Slack-Signature` = `v0=` + hex HMAC-SHA256 over
//!   `v0:{timestamp}:{body}` with the signing secret.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use serde_json::{json, Value};

use common::{json as get_json, post_json, start_at, wait_for, Request};

const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const BOT: &str = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy";

/// The stand-in Slack: its address and every request it got.
struct Slack {
    addr: SocketAddr,
    log: common::Log,
}

impl Slack {
    fn start() -> Slack {
        Slack::start_with(None)
    }

    /// With `socket`, `apps.connections.open` answers a Socket Mode URL
    /// there.
    fn start_with(socket: Option<SocketAddr>) -> Slack {
        let n = Arc::new(AtomicU64::new(1));
        let answer: common::Answer = Arc::new(move |path, c| {
            let json_reply = |c: &mut TcpStream, v: Value| {
                common::reply(
                    c,
                    "200 OK",
                    "Content-Type: application/json; charset=utf-8\r\n",
                    v.to_string().as_bytes(),
                )
            };
            match path {
                "/api/chat.postMessage" => {
                    let ts = format!("1700000000.{:06}", n.fetch_add(1, Ordering::SeqCst));
                    json_reply(
                        c,
                        json!({"ok": true, "channel": "C0TEST", "ts": ts, "message": {}}),
                    );
                }
                "/api/chat.update" => json_reply(
                    c,
                    json!({"ok": true, "channel": "C0TEST", "ts": "", "text": ""}),
                ),
                p if p.starts_with("/actions/") => common::reply(c, "200 OK", "", b"ok"),
                "/api/apps.connections.open" => match socket {
                    Some(ws) => json_reply(
                        c,
                        json!({"ok": true, "url": format!("ws://{ws}/link/?ticket=t1")}),
                    ),
                    None => json_reply(c, json!({"ok": false, "error": "invalid_auth"})),
                },
                _ => common::reply(c, "404 Not Found", "", b""),
            }
        });
        let (addr, log) = common::serve("127.0.0.1", answer);
        Slack { addr, log }
    }

    fn calls(&self, path: &str) -> Vec<Request> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    fn posts(&self) -> Vec<Value> {
        self.calls("/api/chat.postMessage")
            .iter()
            .map(Request::json)
            .collect()
    }

    fn updates(&self) -> Vec<Value> {
        self.calls("/api/chat.update")
            .iter()
            .map(Request::json)
            .collect()
    }

    /// The texts posted to response URLs (what only the presser sees).
    fn told(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path.starts_with("/actions/"))
            .map(|r| r.json()["text"].as_str().unwrap_or("").to_string())
            .collect()
    }
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn sign(secret: &str, ts: u64, body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{ts}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// Posts an interaction request with the given headers; the status, the
/// body and how long the answer took.
fn post_raw(addr: SocketAddr, body: &[u8], headers: &[(&str, String)]) -> (u16, String, Duration) {
    let started = Instant::now();
    let path = "/api/v1/chatops/slack/interactions";
    let form = "application/x-www-form-urlencoded";
    let (status, text) = common::post_as(addr, path, form, body, headers);
    (status, text, started.elapsed())
}

/// The form body of a `block_actions` payload for a press on `message`.
fn form(payload: &Value) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish()
}

/// A press by `user` of `action` (`value`: a menu's choice) on the
/// message `posted` (as chat.postMessage got it, with Slack's ts).
fn payload(
    slack: &Slack,
    user: &str,
    posted: &Value,
    ts: &str,
    action: &str,
    value: Option<&str>,
) -> Value {
    let block = actions_block(posted);
    let mut act = json!({
        "action_id": action,
        "block_id": block["block_id"],
        "action_ts": "1700000001.000200",
    });
    match value {
        Some(v) => {
            act["type"] = "static_select".into();
            act["selected_option"] = json!({"text": {"type": "plain_text", "text": v}, "value": v});
        }
        None => {
            act["type"] = "button".into();
            act["value"] = action.into();
        }
    }
    json!({
        "type": "block_actions",
        "user": {"id": user, "username": user.trim_start_matches("U_").to_lowercase(), "name": user.trim_start_matches("U_").to_lowercase(), "team_id": "T_TEAM"},
        "api_app_id": "A_APP",
        "token": "verification-token-deprecated",
        "container": {"type": "message", "message_ts": ts, "channel_id": "C0TEST", "is_ephemeral": false},
        "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        "team": {"id": "T_TEAM", "domain": "example"},
        "channel": {"id": "C0TEST", "name": "ops"},
        "message": posted,
        "response_url": format!("http://{}/actions/T_TEAM/1/resp", slack.addr),
        "actions": [act],
    })
}

/// Presses: the request signed now with the right secret.
fn press(addr: SocketAddr, p: &Value) -> (u16, String, Duration) {
    let body = form(p);
    let ts = now_s();
    post_raw(
        addr,
        body.as_bytes(),
        &[
            ("X-Slack-Request-Timestamp", ts.to_string()),
            ("X-Slack-Signature", sign(SECRET, ts, &body)),
        ],
    )
}

fn blocks(m: &Value) -> Vec<Value> {
    m["attachments"][0]["blocks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn actions_block(m: &Value) -> Value {
    blocks(m)
        .into_iter()
        .find(|b| b["type"] == "actions")
        .unwrap_or(Value::Null)
}

fn state_line(m: &Value) -> String {
    blocks(m)
        .into_iter()
        .find(|b| b["block_id"] == "wf-state")
        .map(|b| b["elements"][0]["text"].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}

fn action_ids(m: &Value) -> Vec<String> {
    actions_block(m)["elements"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["action_id"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Checks a message body against the shapes of Slack's documents.
fn assert_block_kit(m: &Value) {
    assert!(m["channel"].is_string(), "{m}");
    assert!(
        !m["text"].as_str().unwrap_or("").is_empty(),
        "top-level text: {m}"
    );
    for b in blocks(m) {
        match b["type"].as_str().unwrap() {
            "section" => assert!(
                b["text"]["type"] == "mrkdwn" || b["fields"].is_array(),
                "{b}"
            ),
            "context" => assert!(b["elements"][0]["type"] == "mrkdwn", "{b}"),
            "image" => assert!(
                b["image_url"].is_string() && b["alt_text"].is_string(),
                "{b}"
            ),
            "actions" => {
                let id = b["block_id"].as_str().unwrap();
                assert!(id.len() <= 255, "{b}");
                for e in b["elements"].as_array().unwrap() {
                    assert!(e["action_id"].is_string(), "{e}");
                    match e["type"].as_str().unwrap() {
                        "button" => {
                            assert_eq!(e["text"]["type"], "plain_text", "{e}");
                            assert!(e["text"]["text"].as_str().unwrap().chars().count() <= 75);
                        }
                        "static_select" => {
                            assert_eq!(e["placeholder"]["type"], "plain_text", "{e}");
                            for o in e["options"].as_array().unwrap() {
                                assert!(
                                    o["text"]["type"] == "plain_text" && o["value"].is_string(),
                                    "{o}"
                                );
                            }
                        }
                        other => panic!("element type {other}"),
                    }
                }
            }
            other => panic!("block type {other} in {m}"),
        }
    }
}

/// alertmanager.yml, the ChatOps file and an empty prometheus.yml in
/// `dir`, for a receiver whose repeats come every `repeat`.
fn setup(
    dir: &std::path::Path,
    slack: &Slack,
    repeat: &str,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let am = dir.join("am.yml");
    std::fs::write(
        &am,
        format!(
            "route: {{receiver: team, group_by: [alertname], group_wait: 0s, group_interval: 1s, repeat_interval: {1}}}\n\
             receivers:\n  - name: team\n    slack_configs:\n      - api_url: http://{0}/api/chat.postMessage\n        channel: '#ops'\n        send_resolved: true\n",
            slack.addr, repeat
        ),
    )
    .unwrap();
    let chatops = dir.join("chatops.yml");
    std::fs::write(dir.join("bot"), format!("{BOT}\n")).unwrap();
    std::fs::write(
        &chatops,
        format!(
            "slack:\n  bot_token_file: bot\n  signing_secret: {SECRET}\n  api_url: http://{}/api/\n\
             receivers:\n  - name: team\n    silence_for: [1h, 4h]\n    snooze_for: [2s, 1h]\n    allow:\n      users: ['slack:U_ANA']\n",
            slack.addr
        ),
    )
    .unwrap();
    let prom = dir.join("prometheus.yml");
    std::fs::write(&prom, "").unwrap();
    (am, chatops, prom)
}

fn fire(addr: SocketAddr, name: &str) {
    post_json(
        addr,
        "/api/v2/alerts",
        &json!([{"labels": {"alertname": name, "service": "api", "severity": "page"},
                 "annotations": {"summary": "api is down", "runbook_url": "https://runbooks.example/down"}}])
        .to_string(),
    );
}

fn resolve(addr: SocketAddr, name: &str) {
    post_json(
        addr,
        "/api/v2/alerts",
        &json!([{"labels": {"alertname": name, "service": "api", "severity": "page"},
                 "annotations": {"summary": "api is down", "runbook_url": "https://runbooks.example/down"},
                 "endsAt": "2020-01-01T00:00:00Z"}])
        .to_string(),
    );
}

fn metrics(addr: SocketAddr) -> String {
    common::http(addr, "GET", "/metrics", "").unwrap().1
}

#[test]
fn acknowledge_from_slack_stops_repeats_survives_a_restart_and_ends_resolved() {
    let dir = tempfile::tempdir().unwrap();
    let slack = Slack::start();
    let (am, chatops, prom) = setup(dir.path(), &slack, "3s");
    let addr = common::free_addr();
    let data = dir.path().join("data");
    let args = [
        "--alertmanager.config.file",
        am.to_str().unwrap(),
        "--chatops.config.file",
        chatops.to_str().unwrap(),
    ];
    let s = start_at(addr, &data, Some(&prom), &args);
    fire(addr, "Down");
    wait_for(Duration::from_secs(10), "the first message", || {
        slack.posts().len() == 1
    });
    let post = &slack.calls("/api/chat.postMessage")[0];
    assert_eq!(
        post.header("authorization"),
        Some(format!("Bearer {BOT}").as_str())
    );
    assert!(post
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let posted = &slack.posts()[0];
    assert_block_kit(posted);
    assert_eq!(posted["channel"], "#ops");
    assert_eq!(
        action_ids(posted),
        ["ack", "silence", "snooze", "graph", "runbook"]
    );
    let token = actions_block(posted)["block_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        token.len() == 35 && token[3..].bytes().all(|b| b.is_ascii_hexdigit()),
        "an opaque token, no labels: {token}"
    );
    let silence_menu = &actions_block(posted)["elements"][1];
    let choices: Vec<&str> = silence_menu["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["value"].as_str().unwrap())
        .collect();
    assert_eq!(choices, ["1h", "4h", "resolved"]);
    let ts = "1700000000.000001";

    // Acknowledge: 200 at once, the message edited to say who.
    let (status, _, took) = press(addr, &payload(&slack, "U_ANA", posted, ts, "ack", None));
    assert_eq!(status, 200);
    assert!(took < Duration::from_secs(3), "Slack waits 3 s: {took:?}");
    assert_eq!(
        common::group_answer(addr, "Down")["acknowledged"]["by"],
        "ana"
    );
    wait_for(Duration::from_secs(10), "the message edited", || {
        !slack.updates().is_empty()
    });
    let edit = slack.updates()[0].clone();
    assert_eq!(
        (edit["channel"].as_str(), edit["ts"].as_str()),
        (Some("C0TEST"), Some(ts))
    );
    assert_block_kit(&edit);
    assert!(
        state_line(&edit).starts_with(":white_check_mark: Acknowledged by <@U_ANA> <!date^"),
        "{edit}"
    );
    assert_eq!(action_ids(&edit), ["unack", "silence", "graph", "runbook"]);
    assert!(metrics(addr).contains(
        "watchfire_chatops_actions_total{chat=\"slack\",action=\"ack\",outcome=\"done\"} 1"
    ));
    assert!(metrics(addr)
        .contains("watchfire_chatops_time_to_acknowledge_seconds_count{via=\"slack\"} 1"));

    // Repeats are due every 3 s; acknowledged, none comes.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(slack.posts().len(), 1, "a repeat after the ack");

    // SIGKILL right after: still acknowledged, nothing sent again, and the
    // button from before the restart still works.
    drop(s);
    let s = start_at(addr, &data, Some(&prom), &args);
    fire(addr, "Down");
    wait_for(Duration::from_secs(10), "the group back", || {
        common::group_answer(addr, "Down").is_object()
    });
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(slack.posts().len(), 1, "sent again after the restart");
    let (status, _, _) = press(addr, &payload(&slack, "U_ANA", &edit, ts, "unack", None));
    assert_eq!(status, 200);
    wait_for(Duration::from_secs(10), "unacknowledged", || {
        common::group_answer(addr, "Down").is_null()
    });
    wait_for(Duration::from_secs(10), "a repeat after the unack", || {
        slack.posts().len() == 2
    });
    let repeat = slack.posts()[1].clone();
    let ts2 = "1700000000.000002";
    assert_eq!(action_ids(&repeat)[0], "ack");
    let (status, _, _) = press(addr, &payload(&slack, "U_ANA", &repeat, ts2, "ack", None));
    assert_eq!(status, 200);

    // Resolved: the message is edited, once more, to the end of the story.
    resolve(addr, "Down");
    wait_for(Duration::from_secs(10), "the resolved edit", || {
        slack
            .updates()
            .iter()
            .any(|u| state_line(u).contains(":large_green_circle: Resolved"))
    });
    let last = slack
        .updates()
        .into_iter()
        .find(|u| state_line(u).contains("Resolved"))
        .unwrap();
    assert_eq!(last["ts"], ts2, "the incident's last message ends resolved");
    assert!(
        state_line(&last).contains("Acknowledged by <@U_ANA>"),
        "{last}"
    );
    assert!(
        actions_block(&last).is_null(),
        "no buttons once resolved: {last}"
    );
    assert!(last["attachments"][0]["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap()
        .contains("RESOLVED"));
    assert_eq!(slack.posts().len(), 2, "no new message for the resolution");
    drop(s);
}

#[test]
fn silence_and_snooze_from_slack_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let slack = Slack::start();
    // Repeats far apart: every message below comes from an action.
    let (am, chatops, _) = setup(dir.path(), &slack, "1h");
    let addr = common::free_addr();
    let _s = common::start_chatops(addr, dir.path(), &am, &chatops);
    fire(addr, "Down");
    wait_for(Duration::from_secs(10), "the first message", || {
        slack.posts().len() == 1
    });
    let posted = slack.posts()[0].clone();
    let ts = "1700000000.000001";

    // Refused requests: each answered as Slack expects, counted, and
    // nothing changes.
    let good = form(&payload(&slack, "U_ANA", &posted, ts, "ack", None));
    let now = now_s();
    let mut unknown = payload(&slack, "U_ANA", &posted, ts, "ack", None);
    unknown["actions"][0]["block_id"] = "wf:00000000000000000000000000000000".into();
    let stranger = form(&payload(&slack, "U_EVE", &posted, ts, "ack", None));
    let replayed_ts = now;
    let replayed_sig = sign(SECRET, replayed_ts, &stranger);
    let cases: Vec<Refused> = vec![
        (
            "wrong signature",
            good.clone(),
            vec![
                ("X-Slack-Request-Timestamp", now.to_string()),
                ("X-Slack-Signature", sign("another-secret", now, &good)),
            ],
            401,
            "bad_signature",
        ),
        (
            "timestamp 301 s old",
            good.clone(),
            vec![
                ("X-Slack-Request-Timestamp", (now - 301).to_string()),
                ("X-Slack-Signature", sign(SECRET, now - 301, &good)),
            ],
            401,
            "stale",
        ),
        (
            "no signature",
            good.clone(),
            vec![("X-Slack-Request-Timestamp", now.to_string())],
            401,
            "missing_header",
        ),
        (
            "not on the allowlist",
            stranger.clone(),
            vec![
                ("X-Slack-Request-Timestamp", replayed_ts.to_string()),
                ("X-Slack-Signature", replayed_sig.clone()),
            ],
            200,
            "not_allowed",
        ),
        (
            "a replayed request",
            stranger.clone(),
            vec![
                ("X-Slack-Request-Timestamp", replayed_ts.to_string()),
                ("X-Slack-Signature", replayed_sig),
            ],
            401,
            "replay",
        ),
        {
            let b = form(&unknown);
            let sig = sign(SECRET, now, &b);
            (
                "an unknown token",
                b,
                vec![
                    ("X-Slack-Request-Timestamp", now.to_string()),
                    ("X-Slack-Signature", sig),
                ],
                200,
                "unknown_token",
            )
        },
        {
            let b = "payload=%7Bnot%20json".to_string();
            let sig = sign(SECRET, now, &b);
            (
                "malformed JSON",
                b,
                vec![
                    ("X-Slack-Request-Timestamp", now.to_string()),
                    ("X-Slack-Signature", sig),
                ],
                400,
                "malformed",
            )
        },
        {
            let b = "text=hello".to_string();
            let sig = sign(SECRET, now, &b);
            (
                "form without payload",
                b,
                vec![
                    ("X-Slack-Request-Timestamp", now.to_string()),
                    ("X-Slack-Signature", sig),
                ],
                400,
                "malformed",
            )
        },
        {
            let b = format!("payload={}", "x".repeat(70_000));
            let sig = sign(SECRET, now, &b);
            (
                "a body over the limit",
                b,
                vec![
                    ("X-Slack-Request-Timestamp", now.to_string()),
                    ("X-Slack-Signature", sig),
                ],
                413,
                "too_large",
            )
        },
    ];
    for (what, body, headers, want, reason) in &cases {
        let (status, text, _) = post_raw(addr, body.as_bytes(), headers);
        assert_eq!(status, *want, "{what}: {text}");
        assert!(
            common::group_answer(addr, "Down").is_null(),
            "{what} changed the group"
        );
        let m = metrics(addr);
        assert!(
            m.contains(&format!(
                "watchfire_chatops_requests_refused_total{{chat=\"slack\",reason=\"{reason}\"}}"
            )),
            "{what}: not counted as {reason}\n{m}"
        );
    }
    let told = slack.told();
    assert!(
        told.iter()
            .any(|t| t.contains("only the people on receiver team's list")),
        "{told:?}"
    );
    assert!(
        told.iter().any(|t| t.contains("buttons have expired")),
        "{told:?}"
    );
    assert!(
        slack.updates().is_empty(),
        "a refused request edited the message"
    );
    assert!(get_json(addr, "/api/v2/silences")
        .as_array()
        .unwrap()
        .is_empty());

    // Silence 1h: a real silence, made by the chat user, that amtool shows.
    let (status, _, _) = press(
        addr,
        &payload(&slack, "U_ANA", &posted, ts, "silence", Some("1h")),
    );
    assert_eq!(status, 200);
    let silences = get_json(addr, "/api/v2/silences");
    let sil = &silences[0];
    assert_eq!(sil["createdBy"], "ana", "{sil}");
    assert_eq!(sil["status"]["state"], "active");
    assert_eq!(
        sil["matchers"],
        json!([{"name": "alertname", "value": "Down", "isRegex": false, "isEqual": true}])
    );
    let (starts, ends) = (
        chrono_secs(sil["startsAt"].as_str().unwrap()),
        chrono_secs(sil["endsAt"].as_str().unwrap()),
    );
    assert!((ends - starts - 3600).abs() <= 1, "{sil}");
    wait_for(Duration::from_secs(10), "the message edited", || {
        slack
            .updates()
            .iter()
            .any(|u| state_line(u).contains(":mute: Silenced by <@U_ANA>"))
    });
    if let Some(text) = common::amtool_silences(addr, &[]) {
        assert!(
            text.contains("ana") && text.contains("Silenced from Slack by ana for 1h"),
            "{text}"
        );
    }
    // A choice the message did not offer is refused.
    let (status, _, _) = press(
        addr,
        &payload(&slack, "U_ANA", &posted, ts, "silence", Some("7d")),
    );
    assert_eq!(status, 200);
    assert_eq!(
        get_json(addr, "/api/v2/silences").as_array().unwrap().len(),
        1
    );

    // Snooze 2s on another group: quiet, then notified again after it,
    // naming who snoozed.
    fire(addr, "Slow");
    wait_for(
        Duration::from_secs(10),
        "the second group's message",
        || slack.posts().len() == 2,
    );
    let slow = slack.posts()[1].clone();
    let (status, _, _) = press(
        addr,
        &payload(
            &slack,
            "U_ANA",
            &slow,
            "1700000000.000002",
            "snooze",
            Some("2s"),
        ),
    );
    assert_eq!(status, 200);
    assert_eq!(common::group_answer(addr, "Slow")["snoozed"]["by"], "ana");
    wait_for(
        Duration::from_secs(10),
        "the snoozed message edited",
        || {
            slack
                .updates()
                .iter()
                .any(|u| state_line(u).contains(":zzz: Snoozed by <@U_ANA>"))
        },
    );
    wait_for(
        Duration::from_secs(15),
        "the notification after the snooze",
        || slack.posts().len() >= 3,
    );
    let after = slack.posts()[2].clone();
    assert!(
        state_line(&after).contains("Snoozed by <@U_ANA>"),
        "{after}"
    );
}

/// A refused request: what it is, its body and headers, the status
/// expected and the reason it is counted under.
type Refused = (
    &'static str,
    String,
    Vec<(&'static str, String)>,
    u16,
    &'static str,
);

/// Seconds since the epoch of an RFC 3339 time, as the API writes it.
fn chrono_secs(s: &str) -> i64 {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", s, "+%s"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// Alertmanager 0.32's `update_message`, without the ChatOps file: the
/// group's message is posted once through the Web API, every later
/// notification edits it (through the sibling `chat.update`), and the
/// next incident starts a new one.
#[test]
fn update_message_edits_the_groups_message() {
    let dir = tempfile::tempdir().unwrap();
    let slack = Slack::start();
    let am = format!(
        "route: {{receiver: team, group_by: [alertname], group_wait: 0s, group_interval: 1s, repeat_interval: 2s}}\n\
         receivers:\n  - name: team\n    slack_configs:\n      - app_token: xoxb-app\n        app_url: http://{}/api/chat.postMessage\n        channel: '#ops'\n        send_resolved: true\n        update_message: true\n",
        slack.addr
    );
    let addr = common::free_addr();
    let _s = common::start_alerter(addr, dir.path(), None, &am);
    fire(addr, "Down");
    wait_for(Duration::from_secs(10), "the first message", || {
        slack.posts().len() == 1
    });
    let first = &slack.calls("/api/chat.postMessage")[0];
    assert_eq!(first.header("authorization"), Some("Bearer xoxb-app"));
    assert!(first.json()["attachments"][0]["title"]
        .as_str()
        .unwrap()
        .starts_with("[FIRING:1]"));
    wait_for(Duration::from_secs(10), "the repeat, as an edit", || {
        !slack.updates().is_empty()
    });
    let edit = slack.updates()[0].clone();
    assert_eq!(
        (edit["channel"].as_str(), edit["ts"].as_str()),
        (Some("C0TEST"), Some("1700000000.000001"))
    );
    resolve(addr, "Down");
    wait_for(
        Duration::from_secs(10),
        "the resolution, as an edit",
        || {
            slack.updates().iter().any(|u| {
                u["attachments"][0]["title"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("[RESOLVED]"))
            })
        },
    );
    assert_eq!(slack.posts().len(), 1, "one message for the incident");
    fire(addr, "Down");
    wait_for(
        Duration::from_secs(10),
        "a new message for the next incident",
        || slack.posts().len() == 2,
    );
}

/// With `images: true`, the message shows the alert's graph from a URL
/// under the server's external URL that carries a token of its own (not
/// the buttons'); the URL serves a 600x300 PNG, an unknown one 404; "Show
/// graph" answers the presser with the image.
#[test]
fn graphs_in_slack_messages() {
    let dir = tempfile::tempdir().unwrap();
    let slack = Slack::start();
    let (am, chatops, _) = setup(dir.path(), &slack, "1h");
    std::fs::write(
        &chatops,
        format!(
            "slack:\n  bot_token: {BOT}\n  signing_secret: {SECRET}\n  api_url: http://{}/api/\n\
             receivers:\n  - name: team\n    images: true\n    allow:\n      users: ['slack:U_ANA']\n",
            slack.addr
        ),
    )
    .unwrap();
    let addr = common::free_addr();
    let _s = common::start_chatops(addr, dir.path(), &am, &chatops);
    post_json(
        addr,
        "/api/v2/alerts",
        &json!([{"labels": {"alertname": "Busy", "service": "api"},
                 "generatorURL": "http://prom.test/graph?g0.expr=vector%281%29+%3E+0.5&g0.tab=1"}])
        .to_string(),
    );
    wait_for(Duration::from_secs(10), "the message", || {
        slack.posts().len() == 1
    });
    let posted = slack.posts()[0].clone();
    assert_block_kit(&posted);
    let image = blocks(&posted)
        .into_iter()
        .find(|b| b["type"] == "image")
        .expect("an image block");
    let url = image["image_url"].as_str().unwrap();
    let path = url::Url::parse(url).unwrap().path().to_string();
    assert!(
        path.starts_with("/api/v1/chatops/graph/") && path.ends_with(".png"),
        "{url}"
    );
    let graph_token = path
        .trim_start_matches("/api/v1/chatops/graph/")
        .trim_end_matches(".png");
    let buttons_token = actions_block(&posted)["block_id"].as_str().unwrap()[3..].to_string();
    assert_ne!(
        graph_token, buttons_token,
        "the image URL gives the buttons' token away"
    );
    let (status, png_bytes) = common::get_bytes(addr, &path).unwrap();
    assert_eq!(status, 200);
    let reader = png::Decoder::new(std::io::Cursor::new(png_bytes))
        .read_info()
        .unwrap();
    assert_eq!((reader.info().width, reader.info().height), (600, 300));
    let (status, _) = common::get_bytes(
        addr,
        "/api/v1/chatops/graph/00000000000000000000000000000000.png",
    )
    .unwrap();
    assert_eq!(status, 404);
    // A graph token does not act.
    let mut forged = payload(&slack, "U_ANA", &posted, "1700000000.000001", "ack", None);
    forged["actions"][0]["block_id"] = format!("wf:{graph_token}").into();
    let (status, _, _) = press(addr, &forged);
    assert_eq!(status, 200);
    assert!(
        common::group_answer(addr, "Busy").is_null(),
        "a graph token acknowledged"
    );

    let (status, _, _) = press(
        addr,
        &payload(&slack, "U_ANA", &posted, "1700000000.000001", "graph", None),
    );
    assert_eq!(status, 200);
    let shown: Vec<Value> = slack
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.path.starts_with("/actions/"))
        .map(Request::json)
        .collect();
    let shown = shown
        .iter()
        .find(|v| v["blocks"][0]["type"] == "image")
        .expect("the graph shown");
    assert_eq!(shown["response_type"], "ephemeral");
    let path = url::Url::parse(shown["blocks"][0]["image_url"].as_str().unwrap())
        .unwrap()
        .path()
        .to_string();
    assert_eq!(common::get_bytes(addr, &path).unwrap().0, 200);
}

/// A stand-in for Slack's Socket Mode WebSocket ("Using Socket Mode",
/// docs.slack.dev): each connection is greeted with `hello`; the test's
/// frames go to the newest connection; the frames watchfire sends are
/// kept.
struct Socket {
    addr: SocketAddr,
    send: tokio::sync::mpsc::UnboundedSender<String>,
    got: Arc<std::sync::Mutex<Vec<Value>>>,
    connections: Arc<AtomicU64>,
}

impl Socket {
    fn start() -> Socket {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message as Frame;
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        let (send, mut queue) = tokio::sync::mpsc::unbounded_channel::<String>();
        let got = Arc::new(std::sync::Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicU64::new(0));
        let (g, n) = (got.clone(), connections.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
                loop {
                    let (tcp, _) = listener.accept().await.unwrap();
                    let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else {
                        continue;
                    };
                    n.fetch_add(1, Ordering::SeqCst);
                    let (mut tx, mut rx) = ws.split();
                    let hello = json!({"type": "hello", "num_connections": 1,
                        "connection_info": {"app_id": "A_APP"}});
                    tx.send(Frame::text(hello.to_string())).await.unwrap();
                    loop {
                        tokio::select! {
                            out = queue.recv() => {
                                let Some(out) = out else { return };
                                let disconnect = out.contains("\"disconnect\"");
                                if tx.send(Frame::text(out)).await.is_err() || disconnect {
                                    break;
                                }
                            }
                            frame = rx.next() => match frame {
                                Some(Ok(Frame::Text(t))) => {
                                    g.lock().unwrap().push(serde_json::from_str(&t).unwrap());
                                }
                                Some(Ok(_)) => {}
                                _ => break,
                            },
                        }
                    }
                }
            });
        });
        Socket {
            addr,
            send,
            got,
            connections,
        }
    }

    /// Sends an envelope; waits for watchfire's acknowledgement of it.
    fn envelope(&self, id: &str, kind: &str, payload: Value) -> Value {
        let e = json!({"envelope_id": id, "type": kind, "payload": payload,
                       "accepts_response_payload": kind == "slash_commands"});
        self.send.send(e.to_string()).unwrap();
        let mut ack = Value::Null;
        wait_for(
            Duration::from_secs(10),
            "the acknowledgement",
            || match self
                .got
                .lock()
                .unwrap()
                .iter()
                .find(|a| a["envelope_id"] == id)
            {
                Some(a) => {
                    ack = a.clone();
                    true
                }
                None => false,
            },
        );
        ack
    }
}

/// Socket Mode: with an app token, watchfire opens the connection itself
/// (no inbound URL), takes presses and slash commands on it, acknowledges
/// each envelope, and reconnects when Slack asks.
#[test]
fn socket_mode_takes_presses_and_commands_without_an_inbound_url() {
    let dir = tempfile::tempdir().unwrap();
    let socket = Socket::start();
    let slack = Slack::start_with(Some(socket.addr));
    let (am, chatops, prom) = setup(dir.path(), &slack, "1h");
    let text = std::fs::read_to_string(&chatops).unwrap();
    std::fs::write(
        &chatops,
        text.replace(
            "  api_url:",
            "  app_token: xapp-1-A_APP-1-s3cr3t\n  api_url:",
        ) + "commands:\n  allow:\n    users: ['slack:U_ANA']\n",
    )
    .unwrap();
    let addr = common::free_addr();
    let _s = start_at(
        addr,
        &dir.path().join("data"),
        Some(&prom),
        &[
            "--alertmanager.config.file",
            am.to_str().unwrap(),
            "--chatops.config.file",
            chatops.to_str().unwrap(),
        ],
    );
    wait_for(
        Duration::from_secs(10),
        "the Socket Mode connection",
        || metrics(addr).contains("watchfire_chatops_slack_socket_connected 1"),
    );
    let opened = slack.calls("/api/apps.connections.open");
    let auth = opened[0]
        .headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .map(|(_, v)| v.as_str());
    assert_eq!(auth, Some("Bearer xapp-1-A_APP-1-s3cr3t"));

    fire(addr, "Down");
    wait_for(Duration::from_secs(10), "the message", || {
        !slack.posts().is_empty()
    });
    let posted = slack.posts()[0].clone();
    let ts = "1700000000.000001";

    // A press comes as an "interactive" envelope: acknowledged at once,
    // carried out, and the message edited.
    let ack = socket.envelope(
        "env-1",
        "interactive",
        payload(&slack, "U_ANA", &posted, ts, "ack", None),
    );
    assert_eq!(ack, json!({"envelope_id": "env-1"}));
    wait_for(Duration::from_secs(10), "the acknowledgement", || {
        common::group_answer(addr, "Down")["acknowledged"]["by"] == "ana"
    });
    wait_for(Duration::from_secs(10), "the edit", || {
        slack
            .updates()
            .iter()
            .any(|u| state_line(u).contains("Acknowledged by <@U_ANA>"))
    });
    let refused = socket.envelope(
        "env-2",
        "interactive",
        payload(&slack, "U_EVE", &posted, ts, "silence", Some("1h")),
    );
    assert_eq!(refused["envelope_id"], "env-2");
    wait_for(Duration::from_secs(10), "the refusal", || {
        slack
            .told()
            .iter()
            .any(|t| t.contains("only the people on receiver team's list"))
    });

    // A slash command comes as a "slash_commands" envelope; the answer
    // rides on its acknowledgement.
    let cmd = json!({"token": "x", "team_id": "T_TEAM", "team_domain": "example",
        "channel_id": "C0TEST", "channel_name": "ops", "user_id": "U_ANA", "user_name": "ana",
        "command": "/watchfire", "text": "alerts", "api_app_id": "A_APP",
        "response_url": format!("http://{}/actions/T_TEAM/2/resp", slack.addr),
        "trigger_id": "t-1"});
    let ack = socket.envelope("env-3", "slash_commands", cmd);
    assert_eq!(ack["payload"]["response_type"], "ephemeral", "{ack}");
    let text = ack["payload"]["text"].as_str().unwrap();
    assert!(
        text.contains("`{alertname=\"Down\"}` → team") && text.contains("acknowledged by ana"),
        "{text}"
    );

    // Slack asks for a new connection: watchfire opens one.
    socket
        .send
        .send(json!({"type": "disconnect", "reason": "refresh_requested"}).to_string())
        .unwrap();
    wait_for(Duration::from_secs(15), "a new connection", || {
        socket.connections.load(Ordering::SeqCst) == 2
    });
    assert_eq!(slack.calls("/api/apps.connections.open").len(), 2);
    let ack = socket.envelope(
        "env-4",
        "interactive",
        payload(&slack, "U_ANA", &posted, ts, "unack", None),
    );
    assert_eq!(ack["envelope_id"], "env-4");
    wait_for(Duration::from_secs(10), "the unacknowledgement", || {
        common::group_answer(addr, "Down").is_null()
    });
}
