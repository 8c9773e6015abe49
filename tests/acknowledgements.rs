//! Acknowledging and snoozing an alert group over the HTTP API
//! (`POST /api/v1/alerts/groups/{ack,unack,snooze}`), as the UI and the
//! chat callbacks do: an ack stops the repeats a webhook would get, is
//! counted, survives a SIGKILL and a restart, and bad requests are refused
//! with a reason and change nothing.

mod common;

use std::time::Duration;

use common::{json, post_json, start_at, wait_for, Webhook};

fn group_key(addr: std::net::SocketAddr) -> Option<String> {
    let g = json(addr, "/api/v2/alerts/groups");
    g[0]["groupKey"].as_str().map(String::from)
}

fn answer(addr: std::net::SocketAddr, action: &str, body: serde_json::Value) -> (u16, String) {
    let raw = post_json(
        addr,
        &format!("/api/v1/alerts/groups/{action}"),
        &body.to_string(),
    );
    let (status, body) = common::parse_response(raw.as_bytes());
    (status, body)
}

#[test]
fn an_ack_stops_repeats_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Webhook::start();
    let am = dir.path().join("am.yml");
    std::fs::write(
        &am,
        hook.alertmanager_yml(
            "group_by: [alertname], group_wait: 0s, group_interval: 1s, repeat_interval: 2s",
        ),
    )
    .unwrap();
    let empty = dir.path().join("prometheus.yml");
    std::fs::write(&empty, "").unwrap();
    let addr = common::free_addr();
    let data = dir.path().join("data");
    let args = ["--alertmanager.config.file", am.to_str().unwrap()];
    let alert = r#"[{"labels": {"alertname": "Down", "service": "api"}}]"#;
    let s = start_at(addr, &data, Some(&empty), &args);
    post_json(addr, "/api/v2/alerts", alert);
    wait_for(Duration::from_secs(10), "the first notification", || {
        hook.bodies.lock().unwrap().len() == 1
    });
    let key = group_key(addr).expect("a group key");
    assert_eq!(key, "{}:{alertname=\"Down\"}");

    // Refused, and nothing changes.
    let base = serde_json::json!({"groupKey": key, "receiver": "hook", "user": "ana"});
    for (action, body, status, why) in [
        (
            "ack",
            serde_json::json!({"groupKey": key, "receiver": "hook"}),
            400,
            "user is required",
        ),
        (
            "ack",
            serde_json::json!({"groupKey": "nope", "receiver": "hook", "user": "ana"}),
            400,
            "no alert group",
        ),
        (
            "ack",
            serde_json::json!({"groupKey": key, "receiver": "hook", "user": "ana", "via": "pager"}),
            400,
            "is not ui or api",
        ),
        ("snooze", base.clone(), 400, "one of duration and until"),
        (
            "snooze",
            serde_json::json!({"groupKey": key, "receiver": "hook", "user": "ana", "until": "2000-01-01T00:00:00Z"}),
            400,
            "must end in the future",
        ),
        ("page", base.clone(), 404, "no action"),
    ] {
        let (got, text) = answer(addr, action, body);
        assert_eq!(got, status, "{action}: {text}");
        assert!(text.contains(why), "{action}: {text}");
    }
    assert!(json(addr, "/api/v2/alerts/groups")[0]
        .get("answer")
        .is_none());

    let (status, text) = answer(addr, "ack", base.clone());
    assert_eq!(
        (status, text.contains("\"changed\":true")),
        (200, true),
        "{text}"
    );
    let (_, text) = answer(addr, "ack", base.clone());
    assert!(text.contains("\"changed\":false"), "twice is once: {text}");
    let g = json(addr, "/api/v2/alerts/groups");
    assert_eq!(g[0]["answer"]["acknowledged"]["by"], "ana");
    assert_eq!(g[0]["answer"]["acknowledged"]["via"], "api");
    let metrics = common::http(addr, "GET", "/metrics", "").unwrap().1;
    for want in [
        "watchfire_chatops_actions_total{chat=\"api\",action=\"ack\",outcome=\"done\"} 1",
        "watchfire_chatops_actions_total{chat=\"api\",action=\"ack\",outcome=\"unchanged\"} 1",
        // The unknown group; a request refused before it names a group
        // (no user, a bad `via`) is not an action.
        "watchfire_chatops_actions_total{chat=\"api\",action=\"ack\",outcome=\"refused\"} 1",
        "watchfire_chatops_actions_total{chat=\"api\",action=\"snooze\",outcome=\"refused\"} 1",
    ] {
        assert!(metrics.contains(want), "{want}\n{metrics}");
    }

    // Repeats are due every 2 s; acknowledged, none comes.
    let sent = hook.bodies.lock().unwrap().len();
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        hook.bodies.lock().unwrap().len(),
        sent,
        "a repeat after the ack"
    );

    // SIGKILL, restart: the ack holds and nothing is sent again.
    drop(s);
    let s = start_at(addr, &data, Some(&empty), &args);
    post_json(addr, "/api/v2/alerts", alert);
    wait_for(Duration::from_secs(10), "the group back", || {
        group_key(addr).is_some()
    });
    let g = json(addr, "/api/v2/alerts/groups");
    assert_eq!(g[0]["answer"]["acknowledged"]["by"], "ana", "{g}");
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        hook.bodies.lock().unwrap().len(),
        sent,
        "sent again after the restart"
    );

    // Unacknowledged: the repeat is long due and comes at the next flush.
    let (status, _) = answer(
        addr,
        "unack",
        serde_json::json!({"groupKey": key, "receiver": "hook"}),
    );
    assert_eq!(status, 200);
    wait_for(Duration::from_secs(10), "a repeat after the unack", || {
        hook.bodies.lock().unwrap().len() > sent
    });
    let last: serde_json::Value =
        serde_json::from_str(hook.bodies.lock().unwrap().last().unwrap()).unwrap();
    assert_eq!(
        last["notification_reason"], "repeat interval elapsed",
        "{last}"
    );
    drop(s);
}
