//! `watchfire query EXPR`: asks a running server (`--url`) and prints the
//! answer as a table, or the API's JSON with `--json`.

use std::time::Duration;

use anyhow::Context;
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

/// The most the CLI reads of an answer: far above any table a terminal
/// shows, and the server's own limits stop larger results first.
const MAX_ANSWER: u64 = 1 << 30;

/// Runs the query; `Ok(false)` when the server answered with an error.
pub fn run(args: &QueryArgs) -> anyhow::Result<bool> {
    let base = args.url.trim_end_matches('/');
    let mut url = format!(
        "{base}/api/v1/query?query={}",
        form_urlencoded::byte_serialize(args.expr.as_bytes()).collect::<String>()
    );
    if let Some(t) = &args.time {
        url.push_str("&time=");
        url.push_str(&form_urlencoded::byte_serialize(t.as_bytes()).collect::<String>());
    }
    let body = get(&url)?;
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

/// GETs `url` through the shared HTTP client; the body as text (any
/// invalid UTF-8 replaced, never split mid-character).
fn get(url: &str) -> anyhow::Result<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the HTTP runtime")?;
    let resp = rt.block_on(async {
        let client = httpclient::Client::plain()?;
        client
            .send(
                httpclient::Request::get(url)
                    .header("accept", "application/json")
                    .timeout(Duration::from_secs(300))
                    .body_limit(MAX_ANSWER),
            )
            .await
    })?;
    Ok(String::from_utf8_lossy(&resp.body).into_owned())
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
