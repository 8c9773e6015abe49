//! `alertmanager.yml`: the raw configuration as written, loaded strictly
//! (unknown keys are errors), and the checks upstream `config.Load` makes
//! on the whole (receiver names, the root route, receivers and time
//! intervals used by routes), with upstream's wording.
//!
//! The receivers' own settings and `global:` are kept as YAML here; their
//! per-integration validation is a separate step.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde_yaml::Value;

/// A configuration problem: file, line when known, and upstream's reason.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: String,
    pub line: Option<usize>,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.file, self.reason),
            None => write!(f, "{}: {}", self.file, self.reason),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The whole file, as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub global: Option<Value>,
    #[serde(default)]
    pub route: Option<RouteConfig>,
    #[serde(default)]
    pub inhibit_rules: Vec<InhibitRuleConfig>,
    #[serde(default)]
    pub receivers: Vec<Value>,
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
    #[serde(default)]
    pub match_re: BTreeMap<String, String>,
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
    pub source_match_re: BTreeMap<String, String>,
    #[serde(default)]
    pub source_matchers: Vec<String>,
    #[serde(default)]
    pub target_match: BTreeMap<String, String>,
    #[serde(default)]
    pub target_match_re: BTreeMap<String, String>,
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

/// The integrations a receiver may list.
pub const INTEGRATIONS: &[&str] = &[
    "discord_configs",
    "email_configs",
    "incidentio_configs",
    "jira_configs",
    "mattermost_configs",
    "msteams_configs",
    "msteamsv2_configs",
    "opsgenie_configs",
    "pagerduty_configs",
    "pushover_configs",
    "rocketchat_configs",
    "slack_configs",
    "sns_configs",
    "telegram_configs",
    "victorops_configs",
    "webex_configs",
    "webhook_configs",
    "wechat_configs",
];

/// A receiver: its name, labels and the raw settings of each integration.
#[derive(Debug, Clone, Default)]
pub struct Receiver {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub integrations: Vec<(String, Value)>,
}

/// A loaded, checked configuration.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub raw: Config,
    pub receivers: Vec<Receiver>,
    /// Names of `time_intervals` and `mute_time_intervals`.
    pub time_intervals: HashSet<String>,
}

/// Reads and checks `alertmanager.yml`.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: file.clone(),
        line: None,
        reason: e.to_string(),
    })?;
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
    let raw: Config = if text.trim().is_empty() {
        Config::default()
    } else {
        serde_yaml::from_str(text).map_err(|e| {
            let line = e.location().map(|l| l.line());
            let msg = e.to_string();
            let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
            err(line, msg)
        })?
    };
    // Receivers: decoded one by one, as upstream's Receiver.UnmarshalYAML.
    let mut receivers = Vec::new();
    let mut names = HashSet::new();
    for r in &raw.receivers {
        let rcv = receiver(r).map_err(|e| err(None, e))?;
        if !names.insert(rcv.name.clone()) {
            return Err(err(
                line_of(&format!("name: '{}'", rcv.name))
                    .or_else(|| line_of(&format!("name: {}", rcv.name))),
                format!("notification config name {:?} is not unique", rcv.name),
            ));
        }
        receivers.push(rcv);
    }
    // Time intervals: named and unique.
    let mut intervals = HashSet::new();
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
        }
    }
    // The root route.
    let Some(root) = &raw.route else {
        return Err(err(None, "no routes provided".into()));
    };
    check_route_node(root).map_err(|e| err(None, e))?;
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
    for (i, r) in raw.inhibit_rules.iter().enumerate() {
        for m in r.source_matchers.iter().chain(&r.target_matchers) {
            crate::matcher::parse(m)
                .map_err(|e| err(line_of(m), format!("inhibit_rules[{i}]: {e}")))?;
        }
        crate::matcher::from_maps(&r.source_match, &r.source_match_re)
            .and_then(|_| crate::matcher::from_maps(&r.target_match, &r.target_match_re))
            .map_err(|e| err(None, format!("inhibit_rules[{i}]: {e}")))?;
    }
    Ok(Loaded {
        raw,
        receivers,
        time_intervals: intervals,
    })
}

/// Upstream `Receiver.UnmarshalYAML`: a name, labels, known integrations.
fn receiver(v: &Value) -> Result<Receiver, String> {
    let Value::Mapping(m) = v else {
        return Err("missing name in receiver".into());
    };
    let mut out = Receiver::default();
    for (k, val) in m {
        let key = k.as_str().unwrap_or_default();
        match key {
            "name" => out.name = val.as_str().unwrap_or_default().to_string(),
            "labels" => {
                out.labels = serde_yaml::from_value(val.clone())
                    .map_err(|e| format!("receiver labels: {e}"))?;
            }
            k if INTEGRATIONS.contains(&k) => {
                let Value::Sequence(items) = val else {
                    if val.is_null() {
                        continue;
                    }
                    return Err(format!("{k} must be a list"));
                };
                let kind = k.trim_end_matches("_configs");
                for item in items {
                    if item.is_null() {
                        return Err(format!("missing {kind} config"));
                    }
                    out.integrations.push((k.to_string(), item.clone()));
                }
            }
            other => return Err(format!("field {other} not found in type config.plain")),
        }
    }
    if out.name.is_empty() {
        return Err("missing name in receiver".into());
    }
    if let Some(n) = out.labels.get("name") {
        if *n != out.name {
            return Err(format!(
                "receiver label \"name\" must match receiver name {:?}, got {n:?}",
                out.name
            ));
        }
    }
    Ok(out)
}

/// Upstream `Route.UnmarshalYAML`, for every node.
fn check_route_node(r: &RouteConfig) -> Result<(), String> {
    for k in r.match_.keys().chain(r.match_re.keys()) {
        if k.is_empty() {
            return Err(format!("invalid label name {k:?}"));
        }
    }
    crate::matcher::from_maps(&r.match_, &r.match_re)?;
    for m in &r.matchers {
        crate::matcher::parse(m)?;
    }
    if let Some(g) = &r.group_by {
        let all = g.iter().any(|l| l == "...");
        let mut seen = HashSet::new();
        for l in g.iter().filter(|l| *l != "...") {
            if l.is_empty() {
                return Err(format!("invalid label name {l:?} in group_by list"));
            }
            if all {
                return Err(
                    "cannot have wildcard group_by (`...`) and other other labels at the same time"
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
