//! The web UI is served by the binary: every page, its stylesheet and
//! script, at the root and under the path of `--web.external-url`. (The
//! pages themselves are driven in a real browser by the browser tests.)

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{free_addr, get_bytes, http, start, wait_for, Killed};

/// Status, `Location` and body of a GET.
fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    http(addr, "GET", path, "").unwrap()
}

/// The pages the top bar links to, and `/graph` (where alerts'
/// `generatorURL` points).
fn pages(addr: std::net::SocketAddr, prefix: &str) -> Vec<String> {
    let (_, html) = get(addr, &format!("{prefix}/query"));
    let mut out: Vec<String> = html
        .split("<a ")
        .skip(1)
        .filter_map(|a| a.split("href=\"").nth(1)?.split('"').next())
        .map(|h| h.strip_prefix(prefix).unwrap_or(h).to_string())
        .collect();
    out.push("/graph".into());
    out.dedup();
    assert!(out.len() >= 12, "{out:?}");
    out
}

#[test]
fn pages_and_assets_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), None, &[]);
    for p in pages(s.addr, "").iter().map(String::as_str).chain(["/"]) {
        let (status, body) = get(s.addr, p);
        assert_eq!(status, 200, "{p}");
        assert!(
            body.contains(r#"<script src="/static/app.js">"#),
            "{p}: {body}"
        );
    }
    for (asset, needle) in [
        ("/static/app.js", "function queryPage"),
        ("/static/app.css", ":root"),
    ] {
        let (status, body) = get(s.addr, asset);
        assert!(status == 200 && body.contains(needle), "{asset}: {status}");
    }
    assert_eq!(get(s.addr, "/nothing-here").0, 404);
}

#[test]
fn everything_moves_under_the_external_urls_path() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let child = Command::new(env!("CARGO_BIN_EXE_watchfire"))
        .arg("--web.listen-address")
        .arg(addr.to_string())
        .arg("--storage.tsdb.path")
        .arg(dir.path().join("data"))
        .arg("--web.external-url")
        .arg(format!("http://{addr}/watchfire/"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _server = Killed(child);
    wait_for(Duration::from_secs(20), "server under /watchfire", || {
        http(addr, "GET", "/watchfire/-/ready", "").is_ok_and(|r| r.0 == 200)
    });
    for p in pages(addr, "/watchfire") {
        let (status, body) = get(addr, &format!("/watchfire{p}"));
        assert_eq!(status, 200, "{p}");
        assert!(
            body.contains(r#"data-prefix="/watchfire""#)
                && body.contains(r#"href="/watchfire/static/app.css""#),
            "{p}: {body}"
        );
    }
    assert_eq!(get(addr, "/watchfire/static/app.js").0, 200);
    assert_eq!(get(addr, "/watchfire/api/v1/query?query=1").0, 200);
    // `/` and the prefix lead to the query page; the API is not at the root.
    for p in ["/", "/watchfire/"] {
        let raw = raw_get(addr, p);
        assert!(
            raw.starts_with("HTTP/1.1 303") && raw.contains("location: /watchfire/query"),
            "{p}: {raw}"
        );
    }
    assert_eq!(get(addr, "/api/v1/query?query=1").0, 404);
}

/// Behind a proxy that strips the path: `--web.route-prefix /` serves at
/// the root while the page's links keep the external URL's path.
#[test]
fn route_prefix_apart_from_the_external_path() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let child = Command::new(env!("CARGO_BIN_EXE_watchfire"))
        .arg("--web.listen-address")
        .arg(addr.to_string())
        .arg("--storage.tsdb.path")
        .arg(dir.path().join("data"))
        .arg("--web.external-url")
        .arg("http://proxy.example/watchfire/")
        .arg("--web.route-prefix")
        .arg("/")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _server = Killed(child);
    wait_for(Duration::from_secs(20), "server at the root", || {
        http(addr, "GET", "/-/ready", "").is_ok_and(|r| r.0 == 200)
    });
    let (status, body) = get(addr, "/query");
    assert_eq!(status, 200);
    assert!(
        body.contains(r#"data-prefix="/watchfire""#)
            && body.contains(r#"href="/watchfire/static/app.css""#),
        "{body}"
    );
    assert_eq!(get(addr, "/static/app.js").0, 200);
    assert_eq!(get(addr, "/api/v1/query?query=1").0, 200);
    assert_eq!(get(addr, "/watchfire/query").0, 404);
    let flags = get(addr, "/api/v1/status/flags").1;
    assert!(flags.contains(r#""web.route-prefix":"/""#), "{flags}");
}

/// Assets carry an ETag and answer 304 when the browser has them.
#[test]
fn assets_are_revalidated_by_etag() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), None, &[]);
    let head = raw_get(s.addr, "/static/app.js");
    let tag = head
        .lines()
        .find_map(|l| l.strip_prefix("etag: "))
        .expect("an ETag")
        .trim()
        .to_string();
    let mut c = std::net::TcpStream::connect(s.addr).unwrap();
    write!(
        c,
        "GET /static/app.js HTTP/1.1\r\nHost: x\r\nIf-None-Match: {tag}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 304"), "{out}");
}

/// The head of a GET's answer, header names lower-cased.
fn raw_get(addr: std::net::SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    out.to_ascii_lowercase().replacen("http/1.1", "HTTP/1.1", 1)
}

#[test]
fn range_queries_render_as_svg_and_png() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), None, &[]);
    wait_for(Duration::from_secs(20), "a scrape", || {
        get(s.addr, "/api/v1/query?query=up").1.contains("\"1\"")
    });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // The end a little ahead: the first scrape may be later in this second.
    let range = format!("start={}&end={}", now - 300, now + 5);
    let svg = |q: &str| get(s.addr, &format!("/api/v1/render?{range}&{q}"));
    let (status, body) = svg("query=up&threshold=0.5&title=Up");
    assert_eq!(status, 200);
    assert!(
        body.starts_with("<svg") && body.ends_with("</svg>"),
        "{body}"
    );
    assert_eq!(body.matches("<path").count(), 1, "{body}");
    assert!(
        body.contains("stroke-dasharray") && body.contains(">Up<"),
        "{body}"
    );
    let (_, empty) = svg("query=nothing_here");
    assert!(empty.contains("no data"), "{empty}");
    let (status, failed) = svg("query=up%20%3D%3D");
    assert!(status == 200 && failed.contains("query failed"), "{failed}");
    // PNG: the same cases, decoded; each the size asked for and not blank.
    for q in [
        "query=up&threshold=0.5&title=Up",
        "query=nothing_here",
        "query=up%20%3D%3D",
    ] {
        let path = format!("/api/v1/render?{range}&{q}&format=png&width=640&height=320");
        let (status, bytes) = get_bytes(s.addr, &path).unwrap();
        assert_eq!(status, 200, "{q}");
        let mut r = png::Decoder::new(std::io::Cursor::new(&bytes))
            .read_info()
            .unwrap();
        let mut buf = vec![0; r.output_buffer_size().unwrap()];
        let info = r.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (640, 320), "{q}");
        let n = info.color_type.samples();
        let inked = buf.chunks(n).filter(|p| p[..3] != [255, 255, 255]).count();
        assert!(inked > 100, "{q}: {inked} pixels drawn");
    }
    let (status, bad) = svg("query=up&format=gif");
    assert!(status == 400 && bad.contains("not svg or png"), "{bad}");
    let (status, bad) = get(s.addr, "/api/v1/render?query=up&start=10&end=5");
    assert!(status == 400 && bad.contains("bad_data"), "{bad}");
}
