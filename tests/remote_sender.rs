//! The remote write sender against a scripted receiver that speaks the
//! remote write 1.0 specification (prometheus.io/docs/specs/remote_write_spec:
//! a POST of a snappy block-compressed `prometheus.WriteRequest` with
//! `Content-Encoding: snappy`, `Content-Type: application/x-protobuf` and
//! `X-Prometheus-Remote-Write-Version: 0.1.0`; 2xx is success, 5xx and 429
//! may be retried, other 4xx must not be). It answers as each test scripts
//! and keeps every request's headers and raw body.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{free_addr, wait_for};
use remote::proto::WriteRequest;

/// One request the receiver saw.
#[derive(Clone)]
struct Seen {
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
    status: u16,
}

impl Seen {
    fn decoded(&self) -> WriteRequest {
        remote::receive::decode_write(&self.body).expect("a valid remote write 1.0 body")
    }
}

/// Answers every request with the status `mode` holds (a `Retry-After: 1`
/// goes with 429).
fn receiver(mode: Arc<AtomicU32>) -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = seen.clone();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let (mode, keep) = (mode.clone(), keep.clone());
            std::thread::spawn(move || {
                let mut r = BufReader::new(c.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut headers = BTreeMap::new();
                    loop {
                        let mut h = String::new();
                        r.read_line(&mut h).unwrap();
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':') {
                            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                        }
                    }
                    let len: usize = headers
                        .get("content-length")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    let mut body = vec![0; len];
                    r.read_exact(&mut body).unwrap();
                    let status = mode.load(Ordering::SeqCst) as u16;
                    keep.lock().unwrap().push(Seen {
                        headers,
                        body,
                        status,
                    });
                    let reason = match status {
                        204 => "No Content",
                        400 => "Bad Request",
                        429 => "Too Many Requests",
                        _ => "Internal Server Error",
                    };
                    let extra = if status == 429 {
                        "Retry-After: 1\r\n"
                    } else {
                        ""
                    };
                    let mut w = c.try_clone().unwrap();
                    let _ = write!(
                        w,
                        "HTTP/1.1 {status} {reason}\r\n{extra}Content-Length: 0\r\n\r\n"
                    );
                }
            });
        }
    });
    (addr, seen)
}

fn config(
    dir: &std::path::Path,
    me: SocketAddr,
    rw: SocketAddr,
    queue: &str,
) -> std::path::PathBuf {
    let p = dir.join("p.yml");
    std::fs::write(
        &p,
        format!(
            "global:\n  scrape_interval: 1s\n  external_labels:\n    cluster: eu-1\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['{me}']\nremote_write:\n  - url: http://{rw}/push\n    name: scripted\n    headers:\n      X-Scope-OrgID: team-a\n    basic_auth:\n      username: agent\n      password: s3cret\n    write_relabel_configs:\n      - source_labels: [__name__]\n        regex: scrape_duration_seconds\n        action: drop\n    metadata_config:\n      send_interval: 1s\n    queue_config:\n      batch_send_deadline: 200ms\n      min_backoff: 50ms\n      max_backoff: 200ms\n{queue}"
        ),
    )
    .unwrap();
    p
}

fn metric(addr: SocketAddr, name: &str) -> f64 {
    let page = common::http(addr, "GET", "/metrics", "").unwrap().1;
    page.lines()
        .filter(|l| l.starts_with(name) && l.as_bytes().get(name.len()) == Some(&b'{'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// (series, timestamp) of every sample in the successful requests.
fn delivered(seen: &[Seen]) -> BTreeSet<(String, i64)> {
    let mut out = BTreeSet::new();
    for s in seen.iter().filter(|s| s.status < 300) {
        for ts in s.decoded().timeseries {
            let key: Vec<String> = ts
                .labels
                .iter()
                .map(|l| format!("{}={}", l.name, l.value))
                .collect();
            for p in ts.samples {
                out.insert((key.join(","), p.timestamp));
            }
        }
    }
    out
}

#[test]
fn requests_follow_the_specification_and_carry_the_configuration() {
    let mode = Arc::new(AtomicU32::new(204));
    let (rw, seen) = receiver(mode);
    let dir = tempfile::tempdir().unwrap();
    let me = free_addr();
    let cfg = config(dir.path(), me, rw, "");
    let _s = common::start_at(me, &dir.path().join("data"), Some(&cfg), &[]);
    wait_for(Duration::from_secs(30), "samples and metadata", || {
        let seen = seen.lock().unwrap();
        seen.iter().any(|s| !s.decoded().metadata.is_empty())
            && seen
                .iter()
                .filter(|s| !s.decoded().timeseries.is_empty())
                .count()
                >= 3
    });
    let seen = seen.lock().unwrap().clone();
    for s in &seen {
        let h = &s.headers;
        assert_eq!(
            h.get("content-encoding").map(String::as_str),
            Some("snappy")
        );
        assert_eq!(
            h.get("content-type").map(String::as_str),
            Some("application/x-protobuf")
        );
        assert_eq!(
            h.get("x-prometheus-remote-write-version")
                .map(String::as_str),
            Some("0.1.0")
        );
        assert!(
            h.get("user-agent")
                .is_some_and(|u| u.starts_with("Watchfire/")),
            "{h:?}"
        );
        assert_eq!(h.get("x-scope-orgid").map(String::as_str), Some("team-a"));
        // basic_auth: agent:s3cret.
        assert_eq!(
            h.get("authorization").map(String::as_str),
            Some("Basic YWdlbnQ6czNjcmV0")
        );
    }
    let mut names = BTreeSet::new();
    for s in &seen {
        for ts in s.decoded().timeseries {
            let n: Vec<&str> = ts.labels.iter().map(|l| l.name.as_str()).collect();
            let mut sorted = n.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(n, sorted, "labels sorted by name, no repeats");
            assert!(
                ts.labels
                    .iter()
                    .any(|l| l.name == "cluster" && l.value == "eu-1"),
                "external labels"
            );
            names.insert(
                ts.labels
                    .iter()
                    .find(|l| l.name == "__name__")
                    .unwrap()
                    .value
                    .clone(),
            );
        }
    }
    assert!(
        names.contains("up") && names.contains("scrape_samples_scraped"),
        "{names:?}"
    );
    assert!(
        !names.contains("scrape_duration_seconds"),
        "write_relabel_configs drops it"
    );
    let meta: Vec<_> = seen.iter().flat_map(|s| s.decoded().metadata).collect();
    let wal = meta
        .iter()
        .find(|m| m.metric_family_name == "prometheus_tsdb_wal_corruptions_total")
        .expect("metadata of a scraped family");
    assert_eq!(wal.r#type, 1, "counter");
    assert!(!wal.help.is_empty());
}

#[test]
fn server_errors_are_retried_and_client_errors_are_not() {
    let mode = Arc::new(AtomicU32::new(500));
    let (rw, seen) = receiver(mode.clone());
    let dir = tempfile::tempdir().unwrap();
    let me = free_addr();
    let cfg = config(dir.path(), me, rw, "      retry_on_http_429: false\n");
    let s = common::start_at(me, &dir.path().join("data"), Some(&cfg), &[]);
    // 5xx: the same batches again and again, then delivered once it works.
    wait_for(Duration::from_secs(30), "retries", || {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|s| s.status == 500 && !s.decoded().timeseries.is_empty())
            .count()
            >= 4
    });
    mode.store(204, Ordering::SeqCst);
    wait_for(Duration::from_secs(30), "delivery after the errors", || {
        let seen = seen.lock().unwrap();
        let failed: BTreeSet<_> = delivered(
            &seen
                .iter()
                .filter(|s| s.status == 500)
                .map(|s| Seen {
                    status: 200,
                    ..s.clone()
                })
                .collect::<Vec<_>>(),
        );
        let ok = delivered(&seen);
        !failed.is_empty() && failed.is_subset(&ok)
    });
    assert!(metric(s.addr, "prometheus_remote_storage_samples_retried_total") > 0.0);
    assert_eq!(
        metric(s.addr, "prometheus_remote_storage_samples_failed_total"),
        0.0
    );

    // 400 and (without retry_on_http_429) 429: dropped, never sent again.
    for code in [400, 429] {
        let before = seen.lock().unwrap().len();
        mode.store(code, Ordering::SeqCst);
        wait_for(Duration::from_secs(30), "refused batches", || {
            seen.lock().unwrap()[before..]
                .iter()
                .filter(|s| s.status == code as u16 && !s.decoded().timeseries.is_empty())
                .count()
                >= 3
        });
        mode.store(204, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(1500));
        let seen = seen.lock().unwrap();
        // Metadata goes again every send_interval by design; samples never.
        let refused: Vec<&Seen> = seen[before..]
            .iter()
            .filter(|s| s.status == code as u16 && !s.decoded().timeseries.is_empty())
            .collect();
        for r in &refused {
            let again = seen[before..].iter().filter(|s| s.body == r.body).count();
            assert_eq!(again, 1, "a batch refused with {code} was sent again");
        }
    }
    assert!(metric(s.addr, "prometheus_remote_storage_samples_failed_total") > 0.0);
}

#[test]
fn too_many_requests_is_retried_when_asked() {
    let mode = Arc::new(AtomicU32::new(429));
    let (rw, seen) = receiver(mode.clone());
    let dir = tempfile::tempdir().unwrap();
    let me = free_addr();
    let cfg = config(dir.path(), me, rw, "      retry_on_http_429: true\n");
    let s = common::start_at(me, &dir.path().join("data"), Some(&cfg), &[]);
    wait_for(Duration::from_secs(30), "a 429 retried", || {
        let seen = seen.lock().unwrap();
        let bodies: Vec<&Vec<u8>> = seen
            .iter()
            .filter(|s| s.status == 429 && !s.decoded().timeseries.is_empty())
            .map(|s| &s.body)
            .collect();
        bodies
            .iter()
            .any(|b| bodies.iter().filter(|c| c == &b).count() >= 2)
    });
    mode.store(204, Ordering::SeqCst);
    wait_for(Duration::from_secs(30), "delivery", || {
        metric(s.addr, "prometheus_remote_storage_samples_total") > 0.0
    });
    assert_eq!(
        metric(s.addr, "prometheus_remote_storage_samples_failed_total"),
        0.0
    );
}
