//! `watchfire check config` and the server give the same verdict and
//! reason on the same `prometheus.yml`: both use one loader and the
//! server's own checks of rule files and the `alerting` section, and both
//! refuse what is not implemented yet instead of ignoring it.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_addr, http};

/// The server's verdict: `Ok` once it is ready, or its error output when
/// it exits refusing the configuration.
fn server_verdict(config: &std::path::Path, data: &std::path::Path) -> Result<(), String> {
    let addr = free_addr();
    let mut child = Command::new(env!("CARGO_BIN_EXE_watchfire"))
        .arg("--config.file")
        .arg(config)
        .arg("--storage.tsdb.path")
        .arg(data)
        .arg("--web.listen-address")
        .arg(addr.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(_status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        if http(addr, "GET", "/-/ready", "").is_ok_and(|r| r.0 == 200) {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(());
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{}: neither ready nor refused",
            config.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `check config`'s verdict: `Ok`, or its output when it fails.
fn check_verdict(config: &std::path::Path) -> Result<(), String> {
    let out = Command::new(env!("CARGO_BIN_EXE_watchfire"))
        .args(["check", "config"])
        .arg(config)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

#[test]
fn check_config_and_the_server_agree() {
    let dir = tempfile::tempdir().unwrap();
    let good_rules = dir.path().join("good.rules.yml");
    std::fs::write(
        &good_rules,
        "groups:\n- name: g\n  rules:\n  - record: r\n    expr: vector(1)\n",
    )
    .unwrap();
    let bad_rules = dir.path().join("bad.rules.yml");
    std::fs::write(
        &bad_rules,
        "groups:\n- name: g\n  rules:\n  - record: r\n    expr: up ==\n",
    )
    .unwrap();
    for (sub, jobs) in [
        ("jobs", "scrape_configs:\n  - job_name: node\n    static_configs: [{targets: ['127.0.0.1:1']}]\n"),
        ("bad-jobs", "scrape_configs:\n  - job_name: node\n    static_configs: [{targets: ['http://x/']}]\n"),
    ] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
        let name = if sub == "jobs" { "node.yml" } else { "bad.yml" };
        std::fs::write(dir.path().join(sub).join(name), jobs).unwrap();
    }
    // (name, prometheus.yml, the reason both must give when refusing)
    let cases: &[(&str, &str, Option<&str>)] = &[
        ("empty", "", None),
        ("rule file", "rule_files: [good.rules.yml]\n", None),
        ("pattern matching nothing", "rule_files: ['nothing/*.yml']\n", None),
        ("missing rule file", "rule_files: [missing.rules.yml]\n", Some("does not point to an existing file")),
        ("rule file that does not parse", "rule_files: [bad.rules.yml]\n", Some("bad.rules.yml")),
        ("unknown top-level key", "scrape_configz: []\n", Some("scrape_configz")),
        (
            "remote_write",
            "remote_write:\n  - url: http://127.0.0.1:8428/api/v1/write\n    basic_auth: {username: u, password: hunter2}\n",
            Some("remote_write is not supported yet"),
        ),
        ("empty remote_write", "remote_write: []\n", None),
        ("remote_read", "remote_read:\n  - url: http://127.0.0.1:9/read\n", Some("remote_read is not supported yet")),
        ("storage", "storage:\n  tsdb: {out_of_order_time_window: 10m}\n", Some("storage is not supported yet")),
        ("tracing", "tracing: {endpoint: 127.0.0.1:4317}\n", Some("tracing is not supported yet")),
        ("scrape_config_files", "scrape_config_files: [jobs/*.yml]\n", None),
        (
            "scrape_config_files with a bad job",
            "scrape_config_files: [bad-jobs/*.yml]\n",
            Some("bad.yml"),
        ),
        ("query_log_file", "global: {query_log_file: q.log}\n", Some("query_log_file is not supported yet")),
        ("runtime, harmless", "runtime: {gogc: 50}\n", None),
        ("otlp, harmless", "otlp: {promote_resource_attributes: [service.name]}\n", None),
        (
            "alerting with service discovery",
            "alerting:\n  alertmanagers:\n    - dns_sd_configs: [{names: [am.example]}]\n",
            Some("dns_sd_configs"),
        ),
        (
            "alerting with a missing credentials file",
            "alerting:\n  alertmanagers:\n    - static_configs: [{targets: ['127.0.0.1:9093']}]\n      authorization: {credentials_file: /nonexistent/token}\n",
            Some("/nonexistent/token"),
        ),
        (
            "scrape job with a missing password file",
            "scrape_configs:\n  - job_name: j\n    basic_auth: {username: u, password_file: /nonexistent/pw}\n    static_configs: [{targets: ['127.0.0.1:1']}]\n",
            Some("/nonexistent/pw"),
        ),
    ];
    let mut bad = Vec::new();
    for (i, (name, yaml, refused)) in cases.iter().enumerate() {
        let config = dir.path().join(format!("prometheus-{i}.yml"));
        std::fs::write(&config, yaml).unwrap();
        let check = check_verdict(&config);
        let server = server_verdict(&config, &dir.path().join(format!("data-{i}")));
        match (refused, &check, &server) {
            (None, Ok(()), Ok(())) => {}
            (Some(why), Err(c), Err(s)) if c.contains(why) && s.contains(why) => {}
            _ => bad.push(format!(
                "{name}: want {refused:?}\n  check config: {check:?}\n  server: {server:?}"
            )),
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
