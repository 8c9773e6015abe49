//! The shipped Grafana dashboard: every panel query, with the dashboard's
//! variables filled in as Grafana would, evaluates without error against a
//! running server, and the self-monitoring panels have data.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{json, start_at, wait_for};

/// Grafana's substitutions: multi-value variables set to "All" become
/// `.*`; `$__rate_interval` becomes a duration.
pub fn substitute(expr: &str) -> String {
    let mut e = expr.replace("$__rate_interval", "1m");
    e = e.replace("$__interval", "15s").replace("$__range", "1h");
    for v in ["job", "instance"] {
        e = e
            .replace(&format!("${{{v}}}"), ".*")
            .replace(&format!("${v}"), ".*");
    }
    e
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[test]
fn dashboard_panels_evaluate() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("grafana/dashboards/watchfire.json");
    let dash: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("prometheus.yml");
    let addr = common::free_addr();
    std::fs::write(
        &cfg,
        format!("global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: watchfire\n    static_configs: [{{targets: ['{addr}']}}]\n"),
    )
    .unwrap();
    let s = start_at(addr, &dir.path().join("data"), Some(&cfg), &[]);
    // A few scrapes, and a query so that the latency histogram has data.
    wait_for(Duration::from_secs(30), "three scrapes", || {
        let v = json(s.addr, "/api/v1/query?query=count_over_time(up[1m])");
        v["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|n| n.parse::<f64>().ok())
            .is_some_and(|n| n >= 3.0)
    });
    let now = model::time::now_ms() as f64 / 1000.0;
    let mut with_data = 0;
    let mut exprs = 0;
    for panel in dash["panels"].as_array().unwrap() {
        for t in panel["targets"].as_array().unwrap() {
            let expr = substitute(t["expr"].as_str().unwrap());
            exprs += 1;
            let v = json(
                s.addr,
                &format!("/api/v1/query?query={}&time={now}", enc(&expr)),
            );
            assert_eq!(v["status"], "success", "{expr}: {v}");
            if !v["data"]["result"].as_array().is_none_or(Vec::is_empty) {
                with_data += 1;
            }
            let v = json(
                s.addr,
                &format!(
                    "/api/v1/query_range?query={}&start={}&end={now}&step=15",
                    enc(&expr),
                    now - 300.0
                ),
            );
            assert_eq!(v["status"], "success", "{expr}: {v}");
        }
    }
    eprintln!("{exprs} panel queries, {with_data} with data");
    // Everything but the rule panels (no rules loaded) and rejected
    // samples (none) has data.
    assert!(
        with_data * 2 > exprs,
        "{with_data} of {exprs} panel queries returned data"
    );
}
