//! `watchfire check alertmanager` and `watchfire routes test` on the
//! amtool cases of `../shared/conformance/alertmanager/amtool`: the verdict
//! of `amtool check-config` and the receivers of `amtool config routes
//! test`.

mod common;

use std::process::Command;

#[test]
fn amtool_cases() {
    let Some((dir, exp)) = common::corpus("conformance/alertmanager/amtool", "expected.json")
    else {
        return;
    };
    for c in exp["check_config"].as_array().unwrap() {
        let out = Command::new(env!("CARGO_BIN_EXE_watchfire"))
            .args(["check", "alertmanager"])
            .arg(dir.join(c["file"].as_str().unwrap()))
            .output()
            .unwrap();
        let want = if c["valid"].as_bool().unwrap() { 0 } else { 1 };
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(want), "{c}: {text}");
        if want == 1 {
            assert!(
                text.contains(".yml:1: yaml: unmarshal errors"),
                "file, line and reason: {text}"
            );
        }
    }
    for c in exp["routes_test"].as_array().unwrap() {
        let labels: Vec<String> = c["alert_labels"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap()))
            .collect();
        let want: Vec<&str> = c["receivers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let out = Command::new(env!("CARGO_BIN_EXE_watchfire"))
            .args(["routes", "test", "--alertmanager.config.file"])
            .arg(dir.join(c["config"].as_str().unwrap()))
            .arg(format!("--verify.receivers={}", want.join(",")))
            .args(&labels)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(text.trim(), want.join(","), "{c}");
        assert!(out.status.success(), "{c}: {text}");
    }
}

/// The templates a configuration names are parsed too: a broken one fails
/// the check with its file and line, as `amtool check-config` does.
#[test]
fn templates_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("t")).unwrap();
    let am = dir.path().join("am.yml");
    std::fs::write(
        &am,
        "route:\n  receiver: r\nreceivers:\n  - name: r\ntemplates: ['t/*.tmpl']\n",
    )
    .unwrap();
    let check = || {
        let out = Command::new(env!("CARGO_BIN_EXE_watchfire"))
            .args(["check", "alertmanager"])
            .arg(&am)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    std::fs::write(
        dir.path().join("t/ok.tmpl"),
        "{{ define \"x\" }}{{ .Status }}{{ end }}",
    )
    .unwrap();
    let (code, text) = check();
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains(" - 1 templates"), "{text}");
    std::fs::write(
        dir.path().join("t/bad.tmpl"),
        "{{ define \"y\" }}{{ .Foo }\n",
    )
    .unwrap();
    let (code, text) = check();
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("bad.tmpl:1: unexpected '}'"), "{text}");
}
