//! What a test does when something it needs is not on this machine.
//!
//! Tests that read the shared corpora or drive a real peer (Debian's
//! `prometheus`, `amtool`, `python3-aiosmtpd`, …) cannot run without them.
//! On a developer's machine they say why and pass; under `CI=true` they
//! fail, so a missing install step in `.ci/run` shows as red instead of as
//! a quiet skip.

/// Whether this process runs under CI (`CI=true`, as CI services set it).
pub fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Says that a test cannot run here because of `reason`; the caller
/// returns after this. Under CI this panics instead: a test never skips
/// there.
///
/// ```
/// fn corpus_test() {
///     let dir = std::path::Path::new("../shared/conformance/none");
///     if !dir.exists() {
///         # if model::ci::is_ci() { return; }
///         model::ci::skip(&format!("{} is not present", dir.display()));
///         return;
///     }
/// }
/// # corpus_test();
/// ```
pub fn skip(reason: &str) {
    // Panicking is the point: it is how a Rust test fails.
    assert!(
        !is_ci(),
        "{reason}; under CI=true a test may not skip, so .ci/run must install what it needs"
    );
    println!("skipped: {reason}");
}

/// `rel` inside the shared folder that sits beside the checkout
/// (`../shared`: the conformance and compliance corpora), or `None` after
/// [`skip`] when it is not there.
pub fn shared(rel: &str) -> Option<std::path::PathBuf> {
    // Every crate of the workspace is one level below the checkout.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared")
        .join(rel);
    if dir.exists() {
        return Some(dir);
    }
    skip(&format!("../shared/{rel} is not present"));
    None
}

/// A reviewed list of known failures: one `key: reason` a line, blank lines
/// and `#` comments ignored. A test compares what fails with it, so one
/// regression, or one listed case that passes again, fails. A line without
/// a reason, or a key listed twice, fails the test that reads it.
pub fn known_failures(path: &std::path::Path) -> std::collections::BTreeMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = std::collections::BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, reason) = line
            .split_once(": ")
            .unwrap_or_else(|| panic!("{}:{}: not `key: reason`", path.display(), n + 1));
        let dup = out.insert(key.trim().to_string(), reason.trim().to_string());
        assert!(
            dup.is_none(),
            "{}:{}: {key} listed twice",
            path.display(),
            n + 1
        );
    }
    out
}
