//! Decoding errors in the words of upstream's reader, Go's yaml.v2:
//! "yaml: unmarshal errors:" and one line per problem, naming the Go type
//! upstream decodes into where serde names Watchfire's.

use model::yaml::Value;

/// A decoding problem in yaml.v2's words: an unknown or repeated key
/// names the Go type upstream decodes into, and a value of the wrong kind
/// reads "cannot unmarshal !!str `BAD` into config.plain".
pub(super) fn error(e: &model::yaml::Error, text: &str) -> String {
    let at = e.line.map(|l| format!("line {l}: ")).unwrap_or_default();
    let unmarshal = |what: String| format!("yaml: unmarshal errors:\n  {at}{what}");
    if let Some(field) = e
        .message
        .strip_prefix("unknown field `")
        .and_then(|r| r.split_once('`'))
        .map(|(f, _)| f)
    {
        // The path ends with the unknown key.
        let node = e.path.strip_suffix(field).unwrap_or(&e.path);
        return unmarshal(format!(
            "field {field} not found in type {}",
            go_type(key_of(node))
        ));
    }
    if let Some(key) = e.message.strip_prefix("duplicate mapping key: ") {
        let key = key.split(", set DuplicateKeyPolicy").next().unwrap_or(key);
        // The path ends with `?`, the key not yet known.
        let node = e.path.trim_end_matches('?').trim_end_matches('.');
        return unmarshal(if !node.ends_with(']') && MAPS.contains(&key_of(node)) {
            format!("key {key:?} already set in map")
        } else {
            format!("field {key} already set in type {}", go_type(key_of(node)))
        });
    }
    let (Some(into), Some((tag, value))) = (expected(&e.message), node(text, &e.path)) else {
        return e.with_path();
    };
    let shown = if tag == "seq" || tag == "map" || value.is_empty() {
        String::new()
    } else if value.chars().count() > 10 {
        format!(" `{}...`", value.chars().take(7).collect::<String>())
    } else {
        format!(" `{value}`")
    };
    unmarshal(format!("cannot unmarshal !!{tag}{shown} into {into}"))
}

/// The key naming the node at a serde path, without its index:
/// `opsgenie_configs` for `receivers[0].opsgenie_configs[1]`.
fn key_of(path: &str) -> &str {
    let last = path.trim_end_matches('.').rsplit('.').next().unwrap_or("");
    last.split('[').next().unwrap_or("")
}

/// Keys whose values are maps in upstream's types (the rest are structs).
const MAPS: &[&str] = &[
    "labels",
    "match",
    "match_re",
    "source_match",
    "source_match_re",
    "target_match",
    "target_match_re",
    "headers",
    "details",
    "custom_fields",
    "attributes",
    "fields",
    "http_headers",
    "proxy_connect_header",
];

/// The Go type upstream decodes a node named `key` into, as its errors
/// name it.
fn go_type(key: &str) -> &'static str {
    match key {
        "opsgenie_configs" => "opsgenie.plain",
        "pagerduty_configs" => "pagerduty.plain",
        "webhook_configs" => "webhook.plain",
        "pushover_configs" => "pushover.plain",
        "discord_configs" => "discord.plain",
        "incidentio_configs" => "incidentio.plain",
        "sns_configs" => "sns.plain",
        "sigv4" => "sigv4.plain",
        "telegram_configs" => "telegram.plain",
        "msteams_configs" => "msteams.plain",
        "msteamsv2_configs" => "msteamsv2.plain",
        "jira_configs" => "jira.plain",
        "rocketchat_configs" => "rocketchat.plain",
        "mattermost_configs" => "mattermost.plain",
        "inhibit_rules" => "common.plain",
        "basic_auth" => "config.BasicAuth",
        "authorization" => "config.Authorization",
        "images" => "pagerduty.PagerdutyImage",
        "links" => "pagerduty.PagerdutyLink",
        "responders" => "opsgenie.OpsGenieConfigResponder",
        "threading" => "config.ThreadingConfig",
        _ => "config.plain",
    }
}

/// What a type error says was wanted, in the words printed after "into".
fn expected(message: &str) -> Option<String> {
    let want = match message {
        "expected mapping start" => "config.plain",
        "expected sequence start" => "sequence",
        "expected string scalar" => "string",
        m if m.starts_with("invalid boolean") => "boolean",
        m => match m
            .strip_prefix("invalid type: ")
            .and_then(|r| r.split_once(", expected "))
        {
            Some((_, w)) if w.starts_with("struct") || w.starts_with("a map") => "config.plain",
            Some((_, w)) => w.trim_start_matches("a "),
            // "invalid u64": a number that does not fit.
            None => m.strip_prefix("invalid ").filter(|t| {
                matches!(
                    *t,
                    "u8" | "u16" | "u32" | "u64" | "i8" | "i16" | "i32" | "i64" | "f32" | "f64"
                )
            })?,
        },
    };
    Some(want.to_string())
}

/// The yaml.v2 tag and text of the node at serde's `path`
/// (`receivers[0].webhook_configs`), read again untyped.
fn node(text: &str, path: &str) -> Option<(&'static str, String)> {
    let mut v = &model::yaml::value_from_str(text).ok()?;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, index) = match part.split_once('[') {
            Some((k, i)) => (k, Some(i)),
            None => (part, None),
        };
        if !key.is_empty() {
            v = v.get(key)?;
        }
        for i in index.into_iter().flat_map(|i| i.split('[')) {
            v = v.get(i.trim_end_matches(']').parse::<usize>().ok()?)?;
        }
    }
    Some(match v {
        Value::Null => ("null", String::new()),
        Value::Bool(b) => ("bool", b.to_string()),
        Value::Number(n) if n.is_f64() => ("float", n.to_string()),
        Value::Number(n) => ("int", n.to_string()),
        // yaml.v2 reads YAML 1.1's `yes` and `off` as booleans.
        Value::String(s) if yaml11_bool(s).is_some() => ("bool", s.clone()),
        Value::String(s) => ("str", s.clone()),
        Value::Array(_) => ("seq", String::new()),
        Value::Object(_) => ("map", String::new()),
    })
}

/// A YAML 1.1 boolean (`yes`, `off`, ...), as yaml.v2 reads plain
/// scalars; `None` for any other text, `true` and `false` included.
pub(crate) fn yaml11_bool(s: &str) -> Option<bool> {
    match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}
