//! What the end-to-end tests share: starting the binary on 127.0.0.1
//! with an ephemeral port, a minimal HTTP client, scripted HTTP servers,
//! and the checks on peers and corpora that a test may need first.

#![allow(dead_code)]

pub mod webdriver;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A child process (the server, or a peer a test runs beside it), killed
/// with SIGKILL on drop.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running `watchfire`; killed on drop.
pub struct Server {
    _child: Killed,
    pub addr: SocketAddr,
}

/// Runs a peer the test talks to (`bin` with `args`), its output
/// discarded.
pub fn peer<S: AsRef<std::ffi::OsStr>>(bin: &str, args: impl IntoIterator<Item = S>) -> Killed {
    let child = Command::new(bin)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{bin}: {e}"));
    Killed(child)
}

/// Whether `bin`, from the Debian package `package`, runs here; when it
/// does not, says so with [`model::ci::skip`] (a failure under CI), and
/// the test returns.
pub fn installed(bin: &str, package: &str) -> bool {
    let found = Command::new(bin)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        model::ci::skip(&format!(
            "{bin} is not installed (Debian package {package}; .ci/run installs it)"
        ));
    }
    found
}

/// The folder `rel` of the shared corpora and the JSON file `file` in it,
/// or `None` after [`model::ci::shared`] said it is not there.
pub fn corpus(rel: &str, file: &str) -> Option<(PathBuf, Value)> {
    let dir = model::ci::shared(rel)?;
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Some((dir, v))
}

/// How a corpus case failed: one line on what is wrong, and what the
/// command printed.
pub struct Failure {
    pub problem: String,
    pub printed: String,
}

/// Runs `check` on each `section` case of the promtool corpus
/// (`conformance/promtool/cases.json`, each case named by its
/// `upstream_test`; `check` gets the corpus folder too) and compares the
/// failures with the reviewed list `known`, `(case, reason)`: a known
/// failure is printed, any other fails the test. Returns at once, after
/// [`model::ci::shared`] said so, when the corpus is not there.
pub fn promtool_cases(
    section: &str,
    known: &[(&str, &str)],
    mut check: impl FnMut(&Path, &Value) -> Result<(), Failure>,
) {
    let Some((dir, cases)) = corpus("conformance/promtool", "cases.json") else {
        return;
    };
    let cases = cases[section].as_array().unwrap();
    let (mut passed, mut not_yet, mut unexpected) = (0, Vec::new(), Vec::new());
    for c in cases {
        let name = c["upstream_test"].as_str().unwrap();
        let Err(f) = check(&dir, c) else {
            passed += 1;
            continue;
        };
        match known.iter().find(|(k, _)| *k == name) {
            Some((_, why)) => not_yet.push(format!("{name}: {} (known: {why})", f.problem)),
            None => unexpected.push(format!("{name}: {}\n{}", f.problem, f.printed)),
        }
    }
    println!("{section}: {passed} of {} cases as promtool", cases.len());
    for k in &not_yet {
        println!("  not yet: {k}");
    }
    assert!(unexpected.is_empty(), "{}", unexpected.join("\n"));
}

/// Asserts that what fails is exactly the reviewed list `list` (a path
/// in the checkout, read with [`model::ci::known_failures`]): one
/// regression, or one listed case that passes again, fails the test.
pub fn assert_known_failures(list: &str, failing: &BTreeSet<String>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(list);
    let known: BTreeSet<String> = model::ci::known_failures(&path).into_keys().collect();
    let unexpected: Vec<&String> = failing.difference(&known).collect();
    let fixed: Vec<&String> = known.difference(failing).collect();
    assert!(
        unexpected.is_empty() && fixed.is_empty(),
        "failing but not on {list}: {unexpected:?}; \
         listed but passing (remove them from the list): {fixed:?}"
    );
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
    start_under(addr, "", data, config, extra)
}

/// [`start_at`] for a server whose route prefix is `prefix` (the path of
/// its `--web.external-url`, given in `extra`).
pub fn start_under(
    addr: SocketAddr,
    prefix: &str,
    data: &Path,
    config: Option<&Path>,
    extra: &[&str],
) -> Server {
    let mut cmd = command(addr, data);
    if let Some(c) = config {
        cmd.arg("--config.file").arg(c);
    }
    launch(cmd.args(extra), addr, Stdio::null(), prefix)
}

/// Writes `am` as `dir/am.yml` and starts the server at `addr` over
/// `dir/data` with its alerter on that file (and `config` as for
/// [`start_at`]).
pub fn start_alerter(addr: SocketAddr, dir: &Path, config: Option<&Path>, am: &str) -> Server {
    let path = dir.join("am.yml");
    std::fs::write(&path, am).unwrap();
    let flags = ["--alertmanager.config.file", path.to_str().unwrap()];
    start_at(addr, &dir.join("data"), config, &flags)
}

/// [`start_at`] with the flags in `args` only, the server's log (its
/// standard error) written to `log`.
pub fn start_logged(addr: SocketAddr, data: &Path, args: &[&str], log: &Path) -> Server {
    let log = std::fs::File::create(log).unwrap();
    launch(command(addr, data).args(args), addr, log.into(), "")
}

fn command(addr: SocketAddr, data: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_watchfire"));
    cmd.arg("--web.listen-address")
        .arg(addr.to_string())
        .arg("--storage.tsdb.path")
        .arg(data);
    cmd
}

fn launch(cmd: &mut Command, addr: SocketAddr, stderr: Stdio, prefix: &str) -> Server {
    let child = cmd.stdout(Stdio::null()).stderr(stderr).spawn().unwrap();
    let s = Server {
        _child: Killed(child),
        addr,
    };
    wait_for(Duration::from_secs(20), "server to listen", || {
        http(addr, "GET", &format!("{prefix}/-/ready"), "").is_ok_and(|r| r.0 == 200)
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

/// A GET's status and body as bytes, for images.
#[allow(dead_code)]
pub fn get_bytes(addr: SocketAddr, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(parse_response_bytes(&out))
}

/// Status and body of a raw HTTP/1.1 response, the body de-chunked as
/// bytes and only then read as text (a chunk boundary may fall inside a
/// UTF-8 character).
pub fn parse_response(raw: &[u8]) -> (u16, String) {
    let (status, body) = parse_response_bytes(raw);
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Status and de-chunked body of a raw HTTP/1.1 response.
pub fn parse_response_bytes(raw: &[u8]) -> (u16, Vec<u8>) {
    let status = raw
        .get(9..12)
        .and_then(|c| std::str::from_utf8(c).ok())
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return (status, Vec::new());
    };
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    let body = &raw[end + 4..];
    let body = if head.contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_vec()
    };
    (status, body)
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

/// The server's `/metrics` page, asserted to contain `want` (the page is
/// printed when it does not).
pub fn assert_metrics(addr: SocketAddr, want: &str) -> String {
    let page = http(addr, "GET", "/metrics", "").unwrap().1;
    assert!(page.contains(want), "/metrics lacks {want:?}:\n{page}");
    page
}

/// [`json`] for a server that may not answer yet: `None` when it does
/// not, or not with JSON.
pub fn try_json(addr: SocketAddr, path: &str) -> Option<Value> {
    let (_, body) = http(addr, "GET", path, "").ok()?;
    serde_json::from_str(&body).ok()
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
    /// An alertmanager.yml that routes every alert to this webhook;
    /// `route` holds the route's other keys as YAML flow entries
    /// (`group_wait: 0s, group_interval: 1s`).
    pub fn alertmanager_yml(&self, route: &str) -> String {
        format!(
            "route: {{receiver: hook, {route}}}\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: http://{}/\n",
            self.addr
        )
    }

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
                let Some(req) = read_request(&s) else {
                    continue;
                };
                if fail.load(std::sync::atomic::Ordering::SeqCst) {
                    let _ = s.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    continue;
                }
                let body = req.body.clone();
                keep_req.lock().unwrap().push(req);
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

/// Reads one request whole: the request line, the headers (names lower
/// case) and a body of Content-Length bytes. `None` when not even the
/// request line arrives.
fn read_request(c: &TcpStream) -> Option<Request> {
    let mut r = BufReader::new(c.try_clone().ok()?);
    let mut first = String::new();
    r.read_line(&mut first).ok()?;
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
    Some(Request {
        method: parts.next().unwrap_or("").to_string(),
        path: parts.next().unwrap_or("").to_string(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
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
                let Some(req) = read_request(&c) else {
                    return;
                };
                let path = req.path.clone();
                keep.lock().unwrap().push(req);
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

/// Answers 200 with a chunked body of `n` copies of `chunk`, so that a
/// size limit is found while reading, not from a Content-Length; `extra`
/// holds more header lines.
pub fn reply_chunked(c: &mut TcpStream, extra: &str, chunk: &str, n: usize) {
    let _ = write!(
        c,
        "HTTP/1.1 200 OK\r\n{extra}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    for _ in 0..n {
        if write!(c, "{:x}\r\n{chunk}\r\n", chunk.len()).is_err() {
            return;
        }
    }
    let _ = c.write_all(b"0\r\n\r\n");
}

/// Answers 200 with a body of 100 bytes sent one every 100 ms, past any
/// timeout a test sets; `extra` holds more header lines.
pub fn reply_dripping(c: &mut TcpStream, extra: &str) {
    let _ = write!(
        c,
        "HTTP/1.1 200 OK\r\n{extra}Content-Length: 100\r\nConnection: close\r\n\r\n"
    );
    for _ in 0..100 {
        if c.write_all(b"#").is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The answer (`acknowledged`, `snoozed`, …) of the alert group whose
/// `alertname` is `name`, as `/api/v2/alerts/groups` shows it; null when
/// it has none.
pub fn group_answer(addr: SocketAddr, name: &str) -> Value {
    json(addr, "/api/v2/alerts/groups")
        .as_array()
        .into_iter()
        .flatten()
        .find(|g| g["labels"]["alertname"] == name)
        .map(|g| g["answer"].clone())
        .unwrap_or(Value::Null)
}

/// Whether `/metrics` counts a chat callback refused for `reason`.
pub fn refused(addr: SocketAddr, chat: &str, reason: &str) -> bool {
    http(addr, "GET", "/metrics", "")
        .unwrap()
        .1
        .contains(&format!(
            "watchfire_chatops_requests_refused_total{{chat=\"{chat}\",reason=\"{reason}\"}}"
        ))
}

/// Starts the server at `addr` over `dir/data`, with an empty
/// `prometheus.yml`, its alerter on `am` and the ChatOps file `chatops`.
pub fn start_chatops(addr: SocketAddr, dir: &Path, am: &Path, chatops: &Path) -> Server {
    let prom = dir.join("prometheus.yml");
    std::fs::write(&prom, "").unwrap();
    let args = [
        "--alertmanager.config.file",
        am.to_str().unwrap(),
        "--chatops.config.file",
        chatops.to_str().unwrap(),
    ];
    start_at(addr, &dir.join("data"), Some(&prom), &args)
}

/// What `amtool silence query -o extended [matchers]` prints against the
/// server at `addr`; `None` when amtool is not installed (a failure under
/// `CI=true`).
#[allow(dead_code)]
pub fn amtool_silences(addr: SocketAddr, matchers: &[&str]) -> Option<String> {
    if !installed("amtool", "prometheus-alertmanager") {
        return None;
    }
    let out = Command::new("amtool")
        .arg(format!("--alertmanager.url=http://{addr}"))
        .args(["silence", "query", "-o", "extended"])
        .args(matchers)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "amtool: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(text)
}

/// POSTs `body` to `path` as `content_type` with extra `headers`, as a
/// chat's callback comes (the body may be refused before it is all
/// read); the status and the answer's text.
#[allow(dead_code)]
pub fn post_as(
    addr: SocketAddr,
    path: &str,
    content_type: &str,
    body: &[u8],
    headers: &[(&str, String)],
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    let _ = s.write_all(body);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    parse_response(&out)
}

/// Expires silence `id` through the API (a silenced group sends no
/// resolved notice, as in Alertmanager).
#[allow(dead_code)]
pub fn expire_silence(addr: SocketAddr, id: &str) {
    let (status, text) = http(addr, "DELETE", &format!("/api/v2/silence/{id}"), "").unwrap();
    assert_eq!(status, 200, "{text}");
}
