//! Go's predefined template functions (`and` and `or` live in `exec`,
//! since they evaluate lazily).

use std::cmp::Ordering;

use crate::format::{sprint, sprintf, sprintln};
use crate::value::Value;

pub(crate) const NAMES: &[&str] = &[
    "and", "or", "not", "len", "index", "slice", "print", "printf", "println", "html", "js",
    "urlquery", "eq", "ne", "lt", "le", "gt", "ge", "call",
];

pub(crate) fn call(name: &str, args: &[Value]) -> Result<Value, String> {
    let want = |n: usize| -> Result<(), String> {
        if args.len() != n {
            return Err(format!(
                "wrong number of args for {name}: want {n} got {}",
                args.len()
            ));
        }
        Ok(())
    };
    match name {
        "not" => {
            want(1)?;
            Ok(Value::Bool(!args[0].is_true()))
        }
        "len" => {
            want(1)?;
            match args[0].resolved() {
                Value::String(s) => Ok(Value::Int(s.len() as i64)),
                Value::List(l) => Ok(Value::Int(l.len() as i64)),
                Value::Map(m) => Ok(Value::Int(m.entries.len() as i64)),
                v => Err(format!("len of type {}", v.type_name())),
            }
        }
        "index" => {
            if args.is_empty() {
                return Err("wrong number of args for index: want at least 1 got 0".into());
            }
            let mut v = args[0].resolved();
            for key in &args[1..] {
                v = match (v, key.resolved()) {
                    (Value::Map(m), Value::String(k)) => m.lookup(&k),
                    (Value::List(l), Value::Int(i)) => l
                        .get(usize::try_from(i).map_err(|_| format!("index out of range: {i}"))?)
                        .cloned()
                        .ok_or_else(|| format!("index out of range: {i}"))?,
                    (Value::String(s), Value::Int(i)) => Value::Int(
                        *s.as_bytes()
                            .get(
                                usize::try_from(i)
                                    .map_err(|_| format!("index out of range: {i}"))?,
                            )
                            .ok_or_else(|| format!("index out of range: {i}"))?
                            as i64,
                    ),
                    (Value::Nil, _) => return Err("index of untyped nil".into()),
                    (Value::Map(_), k) => {
                        return Err(format!(
                            "value has type {}; should be string",
                            k.type_name()
                        ))
                    }
                    (v, _) => return Err(format!("can't index item of type {}", v.type_name())),
                }
                .resolved();
            }
            Ok(v)
        }
        "slice" => {
            if args.is_empty() || args.len() > 4 {
                return Err(format!(
                    "wrong number of args for slice: want 1 to 4 got {}",
                    args.len()
                ));
            }
            let mut idx = Vec::new();
            for a in &args[1..] {
                match a.resolved() {
                    Value::Int(i) if i >= 0 => idx.push(i as usize),
                    Value::Int(i) => return Err(format!("index out of range: {i}")),
                    v => {
                        return Err(format!(
                            "cannot index slice/array with type {}",
                            v.type_name()
                        ))
                    }
                }
            }
            match args[0].resolved() {
                Value::String(s) => {
                    if idx.len() == 3 {
                        return Err("cannot 3-index slice a string".into());
                    }
                    let lo = idx.first().copied().unwrap_or(0);
                    let hi = idx.get(1).copied().unwrap_or(s.len());
                    if lo > hi || hi > s.len() || !s.is_char_boundary(lo) || !s.is_char_boundary(hi)
                    {
                        return Err(format!("index out of range: {hi}"));
                    }
                    Ok(Value::String(s[lo..hi].to_string()))
                }
                Value::List(l) => {
                    let lo = idx.first().copied().unwrap_or(0);
                    let hi = idx.get(1).copied().unwrap_or(l.len());
                    if lo > hi || hi > l.len() {
                        return Err(format!("index out of range: {hi}"));
                    }
                    Ok(Value::list(l[lo..hi].to_vec()))
                }
                v => Err(format!("can't slice item of type {}", v.type_name())),
            }
        }
        "print" => Ok(Value::String(sprint(args))),
        "println" => Ok(Value::String(sprintln(args))),
        "printf" => {
            let Some(Value::String(f)) = args.first().map(Value::resolved) else {
                return Err("wrong type for value; expected string".into());
            };
            Ok(Value::String(sprintf(&f, &args[1..])))
        }
        "html" => Ok(Value::String(html_escape(&sprint(args)))),
        "js" => Ok(Value::String(js_escape(&sprint(args)))),
        "urlquery" => Ok(Value::String(query_escape(&sprint(args)))),
        "eq" => {
            if args.len() < 2 {
                return Err("missing argument for comparison".into());
            }
            for b in &args[1..] {
                if equal(&args[0], b)? {
                    return Ok(Value::Bool(true));
                }
            }
            Ok(Value::Bool(false))
        }
        "ne" => {
            want(2)?;
            Ok(Value::Bool(!equal(&args[0], &args[1])?))
        }
        "lt" | "le" | "gt" | "ge" => {
            want(2)?;
            let o = order(&args[0], &args[1])?;
            Ok(Value::Bool(match name {
                "lt" => o == Ordering::Less,
                "le" => o != Ordering::Greater,
                "gt" => o == Ordering::Greater,
                _ => o != Ordering::Less,
            }))
        }
        "call" => Err("call of non-function".into()),
        _ => Err(format!("function \"{name}\" not defined")),
    }
}

fn equal(a: &Value, b: &Value) -> Result<bool, String> {
    match (a.resolved(), b.resolved()) {
        (Value::Bool(x), Value::Bool(y)) => Ok(x == y),
        (Value::Int(x), Value::Int(y)) => Ok(x == y),
        (Value::Float(x), Value::Float(y)) => Ok(x == y),
        (Value::String(x), Value::String(y)) => Ok(x == y),
        (Value::Nil, Value::Nil) => Ok(true),
        (Value::Nil, _) | (_, Value::Nil) => Ok(false),
        (x, y) if is_basic(&x) && is_basic(&y) => Err("incompatible types for comparison".into()),
        _ => Err("non-comparable types".into()),
    }
}

fn order(a: &Value, b: &Value) -> Result<Ordering, String> {
    match (a.resolved(), b.resolved()) {
        (Value::Int(x), Value::Int(y)) => Ok(x.cmp(&y)),
        // NaN compares as neither less nor greater; Go's `lt` says false.
        (Value::Float(x), Value::Float(y)) => Ok(x.partial_cmp(&y).unwrap_or(Ordering::Equal)),
        (Value::String(x), Value::String(y)) => Ok(x.cmp(&y)),
        (x, y)
            if is_basic(&x)
                && is_basic(&y)
                && std::mem::discriminant(&x) != std::mem::discriminant(&y) =>
        {
            Err("incompatible types for comparison".into())
        }
        _ => Err("invalid type for comparison".into()),
    }
}

fn is_basic(v: &Value) -> bool {
    matches!(
        v,
        Value::Bool(_) | Value::Int(_) | Value::Float(_) | Value::String(_)
    )
}

/// Go's `template.HTMLEscapeString`.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Go's `template.JSEscapeString`.
pub fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Go's `url.QueryEscape`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
