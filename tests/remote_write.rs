//! Remote write, end to end: Watchfire sending to Debian's VictoriaMetrics
//! (`victoria-metrics`, its `/api/v1/write` and `/api/v1/export`), through
//! an outage and SIGKILLs; Debian's Prometheus 2.42 sending to Watchfire's
//! receiver; and the receiver's answers to bad requests.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{free_addr, http, installed, json, peer, wait_for, Killed};
use prost::Message;
use remote::proto::{Label, Sample, TimeSeries, WriteRequest};

/// Every sample of a series: timestamp → value bits.
type Samples = BTreeMap<String, BTreeMap<i64, u64>>;

/// A series key with its labels sorted, the same for both sides.
fn key(m: &serde_json::Map<String, serde_json::Value>) -> String {
    let sorted: BTreeMap<&str, &str> = m
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or("")))
        .collect();
    format!("{sorted:?}")
}

/// Every float sample Watchfire holds for series matching `sel`, over the
/// last hour, read through a range selector (values as Go prints them,
/// which round-trip). Stale markers are not in range vectors.
fn watchfire_samples(addr: SocketAddr, sel: &str, extra: &[(&str, &str)]) -> Samples {
    let q: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("query", &format!("{sel}[1h]"))
        .finish();
    let v = json(addr, &format!("/api/v1/query?{q}"));
    assert_eq!(v["status"], "success", "{v}");
    let mut out = Samples::new();
    for s in v["data"]["result"].as_array().unwrap() {
        let mut m = s["metric"].as_object().unwrap().clone();
        for (k, val) in extra {
            m.entry(k.to_string()).or_insert((*val).into());
        }
        let e = out.entry(key(&m)).or_default();
        for p in s["values"].as_array().unwrap() {
            let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
            let v: f64 = p[1].as_str().unwrap().parse().unwrap();
            e.insert(t, v.to_bits());
        }
    }
    out
}

/// Every sample VictoriaMetrics holds for `sel` (`/api/v1/export`, one
/// JSON line per series), NaNs (stale markers) left out as on our side.
fn vm_samples(vm: SocketAddr, sel: &str) -> Samples {
    let q: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("match[]", sel)
        .finish();
    let (status, body) = http(vm, "GET", &format!("/api/v1/export?{q}"), "").unwrap();
    assert_eq!(status, 200, "{body}");
    let mut out = Samples::new();
    for line in body.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let e = out
            .entry(key(v["metric"].as_object().unwrap()))
            .or_default();
        let ts = v["timestamps"].as_array().unwrap();
        let vs = v["values"].as_array().unwrap();
        for (t, val) in ts.iter().zip(vs) {
            let f = match val {
                serde_json::Value::Number(n) => n.as_f64().unwrap(),
                serde_json::Value::String(s) => s.parse().unwrap_or(f64::NAN),
                _ => f64::NAN,
            };
            if f.is_nan() {
                continue;
            }
            e.insert(t.as_i64().unwrap(), f.to_bits());
        }
    }
    out
}

/// Debian's VictoriaMetrics on `addr` over `dir`; identical samples that
/// arrive twice (a resend after a restart) are kept once.
fn start_vm(addr: SocketAddr, dir: &Path) -> Killed {
    let k = peer(
        "victoria-metrics",
        [
            format!("-storageDataPath={}", dir.display()),
            format!("-httpListenAddr={addr}"),
            "-dedup.minScrapeInterval=1ms".to_string(),
            "-retentionPeriod=100y".to_string(),
        ],
    );
    wait_for(Duration::from_secs(20), "victoria-metrics", || {
        http(addr, "GET", "/health", "").is_ok_and(|r| r.0 == 200)
    });
    k
}

/// Makes VictoriaMetrics's newest samples visible to export. Rows that
/// arrived in the last moment sit in its per-CPU insert buffers, which it
/// moves on about once a second; one `force_flush` right after the last
/// write can miss them (seen: the final scrape of a sender stopped just
/// after catching up). So: flush, let a buffer period pass, flush again.
fn vm_flush(vm: SocketAddr) {
    let _ = http(vm, "GET", "/internal/force_flush", "");
    std::thread::sleep(Duration::from_secs(3));
    let _ = http(vm, "GET", "/internal/force_flush", "");
}

/// Watchfire with `args`, stopped by [`stop`] or killed on drop; its log
/// is appended to `<data>.log`, for [`warnings`].
fn spawn(addr: SocketAddr, data: &Path, args: &[&str]) -> Killed {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data.with_extension("log"))
        .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_watchfire"))
        .arg("--web.listen-address")
        .arg(addr.to_string())
        .arg("--storage.tsdb.path")
        .arg(data)
        .args(args)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let k = Killed(child);
    wait_for(Duration::from_secs(20), "watchfire", || {
        http(addr, "GET", "/-/ready", "").is_ok_and(|r| r.0 == 200)
    });
    k
}

/// The warnings and errors in the log of the server over `data`.
fn warnings(data: &Path) -> String {
    std::fs::read_to_string(data.with_extension("log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| {
            l.contains("WARN") || l.contains("ERROR") || l.contains("remote") || l.contains("stop")
        })
        .filter(|l| !l.contains("Connection refused"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// SIGTERM, then waits for the exit (the queues deliver what they hold).
fn stop(mut k: Killed) {
    let pid = k.0.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let _ = k.0.wait();
}

fn kill9(mut k: Killed) {
    let _ = k.0.kill();
    let _ = k.0.wait();
}

/// A gauge of one queue from `/metrics`.
fn queue_metric(addr: SocketAddr, name: &str) -> Option<f64> {
    let page = http(addr, "GET", "/metrics", "").ok()?.1;
    page.lines()
        .find(|l| l.starts_with(name) && l.as_bytes().get(name.len()) == Some(&b'{'))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

fn config(dir: &Path, self_addr: SocketAddr, vm: SocketAddr, extra: &str) -> std::path::PathBuf {
    let path = dir.join("prometheus.yml");
    std::fs::write(
        &path,
        format!(
            "global:\n  scrape_interval: 1s\n  external_labels:\n    replica: a\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['{self_addr}']\nremote_write:\n  - url: http://{vm}/api/v1/write\n    name: vm\n    queue_config:\n      batch_send_deadline: 500ms\n      max_backoff: 500ms\n{extra}"
        ),
    )
    .unwrap();
    path
}

/// Asserts every sample Watchfire stored is in VictoriaMetrics, bit for
/// bit, and the series sets are equal.
fn assert_all_arrived(ours: &Samples, theirs: &Samples) {
    let a: BTreeSet<&String> = ours.keys().collect();
    let b: BTreeSet<&String> = theirs.keys().collect();
    assert_eq!(
        a.symmetric_difference(&b).collect::<Vec<_>>(),
        Vec::<&&String>::new(),
        "series sets differ"
    );
    let mut total = 0;
    let mut rounded = 0;
    let mut missing = Vec::new();
    for (k, samples) in ours {
        let got = &theirs[k];
        for (t, bits) in samples {
            total += 1;
            let theirs = got.get(t).copied();
            if theirs == Some(*bits) {
                continue;
            }
            // VictoriaMetrics keeps a value as a decimal (an int64
            // mantissa and a power of ten), so values it cannot hold in
            // that form come back rounded in the last digits; the wire
            // carried the exact bits (the Watchfire-to-Watchfire test
            // shows them arriving bit for bit).
            let (a, b) = (f64::from_bits(*bits), theirs.map(f64::from_bits));
            if b.is_none() {
                let last: Vec<&i64> = got.keys().rev().take(3).collect();
                missing.push(format!(
                    "{k} at {t} ({a}); VictoriaMetrics's newest: {last:?}"
                ));
                continue;
            }
            let close = b.is_some_and(|b| (a - b).abs() <= a.abs() * 1e-15);
            assert!(close, "{k} at {t}: ours {a:?}, VictoriaMetrics {b:?}");
            rounded += 1;
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {total} samples missing in VictoriaMetrics, the first: {:#?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(total > 100, "too few samples to mean anything: {total}");
    eprintln!("{total} samples compared: {} bit for bit, {rounded} rounded by VictoriaMetrics's decimal storage", total - rounded);
}

#[test]
fn every_stored_sample_reaches_victoriametrics_bit_exact() {
    if !installed("victoria-metrics", "victoria-metrics") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let vm = free_addr();
    let _vm = start_vm(vm, &dir.path().join("vm"));
    let addr = free_addr();
    let cfg = config(dir.path(), addr, vm, "");
    let wf = spawn(
        addr,
        &dir.path().join("data"),
        &["--config.file", cfg.to_str().unwrap()],
    );
    std::thread::sleep(Duration::from_secs(5));
    stop(wf);
    // Read our side with the server up again, sending nothing new.
    let wf = spawn(addr, &dir.path().join("data"), &[]);
    let ours = watchfire_samples(addr, "{job=\"self\"}", &[("replica", "a")]);
    kill9(wf);
    vm_flush(vm);
    let theirs = vm_samples(vm, "{job=\"self\"}");
    assert_all_arrived(&ours, &theirs);
}

#[test]
fn an_outage_and_two_sigkills_lose_nothing() {
    if !installed("victoria-metrics", "victoria-metrics") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let vm = free_addr();
    let vm_dir = dir.path().join("vm");
    let data = dir.path().join("data");
    let vm_proc = start_vm(vm, &vm_dir);
    let addr = free_addr();
    let cfg = config(dir.path(), addr, vm, "");
    let args = ["--config.file", cfg.to_str().unwrap()];
    let wf = spawn(addr, &data, &args);
    std::thread::sleep(Duration::from_secs(3));
    // The outage: VictoriaMetrics stops (SIGTERM: with SIGKILL it would
    // lose what it acknowledged but had not flushed) while scraping goes
    // on, and Watchfire is killed twice meanwhile.
    stop(vm_proc);
    std::thread::sleep(Duration::from_secs(3));
    kill9(wf);
    let wf = spawn(addr, &data, &args);
    std::thread::sleep(Duration::from_secs(3));
    kill9(wf);
    let wf = spawn(addr, &data, &args);
    std::thread::sleep(Duration::from_secs(3));
    let _vm = start_vm(vm, &vm_dir);
    // Caught up: everything read has been sent.
    wait_for(Duration::from_secs(60), "the queue to catch up", || {
        let read = queue_metric(
            addr,
            "prometheus_remote_storage_queue_highest_timestamp_seconds",
        );
        let sent = queue_metric(
            addr,
            "prometheus_remote_storage_queue_highest_sent_timestamp_seconds",
        );
        matches!((read, sent), (Some(r), Some(s)) if r > 0.0 && s >= r)
    });
    stop(wf);
    let wf = spawn(addr, &data, &[]);
    let ours = watchfire_samples(addr, "{job=\"self\"}", &[("replica", "a")]);
    kill9(wf);
    vm_flush(vm);
    let theirs = vm_samples(vm, "{job=\"self\"}");
    eprintln!("Watchfire's warnings:\n{}", warnings(&data));
    assert_all_arrived(&ours, &theirs);
}

/// A Watchfire over `data` that takes remote write and nothing else.
fn receiving(data: &Path) -> common::Server {
    common::start(data, None, &["--web.enable-remote-write-receiver"])
}

/// Posts a raw remote write body; (status, body).
fn post_write(addr: SocketAddr, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST /api/v1/write HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\nX-Prometheus-Remote-Write-Version: 0.1.0\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    common::parse_response(&out)
}

fn series(pairs: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries {
        labels: pairs
            .iter()
            .map(|(n, v)| Label {
                name: n.to_string(),
                value: v.to_string(),
            })
            .collect(),
        samples: samples
            .iter()
            .map(|&(timestamp, value)| Sample { value, timestamp })
            .collect(),
        ..Default::default()
    }
}

fn encode(ts: Vec<TimeSeries>) -> Vec<u8> {
    remote::receive::snappy(
        &WriteRequest {
            timeseries: ts,
            metadata: vec![],
        }
        .encode_to_vec(),
    )
}

fn count(addr: SocketAddr, sel: &str) -> usize {
    watchfire_samples(addr, sel, &[])
        .values()
        .map(|s| s.len())
        .sum()
}

#[test]
fn the_receiver_is_off_without_its_flag() {
    let dir = tempfile::tempdir().unwrap();
    let s = common::start(dir.path(), None, &[]);
    let (status, body) = post_write(s.addr, &encode(vec![]));
    assert_eq!(status, 404);
    assert!(
        body.contains("--web.enable-remote-write-receiver"),
        "{body}"
    );
}

#[test]
fn bad_requests_get_400_and_store_nothing_of_the_bad_series() {
    let dir = tempfile::tempdir().unwrap();
    let s = receiving(dir.path());
    let now = model::time::now_ms();
    let good = |name: &str| {
        series(
            &[("__name__", name), ("job", "rw")],
            &[(now - 1000, 1.0), (now, 2.0)],
        )
    };

    // Whole-request refusals.
    let (st, body) = post_write(s.addr, b"not snappy at all");
    assert_eq!(st, 400, "{body}");
    assert!(body.contains("snappy"), "{body}");
    let (st, body) = post_write(
        s.addr,
        &remote::receive::snappy(b"\xff\xff\xff not protobuf"),
    );
    assert_eq!(st, 400, "{body}");
    assert!(body.contains("protobuf"), "{body}");
    // A snappy header claiming more than the cap is refused before
    // anything is decompressed.
    let mut huge = Vec::new();
    let mut n: u64 = 1 << 30;
    while n >= 0x80 {
        huge.push((n as u8) | 0x80);
        n >>= 7;
    }
    huge.push(n as u8);
    huge.extend_from_slice(b"\x00\x00");
    let (st, body) = post_write(s.addr, &huge);
    assert_eq!(st, 400, "{body}");
    assert!(body.contains("over the limit"), "{body}");

    // Bad series beside good ones: 400, the good one stored.
    let cases: Vec<(TimeSeries, &str)> = vec![
        (
            series(&[("job", "rw"), ("__name__", "unsorted")], &[(now, 1.0)]),
            "not sorted",
        ),
        (
            series(
                &[("__name__", "dup"), ("a", "1"), ("a", "2")],
                &[(now, 1.0)],
            ),
            "duplicate label name",
        ),
        (
            series(&[("", "x"), ("__name__", "empty")], &[(now, 1.0)]),
            "empty label name",
        ),
        (series(&[("job", "rw")], &[(now, 1.0)]), "no metric name"),
        (
            TimeSeries {
                histograms: vec![vec![8, 1]],
                ..series(&[("__name__", "hist")], &[])
            },
            "native histograms",
        ),
    ];
    for (i, (bad, why)) in cases.into_iter().enumerate() {
        let name = format!("good_{i}");
        let (st, body) = post_write(s.addr, &encode(vec![good(&name), bad]));
        assert_eq!(st, 400, "case {i}: {body}");
        assert!(body.contains(why), "case {i}: {body}");
        assert_eq!(
            count(s.addr, &format!("{{__name__=\"{name}\"}}")),
            2,
            "case {i}"
        );
    }
    for bad in ["unsorted", "dup", "empty", "hist"] {
        assert_eq!(
            count(s.addr, &format!("{{__name__=\"{bad}\"}}")),
            0,
            "{bad}"
        );
    }
    assert_eq!(count(s.addr, "{__name__=\"\", job=\"rw\"}"), 0);

    // Out of order: older than the series' newest sample.
    let (st, _) = post_write(s.addr, &encode(vec![good("ooo")]));
    assert_eq!(st, 204);
    let late = series(
        &[("__name__", "ooo"), ("job", "rw")],
        &[(now - 60_000, 5.0)],
    );
    let (st, body) = post_write(s.addr, &encode(vec![late]));
    assert_eq!(st, 400, "{body}");
    assert!(body.contains("out of order"), "{body}");
    assert_eq!(count(s.addr, "{__name__=\"ooo\"}"), 2);
    // A resend of the newest sample is not an error (older ones are out
    // of order, as in Prometheus).
    let newest = series(&[("__name__", "ooo"), ("job", "rw")], &[(now, 2.0)]);
    let (st, body) = post_write(s.addr, &encode(vec![newest]));
    assert_eq!(st, 204, "{body}");
    common::assert_metrics(
        s.addr,
        "watchfire_remote_write_receiver_invalid_series_total 5",
    );
}

#[test]
fn prometheus_remote_writes_into_watchfire() {
    if !installed("prometheus", "prometheus") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let wf = receiving(&dir.path().join("wf"));
    let prom = free_addr();
    let cfg = dir.path().join("prom.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: target\n    static_configs:\n      - targets: ['{}']\nremote_write:\n  - url: http://{}/api/v1/write\n    queue_config:\n      batch_send_deadline: 500ms\n",
            wf.addr, wf.addr
        ),
    )
    .unwrap();
    let p = prometheus(prom, &cfg, &dir.path().join("prom"), &[]);
    wait_for(
        Duration::from_secs(60),
        "five scrapes by Prometheus",
        || count(prom, "up{job=\"target\"}") >= 5,
    );
    // Prometheus's own view of what it scraped, against what it sent us.
    let theirs = watchfire_samples(prom, "{job=\"target\"}", &[]);
    std::thread::sleep(Duration::from_secs(2));
    let ours = watchfire_samples(wf.addr, "{job=\"target\"}", &[]);
    drop(p);
    assert!(theirs.len() > 50, "{}", theirs.len());
    let mut compared = 0;
    for (k, samples) in &theirs {
        let got = ours.get(k).unwrap_or_else(|| panic!("{k} did not arrive"));
        for (t, bits) in samples {
            assert_eq!(got.get(t), Some(bits), "{k} at {t}");
            compared += 1;
        }
    }
    assert!(compared > 200, "{compared}");
}

fn prometheus(addr: SocketAddr, cfg: &Path, data: &Path, extra: &[&str]) -> Killed {
    let child: Child = Command::new("prometheus")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--web.listen-address={addr}"))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let k = Killed(child);
    wait_for(Duration::from_secs(30), "prometheus", || {
        http(addr, "GET", "/-/ready", "").is_ok_and(|r| r.0 == 200)
    });
    k
}

/// `n` exposition endpoints on loopback, each answering
/// `m{target="i"} i`; the listeners live as long as the test.
fn targets(n: usize) -> Vec<SocketAddr> {
    (0..n)
        .map(|i| {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            std::thread::spawn(move || {
                for mut c in l.incoming().flatten() {
                    let mut buf = [0u8; 4096];
                    let _ = c.read(&mut buf);
                    let body = format!("# TYPE m gauge\nm{{target=\"{i}\"}} {i}\n");
                    let _ = write!(
                        c,
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                }
            });
            addr
        })
        .collect()
}

#[test]
fn two_agents_sharding_with_hashmod_give_the_union_and_nothing_twice() {
    if !installed("victoria-metrics", "victoria-metrics") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let vm = free_addr();
    let _vm = start_vm(vm, &dir.path().join("vm"));
    let list: Vec<String> = targets(100).iter().map(|a| format!("'{a}'")).collect();
    let mut agents = Vec::new();
    for (shard, name) in ["a", "b"].iter().enumerate() {
        let cfg = dir.path().join(format!("{name}.yml"));
        std::fs::write(
            &cfg,
            format!(
                "global:\n  scrape_interval: 1s\n  external_labels:\n    agent: {name}\nscrape_configs:\n  - job_name: fleet\n    static_configs:\n      - targets: [{}]\n    relabel_configs:\n      - source_labels: [__address__]\n        modulus: 2\n        target_label: __tmp_hash\n        action: hashmod\n      - source_labels: [__tmp_hash]\n        regex: '{shard}'\n        action: keep\nremote_write:\n  - url: http://{vm}/api/v1/write\n    queue_config:\n      batch_send_deadline: 500ms\n",
                list.join(", ")
            ),
        )
        .unwrap();
        let addr = free_addr();
        let k = spawn(
            addr,
            &dir.path().join(name),
            &[
                "--agent",
                "--storage.agent.path",
                dir.path().join(name).to_str().unwrap(),
                "--config.file",
                cfg.to_str().unwrap(),
            ],
        );
        agents.push((addr, k));
    }
    // An agent answers no query.
    let (status, body) = http(agents[0].0, "GET", "/api/v1/query?query=up", "").unwrap();
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("\"errorType\":\"execution\""), "{body}");
    let targets = json(agents[0].0, "/api/v1/targets");
    let active = targets["data"]["activeTargets"].as_array().unwrap().len();
    assert!(
        (20..=80).contains(&active),
        "agent a scrapes {active} of 100"
    );
    std::thread::sleep(Duration::from_secs(4));
    for (_, k) in agents {
        stop(k);
    }
    vm_flush(vm);
    let all = vm_samples(vm, "{job=\"fleet\"}");
    // Every target's series, each from exactly one agent.
    let mut by_target: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for k in all.keys() {
        let m: BTreeMap<String, String> = k
            .trim_matches(|c| c == '{' || c == '}')
            .split(", ")
            .filter_map(|p| {
                let (a, b) = p.split_once(": ")?;
                Some((
                    a.trim_matches('"').to_string(),
                    b.trim_matches('"').to_string(),
                ))
            })
            .collect();
        by_target
            .entry(m["instance"].clone())
            .or_default()
            .insert(m["agent"].clone());
    }
    assert_eq!(by_target.len(), 100, "the union is every target");
    let twice: Vec<_> = by_target.iter().filter(|(_, a)| a.len() != 1).collect();
    assert!(twice.is_empty(), "targets sent by both agents: {twice:?}");
    let per_agent: BTreeMap<&str, usize> = by_target.values().fold(BTreeMap::new(), |mut m, a| {
        *m.entry(a.iter().next().unwrap().as_str()).or_default() += 1;
        m
    });
    assert_eq!(per_agent.len(), 2, "{per_agent:?}");
}

#[test]
fn an_agent_refuses_rules_and_the_alerter() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("p.yml");
    std::fs::write(&cfg, "rule_files: ['r.yml']\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_watchfire"))
        .args(["--agent", "--config.file", cfg.to_str().unwrap()])
        .args([
            "--storage.agent.path",
            dir.path().join("d").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("field rule_files is not allowed in agent mode"),
        "{err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_watchfire"))
        .args(["--agent", "--alertmanager.config.file", "am.yml"])
        .args([
            "--storage.agent.path",
            dir.path().join("d").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not allowed in agent mode"), "{err}");
}

#[test]
fn prometheus_reads_watchfire_through_remote_read() {
    if !installed("prometheus", "prometheus") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let wf_addr = free_addr();
    let wf_cfg = dir.path().join("wf.yml");
    std::fs::write(
        &wf_cfg,
        format!("global:\n  scrape_interval: 1s\n  external_labels:\n    site: here\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['{wf_addr}']\n"),
    )
    .unwrap();
    let wf = spawn(
        wf_addr,
        &dir.path().join("wf"),
        &["--config.file", wf_cfg.to_str().unwrap()],
    );
    wait_for(Duration::from_secs(30), "five scrapes", || {
        count(wf_addr, "up{job=\"self\"}") >= 5
    });
    let prom = free_addr();
    let cfg = dir.path().join("prom.yml");
    std::fs::write(
        &cfg,
        format!("remote_read:\n  - url: http://{wf_addr}/api/v1/read\n    read_recent: true\n"),
    )
    .unwrap();
    let p = prometheus(prom, &cfg, &dir.path().join("prom"), &[]);
    let ours = watchfire_samples(wf_addr, "{job=\"self\"}", &[("site", "here")]);
    let theirs = watchfire_samples(prom, "{job=\"self\"}", &[]);
    drop(p);
    drop(wf);
    let mut compared = 0;
    for (k, samples) in &ours {
        let got = theirs.get(k).unwrap_or_else(|| {
            panic!(
                "{k} not read by Prometheus; it has {:?}",
                theirs.keys().take(3).collect::<Vec<_>>()
            )
        });
        for (t, bits) in samples {
            // Samples written after Prometheus read are not expected.
            if let Some(b) = got.get(t) {
                assert_eq!(b, bits, "{k} at {t}");
                compared += 1;
            }
        }
    }
    assert!(compared > 200, "{compared}");
}

#[test]
fn remote_read_streams_xor_chunks_when_asked() {
    use remote::proto::{ChunkedReadResponse, LabelMatcher, Query, ReadRequest};
    let dir = tempfile::tempdir().unwrap();
    let s = receiving(dir.path());
    let now = model::time::now_ms();
    let samples: Vec<(i64, f64)> = (0..300)
        .map(|i| (now - 300_000 + i * 1000, i as f64 * 0.5))
        .collect();
    let (st, _) = post_write(
        s.addr,
        &encode(vec![series(
            &[("__name__", "streamed"), ("job", "rr")],
            &samples,
        )]),
    );
    assert_eq!(st, 204);
    let req = ReadRequest {
        queries: vec![Query {
            start_timestamp_ms: now - 3_600_000,
            end_timestamp_ms: now,
            matchers: vec![LabelMatcher {
                r#type: 0,
                name: "__name__".into(),
                value: "streamed".into(),
            }],
            hints: None,
        }],
        accepted_response_types: vec![1],
    };
    let body = remote::receive::snappy(&req.encode_to_vec());
    let mut c = TcpStream::connect(s.addr).unwrap();
    write!(
        c,
        "POST /api/v1/read HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\nX-Prometheus-Remote-Read-Version: 0.1.0\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    c.write_all(&body).unwrap();
    let mut raw = Vec::new();
    c.read_to_end(&mut raw).unwrap();
    let head =
        String::from_utf8_lossy(&raw[..raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap()])
            .to_string();
    assert!(
        head.contains("application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse"),
        "{head}"
    );
    let (status, body) = common::parse_response_bytes(&raw);
    assert_eq!(status, 200);
    // Frames: uvarint length, CRC-32C big-endian, message.
    let mut rest = &body[..];
    let mut chunks = Vec::new();
    while !rest.is_empty() {
        let (mut len, mut shift, mut i) = (0usize, 0, 0);
        loop {
            let b = rest[i];
            len |= ((b & 0x7f) as usize) << shift;
            i += 1;
            if b < 0x80 {
                break;
            }
            shift += 7;
        }
        let crc = u32::from_be_bytes(rest[i..i + 4].try_into().unwrap());
        let msg = &rest[i + 4..i + 4 + len];
        assert_eq!(remote::read::crc32c(msg), crc);
        let frame = ChunkedReadResponse::decode(msg).unwrap();
        for s in frame.chunked_series {
            assert!(s.labels.iter().any(|l| l.name == "job" && l.value == "rr"));
            chunks.extend(s.chunks);
        }
        rest = &rest[i + 4 + len..];
    }
    assert_eq!(chunks.len(), 3, "300 samples, 120 a chunk");
    assert_eq!(chunks[0].min_time_ms, samples[0].0);
    assert_eq!(chunks[2].max_time_ms, samples[299].0);
    let n: usize = chunks
        .iter()
        .map(|c| u16::from_be_bytes([c.data[0], c.data[1]]) as usize)
        .sum();
    assert_eq!(n, 300);
    for c in &chunks {
        assert_eq!(c.r#type, 1, "XOR");
    }
}

#[test]
fn late_samples_within_the_out_of_order_window_are_received_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("p.yml");
    std::fs::write(
        &cfg,
        "storage:\n  tsdb:\n    out_of_order_time_window: 1h\nscrape_configs: []\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let addr = free_addr();
    let args = [
        "--config.file",
        cfg.to_str().unwrap(),
        "--web.enable-remote-write-receiver",
    ];
    let wf = spawn(addr, &data, &args);
    let now = model::time::now_ms();
    let name = [("__name__", "late"), ("job", "agent")];
    let (st, _) = post_write(addr, &encode(vec![series(&name, &[(now, 1.0)])]));
    assert_eq!(st, 204);
    // 59 minutes late, then 30: both within the window.
    let (st, body) = post_write(
        addr,
        &encode(vec![series(
            &name,
            &[(now - 59 * 60_000, 2.0), (now - 30 * 60_000, 3.0)],
        )]),
    );
    assert_eq!(st, 204, "{body}");
    // 61 minutes late: refused and counted.
    let (st, body) = post_write(
        addr,
        &encode(vec![series(&name, &[(now - 61 * 60_000, 4.0)])]),
    );
    assert_eq!(st, 400, "{body}");
    common::assert_metrics(
        addr,
        "prometheus_tsdb_out_of_order_samples_total{type=\"float\"} 1",
    );
    let want = [now - 59 * 60_000, now - 30 * 60_000, now];
    let got = |addr| -> Vec<i64> {
        let s = watchfire_samples(addr, "late", &[]);
        s.values()
            .next()
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default()
    };
    assert_eq!(got(addr), want);
    // Through a SIGKILL (WAL replay) and a clean stop (flushed).
    kill9(wf);
    let wf = spawn(addr, &data, &args);
    assert_eq!(got(addr), want, "after SIGKILL");
    stop(wf);
    let wf = spawn(addr, &data, &args);
    assert_eq!(got(addr), want, "after a clean stop");
    drop(wf);
}

#[test]
fn a_prometheus_agent_remote_writes_into_watchfire() {
    if !installed("prometheus", "prometheus") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let wf = receiving(&dir.path().join("wf"));
    let list: Vec<String> = targets(5).iter().map(|a| format!("'{a}'")).collect();
    let cfg = dir.path().join("agent.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: fleet\n    static_configs:\n      - targets: [{}]\nremote_write:\n  - url: http://{}/api/v1/write\n    queue_config:\n      batch_send_deadline: 500ms\n",
            list.join(", "),
            wf.addr
        ),
    )
    .unwrap();
    let prom = free_addr();
    let child = Command::new("prometheus")
        .arg("--enable-feature=agent")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--web.listen-address={prom}"))
        .arg(format!(
            "--storage.agent.path={}",
            dir.path().join("agent").display()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _agent = Killed(child);
    wait_for(
        Duration::from_secs(60),
        "five scrapes of every target to arrive",
        || {
            let up = watchfire_samples(wf.addr, "up{job=\"fleet\"}", &[]);
            up.len() == 5 && up.values().all(|s| s.len() >= 5)
        },
    );
    // What the targets serve arrives exactly: m{target="i"} is i.
    let m = watchfire_samples(wf.addr, "m{job=\"fleet\"}", &[]);
    assert_eq!(m.len(), 5);
    for (k, samples) in &m {
        let i: f64 = k
            .split("\"target\": \"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap()
            .parse()
            .unwrap();
        assert!(samples.values().all(|b| f64::from_bits(*b) == i), "{k}");
        // One sample a second: the scrape interval, nothing twice.
        let ts: Vec<&i64> = samples.keys().collect();
        for w in ts.windows(2) {
            let gap = w[1] - w[0];
            assert!((900..=1100).contains(&gap), "{k}: gap {gap} ms");
        }
    }
}

#[test]
fn watchfire_to_watchfire_is_bit_exact() {
    // The receiving end keeps float bits as they are, so this shows what
    // the wire carries, values VictoriaMetrics rounds included.
    let dir = tempfile::tempdir().unwrap();
    let sink = receiving(&dir.path().join("sink"));
    let addr = free_addr();
    let cfg = dir.path().join("p.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['{addr}']\nremote_write:\n  - url: http://{}/api/v1/write\n    queue_config:\n      batch_send_deadline: 200ms\n",
            sink.addr
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let wf = spawn(addr, &data, &["--config.file", cfg.to_str().unwrap()]);
    std::thread::sleep(Duration::from_secs(4));
    stop(wf);
    let wf = spawn(addr, &data, &[]);
    let ours = watchfire_samples(addr, "{job=\"self\"}", &[]);
    drop(wf);
    let theirs = watchfire_samples(sink.addr, "{job=\"self\"}", &[]);
    assert_eq!(ours.len(), theirs.len(), "series sets");
    let mut n = 0;
    for (k, samples) in &ours {
        assert_eq!(Some(samples), theirs.get(k), "{k}");
        n += samples.len();
    }
    let big = ours
        .keys()
        .any(|k| k.contains("process_virtual_memory_max_bytes"));
    assert!(big && n > 100, "{n} samples");
}
