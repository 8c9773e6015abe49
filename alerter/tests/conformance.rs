//! Alertmanager's own cases from `../shared/conformance/alertmanager`:
//! configuration files and inline configs load or fail as upstream's, and
//! every routing case reaches the expected routes in order.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use alerter::config;
use alerter::route::{Route, DEFAULT_GROUP_INTERVAL, DEFAULT_GROUP_WAIT, DEFAULT_REPEAT_INTERVAL};
use serde_json::Value;

fn corpus() -> Option<PathBuf> {
    model::ci::shared("conformance/alertmanager")
}

fn json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Whether loading gave what the case expects; the problem if not.
fn verdict(got: Result<config::Loaded, config::ConfigError>, case: &Value) -> Result<(), String> {
    match (got, case["valid"].as_bool().unwrap()) {
        (Ok(_), true) => Ok(()),
        (Ok(_), false) => Err(format!(
            "loaded, want error {}",
            case.get("error").or(case.get("error_contains")).unwrap()
        )),
        (Err(e), true) => Err(format!("refused ({e}), want valid")),
        (Err(e), false) => {
            if let Some(want) = case["error"].as_str() {
                if e.reason != want {
                    return Err(format!("error {:?}, want {want:?}", e.reason));
                }
            }
            if let Some(want) = case["error_contains"].as_str() {
                if !e.reason.contains(want) {
                    return Err(format!("error {:?}, want it to contain {want:?}", e.reason));
                }
            }
            Ok(())
        }
    }
}

#[test]
fn config_files_and_inline_cases() {
    let Some(dir) = corpus() else {
        return;
    };
    let mut results: Vec<(String, Result<(), String>)> = Vec::new();
    let files = json(&dir.join("config/expected.json"));
    for (name, case) in files["files"].as_object().unwrap() {
        let got = config::load(&dir.join("config/testdata").join(name));
        results.push((name.clone(), verdict(got, case)));
    }
    let inline = json(&dir.join("config/inline-cases.json"));
    let cases = inline.get("cases").unwrap_or(&inline);
    for case in cases.as_array().unwrap() {
        let got = config::parse(case["config"].as_str().unwrap(), "inline.yml");
        results.push((
            case["name"].as_str().unwrap().to_string(),
            verdict(got, case),
        ));
    }
    let passed = results.iter().filter(|r| r.1.is_ok()).count();
    println!(
        "alertmanager config: {passed} of {} cases as upstream",
        results.len()
    );
    for (name, r) in &results {
        if let Err(e) = r {
            println!("  miss: {name}: {e}");
        }
    }
    // The issue asks for at least 98 %.
    assert!(
        passed * 100 >= results.len() * 98,
        "{passed} of {} passed",
        results.len()
    );
}

fn duration_matches(want: &Value, got: std::time::Duration, default: std::time::Duration) -> bool {
    match want.as_str() {
        Some("default") => got == default,
        Some(s) => model::time::parse_duration(s).ok() == Some(got),
        None => false,
    }
}

#[test]
fn route_tree_cases() {
    let Some(dir) = corpus() else {
        return;
    };
    let trees = json(&dir.join("routing/route-tree-cases.json"));
    let (mut total, mut bad) = (0, Vec::new());
    for tree in trees["trees"].as_array().unwrap() {
        let cfg: config::RouteConfig =
            model::yaml::from_str(tree["route"].as_str().unwrap()).unwrap();
        let root = Route::new(&cfg).unwrap();
        for case in tree["cases"].as_array().unwrap() {
            total += 1;
            let labels: BTreeMap<String, String> =
                serde_json::from_value(case["alert_labels"].clone()).unwrap();
            let got = root.matches(&labels);
            let want = case["matches"].as_array().unwrap();
            let keys: Vec<&str> = case["route_keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k.as_str().unwrap())
                .collect();
            let got_keys: Vec<&str> = got.iter().map(|r| r.key.as_str()).collect();
            let mut ok = got.len() == want.len() && got_keys == keys;
            for (g, w) in got.iter().zip(want) {
                ok &= g.receiver == w["receiver"].as_str().unwrap_or("");
                ok &= g.group_by_all == w["group_by_all"].as_bool().unwrap_or(false);
                ok &= match &w["group_by"] {
                    Value::String(s) if s == "default" => g.group_by.is_empty() && !g.group_by_all,
                    Value::Array(a) => {
                        let mut want: Vec<&str> = a.iter().map(|v| v.as_str().unwrap()).collect();
                        want.sort();
                        g.group_by == want
                    }
                    _ => false,
                };
                ok &= duration_matches(&w["group_wait"], g.group_wait, DEFAULT_GROUP_WAIT);
                ok &= duration_matches(
                    &w["group_interval"],
                    g.group_interval,
                    DEFAULT_GROUP_INTERVAL,
                );
                ok &= duration_matches(
                    &w["repeat_interval"],
                    g.repeat_interval,
                    DEFAULT_REPEAT_INTERVAL,
                );
            }
            if !ok {
                bad.push(format!(
                    "{} {labels:?}: got {got_keys:?} {:?}",
                    tree["name"],
                    got.iter()
                        .map(|r| (&r.receiver, &r.group_by, r.group_wait))
                        .collect::<Vec<_>>()
                ));
            }
        }
    }
    println!(
        "route trees: {} of {total} alerts routed as upstream",
        total - bad.len()
    );
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn amtool_cases() {
    let Some(dir) = corpus() else {
        return;
    };
    let exp = json(&dir.join("amtool/expected.json"));
    for c in exp["check_config"].as_array().unwrap() {
        let got = config::load(&dir.join("amtool").join(c["file"].as_str().unwrap()));
        assert_eq!(
            got.is_ok(),
            c["valid"].as_bool().unwrap(),
            "{c}: {:?}",
            got.err()
        );
    }
    for c in exp["routes_test"].as_array().unwrap() {
        let cfg = config::load(&dir.join("amtool").join(c["config"].as_str().unwrap())).unwrap();
        let root = Route::new(cfg.raw.route.as_ref().unwrap()).unwrap();
        let labels: BTreeMap<String, String> =
            serde_json::from_value(c["alert_labels"].clone()).unwrap();
        let got: Vec<&str> = root
            .matches(&labels)
            .iter()
            .map(|r| r.receiver.as_str())
            .collect();
        let want: Vec<&str> = c["receivers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(got, want, "{c}");
    }
}
