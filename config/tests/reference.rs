//! Walks Prometheus's configuration reference (`tests/reference/keys.txt`,
//! every key of upstream's `config/config.go`, `http_config.go`, the
//! registered service discoveries and `docs/configuration/configuration.md`)
//! and sets each key alone in an otherwise valid `prometheus.yml`. Each
//! must be implemented (loads, no warning), refused (fails with a reason
//! that names it and says it is not supported) or warned (loads, with a
//! warning naming its section), as the list says; none may be dropped in
//! silence or called an unknown field.

use std::path::Path;

use model::yaml::Value;

/// Where each shorthand of the list expands.
fn expand(path: &str) -> Vec<String> {
    let places: &[(&str, &[&str])] = &[
        (
            "<http>",
            &[
                "scrape_configs[]",
                "scrape_configs[].http_sd_configs[]",
                "alerting.alertmanagers[]",
            ],
        ),
        (
            "<relabel>",
            &[
                "scrape_configs[].relabel_configs",
                "scrape_configs[].metric_relabel_configs",
                "alerting.alert_relabel_configs",
            ],
        ),
        ("<sd>", &["scrape_configs[]", "alerting.alertmanagers[]"]),
    ];
    for (short, long) in places {
        if let Some(rest) = path.strip_prefix(short) {
            return long.iter().map(|l| format!("{l}{rest}")).collect();
        }
    }
    vec![path.to_string()]
}

/// What a list entry needs besides the key under test.
fn entry_base(list: &str) -> Value {
    let text = match list {
        "scrape_configs" => "{job_name: j}",
        "http_sd_configs" => "{url: 'http://127.0.0.1:1/sd'}",
        "file_sd_configs" => "{files: ['x.json']}",
        "remote_write" | "remote_read" => "{url: 'http://127.0.0.1:1/'}",
        "relabel_configs" | "metric_relabel_configs" | "alert_relabel_configs" => {
            "{action: replace, target_label: t}"
        }
        _ => "{}",
    };
    model::yaml::value_from_str(text).unwrap()
}

/// A configuration with `value` at `path` and `with` beside it.
fn document(path: &str, value: Value, with: Option<Value>) -> Value {
    let segments: Vec<&str> = path.split('.').collect();
    let mut root = Value::Object(Default::default());
    let mut at = &mut root;
    for (i, seg) in segments.iter().enumerate() {
        let (name, list) = match seg.strip_suffix("[]") {
            Some(n) => (n, true),
            None => (*seg, false),
        };
        let last = i + 1 == segments.len();
        let obj = at.as_object_mut().expect("a mapping on the way");
        if last && !list {
            if let Some(Value::Object(w)) = &with {
                obj.extend(w.clone());
            }
            obj.insert(name.to_string(), value.clone());
            break;
        }
        let slot = obj
            .entry(name.to_string())
            .or_insert_with(|| Value::Object(Default::default()));
        if list {
            let mut entry = entry_base(name);
            if last {
                entry = value.clone();
            }
            *slot = Value::Array(vec![entry]);
            at = &mut slot.as_array_mut().unwrap()[0];
            if last {
                break;
            }
        } else {
            at = slot;
        }
    }
    root
}

/// Replaces the test's placeholders in every string of `v`.
fn fill(v: &mut Value, vars: &[(&str, String)]) {
    match v {
        Value::String(s) => {
            for (k, val) in vars {
                *s = s.replace(k, val);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| fill(x, vars)),
        Value::Object(o) => o.values_mut().for_each(|x| fill(x, vars)),
        _ => {}
    }
}

fn pki(dir: &Path) -> Vec<(&'static str, String)> {
    use rcgen::{CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let files = [
        ("ca.pem", ca.pem()),
        ("cert.pem", cert.pem()),
        ("key.pem", key.serialize_pem()),
        ("secret", "s3cret\n".to_string()),
    ];
    for (name, text) in &files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    std::fs::create_dir(dir.join("jobs")).unwrap();
    std::fs::write(
        dir.join("jobs/more.yml"),
        "scrape_configs:\n  - job_name: more\n    static_configs: [{targets: ['127.0.0.1:2']}]\n",
    )
    .unwrap();
    vec![
        ("{dir}", dir.display().to_string()),
        ("{ca}", files[0].1.clone()),
        ("{cert}", files[1].1.clone()),
        ("{key}", files[2].1.clone()),
    ]
}

#[test]
fn every_upstream_key_is_implemented_refused_or_warned() {
    let dir = tempfile::tempdir().unwrap();
    let vars = pki(dir.path());
    let file = dir.path().join("prometheus.yml").display().to_string();
    let list = include_str!("reference/keys.txt");
    let (mut checked, mut bad) = (0, Vec::new());
    for line in list.lines() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        assert!(
            (3..=4).contains(&cols.len()),
            "bad line in keys.txt: {line:?}"
        );
        let (path, value, want) = (cols[0], cols[1], cols[2]);
        let with = cols.get(3).map(|w| model::yaml::value_from_str(w).unwrap());
        for path in expand(path) {
            let mut value = model::yaml::value_from_str(value).unwrap();
            fill(&mut value, &vars);
            let mut with = with.clone();
            if let Some(w) = &mut with {
                fill(w, &vars);
            }
            let text = model::yaml::to_string(&document(&path, value, with));
            let got = config::parse(&text, &file);
            let leaf = path.rsplit('.').next().unwrap().trim_end_matches("[]");
            let top = path.split(['.', '[']).next().unwrap();
            let outcome = match &got {
                Ok(c) if c.warnings.is_empty() => "implemented",
                Ok(c) if c.warnings.iter().all(|w| w.reason.contains(top)) => "warned",
                Err(e)
                    if e.reason.contains("not supported")
                        && (e.reason.contains(leaf) || e.reason.contains(top)) =>
                {
                    "refused"
                }
                _ => "neither",
            };
            checked += 1;
            if outcome != want {
                let said = match &got {
                    Ok(c) => format!("loaded, warnings {:?}", c.warnings),
                    Err(e) => e.to_string(),
                };
                bad.push(format!(
                    "{path}: want {want}, got {outcome}: {said}\n{text}"
                ));
            }
        }
    }
    assert!(checked > 300, "only {checked} keys checked");
    assert!(
        bad.is_empty(),
        "{} of {checked} keys:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
