//! Go's `text/template` for Watchfire.
//!
//! Prometheus renders alert labels and annotations, and Alertmanager its
//! notifications, with Go templates; users bring those templates unchanged,
//! so this crate follows Go's syntax and semantics: actions, pipelines,
//! variables, `if`/`else`/`range`/`with`/`define`/`template`/`block`,
//! `break`/`continue`, trim markers, the predefined functions, and `fmt`'s
//! formatting of numbers. Execution uses Go's `missingkey=zero` option, as
//! both Prometheus and Alertmanager do.
//!
//! - [`Template`] is a set of named templates: [`Template::parse`] adds one
//!   source (its body and whatever it `define`s), [`Template::execute`]
//!   renders one by name.
//! - [`Value`] is the data: Go's basic kinds, lists, maps, and host
//!   [`Object`]s with fields and methods.
//! - [`Funcs`] holds the caller's functions (Prometheus's `humanize`,
//!   `query`, …); names are checked at parse time, as Go does.
//!
//! ```
//! use template::{Funcs, Template, Value};
//! let mut t = Template::new();
//! let funcs = Funcs::new();
//! t.parse("a", "{{ range $k, $v := . }}{{ $k }}={{ $v }} {{ end }}", &funcs).unwrap();
//! let data = Value::string_map([("job", "api"), ("instance", "h:9")]);
//! assert_eq!(t.execute("a", &data, &funcs).unwrap(), "instance=h:9 job=api ");
//! ```

mod builtin;
mod exec;
pub mod format;
mod lex;
mod parse;
mod value;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

pub use builtin::{html_escape, js_escape, query_escape};
pub use value::{parse_go_float, Map, Object, SafeHtml, Value};

/// A template error, worded as Go words it (`template: NAME:LINE: …`).
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    Parse(String),
    Exec(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Parse(m) | Error::Exec(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

/// A function callable from templates.
pub type Func = Arc<dyn Fn(&[Value]) -> Result<Value, String> + Send + Sync>;

/// The caller's template functions, looked up before Go's predefined ones.
#[derive(Clone, Default)]
pub struct Funcs {
    map: HashMap<String, Func>,
}

impl Funcs {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces the function `name`.
    pub fn insert(
        &mut self,
        name: &str,
        f: impl Fn(&[Value]) -> Result<Value, String> + Send + Sync + 'static,
    ) {
        self.map.insert(name.to_string(), Arc::new(f));
    }

    pub fn get(&self, name: &str) -> Option<&Func> {
        self.map.get(name)
    }

    /// Whether a template may call `name` (the caller's or a predefined
    /// function).
    pub fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name) || builtin::NAMES.contains(&name)
    }
}

/// A set of named templates, as Go's `*template.Template` and its
/// associated templates.
#[derive(Clone, Default)]
pub struct Template {
    defined: HashMap<String, Arc<parse::List>>,
}

impl Template {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses `text` as the template `name`, adding the templates it
    /// defines. As in Go, a body that is only whitespace and definitions
    /// does not replace an existing template of the same name.
    pub fn parse(&mut self, name: &str, text: &str, funcs: &Funcs) -> Result<(), Error> {
        let parsed = parse::parse(name, text, &|f| funcs.contains(f))?;
        for (n, body) in parsed.defined {
            self.defined.insert(n, Arc::new(body));
        }
        let empty = parsed
            .main
            .iter()
            .all(|n| matches!(n, parse::Node::Text(t) if t.trim().is_empty()));
        if !empty || !self.defined.contains_key(name) {
            self.defined.insert(name.to_string(), Arc::new(parsed.main));
        }
        Ok(())
    }

    /// Whether the set holds a template called `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.defined.contains_key(name)
    }

    /// Renders the template `name` with `data` as the dot and `$`.
    pub fn execute(&self, name: &str, data: &Value, funcs: &Funcs) -> Result<String, Error> {
        self.run(name, data, funcs, false)
    }

    /// [`Template::execute`] for an HTML document: what each action
    /// prints is HTML-escaped, unless it is [`SafeHtml`], as Go's
    /// `html/template` escapes in HTML text. (Upstream also escapes by
    /// context inside attributes, scripts and URLs; this escapes the same
    /// way everywhere.)
    pub fn execute_html(&self, name: &str, data: &Value, funcs: &Funcs) -> Result<String, Error> {
        self.run(name, data, funcs, true)
    }

    /// Parses `text` as a one-off template that may call the set's
    /// templates, and renders it (escaping for HTML with `html`). The set
    /// is not copied unless `text` defines templates of its own.
    pub fn render_text(
        &self,
        text: &str,
        data: &Value,
        funcs: &Funcs,
        html: bool,
    ) -> Result<String, Error> {
        const NAME: &str = "__inline";
        let parsed = parse::parse(NAME, text, &|f| funcs.contains(f))?;
        if !parsed.defined.is_empty() {
            let mut set = self.clone();
            set.parse(NAME, text, funcs)?;
            return set.run(NAME, data, funcs, html);
        }
        self.run_body(NAME, &parsed.main, data, funcs, html)
    }

    fn run(&self, name: &str, data: &Value, funcs: &Funcs, html: bool) -> Result<String, Error> {
        let Some(body) = self.defined.get(name) else {
            return Err(Error::Exec(format!(
                "template: no template {name:?} associated with template {name:?}"
            )));
        };
        self.run_body(name, body, data, funcs, html)
    }

    fn run_body(
        &self,
        name: &str,
        body: &parse::List,
        data: &Value,
        funcs: &Funcs,
        html: bool,
    ) -> Result<String, Error> {
        let mut st = exec::State {
            set: self,
            funcs,
            name: name.to_string(),
            vars: vec![("$".into(), data.clone())],
            out: String::new(),
            depth: 0,
            line: 1,
            html,
        };
        st.run(body, data)?;
        Ok(st.out)
    }
}

/// Parses and renders `text` in one step, as a one-off template.
pub fn render(name: &str, text: &str, data: &Value, funcs: &Funcs) -> Result<String, Error> {
    let mut t = Template::new();
    t.parse(name, text, funcs)?;
    t.execute(name, data, funcs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_what_actions_print() {
        let mut f = Funcs::new();
        f.insert("safe", |a| {
            Ok(Value::Object(std::sync::Arc::new(SafeHtml(
                a[0].to_string(),
            ))))
        });
        let mut t = Template::new();
        t.parse(
            "t",
            "{{ define \"x\" }}<i>{{ . }}</i>{{ end }}<b>{{ . }}</b>{{ template \"x\" . }}{{ safe \"<br>\" }}{{ \"<p>\" | html }}",
            &f,
        )
        .unwrap();
        let d = Value::from("a<b & \"c\"");
        assert_eq!(
            t.execute_html("t", &d, &f).unwrap(),
            "<b>a&lt;b &amp; &#34;c&#34;</b><i>a&lt;b &amp; &#34;c&#34;</i><br>&lt;p&gt;"
        );
        assert_eq!(
            t.execute("t", &d, &f).unwrap(),
            "<b>a<b & \"c\"</b><i>a<b & \"c\"</i><br>&lt;p&gt;"
        );
    }

    fn data() -> Value {
        Value::map([
            (
                "Labels",
                Value::string_map([("instance", "h:9"), ("job", "api")]),
            ),
            ("Value", Value::Float(0.25)),
            ("N", Value::Int(3)),
            (
                "List",
                Value::list(vec!["a".into(), "b".into(), "c".into()]),
            ),
            ("Empty", Value::list(vec![])),
        ])
    }

    fn run(text: &str) -> Result<String, Error> {
        let mut funcs = Funcs::new();
        funcs.insert("double", |a| Ok(Value::Float(a[0].to_float()? * 2.0)));
        render("t", text, &data(), &funcs)
    }

    #[test]
    fn renders_as_go_does() {
        let cases: &[(&str, &str)] = &[
            ("plain", "plain"),
            ("{{ .Labels.job }}", "api"),
            ("{{ .Labels.missing }}|", "|"),
            ("{{ .Missing }}", "<no value>"),
            ("{{ .Value }}", "0.25"),
            ("{{$labels := .Labels}}{{ $labels.instance }}", "h:9"),
            ("{{ if gt .Value 0.1 }}big{{ else }}small{{ end }}", "big"),
            (
                "{{ if eq .N 1 }}one{{ else if eq .N 3 }}three{{ end }}",
                "three",
            ),
            ("{{ range .List }}[{{ . }}]{{ end }}", "[a][b][c]"),
            (
                "{{ range $i, $e := .List }}{{ $i }}{{ $e }}{{ end }}",
                "0a1b2c",
            ),
            ("{{ range .Empty }}x{{ else }}none{{ end }}", "none"),
            (
                "{{ range .List }}{{ if eq . \"b\" }}{{ break }}{{ end }}{{ . }}{{ end }}",
                "a",
            ),
            (
                "{{ range .List }}{{ if eq . \"b\" }}{{ continue }}{{ end }}{{ . }}{{ end }}",
                "ac",
            ),
            ("{{ with .Labels.job }}job={{ . }}{{ end }}", "job=api"),
            ("{{ with .Labels.nope }}x{{ else }}empty{{ end }}", "empty"),
            ("{{ .Value | double }}", "0.5"),
            ("{{ double .Value | printf \"%.3f\" }}", "0.500"),
            ("{{ printf \"%s:%d\" .Labels.job .N }}", "api:3"),
            (
                "{{ len .List }} {{ index .List 1 }} {{ index .Labels \"job\" }}",
                "3 b api",
            ),
            ("{{ slice \"abcdef\" 1 3 }}", "bc"),
            ("{{ and 1 0 }} {{ or 0 \"x\" }} {{ not true }}", "0 x false"),
            ("{{ print 1 2 \"a\" 3 }}", "1 2a3"),
            (
                "{{ html \"<a&b>\" }} {{ urlquery \"a b&c\" }}",
                "&lt;a&amp;b&gt; a+b%26c",
            ),
            ("a  {{- \" b \" -}}  c", "a b c"),
            ("{{/* comment */}}x", "x"),
            (
                "{{ define \"x\" }}<{{ . }}>{{ end }}{{ template \"x\" .N }}",
                "<3>",
            ),
            ("{{ block \"b\" .N }}[{{ . }}]{{ end }}", "[3]"),
            (
                "{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}",
                "2",
            ),
            (
                "{{ range $k, $v := .Labels }}{{ $k }}={{ $v }};{{ end }}",
                "instance=h:9;job=api;",
            ),
            ("{{ range 3 }}{{ . }}{{ end }}", "012"),
            ("{{ (index .List 0) }}{{ (.Labels).job }}", "aapi"),
            (
                "{{ .List }} {{ .Labels }}",
                "[a b c] map[instance:h:9 job:api]",
            ),
            (
                "{{ 1e6 }} {{ 0x10 }} {{ 'a' }} {{ -2.5 }}",
                "1e+06 16 97 -2.5",
            ),
            ("{{ eq \"a\" \"b\" \"a\" }}", "true"),
        ];
        for (text, want) in cases {
            match run(text) {
                Ok(got) => assert_eq!(&got, want, "template {text:?}"),
                Err(e) => panic!("template {text:?}: {e}"),
            }
        }
    }

    #[test]
    fn parse_errors() {
        let cases: &[(&str, &str)] = &[
            ("{{ $label.foo }}", "undefined variable \"$label\""),
            ("{{ nosuch 1 }}", "function \"nosuch\" not defined"),
            ("{{ if true }}x", "unexpected EOF"),
            ("{{ end }}", "unexpected {{end}}"),
            ("{{ .X", "unclosed action"),
            ("{{ break }}", "outside {{range}}"),
            (
                "{{ if true }}{{ $x := 1 }}{{ end }}{{ $x }}",
                "undefined variable \"$x\"",
            ),
        ];
        for (text, want) in cases {
            match run(text) {
                Err(Error::Parse(m)) => {
                    assert!(m.contains(want), "{text:?}: got {m:?}, want {want:?}")
                }
                other => panic!("{text:?}: got {other:?}, want a parse error"),
            }
        }
    }

    #[test]
    fn exec_errors() {
        let cases: &[(&str, &str)] = &[
            ("{{ gt .Value 1 }}", "incompatible types for comparison"),
            ("{{ index .List 5 }}", "index out of range: 5"),
            ("{{ .Value.X }}", "can't evaluate field X in type float64"),
            ("{{ .Missing.X }}", "nil pointer evaluating"),
            ("{{ template \"none\" }}", "no such template \"none\""),
            (
                "{{ define \"r\" }}{{ template \"r\" }}{{ end }}{{ template \"r\" }}",
                "maximum template depth",
            ),
        ];
        for (text, want) in cases {
            match run(text) {
                Err(Error::Exec(m)) => {
                    assert!(m.contains(want), "{text:?}: got {m:?}, want {want:?}")
                }
                other => panic!("{text:?}: got {other:?}, want an exec error"),
            }
        }
    }

    #[derive(Debug)]
    struct Alerts(Vec<Value>);

    impl Object for Alerts {
        fn field(&self, name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
            match name {
                "Firing" => Some(Ok(Value::list(self.0[..1].to_vec()))),
                _ => None,
            }
        }
        fn base(&self) -> Option<Value> {
            Some(Value::list(self.0.clone()))
        }
    }

    #[test]
    fn objects_have_methods_and_a_base() {
        let d = Value::map([(
            "Alerts",
            Value::Object(Arc::new(Alerts(vec!["x".into(), "y".into()]))),
        )]);
        let funcs = Funcs::new();
        let got = render(
            "t",
            "{{ len .Alerts }} {{ range .Alerts.Firing }}{{ . }}{{ end }} {{ .Alerts }}",
            &d,
            &funcs,
        )
        .unwrap();
        assert_eq!(got, "2 x [x y]");
    }

    #[test]
    fn definitions_join_the_set() {
        let funcs = Funcs::new();
        let mut t = Template::new();
        t.parse("lib", "{{ define \"greet\" }}hi {{ . }}{{ end }}", &funcs)
            .unwrap();
        t.parse("main", "{{ template \"greet\" \"bob\" }}", &funcs)
            .unwrap();
        assert_eq!(t.execute("main", &Value::Nil, &funcs).unwrap(), "hi bob");
        // A source that only defines does not blank an existing template.
        t.parse("main", "{{ define \"other\" }}{{ end }}", &funcs)
            .unwrap();
        assert_eq!(t.execute("main", &Value::Nil, &funcs).unwrap(), "hi bob");
    }
}
