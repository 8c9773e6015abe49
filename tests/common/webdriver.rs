//! A small WebDriver client (W3C WebDriver, as Debian's `chromedriver`
//! speaks it) for the browser tests: headless Chromium on loopback, pages
//! opened, elements found, typed into and clicked, the console read and
//! screenshots taken.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{free_addr, parse_response, wait_for, Killed};

/// The key under which WebDriver names an element.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A browser session; the driver and the browser end when it is dropped.
pub struct Browser {
    driver: SocketAddr,
    session: String,
    _child: Killed,
}

fn call(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> Value {
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut s = TcpStream::connect(addr).expect("connect to chromedriver");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    // chromedriver keeps the connection open: read up to Content-Length.
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        let n = s.read(&mut buf).unwrap();
        raw.extend_from_slice(&buf[..n]);
        if n == 0 || complete(&raw) {
            break;
        }
    }
    let (status, text) = parse_response(&raw);
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    assert!(status == 200, "{method} {path}: {status} {text}");
    v["value"].clone()
}

/// Whether `raw` holds a whole response with a `Content-Length`.
fn complete(raw: &[u8]) -> bool {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    len.is_some_and(|n| raw.len() >= end + 4 + n)
}

impl Browser {
    /// Starts chromedriver and a headless Chromium at `width`×`height`.
    pub fn start(profile: &Path, width: u32, height: u32) -> Browser {
        let driver = free_addr();
        let child = Command::new("chromedriver")
            .arg(format!("--port={}", driver.port()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let child = Killed(child);
        wait_for(Duration::from_secs(20), "chromedriver", || {
            TcpStream::connect(driver).is_ok()
        });
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    format!("--user-data-dir={}", profile.display()),
                    format!("--window-size={width},{height}"),
                ],
            },
        }}});
        let v = call(driver, "POST", "/session", Some(&caps));
        let session = v["sessionId"].as_str().expect("a session").to_string();
        Browser {
            driver,
            session,
            _child: child,
        }
    }

    fn post(&self, path: &str, body: Value) -> Value {
        let path = format!("/session/{}{path}", self.session);
        call(self.driver, "POST", &path, Some(&body))
    }

    /// Opens `url` and waits for the page to finish drawing.
    pub fn open(&self, url: &str) {
        self.post("/url", json!({ "url": url }));
        self.wait_ready();
    }

    /// Waits until the UI says it has drawn its page (`data-ready`).
    pub fn wait_ready(&self) {
        let start = Instant::now();
        while self.script("return document.body.dataset.ready === '1'") != json!(true) {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "page never ready"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `js` in the page and returns what it returns.
    pub fn script(&self, js: &str) -> Value {
        self.post("/execute/sync", json!({ "script": js, "args": [] }))
    }

    /// The page's HTML as it is now.
    pub fn html(&self) -> String {
        self.script("return document.documentElement.outerHTML")
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn element(&self, css: &str) -> String {
        let v = self.post("/element", json!({"using": "css selector", "value": css}));
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    /// Clicks the first element `css` selects.
    pub fn click(&self, css: &str) {
        let e = self.element(css);
        self.post(&format!("/element/{e}/click"), json!({}));
    }

    /// Replaces the text of the input `css` selects.
    pub fn type_into(&self, css: &str, text: &str) {
        let e = self.element(css);
        self.post(&format!("/element/{e}/clear"), json!({}));
        self.post(&format!("/element/{e}/value"), json!({ "text": text }));
    }

    /// What the console said since the last call, as (level, message).
    pub fn console(&self) -> Vec<(String, String)> {
        let v = self.post("/se/log", json!({"type": "browser"}));
        let list = v.as_array().cloned().unwrap_or_default();
        list.iter()
            .map(|e| {
                let level = e["level"].as_str().unwrap_or("").to_string();
                (level, e["message"].as_str().unwrap_or("").to_string())
            })
            .collect()
    }

    /// Requests of the page now shown (itself included) that failed or
    /// were answered with a status of 400 or more, as `status url`.
    pub fn failed_requests(&self) -> Vec<String> {
        let v = self.script(
            "return performance.getEntries().filter(e => (e.entryType === 'navigation' || e.entryType === 'resource') && (e.responseStatus === 0 || e.responseStatus >= 400)).map(e => e.responseStatus + ' ' + e.name)",
        );
        serde_json::from_value(v).unwrap_or_default()
    }

    /// Sets the window size.
    pub fn resize(&self, width: u32, height: u32) {
        self.post("/window/rect", json!({"width": width, "height": height}));
    }

    /// Writes a PNG of the window to `path`; its size in bytes.
    pub fn screenshot(&self, path: &Path) -> usize {
        let path_s = format!("/session/{}/screenshot", self.session);
        let v = call(self.driver, "GET", &path_s, None);
        use base64::Engine;
        let b64 = v.as_str().unwrap_or_default();
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("a base64 screenshot");
        std::fs::write(path, &png).unwrap();
        png.len()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let path = format!("/session/{}", self.session);
        let _ = std::panic::catch_unwind(|| call(self.driver, "DELETE", &path, None));
    }
}
