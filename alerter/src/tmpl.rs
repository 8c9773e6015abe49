//! Notification templates: Alertmanager's data model (`.Alerts.Firing`,
//! `.CommonLabels.SortedPairs`, `.GroupLabels.Remove …`) and its template
//! functions (upstream `template/template.go`), over the `template`
//! crate's Go engine.

use std::collections::BTreeMap;
use std::sync::Arc;

use template::{Funcs, Object, Value};

use crate::dispatch::Alert;
use crate::notify::{common, Context};
use model::time::format_go as go_time;

/// A label or annotation set with upstream `KV`'s methods.
#[derive(Debug)]
struct Kv(BTreeMap<String, String>);

impl Kv {
    fn value(m: &BTreeMap<String, String>) -> Value {
        Value::Object(Arc::new(Kv(m.clone())))
    }

    /// `alertname` first, then the rest by name (upstream `SortedPairs`).
    fn sorted(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> =
            self.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        if let Some(i) = v.iter().position(|(k, _)| k == "alertname") {
            let a = v.remove(i);
            v.insert(0, a);
        }
        v
    }
}

impl Object for Kv {
    fn field(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        Some(Ok(match name {
            "SortedPairs" => Value::Object(Arc::new(Pairs(self.sorted()))),
            "Names" => Value::list(self.sorted().into_iter().map(|(k, _)| k.into()).collect()),
            "Values" => Value::list(self.sorted().into_iter().map(|(_, v)| v.into()).collect()),
            "Remove" => {
                let drop: Vec<String> = match args.first().map(Value::resolved) {
                    Some(Value::List(l)) => l.iter().map(|v| v.to_string()).collect(),
                    _ => return Some(Err("Remove takes a list of names".into())),
                };
                let mut m = self.0.clone();
                m.retain(|k, _| !drop.contains(k));
                Kv::value(&m)
            }
            _ => return None,
        }))
    }

    fn base(&self) -> Option<Value> {
        Some(Value::string_map(self.0.clone()))
    }

    fn type_name(&self) -> &str {
        "template.KV"
    }
}

#[derive(Debug)]
struct Pairs(Vec<(String, String)>);

impl Object for Pairs {
    fn field(&self, name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        Some(Ok(match name {
            "Names" => Value::list(self.0.iter().map(|(k, _)| k.clone().into()).collect()),
            "Values" => Value::list(self.0.iter().map(|(_, v)| v.clone().into()).collect()),
            _ => return None,
        }))
    }

    fn base(&self) -> Option<Value> {
        Some(Value::list(
            self.0
                .iter()
                .map(|(k, v)| {
                    Value::map([
                        ("Name", Value::from(k.clone())),
                        ("Value", Value::from(v.clone())),
                    ])
                })
                .collect(),
        ))
    }
}

/// A list of alerts with `Firing` and `Resolved`.
#[derive(Debug)]
struct Alerts(Vec<(Value, bool)>);

impl Object for Alerts {
    fn field(&self, name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        let want_firing = match name {
            "Firing" => true,
            "Resolved" => false,
            _ => return None,
        };
        Some(Ok(Value::Object(Arc::new(Alerts(
            self.0
                .iter()
                .filter(|(_, f)| *f == want_firing)
                .cloned()
                .collect(),
        )))))
    }

    fn base(&self) -> Option<Value> {
        Some(Value::list(self.0.iter().map(|(v, _)| v.clone()).collect()))
    }
}

/// A point in time, printed as Go prints a UTC `time.Time`.
#[derive(Debug)]
struct Time(i64);

/// The field `toJson` asks an object for its JSON text.
const JSON_FIELD: &str = "\u{0}json";

impl Object for Time {
    fn field(&self, name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        Some(Ok(match name {
            "Unix" => Value::Int(self.0.div_euclid(1000)),
            "IsZero" => Value::Bool(self.0 == 0),
            JSON_FIELD => Value::from(go_time(self.0)),
            _ => return None,
        }))
    }

    fn display(&self) -> String {
        if self.0 == 0 {
            return "0001-01-01 00:00:00 +0000 UTC".into();
        }
        let s = go_time(self.0);
        format!("{} +0000 UTC", s.trim_end_matches('Z').replace('T', " "))
    }
}

fn alert_value(a: &Alert, now: i64) -> Value {
    let status = if a.is_resolved(now) {
        "resolved"
    } else {
        "firing"
    };
    Value::map([
        ("Status", Value::from(status)),
        ("Labels", Kv::value(&a.labels)),
        ("Annotations", Kv::value(&a.annotations)),
        ("StartsAt", Value::Object(Arc::new(Time(a.starts_at)))),
        ("EndsAt", Value::Object(Arc::new(Time(a.ends_at)))),
        ("GeneratorURL", Value::from(a.generator_url.clone())),
        (
            "Fingerprint",
            Value::from(format!("{:016x}", a.fingerprint())),
        ),
    ])
}

/// The data a notification template sees (upstream `template.Data`).
pub fn data(c: &Context, alerts: &[Alert]) -> Value {
    let firing = alerts.iter().any(|a| !a.is_resolved(c.now));
    Value::map([
        ("Receiver", Value::from(c.receiver)),
        (
            "Status",
            Value::from(if firing { "firing" } else { "resolved" }),
        ),
        (
            "Alerts",
            Value::Object(Arc::new(Alerts(
                alerts
                    .iter()
                    .map(|a| (alert_value(a, c.now), !a.is_resolved(c.now)))
                    .collect(),
            ))),
        ),
        ("GroupLabels", Kv::value(c.group_labels)),
        ("CommonLabels", Kv::value(&common(alerts, |a| &a.labels))),
        (
            "CommonAnnotations",
            Kv::value(&common(alerts, |a| &a.annotations)),
        ),
        ("RouteLabels", Kv::value(c.route_labels)),
        ("ExternalURL", Value::from(c.external_url)),
        ("NotificationReason", Value::from(c.reason.as_str())),
    ])
}

fn text(a: &[Value], i: usize) -> String {
    a.get(i).map(|v| v.to_string()).unwrap_or_default()
}

/// Upstream's `cases.Title(language.AmericanEnglish)`: each word's first
/// letter upper-cased, the rest lower-cased.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if c.is_alphanumeric() || c == '\'' {
            if start {
                out.extend(c.to_uppercase());
            } else {
                out.extend(c.to_lowercase());
            }
            start = false;
        } else {
            out.push(c);
            start = true;
        }
    }
    out
}

/// Alertmanager's template functions.
pub fn funcs() -> Funcs {
    let mut f = Funcs::new();
    f.insert("toUpper", |a| Ok(text(a, 0).to_uppercase().into()));
    f.insert("toLower", |a| Ok(text(a, 0).to_lowercase().into()));
    f.insert("title", |a| Ok(title(&text(a, 0)).into()));
    f.insert("trimSpace", |a| Ok(text(a, 0).trim().to_string().into()));
    f.insert("join", |a| {
        let sep = text(a, 0);
        match a.get(1).map(Value::resolved) {
            Some(Value::List(l)) => Ok(l
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(&sep)
                .into()),
            _ => Err("join takes a separator and a list".into()),
        }
    });
    f.insert("match", |a| {
        let re = regex::Regex::new(&text(a, 0)).map_err(|e| e.to_string())?;
        Ok(Value::Bool(re.is_match(&text(a, 1))))
    });
    f.insert("reReplaceAll", |a| {
        let re = regex::Regex::new(&text(a, 0)).map_err(|e| e.to_string())?;
        Ok(re
            .replace_all(&text(a, 2), text(a, 1).as_str())
            .into_owned()
            .into())
    });
    f.insert("safeHtml", |a| {
        Ok(Value::Object(Arc::new(template::SafeHtml(text(a, 0)))))
    });
    f.insert("safeUrl", |a| Ok(text(a, 0).into()));
    f.insert("stringSlice", |a| {
        Ok(Value::list(
            a.iter().map(|v| v.to_string().into()).collect(),
        ))
    });
    f.insert("humanizeDuration", |a| {
        let secs = a.first().map(Value::to_float).transpose()?.unwrap_or(0.0);
        Ok(template::format::humanize_duration(secs).into())
    });
    f.insert("toJson", |a| {
        Ok(to_json(a.first().unwrap_or(&Value::Nil)).to_string().into())
    });
    f.insert("routeLabels", |_| Ok(Value::from("")));
    f
}

/// Go's JSON names of an alert's fields (upstream `template.Alert`).
const ALERT_JSON: [(&str, &str); 7] = [
    ("Status", "status"),
    ("Labels", "labels"),
    ("Annotations", "annotations"),
    ("StartsAt", "startsAt"),
    ("EndsAt", "endsAt"),
    ("GeneratorURL", "generatorURL"),
    ("Fingerprint", "fingerprint"),
];

/// `toJson` as Go's encoder writes the value: alerts with their JSON
/// field names, times as RFC 3339.
fn to_json(v: &Value) -> serde_json::Value {
    if let Value::Object(o) = v {
        if let Some(Ok(j)) = o.field(JSON_FIELD, &[]) {
            return j.to_string().into();
        }
    }
    if let Value::Map(m) = v {
        let is_alert = m.entries.len() == ALERT_JSON.len()
            && ALERT_JSON.iter().all(|(k, _)| m.entries.contains_key(*k));
        if is_alert {
            return ALERT_JSON
                .iter()
                .map(|(k, j)| (j.to_string(), to_json(&m.entries[*k])))
                .collect::<serde_json::Map<_, _>>()
                .into();
        }
    }
    match v.resolved() {
        Value::Nil => serde_json::Value::Null,
        Value::Bool(b) => b.into(),
        Value::Int(i) => i.into(),
        Value::Float(f) => {
            serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, Into::into)
        }
        Value::String(s) => s.into(),
        Value::List(l) => l.iter().map(to_json).collect::<Vec<_>>().into(),
        Value::Map(m) => m
            .entries
            .iter()
            .map(|(k, v)| (k.clone(), to_json(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        Value::Object(o) => o.display().into(),
    }
}

/// A set of notification templates: the files of `templates:` and the
/// defaults they build on.
pub struct Templates {
    set: template::Template,
    funcs: Funcs,
}

impl Templates {
    /// Parses `sources` (name, text) in order into one set.
    pub fn new(sources: &[(String, String)]) -> Result<Self, String> {
        let funcs = funcs();
        let mut set = template::Template::new();
        for (name, text) in sources {
            set.parse(name, text, &funcs).map_err(|e| e.to_string())?;
        }
        Ok(Templates { set, funcs })
    }

    /// Renders `text` (which may call the set's templates) with `data`.
    pub fn render(&self, text: &str, data: &Value) -> Result<String, String> {
        self.run(text, data, false)
    }

    /// [`Templates::render`] for HTML: what actions print is escaped, as
    /// upstream renders email bodies and Telegram's HTML messages with
    /// `html/template` (`safeHtml` marks markup to keep).
    pub fn render_html(&self, text: &str, data: &Value) -> Result<String, String> {
        self.run(text, data, true)
    }

    fn run(&self, text: &str, data: &Value, html: bool) -> Result<String, String> {
        self.set
            .render_text(text, data, &self.funcs, html)
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Reason;

    fn alert(name: &str, instance: &str, ends: i64) -> Alert {
        Alert {
            labels: [
                ("alertname".to_string(), name.to_string()),
                ("instance".to_string(), instance.to_string()),
                ("job".to_string(), "api".to_string()),
            ]
            .into(),
            annotations: [("summary".to_string(), format!("{instance} down"))].into(),
            starts_at: 1_000,
            ends_at: ends,
            generator_url: "http://prom/graph".into(),
            updated_at: 1_000,
        }
    }

    #[test]
    fn alertmanagers_default_templates_render() {
        let Some(path) = model::ci::shared("conformance/alertmanager/templates") else {
            return;
        };
        let def = std::fs::read_to_string(path.join("default.tmpl")).unwrap();
        let email = std::fs::read_to_string(path.join("email.tmpl")).unwrap();
        let t =
            Templates::new(&[("default.tmpl".into(), def), ("email.tmpl".into(), email)]).unwrap();
        let gl = BTreeMap::from([("alertname".to_string(), "Down".to_string())]);
        let rl = BTreeMap::new();
        let c = Context {
            receiver: "ops",
            group_key: "{}:{alertname=\"Down\"}",
            group_labels: &gl,
            route_labels: &rl,
            reason: Reason::FirstNotification,
            external_url: "http://am.example",
            now: 5_000,
        };
        let d = data(&c, &[alert("Down", "a:1", 0), alert("Down", "b:1", 2_000)]);
        let subject = t.render("{{ template \"__subject\" . }}", &d).unwrap();
        assert_eq!(subject, "[FIRING:1] Down (api)");
        let list = t
            .render("{{ template \"__text_alert_list\" .Alerts.Firing }}", &d)
            .unwrap();
        assert!(
            list.contains(" - instance = a:1") && !list.contains("b:1"),
            "{list}"
        );
        let link = t
            .render("{{ template \"slack.default.titlelink\" . }}", &d)
            .unwrap();
        assert_eq!(link, "http://am.example/#/alerts?receiver=ops");
        let html = t
            .render("{{ template \"email.default.html\" . }}", &d)
            .unwrap();
        assert!(
            html.contains("a:1 down") && html.contains("<html"),
            "{}",
            &html[..200.min(html.len())]
        );
        // Rendered as HTML, what the alerts say is escaped.
        let mut odd = alert("Down", "<a&b>", 0);
        odd.annotations
            .insert("summary".into(), "x < y & \"z\"".into());
        let escaped = t
            .render_html("{{ template \"email.default.html\" . }}", &data(&c, &[odd]))
            .unwrap();
        assert!(
            escaped.contains("x &lt; y &amp; &#34;z&#34;") && !escaped.contains("x < y"),
            "{escaped}"
        );
        let email_subject = t
            .render("{{ template \"email.default.subject\" . }}", &d)
            .unwrap();
        assert_eq!(email_subject, subject);
    }

    #[test]
    fn to_json_writes_alerts_as_go_does() {
        let t = Templates::new(&[]).unwrap();
        let gl = BTreeMap::new();
        let rl = BTreeMap::new();
        let c = Context {
            receiver: "ops",
            group_key: "{}:{}",
            group_labels: &gl,
            route_labels: &rl,
            reason: Reason::FirstNotification,
            external_url: "http://am",
            now: 5_000,
        };
        let d = data(&c, &[alert("Down", "a:1", 0), alert("Down", "b:1", 2_000)]);
        let out = t.render("{{ .Alerts.Firing | toJson }}", &d).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 1, "{out}");
        assert_eq!(v[0]["status"], "firing");
        assert_eq!(v[0]["labels"]["instance"], "a:1");
        assert_eq!(v[0]["startsAt"], "1970-01-01T00:00:01Z");
        assert_eq!(v[0]["endsAt"], "0001-01-01T00:00:00Z");
        assert_eq!(v[0]["generatorURL"], "http://prom/graph");
        assert_eq!(v[0]["fingerprint"].as_str().unwrap().len(), 16);
    }

    #[test]
    fn functions() {
        let t = Templates::new(&[]).unwrap();
        let d = Value::Nil;
        for (text, want) in [
            ("{{ title \"hello WORLD\" }}", "Hello World"),
            ("{{ stringSlice \"a\" \"b\" | join \",\" }}", "a,b"),
            ("{{ \"  x \" | trimSpace }}", "x"),
            ("{{ humanizeDuration 3661 }}", "1h 1m 1s"),
            ("{{ reReplaceAll \"a(.)\" \"<$1>\" \"abac\" }}", "<b><c>"),
        ] {
            assert_eq!(t.render(text, &d).unwrap(), want, "{text}");
        }
    }
}
