//! Targets: from a discovered address and labels to the final label set
//! and URL of a scrape (upstream `scrape/target.go`, `PopulateLabels`).

use std::collections::BTreeMap;

use model::{Labels, LabelsBuilder};

use crate::config::{GlobalConfig, ScrapeConfig};
use crate::relabel::Relabeler;

/// A target group as discovery yields it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Group {
    /// Where it came from (for the targets API and for diffing).
    pub source: String,
    pub targets: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

/// A target ready to scrape.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// Labels attached to every sample: the relabeled labels without the
    /// `__`-prefixed ones.
    pub labels: Labels,
    /// The labels before relabeling (`discoveredLabels` in the API).
    pub discovered: Labels,
    /// The URL to scrape.
    pub url: String,
}

/// Why a discovered target cannot be scraped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetError(pub String);

/// Builds the targets of one group; a dropped target is left out, a broken
/// one reported.
pub fn build(
    group: &Group,
    sc: &ScrapeConfig,
    g: &GlobalConfig,
    relabel: &Relabeler,
) -> Vec<Result<Target, TargetError>> {
    let mut out = Vec::new();
    for addr in &group.targets {
        let mut b = LabelsBuilder::new();
        b.set("job", &sc.job_name);
        b.set(
            "__scrape_interval__",
            &model::time::format_duration(sc.interval(g)),
        );
        b.set(
            "__scrape_timeout__",
            &model::time::format_duration(sc.timeout(g)),
        );
        b.set("__metrics_path__", &sc.metrics_path);
        b.set("__scheme__", &sc.scheme);
        for (k, v) in &sc.params {
            if let Some(first) = v.first() {
                b.set(&format!("__param_{k}"), first);
            }
        }
        for (k, v) in &group.labels {
            b.set(k, v);
        }
        b.set("__address__", addr);
        let discovered = b.labels();
        let Some(relabeled) = relabel.process(&discovered) else {
            continue;
        };
        out.push(finish(relabeled, discovered));
    }
    out
}

fn finish(l: Labels, discovered: Labels) -> Result<Target, TargetError> {
    let addr = l.get("__address__").unwrap_or("").to_string();
    if addr.is_empty() {
        return Err(TargetError("no address".into()));
    }
    if addr.contains('/') {
        return Err(TargetError(format!(
            "{addr:?} is not a valid hostname:port"
        )));
    }
    let scheme = l.get("__scheme__").unwrap_or("http");
    let path = l.get("__metrics_path__").unwrap_or("/metrics");
    let mut query = Vec::new();
    for (n, v) in l.iter() {
        if let Some(p) = n.strip_prefix("__param_") {
            query.push(format!("{}={}", encode(p), encode(v)));
        }
    }
    let mut url = format!("{scheme}://{addr}{path}");
    if !query.is_empty() {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&query.join("&"));
    }
    let mut b = l.builder();
    b.retain(|n| !n.starts_with("__"));
    if l.get("instance").is_none() {
        b.set("instance", &addr);
    }
    Ok(Target {
        labels: b.labels(),
        discovered,
        url,
    })
}

/// Percent-encodes a query component.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_url() {
        let cfg = crate::config::parse(
            "scrape_configs:\n  - job_name: node\n    metrics_path: /m\n    params: {module: [a b]}\n    static_configs: [{targets: ['h:1'], labels: {env: prod}}]\n",
            "p.yml",
        )
        .unwrap();
        let sc = &cfg.scrape_configs[0];
        let g = Group {
            source: "s".into(),
            targets: sc.static_configs[0].targets.clone(),
            labels: sc.static_configs[0].labels.clone(),
        };
        let t = build(&g, sc, &cfg.global, &Relabeler::new(&[]).unwrap())
            .remove(0)
            .unwrap();
        assert_eq!(
            t.labels.to_string(),
            r#"{env="prod", instance="h:1", job="node"}"#
        );
        assert_eq!(t.url, "http://h:1/m?module=a%20b");
        assert_eq!(t.discovered.get("__address__"), Some("h:1"));
    }
}
