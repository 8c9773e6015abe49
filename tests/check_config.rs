//! `watchfire check config` and the server give the same verdict, line and
//! reason on the same `prometheus.yml`: both use one loader (the `config`
//! crate) and the server's own checks of rule files, and both refuse what
//! is not implemented yet instead of ignoring it.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_addr, http};

/// The server's verdict: `Ok` once it is ready, or the reason it gives
/// when it exits refusing the configuration.
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
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            let reason = err
                .lines()
                .find_map(|l| l.split_once("load configuration: "));
            return Err(reason.map_or(err.clone(), |(_, r)| r.to_string()));
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

/// `check config`'s verdict: `Ok`, or the reason it prints when it fails.
fn check_verdict(config: &std::path::Path) -> Result<(), String> {
    let out = Command::new(env!("CARGO_BIN_EXE_watchfire"))
        .args(["check", "config"])
        .arg(config)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(())
    } else {
        let reason = text.lines().find_map(|l| l.split_once("FAILED: "));
        Err(reason.map_or(text.clone(), |(_, r)| r.to_string()))
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
    // (name, prometheus.yml, when refusing: the line of prometheus.yml
    // named, if any, and a fragment of the reason)
    type Case<'a> = (&'a str, &'a str, Option<(Option<usize>, &'a str)>);
    let cases: &[Case] = &[
        ("empty", "", None),
        ("every section Watchfire implements", "global:\n  scrape_interval: 30s\n  external_labels: {dc: eu1}\nrule_files: [good.rules.yml]\nscrape_config_files: [jobs/*.yml]\nscrape_configs:\n  - job_name: self\n    static_configs: [{targets: ['127.0.0.1:1']}]\nalerting:\n  alertmanagers:\n    - static_configs: [{targets: ['127.0.0.1:9093']}]\n", None),
        ("rule file", "rule_files: [good.rules.yml]\n", None),
        ("pattern matching nothing", "rule_files: ['nothing/*.yml']\n", None),
        ("missing rule file", "rule_files: [missing.rules.yml]\n", Some((None, "does not point to an existing file"))),
        ("rule file that does not parse", "rule_files: [bad.rules.yml]\n", Some((None, "bad.rules.yml"))),
        ("unknown top-level key", "global: {}\nscrape_configz: []\n", Some((Some(2), "unknown field `scrape_configz`"))),
        ("unknown global key", "global:\n  scrape_intervall: 1m\n", Some((Some(2), "global: unknown field `scrape_intervall`"))),
        ("duplicate key", "global:\n  scrape_interval: 1m\n  scrape_interval: 2m\n", Some((Some(3), "duplicate"))),
        ("YAML 1.1 booleans and merge keys", "scrape_configs:\n  - &job\n    job_name: a\n    honor_labels: yes\n    static_configs: [{targets: ['127.0.0.1:1']}]\n  - <<: *job\n    job_name: b\n", None),
        ("bad duration", "global:\n  evaluation_interval: 1x\n", Some((Some(2), "evaluation_interval"))),
        ("remote_write", "remote_write:\n  - url: http://127.0.0.1:8428/api/v1/write\n    basic_auth: {username: u, password: hunter2}\n", None),
        ("remote_write with sigv4", "remote_write:\n  - url: http://127.0.0.1:8428/api/v1/write\n    sigv4: {region: eu-west-1}\n", Some((Some(3), "remote_write[0].sigv4 is not supported yet"))),
        ("remote_write with a reserved header", "remote_write:\n  - url: http://127.0.0.1:8428/api/v1/write\n    headers: {Content-Encoding: gzip}\n", Some((Some(2), "Content-Encoding is a reserved header"))),
        ("remote_write twice to one URL", "remote_write:\n  - url: http://127.0.0.1:8428/api/v1/write\n  - url: http://127.0.0.1:8428/api/v1/write\n", Some((Some(2), "duplicate remote write configs are not allowed"))),
        ("empty remote_write", "remote_write: []\n", None),
        ("remote_read", "global: {}\nremote_read:\n  - url: http://127.0.0.1:9/read\n", Some((Some(2), "remote_read is not supported yet"))),
        ("storage", "storage:\n  tsdb: {out_of_order_time_window: 10m}\n", None),
        ("storage retention", "storage:\n  tsdb: {retention: {time: 15d}}\n", Some((Some(1), "storage.tsdb.retention is not supported yet"))),
        ("tracing", "tracing: {endpoint: 127.0.0.1:4317}\n", Some((Some(1), "tracing is not supported yet"))),
        ("scrape_config_files", "scrape_config_files: [jobs/*.yml]\n", None),
        ("scrape_config_files with a bad job", "scrape_config_files: [bad-jobs/*.yml]\n", Some((None, "bad.yml:3:"))),
        ("query_log_file", "global:\n  query_log_file: q.log\n", Some((Some(2), "global.query_log_file is not supported yet"))),
        ("runtime, harmless", "runtime: {gogc: 50}\n", None),
        ("runtime with a typo", "runtime:\n  gcgo: 50\n", Some((Some(2), "unknown field `gcgo`"))),
        ("otlp, harmless", "otlp: {promote_resource_attributes: [service.name]}\n", None),
        ("otlp with a bad strategy", "otlp:\n  translation_strategy: Sometimes\n", Some((Some(1), "unsupported OTLP translation strategy"))),
        ("native histograms", "global:\n  scrape_native_histograms: true\n", Some((Some(2), "global.scrape_native_histograms is not supported yet"))),
        ("name validation as upstream's default", "global:\n  metric_name_validation_scheme: utf8\n", None),
        ("legacy name validation", "global:\n  metric_name_validation_scheme: legacy\n", Some((Some(2), "metric_name_validation_scheme is not supported yet"))),
        ("kubernetes_sd_configs", "scrape_configs:\n  - job_name: k\n    kubernetes_sd_configs: [{role: pod}]\n", Some((Some(3), "kubernetes_sd_configs is not supported yet"))),
        ("consul_sd_configs", "scrape_configs:\n  - job_name: c\n    consul_sd_configs: [{server: 'localhost:8500'}]\n", Some((Some(3), "consul_sd_configs is not supported yet"))),
        ("ec2_sd_configs", "scrape_configs:\n  - job_name: e\n    ec2_sd_configs: [{region: eu-west-1}]\n", Some((Some(3), "ec2_sd_configs is not supported yet"))),
        ("docker_sd_configs", "scrape_configs:\n  - job_name: d\n    docker_sd_configs: [{host: 'unix:///var/run/docker.sock'}]\n", Some((Some(3), "docker_sd_configs is not supported yet"))),
        ("an empty service discovery", "scrape_configs:\n  - job_name: k\n    kubernetes_sd_configs: []\n", None),
        ("secret reference", "scrape_configs:\n  - job_name: s\n    basic_auth:\n      username: u\n      password_ref: vault-pw\n", Some((Some(5), "password_ref is not supported yet"))),
        ("alerting with https", "alerting:\n  alertmanagers:\n    - scheme: https\n      tls_config: {insecure_skip_verify: true}\n      basic_auth: {username: u, password: p}\n      static_configs: [{targets: ['127.0.0.1:9093']}]\n", None),
        ("alerting with service discovery", "alerting:\n  alertmanagers:\n    - dns_sd_configs: [{names: [am.example]}]\n", Some((Some(3), "dns_sd_configs is not supported yet"))),
        ("alerting with a typo", "alerting:\n  alertmanager:\n    - static_configs: [{targets: ['127.0.0.1:9093']}]\n", Some((Some(2), "unknown field `alertmanager`"))),
        ("alerting with API v1", "alerting:\n  alertmanagers:\n    - api_version: v1\n", Some((Some(2), "api version"))),
        ("alerting with a bad relabel rule", "alerting:\n  alert_relabel_configs:\n    - action: hashmod\n      target_label: t\n", Some((Some(2), "requires non-zero modulus"))),
        ("alerting with a missing credentials file", "alerting:\n  alertmanagers:\n    - static_configs: [{targets: ['127.0.0.1:9093']}]\n      authorization: {credentials_file: /nonexistent/token}\n", Some((Some(2), "/nonexistent/token"))),
        ("scrape job with a missing password file", "scrape_configs:\n  - job_name: j\n    basic_auth: {username: u, password_file: /nonexistent/pw}\n    static_configs: [{targets: ['127.0.0.1:1']}]\n", Some((Some(2), "/nonexistent/pw"))),
    ];
    assert!(cases.len() >= 30);
    let mut bad = Vec::new();
    for (i, (name, yaml, refused)) in cases.iter().enumerate() {
        let file = format!("prometheus-{i}.yml");
        let config = dir.path().join(&file);
        std::fs::write(&config, yaml).unwrap();
        let check = check_verdict(&config);
        let server = server_verdict(&config, &dir.path().join(format!("data-{i}")));
        // Both refuse with the same words, the file and line first.
        let at = |line: &Option<usize>, r: &str| match line {
            Some(l) => r.contains(&format!("{file}:{l}: ")),
            None => true,
        };
        match (refused, &check, &server) {
            (None, Ok(()), Ok(())) => {}
            (Some((line, why)), Err(c), Err(s)) if c == s && c.contains(why) && at(line, c) => {}
            _ => bad.push(format!(
                "{name}: want {refused:?}\n  check config: {check:?}\n  server: {server:?}"
            )),
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
