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
