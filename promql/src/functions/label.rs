//! `label_replace`, `label_join` and `sort_by_label` (upstream
//! `promql/functions.go`).

use std::cmp::Ordering;

use promql_parser::parser::Expr;

use super::{string_arg, vector_arg};
use crate::engine::Evaluator;
use crate::error::QueryError;
use crate::value::{Elem, Value};

fn valid_name(n: &str) -> bool {
    !n.is_empty()
}

pub(super) fn replace(
    ev: &mut Evaluator<'_>,
    args: &[&Expr],
    ts: i64,
) -> Result<Value, QueryError> {
    let dst = string_arg(ev, args.get(1), ts)?;
    let repl = string_arg(ev, args.get(2), ts)?;
    let src = string_arg(ev, args.get(3), ts)?;
    let re = string_arg(ev, args.get(4), ts)?;
    let regex = ev.regex(&re).map_err(|e| {
        QueryError::execution(format!(
            "invalid regular expression in label_replace(): {re}: {e}"
        ))
    })?;
    if !valid_name(&dst) {
        return Err(QueryError::execution(format!(
            "invalid destination label name in label_replace(): {dst}"
        )));
    }
    let v = vector_arg(ev, args.first(), ts)?;
    let node = args.first().map_or(0, |a| *a as *const Expr as usize);
    let mut out = Vec::with_capacity(v.len());
    for e in v {
        let key = (node, e.labels.addr());
        if let Some(l) = ev.memo.replaced.get(&key) {
            out.push(Elem {
                labels: l.clone(),
                v: e.v,
            });
            continue;
        }
        ev.memo.pin(&e.labels);
        let value = e.labels.get(&src).unwrap_or("");
        let labels = match regex.captures(value) {
            Some(caps) => {
                let mut res = String::new();
                caps.expand(&go_template(&repl), &mut res);
                let mut b = e.labels.builder();
                if res.is_empty() {
                    b.del(&dst);
                } else {
                    b.set(&dst, &res);
                }
                b.labels()
            }
            None => e.labels,
        };
        ev.memo.replaced.insert(key, labels.clone());
        out.push(Elem { labels, v: e.v });
    }
    Ok(Value::Vector(out))
}

/// Go's `$1`/`${1}`/`$name` expansion differs from the regex crate's only
/// in how a name ends: Go takes the longest run of word characters, as
/// the regex crate does, so the template passes through unchanged.
fn go_template(s: &str) -> String {
    s.to_string()
}

pub(super) fn join(ev: &mut Evaluator<'_>, args: &[&Expr], ts: i64) -> Result<Value, QueryError> {
    let dst = string_arg(ev, args.get(1), ts)?;
    let sep = string_arg(ev, args.get(2), ts)?;
    let mut srcs = Vec::new();
    for i in 3..args.len() {
        let s = string_arg(ev, args.get(i), ts)?;
        if !valid_name(&s) {
            return Err(QueryError::execution(format!(
                "invalid source label name in label_join(): {s}"
            )));
        }
        srcs.push(s);
    }
    if !valid_name(&dst) {
        return Err(QueryError::execution(format!(
            "invalid destination label name in label_join(): {dst}"
        )));
    }
    let v = vector_arg(ev, args.first(), ts)?;
    let mut out = Vec::with_capacity(v.len());
    for e in v {
        let joined = srcs
            .iter()
            .map(|s| e.labels.get(s).unwrap_or(""))
            .collect::<Vec<_>>()
            .join(&sep);
        let mut b = e.labels.builder();
        if joined.is_empty() {
            b.del(&dst);
        } else {
            b.set(&dst, &joined);
        }
        out.push(Elem {
            labels: b.labels(),
            v: e.v,
        });
    }
    Ok(Value::Vector(out))
}

pub(super) fn sort_by(
    ev: &mut Evaluator<'_>,
    args: &[&Expr],
    ts: i64,
    desc: bool,
) -> Result<Value, QueryError> {
    let mut names = Vec::new();
    for i in 1..args.len() {
        names.push(string_arg(ev, args.get(i), ts)?);
    }
    let mut v = vector_arg(ev, args.first(), ts)?;
    v.sort_by(|a, b| {
        for n in &names {
            let x = a.labels.get(n).unwrap_or("");
            let y = b.labels.get(n).unwrap_or("");
            if x == y {
                continue;
            }
            let less = natural_less(x, y);
            let o = if less {
                Ordering::Less
            } else {
                Ordering::Greater
            };
            return if desc { o.reverse() } else { o };
        }
        let o = crate::labels::cmp(&a.labels, &b.labels);
        if desc {
            o.reverse()
        } else {
            o
        }
    });
    Ok(Value::Vector(v))
}

/// Natural order of `facette/natsort`: runs of digits compare as numbers,
/// other runs as strings.
fn natural_less(a: &str, b: &str) -> bool {
    fn chunks(s: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let bytes = s.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let digit = bytes[i].is_ascii_digit();
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() == digit {
                i += 1;
            }
            out.push(&s[start..i]);
        }
        out
    }
    if a.is_empty() || b.is_empty() {
        return false;
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for (x, y) in ca.iter().zip(&cb) {
        if x == y {
            continue;
        }
        let nx = x.bytes().all(|c| c.is_ascii_digit());
        let ny = y.bytes().all(|c| c.is_ascii_digit());
        if nx && ny {
            if let (Ok(p), Ok(q)) = (x.parse::<i64>(), y.parse::<i64>()) {
                if p != q {
                    return p < q;
                }
                continue;
            }
        }
        return x < y;
    }
    ca.len() < cb.len()
}
