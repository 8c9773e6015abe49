//! Keys of Prometheus's configuration that Watchfire does not implement
//! yet, and what to say when one is set.
//!
//! A key that is not in Watchfire's types is looked up here before it is
//! called unknown: a Prometheus key gets a reason that names it ("`x` is not
//! supported yet"), a typo gets serde's "unknown field". A key whose value
//! is what Watchfire does anyway (its upstream default, or an empty list)
//! is accepted: it changes nothing.
//!
//! The README's configuration section lists the same keys.

use model::yaml::Value;

/// Every service discovery Prometheus 3.x registers (`discovery/install`),
/// but for `file` and `http`, which Watchfire implements for scrape jobs.
pub const OTHER_SDS: [&str; 34] = [
    "aws",
    "azure",
    "consul",
    "digitalocean",
    "dns",
    "docker",
    "dockerswarm",
    "ec2",
    "ecs",
    "elasticache",
    "eureka",
    "gce",
    "hetzner",
    "ionos",
    "kubernetes",
    "kuma",
    "lightsail",
    "linode",
    "marathon",
    "msk",
    "nerve",
    "nomad",
    "oci",
    "openstack",
    "outscale",
    "ovhcloud",
    "puppetdb",
    "rds",
    "scaleway",
    "serverset",
    "stackit",
    "triton",
    "uyuni",
    "vultr",
];

/// What happens to a value that Watchfire does not implement.
struct Pending {
    /// The sections the key sits in: `global`, `scrape_configs`,
    /// `alertmanagers`, `basic_auth`, `authorization`, `oauth2`,
    /// `tls_config`.
    sections: &'static [&'static str],
    keys: &'static [&'static str],
    /// True when the value is what Watchfire does anyway.
    harmless: fn(&Value) -> bool,
    /// Why it cannot take effect, after "`key` is not supported yet".
    why: &'static str,
}

fn unset(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
    }
}

fn utf8(v: &Value) -> bool {
    unset(v) || v.as_str() == Some("utf8")
}

fn allow_utf8(v: &Value) -> bool {
    unset(v) || v.as_str() == Some("allow-utf-8")
}

fn anything(_: &Value) -> bool {
    true
}

const NATIVE: &str = ": Watchfire does not store native histograms yet";

/// Keys set globally and per scrape job alike.
const JOBS: &[&str] = &["global", "scrape_configs"];

const SECRET_MANAGER: &str = ": Watchfire has no secret manager";
const JWT: &str = ": the JWT bearer grant is not implemented";
const DROPPED: &str = ": dropped targets are not kept";
const ONLY_STATIC: &str = ": Alertmanagers are found by static_configs only";

// One entry per line: a table to read, not code.
#[rustfmt::skip]
const TABLE: &[Pending] = &[
    Pending { sections: JOBS, keys: &["keep_dropped_targets"], harmless: unset, why: DROPPED },
    Pending { sections: JOBS, keys: &["metric_name_validation_scheme"], harmless: utf8, why: ": only utf8 validation is implemented" },
    Pending { sections: JOBS, keys: &["metric_name_escaping_scheme"], harmless: allow_utf8, why: ": only allow-utf-8 is implemented" },
    Pending { sections: JOBS, keys: &["scrape_native_histograms", "convert_classic_histograms_to_nhcb"], harmless: unset, why: NATIVE },
    Pending { sections: &["scrape_configs"], keys: &["native_histogram_bucket_limit", "native_histogram_min_bucket_factor"], harmless: unset, why: NATIVE },
    // Without native histograms every classic histogram is scraped.
    Pending { sections: JOBS, keys: &["always_scrape_classic_histograms"], harmless: anything, why: "" },
    Pending { sections: JOBS, keys: &["extra_scrape_metrics"], harmless: unset, why: ": scrape_timeout_seconds and the other extra series are not written" },
    Pending { sections: &["global"], keys: &["query_log_file"], harmless: unset, why: ": no query would be logged" },
    Pending { sections: JOBS, keys: &["scrape_failure_log_file"], harmless: unset, why: ": no scrape failure would be logged" },
    Pending { sections: &["alertmanagers"], keys: &["relabel_configs"], harmless: unset, why: ": Alertmanagers are not relabelled" },
    Pending { sections: &["alertmanagers"], keys: &["alert_relabel_configs"], harmless: unset, why: ": use alerting.alert_relabel_configs" },
    Pending { sections: &["alertmanagers"], keys: &["sigv4"], harmless: unset, why: ": AWS signing is not implemented" },
    Pending { sections: &["alertmanagers"], keys: &["file_sd_configs", "http_sd_configs"], harmless: unset, why: ONLY_STATIC },
    Pending { sections: &["remote_write"], keys: &["sigv4", "azuread", "google_iam"], harmless: unset, why: ": cloud request signing is not implemented" },
    Pending { sections: &["basic_auth"], keys: &["username_ref", "password_ref"], harmless: unset, why: SECRET_MANAGER },
    Pending { sections: &["authorization"], keys: &["credentials_ref"], harmless: unset, why: SECRET_MANAGER },
    Pending { sections: &["oauth2"], keys: &["client_secret_ref"], harmless: unset, why: SECRET_MANAGER },
    Pending { sections: &["tls_config"], keys: &["ca_ref", "cert_ref", "key_ref"], harmless: unset, why: SECRET_MANAGER },
    Pending {
        sections: &["oauth2"],
        keys: &[
            "client_certificate_key", "client_certificate_key_file", "client_certificate_key_ref",
            "client_certificate_key_id", "signature_algorithm", "iss", "audience", "claims",
        ],
        harmless: unset,
        why: JWT,
    },
];

/// What to do with `key` in `section` set to `value`, when Watchfire's
/// types do not have it.
pub enum Verdict {
    /// Not a Prometheus key: a typo.
    Unknown,
    /// A Prometheus key whose value changes nothing here.
    Harmless,
    /// A Prometheus key Watchfire cannot honour; the reason names it.
    Refused(String),
}

/// Judges a key Watchfire's types do not have. `path` is how the reason
/// names it (`scrape_configs[0].kubernetes_sd_configs`); `value` is `None`
/// when only the key is known (it is then never harmless).
pub fn judge(section: &str, key: &str, value: Option<&Value>, path: &str) -> Verdict {
    let harmless = |f: fn(&Value) -> bool| value.is_some_and(f);
    if matches!(section, "scrape_configs" | "alertmanagers") {
        if let Some(sd) = key.strip_suffix("_sd_configs") {
            if OTHER_SDS.contains(&sd) {
                if harmless(unset) {
                    return Verdict::Harmless;
                }
                return Verdict::Refused(format!(
                    "{path} is not supported yet: {sd} service discovery is not implemented (file_sd_configs, http_sd_configs and static_configs are)"
                ));
            }
        }
    }
    // A key of `http_config`'s parts, met where a flattened part hid its
    // section, is still that key.
    const PARTS: [&str; 4] = ["basic_auth", "authorization", "oauth2", "tls_config"];
    let found = TABLE
        .iter()
        .find(|p| p.sections.contains(&section) && p.keys.contains(&key))
        .or_else(|| {
            let part = |p: &&Pending| PARTS.contains(&p.sections[0]) && p.keys.contains(&key);
            value.is_none().then(|| TABLE.iter().find(part)).flatten()
        });
    match found {
        None => Verdict::Unknown,
        Some(p) if harmless(p.harmless) => Verdict::Harmless,
        Some(p) if !p.sections.contains(&section) => {
            let prefix = path.strip_suffix(key).unwrap_or(path);
            let section = p.sections[0];
            Verdict::Refused(format!(
                "{prefix}{section}.{key} is not supported yet{}",
                p.why
            ))
        }
        Some(p) => Verdict::Refused(format!("{path} is not supported yet{}", p.why)),
    }
}
