//! `amtool` from Debian's `prometheus-alertmanager` against the built-in
//! alerter: alerts added and queried, silences added, queried and
//! expired; a silence created just before SIGKILL still mutes after the
//! restart.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{free_addr, installed, start_alerter, wait_for, Webhook};

fn amtool(addr: std::net::SocketAddr, args: &[&str]) -> (bool, String) {
    let out = Command::new("amtool")
        .arg(format!("--alertmanager.url=http://{addr}"))
        .args(args)
        .output()
        .unwrap();
    // stderr carries amtool's version warning; what it prints is on stdout.
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

#[test]
fn amtool_silences_and_alerts() {
    if !installed("amtool", "prometheus-alertmanager") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let hook = Webhook::start();
    let am = hook.alertmanager_yml("group_by: [alertname], group_wait: 1s, group_interval: 2s");
    let addr = free_addr();
    let wf = start_alerter(addr, dir.path(), None, &am);

    let (ok, id) = amtool(
        addr,
        &[
            "silence",
            "add",
            "alertname=Muted",
            "--comment=maintenance",
            "--author=ops",
            "--duration=1h",
        ],
    );
    assert!(ok, "{id}");
    let id = id.trim().to_string();
    // Killed at once: the silence must already be on disk.
    drop(wf);
    let wf = start_alerter(addr, dir.path(), None, &am);
    let _ = &wf;
    let (ok, q) = amtool(addr, &["silence", "query"]);
    assert!(ok && q.contains(&id) && q.contains("maintenance"), "{q}");

    for name in ["Muted", "Loud"] {
        let (ok, out) = amtool(
            addr,
            &[
                "alert",
                "add",
                &format!("alertname={name}"),
                "--annotation=summary=s",
            ],
        );
        assert!(ok, "{out}");
    }
    wait_for(Duration::from_secs(20), "Loud at the webhook", || {
        hook.bodies
            .lock()
            .unwrap()
            .iter()
            .any(|b| b.contains("\"Loud\""))
    });
    // Two more group intervals: the muted alert never arrives.
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        !hook
            .bodies
            .lock()
            .unwrap()
            .iter()
            .any(|b| b.contains("\"Muted\"")),
        "a silenced alert was delivered"
    );
    let (ok, q) = amtool(addr, &["alert", "query"]);
    assert!(ok && q.contains("Loud") && !q.contains("Muted"), "{q}");
    let (ok, q) = amtool(addr, &["alert", "query", "--silenced"]);
    assert!(ok && q.contains("Muted") && q.contains("suppressed"), "{q}");

    let (ok, out) = amtool(addr, &["silence", "expire", &id]);
    assert!(ok, "{out}");
    let (_, q) = amtool(addr, &["silence", "query"]);
    assert!(
        !q.contains(&id),
        "expired silences are not listed by default: {q}"
    );
    let (_, q) = amtool(addr, &["silence", "query", "--expired"]);
    assert!(q.contains(&id), "{q}");
    // Unmuted, the alert is delivered at the next group interval.
    wait_for(
        Duration::from_secs(20),
        "Muted at the webhook once expired",
        || {
            hook.bodies
                .lock()
                .unwrap()
                .iter()
                .any(|b| b.contains("\"Muted\""))
        },
    );
}
