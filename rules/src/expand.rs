//! Expansion of alert labels and annotations: the data and functions
//! Prometheus gives a rule template (upstream `template/template.go` and
//! `rules/alerting.go`).
//!
//! Every text is parsed with Prometheus's preamble in front, so `$labels`,
//! `$externalLabels`, `$externalURL` and `$value` are defined; a template
//! that fails renders as `<error expanding template: …>`, as upstream.

use std::sync::Arc;

use model::Labels;
use template::format::{float, go_duration, humanize_duration};
use template::{query_escape, Funcs, Value};

/// The variables Prometheus defines in front of every rule template.
pub const PREAMBLE: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// Runs a PromQL query for the `query` template function at the alert's
/// evaluation time: a vector's samples, or a scalar as one sample with no
/// labels.
pub type QueryFn = Arc<dyn Fn(&str) -> Result<Vec<(Labels, f64)>, String> + Send + Sync>;

/// What a rule's templates can see besides the alert itself.
#[derive(Clone, Default)]
pub struct Context {
    pub external_labels: Labels,
    pub external_url: String,
    pub query: Option<QueryFn>,
    /// The evaluation time (Unix ms), for `now`.
    pub time_ms: i64,
    /// [`Context::funcs`], made at the first expansion and shared by the
    /// rest of the evaluation.
    pub funcs_cache: std::sync::OnceLock<Arc<Funcs>>,
}

impl Context {
    /// The functions Prometheus provides to rule templates.
    pub fn funcs(&self) -> Funcs {
        let mut f = Funcs::new();
        add_funcs(&mut f, &self.external_url);
        let now = self.time_ms as f64 / 1000.0;
        f.insert("now", move |_| Ok(Value::Float(now)));
        let query = self.query.clone();
        f.insert("query", move |a| {
            let q = string_arg(a, 0, "query")?;
            let Some(query) = &query else {
                return Err("query is not available here".into());
            };
            let rows = query(&q)?;
            Ok(Value::list(
                rows.iter().map(|(l, v)| sample(l, *v)).collect(),
            ))
        });
        f
    }

    /// Expands `text` for an alert with `labels` and `value`. `name` names
    /// the template in errors (`__alert_<name>`).
    pub fn expand(&self, name: &str, text: &str, labels: &Labels, value: f64) -> String {
        if !text.contains("{{") {
            return text.to_string();
        }
        let data = Value::map([
            ("Labels", labels_value(labels)),
            ("ExternalLabels", labels_value(&self.external_labels)),
            ("ExternalURL", Value::String(self.external_url.clone())),
            ("Value", Value::Float(value)),
        ]);
        let name = format!("__alert_{name}");
        let src = format!("{PREAMBLE}{text}");
        let funcs = self.funcs_cache.get_or_init(|| Arc::new(self.funcs()));
        match template::render(&name, &src, &data, funcs) {
            Ok(s) => s,
            Err(e) => format!("<error expanding template: {}>", upstream_error(&name, e)),
        }
    }
}

/// Prometheus wraps the template package's error in a sentence.
fn upstream_error(name: &str, e: template::Error) -> String {
    match e {
        template::Error::Parse(m) => format!("error parsing template {name}: {m}"),
        template::Error::Exec(m) => format!("error executing template {name}: {m}"),
    }
}

/// Checks that `text` parses as a rule template (what `promtool check
/// rules` does for every label and annotation).
pub fn check(name: &str, text: &str) -> Result<(), String> {
    let ctx = Context::default();
    let mut t = template::Template::new();
    t.parse(
        &format!("__alert_{name}"),
        &format!("{PREAMBLE}{text}"),
        &ctx.funcs(),
    )
    .map_err(|e| e.to_string())
}

fn labels_value(l: &Labels) -> Value {
    Value::string_map(l.iter().map(|(k, v)| (k.to_string(), v.to_string())))
}

/// One element of a `query` result: `.Labels` and `.Value`.
fn sample(l: &Labels, v: f64) -> Value {
    Value::map([("Labels", labels_value(l)), ("Value", Value::Float(v))])
}

fn string_arg(a: &[Value], i: usize, f: &str) -> Result<String, String> {
    match a.get(i).map(Value::resolved) {
        Some(Value::String(s)) => Ok(s),
        Some(v) => Err(format!(
            "wrong type for value; expected string; got {}",
            v.type_name()
        )),
        None => Err(format!("wrong number of args for {f}")),
    }
}

fn one_arg<'a>(a: &'a [Value], f: &str) -> Result<&'a Value, String> {
    match a {
        [v] => Ok(v),
        _ => Err(format!(
            "wrong number of args for {f}: want 1 got {}",
            a.len()
        )),
    }
}

fn field(v: &Value, name: &str) -> Value {
    match v.resolved() {
        Value::Map(m) => m.lookup(name),
        _ => Value::Nil,
    }
}

fn add_funcs(f: &mut Funcs, external_url: &str) {
    f.insert("first", |a| {
        let v = one_arg(a, "first")?;
        match v.resolved() {
            Value::List(l) => l
                .first()
                .cloned()
                .ok_or_else(|| "first() called on vector with no elements".to_string()),
            v => Err(format!(
                "wrong type for value; expected template.queryResult; got {}",
                v.type_name()
            )),
        }
    });
    f.insert("label", |a| {
        let name = string_arg(a, 0, "label")?;
        let s = a
            .get(1)
            .ok_or("wrong number of args for label: want 2 got 1")?;
        Ok(match field(s, "Labels").resolved() {
            Value::Map(m) => m.lookup(&name),
            _ => Value::String(String::new()),
        })
    });
    f.insert("value", |a| Ok(field(one_arg(a, "value")?, "Value")));
    f.insert("strvalue", |a| {
        Ok(match field(one_arg(a, "strvalue")?, "Labels").resolved() {
            Value::Map(m) => m.lookup("__value__"),
            _ => Value::String(String::new()),
        })
    });
    f.insert("sortByLabel", |a| {
        let name = string_arg(a, 0, "sortByLabel")?;
        let Some(Value::List(l)) = a.get(1).map(Value::resolved) else {
            return Err("wrong type for value; expected template.queryResult".into());
        };
        let key = |s: &Value| match field(s, "Labels").resolved() {
            Value::Map(m) => m.lookup(&name).to_string(),
            _ => String::new(),
        };
        let mut v: Vec<Value> = l.as_ref().clone();
        v.sort_by_cached_key(key);
        Ok(Value::list(v))
    });
    f.insert("humanize", |a| {
        Ok(Value::String(humanize(one_arg(a, "humanize")?.to_float()?)))
    });
    f.insert("humanize1024", |a| {
        Ok(Value::String(humanize1024(
            one_arg(a, "humanize1024")?.to_float()?,
        )))
    });
    f.insert("humanizeDuration", |a| {
        Ok(Value::String(humanize_duration(
            one_arg(a, "humanizeDuration")?.to_float()?,
        )))
    });
    f.insert("humanizePercentage", |a| {
        let v = one_arg(a, "humanizePercentage")?.to_float()?;
        Ok(Value::String(format!(
            "{}%",
            float(v * 100.0, 'g', Some(4), false)
        )))
    });
    f.insert("humanizeTimestamp", |a| {
        Ok(Value::String(humanize_timestamp(
            one_arg(a, "humanizeTimestamp")?.to_float()?,
        )?))
    });
    f.insert("toUpper", |a| {
        Ok(Value::String(string_arg(a, 0, "toUpper")?.to_uppercase()))
    });
    f.insert("toLower", |a| {
        Ok(Value::String(string_arg(a, 0, "toLower")?.to_lowercase()))
    });
    f.insert("title", |a| {
        Ok(Value::String(title(&string_arg(a, 0, "title")?)))
    });
    f.insert("match", |a| {
        let re = regex(&string_arg(a, 0, "match")?)?;
        Ok(Value::Bool(re.is_match(&string_arg(a, 1, "match")?)))
    });
    f.insert("reReplaceAll", |a| {
        let re = regex(&string_arg(a, 0, "reReplaceAll")?)?;
        let repl = string_arg(a, 1, "reReplaceAll")?;
        let text = string_arg(a, 2, "reReplaceAll")?;
        Ok(Value::String(
            re.replace_all(&text, repl.as_str()).into_owned(),
        ))
    });
    f.insert("args", |a| {
        Ok(Value::map(
            a.iter()
                .enumerate()
                .map(|(i, v)| (format!("arg{i}"), v.clone())),
        ))
    });
    f.insert("safeHtml", |a| {
        Ok(Value::String(string_arg(a, 0, "safeHtml")?))
    });
    f.insert("stripPort", |a| {
        let hp = string_arg(a, 0, "stripPort")?;
        Ok(Value::String(
            split_host_port(&hp).map_or(hp.clone(), |(h, _)| h),
        ))
    });
    f.insert("stripDomain", |a| {
        Ok(Value::String(strip_domain(&string_arg(
            a,
            0,
            "stripDomain",
        )?)))
    });
    let path = url_path(external_url);
    f.insert("pathPrefix", move |_| Ok(Value::String(path.clone())));
    let url = external_url.to_string();
    f.insert("externalURL", move |_| Ok(Value::String(url.clone())));
    f.insert("urlQueryEscape", |a| {
        Ok(Value::String(query_escape(&string_arg(
            a,
            0,
            "urlQueryEscape",
        )?)))
    });
    f.insert("toTime", |a| {
        let v = one_arg(a, "toTime")?.to_float()?;
        if v.is_nan() || v.is_infinite() {
            return Err(format!("{v} cannot be converted to a timestamp"));
        }
        Ok(Value::String(humanize_timestamp(v)?))
    });
    f.insert("toDuration", |a| {
        let v = one_arg(a, "toDuration")?.to_float()?;
        if v.is_nan() || v.is_infinite() || (v * 1e9).abs() >= 9.2e18 {
            return Err(format!("{v} cannot be represented as a duration"));
        }
        Ok(Value::String(go_duration((v * 1e9).round() as i64)))
    });
    f.insert("tableLink", |a| {
        Ok(Value::String(format!(
            "/graph?g0.expr={}&g0.tab=1",
            query_escape(&string_arg(a, 0, "tableLink")?)
        )))
    });
    f.insert("graphLink", |a| {
        Ok(Value::String(format!(
            "/graph?g0.expr={}&g0.tab=0",
            query_escape(&string_arg(a, 0, "graphLink")?)
        )))
    });
    f.insert("parseDuration", |a| {
        let s = string_arg(a, 0, "parseDuration")?;
        // Upstream allows a sign here.
        let (neg, body) = match s.strip_prefix('-') {
            Some(b) => (true, b),
            None => (false, s.as_str()),
        };
        let d = model::time::parse_duration(body).map_err(|e| e.to_string())?;
        let secs = d.as_secs_f64();
        Ok(Value::Float(if neg { -secs } else { secs }))
    });
}

fn regex(pattern: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(pattern).map_err(|e| format!("error parsing regexp: {e}"))
}

fn g4(v: f64) -> String {
    float(v, 'g', Some(4), false)
}

/// Upstream `humanize`: SI prefixes, four significant digits.
pub fn humanize(mut v: f64) -> String {
    if v == 0.0 || v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", g4(v))
}

/// Upstream `humanize1024`: binary prefixes above 1.
pub fn humanize1024(mut v: f64) -> String {
    if v.abs() <= 1.0 || v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", g4(v))
}

/// Upstream `humanizeTimestamp`: Unix seconds as Go prints a UTC
/// `time.Time` (`2006-01-02 15:04:05.999999999 +0000 UTC`).
pub fn humanize_timestamp(v: f64) -> Result<String, String> {
    if v.is_nan() || v.is_infinite() {
        return Ok(g4(v));
    }
    // Upstream goes through a millisecond `model.Time`, truncating.
    let ns = v * 1e9;
    if ns >= 9.2e18 || ns <= -9.2e18 {
        return Err(format!(
            "{v} cannot be represented as a nanoseconds timestamp since it overflows int64"
        ));
    }
    let ms = ns as i64 / 1_000_000;
    let nanos = (ms.rem_euclid(1000) * 1_000_000) as u32;
    let t = chrono::DateTime::from_timestamp(ms.div_euclid(1000), nanos)
        .ok_or_else(|| format!("{v} is out of range for a timestamp"))?;
    let mut s = t.format("%Y-%m-%d %H:%M:%S").to_string();
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push_str(" +0000 UTC");
    Ok(s)
}

/// Upstream's `title` (`cases.Title(language.AmericanEnglish,
/// cases.NoLower)`): the first cased letter of each word is upper-cased,
/// the rest left alone. Words run over letters, digits and `_`, and across
/// a single `.`, `'` or `:` between them (`host.example.com` is one word,
/// `don't` is one word).
fn title(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let is_mid = |c: char| matches!(c, '.' | '\'' | ':' | '\u{2019}' | '\u{00b7}');
    let mut out = String::with_capacity(s.len());
    let mut cased_in_word = false;
    for (i, &c) in chars.iter().enumerate() {
        let inside = is_word(c)
            || (is_mid(c)
                && i > 0
                && is_word(chars[i - 1])
                && chars.get(i + 1).is_some_and(|&n| is_word(n)));
        if !inside {
            cased_in_word = false;
            out.push(c);
            continue;
        }
        if !cased_in_word && c.is_alphabetic() {
            out.extend(c.to_uppercase());
            cased_in_word = true;
        } else {
            out.push(c);
        }
    }
    out
}

/// Go's `net.SplitHostPort`: `None` where Go returns an error.
fn split_host_port(hp: &str) -> Option<(String, String)> {
    if let Some(rest) = hp.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':')?;
        return Some((host.to_string(), port.to_string()));
    }
    let (host, port) = hp.rsplit_once(':')?;
    if host.contains(':') {
        return None;
    }
    Some((host.to_string(), port.to_string()))
}

fn strip_domain(hp: &str) -> String {
    let (host, port) = split_host_port(hp).unwrap_or((hp.to_string(), String::new()));
    if host.parse::<std::net::IpAddr>().is_ok() {
        return hp.to_string();
    }
    let host = host.split('.').next().unwrap_or("").to_string();
    if port.is_empty() {
        host
    } else if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The path of a URL (`http://h/prefix` gives `/prefix`).
fn url_path(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    match rest.find('/') {
        Some(i) => rest[i..].split(['?', '#']).next().unwrap_or("").to_string(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humanizers_as_upstream() {
        // Cases from upstream template_test.go.
        let h: &[(f64, &str)] = &[
            (0.0, "0"),
            (1.5, "1.5"),
            (1234.0, "1.234k"),
            (1234567.0, "1.235M"),
            (0.0012, "1.2m"),
            (0.000_001_2, "1.2u"),
            (-1234.0, "-1.234k"),
            (1e30, "1e+06Y"),
        ];
        for (v, want) in h {
            assert_eq!(humanize(*v), *want, "humanize({v})");
        }
        assert_eq!(humanize1024(1024.0 * 1024.0 * 3.0), "3Mi");
        assert_eq!(humanize1024(0.5), "0.5");
        let d: &[(f64, &str)] = &[
            (0.0, "0s"),
            (0.1, "100ms"),
            (0.0001, "100us"),
            (1.0, "1s"),
            (61.0, "1m 1s"),
            (3661.0, "1h 1m 1s"),
            (90061.0, "1d 1h 1m 1s"),
            (-3661.0, "-1h 1m 1s"),
            (59.5, "59.5s"),
        ];
        for (v, want) in d {
            assert_eq!(humanize_duration(*v), *want, "humanizeDuration({v})");
        }
        assert_eq!(
            humanize_timestamp(1435065584.128).unwrap(),
            "2015-06-23 13:19:44.128 +0000 UTC"
        );
        assert_eq!(
            humanize_timestamp(0.0).unwrap(),
            "1970-01-01 00:00:00 +0000 UTC"
        );
        for (ns, want) in [
            (0, "0s"),
            (1_500_000_000, "1.5s"),
            (3_723_000_000_000, "1h2m3s"),
            (150_000_000, "150ms"),
            (-61_000_000_000, "-1m1s"),
        ] {
            assert_eq!(go_duration(ns), want);
        }
        for (s, want) in [
            ("host.example.com", "Host.example.com"),
            ("don't stop", "Don't Stop"),
            ("1st place", "1St Place"),
            ("_foo bar-baz", "_Foo Bar-Baz"),
            ("hello world", "Hello World"),
        ] {
            assert_eq!(title(s), want, "{s}");
        }
    }

    #[test]
    fn alert_templates() {
        let ctx = Context {
            funcs_cache: Default::default(),
            time_ms: 90_000,
            external_labels: Labels::from_pairs([("dc", "eu")]),
            external_url: "http://prom.example/pfx".into(),
            query: Some(Arc::new(|q: &str| {
                assert_eq!(q, "up");
                Ok(vec![
                    (Labels::from_pairs([("instance", "b")]), 2.0),
                    (Labels::from_pairs([("instance", "a")]), 1.0),
                ])
            })),
        };
        let labels = Labels::from_pairs([("instance", "host.dom:9100"), ("job", "node")]);
        let cases: &[(&str, &str)] = &[
            ("{{ $labels.instance }} of {{ $labels.job }}", "host.dom:9100 of node"),
            ("{{ $value }} {{ .Value | humanizePercentage }}", "0.25 25%"),
            ("{{ $externalLabels.dc }} {{ $externalURL }} {{ pathPrefix }}", "eu http://prom.example/pfx /pfx"),
            ("{{ $labels.instance | stripPort }} {{ $labels.instance | stripDomain }}", "host.dom host:9100"),
            ("{{ with query \"up\" }}{{ . | first | label \"instance\" }}{{ end }}", "b"),
            ("{{ range query \"up\" | sortByLabel \"instance\" }}{{ .Labels.instance }}={{ .Value }} {{ end }}", "a=1 b=2 "),
            ("{{ reReplaceAll \"(.*):.*\" \"$1\" $labels.instance }}", "host.dom"),
            ("{{ if match \"^host\" $labels.instance }}yes{{ end }}", "yes"),
            ("{{ \"hello world\" | title }} {{ toUpper \"a\" }}", "Hello World A"),
            ("{{ tableLink \"up == 0\" }}", "/graph?g0.expr=up+%3D%3D+0&g0.tab=1"),
            ("{{ $a := args 1 \"x\" }}{{ $a.arg1 }}", "x"),
            ("{{ printf \"%.1f\" $value }}", "0.2"),
            ("{{ now }} {{ externalURL }} {{ urlQueryEscape \"a b\" }}", "90 http://prom.example/pfx a+b"),
            ("{{ toDuration 90 }} {{ toTime 0 }}", "1m30s 1970-01-01 00:00:00 +0000 UTC"),
            ("{{ parseDuration \"-5m\" }}", "-300"),
        ];
        for (text, want) in cases {
            assert_eq!(ctx.expand("A", text, &labels, 0.25), *want, "{text}");
        }
        let bad = ctx.expand("A", "{{ first (args) }}", &labels, 0.0);
        assert!(bad.starts_with("<error expanding template: "), "{bad}");
    }

    #[test]
    fn check_finds_undefined_variables() {
        assert!(check("A", "{{ $labels.instance }}").is_ok());
        let e = check("A", "Instance {{ $label.foo }} down").unwrap_err();
        assert!(e.contains("undefined variable \"$label\""), "{e}");
    }
}
