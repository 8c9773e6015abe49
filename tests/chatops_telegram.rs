//! ChatOps in Telegram, end to end on loopback: a stand-in for the
//! Telegram Bot API records what watchfire sends, and the test "presses"
//! by posting webhook updates, as Telegram does.
//!
//! The document the stand-in and the presses follow is the Telegram Bot
//! API (core.telegram.org/bots/api):
//! - methods are `POST https://api.telegram.org/bot<token>/<method>` with a
//!   JSON body; the answer is `{"ok": true, "result": …}`, a `Message`
//!   (`message_id`, `chat` with `id`, `date`, `text`) for `sendMessage`,
//!   `sendPhoto` and `editMessageText`, `true` for `answerCallbackQuery`;
//! - `sendMessage` takes `chat_id`, `text`, `parse_mode`, and
//!   `reply_markup`, an `InlineKeyboardMarkup`: `inline_keyboard`, rows of
//!   `InlineKeyboardButton`s with `text` and either `callback_data` (1-64
//!   bytes) or `url`;
//! - `editMessageText` takes `chat_id`, `message_id`, `text` and an
//!   optional `reply_markup`; `answerCallbackQuery` takes
//!   `callback_query_id`, `text`, `show_alert`; `sendPhoto` takes
//!   `chat_id` and `photo`, a URL Telegram fetches;
//! - `setWebhook`'s `secret_token` comes back in every update's
//!   `X-Telegram-Bot-Api-Secret-Token` header; an `Update` has `update_id`
//!   and a `callback_query` (`id`, `from` with `id` and `username`,
//!   `message`, `data`); Telegram sends an update again until it gets 2xx.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use common::{json as get_json, post_json, wait_for, Request};

const BOT: &str = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11";
const SECRET: &str = "wf_Secret-token_42";
const CHAT: i64 = -1001234567890;

struct Telegram {
    addr: SocketAddr,
    log: common::Log,
}

impl Telegram {
    fn start() -> Telegram {
        let n = Arc::new(AtomicI64::new(1));
        let answer: common::Answer = Arc::new(move |path, c: &mut TcpStream| {
            let reply = |c: &mut TcpStream, v: Value| {
                common::reply(
                    c,
                    "200 OK",
                    "Content-Type: application/json\r\n",
                    v.to_string().as_bytes(),
                )
            };
            let Some(method) = path.strip_prefix(&format!("/bot{BOT}/")) else {
                return common::reply(
                    c,
                    "401 Unauthorized",
                    "Content-Type: application/json\r\n",
                    br#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#,
                );
            };
            match method {
                "sendMessage" | "sendPhoto" => {
                    let id = n.fetch_add(1, Ordering::SeqCst);
                    reply(
                        c,
                        json!({"ok": true, "result": {"message_id": id, "date": 1700000000, "chat": {"id": CHAT, "type": "supergroup"}}}),
                    )
                }
                "editMessageText" => reply(
                    c,
                    json!({"ok": true, "result": {"message_id": 1, "date": 1700000000, "chat": {"id": CHAT, "type": "supergroup"}}}),
                ),
                "answerCallbackQuery" => reply(c, json!({"ok": true, "result": true})),
                _ => common::reply(
                    c,
                    "404 Not Found",
                    "",
                    br#"{"ok":false,"error_code":404,"description":"Not Found"}"#,
                ),
            }
        });
        let (addr, log) = common::serve("127.0.0.1", answer);
        Telegram { addr, log }
    }

    fn calls(&self, method: &str) -> Vec<Value> {
        let path = format!("/bot{BOT}/{method}");
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .map(Request::json)
            .collect()
    }
}

/// Posts an update to the webhook with `secret` (none: no header).
fn deliver(addr: SocketAddr, secret: Option<&str>, body: &str) -> u16 {
    let headers: Vec<(&str, String)> = secret
        .map(|s| ("X-Telegram-Bot-Api-Secret-Token", s.to_string()))
        .into_iter()
        .collect();
    let path = "/api/v1/chatops/telegram/webhook";
    common::post_as(addr, path, "application/json", body.as_bytes(), &headers).0
}

static UPDATE: AtomicI64 = AtomicI64::new(100);

/// A callback query for a press of `data` by user `id` (`name`), as an
/// update with a new `update_id`.
fn press(id: i64, name: &str, message_id: i64, data: &str) -> String {
    json!({
        "update_id": UPDATE.fetch_add(1, Ordering::SeqCst),
        "callback_query": {
            "id": format!("q{}", UPDATE.load(Ordering::SeqCst)),
            "from": {"id": id, "is_bot": false, "first_name": name, "username": name},
            "message": {"message_id": message_id, "date": 1700000000, "chat": {"id": CHAT, "type": "supergroup"}},
            "chat_instance": "-42",
            "data": data,
        }
    })
    .to_string()
}

fn keyboard_data(m: &Value) -> Vec<String> {
    m["reply_markup"]["inline_keyboard"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r.as_array().unwrap().clone())
        .filter_map(|b| b["callback_data"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn acknowledge_silence_and_refusals_from_telegram() {
    let dir = tempfile::tempdir().unwrap();
    let tg = Telegram::start();
    let am = dir.path().join("am.yml");
    std::fs::write(
        &am,
        format!(
            "route: {{receiver: team, group_by: [alertname], group_wait: 0s, group_interval: 1s, repeat_interval: 3s}}\n\
             receivers:\n  - name: team\n    telegram_configs:\n      - bot_token: {BOT}\n        chat_id: {CHAT}\n        api_url: http://{0}\n        send_resolved: true\n",
            tg.addr
        ),
    )
    .unwrap();
    let chatops = dir.path().join("chatops.yml");
    std::fs::write(
        &chatops,
        format!(
            "telegram:\n  bot_token: {BOT}\n  secret_token: {SECRET}\n  api_url: http://{}\n\
             receivers:\n  - name: team\n    images: true\n    allow:\n      users: ['telegram:42']\n",
            tg.addr
        ),
    )
    .unwrap();
    let addr = common::free_addr();
    let _s = common::start_chatops(addr, dir.path(), &am, &chatops);
    post_json(
        addr,
        "/api/v2/alerts",
        &json!([{"labels": {"alertname": "Down", "service": "api"},
                 "annotations": {"runbook_url": "https://runbooks.example/down"},
                 "generatorURL": "http://prom.test/graph?g0.expr=vector%281%29+%3E+0&g0.tab=1"}])
        .to_string(),
    );
    wait_for(Duration::from_secs(10), "the message", || {
        !tg.calls("sendMessage").is_empty()
    });
    let sent = tg.calls("sendMessage")[0].clone();
    assert_eq!(sent["chat_id"], CHAT.to_string());
    assert_eq!(sent["parse_mode"], "HTML");
    assert!(sent["text"].as_str().unwrap().contains("Down"), "{sent}");
    let data = keyboard_data(&sent);
    assert!(
        data.iter().all(|d| !d.is_empty() && d.len() <= 64),
        "{data:?}"
    );
    let token = data[0].split(':').next().unwrap().to_string();
    assert_eq!(token.len(), 32, "an opaque token: {data:?}");
    assert!(data.contains(&format!("{token}:ack")));
    assert!(data.contains(&format!("{token}:silence:1h")));
    assert!(data.contains(&format!("{token}:silence:resolved")));
    // The graph follows as a photo answering the message.
    wait_for(Duration::from_secs(10), "the graph", || {
        !tg.calls("sendPhoto").is_empty()
    });
    let photo = tg.calls("sendPhoto")[0].clone();
    assert_eq!(photo["reply_to_message_id"], 1);
    let path = url::Url::parse(photo["photo"].as_str().unwrap())
        .unwrap()
        .path()
        .to_string();
    assert_eq!(common::get_bytes(addr, &path).unwrap().0, 200);

    // Refused: each answered as Telegram expects, counted, nothing changes.
    let ack = press(42, "ana", 1, &format!("{token}:ack"));
    assert_eq!(deliver(addr, Some("wrong"), &ack), 401);
    assert!(common::refused(addr, "telegram", "bad_token"));
    assert_eq!(deliver(addr, None, &ack), 401);
    assert!(common::refused(addr, "telegram", "missing_header"));
    assert_eq!(deliver(addr, Some(SECRET), "{\"update_id\": "), 400);
    assert!(common::refused(addr, "telegram", "malformed"));
    let stranger = press(7, "eve", 1, &format!("{token}:ack"));
    assert_eq!(deliver(addr, Some(SECRET), &stranger), 200);
    assert!(common::refused(addr, "telegram", "not_allowed"));
    assert_eq!(
        deliver(
            addr,
            Some(SECRET),
            &press(42, "ana", 1, "00000000000000000000000000000000:ack")
        ),
        200
    );
    assert!(common::refused(addr, "telegram", "unknown_token"));
    assert!(common::group_answer(addr, "Down").is_null());
    let alerts: Vec<Value> = tg.calls("answerCallbackQuery");
    assert!(
        alerts.iter().any(|a| a["show_alert"] == true
            && a["text"]
                .as_str()
                .unwrap()
                .contains("only the people on receiver team's list")),
        "{alerts:?}"
    );
    assert!(tg.calls("editMessageText").is_empty());

    // Acknowledge: the message is edited to say who, with Unacknowledge.
    assert_eq!(deliver(addr, Some(SECRET), &ack), 200);
    assert_eq!(
        common::group_answer(addr, "Down")["acknowledged"]["by"],
        "ana"
    );
    // The same update again (Telegram's retry) does nothing more.
    assert_eq!(deliver(addr, Some(SECRET), &ack), 200);
    assert!(common::refused(addr, "telegram", "replay"));
    wait_for(Duration::from_secs(10), "the edit", || {
        !tg.calls("editMessageText").is_empty()
    });
    let edit = tg.calls("editMessageText")[0].clone();
    assert_eq!(
        (edit["chat_id"].clone(), edit["message_id"].clone()),
        (json!(CHAT.to_string()), json!(1))
    );
    assert!(
        edit["text"]
            .as_str()
            .unwrap()
            .contains("✅ Acknowledged by ana at "),
        "{edit}"
    );
    assert!(
        keyboard_data(&edit).contains(&format!("{token}:unack")),
        "{edit}"
    );
    assert!(
        edit["reply_markup"]["inline_keyboard"][0]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["url"] == "https://runbooks.example/down"),
        "the runbook link stays: {edit}"
    );
    // Repeats are due every 3 s; acknowledged, none comes.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(tg.calls("sendMessage").len(), 1, "a repeat after the ack");

    // Resolved: the message ends as resolved, naming who acknowledged.
    post_json(
        addr,
        "/api/v2/alerts",
        &json!([{"labels": {"alertname": "Down", "service": "api"}, "endsAt": "2020-01-01T00:00:00Z",
                 "generatorURL": "http://prom.test/graph?g0.expr=vector%281%29+%3E+0&g0.tab=1"}])
        .to_string(),
    );
    wait_for(Duration::from_secs(10), "the resolved edit", || {
        tg.calls("editMessageText")
            .iter()
            .any(|e| e["text"].as_str().unwrap().contains("🟢 Resolved"))
    });
    let last = tg
        .calls("editMessageText")
        .into_iter()
        .find(|e| e["text"].as_str().unwrap().contains("🟢 Resolved"))
        .unwrap();
    assert_eq!(last["message_id"], 1);
    assert!(
        last["text"].as_str().unwrap().contains("RESOLVED")
            || last["text"].as_str().unwrap().contains("Resolved")
    );
    assert!(
        last["text"]
            .as_str()
            .unwrap()
            .contains("✅ Acknowledged by ana"),
        "{last}"
    );
    assert!(
        last.get("reply_markup").is_none(),
        "no keyboard once resolved: {last}"
    );
    assert_eq!(
        tg.calls("sendMessage").len(),
        1,
        "no new message for the resolution"
    );

    // Silence 1h from another group's message: a real silence by ana.
    post_json(
        addr,
        "/api/v2/alerts",
        &json!([{"labels": {"alertname": "Slow", "service": "api"}}]).to_string(),
    );
    wait_for(Duration::from_secs(10), "the second message", || {
        tg.calls("sendMessage").len() == 2
    });
    let slow = tg.calls("sendMessage")[1].clone();
    let t2 = keyboard_data(&slow)[0]
        .split(':')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(
        deliver(
            addr,
            Some(SECRET),
            &press(42, "ana", 3, &format!("{t2}:silence:1h"))
        ),
        200
    );
    let silences = get_json(addr, "/api/v2/silences");
    assert_eq!(silences[0]["createdBy"], "ana", "{silences}");
    assert_eq!(
        silences[0]["comment"],
        "Silenced from Telegram by ana for 1h"
    );
    wait_for(Duration::from_secs(10), "the silenced edit", || {
        tg.calls("editMessageText").iter().any(|e| {
            e["text"]
                .as_str()
                .unwrap()
                .contains("🔇 Silenced by ana until ")
        })
    });
    if let Some(text) = common::amtool_silences(addr, &["alertname=Slow"]) {
        assert!(
            text.contains("Silenced from Telegram by ana for 1h"),
            "{text}"
        );
    }

    // Snooze 1h from a third group's message: no repeat, and the message
    // says who snoozed until when.
    post_json(
        addr,
        "/api/v2/alerts",
        &json!([{"labels": {"alertname": "Busy", "service": "api"}}]).to_string(),
    );
    wait_for(Duration::from_secs(10), "the third message", || {
        tg.calls("sendMessage").len() == 3
    });
    let busy = tg.calls("sendMessage")[2].clone();
    let t3 = keyboard_data(&busy)[0]
        .split(':')
        .next()
        .unwrap()
        .to_string();
    assert!(keyboard_data(&busy).contains(&format!("{t3}:snooze:1h")));
    assert_eq!(
        deliver(
            addr,
            Some(SECRET),
            &press(42, "ana", 4, &format!("{t3}:snooze:1h"))
        ),
        200
    );
    assert_eq!(common::group_answer(addr, "Busy")["snoozed"]["by"], "ana");
    wait_for(Duration::from_secs(10), "the snoozed edit", || {
        tg.calls("editMessageText").iter().any(|e| {
            e["text"]
                .as_str()
                .unwrap()
                .contains("💤 Snoozed by ana until ")
        })
    });
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(tg.calls("sendMessage").len(), 3, "a repeat while snoozed");

    // A body over the limit is refused before it is read, and counted.
    assert_eq!(deliver(addr, Some(SECRET), &"x".repeat(70_000)), 413);
    assert!(common::refused(addr, "telegram", "too_large"));
}
