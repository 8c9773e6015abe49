//! ChatOps in Discord, end to end on loopback: a stand-in for Discord's
//! webhook API records what watchfire sends, and the test uses the
//! components by posting signed interactions, as Discord does.
//!
//! The documents followed (discord.com/developers/docs):
//! - "Execute Webhook": `POST /api/webhooks/{id}/{token}?wait=true` with
//!   `content`, `embeds` and (for a webhook the application made)
//!   `components`; with `wait=true` the answer is the `Message`, with `id`
//!   and `channel_id`. "Edit Webhook Message": `PATCH
//!   /api/webhooks/{id}/{token}/messages/{message.id}`.
//! - "Message Components": action rows (type 1) of buttons (type 2:
//!   `style`, `label`, `custom_id` of at most 100 characters, or style 5
//!   with `url`) or of one string select (type 3: `custom_id`,
//!   `placeholder`, `options` of `{label, value}`, at most 25).
//! - "Receiving and Responding": every interaction carries
//!   `X-Signature-Ed25519` (hex) over `X-Signature-Timestamp` + the raw
//!   body with the application's public key; a bad signature must get
//!   401; PING (type 1) is answered `{"type": 1}`; a component use (type 3,
//!   `data.custom_id`, `data.values`, `member.user`, `guild_id`) is
//!   answered with type 7 (UPDATE_MESSAGE, `data` the edited message) or
//!   type 4 with `flags: 64` (a reply only the user sees).
//!
//! - "Uploading Files": a message with a file is `multipart/form-data`,
//!   the message as `payload_json` with `attachments` (`id`, `filename`)
//!   and the file as `files[0]`; an embed shows it as
//!   `attachment://<filename>`.
//!
//! The application's key pair is RFC 8032's first test vector.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ed25519_dalek::{Signer, SigningKey};
use serde_json::{json, Value};

use common::{json as get_json, post_json, wait_for, Request};

const SECRET_KEY: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const PUBLIC_KEY: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

fn key() -> SigningKey {
    let mut b = [0u8; 32];
    hex::decode_to_slice(SECRET_KEY, &mut b).unwrap();
    SigningKey::from_bytes(&b)
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Posts an interaction signed with `key` at `ts`; the status and the
/// answer's JSON.
fn interact(addr: SocketAddr, body: &str, ts: u64, key: &SigningKey) -> (u16, Value) {
    let sig = hex::encode(key.sign(format!("{ts}{body}").as_bytes()).to_bytes());
    raw(
        addr,
        body,
        &[
            ("X-Signature-Timestamp", ts.to_string()),
            ("X-Signature-Ed25519", sig),
        ],
    )
}

fn raw(addr: SocketAddr, body: &str, headers: &[(&str, String)]) -> (u16, Value) {
    let path = "/api/v1/chatops/discord/interactions";
    let (status, text) = common::post_as(addr, path, "application/json", body.as_bytes(), headers);
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A use of component `custom_id` (`value`: a select's choice) by `user`.
fn use_component(user: &str, custom_id: &str, value: Option<&str>) -> String {
    let mut data = json!({"custom_id": custom_id, "component_type": 2});
    if let Some(v) = value {
        data = json!({"custom_id": custom_id, "component_type": 3, "values": [v]});
    }
    json!({
        "type": 3, "id": "1234", "application_id": "1", "token": "interaction-token", "version": 1,
        "guild_id": "G1", "channel_id": "C1",
        "member": {"user": {"id": user, "username": user.to_lowercase()}, "roles": []},
        "message": {"id": "1001", "channel_id": "C1"},
        "data": data,
    })
    .to_string()
}

/// The message a webhook request carries: its JSON body, or the
/// `payload_json` part of a multipart one (then with the attached PNG's
/// part checked).
fn message(r: &Request) -> Value {
    let kind = r.header("content-type").unwrap_or("");
    let Some(boundary) = kind.strip_prefix("multipart/form-data; boundary=") else {
        return r.json();
    };
    let parts: Vec<&str> = r.body.split(&format!("--{boundary}")).collect();
    let payload = parts
        .iter()
        .find(|p| p.contains("name=\"payload_json\""))
        .expect("a payload_json part");
    let file = parts
        .iter()
        .find(|p| p.contains("name=\"files[0]\"; filename=\"graph.png\""))
        .expect("a files[0] part");
    assert!(file.contains("Content-Type: image/png\r\n\r\n"), "{file}");
    assert!(file.contains("PNG\r\n\u{1a}\n"), "the file is a PNG");
    let json = payload.split("\r\n\r\n").nth(1).unwrap().trim_end();
    serde_json::from_str(json).unwrap()
}

fn ids(components: &Value) -> Vec<String> {
    components
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row["components"].as_array().unwrap().clone())
        .filter_map(|c| c["custom_id"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn discord_components_acknowledge_silence_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let answer: common::Answer = Arc::new(|path, c: &mut TcpStream| {
        let ok = |c: &mut TcpStream, v: Value| {
            common::reply(
                c,
                "200 OK",
                "Content-Type: application/json\r\n",
                v.to_string().as_bytes(),
            )
        };
        if path.starts_with("/api/webhooks/123/abc/messages/") {
            ok(c, json!({"id": "1001", "channel_id": "C1"}))
        } else if path == "/api/webhooks/123/abc?wait=true" {
            ok(c, json!({"id": "1001", "channel_id": "C1", "content": ""}))
        } else {
            common::reply(c, "404 Not Found", "", b"{}")
        }
    });
    let (dc, log) = common::serve("127.0.0.1", answer);
    let calls = |method: &str| -> Vec<Request> {
        log.lock()
            .unwrap()
            .iter()
            .filter(|r| r.method == method)
            .cloned()
            .collect()
    };
    let am = dir.path().join("am.yml");
    std::fs::write(
        &am,
        format!(
            "route: {{receiver: team, group_by: [alertname], group_wait: 0s, group_interval: 1s, repeat_interval: 3s}}\n\
             receivers:\n  - name: team\n    discord_configs:\n      - webhook_url: http://{dc}/api/webhooks/123/abc\n        send_resolved: true\n"
        ),
    )
    .unwrap();
    let chatops = dir.path().join("chatops.yml");
    std::fs::write(
        &chatops,
        format!("discord:\n  application_id: '1'\n  public_key: {PUBLIC_KEY}\nreceivers:\n  - name: team\n    images: true\n    allow:\n      users: ['discord:U1']\n"),
    )
    .unwrap();
    let addr = common::free_addr();
    let _s = common::start_chatops(addr, dir.path(), &am, &chatops);
    post_json(
        addr,
        "/api/v2/alerts",
        &json!([{"labels": {"alertname": "Down", "service": "api"},
                 "generatorURL": "http://prom.test/graph?g0.expr=vector%281%29+%3E+0&g0.tab=1"}])
        .to_string(),
    );
    wait_for(Duration::from_secs(10), "the message", || {
        !calls("POST").is_empty()
    });
    // The graph is attached to the message, and its embed shows it.
    assert!(calls("POST")[0]
        .header("content-type")
        .unwrap()
        .starts_with("multipart/form-data; boundary="));
    let sent = message(&calls("POST")[0]);
    assert!(
        sent["embeds"][0]["title"]
            .as_str()
            .unwrap()
            .contains("Down"),
        "{sent}"
    );
    assert_eq!(sent["embeds"][0]["image"]["url"], "attachment://graph.png");
    assert_eq!(
        sent["attachments"],
        json!([{"id": 0, "filename": "graph.png"}])
    );
    let custom = ids(&sent["components"]);
    let token = custom[0].split(':').next().unwrap().to_string();
    assert_eq!(
        custom,
        [
            format!("{token}:ack"),
            format!("{token}:graph"),
            format!("{token}:silence"),
            format!("{token}:snooze")
        ]
    );
    assert!(custom.iter().all(|c| c.len() <= 100));
    let key = key();

    // PING, then refusals: each answered as Discord expects and counted.
    assert_eq!(
        interact(addr, r#"{"type": 1}"#, now_s(), &key),
        (200, json!({"type": 1}))
    );
    let ack = use_component("U1", &format!("{token}:ack"), None);
    let other = SigningKey::from_bytes(&[7u8; 32]);
    assert_eq!(interact(addr, &ack, now_s(), &other).0, 401);
    assert!(common::refused(addr, "discord", "bad_signature"));
    assert_eq!(raw(addr, &ack, &[]).0, 401);
    assert!(common::refused(addr, "discord", "missing_header"));
    assert_eq!(interact(addr, &ack, now_s() - 301, &key).0, 401);
    assert!(common::refused(addr, "discord", "stale"));
    assert_eq!(interact(addr, "{\"type\": ", now_s(), &key).0, 400);
    assert!(common::refused(addr, "discord", "malformed"));
    let (status, reply) = interact(
        addr,
        &use_component("U9", &format!("{token}:ack"), None),
        now_s(),
        &key,
    );
    assert_eq!(status, 200);
    assert_eq!(
        (reply["type"].clone(), reply["data"]["flags"].clone()),
        (json!(4), json!(64)),
        "{reply}"
    );
    assert!(common::refused(addr, "discord", "not_allowed"));
    let (status, reply) = interact(
        addr,
        &use_component("U1", "00000000000000000000000000000000:ack", None),
        now_s(),
        &key,
    );
    assert_eq!((status, reply["data"]["flags"].clone()), (200, json!(64)));
    assert!(common::refused(addr, "discord", "unknown_token"));
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(70_000));
    assert_eq!(interact(addr, &big, now_s(), &key).0, 413);
    assert!(common::refused(addr, "discord", "too_large"));
    assert!(get_json(addr, "/api/v2/alerts/groups")[0]
        .get("answer")
        .is_none());

    // Acknowledge: the answer edits the message.
    let ts = now_s();
    let (status, reply) = interact(addr, &ack, ts, &key);
    assert_eq!(status, 200);
    assert_eq!(reply["type"], 7, "{reply}");
    assert!(
        reply["data"]["content"]
            .as_str()
            .unwrap()
            .contains("✅ Acknowledged by <@U1> <t:"),
        "{reply}"
    );
    assert_eq!(
        ids(&reply["data"]["components"])[0],
        format!("{token}:unack")
    );
    assert_eq!(
        get_json(addr, "/api/v2/alerts/groups")[0]["answer"]["acknowledged"]["by"],
        "u1"
    );
    // The same signed request again is a replay.
    assert_eq!(interact(addr, &ack, ts, &key).0, 401);
    assert!(common::refused(addr, "discord", "replay"));
    // Repeats are due every 3 s; acknowledged, none comes.
    let sent = calls("POST").len();
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(calls("POST").len(), sent, "a repeat after the ack");

    // Silence 1h from the select: a real silence by the user.
    let (status, reply) = interact(
        addr,
        &use_component("U1", &format!("{token}:silence"), Some("1h")),
        now_s(),
        &key,
    );
    assert_eq!((status, reply["type"].clone()), (200, json!(7)), "{reply}");
    let silences = get_json(addr, "/api/v2/silences");
    assert_eq!(silences[0]["createdBy"], "u1");
    assert_eq!(silences[0]["comment"], "Silenced from Discord by u1 for 1h");
    if let Some(text) = common::amtool_silences(addr, &[]) {
        assert!(
            text.contains("Silenced from Discord by u1 for 1h"),
            "{text}"
        );
    }

    // Resolved: the message is edited through the webhook, without
    // components, naming who acknowledged. (Silenced groups send no
    // resolved notice, as in Alertmanager: expire the silence first.)
    common::expire_silence(addr, silences[0]["id"].as_str().unwrap());
    let before = calls("POST").len();
    post_json(
        addr,
        "/api/v2/alerts",
        &json!([{"labels": {"alertname": "Down", "service": "api"}, "endsAt": "2020-01-01T00:00:00Z"}]).to_string(),
    );
    wait_for(Duration::from_secs(10), "the resolved edit", || {
        !calls("PATCH").is_empty()
    });
    let edit = &calls("PATCH")[0];
    assert_eq!(edit.path, "/api/webhooks/123/abc/messages/1001");
    let e = edit.json();
    assert!(
        e["content"].as_str().unwrap().contains("🟢 Resolved"),
        "{e}"
    );
    assert!(
        e["content"]
            .as_str()
            .unwrap()
            .contains("Acknowledged by <@U1>"),
        "{e}"
    );
    assert_eq!(e["components"], json!([]));
    assert_eq!(
        e["embeds"][0]["image"]["url"], "attachment://graph.png",
        "the edit keeps the graph in view"
    );
    assert_eq!(
        calls("POST").len(),
        before,
        "no new message for the resolution"
    );

    // Snooze 1h from another group's message: the answer edits it to say
    // who snoozed, and no repeat comes.
    post_json(
        addr,
        "/api/v2/alerts",
        &json!([{"labels": {"alertname": "Busy", "service": "api"}}]).to_string(),
    );
    wait_for(
        Duration::from_secs(10),
        "the second group's message",
        || calls("POST").len() == before + 1,
    );
    let busy = message(&calls("POST")[before]);
    let t2 = ids(&busy["components"])[0]
        .split(':')
        .next()
        .unwrap()
        .to_string();
    let (status, reply) = interact(
        addr,
        &use_component("U1", &format!("{t2}:snooze"), Some("1h")),
        now_s(),
        &key,
    );
    assert_eq!((status, reply["type"].clone()), (200, json!(7)), "{reply}");
    assert!(
        reply["data"]["content"]
            .as_str()
            .unwrap()
            .contains("💤 Snoozed by <@U1> until <t:"),
        "{reply}"
    );
    assert_eq!(common::group_answer(addr, "Busy")["snoozed"]["by"], "u1");
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(calls("POST").len(), before + 1, "a repeat while snoozed");
}
