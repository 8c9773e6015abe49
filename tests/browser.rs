//! The web UI in a real browser: Debian's Chromium, headless, driven
//! through Debian's chromedriver (W3C WebDriver), loads every page of a
//! server that holds the compliance dataset (at the root; under a path the
//! same walk runs without it), scrapes two targets (one down), evaluates
//! rules (one alert firing, one pending), runs its alerter and has a
//! silence. Each page must show its content with nothing on the console
//! and no request failed, and is photographed at 1280×800 and at a
//! phone's 375×812. The pictures go to `$WATCHFIRE_SCREENSHOTS` when set,
//! else to the test's temporary directory (the test prints where). Then
//! the links the outside world holds: an alert's `generatorURL` and
//! Alertmanager's silence link, whose form, submitted, makes a silence
//! that mutes the alert. Last, bad input: each gets a readable error.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::webdriver::Browser;
use common::{free_addr, installed, json, start_under, wait_for};

#[test]
fn every_page_in_a_real_browser() {
    pages_and_links("");
}

#[test]
fn every_page_under_a_path() {
    pages_and_links("/watchfire");
}

/// The whole walk against a server whose external URL has `prefix` as
/// its path.
fn pages_and_links(prefix: &str) {
    if !installed("chromium", "chromium") || !installed("chromedriver", "chromium-driver") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let shots = std::env::var_os("WATCHFIRE_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.path().join("screenshots"))
        .join(if prefix.is_empty() {
            "root"
        } else {
            "under-a-path"
        });
    std::fs::create_dir_all(&shots).unwrap();
    let addr = free_addr();
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n- name: demo\n  interval: 1s\n  rules:\n  - alert: AlwaysFiring\n    expr: vector(1)\n    labels: {severity: page}\n    annotations: {summary: It fires}\n  - alert: WaitsAnHour\n    expr: up == 1\n    for: 1h\n  - record: job:up:sum\n    expr: sum by (job) (up)\n",
    )
    .unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!("global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: [rules.yml]\nscrape_configs:\n- job_name: self\n  metrics_path: {prefix}/metrics\n  static_configs: [{{targets: ['{addr}']}}]\n- job_name: down\n  static_configs: [{{targets: ['127.0.0.1:1']}}]\n"),
    )
    .unwrap();
    // The compliance dataset (6 h ending 2026-11-01T00:00:00Z), at the
    // root only: one import is enough, and it takes a few seconds.
    let dataset = prefix.is_empty() && import_compliance(dir.path(), &dir.path().join("data"));
    std::fs::write(
        dir.path().join("am.yml"),
        "route: {receiver: 'null'}\nreceivers: [{name: 'null'}]\n",
    )
    .unwrap();
    let am = dir.path().join("am.yml");
    let s = start_under(
        addr,
        prefix,
        &dir.path().join("data"),
        Some(&config),
        &[
            "--alertmanager.config.file",
            am.to_str().unwrap(),
            "--web.external-url",
            &format!("http://{addr}{prefix}/"),
            "--storage.tsdb.retention.time",
            "100y",
            // Far above what any page asks; the bad-input part goes over.
            "--query.max-samples",
            "100000",
        ],
    );
    wait_for(
        Duration::from_secs(30),
        "both targets scraped and the alert firing",
        || {
            let up = json(s.addr, &format!("{prefix}/api/v1/query?query=count(up)"));
            let alerts = json(s.addr, &format!("{prefix}/api/v1/alerts"));
            up["data"]["result"][0]["value"][1] == "2"
                && alerts["data"]["alerts"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x["state"] == "firing"))
        },
    );
    // A silence present before the walk, for the silence and group pages.
    let raw = common::post_json(
        s.addr,
        &format!("{prefix}/api/v2/silences"),
        &serde_json::json!({
            "matchers": [{"name": "alertname", "value": "WaitsAnHour", "isRegex": false, "isEqual": true}],
            "startsAt": model::time::format_rfc3339(model::time::now_ms()),
            "endsAt": model::time::format_rfc3339(model::time::now_ms() + 3_600_000),
            "createdBy": "browser test",
            "comment": "present before the walk",
        })
        .to_string(),
    );
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    let base = format!("http://{addr}{prefix}");
    // (page, what its DOM must hold)
    let pages: &[(&str, &[&str])] = &[
        (
            "/query?g0.expr=up&g0.tab=1",
            &[
                &format!("up{{instance=\"{addr}\", job=\"self\"}}"),
                "up{instance=\"127.0.0.1:1\", job=\"down\"}",
            ],
        ),
        (
            "/graph?g0.expr=up&g0.tab=0&g0.range_input=5m",
            &["data-series=\"0\"", "data-series=\"1\""],
        ),
        (
            "/alerts",
            &[
                "AlwaysFiring",
                "WaitsAnHour",
                "It fires",
                "badge firing",
                "badge pending",
            ],
        ),
        (
            "/rules",
            &["job:up:sum", "record: job:up:sum", "alert: AlwaysFiring"],
        ),
        (
            "/targets",
            &[
                "data-health=\"up\"",
                "data-health=\"down\"",
                &format!("http://{addr}{prefix}/metrics"),
                "http://127.0.0.1:1/metrics",
            ],
        ),
        ("/service-discovery", &["__address__=\"127.0.0.1:1\""]),
        ("/status", &["<h2>Build</h2>", "version"]),
        ("/config", &["scrape_configs:", "job_name: down"]),
        ("/flags", &["storage.tsdb.path"]),
        ("/tsdb-status", &["Top series counts by metric name"]),
        (
            "/silences",
            &[
                "New silence",
                "All silences",
                "Active (1)",
                "alertname=\"WaitsAnHour\"",
            ],
        ),
        (
            "/alert-groups",
            &["Alert groups", "alertname=\"AlwaysFiring\"", "badge active"],
        ),
        (
            "/#/silences/new?filter=%7Balertname%3D%22AlwaysFiring%22%7D",
            &["New silence"],
        ),
    ];
    let browser = Browser::start(&dir.path().join("profile"), 1280, 800);
    let mut bad = Vec::new();
    for (i, (page, want)) in pages.iter().enumerate() {
        let url = format!("{base}{page}");
        browser.resize(1280, 800);
        browser.open(&url);
        let dom = browser.html();
        for w in *want {
            if !dom.contains(w) {
                bad.push(format!("{page}: no {w:?} in the page"));
            }
        }
        // The down target's error is content; anything else is a failure.
        let errors = dom.matches("class=\"error\"").count();
        let expected = usize::from(page.starts_with("/targets"));
        if errors != expected {
            bad.push(format!("{page}: {errors} error boxes"));
        }
        let console = browser.console();
        if !console.is_empty() {
            bad.push(format!("{page}: console: {console:?}"));
        }
        let failed = browser.failed_requests();
        if !failed.is_empty() {
            bad.push(format!("{page}: failed requests: {failed:?}"));
        }
        for (w, h) in [(1280, 800), (375, 812)] {
            browser.resize(w, h);
            browser.open(&url);
            let shot = shots.join(format!("{i:02}-{w}x{h}.png"));
            if browser.screenshot(&shot) < 5_000 {
                bad.push(format!("{page}: screenshot {} looks blank", shot.display()));
            }
        }
    }
    if dataset {
        bad.extend(dataset_pages(&browser, s.addr, &base, &shots));
    }
    println!("screenshots in {}", shots.display());
    assert!(bad.is_empty(), "{}", bad.join("\n"));

    // An alert's generatorURL opens the query page with its expression.
    let alerts = json(s.addr, &format!("{prefix}/api/v2/alerts"));
    let firing = alerts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == "AlwaysFiring")
        .expect("the alert reached the alerter")
        .clone();
    let generator = firing["generatorURL"].as_str().unwrap();
    assert!(
        generator.starts_with(&format!("{base}/graph?")),
        "{generator}"
    );
    browser.resize(1280, 800);
    browser.open(generator);
    let expr = browser.script("return document.querySelector('textarea.expr').value");
    assert_eq!(expr, "vector(1)");
    // Prometheus links with g0.tab=1: the table, holding the one value.
    let html = browser.html();
    assert!(html.contains(r#"<td class="num">1</td>"#), "{html}");

    // Alertmanager's silence link (its default template's
    // `__alert_silence_link`) opens the form prefilled; submitting it
    // makes a silence that mutes the alert.
    let link = format!(
        "{base}/#/silences/new?filter=%7Bseverity%3D%22page%22%2C%20alertname%3D%22AlwaysFiring%22%7D"
    );
    browser.open(&link);
    let prefilled = browser.script("return document.getElementById('silence-matchers').value");
    assert_eq!(prefilled, r#"{severity="page", alertname="AlwaysFiring"}"#);
    browser.type_into("#silence-comment", "deploying");
    browser.click("#preview-silence");
    browser.wait_ready();
    assert!(browser
        .html()
        .contains("This silence would mute 1 alert now"));
    browser.click("#create-silence");
    browser.wait_ready();
    assert!(
        browser.html().contains("id=\"created\""),
        "{}",
        browser.html()
    );
    wait_for(Duration::from_secs(10), "the alert muted", || {
        let alerts = json(s.addr, &format!("{prefix}/api/v2/alerts"));
        alerts.as_array().unwrap().iter().any(|a| {
            a["labels"]["alertname"] == "AlwaysFiring"
                && a["status"]["state"] == "suppressed"
                && !a["status"]["silencedBy"].as_array().unwrap().is_empty()
        })
    });
    assert!(browser.console().is_empty());

    // A group acknowledged from the groups page, as from a chat message,
    // then unacknowledged.
    browser.open(&format!("{base}/alert-groups"));
    browser.click("button.ack");
    browser.wait_ready();
    assert!(
        browser.html().contains("Say who answers first"),
        "no name, no answer"
    );
    browser.type_into("#answer-as", "ana");
    browser.click("button.ack");
    browser.wait_ready();
    let html = browser.html();
    assert!(html.contains("acknowledged by ana"), "{html}");
    let groups = json(s.addr, &format!("{prefix}/api/v2/alerts/groups"));
    assert_eq!(groups[0]["answer"]["acknowledged"]["by"], "ana", "{groups}");
    assert_eq!(groups[0]["answer"]["acknowledged"]["via"], "ui", "{groups}");
    browser.click("button.unack");
    browser.wait_ready();
    assert!(!browser.html().contains("acknowledged by"));
    let groups = json(s.addr, &format!("{prefix}/api/v2/alerts/groups"));
    assert!(groups[0].get("answer").is_none(), "{groups}");
    // Both answers stay in the group's audit trail, newest first.
    let trail = browser.script(
        "return [...document.querySelectorAll('details.audit li')].map(li => li.textContent)",
    );
    let trail: Vec<&str> = trail
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(trail.len(), 2, "{trail:?}");
    assert!(
        trail[0].starts_with("ana took back the acknowledgement via ui")
            && trail[1].starts_with("ana acknowledged via ui"),
        "{trail:?}"
    );
    assert!(browser.console().is_empty());

    // Completion: functions, metric and label names.
    browser.open(&format!("{base}/query"));
    browser.type_into("textarea.expr", "rat");
    let hints =
        browser.script("return [...document.querySelectorAll('.hint')].map(b => b.textContent)");
    assert!(
        hints.as_array().unwrap().contains(&"rate(".into()),
        "{hints}"
    );
    browser.click(".hint");
    let expr = browser.script("return document.querySelector('textarea.expr').value");
    assert_eq!(expr, "rate(");
    browser.type_into("textarea.expr", "prometheus_tsdb_head_ser");
    let hints =
        browser.script("return [...document.querySelectorAll('.hint')].map(b => b.textContent)");
    assert!(
        hints
            .as_array()
            .unwrap()
            .contains(&"prometheus_tsdb_head_series".into()),
        "{hints}"
    );

    // Label values complete inside a matcher's quotes.
    browser.open(&format!("{base}/query"));
    browser.type_into("textarea.expr", "up{job=\"se");
    browser.wait_ready();
    let hints =
        browser.script("return [...document.querySelectorAll('.hint')].map(b => b.textContent)");
    assert_eq!(hints, serde_json::json!(["self"]));
    browser.click(".hint");
    let expr = browser.script("return document.querySelector('textarea.expr').value");
    assert_eq!(expr, "up{job=\"self\"");

    // Prometheus's warning and info annotations show beside the result.
    browser.open(&format!(
        "{base}/query?g0.expr=quantile(2%2C%20up)&g0.tab=1"
    ));
    let notes =
        browser.script("return [...document.querySelectorAll('.note')].map(e => e.textContent)");
    assert!(
        notes
            .to_string()
            .contains("quantile value should be between 0 and 1"),
        "{notes}"
    );
    browser.open(&format!("{base}/query?g0.expr=rate(up%5B5m%5D)&g0.tab=0"));
    let notes =
        browser.script("return [...document.querySelectorAll('.note')].map(e => e.textContent)");
    assert!(
        notes.to_string().contains("might not be a counter"),
        "{notes}"
    );

    // Bad input gets a readable error, never a blank page.
    browser.open(&format!("{base}/query?g0.expr=up%20%3D%3D&g0.tab=1"));
    let html = browser.html();
    assert!(
        html.contains(r#"class="error""#) && html.contains("parse error"),
        "{html}"
    );
    browser.open(&format!(
        "{base}/query?g0.expr=up&g0.tab=0&g0.range_input=an%20hour"
    ));
    assert!(browser.html().contains("is not a duration"));
    // A range whose end would come before its start.
    browser.open(&format!(
        "{base}/query?g0.expr=up&g0.tab=0&g0.range_input=-1h"
    ));
    assert!(
        browser
            .html()
            .contains("would end the graph before it starts"),
        "{}",
        browser.html()
    );
    // More samples than --query.max-samples: all of the dataset's 6 h.
    if dataset {
        browser.open(&format!(
            "{base}/query?g0.expr=%7B__name__%3D~%22.%2B%22%7D%5B6h%5D&g0.tab=1&g0.end_input=2026-11-01%2000:00:00"
        ));
        let html = browser.html();
        assert!(
            html.contains(r#"class="error""#) && html.contains("too many samples"),
            "{html}"
        );
    }
    browser.open(&format!("{base}/silences"));
    for (matchers, duration, want) in [
        ("", "2h", "at least one matcher"),
        ("{alertname=X}", "2h", "are not of the form"),
        ("{alertname=\"X\"}", "-1h", "is not a duration"),
    ] {
        browser.type_into("#silence-matchers", matchers);
        browser.type_into("#silence-duration", duration);
        browser.click("#create-silence");
        browser.wait_ready();
        let html = browser.html();
        assert!(html.contains(want), "{matchers} {duration}: {html}");
    }
    // An end in the past: the alerter's own reason.
    browser.open(&format!("{base}/silences"));
    browser.type_into("#silence-matchers", "{alertname=\"X\"}");
    browser.type_into("#silence-starts", "2020-01-01 00:00:00");
    browser.type_into("#silence-ends", "2020-01-01 02:00:00");
    browser.click("#create-silence");
    browser.wait_ready();
    let html = browser.html();
    assert!(html.contains("end time can't be in the past"), "{html}");

    // A query that runs out of time, on a server whose limit is a
    // millisecond (a subquery of 604,800 steps takes longer than that).
    if prefix.is_empty() {
        let quick = start_under(
            free_addr(),
            "",
            &dir.path().join("quick"),
            None,
            &["--query.timeout", "1ms"],
        );
        browser.open(&format!(
            "http://{}/query?g0.expr=count_over_time(vector(1)%5B7d%3A1s%5D)&g0.tab=1",
            quick.addr
        ));
        let html = browser.html();
        assert!(
            html.contains(r#"class="error""#) && html.contains("timed out"),
            "{html}"
        );
    }
}

/// Generates the compliance dataset and imports it into `data`; false
/// when the shared corpus is not here (outside CI only).
fn import_compliance(dir: &std::path::Path, data: &std::path::Path) -> bool {
    let Some(shared) = model::ci::shared("compliance") else {
        return false;
    };
    let om = dir.join("compliance.om");
    let gen = std::process::Command::new("python3")
        .arg(shared.join("gen_dataset.py"))
        .arg("--out")
        .arg(&om)
        .status()
        .expect("python3 runs");
    assert!(gen.success(), "gen_dataset.py failed");
    common::import(&om, data);
    true
}

/// The query page on the compliance dataset's last moment: the table
/// lists every `up` series Prometheus's API gives, and the graph of the
/// 6 h before draws one line per series.
fn dataset_pages(
    browser: &Browser,
    addr: std::net::SocketAddr,
    base: &str,
    shots: &std::path::Path,
) -> Vec<String> {
    const END: i64 = 1_793_491_200;
    let end = "2026-11-01%2000:00:00";
    let prefix = base.split_once(&addr.to_string()).map_or("", |x| x.1);
    let mut bad = Vec::new();
    let api = json(addr, &format!("{prefix}/api/v1/query?query=up&time={END}"));
    let want: Vec<String> = api["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let m = r["metric"].as_object().unwrap();
            let rest: Vec<String> = m
                .iter()
                .filter(|(k, _)| *k != "__name__")
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            format!("up{{{}}}", rest.join(", "))
        })
        .collect();
    if want.len() < 10 {
        bad.push(format!("the dataset has only {} up series", want.len()));
    }
    browser.resize(1280, 800);
    browser.open(&format!(
        "{base}/query?g0.expr=up&g0.tab=1&g0.end_input={end}"
    ));
    let cells = browser
        .script("return [...document.querySelectorAll('td.series')].map(e => e.textContent)");
    let mut got: Vec<String> = serde_json::from_value(cells).unwrap_or_default();
    got.sort();
    let mut want_sorted = want.clone();
    want_sorted.sort();
    if got != want_sorted {
        bad.push(format!(
            "up at the dataset's end: table {got:?}, API {want_sorted:?}"
        ));
    }
    let range = json(
        addr,
        &format!(
            "{prefix}/api/v1/query_range?query=up&start={}&end={END}&step=86.4",
            END - 6 * 3600
        ),
    );
    let series = range["data"]["result"].as_array().map_or(0, Vec::len);
    browser.open(&format!(
        "{base}/query?g0.expr=up&g0.tab=0&g0.range_input=6h&g0.end_input={end}"
    ));
    let lines = browser.script("return document.querySelectorAll('svg path[data-series]').length");
    if lines != serde_json::json!(series) || series < 10 {
        bad.push(format!(
            "graph of up over the dataset: {lines} lines for {series} series"
        ));
    }
    let legend = browser.script("return document.querySelectorAll('.legend > div').length");
    if legend != serde_json::json!(series) {
        bad.push(format!(
            "graph legend: {legend} entries for {series} series"
        ));
    }
    for (w, h) in [(1280, 800), (375, 812)] {
        browser.resize(w, h);
        browser.open(&format!(
            "{base}/query?g0.expr=up&g0.tab=0&g0.range_input=6h&g0.end_input={end}"
        ));
        browser.screenshot(&shots.join(format!("dataset-graph-{w}x{h}.png")));
    }
    let console = browser.console();
    if !console.is_empty() {
        bad.push(format!("dataset pages: console: {console:?}"));
    }
    bad
}
