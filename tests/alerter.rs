//! The built-in alerter end to end: alerts from the rules and from
//! `POST /api/v2/alerts` are routed by an alertmanager.yml and delivered
//! to a webhook in Alertmanager's v4 format; a bad alertmanager.yml is
//! refused at reload and the old one keeps routing.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{
    assert_metrics, free_addr, http, installed, json, peer, start_alerter, wait_for, Webhook,
};

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

fn am_config(hook: &Webhook) -> String {
    format!(
        "route:\n  receiver: default\n  group_wait: 1s\n  group_interval: 2s\n  routes:\n    - matchers: ['team=\"db\"']\n      receiver: dba\n      group_by: [alertname]\nreceivers:\n  - name: default\n  - name: dba\n    webhook_configs:\n      - url: http://{}/hook\n",
        hook.addr
    )
}

fn bodies(hook: &Webhook) -> Vec<serde_json::Value> {
    hook.bodies
        .lock()
        .unwrap()
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect()
}

#[test]
fn rules_alerts_reach_the_webhook_through_the_route_tree() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Webhook::start();
    write(
        &dir.path().join("rules.yml"),
        "groups:\n  - name: g\n    rules:\n      - alert: ReplicationLag\n        expr: vector(42)\n        labels:\n          team: db\n        annotations:\n          summary: 'lag is {{ $value }}s'\n",
    );
    write(
        &dir.path().join("prom.yml"),
        "global:\n  evaluation_interval: 1s\n  external_labels:\n    dc: eu1\nrule_files: [rules.yml]\n",
    );
    let wf = start_alerter(
        free_addr(),
        dir.path(),
        Some(&dir.path().join("prom.yml")),
        &am_config(&hook),
    );
    wait_for(Duration::from_secs(30), "a notification", || {
        !hook.bodies.lock().unwrap().is_empty()
    });
    let m = &bodies(&hook)[0];
    assert_eq!(m["version"], "4", "{m}");
    assert_eq!(m["receiver"], "dba", "{m}");
    assert_eq!(m["status"], "firing", "{m}");
    assert_eq!(
        m["groupKey"], "{}/{team=\"db\"}:{alertname=\"ReplicationLag\"}",
        "{m}"
    );
    assert_eq!(m["groupLabels"]["alertname"], "ReplicationLag", "{m}");
    assert_eq!(m["notification_reason"], "first notification", "{m}");
    let a = &m["alerts"][0];
    assert_eq!(a["labels"]["team"], "db", "{m}");
    assert_eq!(a["labels"]["dc"], "eu1", "external labels are added: {m}");
    assert_eq!(a["annotations"]["summary"], "lag is 42s", "{m}");
    assert_eq!(a["status"], "firing", "{m}");

    // The API lists the alert with the receivers it reaches.
    let listed = json(wf.addr, "/api/v2/alerts");
    assert_eq!(
        listed[0]["labels"]["alertname"], "ReplicationLag",
        "{listed}"
    );
    assert_eq!(listed[0]["receivers"][0]["name"], "dba", "{listed}");
    let status = json(wf.addr, "/api/v2/status");
    let shown = status["config"]["original"].as_str().unwrap();
    assert!(shown.contains("dba"), "{status}");
    // A webhook's URL is a secret: masked, as upstream masks it.
    assert!(
        shown.contains("<secret>") && !shown.contains(&hook.addr.to_string()),
        "{shown}"
    );
    assert_metrics(
        wf.addr,
        "alertmanager_notifications_total{integration=\"webhook\"}",
    );
}

#[test]
fn posted_alerts_and_a_bad_reload() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Webhook::start();
    let wf = start_alerter(free_addr(), dir.path(), None, &am_config(&hook));
    let am = dir.path().join("am.yml");
    let post = |body: &str| common::post_json(wf.addr, "/api/v2/alerts", body);
    let bad = post(r#"[{"labels": {}}]"#);
    assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");
    assert!(bad.contains("at least one label pair required"), "{bad}");
    let ok = post(
        r#"[{"labels": {"alertname": "DiskFull", "team": "db"}, "annotations": {"summary": "full"}}]"#,
    );
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    wait_for(
        Duration::from_secs(20),
        "the posted alert at the webhook",
        || !hook.bodies.lock().unwrap().is_empty(),
    );
    assert_eq!(
        bodies(&hook)[0]["alerts"][0]["labels"]["alertname"],
        "DiskFull"
    );

    // A broken alertmanager.yml is refused with file, line and reason.
    write(
        &am,
        "route:\n  receiver: nobody\nreceivers:\n  - name: default\n",
    );
    let (status, body) = http(wf.addr, "POST", "/-/reload", "").unwrap();
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("undefined receiver \"nobody\" used in route"),
        "{body}"
    );
    assert!(body.contains("am.yml:2"), "{body}");
    // The old tree still routes.
    let receivers = json(wf.addr, "/api/v2/receivers");
    assert_eq!(receivers.as_array().unwrap().len(), 2, "{receivers}");
}

#[test]
fn a_notification_is_not_sent_again_after_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Webhook::start();
    let am = hook.alertmanager_yml("group_wait: 1s, group_interval: 1s, repeat_interval: 1h");
    let addr = free_addr();
    let body = r#"[{"labels": {"alertname": "Once"}}]"#;
    let post = |addr| {
        let out = common::post_json(addr, "/api/v2/alerts", body);
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    };
    let wf = start_alerter(addr, dir.path(), None, &am);
    post(addr);
    wait_for(Duration::from_secs(20), "the notification", || {
        hook.bodies.lock().unwrap().len() == 1
    });
    // Sent and logged (the counter moves after the log is written).
    wait_for(Duration::from_secs(20), "the send to be logged", || {
        http(addr, "GET", "/metrics", "")
            .map(|r| {
                r.1.contains("alertmanager_notifications_total{integration=\"webhook\"} 1")
            })
            .unwrap_or(false)
    });
    drop(wf); // SIGKILL right after the notification
    let _wf = start_alerter(addr, dir.path(), None, &am);
    // The sender posts the alert again, as Prometheus re-sends it.
    post(addr);
    // group_wait and several group intervals pass: nothing new is sent.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        hook.bodies.lock().unwrap().len(),
        1,
        "sent again within repeat_interval"
    );
}

#[test]
fn prometheus_sends_firing_and_resolved_through_watchfire() {
    if !installed("prometheus", "prometheus") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let hook = Webhook::start();
    let am = hook.alertmanager_yml("group_by: [alertname], group_wait: 0s, group_interval: 1s");
    let wf = start_alerter(free_addr(), dir.path(), None, &am);
    // Fires for 10 s out of every 20 s.
    write(
        &dir.path().join("rules.yml"),
        "groups:\n  - name: g\n    rules:\n      - alert: Blinking\n        expr: vector(time() % 20) < 10\n        annotations:\n          summary: blinking\n",
    );
    write(
        &dir.path().join("prometheus.yml"),
        &format!(
            "global:\n  evaluation_interval: 1s\nrule_files: [rules.yml]\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{}']\n",
            wf.addr
        ),
    );
    let _prom = peer(
        "prometheus",
        [
            format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ),
            format!("--storage.tsdb.path={}", dir.path().join("prom").display()),
            format!("--web.listen-address={}", free_addr()),
        ],
    );
    let got = |status: &str| {
        bodies(&hook)
            .iter()
            .any(|m| m["status"] == status && m["alerts"][0]["labels"]["alertname"] == "Blinking")
    };
    wait_for(
        Duration::from_secs(60),
        "a firing notification from Prometheus's alert",
        || got("firing"),
    );
    wait_for(Duration::from_secs(60), "the resolved notification", || {
        got("resolved")
    });
    let firing = bodies(&hook)
        .into_iter()
        .find(|m| m["status"] == "firing")
        .unwrap();
    assert_eq!(
        firing["alerts"][0]["annotations"]["summary"], "blinking",
        "{firing}"
    );
    assert!(
        firing["alerts"][0]["generatorURL"]
            .as_str()
            .unwrap()
            .contains("/graph?g0.expr="),
        "{firing}"
    );
}

#[test]
fn a_failing_webhook_gets_every_group_once_after_it_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Webhook::start();
    hook.failing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let am = hook.alertmanager_yml(
        "group_by: [alertname], group_wait: 0s, group_interval: 1s, repeat_interval: 1h",
    );
    let wf = start_alerter(free_addr(), dir.path(), None, &am);
    let body = r#"[{"labels": {"alertname": "A"}}, {"labels": {"alertname": "B"}}, {"labels": {"alertname": "C"}}]"#;
    let out = common::post_json(wf.addr, "/api/v2/alerts", body);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    // Down for several group intervals and retries.
    std::thread::sleep(Duration::from_secs(5));
    assert!(hook.bodies.lock().unwrap().is_empty());
    assert_metrics(
        wf.addr,
        "alertmanager_notifications_failed_total{integration=\"webhook\"",
    );
    hook.failing
        .store(false, std::sync::atomic::Ordering::SeqCst);
    wait_for(Duration::from_secs(30), "all three groups", || {
        hook.bodies.lock().unwrap().len() >= 3
    });
    std::thread::sleep(Duration::from_secs(4));
    let mut names: Vec<String> = bodies(&hook)
        .iter()
        .map(|m| {
            m["alerts"][0]["labels"]["alertname"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    names.sort();
    assert_eq!(names, ["A", "B", "C"], "each group exactly once");
}
