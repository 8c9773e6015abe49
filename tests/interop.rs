//! Interoperability with real peers from Debian: watchfire scrapes
//! `prometheus-node-exporter`, and a Debian `prometheus` (2.42) with the
//! same `prometheus.yml` scraping the same target returns the same label
//! names and series. Skips with a printed reason when the packages are
//! missing (`.ci/run` installs them).

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{free_addr, installed, peer, start, try_json};
use serde_json::Value;

fn series(addr: SocketAddr, start: i64, end: i64) -> BTreeSet<String> {
    let v = try_json(
        addr,
        &format!("/api/v1/series?match[]=%7Bjob%3D%22node%22%7D&start={start}&end={end}"),
    )
    .unwrap_or(Value::Null);
    v["data"]
        .as_array()
        .map(|a| a.iter().map(|s| s.to_string()).collect())
        .unwrap_or_default()
}

/// Prometheus 3 (and so watchfire) writes `le` and `quantile` values in
/// canonical float form (`1` → `1.0`); 2.42 keeps them as scraped.
fn canonical(series: &BTreeSet<String>) -> BTreeSet<String> {
    series
        .iter()
        .map(|s| {
            let mut v: serde_json::Map<String, Value> = serde_json::from_str(s).unwrap();
            for k in ["le", "quantile"] {
                if let Some(Value::String(x)) = v.get(k).cloned() {
                    if let Ok(f) = x.parse::<f64>() {
                        v.insert(
                            k.into(),
                            Value::String(if f.is_infinite() { x } else { format!("{f:?}") }),
                        );
                    }
                }
            }
            Value::Object(v).to_string()
        })
        .collect()
}

#[test]
fn node_exporter_and_prometheus_side_by_side() {
    for bin in ["prometheus-node-exporter", "prometheus"] {
        if !installed(bin, bin) {
            return;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let node = free_addr();
    let _node = peer(
        "prometheus-node-exporter",
        [format!("--web.listen-address={node}")],
    );
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, format!("global:\n  scrape_interval: 2s\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['{node}']\n")).unwrap();
    let watchfire = start(&dir.path().join("wf"), Some(&cfg), &[]);
    let wf = watchfire.addr;
    let prom = free_addr();
    let _prom = peer(
        "prometheus",
        [
            format!("--config.file={}", cfg.display()),
            format!("--web.listen-address={prom}"),
            format!("--storage.tsdb.path={}", dir.path().join("prom").display()),
        ],
    );
    // Both have scraped the node exporter successfully, three times.
    let start_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let t0 = Instant::now();
    loop {
        let up = |addr| {
            try_json(addr, "/api/v1/targets").is_some_and(|v| {
                v["data"]["activeTargets"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|t| t["health"] == "up"))
            })
        };
        if up(wf) && up(prom) && t0.elapsed() > Duration::from_secs(7) {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "node exporter never up on both"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let end_s = start_s + 600;
    let ours = series(wf, start_s - 60, end_s);
    let theirs = series(prom, start_s - 60, end_s);
    assert!(
        ours.iter().any(|s| s.contains("\"__name__\":\"node_")),
        "no node series in watchfire: {} series",
        ours.len()
    );
    assert!(
        ours.iter().any(|s| s.contains("\"__name__\":\"up\"")),
        "no up series"
    );
    let (ours_c, theirs_c) = (canonical(&ours), canonical(&theirs));
    let only_ours: Vec<_> = ours_c.difference(&theirs_c).take(10).collect();
    let only_theirs: Vec<_> = theirs_c.difference(&ours_c).take(10).collect();
    eprintln!(
        "series: watchfire {}, prometheus {}; differing before le/quantile canonicalisation: {}",
        ours.len(),
        theirs.len(),
        ours.symmetric_difference(&theirs).count()
    );
    assert!(
        only_ours.is_empty() && only_theirs.is_empty(),
        "series differ:\nonly watchfire: {only_ours:#?}\nonly prometheus: {only_theirs:#?}"
    );
    let names = |addr| {
        try_json(addr, "/api/v1/labels?match[]=%7Bjob%3D%22node%22%7D").map(|v| v["data"].clone())
    };
    assert_eq!(names(wf), names(prom), "label names differ");
}
