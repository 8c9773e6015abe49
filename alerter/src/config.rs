//! `alertmanager.yml`: the raw configuration as written, loaded strictly
//! (unknown keys are errors), and the checks upstream `config.Load` makes
//! on the whole (receiver names, the root route, receivers and time
//! intervals used by routes), with upstream's wording.
//!
//! The receivers' own settings and `global:` are kept as YAML here; their
//! per-integration validation is a separate step.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use model::yaml::Value;
use serde::Deserialize;

use crate::receiver::{GlobalConfig, ReceiverConfig};

mod decode;

pub(crate) use decode::yaml11_bool;

/// A configuration that cannot be used, and where (file, line, reason).
pub use model::yaml::FileError as ConfigError;

/// The whole file, as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub global: Option<GlobalConfig>,
    #[serde(default)]
    pub route: Option<RouteConfig>,
    #[serde(default)]
    pub inhibit_rules: Vec<InhibitRuleConfig>,
    #[serde(default)]
    pub receivers: Vec<ReceiverConfig>,
    #[serde(default)]
    pub templates: Vec<String>,
    #[serde(default)]
    pub time_intervals: Vec<TimeIntervalConfig>,
    #[serde(default)]
    pub mute_time_intervals: Vec<TimeIntervalConfig>,
    #[serde(default)]
    pub tracing: Option<Value>,
}

/// A `route:` node.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    #[serde(default)]
    pub receiver: Option<String>,
    #[serde(default)]
    pub group_by: Option<Vec<String>>,
    #[serde(default, rename = "continue")]
    pub continue_: bool,
    #[serde(default, rename = "match")]
    pub match_: BTreeMap<String, String>,
    /// A null value is kept so that it can be refused as upstream does.
    #[serde(default)]
    pub match_re: BTreeMap<String, Option<String>>,
    #[serde(default)]
    pub matchers: Vec<String>,
    #[serde(default)]
    pub group_wait: Option<String>,
    #[serde(default)]
    pub group_interval: Option<String>,
    #[serde(default)]
    pub repeat_interval: Option<String>,
    #[serde(default)]
    pub mute_time_intervals: Vec<String>,
    #[serde(default)]
    pub active_time_intervals: Vec<String>,
    /// Labels a route adds to its notifications (templates allowed).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
}

/// An `inhibit_rules` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InhibitRuleConfig {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub source_match: BTreeMap<String, String>,
    #[serde(default)]
    pub source_match_re: BTreeMap<String, Option<String>>,
    #[serde(default)]
    pub source_matchers: Vec<String>,
    #[serde(default)]
    pub target_match: BTreeMap<String, String>,
    #[serde(default)]
    pub target_match_re: BTreeMap<String, Option<String>>,
    #[serde(default)]
    pub target_matchers: Vec<String>,
    #[serde(default)]
    pub equal: Vec<String>,
}

/// A named time interval (`time_intervals` or `mute_time_intervals`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeIntervalConfig {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub time_intervals: Vec<Value>,
}

/// A loaded, checked configuration.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub raw: Config,
    /// Receivers with `global:` filled in.
    pub receivers: Vec<ReceiverConfig>,
    /// Each named interval (`time_intervals` and `mute_time_intervals`)
    /// with its entries, parsed.
    pub intervals: BTreeMap<String, Vec<crate::timeinterval::TimeInterval>>,
}

/// Reads and checks `alertmanager.yml`.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let (file, text) = model::yaml::read(path)?;
    parse(&text, &file)
}

/// Parses and checks configuration text; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Loaded, ConfigError> {
    let err = |line: Option<usize>, reason: String| ConfigError {
        file: file.to_string(),
        line,
        reason,
    };
    // The line where a value is written, for errors found after decoding.
    let line_of = |needle: &str| -> Option<usize> {
        text.lines().position(|l| l.contains(needle)).map(|i| i + 1)
    };
    // An empty document never reaches upstream's checks.
    let empty = text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#') || l.trim() == "---")
        || matches!(text.trim(), "null" | "~");
    if empty {
        return Err(err(None, "no route provided in config".into()));
    }
    let mut raw: Config = if text.trim().is_empty() {
        Config::default()
    } else {
        model::yaml::from_str(text).map_err(|e| err(e.line, decode::error(&e, text)))?
    };
    // Relative files of `http_config` are relative to the file they are
    // written in, as upstream's `resolveFilepaths` makes them.
    if let Some(dir) = Path::new(file).parent() {
        if let Some(h) = raw.global.as_mut().and_then(|g| g.http_config.as_mut()) {
            h.join_dir(dir);
        }
        for r in &mut raw.receivers {
            for h in r.http_configs_mut() {
                h.join_dir(dir);
            }
        }
    }
    let raw = raw;
    // Checks upstream makes while decoding, section by section in the
    // order the file has them.
    let route_first = match (text.find("\nroute:"), text.find("\nreceivers:")) {
        (Some(a), Some(b)) => a < b,
        _ => true,
    };
    let decode_route = || -> Result<(), ConfigError> {
        if let Some(r) = &raw.route {
            check_route_node(r).map_err(|e| err(None, e))?;
        }
        Ok(())
    };
    let decode_receivers = || -> Result<(), ConfigError> {
        for r in &raw.receivers {
            r.check_entries()
                .map_err(|e| err(line_of(&r.name).filter(|_| !r.name.is_empty()), e))?;
        }
        Ok(())
    };
    if route_first {
        decode_route()?;
        decode_receivers()?;
    } else {
        decode_receivers()?;
        decode_route()?;
    }
    // Then, as upstream's Config.UnmarshalYAML: global exclusivity,
    // receivers filled from global, the route tree, time intervals.
    let global = raw.global.clone().unwrap_or_default();
    global.check().map_err(|e| err(line_of("global:"), e))?;
    let mut receivers = Vec::new();
    let mut names = HashSet::new();
    for r in &raw.receivers {
        if !names.insert(r.name.clone()) {
            return Err(err(
                line_of(&format!("name: '{}'", r.name))
                    .or_else(|| line_of(&format!("name: {}", r.name))),
                format!("notification config name {:?} is not unique", r.name),
            ));
        }
        let mut filled = r.clone();
        filled
            .apply_global(&global)
            .map_err(|e| err(line_of(&r.name).filter(|_| !r.name.is_empty()), e))?;
        receivers.push(filled);
    }
    // Time intervals: named and unique.
    let mut intervals = HashSet::new();
    let mut specs = BTreeMap::new();
    for (list, what) in [
        (&raw.mute_time_intervals, "mute time interval"),
        (&raw.time_intervals, "time interval"),
    ] {
        for ti in list {
            let name = ti.name.clone().unwrap_or_default();
            if name.is_empty() {
                return Err(err(None, format!("missing name in {what}")));
            }
            if !intervals.insert(name.clone()) {
                return Err(err(
                    line_of(&name),
                    format!("{what} {name:?} is not unique"),
                ));
            }
            let mut parsed = Vec::new();
            for spec in &ti.time_intervals {
                parsed.push(
                    crate::timeinterval::parse(spec)
                        .map_err(|e| err(line_of(&name), e.to_string()))?,
                );
            }
            specs.insert(name, parsed);
        }
    }
    // The root route.
    let Some(root) = &raw.route else {
        return Err(err(None, "no routes provided".into()));
    };
    if root.receiver.as_deref().unwrap_or("").is_empty() {
        return Err(err(
            line_of("route:"),
            "root route must specify a default receiver".into(),
        ));
    }
    if !root.match_.is_empty() || !root.match_re.is_empty() || !root.matchers.is_empty() {
        return Err(err(
            line_of("route:"),
            "root route must not have any matchers".into(),
        ));
    }
    if !root.mute_time_intervals.is_empty() {
        return Err(err(
            line_of("mute_time_intervals"),
            "root route must not have any mute time intervals".into(),
        ));
    }
    if !root.active_time_intervals.is_empty() {
        return Err(err(
            line_of("active_time_intervals"),
            "root route must not have any active time intervals".into(),
        ));
    }
    check_receivers(root, &names).map_err(|(name, e)| err(line_of(&name), e))?;
    check_intervals(root, &intervals).map_err(|(name, e)| err(line_of(&name), e))?;
    if root.continue_ {
        return Err(err(
            line_of("continue:"),
            "cannot have continue in root route".into(),
        ));
    }
    for (i, r) in raw.inhibit_rules.iter().enumerate() {
        for m in r.source_matchers.iter().chain(&r.target_matchers) {
            crate::matcher::parse(m)
                .map_err(|e| err(line_of(m), format!("inhibit_rules[{i}]: {e}")))?;
        }
        let check = || -> Result<(), String> {
            let sre = regex_map(&r.source_match_re)?;
            let tre = regex_map(&r.target_match_re)?;
            for k in r.source_match.keys().chain(r.target_match.keys()) {
                if !is_classic_name(k) {
                    return Err(format!("invalid label name {k:?}"));
                }
            }
            for l in &r.equal {
                if !is_classic_name(l) {
                    return Err(format!("invalid label name {l:?} in equal list"));
                }
            }
            crate::matcher::from_maps(&r.source_match, &sre).map_err(|e| e.to_string())?;
            crate::matcher::from_maps(&r.target_match, &tre).map_err(|e| e.to_string())?;
            Ok(())
        };
        check().map_err(|e| err(None, e))?;
    }
    Ok(Loaded {
        raw,
        receivers,
        intervals: specs,
    })
}

/// Upstream `Route.UnmarshalYAML`, for every node.
/// `[a-zA-Z_][a-zA-Z0-9_]*`, the label names upstream's config checks
/// accept.
pub fn is_classic_name(n: &str) -> bool {
    let mut c = n.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// A `match_re` map with its null values refused, as upstream's
/// `MatchRegexps`.
pub(crate) fn regex_map(
    m: &BTreeMap<String, Option<String>>,
) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (k, v) in m {
        if !is_classic_name(k) {
            return Err(format!("invalid label name {k:?}"));
        }
        let Some(v) = v else {
            return Err(format!("invalid regexp value for {k:?}"));
        };
        out.insert(k.clone(), v.clone());
    }
    Ok(out)
}

fn check_route_node(r: &RouteConfig) -> Result<(), String> {
    let re = regex_map(&r.match_re)?;
    for m in &r.matchers {
        crate::matcher::parse(m).map_err(|e| e.to_string())?;
    }
    for k in r.match_.keys() {
        if !is_classic_name(k) {
            return Err(format!("invalid label name {k:?}"));
        }
    }
    for k in r.labels.keys() {
        if !is_classic_name(k) {
            return Err(format!("invalid label name {k:?} in route labels"));
        }
    }
    crate::matcher::from_maps(&r.match_, &re).map_err(|e| e.to_string())?;
    if let Some(g) = &r.group_by {
        let all = g.iter().any(|l| l == "...");
        let mut seen = HashSet::new();
        for l in g.iter().filter(|l| *l != "...") {
            if !is_classic_name(l) {
                return Err(format!("invalid label name {l:?} in group_by list"));
            }
            if all {
                return Err(
                    "cannot have wildcard group_by (`...`) and other labels at the same time"
                        .into(),
                );
            }
            if !seen.insert(l) {
                return Err(format!("duplicated label {l:?} in group_by"));
            }
        }
    }
    for (name, v) in [
        ("group_wait", &r.group_wait),
        ("group_interval", &r.group_interval),
        ("repeat_interval", &r.repeat_interval),
    ] {
        if let Some(v) = v {
            let d = model::time::parse_duration(v).map_err(|e| format!("{name}: {e}"))?;
            if d.is_zero() && name != "group_wait" {
                return Err(format!("{name} cannot be zero"));
            }
        }
    }
    for c in &r.routes {
        check_route_node(c)?;
    }
    Ok(())
}

fn check_receivers(r: &RouteConfig, names: &HashSet<String>) -> Result<(), (String, String)> {
    if let Some(rcv) = &r.receiver {
        if !rcv.is_empty() && !names.contains(rcv) {
            return Err((
                rcv.clone(),
                format!("undefined receiver {rcv:?} used in route"),
            ));
        }
    }
    for c in &r.routes {
        check_receivers(c, names)?;
    }
    Ok(())
}

fn check_intervals(r: &RouteConfig, names: &HashSet<String>) -> Result<(), (String, String)> {
    for ti in r.mute_time_intervals.iter().chain(&r.active_time_intervals) {
        if !names.contains(ti) {
            return Err((
                ti.clone(),
                format!("undefined time interval {ti:?} used in route"),
            ));
        }
    }
    for c in &r.routes {
        check_intervals(c, names)?;
    }
    Ok(())
}

/// Keys whose values are secrets wherever they appear (upstream's
/// `Secret` and `SecretURL` fields).
const SECRET_KEYS: &[&str] = &[
    "password",
    "auth_password",
    "auth_secret",
    "smtp_auth_password",
    "smtp_auth_secret",
    "api_key",
    "opsgenie_api_key",
    "victorops_api_key",
    "service_key",
    "routing_key",
    "bot_token",
    "telegram_bot_token",
    "token",
    "token_id",
    "rocketchat_token",
    "rocketchat_token_id",
    "api_secret",
    "wechat_api_secret",
    "credentials",
    "client_secret",
    "client_certificate_key",
    "bearer_token",
    "secret_key",
    "access_key",
    "user_key",
    "app_token",
    "slack_app_token",
    "slack_api_url",
    "webhook_url",
    "mattermost_webhook_url",
    "alert_source_token",
    "key",
    "secrets",
    "proxy_connect_header",
];

/// Keys that are secrets inside the named list only (a webhook's or
/// incident.io's `url`, Slack's `api_url`).
const SECRET_IN: &[(&str, &str)] = &[
    ("webhook_configs", "url"),
    ("incidentio_configs", "url"),
    ("slack_configs", "api_url"),
];

/// `scheme://user:xxxxx@host/...` for a URL with a password.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rsplit_once('@') {
        Some((info, host)) => match info.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:xxxxx@{host}{}", &rest[end..]),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// The configuration as `/api/v2/status` shows it: the YAML with every
/// secret replaced by `<secret>`, as upstream prints its configuration.
pub fn redacted(text: &str) -> String {
    fn walk(v: &mut Value, list: Option<&str>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m.iter_mut() {
                    let key = k.as_str();
                    let secret = SECRET_KEYS.contains(&key)
                        || SECRET_IN.iter().any(|(l, k)| Some(*l) == list && *k == key);
                    if secret && !matches!(v, Value::Null) {
                        *v = Value::String("<secret>".into());
                    } else if key == "proxy_url" {
                        // Only the password of a proxy URL is hidden, as
                        // Go's `URL.Redacted` does.
                        if let Value::String(u) = v {
                            *u = redact_password(u);
                        }
                    } else {
                        // A `*_configs` list names what its entries are;
                        // other lists leave it.
                        let next = if key.ends_with("_configs") {
                            Some(key)
                        } else if matches!(v, Value::Array(_)) {
                            None
                        } else {
                            list
                        };
                        walk(v, next);
                    }
                }
            }
            Value::Array(l) => {
                for x in l {
                    walk(x, list);
                }
            }
            _ => {}
        }
    }
    let Ok(mut v) = model::yaml::value_from_str(text) else {
        return String::new();
    };
    walk(&mut v, None);
    model::yaml::to_string(&v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted() {
        let text = "global:\n  http_config:\n    proxy_url: http://me:pr0xy@proxy:3128\n  smtp_auth_password: hunter2\n  slack_api_url: https://hooks.slack.com/services/T/B/X\nroute:\n  receiver: r\nreceivers:\n  - name: r\n    webhook_configs:\n      - url: http://hook.example/token123\n        http_config:\n          basic_auth: {username: u, password: pw1}\n    pagerduty_configs:\n      - routing_key: rk1\n        url: https://events.pagerduty.com/v2/enqueue\n    slack_configs:\n      - api_url: https://hooks.slack.com/services/T/B/Y\n        channel: '#ops'\n";
        let out = redacted(text);
        assert!(out.contains("http://me:xxxxx@proxy:3128"), "{out}");
        for secret in [
            "hunter2", "T/B/X", "token123", "pw1", "rk1", "T/B/Y", "pr0xy",
        ] {
            assert!(!out.contains(secret), "{secret} in {out}");
        }
        for kept in [
            "https://events.pagerduty.com/v2/enqueue",
            "channel: \"#ops\"",
            "username: u",
        ] {
            assert!(out.contains(kept), "{kept} not in {out}");
        }
    }

    /// Upstream `config_test.go` cases beyond the shared corpus.
    #[test]
    fn upstream_cases() {
        let base = "receivers:\n- name: r\n";
        let cases: &[(&str, &str)] = &[
            ("", "no route provided in config"),
            ("route:\n  receiver: r\n  group_by: ['...', 'a']\n", "cannot have wildcard group_by (`...`) and other labels at the same time"),
            ("route:\n  receiver: r\n  group_by: ['-invalid-']\n", "invalid label name \"-invalid-\" in group_by list"),
            ("route:\n  receiver: r\n  labels:\n    -invalid-: x\n", "invalid label name \"-invalid-\" in route labels"),
            ("route:\n  receiver: r\n  continue: true\n", "cannot have continue in root route"),
            ("route:\n  receiver: r\n  repeat_interval: 0s\n", "repeat_interval cannot be zero"),
            ("route:\n  receiver: r\n  routes:\n  - matchers: ['a=b']\n    mute_time_intervals: [business_hours]\n", "undefined time interval \"business_hours\" used in route"),
            ("route:\n  receiver: r\ninhibit_rules:\n- source_match_re:\n    invalid_source_label:\n", "invalid regexp value for \"invalid_source_label\""),
        ];
        for (text, want) in cases {
            let text = if text.is_empty() {
                String::new()
            } else {
                format!("{text}{base}")
            };
            match parse(&text, "am.yml") {
                Err(e) => assert_eq!(e.reason, *want, "{text}"),
                Ok(_) => panic!("{text}: loaded, want {want:?}"),
            }
        }
        for kind in ["incidentio", "webhook", "pushover", "telegram", "webex"] {
            let text =
                format!("route:\n  receiver: r\nreceivers:\n- name: r\n  {kind}_configs:\n  -\n");
            assert_eq!(
                parse(&text, "am.yml").unwrap_err().reason,
                format!("missing {kind} config")
            );
        }
        let text = "route:\n  receiver: r\nreceivers:\n- name: r\n  rocketchat_configs:\n  -\n";
        assert_eq!(
            parse(text, "am.yml").unwrap_err().reason,
            "no global Rocketchat TokenID set either inline or in a file"
        );
        // An empty group_by on a child overrides its parent's.
        let ok = "route:\n  receiver: r\n  group_by: [a]\n  routes:\n  - matchers: ['x=y']\n    group_by: []\nreceivers:\n- name: r\n";
        assert!(parse(ok, "am.yml").is_ok());
    }

    #[test]
    fn type_errors_read_as_yaml_v2s() {
        let e = parse("BAD\n", "am.yml").unwrap_err();
        assert_eq!(
            e.reason,
            "yaml: unmarshal errors:\n  line 1: cannot unmarshal !!str `BAD` into config.plain"
        );
        let head = "route:\n  receiver: r\nreceivers:\n- name: r\n";
        let hook = "  webhook_configs:\n  - url: http://x\n";
        // (text after `head`, line, reason after "yaml: unmarshal errors:")
        let cases = [
            (
                format!("{hook}    max_alerts: -1\n"),
                7,
                "cannot unmarshal !!int `-1` into u64",
            ),
            (
                format!("{hook}    max_alerts: a_great_many\n"),
                7,
                "cannot unmarshal !!str `a_great...` into u64",
            ),
            (
                format!("{hook}    send_resolved: maybe\n"),
                7,
                "cannot unmarshal !!str `maybe` into boolean",
            ),
            (
                format!("{hook}    timeout: [1s]\n"),
                7,
                "cannot unmarshal !!seq into string",
            ),
            (
                "  webhook_configs: http://x\n".into(),
                5,
                "cannot unmarshal !!str `http://x` into sequence",
            ),
            (
                "  labels: {a: b, a: c}\n".into(),
                5,
                "key \"a\" already set in map",
            ),
            (
                "  name: q\n".into(),
                5,
                "field name already set in type config.plain",
            ),
            (
                format!("{hook}    url: http://y\n"),
                7,
                "field url already set in type webhook.plain",
            ),
        ];
        for (text, line, want) in cases {
            let want = format!("yaml: unmarshal errors:\n  line {line}: {want}");
            match parse(&format!("{head}{text}"), "am.yml") {
                Err(e) => assert_eq!(
                    (e.line, e.reason.as_str()),
                    (Some(line), want.as_str()),
                    "{text}"
                ),
                Ok(_) => panic!("{text}: loaded, want {want:?}"),
            }
        }
    }

    /// As yaml.v2 decodes it, null is the zero value of every type.
    #[test]
    fn null_is_the_zero_value() {
        let head = "route:\n  receiver: r\n  continue:\n  routes:\nreceivers:\n";
        let ok = format!("{head}- name: r\n  webhook_configs:\n  labels:\ninhibit_rules:\n");
        let loaded = parse(&ok, "am.yml").unwrap();
        assert!(loaded.receivers[0].webhook_configs.is_empty());
        let e = parse(&format!("{head}- name: ~\n"), "am.yml").unwrap_err();
        assert_eq!(e.reason, "missing name in receiver");
    }

    #[test]
    fn unknown_keys_name_upstreams_type() {
        let text = "route:\n  receiver: r\nreceivers:\n- name: r\n  opsgenie_configs:\n  - api_key: k\n    teams: x\n";
        let e = parse(text, "am.yml").unwrap_err();
        assert_eq!(
            e.reason,
            "yaml: unmarshal errors:\n  line 7: field teams not found in type opsgenie.plain"
        );
        assert_eq!(e.line, Some(7));
    }
}
