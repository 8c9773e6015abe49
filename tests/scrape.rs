//! Bad targets, each scraped by the real binary from a server in this test:
//! every one gives `up` 0 (or what Prometheus does), its reason shows in
//! `/api/v1/targets` `lastError`, and the healthy target next to them is
//! unaffected. Also: a bad configuration on reload is refused and the old
//! one keeps running; file and HTTP discovery follow their sources and keep
//! the last good targets when a source breaks.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;

/// Serves the bad (and one good) exposition endpoints on 127.0.0.1.
fn serve_targets() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            std::thread::spawn(move || answer(conn));
        }
    });
    addr
}

fn answer(mut c: TcpStream) {
    let mut line = String::new();
    let mut r = BufReader::new(c.try_clone().unwrap());
    if r.read_line(&mut line).is_err() {
        return;
    }
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
            break;
        }
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let text = |body: Vec<u8>| (200, "text/plain; version=0.0.4", None, body);
    let (status, ctype, encoding, body): (u16, &str, Option<&str>, Vec<u8>) = match path.as_str() {
        "/ok" => text(b"# TYPE good gauge\ngood{kind=\"a\"} 1\ngood{kind=\"b\"} 2\n".to_vec()),
        "/notfound" => (404, "text/plain", None, b"nope".to_vec()),
        "/garbage" => text(b"this is { not an exposition\n".to_vec()),
        "/big" => text(format!("big{{v=\"{}\"}} 1\n", "x".repeat(20_000)).into_bytes()),
        "/gzipbomb" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            for _ in 0..64 {
                e.write_all(&[b'a'; 1 << 20]).unwrap();
            }
            (
                200,
                "text/plain; version=0.0.4",
                Some("gzip"),
                e.finish().unwrap(),
            )
        }
        "/many" => text(
            (0..20)
                .map(|i| format!("many{{i=\"{i}\"}} {i}\n"))
                .collect::<String>()
                .into_bytes(),
        ),
        "/dup" => text(b"dup{a=\"1\"} 1\ndup{a=\"1\"} 2\nother 3\n".to_vec()),
        "/badutf8" => text(b"bad{v=\"\xff\xfe\"} 1\n".to_vec()),
        "/notype" => (200, "", None, b"notype 1\n".to_vec()),
        "/json" => (200, "application/json", None, b"{}\n".to_vec()),
        "/slow" => {
            std::thread::sleep(Duration::from_secs(3));
            text(b"slow 1\n".to_vec())
        }
        _ => (404, "text/plain", None, Vec::new()),
    };
    let mut head = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if !ctype.is_empty() {
        head.push_str(&format!("Content-Type: {ctype}\r\n"));
    }
    if let Some(e) = encoding {
        head.push_str(&format!("Content-Encoding: {e}\r\n"));
    }
    head.push_str("\r\n");
    let _ = c.write_all(head.as_bytes());
    let _ = c.write_all(&body);
}

fn http(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    common::http(addr, method, path, "").unwrap()
}

fn targets(addr: SocketAddr) -> Vec<Value> {
    let (_, body) = http(addr, "GET", "/api/v1/targets");
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    v["data"]["activeTargets"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn job(t: &[Value], name: &str) -> Value {
    t.iter()
        .find(|x| x["scrapePool"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no target for job {name}: {t:?}"))
}

fn config(targets: SocketAddr, refused: SocketAddr) -> String {
    let mut c =
        String::from("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n");
    for (job, path, extra) in [
        ("ok", "/ok", ""),
        ("notfound", "/notfound", ""),
        ("garbage", "/garbage", ""),
        ("big", "/big", "    body_size_limit: 1KB\n"),
        ("gzipbomb", "/gzipbomb", "    body_size_limit: 1MB\n"),
        ("many", "/many", "    sample_limit: 5\n"),
        ("dup", "/dup", ""),
        ("badutf8", "/badutf8", ""),
        ("slow", "/slow", ""),
        ("notype", "/notype", ""),
        (
            "notype_fallback",
            "/notype",
            "    fallback_scrape_protocol: PrometheusText0.0.4\n",
        ),
        ("json", "/json", ""),
    ] {
        c.push_str(&format!("  - job_name: {job}\n    metrics_path: {path}\n{extra}    static_configs: [{{targets: ['{targets}']}}]\n"));
    }
    c.push_str(&format!(
        "  - job_name: refused\n    static_configs: [{{targets: ['{refused}']}}]\n"
    ));
    c
}

#[test]
fn bad_targets_fail_alone_with_reasons() {
    let targets_addr = serve_targets();
    let refused = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, config(targets_addr, refused)).unwrap();
    let server = common::start(&dir.path().join("data"), Some(&cfg), &[]);
    let addr = server.addr;
    // Every target scraped at least once (the loops run on their own clock).
    let start = Instant::now();
    let t = loop {
        if let Ok(mut s) = TcpStream::connect(addr) {
            let _ = s.write_all(b"");
            let t = targets(addr);
            if t.len() == 13 && t.iter().all(|x| x["health"] != "unknown") {
                break t;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "targets never all scraped"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // (job, health, lastError fragment)
    let want = [
        ("ok", "up", ""),
        ("notfound", "down", "HTTP status 404"),
        ("garbage", "down", "line 1"),
        ("big", "down", "body size limit exceeded"),
        ("gzipbomb", "down", "body size limit exceeded"),
        ("many", "down", "sample limit exceeded"),
        ("dup", "up", ""),
        ("badutf8", "down", "UTF-8"),
        ("slow", "down", "deadline exceeded"),
        ("refused", "down", "onnection refused"),
        ("notype", "down", "blank Content-Type"),
        ("notype_fallback", "up", ""),
        (
            "json",
            "down",
            "unsupported Content-Type \"application/json\"",
        ),
    ];
    for (name, health, err) in want {
        let j = job(&t, name);
        let got_err = j["lastError"].as_str().unwrap_or("");
        assert_eq!(j["health"], health, "job {name}: {j}");
        assert!(
            got_err.contains(err),
            "job {name}: lastError {got_err:?} lacks {err:?}"
        );
    }
    // A bad configuration on reload is refused; the old one keeps running.
    std::fs::write(
        &cfg,
        "scrape_configs:\n  - job_name: x\n    scrape_intervall: 1s\n",
    )
    .unwrap();
    let (status, body) = http(addr, "POST", "/-/reload");
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("prometheus.yml:3") && body.contains("scrape_intervall"),
        "reload error lacks file, line and reason: {body}"
    );
    let (_, metrics) = http(addr, "GET", "/metrics");
    assert!(
        metrics.contains("prometheus_config_last_reload_successful 0"),
        "{metrics}"
    );
    assert_eq!(
        targets(addr).len(),
        13,
        "old targets stopped after a failed reload"
    );
    // A good one is taken.
    std::fs::write(&cfg, format!("scrape_configs:\n  - job_name: ok\n    metrics_path: /ok\n    static_configs: [{{targets: ['{targets_addr}']}}]\n")).unwrap();
    let (status, body) = http(addr, "POST", "/-/reload");
    assert_eq!(status, 200, "{body}");
    assert_eq!(targets(addr).len(), 1);
    let (_, metrics) = http(addr, "GET", "/metrics");
    assert!(
        metrics.contains("prometheus_config_last_reload_successful 1"),
        "{metrics}"
    );
}

#[test]
fn file_sd_targets_follow_the_file() {
    let targets_addr = serve_targets();
    let dir = tempfile::tempdir().unwrap();
    let sd = dir.path().join("targets.json");
    std::fs::write(
        &sd,
        format!(r#"[{{"targets": ["{targets_addr}"], "labels": {{"team": "a"}}}}]"#),
    )
    .unwrap();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!("global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: files\n    metrics_path: /ok\n    file_sd_configs: [{{files: ['{}/*.json']}}]\n", dir.path().display()),
    )
    .unwrap();
    let server = common::start(&dir.path().join("data"), Some(&cfg), &[]);
    let addr = server.addr;
    let wait = |n: usize| {
        let start = Instant::now();
        loop {
            if TcpStream::connect(addr).is_ok() {
                let t = targets(addr);
                if t.len() == n && t.iter().all(|x| x["health"] == "up") {
                    return t;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "never {n} healthy file_sd targets"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let t = wait(1);
    assert_eq!(t[0]["labels"]["team"], "a");
    assert!(
        t[0]["discoveredLabels"]["__meta_filepath"]
            .as_str()
            .unwrap_or("")
            .ends_with("targets.json"),
        "{:?}",
        t[0]
    );
    // A second group appears in another file matching the glob.
    std::fs::write(
        dir.path().join("more.json"),
        format!(r#"[{{"targets": ["{targets_addr}"], "labels": {{"team": "b"}}}}]"#),
    )
    .unwrap();
    let t = wait(2);
    let mut teams: Vec<&str> = t
        .iter()
        .filter_map(|x| x["labels"]["team"].as_str())
        .collect();
    teams.sort();
    assert_eq!(teams, ["a", "b"]);
    // A file that turns to garbage keeps its last good targets...
    std::fs::write(dir.path().join("more.json"), "[{").unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(targets(addr).len(), 2, "targets dropped on a read error");
    // ...and a file that is removed takes them with it.
    std::fs::remove_file(dir.path().join("more.json")).unwrap();
    let t = wait(1);
    assert_eq!(t[0]["labels"]["team"], "a");
}

/// Serves `/sd` with whatever `state` holds as (status, content type, body).
fn serve_sd(state: Arc<Mutex<(u16, String, String)>>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            let mut r = BufReader::new(c.try_clone().unwrap());
            let mut head = Vec::new();
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                    break;
                }
                head.push(h.trim_end().to_string());
            }
            let (status, ctype, body) = state.lock().unwrap().clone();
            let seen = head.join("\n").to_ascii_lowercase();
            // Prometheus' request headers, checked on every poll.
            let (status, body) = if seen.contains("accept: application/json")
                && seen.contains("x-prometheus-refresh-interval-seconds: 1")
            {
                (status, body)
            } else {
                (400, format!("unexpected request: {seen}"))
            };
            let _ = write!(
                c,
                "HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

#[test]
fn http_sd_targets_follow_the_answers() {
    let targets_addr = serve_targets();
    let group = |team: &str| {
        format!(r#"{{"targets": ["{targets_addr}"], "labels": {{"team": "{team}"}}}}"#)
    };
    let state = Arc::new(Mutex::new((
        200,
        "application/json".to_string(),
        format!("[{}]", group("a")),
    )));
    let sd = serve_sd(state.clone());
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!("global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: http\n    metrics_path: /ok\n    http_sd_configs: [{{url: 'http://{sd}/sd', refresh_interval: 1s}}]\n"),
    )
    .unwrap();
    let server = common::start(&dir.path().join("data"), Some(&cfg), &[]);
    let addr = server.addr;
    let wait = |teams: &[&str]| {
        let start = Instant::now();
        loop {
            if TcpStream::connect(addr).is_ok() {
                let t = targets(addr);
                let mut got: Vec<String> = t
                    .iter()
                    .filter(|x| x["health"] == "up")
                    .filter_map(|x| x["labels"]["team"].as_str().map(str::to_string))
                    .collect();
                got.sort();
                if got == teams && t.len() == teams.len() {
                    return t;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "never the targets of teams {teams:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let t = wait(&["a"]);
    assert_eq!(
        t[0]["discoveredLabels"]["__meta_url"],
        format!("http://{sd}/sd")
    );
    *state.lock().unwrap() = (
        200,
        "application/json; charset=utf-8".into(),
        format!("[{}, {}]", group("a"), group("b")),
    );
    wait(&["a", "b"]);
    // Failed polls change nothing.
    for bad in [
        (500, "application/json".to_string(), "[]".to_string()),
        (200, "text/plain".to_string(), "[]".to_string()),
        (200, "application/json".to_string(), "[{".to_string()),
    ] {
        *state.lock().unwrap() = bad.clone();
        std::thread::sleep(Duration::from_millis(2500));
        assert_eq!(targets(addr).len(), 2, "targets changed after {bad:?}");
    }
    // An empty answer removes them all.
    *state.lock().unwrap() = (200, "application/json".into(), "[]".into());
    wait(&[]);
}
