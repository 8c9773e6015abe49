//! Rules in the running server: alerts delivered through a real
//! Alertmanager to a webhook, reloads with broken rule files, and the
//! restore of `for` state after SIGKILL.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{
    assert_metrics, free_addr, http, installed, json, peer, start, start_at, wait_for, Webhook,
};

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn alerts_reach_a_real_alertmanager() {
    if !installed("prometheus-alertmanager", "prometheus-alertmanager") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let hook = Webhook::start();
    let am_addr = free_addr();
    write(
        &dir.path().join("am.yml"),
        &hook.alertmanager_yml("group_wait: 0s, group_interval: 1s, repeat_interval: 1h"),
    );
    let am = peer(
        "prometheus-alertmanager",
        [
            format!("--config.file={}", dir.path().join("am.yml").display()),
            format!("--web.listen-address={am_addr}"),
            "--cluster.listen-address=".to_string(),
            format!("--storage.path={}", dir.path().join("am-data").display()),
        ],
    );
    wait_for(Duration::from_secs(20), "alertmanager to listen", || {
        http(am_addr, "GET", "/-/ready", "")
            .map(|r| r.0 == 200)
            .unwrap_or(false)
    });
    write(
        &dir.path().join("rules.yml"),
        "groups:\n  - name: demo\n    rules:\n      - alert: DiskFull\n        expr: vector(97)\n        labels:\n          severity: page\n          team: storage\n        annotations:\n          summary: 'disk at {{ $value }}% in {{ $externalLabels.dc }}'\n          runbook: '{{ \"https://runbooks/disk\" | toUpper }}'\n",
    );
    write(
        &dir.path().join("prom.yml"),
        &format!(
            "global:\n  evaluation_interval: 1s\n  external_labels:\n    dc: eu1\nrule_files: [rules.yml]\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{am_addr}']\n"
        ),
    );
    let _wf = start(
        &dir.path().join("data"),
        Some(&dir.path().join("prom.yml")),
        &[],
    );
    wait_for(
        Duration::from_secs(30),
        "a notification at the webhook",
        || !hook.bodies.lock().unwrap().is_empty(),
    );
    let body = hook.bodies.lock().unwrap()[0].clone();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let a = &v["alerts"][0];
    assert_eq!(v["status"], "firing", "{body}");
    assert_eq!(a["labels"]["alertname"], "DiskFull", "{body}");
    assert_eq!(a["labels"]["severity"], "page", "{body}");
    assert_eq!(a["labels"]["team"], "storage", "{body}");
    assert_eq!(
        a["labels"]["dc"], "eu1",
        "external labels are added: {body}"
    );
    assert_eq!(a["annotations"]["summary"], "disk at 97% in eu1", "{body}");
    assert_eq!(
        a["annotations"]["runbook"], "HTTPS://RUNBOOKS/DISK",
        "{body}"
    );
    assert!(
        a["generatorURL"]
            .as_str()
            .unwrap()
            .contains("/graph?g0.expr=vector%2897%29"),
        "{body}"
    );
    drop(am);
}

#[test]
fn a_bad_rule_file_is_refused_and_the_old_rules_keep_running() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yml");
    write(
        &rules,
        "groups:\n  - name: good\n    rules:\n      - record: one\n        expr: vector(1)\n",
    );
    write(
        &dir.path().join("prom.yml"),
        "global:\n  evaluation_interval: 1s\nrule_files: [rules.yml]\n",
    );
    let wf = start(
        &dir.path().join("data"),
        Some(&dir.path().join("prom.yml")),
        &[],
    );
    let last_eval = || {
        let v = json(wf.addr, "/api/v1/rules");
        let g = &v["data"]["groups"][0];
        assert_eq!(g["name"], "good", "{v}");
        assert_eq!(g["rules"][0]["name"], "one", "{v}");
        g["lastEvaluation"].as_str().unwrap().to_string()
    };
    wait_for(Duration::from_secs(10), "a first evaluation", || {
        last_eval() != "0001-01-01T00:00:00Z"
    });
    // (what, file text, line, words of the reason)
    let cases = [
        ("bad YAML", "groups:\n  - name: x\n    rules: [\n", None, "did not find expected"),
        (
            "bad PromQL",
            "groups:\n  - name: x\n    rules:\n      - record: r\n        expr: sum(\n",
            Some(5),
            "could not parse expression",
        ),
        (
            "repeated group",
            "groups:\n  - name: x\n    rules: []\n  - name: x\n    rules: []\n",
            Some(4),
            "repeated in the same file",
        ),
        (
            "bad template",
            "groups:\n  - name: x\n    rules:\n      - alert: A\n        expr: vector(1)\n        annotations:\n          summary: '{{ $nope }}'\n",
            Some(7),
            "undefined variable \"$nope\"",
        ),
    ];
    for (what, text, line, reason) in cases {
        write(&rules, text);
        let (status, body) = http(wf.addr, "POST", "/-/reload", "").unwrap();
        assert_eq!(status, 500, "{what}: {body}");
        assert!(body.contains("rules.yml"), "{what}: no file in {body}");
        assert!(body.contains(reason), "{what}: no reason in {body}");
        if let Some(l) = line {
            assert!(
                body.contains(&format!("rules.yml:{l}:")),
                "{what}: no line {l} in {body}"
            );
        }
        // `check rules` refuses the same file, with file and line.
        let out = Command::new(env!("CARGO_BIN_EXE_watchfire"))
            .args(["check", "rules"])
            .arg(&rules)
            .output()
            .unwrap();
        let printed = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {printed}");
        assert!(printed.contains(reason), "{what}: {printed}");
        // The old group is still there and still evaluated.
        let before = last_eval();
        wait_for(Duration::from_secs(10), "evaluation to go on", || {
            last_eval() != before
        });
    }
    assert_metrics(wf.addr, "prometheus_config_last_reload_successful 0");
}

#[test]
fn the_embedded_default_runs_self_monitoring_rules() {
    let dir = tempfile::tempdir().unwrap();
    let wf = start(&dir.path().join("data"), None, &[]);
    let v = json(wf.addr, "/api/v1/rules");
    let g = &v["data"]["groups"][0];
    assert_eq!(g["name"], "watchfire", "{v}");
    assert_eq!(g["file"], "<embedded default rules>", "{v}");
    let names: Vec<&str> = g["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "TargetDown",
            "RuleEvaluationFailing",
            "AlertNotificationsFailing"
        ]
    );
}

/// `activeAt` of the only alert, in ms, with its state.
fn the_alert(addr: SocketAddr) -> Option<(i64, String)> {
    let v = json(addr, "/api/v1/alerts");
    let a = v["data"]["alerts"].get(0)?;
    let at = model::time::parse_rfc3339(a["activeAt"].as_str()?)?;
    Some((at, a["state"].as_str()?.to_string()))
}

#[test]
fn for_state_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("rules.yml"),
        "groups:\n  - name: g\n    rules:\n      - alert: Slow\n        expr: vector(1)\n        for: 20s\n",
    );
    write(
        &dir.path().join("prom.yml"),
        "global:\n  evaluation_interval: 1s\nrule_files: [rules.yml]\n",
    );
    let data = dir.path().join("data");
    let cfg = dir.path().join("prom.yml");
    let flags = ["--rules.alert.for-grace-period=5s"];
    let addr = free_addr();
    let wf = start_at(addr, &data, Some(&cfg), &flags);
    let mut first = None;
    wait_for(Duration::from_secs(15), "a pending alert", || {
        first = the_alert(addr);
        first.is_some()
    });
    let (active0, state) = first.unwrap();
    assert_eq!(state, "pending");
    // Pending for 8 s, then killed without a chance to clean up.
    let kill_at = active0 + 8_000;
    while model::time::now_ms() < kill_at {
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(wf);
    let killed = model::time::now_ms();
    std::thread::sleep(Duration::from_secs(3));
    let restarted = model::time::now_ms();
    let wf = start_at(addr, &data, Some(&cfg), &flags);
    // Prometheus restores after the second evaluation: the alert's active
    // time moves to the old one plus the time the server was down, so the
    // 20 s count resumes instead of starting over.
    let mut restored = None;
    wait_for(Duration::from_secs(15), "the restored active time", || {
        restored = the_alert(addr).filter(|(at, _)| *at < restarted);
        restored.is_some()
    });
    let (active1, state) = restored.unwrap();
    assert_eq!(state, "pending");
    let down = restarted - killed;
    let shift = active1 - active0;
    assert!(
        shift >= down - 1_000 && shift <= down + 6_000,
        "active time moved by {shift} ms; the server was down {down} ms (no restore would move it by about {} ms)",
        restarted + 1_000 - active0
    );
    // It fires 20 s after the restored time, not 20 s after the restart.
    let mut fired_at = 0;
    wait_for(Duration::from_secs(40), "the alert to fire", || {
        fired_at = model::time::now_ms();
        the_alert(addr).is_some_and(|(_, s)| s == "firing")
    });
    assert!(
        fired_at >= active1 + 20_000 - 500 && fired_at < active1 + 20_000 + 5_000,
        "fired {} ms after the restored active time, want 20 s",
        fired_at - active1
    );
    drop(wf);
}
