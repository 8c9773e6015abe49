//! `info(v [, {data label selector}])`: adds the data labels of info
//! metrics (`target_info` by default) to the series of `v` that share
//! their identifying labels `instance` and `job` (upstream
//! `promql/info.go`).

use std::collections::HashMap;

use model::{Labels, LabelsBuilder, MatchOp, Matcher, METRIC_NAME};
use promql_parser::parser::{AtModifier, Expr, Offset};

use crate::engine::Evaluator;
use crate::error::QueryError;
use crate::value::{Elem, Value};

const IDENTIFYING: [&str; 2] = ["instance", "job"];

/// The `@` time and the offset the info series are read with: those of
/// the first selector in the expression, or, when it has no `@`, of the
/// subqueries around it (upstream `infoSelectTimestampAndOffset`).
fn read_context(ev: &Evaluator<'_>, e: &Expr) -> Option<(Option<i64>, i64)> {
    let offset_ms = |o: &Option<Offset>| match o {
        None => 0,
        Some(Offset::Pos(d)) => crate::engine::ms(d),
        Some(Offset::Neg(d)) => -crate::engine::ms(d),
    };
    let at_ms = |a: &Option<AtModifier>| a.as_ref().map(|a| ev.shift(0, &None, &Some(a.clone())));
    match e {
        Expr::VectorSelector(vs) => Some((at_ms(&vs.at), offset_ms(&vs.offset))),
        Expr::MatrixSelector(m) => Some((at_ms(&m.vs.at), offset_ms(&m.vs.offset))),
        Expr::Paren(p) => read_context(ev, &p.expr),
        Expr::Unary(u) => read_context(ev, &u.expr),
        Expr::Subquery(s) => {
            let (at, off) = read_context(ev, &s.expr)?;
            Some(match at {
                Some(a) => (Some(a), off),
                None => (at_ms(&s.at), off + offset_ms(&s.offset)),
            })
        }
        Expr::Aggregate(a) => read_context(ev, &a.expr),
        Expr::Binary(b) => read_context(ev, &b.lhs).or_else(|| read_context(ev, &b.rhs)),
        Expr::Call(c) => c.args.args.iter().find_map(|a| read_context(ev, a)),
        _ => None,
    }
}

fn convert(m: &promql_parser::label::Matcher) -> Result<Matcher, QueryError> {
    crate::selector::convert(m).map_err(|e| QueryError::bad_data(e.0))
}

/// Name matchers that pick info metrics: the given ones when one of them
/// is `=` or `=~`, else `=~".+_info"` in front of them; `target_info`
/// without any.
fn effective_names(given: Vec<Matcher>) -> Result<Vec<Matcher>, QueryError> {
    if given
        .iter()
        .any(|m| matches!(m.op, MatchOp::Equal | MatchOp::RegexMatch))
    {
        return Ok(given);
    }
    if !given.is_empty() {
        let mut out = vec![Matcher::new(MatchOp::RegexMatch, METRIC_NAME, ".+_info")
            .map_err(|e| QueryError::execution(e.to_string()))?];
        out.extend(given);
        return Ok(out);
    }
    Ok(vec![Matcher::equal(METRIC_NAME, "target_info")])
}

fn escape_regex(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub(super) fn eval(ev: &mut Evaluator<'_>, args: &[&Expr], ts: i64) -> Result<Value, QueryError> {
    let base_expr = args
        .first()
        .ok_or_else(|| QueryError::bad_data("info needs an argument"))?;
    let base = super::vector_arg(ev, args.first(), ts)?;
    // Data label matchers by name, and the ones on the info metric name.
    let mut data: HashMap<String, Vec<Matcher>> = HashMap::new();
    let mut name_matchers = Vec::new();
    match args.get(1) {
        Some(Expr::VectorSelector(vs)) => {
            if let Some(n) = &vs.name {
                name_matchers.push(Matcher::equal(METRIC_NAME, n.as_str()));
            }
            for m in &vs.matchers.matchers {
                let m = convert(m)?;
                if m.name == METRIC_NAME {
                    name_matchers.push(m);
                } else {
                    data.entry(m.name.clone()).or_default().push(m);
                }
            }
        }
        Some(_) => {
            return Err(QueryError::bad_data(
                "info's second argument must be a label selector",
            ))
        }
        None => {}
    }
    let names = effective_names(name_matchers)?;
    let is_info = |l: &Labels| {
        let n = l.metric_name().unwrap_or("");
        names.iter().all(|m| m.matches(n))
    };
    // Identifying label values of the base series that are not info
    // series themselves.
    let mut id_values: HashMap<&str, Vec<String>> = HashMap::new();
    for e in &base {
        if is_info(&e.labels) {
            continue;
        }
        for n in IDENTIFYING {
            if let Some(v) = e.labels.get(n).filter(|v| !v.is_empty()) {
                let vals = id_values.entry(n).or_default();
                if !vals.iter().any(|x| x == v) {
                    vals.push(v.to_string());
                }
            }
        }
    }
    // The info series at this step: newest sample within the lookback,
    // read at the base selector's time.
    let mut infos: Vec<(Labels, i64)> = Vec::new();
    if !id_values.is_empty() {
        let mut set: Vec<Matcher> = names.clone();
        for (n, vals) in &id_values {
            let re = vals
                .iter()
                .map(|v| escape_regex(v))
                .collect::<Vec<_>>()
                .join("|");
            set.push(
                Matcher::new(MatchOp::RegexMatch, *n, re)
                    .map_err(|e| QueryError::execution(e.to_string()))?,
            );
        }
        set.extend(data.values().flatten().cloned());
        let t = match read_context(ev, base_expr) {
            Some((at, off)) => at.unwrap_or(ts) - off,
            None => ts,
        };
        infos = ev.select_at(&set, t)?;
    }
    // Signature: info metric name and the identifying labels it has.
    let sig = |name: &str, l: &Labels| {
        let mut s = name.to_string();
        for n in IDENTIFYING {
            if let Some(v) = l.get(n) {
                s.push('\u{ff}');
                s.push_str(n);
                s.push('=');
                s.push_str(v);
            }
        }
        s
    };
    let mut by_sig: HashMap<String, (Labels, i64)> = HashMap::new();
    let mut info_names: Vec<String> = Vec::new();
    for (l, t) in infos {
        let name = l.metric_name().unwrap_or("").to_string();
        if !info_names.contains(&name) {
            info_names.push(name.clone());
        }
        let s = sig(&name, &l);
        match by_sig.get(&s) {
            Some((_, et)) if *et > t => {}
            Some((el, et)) if *et == t => {
                return Err(QueryError::execution(format!(
                    "found duplicate series for info metric: existing {} @ {et}, new {} @ {t}",
                    crate::labels::to_prometheus_string(el),
                    crate::labels::to_prometheus_string(&l)
                )))
            }
            _ => {
                by_sig.insert(s, (l, t));
            }
        }
    }
    let mut out = Vec::with_capacity(base.len());
    for e in base {
        if is_info(&e.labels) {
            out.push(e);
            continue;
        }
        let mut added = LabelsBuilder::new();
        let mut seen = 0;
        for name in &info_names {
            let Some((il, _)) = by_sig.get(&sig(name, &e.labels)) else {
                continue;
            };
            for (n, v) in il.iter() {
                if n == METRIC_NAME || (!data.is_empty() && !data.contains_key(n)) {
                    continue;
                }
                let current = added.labels();
                if let Some(x) = current.get(n) {
                    if !x.is_empty() && x != v {
                        return Err(QueryError::execution(format!("conflicting label: {n}")));
                    }
                }
                if e.labels.get(n).is_some() {
                    continue;
                }
                added.set(n, v);
            }
            seen += 1;
        }
        if seen == 0 && !data.values().flatten().all(|m| m.matches("")) {
            continue;
        }
        let mut b = e.labels.builder();
        for (n, v) in added.labels().iter() {
            b.set(n, v);
        }
        out.push(Elem {
            labels: b.labels(),
            v: e.v,
        });
    }
    Ok(Value::Vector(out))
}
