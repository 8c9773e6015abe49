//! Build facts for `/api/v1/status/buildinfo` and `watchfire_build_info`:
//! the git revision and branch (when built from a checkout), the build
//! time and the compiler. Nothing here can fail the build: an unknown fact
//! is left empty.

use std::process::Command;

fn main() {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    println!(
        "cargo:rustc-env=WATCHFIRE_REVISION={}",
        git(&["rev-parse", "HEAD"])
    );
    println!(
        "cargo:rustc-env=WATCHFIRE_BRANCH={}",
        git(&["rev-parse", "--abbrev-ref", "HEAD"])
    );
    // Rebuild when the checked-out commit moves.
    let git_dir = git(&["rev-parse", "--git-dir"]);
    if !git_dir.is_empty() {
        println!("cargo:rerun-if-changed={git_dir}/HEAD");
        let head = std::fs::read_to_string(format!("{git_dir}/HEAD")).unwrap_or_default();
        if let Some(r) = head.trim().strip_prefix("ref: ") {
            println!("cargo:rerun-if-changed={git_dir}/{r}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    // Reproducible builds set SOURCE_DATE_EPOCH; otherwise now.
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        });
    println!("cargo:rustc-env=WATCHFIRE_BUILD_DATE={}", date(secs));
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    println!("cargo:rustc-env=WATCHFIRE_RUSTC={version}");
}

/// `YYYYMMDD-HH:MM:SS` in UTC, as Prometheus's builds write `buildDate`.
fn date(secs: i64) -> String {
    // `YYYY-MM-DDTHH:MM:SS.mmmZ`, rearranged.
    let t = model::time::format_rfc3339(secs * 1000);
    format!("{}{}{}-{}", &t[0..4], &t[5..7], &t[8..10], &t[11..19])
}
