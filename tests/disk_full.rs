//! The server on a full disk: a tmpfs of a few MiB that the test mounts
//! (root only; elsewhere it skips, and fails under `CI=true`) holds the
//! data directory while the server scrapes itself every second. When the
//! disk fills, the failure must be logged, counted and shown on the status
//! page; when space returns, ingestion resumes within a few scrapes; after
//! a SIGKILL and a restart no WAL damage is reported and nothing
//! acknowledged is lost.

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{free_addr, http, json, start_logged, wait_for, Server};

struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn spawn(addr: std::net::SocketAddr, data: &Path, config: &Path, log: &Path) -> Server {
    start_logged(
        addr,
        data,
        &["--config.file", config.to_str().unwrap()],
        log,
    )
}

fn metric(addr: std::net::SocketAddr, name: &str) -> f64 {
    let (_, body) = http(addr, "GET", "/metrics", "").unwrap();
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in /metrics"))
}

/// The number of `up` samples of the self-scrape stored in the last hour.
fn up_samples(addr: std::net::SocketAddr) -> u64 {
    let v = json(addr, "/api/v1/query?query=count_over_time(up%5B1h%5D)");
    v["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[test]
fn the_server_on_a_full_disk_says_so_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let fs = dir.path().join("fs");
    std::fs::create_dir(&fs).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
        .arg(&fs)
        .output();
    match mounted {
        Ok(o) if o.status.success() => {}
        other => {
            model::ci::skip(&format!("cannot mount a tmpfs (run as root): {other:?}"));
            return;
        }
    }
    let _mount = Mount(fs.clone());
    let addr = free_addr();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{scrape_interval: 1s, scrape_timeout: 1s}}\nscrape_configs:\n  - job_name: self\n    static_configs: [{{targets: ['{addr}']}}]\n"
        ),
    )
    .unwrap();
    let data = fs.join("data");
    let log = dir.path().join("watchfire.log");
    let server = spawn(addr, &data, &config, &log);
    wait_for(Duration::from_secs(20), "some scrapes", || {
        up_samples(addr) >= 3
    });

    // Fill the disk.
    let filler = fs.join("filler");
    {
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0x5au8; 64 << 10];
        while f.write_all(&block).is_ok() {}
    }
    let before = up_samples(addr);
    wait_for(Duration::from_secs(20), "a counted WAL failure", || {
        metric(addr, "prometheus_tsdb_wal_writes_failed_total") > 0.0
    });
    let info = json(addr, "/api/v1/status/runtimeinfo");
    let errors = info["data"]["storageWriteErrors"].to_string();
    assert!(
        errors.contains("WAL write failing since") && errors.contains("No space left on device"),
        "{errors}"
    );
    let targets = json(addr, "/api/v1/targets").to_string();
    assert!(targets.contains("No space left on device"), "{targets}");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("storage write failed"), "{logged}");
    let held = up_samples(addr);
    assert!(held >= before, "samples vanished: {held} < {before}");

    // Free it: ingestion resumes by itself at the next scrape.
    std::fs::remove_file(&filler).unwrap();
    let freed = model::time::now_ms();
    wait_for(Duration::from_secs(5), "ingestion to resume", || {
        up_samples(addr) > held
    });
    let v = json(
        addr,
        &format!(
            "/api/v1/query?query=up%5B10s%5D&time={}",
            (freed + 4000) as f64 / 1000.0
        ),
    );
    let first = v["data"]["result"][0]["values"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p[0].as_f64())
        .map(|t| (t * 1000.0) as i64)
        .find(|t| *t > freed)
        .unwrap_or_else(|| panic!("no sample after the disk was freed: {v}"));
    // One interval, and one more for a scrape that started as space
    // returned.
    assert!(
        first - freed <= 2000,
        "first sample {} ms after space returned",
        first - freed
    );
    wait_for(Duration::from_secs(5), "the status page to clear", || {
        json(addr, "/api/v1/status/runtimeinfo")["data"]["storageWriteErrors"]
            .as_array()
            .is_some_and(|a| a.iter().all(|e| !e.to_string().contains("WAL write")))
    });
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("storage write succeeds again"), "{logged}");
    let acked = up_samples(addr);

    // SIGKILL and restart: no damage, nothing acknowledged lost.
    drop(server);
    let _server = spawn(addr, &data, &config, &dir.path().join("second.log"));
    let info = json(addr, "/api/v1/status/runtimeinfo");
    assert_eq!(info["data"]["corruptionCount"], 0, "{info}");
    assert!(up_samples(addr) >= acked, "{} < {acked}", up_samples(addr));
}
