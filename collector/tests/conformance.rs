//! Conformance of the exposition parser against the shared corpora in
//! `../shared/conformance/exposition` (read in place, never copied):
//!
//! - `openmetrics/`: the OpenMetrics 1.0 accept/reject suite, at
//!   `Strictness::Spec`;
//! - `prometheus-textparse/`: Prometheus' own scrape-parser tables, at
//!   `Strictness::Prometheus`, comparing every entry of `valid[]` and the
//!   accept/reject outcome of `errors[]`;
//! - `common-expfmt/text-parse.json`: the reference text parser's tables,
//!   at `Strictness::Spec`, comparing samples of `valid[]` as a multiset;
//! - `samples/`: real payloads that must parse at `Strictness::Prometheus`
//!   (the scraper's level); their outcome at `Strictness::Spec` is printed
//!   but not counted.
//!
//! Run with `cargo test -p collector --test conformance -- --nocapture` to
//! see the counts and every failure.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use collector::exposition::{parse_with, Entry, Format, Sample, Strictness};
use serde_json::Value;

/// The pass rate each corpus and the total must reach.
const MIN_RATE: f64 = 0.98;

/// Pass and fail counts of one corpus.
struct Tally {
    corpus: &'static str,
    passed: usize,
    failures: Vec<String>,
    notes: Vec<String>,
}

impl Tally {
    fn new(corpus: &'static str) -> Self {
        Tally {
            corpus,
            passed: 0,
            failures: Vec::new(),
            notes: Vec::new(),
        }
    }

    fn record(&mut self, case: &str, outcome: Result<(), String>) {
        match outcome {
            Ok(()) => self.passed += 1,
            Err(why) => self.failures.push(format!("{case}: {why}")),
        }
    }

    fn total(&self) -> usize {
        self.passed + self.failures.len()
    }

    fn rate(&self) -> f64 {
        if self.total() == 0 {
            1.0
        } else {
            self.passed as f64 / self.total() as f64
        }
    }
}

#[test]
fn exposition_corpora() {
    let Some(root) = model::ci::shared("conformance/exposition") else {
        return;
    };
    let tallies = [
        openmetrics_suite(&root),
        prometheus_textparse(&root),
        common_expfmt(&root),
        samples(&root),
    ];
    let (mut passed, mut total) = (0, 0);
    for t in &tallies {
        eprintln!(
            "{}: {} passed, {} failed",
            t.corpus,
            t.passed,
            t.failures.len()
        );
        for f in &t.failures {
            eprintln!("  FAIL {f}");
        }
        for n in &t.notes {
            eprintln!("  note {n}");
        }
        passed += t.passed;
        total += t.total();
    }
    eprintln!("overall: {passed} passed, {} failed", total - passed);
    let overall = passed as f64 / total.max(1) as f64;
    assert!(
        overall >= MIN_RATE,
        "overall pass rate {overall:.4} below {MIN_RATE}"
    );
    for t in &tallies {
        assert!(t.total() > 0, "{}: no cases found", t.corpus);
        assert!(
            t.rate() >= MIN_RATE,
            "{}: pass rate {:.4} below {MIN_RATE}",
            t.corpus,
            t.rate()
        );
    }
}

// ---- openmetrics/ ----

fn openmetrics_suite(root: &Path) -> Tally {
    let mut tally = Tally::new("openmetrics suite");
    let Ok(dirs) = fs::read_dir(root.join("openmetrics/cases")) else {
        return tally;
    };
    let mut dirs: Vec<PathBuf> = dirs.filter_map(|d| d.ok().map(|d| d.path())).collect();
    dirs.sort();
    for dir in dirs {
        let case = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let outcome = (|| {
            let test: Value = serde_json::from_slice(
                &fs::read(dir.join("test.json")).map_err(|e| e.to_string())?,
            )
            .map_err(|e| e.to_string())?;
            let file = test["file"].as_str().unwrap_or("metrics");
            let should_parse = test["shouldParse"]
                .as_bool()
                .ok_or("test.json without shouldParse")?;
            let body = fs::read(dir.join(file)).map_err(|e| e.to_string())?;
            let got = parse_with(&body, Format::OpenMetrics, Strictness::Spec);
            expect_outcome(should_parse, got.map(|_| ()).map_err(|e| e.to_string()))
        })();
        tally.record(&case, outcome);
    }
    tally
}

fn expect_outcome(should_parse: bool, got: Result<(), String>) -> Result<(), String> {
    match (should_parse, got) {
        (true, Ok(())) | (false, Err(_)) => Ok(()),
        (true, Err(e)) => Err(format!("rejected, want accepted: {e}")),
        (false, Ok(())) => Err("accepted, want rejected".into()),
    }
}

// ---- prometheus-textparse/ ----

fn prometheus_textparse(root: &Path) -> Tally {
    let mut tally = Tally::new("prometheus-textparse");
    for (file, format) in [
        ("prometheus-text.json", Format::Text),
        ("openmetrics.json", Format::OpenMetrics),
    ] {
        let Some(doc) = read_json(&root.join("prometheus-textparse").join(file), &mut tally) else {
            continue;
        };
        for (i, case) in doc["valid"].as_array().into_iter().flatten().enumerate() {
            let name = format!("{file} valid[{i}] {}", case["name"].as_str().unwrap_or(""));
            let outcome =
                input_of(case).and_then(|input| compare_entries(&input, format, &case["entries"]));
            tally.record(&name, outcome);
            // Informational: the strict level rejects what the scraper lets through.
            if let Ok(input) = input_of(case) {
                if let Err(e) = parse_with(&input, format, Strictness::Spec) {
                    tally
                        .notes
                        .push(format!("{name} at Strictness::Spec: rejected ({e})"));
                }
            }
        }
        for (i, case) in doc["errors"].as_array().into_iter().flatten().enumerate() {
            let name = format!(
                "{file} errors[{i}] {:?}",
                case["input"].as_str().unwrap_or("<base64>")
            );
            let outcome = input_of(case).and_then(|input| {
                let want_valid = case["valid"].as_bool().unwrap_or(false);
                let got = parse_with(&input, format, Strictness::Prometheus);
                expect_outcome(want_valid, got.map(|_| ()).map_err(|e| e.to_string())).map_err(
                    |e| format!("{e} (upstream: {})", case["error"].as_str().unwrap_or("-")),
                )
            });
            tally.record(&name, outcome);
        }
    }
    tally
}

/// Compares all entries of `input` with Prometheus' expected entries.
fn compare_entries(input: &[u8], format: Format, want: &Value) -> Result<(), String> {
    let mut got =
        parse_with(input, format, Strictness::Prometheus).map_err(|e| format!("rejected: {e}"))?;
    // Prometheus reports `# EOF` as the end of input, not as an entry.
    got.retain(|e| *e != Entry::Eof);
    let want = want.as_array().ok_or("no entries array")?;
    let mut problems = Vec::new();
    for (i, w) in want.iter().enumerate() {
        let Some(g) = got.get(i) else {
            problems.push(format!("entry {i}: missing, want {w}"));
            break;
        };
        if let Err(p) = compare_entry(g, w) {
            problems.push(format!("entry {i}: {p}"));
        }
    }
    if got.len() > want.len() {
        problems.push(format!(
            "{} extra entries, first {:?}",
            got.len() - want.len(),
            got[want.len()]
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

fn compare_entry(got: &Entry<'_>, want: &Value) -> Result<(), String> {
    let kind = want["kind"].as_str().unwrap_or("");
    let mismatch = || Err(format!("got {got:?}, want {want}"));
    match (kind, got) {
        ("help", Entry::Help { name, help })
            if want["name"] == **name && want["help"] == **help =>
        {
            Ok(())
        }
        ("type", Entry::Type { name, kind })
            if want["name"] == **name && want["type"] == kind.as_str() =>
        {
            Ok(())
        }
        ("unit", Entry::Unit { name, unit })
            if want["name"] == **name && want["unit"] == **unit =>
        {
            Ok(())
        }
        ("comment", Entry::Comment) => Ok(()),
        ("series", Entry::Sample(s)) => {
            let labels = json_labels(&want["labels"]);
            let exemplars = want["exemplars"].as_array().cloned().unwrap_or_default();
            let exemplar_ok = match (&s.exemplar, exemplars.as_slice()) {
                (None, []) => true,
                (Some(x), [w]) => {
                    let got_labels: BTreeMap<String, String> = x
                        .labels
                        .iter()
                        .map(|(n, v)| (n.to_string(), v.to_string()))
                        .collect();
                    got_labels == json_labels(&w["labels"])
                        && same_float(x.value, &w["value"])
                        && x.timestamp_ms == w["timestamp_ms"].as_i64()
                }
                _ => false,
            };
            if sample_labels(s) == labels
                && same_float(s.value, &want["value"])
                && s.timestamp_ms == want["timestamp_ms"].as_i64()
                && s.start_timestamp_ms == want["start_timestamp_ms"].as_i64()
                && exemplar_ok
            {
                Ok(())
            } else {
                mismatch()
            }
        }
        _ => mismatch(),
    }
}

fn sample_labels(s: &Sample<'_>) -> BTreeMap<String, String> {
    let mut m: BTreeMap<String, String> = s
        .labels
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    m.insert("__name__".into(), s.name.to_string());
    m
}

fn json_labels(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Reads a JSON number or one of the strings `NaN`, `+Inf`, `-Inf`.
fn json_float(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "+Inf" | "Inf" => Some(f64::INFINITY),
            "-Inf" => Some(f64::NEG_INFINITY),
            other => other.parse().ok(),
        },
        _ => None,
    }
}

fn same_float(got: f64, want: &Value) -> bool {
    json_float(want).is_some_and(|w| (w.is_nan() && got.is_nan()) || w == got)
}

/// The case's input bytes, from `input` or `input_base64`.
fn input_of(case: &Value) -> Result<Vec<u8>, String> {
    if let Some(s) = case["input"].as_str() {
        return Ok(s.as_bytes().to_vec());
    }
    let b64 = case["input_base64"].as_str().ok_or("case without input")?;
    decode_base64(b64).ok_or_else(|| "bad base64 input".into())
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn read_json(path: &Path, tally: &mut Tally) -> Option<Value> {
    let parsed = fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice::<Value>(&b).map_err(|e| e.to_string()));
    match parsed {
        Ok(v) => Some(v),
        Err(e) => {
            tally.record(
                &path.display().to_string(),
                Err(format!("cannot read: {e}")),
            );
            None
        }
    }
}

// ---- common-expfmt/ ----

fn common_expfmt(root: &Path) -> Tally {
    let mut tally = Tally::new("common-expfmt");
    let Some(doc) = read_json(&root.join("common-expfmt/text-parse.json"), &mut tally) else {
        return tally;
    };
    for case in doc["valid"].as_array().into_iter().flatten() {
        let name = format!("valid index {}", case["index"]);
        let outcome = input_of(case).and_then(|input| {
            let entries = parse_with(&input, Format::Text, Strictness::Spec)
                .map_err(|e| format!("rejected: {e}"))?;
            let mut got: Vec<String> = entries
                .iter()
                .filter_map(|e| match e {
                    Entry::Sample(s) => Some(sample_key(
                        &s.name,
                        &s.labels_owned(),
                        s.value,
                        s.timestamp_ms,
                        true,
                    )),
                    _ => None,
                })
                .collect();
            let mut want = flatten_families(&case["metric_families"]);
            // expfmt merges summary and histogram lines of one label set and
            // keeps one timestamp for them; compare those without timestamps.
            let typed: Vec<String> = want
                .iter()
                .filter(|k| k.starts_with('~'))
                .map(|k| k[1..].to_string())
                .collect();
            want = want
                .into_iter()
                .map(|k| k.trim_start_matches('~').to_string())
                .collect();
            for g in got.iter_mut() {
                let untimed = strip_ts(g);
                if typed.contains(&untimed) {
                    *g = untimed;
                }
            }
            got.sort();
            want.sort();
            if got == want {
                Ok(())
            } else {
                Err(format!("samples differ: got {got:?}, want {want:?}"))
            }
        });
        tally.record(&name, outcome);
    }
    for case in doc["errors"].as_array().into_iter().flatten() {
        let name = format!(
            "errors index {} {:?}",
            case["index"],
            case["input"].as_str().unwrap_or("<base64>")
        );
        let outcome = input_of(case).and_then(|input| {
            let want = case["error_utf8"].as_str().unwrap_or("");
            let got = parse_with(&input, Format::Text, Strictness::Spec);
            expect_outcome(want.is_empty(), got.map(|_| ()).map_err(|e| e.to_string()))
                .map_err(|e| format!("{e} (upstream: {want:?})"))
        });
        tally.record(&name, outcome);
    }
    tally
}

trait OwnedLabels {
    fn labels_owned(&self) -> Vec<(String, String)>;
}

impl OwnedLabels for Sample<'_> {
    fn labels_owned(&self) -> Vec<(String, String)> {
        self.labels
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }
}

/// A comparable rendering of one sample: `le` and `quantile` values are
/// compared as numbers, values by their float, the timestamp last.
fn sample_key(
    name: &str,
    labels: &[(String, String)],
    value: f64,
    ts: Option<i64>,
    with_ts: bool,
) -> String {
    let mut labels: Vec<String> = labels
        .iter()
        .map(|(n, v)| {
            let v = if n == "le" || n == "quantile" {
                json_float(&Value::String(v.clone())).map_or(v.clone(), |f| format!("{f:?}"))
            } else {
                v.clone()
            };
            format!("{n}={v:?}")
        })
        .collect();
    labels.sort();
    let value = if value.is_nan() {
        "NaN".to_string()
    } else {
        format!("{value:?}")
    };
    let ts = if with_ts {
        format!(" @{ts:?}")
    } else {
        String::new()
    };
    format!("{name}{{{}}} {value}{ts}", labels.join(","))
}

fn strip_ts(key: &str) -> String {
    key.rsplit_once(" @")
        .map_or(key.to_string(), |(k, _)| k.to_string())
}

/// Flattens expfmt `MetricFamily` JSON into sample keys; keys of summary
/// and histogram samples are marked with a leading `~` and carry no
/// timestamp.
fn flatten_families(families: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for fam in families.as_array().into_iter().flatten() {
        let name = fam["Name"].as_str().unwrap_or("");
        let kind = fam["Type"].as_str().unwrap_or("UNTYPED");
        for m in fam["Metric"].as_array().into_iter().flatten() {
            let labels: Vec<(String, String)> = m["Label"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|l| {
                    (
                        l["Name"].as_str().unwrap_or("").to_string(),
                        l["Value"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect();
            let ts = m["TimestampMs"].as_i64();
            let with = |extra: (&str, &Value)| {
                let mut l = labels.clone();
                let f = json_float(extra.1).unwrap_or(f64::NAN);
                l.push((extra.0.to_string(), format!("{f:?}")));
                l
            };
            let float = |v: &Value| json_float(v).unwrap_or(f64::NAN);
            match kind {
                "COUNTER" | "GAUGE" | "UNTYPED" => {
                    let field = match kind {
                        "COUNTER" => "Counter",
                        "GAUGE" => "Gauge",
                        _ => "Untyped",
                    };
                    out.push(sample_key(
                        name,
                        &labels,
                        float(&m[field]["Value"]),
                        ts,
                        true,
                    ));
                }
                "SUMMARY" => {
                    let s = &m["Summary"];
                    for q in s["Quantile"].as_array().into_iter().flatten() {
                        let l = with(("quantile", &q["Quantile"]));
                        out.push(format!(
                            "~{}",
                            sample_key(name, &l, float(&q["Value"]), None, false)
                        ));
                    }
                    if !s["SampleCount"].is_null() {
                        out.push(format!(
                            "~{}",
                            sample_key(
                                &format!("{name}_count"),
                                &labels,
                                float(&s["SampleCount"]),
                                None,
                                false
                            )
                        ));
                    }
                    if !s["SampleSum"].is_null() {
                        out.push(format!(
                            "~{}",
                            sample_key(
                                &format!("{name}_sum"),
                                &labels,
                                float(&s["SampleSum"]),
                                None,
                                false
                            )
                        ));
                    }
                }
                _ => {
                    let h = &m["Histogram"];
                    for b in h["Bucket"].as_array().into_iter().flatten() {
                        let l = with(("le", &b["UpperBound"]));
                        let count = if b["CumulativeCount"].is_null() {
                            &b["CumulativeCountFloat"]
                        } else {
                            &b["CumulativeCount"]
                        };
                        out.push(format!(
                            "~{}",
                            sample_key(&format!("{name}_bucket"), &l, float(count), None, false)
                        ));
                    }
                    let count = if h["SampleCount"].is_null() {
                        &h["SampleCountFloat"]
                    } else {
                        &h["SampleCount"]
                    };
                    if !count.is_null() {
                        out.push(format!(
                            "~{}",
                            sample_key(
                                &format!("{name}_count"),
                                &labels,
                                float(count),
                                None,
                                false
                            )
                        ));
                    }
                    if !h["SampleSum"].is_null() {
                        out.push(format!(
                            "~{}",
                            sample_key(
                                &format!("{name}_sum"),
                                &labels,
                                float(&h["SampleSum"]),
                                None,
                                false
                            )
                        ));
                    }
                }
            }
        }
    }
    out
}

// ---- samples/ ----

fn samples(root: &Path) -> Tally {
    let mut tally = Tally::new("samples");
    let files = [
        "prometheus/alltypes.237mfs.prom.txt",
        "prometheus/alltypes.237mfs.nometa.prom.txt",
        "prometheus/alltypes.5mfs.om.txt",
        "prometheus/1histogram.om.txt",
        "common/text",
    ];
    for file in files {
        let format = if file.ends_with(".om.txt") {
            Format::OpenMetrics
        } else {
            Format::Text
        };
        let outcome = fs::read(root.join("samples").join(file))
            .map_err(|e| e.to_string())
            .and_then(|body| {
                if let Err(e) = parse_with(&body, format, Strictness::Spec) {
                    tally
                        .notes
                        .push(format!("{file} at Strictness::Spec: rejected ({e})"));
                }
                let entries = parse_with(&body, format, Strictness::Prometheus)
                    .map_err(|e| format!("rejected: {e}"))?;
                let n = entries
                    .iter()
                    .filter(|e| matches!(e, Entry::Sample(_)))
                    .count();
                if n == 0 {
                    return Err("no samples".into());
                }
                Ok(())
            });
        tally.record(file, outcome);
    }
    tally
}
