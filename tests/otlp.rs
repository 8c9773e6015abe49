//! The OTLP receiver with a real sender: the OpenTelemetry Python SDK and
//! its OTLP/HTTP exporter (PyPI `opentelemetry-sdk` and
//! `opentelemetry-exporter-otlp-proto-http`, installed by `.ci/run`)
//! export counters, up-down counters, gauges and histograms with resource
//! attributes; the series stored carry the names and labels Prometheus 3's
//! translation gives. A delta counter is refused in `partial_success`.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;

fn sdk_installed() -> bool {
    let ok = Command::new("python3")
        .args([
            "-c",
            "import opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        model::ci::skip("the OpenTelemetry Python SDK is not installed (pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http; .ci/run installs it)");
    }
    ok
}

/// Every series matching `sel` now: labels → value.
fn series(addr: std::net::SocketAddr, sel: &str) -> BTreeMap<BTreeMap<String, String>, String> {
    let q: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("query", sel)
        .finish();
    let v = common::json(addr, &format!("/api/v1/query?{q}"));
    v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let m = s["metric"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            (m, s["value"][1].as_str().unwrap().to_string())
        })
        .collect()
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn the_opentelemetry_sdk_exports_into_watchfire_with_prometheus_names() {
    if !sdk_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("p.yml");
    std::fs::write(
        &cfg,
        "otlp:\n  promote_resource_attributes: [deployment.environment]\nscrape_configs: []\n",
    )
    .unwrap();
    let s = common::start(
        &dir.path().join("data"),
        Some(&cfg),
        &["--web.enable-otlp-receiver"],
    );
    let endpoint = format!("http://{}/api/v1/otlp/v1/metrics", s.addr);
    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/support/otlp_export.py"
        ))
        .arg(&endpoint)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The translation table: OTLP instrument → Prometheus 3 series.
    let res = [
        ("job", "shop/checkout"),
        ("instance", "i-1"),
        ("deployment_environment", "test"),
    ];
    let with = |name: &str, extra: &[(&str, &str)]| {
        let mut l = labels(&res);
        l.insert("__name__".into(), name.into());
        l.extend(labels(extra));
        l
    };
    let table: Vec<(&str, BTreeMap<String, String>, &str)> = vec![
        (
            "counter requests {request}",
            with("requests_total", &[("route", "/pay")]),
            "5",
        ),
        (
            "up-down counter queue.depth {item}",
            with("queue_depth", &[]),
            "5",
        ),
        (
            "gauge cpu.utilization 1",
            with("cpu_utilization_ratio", &[("cpu", "0")]),
            "0.25",
        ),
        (
            "histogram http.server.duration ms, count",
            with(
                "http_server_duration_milliseconds_count",
                &[("route", "/pay")],
            ),
            "5",
        ),
        (
            "histogram sum",
            with(
                "http_server_duration_milliseconds_sum",
                &[("route", "/pay")],
            ),
            "565",
        ),
        (
            "histogram bucket le=5",
            with(
                "http_server_duration_milliseconds_bucket",
                &[("route", "/pay"), ("le", "5")],
            ),
            "1",
        ),
        (
            "histogram bucket le=10",
            with(
                "http_server_duration_milliseconds_bucket",
                &[("route", "/pay"), ("le", "10")],
            ),
            "3",
        ),
        (
            "histogram bucket le=100",
            with(
                "http_server_duration_milliseconds_bucket",
                &[("route", "/pay"), ("le", "100")],
            ),
            "4",
        ),
        (
            "histogram bucket le=+Inf",
            with(
                "http_server_duration_milliseconds_bucket",
                &[("route", "/pay"), ("le", "+Inf")],
            ),
            "5",
        ),
    ];
    let all = series(s.addr, "{job=\"shop/checkout\"}");
    for (what, want, value) in &table {
        assert_eq!(
            all.get(want).map(String::as_str),
            Some(*value),
            "{what}: {want:?} in {all:#?}"
        );
    }
    let info = series(s.addr, "target_info");
    let want_info = labels(&[
        ("__name__", "target_info"),
        ("job", "shop/checkout"),
        ("instance", "i-1"),
        ("deployment_environment", "test"),
    ]);
    let got_info: Vec<_> = info.keys().collect();
    assert_eq!(got_info.len(), 1, "{info:#?}");
    for (k, v) in &want_info {
        assert_eq!(got_info[0].get(k), Some(v), "target_info {k}: {info:#?}");
    }
    assert!(
        got_info[0].contains_key("telemetry_sdk_language"),
        "the SDK's resource attributes: {info:#?}"
    );

    // The delta counter: refused in partial_success, nothing stored.
    let line = stdout.lines().find(|l| l.starts_with("delta:")).unwrap();
    assert!(line.starts_with("delta: 200 1 "), "{line}");
    assert!(
        line.contains("invalid temporality") && line.contains("refunds"),
        "{line}"
    );
    assert!(series(s.addr, "{__name__=~\"refunds.*\"}").is_empty());
}

#[test]
fn otlp_json_bodies_and_gzip_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let s = common::start(dir.path(), None, &["--web.enable-otlp-receiver"]);
    let now = model::time::now_ms() as u128 * 1_000_000;
    let body = serde_json::json!({
        "resourceMetrics": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]},
            "scopeMetrics": [{
                "scope": {"name": "x"},
                "metrics": [{
                    "name": "jobs.done",
                    "unit": "{job}",
                    "sum": {
                        "aggregationTemporality": 2,
                        "isMonotonic": true,
                        "dataPoints": [{"asInt": "42", "timeUnixNano": now.to_string(), "attributes": [{"key": "queue", "value": {"stringValue": "mail"}}]}]
                    }
                }]
            }]
        }]
    })
    .to_string();
    use std::io::{Read, Write};
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(body.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    let mut c = std::net::TcpStream::connect(s.addr).unwrap();
    write!(c, "POST /api/v1/otlp/v1/metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n", gz.len()).unwrap();
    c.write_all(&gz).unwrap();
    let mut raw = Vec::new();
    c.read_to_end(&mut raw).unwrap();
    let (status, body) = common::parse_response(&raw);
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert!(v.get("partialSuccess").is_none(), "{v}");
    let got = series(s.addr, "jobs_done_total");
    let want = labels(&[
        ("__name__", "jobs_done_total"),
        ("job", "api"),
        ("queue", "mail"),
    ]);
    assert_eq!(got.get(&want).map(String::as_str), Some("42"), "{got:#?}");
    // Off without the flag.
    let dir2 = tempfile::tempdir().unwrap();
    let off = common::start(dir2.path(), None, &[]);
    let (status, body) = common::http(off.addr, "POST", "/api/v1/otlp/v1/metrics", "").unwrap();
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("--web.enable-otlp-receiver"));
}
