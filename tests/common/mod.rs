//! What the end-to-end tests share: starting the binary on 127.0.0.1
//! with an ephemeral port, and a minimal HTTP client.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running `watchfire`; killed on drop.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Starts the server on a free port over `data`, with `extra` flags, and
/// waits until it is ready.
pub fn start(data: &Path, config: Option<&Path>, extra: &[&str]) -> Server {
    start_at(free_addr(), data, config, extra)
}

/// [`start`] on a chosen address.
pub fn start_at(addr: SocketAddr, data: &Path, config: Option<&Path>, extra: &[&str]) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_watchfire"));
    cmd.arg("--web.listen-address")
        .arg(addr.to_string())
        .arg("--storage.tsdb.path")
        .arg(data);
    if let Some(c) = config {
        cmd.arg("--config.file").arg(c);
    }
    cmd.args(extra);
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
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(parse_response(&out))
}

/// Status and body of a raw HTTP/1.1 response, the body de-chunked as
/// bytes and only then read as text (a chunk boundary may fall inside a
/// UTF-8 character).
pub fn parse_response(raw: &[u8]) -> (u16, String) {
    let status = raw
        .get(9..12)
        .and_then(|c| std::str::from_utf8(c).ok())
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return (status, String::new());
    };
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    let body = &raw[end + 4..];
    let body = if head.contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_vec()
    };
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Undoes chunked transfer encoding; stops at the last chunk or at the
/// first malformed one.
fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&rest[..eol]).unwrap_or("");
        // Chunk extensions follow a ';'.
        let size = size.split(';').next().unwrap_or("").trim();
        let Ok(n) = usize::from_str_radix(size, 16) else {
            break;
        };
        let data = &rest[eol + 2..];
        if n == 0 || data.len() < n {
            break;
        }
        out.extend_from_slice(&data[..n]);
        rest = data[n..].strip_prefix(b"\r\n").unwrap_or(&data[n..]);
    }
    out
}

/// Posts a JSON body; the raw response (status line, headers and body).
pub fn post_json(addr: SocketAddr, path: &str, body: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

pub fn json(addr: SocketAddr, path: &str) -> Value {
    let (status, body) = http(addr, "GET", path, "").unwrap();
    serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("GET {path}: status {status}, {e}: {body}"))
}

/// Polls `cond` until it holds or `limit` passes (the scrape loop runs on
/// its own clock; there is nothing to inject here).
pub fn wait_for(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `watchfire import FILE` into `data`, returning its standard output;
/// panics with the importer's error.
pub fn import(file: &Path, data: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_watchfire"))
        .arg("import")
        .arg(file)
        .arg("--storage.tsdb.path")
        .arg(data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "import {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// A webhook receiver on 127.0.0.1 that keeps every request body it
/// accepts; while `failing` is set it answers 503 and keeps nothing.
pub struct Webhook {
    pub addr: SocketAddr,
    pub bodies: Arc<Mutex<Vec<String>>>,
    /// Every accepted request: method and path, headers (names lower
    /// case) and body.
    pub requests: Arc<Mutex<Vec<Request>>>,
    /// The body of each 200 answer (empty by default).
    pub reply: Arc<Mutex<String>>,
    pub failing: Arc<std::sync::atomic::AtomicBool>,
}

/// A request a [`Webhook`] accepted.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

impl Webhook {
    pub fn start() -> Webhook {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let reply = Arc::new(Mutex::new(String::new()));
        let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (keep, fail) = (bodies.clone(), failing.clone());
        let (keep_req, answer) = (requests.clone(), reply.clone());
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut len = 0;
                let mut first = String::new();
                let _ = r.read_line(&mut first);
                let mut headers = Vec::new();
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':') {
                        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; len];
                let _ = r.read_exact(&mut body);
                if fail.load(std::sync::atomic::Ordering::SeqCst) {
                    let _ = s.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    continue;
                }
                let body = String::from_utf8_lossy(&body).into_owned();
                let mut parts = first.split_whitespace();
                keep_req.lock().unwrap().push(Request {
                    method: parts.next().unwrap_or("").to_string(),
                    path: parts.next().unwrap_or("").to_string(),
                    headers,
                    body: body.clone(),
                });
                keep.lock().unwrap().push(body);
                let text = answer.lock().unwrap().clone();
                let _ = s.write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                        text.len()
                    )
                    .as_bytes(),
                );
            }
        });
        Webhook {
            addr,
            bodies,
            requests,
            reply,
            failing,
        }
    }
}

/// How a scripted test server answers a request for a path.
pub type Answer = Arc<dyn Fn(&str, &mut TcpStream) + Send + Sync>;
/// Every request a scripted test server saw.
pub type Log = Arc<Mutex<Vec<Request>>>;

/// Serves on `ip` (port chosen by the system), one thread per
/// connection, reading each request whole and keeping what it saw.
pub fn serve(ip: &str, answer: Answer) -> (SocketAddr, Log) {
    let l = TcpListener::bind((ip, 0)).unwrap();
    let addr = l.local_addr().unwrap();
    let seen: Log = Arc::new(Mutex::new(Vec::new()));
    let keep = seen.clone();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            let (answer, keep) = (answer.clone(), keep.clone());
            std::thread::spawn(move || {
                let mut r = BufReader::new(c.try_clone().unwrap());
                let mut first = String::new();
                if r.read_line(&mut first).is_err() {
                    return;
                }
                let mut headers = Vec::new();
                let mut len = 0;
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        let k = k.trim().to_ascii_lowercase();
                        if k == "content-length" {
                            len = v.trim().parse().unwrap_or(0);
                        }
                        headers.push((k, v.trim().to_string()));
                    }
                }
                let mut body = vec![0; len];
                let _ = r.read_exact(&mut body);
                let mut parts = first.split_whitespace();
                let method = parts.next().unwrap_or("").to_string();
                let path = parts.next().unwrap_or("").to_string();
                keep.lock().unwrap().push(Request {
                    method,
                    path: path.clone(),
                    headers,
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
                answer(&path, &mut c);
            });
        }
    });
    (addr, seen)
}

/// Writes one whole HTTP/1.1 answer.
pub fn reply(c: &mut TcpStream, status: &str, extra: &str, body: &[u8]) {
    let _ = write!(
        c,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
        body.len()
    );
    let _ = c.write_all(body);
}
