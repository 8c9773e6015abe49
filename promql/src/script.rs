//! Runs Prometheus's `promqltest` scripts (`.test` files): `load` series
//! into an in-memory store, `eval` instant and range queries and compare
//! the results with the expectations, as upstream `promql/promqltest`
//! does. The format is described in `conformance/promql/README.md` of the
//! shared corpus.
//!
//! Evals are skipped, each with its reason, when they need native
//! histograms (a `manifest.json` beside the scripts flags them, and any
//! `{{…}}` in an expectation gives them away) or syntax the parser lacks.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use model::mem::MemStore;
use model::{Appendable, Labels};

use crate::engine::{Engine, Options};
use crate::value::{Answer, Outcome};

/// What happened to one eval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    Failed(String),
    Skipped(String),
}

/// One eval's line, expression and verdict.
#[derive(Debug, Clone)]
pub struct EvalResult {
    pub line: usize,
    pub expr: String,
    pub verdict: Verdict,
}

/// Runs one script; `nh_lines` are the lines of evals known to need
/// native histograms.
pub fn run(text: &str, nh_lines: &[usize]) -> Result<Vec<EvalResult>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut store = MemStore::new();
    let mut results = Vec::new();
    let mut i = 0;
    // Series whose load line could not be read: evals are skipped.
    let mut broken_load: Option<String> = None;
    // Series loaded with native-histogram samples, which are not stored:
    // evals that read them are skipped.
    let mut histogram_series: Vec<Labels> = Vec::new();
    while i < lines.len() {
        let line = lines[i].trim();
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let word = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        if word == "clear" {
            store = MemStore::new();
            broken_load = None;
            histogram_series.clear();
        } else if word.starts_with("load") {
            let step = line
                .split_whitespace()
                .nth(1)
                .ok_or_else(|| format!("line {i}: load without a step"))?;
            let step = duration_ms(step).map_err(|e| format!("line {i}: {e}"))?;
            let mut defs: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
            while i < lines.len() {
                let l = lines[i].trim();
                if l.is_empty() || l.starts_with('#') {
                    break;
                }
                i += 1;
                match series_line(l, step) {
                    Ok((labels, points)) => {
                        if l.contains("{{") {
                            histogram_series.push(labels.clone());
                        }
                        // load_with_nhcb also stores a native histogram
                        // under the base name, without `le`.
                        if word == "load_with_nhcb" {
                            if let Some(base) =
                                labels.metric_name().and_then(|n| n.strip_suffix("_bucket"))
                            {
                                let mut b = labels.builder();
                                b.set(model::METRIC_NAME, base);
                                b.del("le");
                                histogram_series.push(b.labels());
                            }
                        }
                        defs.insert(labels, points);
                    }
                    Err(e) => broken_load = Some(format!("line {i}: {e}")),
                }
            }
            let mut app = store.appender();
            for (labels, points) in &defs {
                for (t, v) in points {
                    let _ = app.append(labels, *t, *v);
                }
            }
            app.commit().map_err(|e| e.to_string())?;
        } else if word.starts_with("eval") {
            let at = i;
            let mut block = Vec::new();
            while i < lines.len() {
                let l = lines[i].trim();
                if l.is_empty() || l.starts_with('#') {
                    break;
                }
                block.push(l);
                i += 1;
            }
            let (expr, verdict) = match parse_eval(line, &block) {
                Err(e) => (
                    line.to_string(),
                    Verdict::Failed(format!("cannot read eval: {e}")),
                ),
                Ok(ev) => {
                    let verdict = if nh_lines.contains(&at) {
                        Verdict::Skipped("needs native histograms".into())
                    } else if ev.mentions_histograms {
                        Verdict::Skipped("expects native histograms".into())
                    } else if let Some(e) = &broken_load {
                        Verdict::Skipped(format!("a load line the runner cannot read: {e}"))
                    } else {
                        check(&store, &ev, &histogram_series)
                    };
                    (ev.expr.clone(), verdict)
                }
            };
            results.push(EvalResult {
                line: at,
                expr,
                verdict,
            });
        } else {
            return Err(format!("line {i}: unknown command {line:?}"));
        }
    }
    Ok(results)
}

/// The lines of a file's native-histogram evals, from `manifest.json`
/// beside it (none when there is no manifest).
pub fn native_histogram_lines(path: &Path) -> Vec<usize> {
    let Some(dir) = path.parent() else {
        return Vec::new();
    };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let manifest = [dir.join("manifest.json"), dir.join("../manifest.json")]
        .into_iter()
        .find_map(|p| std::fs::read_to_string(p).ok());
    let Some(text) = manifest else {
        return Vec::new();
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Vec::new();
    };
    v[name]["commands"]
        .as_array()
        .map(|cmds| {
            cmds.iter()
                .filter(|c| c["native_histogram"] == "yes")
                .filter_map(|c| c["line"].as_u64().map(|l| l as usize))
                .collect()
        })
        .unwrap_or_default()
}

#[derive(Debug)]
enum Kind {
    Instant(i64),
    Range { start: i64, end: i64, step: i64 },
}

#[derive(Debug)]
enum Expect {
    Fail(Option<Matcher>),
    Series(Vec<(Labels, Vec<Option<f64>>)>),
    Scalar(f64),
    String(String),
    RangeVector {
        start: i64,
        end: i64,
        step: i64,
        series: Vec<(Labels, Vec<Option<f64>>)>,
    },
}

#[derive(Debug)]
enum Matcher {
    Msg(String),
    Regex(String),
}

#[derive(Debug)]
struct Eval {
    kind: Kind,
    expr: String,
    expect: Expect,
    ordered: bool,
    warn: Option<bool>,
    info: Option<bool>,
    mentions_histograms: bool,
}

fn parse_eval(line: &str, block: &[&str]) -> Result<Eval, String> {
    let (head, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let head = head.to_ascii_lowercase();
    let mut ordered = head == "eval_ordered";
    let mut fail = head == "eval_fail";
    let mut warn = (head == "eval_warn").then_some(true);
    let mut info = (head == "eval_info").then_some(true);
    let rest = rest.trim();
    let (kind, expr) = if let Some(r) = rest.strip_prefix("instant at ") {
        let (t, e) = r
            .trim()
            .split_once(char::is_whitespace)
            .ok_or("no expression")?;
        (Kind::Instant(duration_ms(t)?), e.trim())
    } else if let Some(r) = rest.strip_prefix("range from ") {
        let w: Vec<&str> = r.splitn(6, char::is_whitespace).collect();
        if w.len() < 6 || w[1] != "to" || w[3] != "step" {
            return Err("range eval needs `from S to E step D EXPR`".into());
        }
        (
            Kind::Range {
                start: duration_ms(w[0])?,
                end: duration_ms(w[2])?,
                step: duration_ms(w[4])?,
            },
            w[5].trim(),
        )
    } else {
        return Err(format!("unknown eval form {rest:?}"));
    };
    let mut fail_matcher = None;
    let mut series = Vec::new();
    let mut scalar = None;
    let mut string = None;
    let mut range_vector = None;
    let mut mentions_histograms = false;
    for l in block {
        if l.contains("{{") {
            mentions_histograms = true;
        }
        if let Some(e) = l.strip_prefix("expect ") {
            let e = e.trim();
            match e.split_whitespace().next().unwrap_or("") {
                "fail" => {
                    fail = true;
                    let m = e["fail".len()..].trim();
                    if let Some(msg) = m.strip_prefix("msg:") {
                        fail_matcher = Some(Matcher::Msg(msg.trim().to_string()));
                    } else if let Some(re) = m.strip_prefix("regex:") {
                        fail_matcher = Some(Matcher::Regex(re.trim().to_string()));
                    }
                }
                "ordered" => ordered = true,
                "warn" => warn = Some(true),
                "no_warn" => warn = Some(false),
                "info" => info = Some(true),
                "no_info" => info = Some(false),
                "string" => string = Some(go_unquote(e["string".len()..].trim())?),
                "range" => {
                    let w: Vec<&str> = e.split_whitespace().collect();
                    if w.len() != 8 || w[1] != "vector" {
                        return Err(format!("bad expectation {e:?}"));
                    }
                    range_vector =
                        Some((duration_ms(w[3])?, duration_ms(w[5])?, duration_ms(w[7])?));
                }
                _ => return Err(format!("unknown expectation {e:?}")),
            }
        } else if let Some(m) = l.strip_prefix("expected_fail_message ") {
            fail_matcher = Some(Matcher::Msg(m.trim().to_string()));
        } else if let Some(m) = l.strip_prefix("expected_fail_regexp ") {
            fail_matcher = Some(Matcher::Regex(m.trim().to_string()));
        } else if let Ok(v) = number(l) {
            scalar = Some(v);
        } else if !mentions_histograms {
            let (labels, values) = expected_line(l)?;
            series.push((labels, values));
        }
    }
    let expect = if fail {
        Expect::Fail(fail_matcher)
    } else if let Some(s) = string {
        Expect::String(s)
    } else if let Some(v) = scalar {
        Expect::Scalar(v)
    } else if let Some((start, end, step)) = range_vector {
        Expect::RangeVector {
            start,
            end,
            step,
            series,
        }
    } else {
        Expect::Series(series)
    };
    Ok(Eval {
        kind,
        expr: expr.to_string(),
        expect,
        ordered,
        warn,
        info,
        mentions_histograms,
    })
}

fn check(store: &MemStore, ev: &Eval, histogram_series: &[Labels]) -> Verdict {
    let parsed = match crate::parse(&ev.expr) {
        Ok(e) => e,
        Err(e) => return Verdict::Skipped(format!("syntax the parser lacks: {e}")),
    };
    if let Some(l) = reads_any(&parsed, histogram_series) {
        return Verdict::Skipped(format!("reads native-histogram series {l}"));
    }
    let engine = Engine::new(Options {
        lookback_delta: Duration::from_secs(300),
        max_samples: 10_000,
        timeout: Duration::from_secs(60),
        default_subquery_step: Duration::from_secs(60),
    });
    let got = match ev.kind {
        Kind::Instant(t) => engine.instant(store, &parsed, t),
        Kind::Range { start, end, step } => engine.range(store, &parsed, start, end, step),
    };
    let out = match (got, &ev.expect) {
        (Err(e), Expect::Fail(m)) => {
            return match m {
                None => Verdict::Passed,
                Some(Matcher::Msg(want)) if &e.message == want => Verdict::Passed,
                Some(Matcher::Regex(re)) => match regex::Regex::new(re) {
                    Ok(r) if r.is_match(&e.message) => Verdict::Passed,
                    _ => Verdict::Failed(format!("error {:?} does not match /{re}/", e.message)),
                },
                Some(Matcher::Msg(want)) => {
                    Verdict::Failed(format!("error {:?}, want {want:?}", e.message))
                }
            }
        }
        (Err(e), _) => return Verdict::Failed(format!("unexpected error: {}", e.message)),
        (Ok(_), Expect::Fail(_)) => {
            return Verdict::Failed("expected an error, got a result".into())
        }
        (Ok(o), _) => o,
    };
    if let Some(w) = ev.warn {
        if w == out.warnings.is_empty() {
            return Verdict::Failed(format!("warnings {:?}, want some: {w}", out.warnings));
        }
    }
    if let Some(w) = ev.info {
        if w == out.infos.is_empty() {
            return Verdict::Failed(format!("infos {:?}, want some: {w}", out.infos));
        }
    }
    compare(&out, ev)
}

/// The first of `series` a selector of `e` selects.
fn reads_any(e: &crate::Expr, series: &[Labels]) -> Option<Labels> {
    use crate::Expr as E;
    if series.is_empty() {
        return None;
    }
    let hit = |vs: &promql_parser::parser::VectorSelector| {
        let sets = crate::selector::matcher_sets(vs).ok()?;
        series
            .iter()
            .find(|l| sets.iter().any(|set| model::storage::matches_all(l, set)))
            .cloned()
    };
    match e {
        E::VectorSelector(vs) => hit(vs),
        E::MatrixSelector(m) => hit(&m.vs),
        E::Subquery(s) => reads_any(&s.expr, series),
        E::Paren(p) => reads_any(&p.expr, series),
        E::Unary(u) => reads_any(&u.expr, series),
        E::Binary(b) => reads_any(&b.lhs, series).or_else(|| reads_any(&b.rhs, series)),
        E::Aggregate(a) => reads_any(&a.expr, series),
        E::Call(c) => c.args.args.iter().find_map(|a| reads_any(a, series)),
        _ => None,
    }
}

fn compare(out: &Outcome, ev: &Eval) -> Verdict {
    match (&out.answer, &ev.expect) {
        (Answer::Scalar { v, .. }, Expect::Scalar(want)) => {
            if close(*v, *want) {
                Verdict::Passed
            } else {
                Verdict::Failed(format!("scalar {v}, want {want}"))
            }
        }
        (Answer::String { s, .. }, Expect::String(want)) => {
            if s == want {
                Verdict::Passed
            } else {
                Verdict::Failed(format!("string {s:?}, want {want:?}"))
            }
        }
        (Answer::Vector { elems, .. }, Expect::Series(want)) => {
            let got: Vec<(Labels, Vec<Option<f64>>)> = elems
                .iter()
                .map(|e| (e.labels.clone(), vec![Some(e.v)]))
                .collect();
            same_series(&got, want, ev.ordered)
        }
        (Answer::Matrix(m), Expect::Series(want)) => {
            let Kind::Range { start, end, step } = ev.kind else {
                return Verdict::Failed(
                    "a range vector where an instant vector was expected".into(),
                );
            };
            same_series(&grid(m, start, end, step), want, false)
        }
        (
            Answer::Matrix(m),
            Expect::RangeVector {
                start,
                end,
                step,
                series,
            },
        ) => same_series(&grid(m, *start, *end, *step), series, false),
        (a, e) => Verdict::Failed(format!("got {a:?}, want {e:?}")),
    }
}

/// A matrix as values per step (`None` where a series has no point).
fn grid(
    m: &[crate::value::Range],
    start: i64,
    end: i64,
    step: i64,
) -> Vec<(Labels, Vec<Option<f64>>)> {
    m.iter()
        .map(|r| {
            let mut vals = Vec::new();
            let mut t = start;
            while t <= end && step > 0 {
                vals.push(r.points.iter().find(|p| p.0 == t).map(|p| p.1));
                t += step;
            }
            if step <= 0 {
                vals = r.points.iter().map(|p| Some(p.1)).collect();
            }
            (r.labels.clone(), vals)
        })
        .collect()
}

fn same_series(
    got: &[(Labels, Vec<Option<f64>>)],
    want: &[(Labels, Vec<Option<f64>>)],
    ordered: bool,
) -> Verdict {
    if got.len() != want.len() {
        return Verdict::Failed(format!(
            "{} series, want {}: got {}",
            got.len(),
            want.len(),
            show(got)
        ));
    }
    let by: HashMap<&Labels, (usize, &Vec<Option<f64>>)> = got
        .iter()
        .enumerate()
        .map(|(i, (l, v))| (l, (i, v)))
        .collect();
    for (i, (l, w)) in want.iter().enumerate() {
        let Some((j, g)) = by.get(l) else {
            return Verdict::Failed(format!("no series {l}; got {}", show(got)));
        };
        if ordered && *j != i {
            return Verdict::Failed(format!("{l} at position {j}, want {i}"));
        }
        let mut w = w.clone();
        // Trailing absent points may be left out of the expectation.
        while w.len() < g.len() {
            w.push(None);
        }
        if g.len() != w.len() || g.iter().zip(&w).any(|(a, b)| !point_eq(*a, *b)) {
            return Verdict::Failed(format!("{l}: got {}, want {}", points(g), points(&w)));
        }
    }
    Verdict::Passed
}

fn show(s: &[(Labels, Vec<Option<f64>>)]) -> String {
    s.iter()
        .map(|(l, v)| format!("{l} {}", points(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn points(v: &[Option<f64>]) -> String {
    v.iter()
        .map(|p| p.map_or("_".to_string(), |x| x.to_string()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn point_eq(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => close(a, b),
        _ => false,
    }
}

/// Equal, both NaN of the same kind, or within a relative 1e-6 (upstream
/// `almostEqual`).
fn close(a: f64, b: f64) -> bool {
    use model::sample::is_stale_nan;
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan() && is_stale_nan(a) == is_stale_nan(b);
    }
    if a == b {
        return true;
    }
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    let diff = (a - b).abs();
    let sum = a.abs() + b.abs();
    if a == 0.0 || b == 0.0 || sum < MIN_NORMAL {
        return diff < 1e-6 * MIN_NORMAL;
    }
    diff / sum.min(f64::MAX) < 1e-6
}

/// A series in `load` notation (`name{a="b"}`) and its value sequence
/// (`0+10x5 _ stale …`) as samples at `start + k * step` (ms), for loaders
/// outside scripts such as the rule unit-test runner. Native-histogram
/// values (`{{…}}`) are refused.
pub fn load_series(
    series: &str,
    values_text: &str,
    start: i64,
    step: i64,
) -> Result<(Labels, Vec<(i64, f64)>), String> {
    if values_text.contains("{{") {
        return Err("native histogram samples are not supported".into());
    }
    let labels = series_labels(series)?;
    let vals = values(values_text)?;
    Ok((
        labels,
        vals.into_iter()
            .enumerate()
            .filter_map(|(k, v)| v.map(|v| (start + k as i64 * step, v)))
            .collect(),
    ))
}

/// A label set written as a series selector (`name{a="b"}`, `{a="b"}`,
/// or empty for no labels).
pub fn parse_metric(s: &str) -> Result<Labels, String> {
    if s.trim().is_empty() {
        return Ok(Labels::empty());
    }
    series_labels(s)
}

/// A `load` line: series and its values at `k * step`.
fn series_line(l: &str, step: i64) -> Result<(Labels, Vec<(i64, f64)>), String> {
    let (labels, values) = expected_line(l)?;
    Ok((
        labels,
        values
            .into_iter()
            .enumerate()
            .filter_map(|(k, v)| v.map(|v| (k as i64 * step, v)))
            .collect(),
    ))
}

/// A series and its value sequence, `None` for `_` (and for histogram
/// literals, which this runner does not load).
fn expected_line(l: &str) -> Result<(Labels, Vec<Option<f64>>), String> {
    let end = series_end(l).ok_or_else(|| format!("cannot find the series in {l:?}"))?;
    let labels = series_labels(&l[..end])?;
    Ok((labels, values(&l[end..])?))
}

fn series_end(l: &str) -> Option<usize> {
    let b = l.as_bytes();
    let mut quoted = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b'}' if !quoted => return Some(i + 1),
            b' ' | b'\t' if !quoted && !l[..i].contains('{') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    (!l.contains('{')).then_some(l.len())
}

fn series_labels(s: &str) -> Result<Labels, String> {
    let s = s.trim();
    if s == "{}" {
        return Ok(Labels::empty());
    }
    let expr = crate::parse_expr(s).map_err(|e| format!("series {s:?}: {e}"))?;
    let promql_parser::parser::Expr::VectorSelector(vs) = expr else {
        return Err(format!("{s:?} is not a series"));
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    if let Some(n) = vs.name {
        pairs.push((model::METRIC_NAME.to_string(), n));
    }
    for m in vs.matchers.matchers {
        pairs.push((m.name, m.value));
    }
    Ok(Labels::from_pairs(pairs))
}

fn values(s: &str) -> Result<Vec<Option<f64>>, String> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let (tok, tail) = if rest.starts_with("{{") {
            // A histogram literal, possibly `{{A}}+{{B}}xN`: positions only.
            let mut end = rest.find("}}").map_or(rest.len(), |i| i + 2);
            while rest[end..].starts_with(['+', '-']) && rest[end + 1..].starts_with("{{") {
                end = rest[end..].find("}}").map_or(rest.len(), |i| end + i + 2);
            }
            let tail_end = rest[end..]
                .find(char::is_whitespace)
                .map_or(rest.len(), |i| end + i);
            let n = rest[end..tail_end]
                .strip_prefix('x')
                .map(|n| n.parse::<usize>().map_err(|e| format!("{n:?}: {e}")))
                .transpose()?
                .map_or(1, |n| n + 1);
            out.extend(std::iter::repeat_n(None, n));
            rest = rest[tail_end..].trim_start();
            continue;
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        rest = tail.trim_start();
        if tok == "_" {
            out.push(None);
        } else if let Some(n) = tok.strip_prefix("_x") {
            let n: usize = n.parse().map_err(|e| format!("{tok:?}: {e}"))?;
            out.extend(std::iter::repeat_n(None, n));
        } else if tok == "stale" {
            out.push(Some(model::sample::stale_nan()));
        } else if let Some((expr, n)) = tok.rsplit_once('x') {
            let n: usize = n.parse().map_err(|e| format!("{tok:?}: {e}"))?;
            let (start, delta) = split_delta(expr)?;
            for k in 0..=n {
                out.push(Some(start + delta * k as f64));
            }
        } else {
            out.push(Some(number(tok)?));
        }
    }
    Ok(out)
}

/// `a+b` or `a-b` (or a plain `a`, delta 0).
fn split_delta(s: &str) -> Result<(f64, f64), String> {
    let b = s.as_bytes();
    for i in 1..b.len() {
        if (b[i] == b'+' || b[i] == b'-') && !matches!(b[i - 1], b'e' | b'E') {
            let a = number(&s[..i])?;
            let d = number(&s[i + 1..])?;
            return Ok((a, if b[i] == b'-' { -d } else { d }));
        }
    }
    Ok((number(s)?, 0.0))
}

fn number(s: &str) -> Result<f64, String> {
    let s = s.trim();
    match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" => return Ok(f64::INFINITY),
        "-inf" => return Ok(f64::NEG_INFINITY),
        "nan" => return Ok(f64::NAN),
        _ => {}
    }
    if s.is_empty() || !s.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '-' | '+' | '.'))
    {
        return Err(format!("not a number: {s:?}"));
    }
    s.parse::<f64>().map_err(|e| format!("{s:?}: {e}"))
}

/// `0`, `50m`, `1h5m`, `-1m` as milliseconds.
fn duration_ms(s: &str) -> Result<i64, String> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let ms = if body.chars().all(|c| c.is_ascii_digit()) {
        body.parse::<i64>().map_err(|e| e.to_string())? * 1000
    } else {
        model::time::parse_duration(body)
            .map(|d| d.as_millis() as i64)
            .map_err(|e| format!("{s:?}: {e}"))?
    };
    Ok(if neg { -ms } else { ms })
}

/// A Go-quoted string: `"…"` with escapes or a raw `` `…` ``.
fn go_unquote(s: &str) -> Result<String, String> {
    if let Some(r) = s.strip_prefix('`').and_then(|r| r.strip_suffix('`')) {
        return Ok(r.to_string());
    }
    let inner = s
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .ok_or_else(|| format!("not a quoted string: {s}"))?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    Ok(out)
}

/// Runs a `promqltest` script in a unit test; every eval must pass.
#[cfg(test)]
pub(crate) fn assert_passes(script: &str) {
    for r in run(script, &[]).unwrap() {
        assert_eq!(
            r.verdict,
            Verdict::Passed,
            "line {}: {}\n{script}",
            r.line,
            r.expr
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_sequences() {
        let v = |s: &str| values(s).unwrap();
        assert_eq!(
            v("0+10x3"),
            vec![Some(0.0), Some(10.0), Some(20.0), Some(30.0)]
        );
        assert_eq!(v("1 _ 3"), vec![Some(1.0), None, Some(3.0)]);
        assert_eq!(v("_x2 5x1"), vec![None, None, Some(5.0), Some(5.0)]);
        assert_eq!(v("-1-1x2"), vec![Some(-1.0), Some(-2.0), Some(-3.0)]);
        assert_eq!(v("1e-3+1e-3x1"), vec![Some(1e-3), Some(2e-3)]);
        assert_eq!(v("{{schema:0 sum:5 count:4 buckets:[1 2 1]}} 7").len(), 2);
        assert_eq!(v("{{count:1}}+{{count:2}}x3").len(), 4);
        assert!(model::sample::is_stale_nan(v("stale")[0].unwrap()));
        assert_eq!(duration_ms("1h5m").unwrap(), 3_900_000);
        assert_eq!(duration_ms("0").unwrap(), 0);
    }
}
