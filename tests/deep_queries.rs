//! One request must never take the server down: queries nested far deeper
//! than any real one, through every endpoint that parses PromQL and as a
//! rule expression, are answered or refused with 400, and the process
//! lives on after each.

mod common;

use std::process::Command;

use common::{http, start};
use serde_json::Value;

/// The limit the server applies (`promql::nesting::MAX_DEPTH`).
const LIMIT: usize = promql::nesting::MAX_DEPTH;

fn chain(n: usize) -> String {
    let mut s = String::from("1");
    for _ in 1..n {
        s.push_str("+1");
    }
    s
}

fn parens(n: usize) -> String {
    format!("{}1{}", "(".repeat(n), ")".repeat(n))
}

fn unary(n: usize) -> String {
    format!("{}vector(1)", "-".repeat(n))
}

fn calls(n: usize) -> String {
    format!("{}vector(1){}", "abs(".repeat(n), ")".repeat(n))
}

fn form(q: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("query", q)
        .append_pair("start", "0")
        .append_pair("end", "60")
        .append_pair("step", "15")
        .finish()
}

#[test]
fn deep_queries_are_answered_or_refused_and_the_server_lives() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(&dir.path().join("data"), None, &[]);
    // (name, query, answered): at the limit a query is evaluated; past it,
    // refused before parsing.
    let cases: Vec<(String, String, bool)> = vec![
        ("chain at the limit".into(), chain(LIMIT), true),
        ("parentheses at the limit".into(), parens(LIMIT), true),
        ("unary at the limit".into(), unary(LIMIT - 1), true),
        ("calls at the limit".into(), calls(LIMIT - 1), true),
        ("chain of 10,000".into(), chain(10_000), false),
        ("chain of 100,000".into(), chain(100_000), false),
        ("10,000 parentheses".into(), parens(10_000), false),
        ("100,000 parentheses".into(), parens(100_000), false),
        ("100,000 unary minus".into(), unary(100_000), false),
        ("100,000 nested calls".into(), calls(100_000), false),
    ];
    let endpoints = [
        "/api/v1/query",
        "/api/v1/query_range",
        "/api/v1/parse_query",
        "/api/v1/format_query",
    ];
    for (name, q, answered) in &cases {
        for ep in endpoints {
            let (status, body) = http(srv.addr, "POST", ep, &form(q))
                .unwrap_or_else(|e| panic!("{name} via {ep}: no answer: {e}"));
            if *answered {
                // A tree this deep is past serde_json's recursion limit for
                // reading; the text says enough.
                assert_eq!(status, 200, "{name} via {ep}: {body:.300}");
                assert!(
                    body.contains(r#""status":"success""#),
                    "{name} via {ep}: {body:.300}"
                );
            } else {
                let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| {
                    panic!("{name} via {ep}: status {status}, {e}: {body:.200}")
                });
                assert_eq!(status, 400, "{name} via {ep}: {body:.300}");
                assert_eq!(v["errorType"], "bad_data", "{name} via {ep}");
                let e = v["error"].as_str().unwrap_or("");
                assert!(e.contains("too deeply nested"), "{name} via {ep}: {e}");
            }
            let (alive, _) = http(srv.addr, "GET", "/-/healthy", "")
                .unwrap_or_else(|e| panic!("after {name} via {ep}: server gone: {e}"));
            assert_eq!(alive, 200, "after {name} via {ep}");
        }
    }
    // The values are right, not just present.
    let (_, body) = http(srv.addr, "POST", "/api/v1/query", &form(&chain(LIMIT))).unwrap();
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"]["result"][1], LIMIT.to_string());
}

#[test]
fn deep_rule_expressions_are_refused_with_file_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("deep.rules.yml");
    let config = dir.path().join("prometheus.yml");
    for (name, q) in [
        ("chain", chain(100_000)),
        ("parentheses", parens(100_000)),
        ("calls", calls(100_000)),
    ] {
        std::fs::write(
            &rules,
            format!("groups:\n- name: deep\n  rules:\n  - record: deep\n    expr: {q}\n"),
        )
        .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_watchfire"))
            .args(["check", "rules"])
            .arg(&rules)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{name}: {stdout:.300} {stderr:.300}"
        );
        assert!(
            stdout.contains("too deeply nested") || stderr.contains("too deeply nested"),
            "{name}: {stdout:.300} {stderr:.300}"
        );
    }
    // A running server refuses a reload to them and keeps its rules.
    std::fs::write(
        &rules,
        "groups:\n- name: fine\n  rules:\n  - record: fine\n    expr: vector(1)\n",
    )
    .unwrap();
    std::fs::write(
        &config,
        format!("rule_files: [{:?}]\n", rules.display().to_string()),
    )
    .unwrap();
    let srv = start(&dir.path().join("data"), Some(&config), &[]);
    std::fs::write(
        &rules,
        format!(
            "groups:\n- name: deep\n  rules:\n  - record: deep\n    expr: {}\n",
            chain(100_000)
        ),
    )
    .unwrap();
    let (status, body) = http(srv.addr, "POST", "/-/reload", "").unwrap();
    assert_ne!(status, 200, "{body:.300}");
    assert!(body.contains("too deeply nested"), "{body:.300}");
    let (status, body) = http(srv.addr, "GET", "/api/v1/rules", "").unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("\"fine\""), "{body:.300}");
}

#[test]
fn extreme_time_ranges_are_refused_or_answered_and_the_server_lives() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(&dir.path().join("data"), None, &[]);
    // (start, end, step, status): the span of two extreme times once
    // overflowed past the 11,000-point check.
    for (start, end, step, want) in [
        ("-9e15", "9e15", "1", 400),
        ("-9e15", "9e15", "1e12", 400),
        ("-9e15", "9e15", "1e15", 200),
        ("-9e15", "9e15", "9e15", 200),
        ("-9.1e15", "-9.1e15", "1", 200),
        ("9.1e15", "9.1e15", "1", 200),
    ] {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("query", "count_over_time(up[5m] offset 1h)")
            .append_pair("start", start)
            .append_pair("end", end)
            .append_pair("step", step)
            .finish();
        let (status, text) = http(srv.addr, "POST", "/api/v1/query_range", &body).unwrap();
        assert_eq!(status, want, "{start}..{end} step {step}: {text:.300}");
        if want == 400 {
            assert!(text.contains("exceeded maximum resolution"), "{text:.300}");
        }
        let (alive, _) = http(srv.addr, "GET", "/-/healthy", "").unwrap();
        assert_eq!(alive, 200);
    }
}
