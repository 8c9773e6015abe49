//! The query API end to end: answers in Prometheus's shape, and bad
//! queries refused with Prometheus's `errorType` and status code (parse
//! errors, unknown functions, type errors, too many samples, a timeout,
//! absurd steps and ranges).

mod common;

use std::fmt::Write;

use common::{http, json, start};

/// 20 series of 240 samples, 15 s apart from `T0`.
const T0: i64 = 1_700_000_000_000;

fn data(dir: &std::path::Path) -> std::path::PathBuf {
    let file = dir.join("m.prom");
    let mut text = String::from("# TYPE m gauge\n");
    for k in 0..240 {
        for i in 0..20 {
            let _ = writeln!(text, "m{{i=\"{i}\"}} {} {}", i * 1000 + k, T0 + k * 15_000);
        }
    }
    std::fs::write(&file, text).unwrap();
    let db = dir.join("data");
    common::import(&file, &db);
    db
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[test]
fn answers_and_errors_like_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let db = data(dir.path());
    let empty = dir.path().join("empty.yml");
    std::fs::write(&empty, "").unwrap();
    let s = start(
        &db,
        Some(&empty),
        &[
            "--storage.tsdb.retention.time",
            "100y",
            "--query.max-samples",
            "1000",
        ],
    );
    let end = T0 + 239 * 15_000;
    let t = end as f64 / 1000.0;

    // An instant vector: [time, "value"] per series.
    let v = json(
        s.addr,
        &format!("/api/v1/query?query={}&time={t}", enc("sum(m)")),
    );
    assert_eq!(v["status"], "success", "{v}");
    assert_eq!(v["data"]["resultType"], "vector");
    let want: i64 = (0..20).map(|i| i * 1000 + 239).sum();
    assert_eq!(v["data"]["result"][0]["value"][1], want.to_string());
    assert_eq!(v["data"]["result"][0]["value"][0].as_f64(), Some(t));
    // A range query, by form POST too.
    let body = format!(
        "query={}&start={}&end={t}&step=60",
        enc("m{i=\"3\"}"),
        t - 600.0
    );
    let (status, text) = http(s.addr, "POST", "/api/v1/query_range", &body).unwrap();
    assert_eq!(status, 200, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["data"]["resultType"], "matrix");
    assert_eq!(
        v["data"]["result"][0]["values"].as_array().map(Vec::len),
        Some(11)
    );
    assert_eq!(v["data"]["result"][0]["metric"]["__name__"], "m");
    // Scalars and strings.
    let v = json(
        s.addr,
        &format!("/api/v1/query?query={}&time=100", enc("1 + 2")),
    );
    assert_eq!(v["data"]["result"], serde_json::json!([100, "3"]));
    let v = json(
        s.addr,
        &format!("/api/v1/query?query={}&time=100.5", enc("\"x\"")),
    );
    assert_eq!(v["data"]["result"], serde_json::json!([100.5, "x"]));
    // format_query prints the canonical form.
    let v = json(
        s.addr,
        &format!("/api/v1/format_query?query={}", enc("sum(m)by(i)")),
    );
    assert_eq!(v["data"], "sum by (i) (m)");

    // `watchfire query` prints a table, and fails on a bad query.
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_watchfire"))
            .arg("query")
            .arg("--url")
            .arg(format!("http://{}", s.addr))
            .args(args)
            .output()
            .unwrap()
    };
    let out = cli(&["--time", &t.to_string(), "max by (i) (m{i=~\"1|2\"})"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "{i=\"1\"}  1239\n{i=\"2\"}  2239\n"
    );
    let out = cli(&["sum("]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad_data"));

    // Bad input: each is answered 400 with errorType bad_data.
    let bad_queries = [
        "sum(m",
        "m +",
        "no_such_function(m)",
        "rate(m)",
        "sum(m[5m])",
    ];
    let bad_paths = [
        "/api/v1/query",
        "/api/v1/query?query=m&time=yesterday",
        "/api/v1/query?query=m&timeout=soon",
        "/api/v1/query_range?query=m%5B5m%5D&start=0&end=60&step=15",
        "/api/v1/query_range?query=m&start=0&end=60&step=0",
        "/api/v1/query_range?query=m&start=0&end=60&step=-5",
        "/api/v1/query_range?query=m&start=60&end=0&step=15",
        "/api/v1/query_range?query=m&start=0&end=60",
        // 11,001 points per series.
        "/api/v1/query_range?query=m&start=0&end=11001&step=1",
    ];
    // (path, status, errorType)
    let mut cases: Vec<(String, u16, &str)> = bad_queries
        .iter()
        .map(|q| format!("/api/v1/query?query={}", enc(q)))
        .chain(bad_paths.iter().map(|p| p.to_string()))
        .map(|p| (p, 400, "bad_data"))
        .collect();
    cases.extend([
        // A many-to-many match.
        (
            format!("/api/v1/query?query={}&time={t}", enc("m + on() m")),
            422,
            "execution",
        ),
        // 20 series x 240 samples is over --query.max-samples.
        (
            format!(
                "/api/v1/query?query={}&time={t}",
                enc("sum_over_time(m[1h])")
            ),
            422,
            "execution",
        ),
        // A query that cannot finish in a microsecond.
        (
            format!(
                "/api/v1/query_range?query={}&start={}&end={t}&step=1&timeout=0.000001",
                enc("sum(m)"),
                t - 3000.0
            ),
            503,
            "timeout",
        ),
    ]);
    for (path, want_status, want_type) in cases {
        let (status, body) = http(s.addr, "GET", &path, "").unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"));
        assert_eq!(
            (status, v["errorType"].as_str().unwrap_or("")),
            (want_status, want_type),
            "GET {path}: {body}"
        );
        assert_eq!(v["status"], "error", "GET {path}: {body}");
        assert!(
            !v["error"].as_str().unwrap_or("").is_empty(),
            "GET {path}: {body}"
        );
    }
}

#[test]
fn dechunks_bytes_not_characters() {
    // "é" is two bytes; a chunk boundary falls between them.
    let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab\xc3\r\n2;x=y\r\n\xa9c\r\n0\r\n\r\n";
    assert_eq!(common::parse_response(raw), (200, "ab\u{e9}c".to_string()));
    let plain = b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno";
    assert_eq!(common::parse_response(plain), (404, "no".to_string()));
}

/// `watchfire query` reads a chunked answer whose chunk boundary falls
/// inside a UTF-8 character (it used to panic there).
#[test]
fn query_cli_reads_chunks_split_inside_a_character() {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let Ok((mut c, _)) = l.accept() else { return };
        let mut buf = [0u8; 4096];
        let _ = c.read(&mut buf);
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"m","city":"Zürich"},"value":[1,"1"]}]}}"#.as_bytes();
        let cut = body.iter().position(|b| *b == 0xc3).unwrap() + 1;
        let mut out = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
        for part in [&body[..cut], &body[cut..]] {
            out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
            out.extend_from_slice(part);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
        let _ = c.write_all(&out);
    });
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_watchfire"))
        .args(["query", "--url", &format!("http://{addr}"), "m"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "m{city=\"Zürich\"}  1\n"
    );
}
