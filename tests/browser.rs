//! The web UI in a real browser: Debian's Chromium, headless, loads every
//! page of a server that scrapes two targets (one down), evaluates rules
//! (one alert firing, one pending) and runs its alerter. Each page must
//! show its content, log nothing to the console, and is photographed at
//! 1280×800 and at a phone's 375×812. The pictures go to
//! `$WATCHFIRE_SCREENSHOTS` when set, else to the test's temporary
//! directory.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{free_addr, installed, json, start_at, wait_for};

/// Runs headless Chromium on `url` with `args`; (stdout, console lines).
fn chromium(profile: &Path, url: &str, args: &[&str]) -> (String, Vec<String>) {
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .expect("run chromium");
    let console = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    (String::from_utf8_lossy(&out.stdout).into_owned(), console)
}

#[test]
fn every_page_in_a_real_browser() {
    if !installed("chromium", "chromium") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let shots = std::env::var_os("WATCHFIRE_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.path().join("screenshots"));
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
        format!("global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: [rules.yml]\nscrape_configs:\n- job_name: self\n  static_configs: [{{targets: ['{addr}']}}]\n- job_name: down\n  static_configs: [{{targets: ['127.0.0.1:1']}}]\n"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("am.yml"),
        "route: {receiver: 'null'}\nreceivers: [{name: 'null'}]\n",
    )
    .unwrap();
    let am = dir.path().join("am.yml");
    let s = start_at(
        addr,
        &dir.path().join("data"),
        Some(&config),
        &["--alertmanager.config.file", am.to_str().unwrap()],
    );
    wait_for(
        Duration::from_secs(30),
        "both targets scraped and the alert firing",
        || {
            let up = json(s.addr, "/api/v1/query?query=count(up)");
            let alerts = json(s.addr, "/api/v1/alerts");
            up["data"]["result"][0]["value"][1] == "2"
                && alerts["data"]["alerts"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x["state"] == "firing"))
        },
    );
    let base = format!("http://{addr}");
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
                &format!("http://{addr}/metrics"),
                "http://127.0.0.1:1/metrics",
            ],
        ),
        ("/service-discovery", &["__address__=\"127.0.0.1:1\""]),
        ("/status", &["<h2>Build</h2>", "version"]),
        ("/config", &["scrape_configs:", "job_name: down"]),
        ("/flags", &["storage.tsdb.path"]),
        ("/tsdb-status", &["Top series counts by metric name"]),
        ("/silences", &["New silence", "All silences"]),
        (
            "/#/silences/new?filter=%7Balertname%3D%22AlwaysFiring%22%7D",
            &["New silence"],
        ),
    ];
    let profile = dir.path().join("profile");
    let mut bad = Vec::new();
    for (i, (page, want)) in pages.iter().enumerate() {
        let url = format!("{base}{page}");
        let (dom, console) = chromium(&profile, &url, &["--window-size=1280,800", "--dump-dom"]);
        for w in *want {
            if !dom.contains(w) {
                bad.push(format!("{page}: no {w:?} in the page"));
            }
        }
        // The down target's error is content; anything else is a failure.
        let errors = dom.matches("class=\"error\"").count();
        let expected = usize::from(page.starts_with("/targets"));
        if errors != expected {
            bad.push(format!("{page}: {errors} error boxes:\n{dom}"));
        }
        if !console.is_empty() {
            bad.push(format!("{page}: console: {console:?}"));
        }
        for (w, h) in [(1280, 800), (375, 812)] {
            let shot = shots.join(format!("{i:02}-{w}x{h}.png"));
            let (_, _) = chromium(
                &profile,
                &url,
                &[
                    &format!("--window-size={w},{h}"),
                    &format!("--screenshot={}", shot.display()),
                ],
            );
            let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
            if size < 5_000 {
                bad.push(format!(
                    "{page}: screenshot {} is {size} bytes",
                    shot.display()
                ));
            }
        }
    }
    // The silence link's matchers land in the form.
    let (dom, _) = chromium(
        &profile,
        &format!("{base}/#/silences/new?filter=%7Balertname%3D%22AlwaysFiring%22%7D"),
        &["--dump-dom"],
    );
    if !dom.contains("value=\"{alertname=&quot;AlwaysFiring&quot;}\"")
        && !dom.contains("{alertname=\"AlwaysFiring\"}")
    {
        bad.push(format!("the silence form is not prefilled:\n{dom}"));
    }
    println!("screenshots in {}", shots.display());
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
