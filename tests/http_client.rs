//! Outgoing HTTP of the real binary (through `httpclient`): a scrape
//! target and an HTTP discovery source that redirect to another host
//! (127.0.0.2) never hand it the job's credentials, and a scrape whose
//! body is over the limit or drips past the timeout fails with a reason
//! and `up` 0.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

mod common;

use common::{reply, reply_chunked, reply_dripping, serve};

fn targets(addr: SocketAddr) -> Vec<Value> {
    common::json(addr, "/api/v1/targets")["data"]["activeTargets"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn up(addr: SocketAddr, job: &str) -> Option<String> {
    let q = format!("/api/v1/query?query=up%7Bjob%3D%22{job}%22%7D");
    common::json(addr, &q)["data"]["result"][0]["value"][1]
        .as_str()
        .map(str::to_string)
}

#[test]
fn redirects_to_another_host_carry_no_credentials() {
    // The other host: an exposition and a discovery answer naming itself.
    let other: Arc<Mutex<Option<SocketAddr>>> = Arc::new(Mutex::new(None));
    let me = other.clone();
    let (b, b_seen) = serve(
        "127.0.0.2",
        Arc::new(move |path, c| {
            if path.starts_with("/sd") {
                let addr = me.lock().unwrap().unwrap();
                let body = format!(r#"[{{"targets": ["{addr}"], "labels": {{"via": "sd"}}}}]"#);
                reply(
                    c,
                    "200 OK",
                    "Content-Type: application/json\r\n",
                    body.as_bytes(),
                );
            } else {
                reply(
                    c,
                    "200 OK",
                    "Content-Type: text/plain; version=0.0.4\r\n",
                    b"landed 1\n",
                );
            }
        }),
    );
    *other.lock().unwrap() = Some(b);
    // The origin: redirects everything to the same path on the other host.
    let (a, a_seen) = serve(
        "127.0.0.1",
        Arc::new(move |path, c| {
            let to = format!("Location: http://{b}{path}\r\n");
            reply(c, "302 Found", &to, b"");
        }),
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "file-token\n").unwrap();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global: {{scrape_interval: 1s, scrape_timeout: 1s}}
scrape_configs:
  - job_name: redirected
    basic_auth: {{username: u, password: scrape-password}}
    http_headers: {{X-Secret: {{secrets: [header-secret]}}, X-Plain: {{values: [plain]}}}}
    static_configs: [{{targets: ['{a}']}}]
  - job_name: discovered
    metrics_path: /m
    http_sd_configs:
      - url: 'http://{a}/sd'
        refresh_interval: 1s
        authorization: {{credentials_file: token}}
"
        ),
    )
    .unwrap();
    let server = common::start(&dir.path().join("data"), Some(&cfg), &[]);
    common::wait_for(
        Duration::from_secs(30),
        "both jobs scraped through the redirects",
        || {
            let t = targets(server.addr);
            ["redirected", "discovered"].iter().all(|j| {
                t.iter()
                    .any(|x| x["scrapePool"] == *j && x["health"] == "up")
            })
        },
    );
    let a_seen = a_seen.lock().unwrap().clone();
    let scrape = a_seen.iter().find(|r| r.path == "/metrics").unwrap();
    assert_eq!(
        scrape.header("authorization"),
        Some("Basic dTpzY3JhcGUtcGFzc3dvcmQ=")
    );
    assert_eq!(scrape.header("x-secret"), Some("header-secret"));
    let sd = a_seen.iter().find(|r| r.path == "/sd").unwrap();
    assert_eq!(sd.header("authorization"), Some("Bearer file-token"));
    let b_seen = b_seen.lock().unwrap().clone();
    for p in ["/metrics", "/sd", "/m"] {
        assert!(
            b_seen.iter().any(|r| r.path == p),
            "{p} never reached 127.0.0.2: {b_seen:?}"
        );
    }
    for r in &b_seen {
        for h in ["authorization", "x-secret"] {
            assert_eq!(r.header(h), None, "127.0.0.2 got {h} on {}: {r:?}", r.path);
        }
    }
    let redirected = b_seen.iter().find(|r| r.path == "/metrics").unwrap();
    assert_eq!(
        redirected.header("x-plain"),
        Some("plain"),
        "plain headers follow"
    );
    // The redirected scrape's samples carry the original target.
    let v = common::json(server.addr, "/api/v1/query?query=landed");
    assert_eq!(
        v["data"]["result"][0]["metric"]["instance"],
        a.to_string(),
        "{v}"
    );
}

#[test]
fn oversized_and_dripping_bodies_fail_with_a_reason() {
    let (t, _) = serve(
        "127.0.0.1",
        Arc::new(|path, c| {
            let text = "Content-Type: text/plain; version=0.0.4\r\n";
            match path {
                "/big" => {
                    let line = format!("big{{v=\"{}\"}} 1\n", "x".repeat(500));
                    reply_chunked(c, text, &line, 10);
                }
                "/drip" => reply_dripping(c, text),
                _ => reply(c, "200 OK", text, b"fine 1\n"),
            }
        }),
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global: {{scrape_interval: 2s, scrape_timeout: 1s}}
scrape_configs:
  - job_name: big
    metrics_path: /big
    body_size_limit: 2KB
    static_configs: [{{targets: ['{t}']}}]
  - job_name: drip
    metrics_path: /drip
    static_configs: [{{targets: ['{t}']}}]
  - job_name: fine
    static_configs: [{{targets: ['{t}']}}]
"
        ),
    )
    .unwrap();
    let server = common::start(&dir.path().join("data"), Some(&cfg), &[]);
    let addr = server.addr;
    common::wait_for(Duration::from_secs(30), "every target scraped", || {
        let t = targets(addr);
        t.len() == 3
            && t.iter().all(|x| x["health"] != "unknown")
            && ["big", "drip", "fine"]
                .iter()
                .all(|j| up(addr, j).is_some())
    });
    let t = targets(addr);
    // (job, health, lastError fragment, up)
    for (job, health, err, want_up) in [
        (
            "big",
            "down",
            "body size limit exceeded (body over 2048 bytes)",
            "0",
        ),
        ("drip", "down", "context deadline exceeded", "0"),
        ("fine", "up", "", "1"),
    ] {
        let x = t.iter().find(|x| x["scrapePool"] == job).unwrap();
        let got = x["lastError"].as_str().unwrap_or("");
        assert_eq!(x["health"], health, "job {job}: {x}");
        assert!(
            got.contains(err),
            "job {job}: lastError {got:?} lacks {err:?}"
        );
        assert!(
            !got.contains("/big") && !got.contains("/drip"),
            "job {job}: path in {got:?}"
        );
        assert_eq!(up(addr, job).as_deref(), Some(want_up), "job {job}");
    }
    // Dropping the dripping connection left nothing stuck: the server
    // still answers at once.
    let mut s = TcpStream::connect(addr).unwrap();
    let _ = write!(
        s,
        "GET /-/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    );
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
}
