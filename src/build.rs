//! What this binary is: its version and the build facts `build.rs` found.

/// Build facts, for `buildinfo`, `--version` and `watchfire_build_info`.
pub struct Info {
    /// Watchfire's own version.
    pub version: &'static str,
    /// The Prometheus release whose HTTP API Watchfire answers as; what
    /// `buildinfo` reports as `version`, so Grafana's data source detects
    /// the API features it may use.
    pub prometheus_api: &'static str,
    /// The git commit built, empty outside a checkout.
    pub revision: &'static str,
    /// The git branch built, empty outside a checkout.
    pub branch: &'static str,
    /// `YYYYMMDD-HH:MM:SS` UTC, or `SOURCE_DATE_EPOCH`'s.
    pub date: &'static str,
    /// `rustc --version` of the compiler.
    pub rustc: &'static str,
}

/// This build.
pub const INFO: Info = Info {
    version: env!("CARGO_PKG_VERSION"),
    prometheus_api: "3.0.0",
    revision: env!("WATCHFIRE_REVISION"),
    branch: env!("WATCHFIRE_BRANCH"),
    date: env!("WATCHFIRE_BUILD_DATE"),
    rustc: env!("WATCHFIRE_RUSTC"),
};
