//! The rule unit-test runner: `promtool test rules` files (upstream
//! `cmd/promtool/unittest.go`). Input series are loaded into an in-memory
//! store as the evaluation clock reaches them, every group is evaluated at
//! each multiple of `evaluation_interval`, firing alerts are compared at
//! each `alert_rule_test` time, and `promql_expr_test` queries run over
//! the result.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use model::mem::MemStore;
use model::{Appendable, Labels};
use serde::Deserialize;

use crate::alerting::{State, ALERT_NAME};
use crate::file::{self, NameValidation, Options};
use crate::group::{Env, Group, RuleState};

/// How a run is limited.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Only test groups whose name matches (`--run`, joined with `|`).
    pub run: Option<regex::Regex>,
    pub ignore_unknown_fields: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    #[serde(default)]
    rule_files: Vec<String>,
    #[serde(default)]
    evaluation_interval: Option<String>,
    #[serde(default)]
    group_eval_order: Vec<String>,
    #[serde(default)]
    tests: Vec<TestGroup>,
    #[serde(default)]
    fuzzy_compare: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestGroup {
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    input_series: Vec<InputSeries>,
    #[serde(default)]
    alert_rule_test: Vec<AlertTest>,
    #[serde(default)]
    promql_expr_test: Vec<ExprTest>,
    #[serde(default)]
    external_labels: BTreeMap<String, String>,
    #[serde(default)]
    external_url: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    start_timestamp: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InputSeries {
    series: String,
    #[serde(default)]
    values: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertTest {
    #[serde(default)]
    eval_time: Option<String>,
    #[serde(default)]
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<ExpAlert>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ExpAlert {
    #[serde(default)]
    exp_labels: BTreeMap<String, String>,
    #[serde(default)]
    exp_annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExprTest {
    expr: String,
    #[serde(default)]
    eval_time: Option<String>,
    #[serde(default)]
    exp_samples: Vec<ExpSample>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpSample {
    #[serde(default)]
    labels: String,
    #[serde(default)]
    value: f64,
    #[serde(default)]
    histogram: String,
}

/// Runs the unit tests of one file; the errors promtool would print (none
/// when every selected test group passes).
pub fn run_file(path: &Path, opts: &RunOptions) -> Vec<String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return vec![format!("open {}: {e}", path.display())],
    };
    let tf: TestFile = match model::yaml::from_str(&text) {
        Ok(t) => t,
        Err(e) => return vec![e.to_string()],
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut rule_files = Vec::new();
    for rf in &tf.rule_files {
        // An absolute pattern stays as it is.
        let p = dir.join(rf);
        let matched = file::glob(&p);
        if matched.is_empty() {
            eprintln!("  WARNING: no file match pattern {}", p.display());
        }
        rule_files.extend(matched);
    }
    let eval_interval = match tf.evaluation_interval.as_deref().map(duration) {
        None => Duration::from_secs(60),
        Some(Ok(d)) if d.is_zero() => Duration::from_secs(60),
        Some(Ok(d)) => d,
        Some(Err(e)) => return vec![e],
    };
    let mut order = HashMap::new();
    for (i, g) in tf.group_eval_order.iter().enumerate() {
        if order.insert(g.clone(), i).is_some() {
            return vec![format!("group name repeated in evaluation order: {g}")];
        }
    }
    let fopts = Options {
        names: NameValidation::Utf8,
        ignore_unknown_fields: opts.ignore_unknown_fields,
    };
    let loaded: Vec<(PathBuf, Result<file::RuleFile, Vec<String>>)> = rule_files
        .into_iter()
        .map(|f| {
            let r = file::load(&f, fopts).map_err(|es| es.iter().map(|e| e.to_string()).collect());
            (f, r)
        })
        .collect();
    let mut errs = Vec::new();
    for tg in &tf.tests {
        if let Some(re) = &opts.run {
            if !re.is_match(&tg.name) {
                continue;
            }
        }
        let setup = Setup {
            eval_interval,
            order: &order,
            rule_files: &loaded,
            fuzzy: tf.fuzzy_compare,
        };
        errs.extend(test_group(tg, &setup));
    }
    errs
}

struct Setup<'a> {
    eval_interval: Duration,
    order: &'a HashMap<String, usize>,
    /// Each rule file, read and parsed once for all test groups.
    rule_files: &'a [(PathBuf, Result<file::RuleFile, Vec<String>>)],
    fuzzy: bool,
}

fn test_group(tg: &TestGroup, s: &Setup) -> Vec<String> {
    let interval = match tg.interval.as_deref().map(duration) {
        None => s.eval_interval,
        Some(Ok(d)) if d.is_zero() => s.eval_interval,
        Some(Ok(d)) => d,
        Some(Err(e)) => return vec![e],
    };
    let mint = match tg.start_timestamp.as_deref() {
        None | Some("") => 0,
        Some(t) => match start_time(t) {
            Ok(t) => t,
            Err(e) => return vec![e],
        },
    };
    // Input series, loaded as the clock passes them.
    let mut inputs = Vec::new();
    for is in &tg.input_series {
        match promql::script::load_series(&is.series, &is.values, mint, interval.as_millis() as i64)
        {
            Ok(s) => inputs.push(s),
            Err(e) => return vec![format!("error in load command: {}: {e}", is.series)],
        }
    }
    let store = Arc::new(MemStore::new());
    let engine = promql::Engine::new(promql::Options {
        default_subquery_step: s.eval_interval,
        ..promql::Options::default()
    });
    let env = Env {
        engine: engine.clone(),
        querier: store.clone(),
        appendable: store.clone(),
        external_labels: Labels::from_pairs(tg.external_labels.clone()),
        external_url: tg.external_url.clone(),
        notify: None,
        resend_delay: Duration::from_secs(60),
    };
    let mut groups = Vec::new();
    let mut errs = Vec::new();
    for (f, loaded) in s.rule_files {
        match loaded {
            Ok(rf) => {
                for g in &rf.groups {
                    match Group::new(f, g, interval, Duration::ZERO) {
                        Ok(g) => groups.push(g),
                        Err(e) => errs.push(format!("{}: {e}", f.display())),
                    }
                }
            }
            Err(es) => errs.extend(es.iter().cloned()),
        }
    }
    if !errs.is_empty() {
        return errs;
    }
    // Upstream sorts by position in group_eval_order; unlisted groups
    // count as position 0.
    groups.sort_by_key(|g| s.order.get(&g.name).copied().unwrap_or(0));
    for g in &mut groups {
        g.set_restored();
    }

    let eval_time = |t: &Option<String>| t.as_deref().map(duration).unwrap_or(Ok(Duration::ZERO));
    let mut alert_times: Vec<Duration> = Vec::new();
    let mut alert_tests: BTreeMap<Duration, Vec<&AlertTest>> = BTreeMap::new();
    for at in &tg.alert_rule_test {
        let t = match eval_time(&at.eval_time) {
            Ok(t) => t,
            Err(e) => return vec![e],
        };
        if at.alertname.is_empty() {
            let in_group = if tg.name.is_empty() {
                String::new()
            } else {
                format!(" (in TestGroup {})", tg.name)
            };
            return vec![format!(
                "an item under alert_rule_test misses required attribute alertname at eval_time {}{in_group}",
                model::time::format_duration(t)
            )];
        }
        alert_times.push(t);
        alert_tests.entry(t).or_default().push(at);
    }
    alert_times.sort();
    alert_times.dedup();
    let mut expr_times = Vec::new();
    for e in &tg.promql_expr_test {
        match eval_time(&e.eval_time) {
            Ok(t) => expr_times.push(t),
            Err(e) => return vec![e],
        }
    }
    let max_eval = alert_times
        .iter()
        .chain(expr_times.iter())
        .max()
        .copied()
        .unwrap_or_default();
    let Some(maxt) = mint.checked_add(max_eval.as_millis() as i64) else {
        return vec![format!(
            "evaluation times beyond {} overflow",
            model::time::format_duration(max_eval)
        )];
    };
    let step = s.eval_interval.as_millis().max(1) as i64;

    let mut loaded = vec![0usize; inputs.len()];
    let mut curr = 0;
    let mut ts = mint;
    while ts <= maxt {
        load_till(store.as_ref(), &inputs, &mut loaded, ts);
        let mut eval_errs = Vec::new();
        for g in &mut groups {
            g.eval(ts, &env);
            for r in &g.rules {
                if let Some(e) = &r.status().last_error {
                    eval_errs.push(format!(
                        "    rule: {}, time: {}, err: {e}",
                        r.name(),
                        template::format::go_duration(ts.max(0).saturating_mul(1_000_000))
                    ));
                }
            }
        }
        if !eval_errs.is_empty() {
            errs.extend(eval_errs);
            return errs;
        }
        while curr < alert_times.len()
            && (ts - mint) as u128 <= alert_times[curr].as_millis()
            && alert_times[curr].as_millis() < (ts - mint).saturating_add(step) as u128
        {
            let t = alert_times[curr];
            for case in &alert_tests[&t] {
                let mut got: Vec<(Labels, BTreeMap<String, String>)> = Vec::new();
                for g in &groups {
                    for r in &g.rules {
                        let RuleState::Alert(a) = r else { continue };
                        if a.name != case.alertname {
                            continue;
                        }
                        for al in a.active.values() {
                            if al.state == State::Firing {
                                got.push((al.labels.clone(), al.annotations.clone()));
                            }
                        }
                    }
                }
                let mut exp: Vec<(Labels, BTreeMap<String, String>)> = case
                    .exp_alerts
                    .iter()
                    .map(|a| {
                        let mut l = a.exp_labels.clone();
                        l.insert(ALERT_NAME.into(), case.alertname.clone());
                        (Labels::from_pairs(l), a.exp_annotations.clone())
                    })
                    .collect();
                got.sort();
                exp.sort();
                if got != exp {
                    let name = if tg.name.is_empty() {
                        String::new()
                    } else {
                        format!("    name: {},\n", tg.name)
                    };
                    errs.push(format!(
                        "{name}    alertname: {}, time: {}, \n        exp:{}, \n        got:{}",
                        case.alertname,
                        model::time::format_duration(t),
                        indent(&alerts_string(&exp), "            "),
                        indent(&alerts_string(&got), "            ")
                    ));
                }
            }
            curr += 1;
        }
        let Some(next) = ts.checked_add(step) else {
            break;
        };
        ts = next;
    }
    // As upstream, input beyond the last evaluation time is never loaded,
    // so `@` and negative offsets cannot see past it.

    'cases: for (case, t) in tg.promql_expr_test.iter().zip(&expr_times) {
        let at = mint + t.as_millis() as i64;
        let got = promql::parse(&case.expr)
            .map_err(|e| e.to_string())
            .and_then(|e| env.query(&e, at));
        let mut got = match got {
            Ok(g) => g,
            Err(e) => {
                errs.push(format!(
                    "    expr: {:?}, time: {}, err: {e}",
                    case.expr,
                    model::time::format_duration(*t)
                ));
                continue;
            }
        };
        let mut exp = Vec::new();
        for smp in &case.exp_samples {
            let parsed = promql::script::parse_metric(&smp.labels).and_then(|l| {
                if smp.histogram.is_empty() {
                    Ok(l)
                } else {
                    Err("native histogram samples are not supported".into())
                }
            });
            match parsed {
                Ok(l) => exp.push((l, smp.value)),
                Err(e) => {
                    errs.push(format!(
                        "    expr: {:?}, time: {}, err: labels {:?}: {e}",
                        case.expr,
                        model::time::format_duration(*t),
                        smp.labels
                    ));
                    continue 'cases;
                }
            }
        }
        exp.sort_by(|a, b| a.0.cmp(&b.0));
        got.sort_by(|a, b| a.0.cmp(&b.0));
        let same = exp.len() == got.len()
            && exp
                .iter()
                .zip(&got)
                .all(|(e, g)| e.0 == g.0 && float_eq(e.1, g.1, s.fuzzy));
        if !same {
            errs.push(format!(
                "    expr: {:?}, time: {},\n        exp: {}\n        got: {}",
                case.expr,
                model::time::format_duration(*t),
                samples_string(&exp),
                samples_string(&got)
            ));
        }
    }
    errs
}

/// Appends every input sample at or before `till`.
fn load_till(
    store: &MemStore,
    inputs: &[(Labels, Vec<(i64, f64)>)],
    loaded: &mut [usize],
    till: i64,
) {
    let mut app = store.appender();
    for (i, (l, samples)) in inputs.iter().enumerate() {
        while loaded[i] < samples.len() && samples[loaded[i]].0 <= till {
            let (t, v) = samples[loaded[i]];
            let _ = app.append(l, t, v);
            loaded[i] += 1;
        }
    }
    let _ = app.commit();
}

/// Exact, or within one ulp when `fuzzy_compare` is on. NaN never matches,
/// as in upstream's comparison.
fn float_eq(a: f64, b: f64, fuzzy: bool) -> bool {
    if a == b {
        return true;
    }
    if !fuzzy || !a.is_finite() || !b.is_finite() {
        return false;
    }
    let next_up = f64::from_bits(if a >= 0.0 {
        a.to_bits() + 1
    } else {
        a.to_bits() - 1
    });
    let next_down = if a == 0.0 {
        -f64::from_bits(1)
    } else {
        f64::from_bits(if a > 0.0 {
            a.to_bits() - 1
        } else {
            a.to_bits() + 1
        })
    };
    b == next_up || b == next_down
}

/// Prometheus's `Labels.String()`: `{a="b", c="d"}`.
fn labels_string(l: &Labels) -> String {
    model::labels::set_string(l.iter())
}

fn pairs_string(m: &BTreeMap<String, String>) -> String {
    model::labels::set_string(m.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

fn samples_string(s: &[(Labels, f64)]) -> String {
    if s.is_empty() {
        return "nil".into();
    }
    s.iter()
        .map(|(l, v)| {
            format!(
                "{} {}",
                labels_string(l),
                template::format::float(*v, 'E', None, false)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn alerts_string(a: &[(Labels, BTreeMap<String, String>)]) -> String {
    if a.is_empty() {
        return "[]".into();
    }
    let mut s = String::from("[");
    for (i, (l, ann)) in a.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let one = format!(
            "\nLabels:{}\nAnnotations:{}",
            labels_string(l),
            pairs_string(ann)
        );
        s.push_str(&format!("\n{i}:{}", indent(&one, "  ")));
    }
    s.push_str("\n]");
    s
}

/// Prefixes every line but the first with `prefix` (upstream `indentLines`).
fn indent(s: &str, prefix: &str) -> String {
    s.split('\n')
        .collect::<Vec<_>>()
        .join(&format!("\n{prefix}"))
}

/// A Prometheus duration (`1m`, `1h30m`, `0`).
fn duration(s: &str) -> Result<Duration, String> {
    model::time::parse_duration(s.trim())
}

/// `start_timestamp`: Unix seconds or RFC 3339, as Unix ms. Times that
/// cannot be a timestamp (beyond about 292 million years) are refused.
fn start_time(s: &str) -> Result<i64, String> {
    if let Ok(f) = s.trim().parse::<f64>() {
        let ms = (f * 1000.0).round();
        if !ms.is_finite() || ms.abs() >= 9.2e18 {
            return Err(format!("cannot parse {s:?} to a valid timestamp"));
        }
        return Ok(ms as i64);
    }
    model::time::parse_rfc3339(s.trim())
        .ok_or_else(|| format!("cannot parse {s:?} to a valid timestamp"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzzy_is_one_ulp() {
        let low = 2.9999999999999996;
        let high = 3.0000000000000004;
        assert!(float_eq(3.0, low, true) && float_eq(3.0, high, true));
        assert!(!float_eq(3.0, low, false) && !float_eq(3.0, high, false));
        assert!(!float_eq(f64::NAN, f64::NAN, true));
    }
}
