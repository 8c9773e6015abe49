//! `watchfire query EXPR`: asks a running server (`--url`) and prints the
//! answer as a table, or the API's JSON with `--json`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use serde_json::Value;

#[derive(Args, Debug)]
pub struct QueryArgs {
    /// The PromQL expression.
    pub expr: String,
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:9090")]
    pub url: String,
    /// Evaluation time (RFC 3339 or Unix seconds); the server's now by
    /// default.
    #[arg(long)]
    pub time: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs the query; `Ok(false)` when the server answered with an error.
pub fn run(args: &QueryArgs) -> anyhow::Result<bool> {
    let base = args
        .url
        .strip_prefix("http://")
        .with_context(|| format!("--url {}: only http:// URLs are supported", args.url))?;
    let (host, prefix) = base.split_once('/').unwrap_or((base, ""));
    let prefix = prefix.trim_end_matches('/');
    let mut path = format!(
        "{}/api/v1/query?query={}",
        if prefix.is_empty() {
            String::new()
        } else {
            format!("/{prefix}")
        },
        form_urlencoded::byte_serialize(args.expr.as_bytes()).collect::<String>()
    );
    if let Some(t) = &args.time {
        path.push_str("&time=");
        path.push_str(&form_urlencoded::byte_serialize(t.as_bytes()).collect::<String>());
    }
    let body = get(host, &path)?;
    if args.json {
        println!("{body}");
    }
    let v: Value = serde_json::from_str(&body)
        .with_context(|| format!("{}: the answer is not JSON: {body}", args.url))?;
    if v["status"] != "success" {
        eprintln!(
            "error ({}): {}",
            v["errorType"].as_str().unwrap_or("unknown"),
            v["error"].as_str().unwrap_or("")
        );
        return Ok(false);
    }
    for w in v["warnings"].as_array().into_iter().flatten() {
        eprintln!("warning: {}", w.as_str().unwrap_or(""));
    }
    if !args.json {
        print!("{}", table(&v["data"]));
    }
    Ok(true)
}

fn get(host: &str, path: &str) -> anyhow::Result<String> {
    let mut s = TcpStream::connect(host).with_context(|| format!("connect to {host}"))?;
    s.set_read_timeout(Some(Duration::from_secs(300)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nAccept: application/json\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).context("read the answer")?;
    let text = String::from_utf8_lossy(&raw);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        bail!("{host}: not an HTTP answer");
    };
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, after)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 || after.len() < n {
                break;
            }
            out.push_str(&after[..n]);
            rest = after[n..].trim_start_matches("\r\n");
        }
        return Ok(out);
    }
    Ok(body.to_string())
}

fn labels(m: &Value) -> String {
    let obj = m.as_object().cloned().unwrap_or_default();
    let name = obj.get("__name__").and_then(Value::as_str).unwrap_or("");
    let rest: Vec<String> = obj
        .iter()
        .filter(|(k, _)| *k != "__name__")
        .map(|(k, v)| format!("{k}={}", serde_json::to_string(v).unwrap_or_default()))
        .collect();
    format!("{name}{{{}}}", rest.join(", "))
}

/// The result as aligned text: one line per series.
fn table(data: &Value) -> String {
    let result = &data["result"];
    let mut rows: Vec<(String, String)> = Vec::new();
    match data["resultType"].as_str().unwrap_or("") {
        "scalar" | "string" => rows.push(("".into(), result[1].as_str().unwrap_or("").into())),
        "vector" => {
            for e in result.as_array().into_iter().flatten() {
                rows.push((
                    labels(&e["metric"]),
                    e["value"][1].as_str().unwrap_or("").into(),
                ));
            }
        }
        _ => {
            for e in result.as_array().into_iter().flatten() {
                let points: Vec<String> = e["values"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| format!("{} @{}", p[1].as_str().unwrap_or(""), p[0]))
                    .collect();
                rows.push((labels(&e["metric"]), points.join("  ")));
            }
        }
    }
    let width = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for (l, v) in rows {
        if l.is_empty() {
            out.push_str(&format!("{v}\n"));
        } else {
            out.push_str(&format!("{l:width$}  {v}\n"));
        }
    }
    out
}
