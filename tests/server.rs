//! The server end to end: the binary on 127.0.0.1 with an ephemeral port
//! and a temporary data directory, scraping targets served by this test.

use std::time::Duration;

use serde_json::Value;

mod common;

use common::{http, json, start, wait_for};

#[test]
fn default_config_scrapes_itself() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), None, &[]);
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
            .any(|n| n == "prometheus_tsdb_head_series"),
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
    let md = json(
        s.addr,
        "/api/v1/metadata?metric=prometheus_tsdb_head_series",
    );
    assert_eq!(
        md["data"]["prometheus_tsdb_head_series"][0]["type"], "gauge",
        "{md}"
    );
    let tm = json(s.addr, "/api/v1/targets/metadata?match_target=%7Bjob%3D%22watchfire%22%7D&metric=prometheus_tsdb_head_series");
    assert_eq!(tm["data"][0]["target"]["job"], "watchfire", "{tm}");
    assert_eq!(
        tm["data"][0]["help"], "Total number of series in the head block.",
        "{tm}"
    );
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
    // Grafana reads `version` as a Prometheus release (semver) and needs
    // no `application` field to treat the server as a Prometheus.
    let b = &buildinfo["data"];
    assert_eq!(b["version"], "3.0.0", "{buildinfo}");
    assert!(b.get("application").is_none(), "{buildinfo}");
    assert_eq!(
        b["watchfireVersion"],
        env!("CARGO_PKG_VERSION"),
        "{buildinfo}"
    );
    assert!(
        b["goVersion"].as_str().unwrap_or("").starts_with("rustc "),
        "{buildinfo}"
    );
    let date = b["buildDate"].as_str().unwrap_or("");
    assert!(
        date.len() == 17 && date.as_bytes()[8] == b'-',
        "{buildinfo}"
    );
    // Built from a checkout, the revision is the commit's.
    if std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.git")).exists() {
        assert_eq!(
            b["revision"].as_str().unwrap_or("").len(),
            40,
            "{buildinfo}"
        );
    }
}
