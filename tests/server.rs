//! The server end to end: the binary on 127.0.0.1 with an ephemeral port
//! and a temporary data directory, scraping targets served by this test.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn start(data: &Path, config: Option<&Path>) -> Server {
    let addr = free_addr();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_watchfire"));
    cmd.arg("--web.listen-address")
        .arg(addr.to_string())
        .arg("--storage.tsdb.path")
        .arg(data);
    if let Some(c) = config {
        cmd.arg("--config.file").arg(c);
    }
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let s = Server { child, addr };
    wait_for(Duration::from_secs(20), "server to listen", || {
        http(addr, "GET", "/-/ready", "")
            .map(|r| r.0 == 200)
            .unwrap_or(false)
    });
    s
}

/// A minimal HTTP/1.1 client: (status, body).
fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    // Undo chunked transfer encoding if present.
    let body = if text
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(&body)
    } else {
        body
    };
    Ok((status, body))
}

fn dechunk(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

fn json(addr: SocketAddr, path: &str) -> Value {
    let (status, body) = http(addr, "GET", path, "").unwrap();
    serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("GET {path}: status {status}, {e}: {body}"))
}

/// Polls `cond` until it holds or `limit` passes (the scrape loop runs on
/// its own clock; there is nothing to inject here).
fn wait_for(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn default_config_scrapes_itself() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), None);
    wait_for(Duration::from_secs(30), "own up series", || {
        let v = json(s.addr, "/api/v1/series?match[]=up");
        v["data"]
            .as_array()
            .is_some_and(|a| a.iter().any(|l| l["job"] == "watchfire"))
    });
    let t = json(s.addr, "/api/v1/targets");
    let active = &t["data"]["activeTargets"][0];
    assert_eq!(active["health"], "up", "targets: {t}");
    assert_eq!(active["labels"]["instance"], s.addr.to_string());
    let names = json(s.addr, "/api/v1/labels");
    assert!(
        names["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "instance"),
        "{names}"
    );
    let values = json(s.addr, "/api/v1/label/__name__/values");
    assert!(
        values["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "watchfire_tsdb_head_series"),
        "{values}"
    );
    // Bad parameters are bad_data with status 400.
    for path in [
        "/api/v1/series",
        "/api/v1/series?match[]=up{",
        "/api/v1/labels?start=x",
        "/api/v1/series?match[]=up&limit=-1",
    ] {
        let (status, body) = http(s.addr, "GET", path, "").unwrap();
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (status, v["errorType"].as_str()),
            (400, Some("bad_data")),
            "{path}: {body}"
        );
    }
    // POST form works like GET.
    let (status, body) = http(s.addr, "POST", "/api/v1/series", "match[]=up").unwrap();
    assert_eq!(status, 200, "{body}");
    // Metadata from HELP and TYPE lines of the scrape.
    let md = json(s.addr, "/api/v1/metadata?metric=watchfire_tsdb_head_series");
    assert_eq!(
        md["data"]["watchfire_tsdb_head_series"][0]["type"], "gauge",
        "{md}"
    );
    let tm = json(s.addr, "/api/v1/targets/metadata?match_target=%7Bjob%3D%22watchfire%22%7D&metric=watchfire_tsdb_head_series");
    assert_eq!(tm["data"][0]["target"]["job"], "watchfire", "{tm}");
    assert_eq!(tm["data"][0]["help"], "Series in the head.", "{tm}");
    // Federation: the newest sample of each selected series, in text.
    let (status, fed) = http(s.addr, "GET", "/federate?match[]=up", "").unwrap();
    assert_eq!(status, 200, "{fed}");
    assert!(
        fed.contains("# TYPE up untyped\nup{instance=") && fed.contains("job=\"watchfire\"} 1 "),
        "{fed}"
    );
    let tsdb = json(s.addr, "/api/v1/status/tsdb");
    assert!(
        tsdb["data"]["headStats"]["numSeries"].as_u64().unwrap_or(0) > 10,
        "{tsdb}"
    );
    assert!(
        tsdb["data"]["seriesCountByMetricName"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
        "{tsdb}"
    );
    let buildinfo = json(s.addr, "/api/v1/status/buildinfo");
    assert_eq!(buildinfo["status"], "success");
}
