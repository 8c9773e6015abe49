//! The rule-file cases of `../shared/conformance/promtool/cases.json`
//! (`rulefmt_parse`): each file accepted or rejected as Prometheus's rule
//! parser does, with its reason.

use std::path::PathBuf;

use rules::NameValidation;

fn corpus() -> Option<PathBuf> {
    model::ci::shared("conformance/promtool")
}

#[test]
fn rulefmt_parse_cases() {
    let Some(dir) = corpus() else {
        return;
    };
    let cases: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap()).unwrap();
    let cases = cases["rulefmt_parse"].as_array().unwrap();
    let mut failures = Vec::new();
    for c in cases {
        let file = c["file"].as_str().unwrap();
        let names = match c["name_validation"].as_str() {
            Some("legacy") => NameValidation::Legacy,
            _ => NameValidation::Utf8,
        };
        let got = rules::file::load(&dir.join(file), names);
        let want_ok = c["ok"].as_bool().unwrap();
        match (&got, want_ok) {
            (Ok(_), true) => {}
            (Err(errors), false) => {
                let want = c["error_contains"].as_str().unwrap_or("");
                if !errors.iter().any(|e| e.reason.contains(want)) {
                    failures.push(format!(
                        "{file}: want an error with {want:?}, got {errors:?}"
                    ));
                }
                if errors.iter().any(|e| e.line.is_none()) {
                    failures.push(format!("{file}: an error without a line: {errors:?}"));
                }
            }
            (Ok(_), false) => failures.push(format!("{file}: accepted, want rejected")),
            (Err(e), true) => failures.push(format!("{file}: rejected: {e:?}")),
        }
    }
    println!(
        "rulefmt_parse: {} of {} cases as Prometheus",
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn aliases_resolve() {
    let Some(dir) = corpus() else {
        return;
    };
    let f =
        rules::file::load(&dir.join("rulefmt/test_aliases.yaml"), NameValidation::Utf8).unwrap();
    let rules = &f.groups[0].rules;
    assert!(rules.iter().all(|r| r.expr == rules[0].expr));
    assert_eq!(
        rules[0].labels.get("severity").map(String::as_str),
        Some("critical")
    );
    assert_eq!(
        rules[2].labels.get("severity").map(String::as_str),
        Some("critical")
    );
    assert_eq!(rules[3].name(), "HighAlert2");
    assert_eq!(rules[3].for_, std::time::Duration::from_secs(300));
}
