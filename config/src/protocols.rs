//! `scrape_protocols`: the names Prometheus knows, the `Accept` header it
//! builds from them (upstream `scrape/scrape.go` `acceptHeader`) and its
//! validation (`config/config.go`).

/// The protocols Prometheus 3 asks for when `scrape_protocols` is unset.
pub const DEFAULT_SCRAPE_PROTOCOLS: [&str; 4] = [
    "OpenMetricsText1.0.0",
    "OpenMetricsText0.0.1",
    "PrometheusText1.0.0",
    "PrometheusText0.0.4",
];

/// The media type each protocol name stands for.
pub fn protocol_header(name: &str) -> Option<&'static str> {
    Some(match name {
        "PrometheusProto" => {
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"
        }
        "PrometheusText0.0.4" => "text/plain;version=0.0.4",
        "PrometheusText1.0.0" => "text/plain;version=1.0.0",
        "OpenMetricsText0.0.1" => "application/openmetrics-text;version=0.0.1",
        "OpenMetricsText1.0.0" => "application/openmetrics-text;version=1.0.0",
        _ => return None,
    })
}

/// An `Accept` header asking for `protocols` in order of preference (the
/// defaults when empty), as Prometheus builds it: falling `q` weights and
/// `*/*` last. `PrometheusProto` is left out: Watchfire reads the text
/// formats only.
pub fn accept_header(protocols: &[String]) -> String {
    let names: Vec<&str> = if protocols.is_empty() {
        DEFAULT_SCRAPE_PROTOCOLS.to_vec()
    } else {
        protocols.iter().map(String::as_str).collect()
    };
    let mut weight = 6;
    let mut parts = Vec::new();
    for n in names {
        let Some(h) = protocol_header(n).filter(|_| n != "PrometheusProto") else {
            continue;
        };
        let escaping = if n.ends_with("1.0.0") {
            ";escaping=allow-utf-8"
        } else {
            ""
        };
        parts.push(format!("{h}{escaping};q=0.{weight}"));
        weight -= 1;
    }
    parts.push(format!("*/*;q=0.{weight}"));
    parts.join(",")
}

/// `scrape_protocols` and `fallback_scrape_protocol` as Prometheus checks
/// them; `whose` ends each message.
pub(super) fn check_protocols(
    list: Option<&Vec<String>>,
    fallback: Option<&str>,
    whose: &str,
) -> Result<(), String> {
    let unknown = |p: &str| {
        format!("unknown scrape protocol {p}, supported: [OpenMetricsText0.0.1 OpenMetricsText1.0.0 PrometheusProto PrometheusText0.0.4 PrometheusText1.0.0]")
    };
    let protocols = list.map(Vec::as_slice).unwrap_or_default();
    if list.is_some() && protocols.is_empty() {
        return Err(format!("scrape_protocols cannot be empty {whose}"));
    }
    let mut seen = std::collections::HashSet::new();
    for p in protocols {
        if !seen.insert(p.to_lowercase()) {
            return Err(format!(
                "duplicated protocol in scrape_protocols, got [{}] {whose}",
                protocols.join(" ")
            ));
        }
        if protocol_header(p).is_none() {
            return Err(format!("scrape_protocols: {} {whose}", unknown(p)));
        }
    }
    if let Some(f) = fallback.filter(|f| !f.is_empty()) {
        if protocol_header(f).is_none() {
            return Err(format!(
                "invalid fallback_scrape_protocol {whose}: {}",
                unknown(f)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_like_prometheus() {
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let whose = "for scrape config with job name \"a\"";
        let ok = [
            (Some(list(&["PrometheusText0.0.4"])), None),
            (
                Some(list(&["PrometheusProto", "OpenMetricsText1.0.0"])),
                Some("PrometheusText1.0.0"),
            ),
            (None, Some("")),
        ];
        for (l, f) in ok {
            assert_eq!(check_protocols(l.as_ref(), f, whose), Ok(()), "{l:?} {f:?}");
        }
        let bad = [
            (Some(list(&[])), None, "scrape_protocols cannot be empty for scrape config with job name \"a\""),
            (
                Some(list(&["PrometheusProto", "prometheusproto"])),
                None,
                "duplicated protocol in scrape_protocols, got [PrometheusProto prometheusproto] for scrape config with job name \"a\"",
            ),
            (
                Some(list(&["Text"])),
                None,
                "scrape_protocols: unknown scrape protocol Text, supported: [OpenMetricsText0.0.1 OpenMetricsText1.0.0 PrometheusProto PrometheusText0.0.4 PrometheusText1.0.0] for scrape config with job name \"a\"",
            ),
            (
                None,
                Some("text"),
                "invalid fallback_scrape_protocol for scrape config with job name \"a\": unknown scrape protocol text, supported: [OpenMetricsText0.0.1 OpenMetricsText1.0.0 PrometheusProto PrometheusText0.0.4 PrometheusText1.0.0]",
            ),
        ];
        for (l, f, want) in bad {
            let got = check_protocols(l.as_ref(), f, whose);
            assert_eq!(got, Err(want.to_string()), "{l:?} {f:?}");
        }
    }
}
