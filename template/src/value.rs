//! The values a template works on: Go's basic kinds, lists, maps and
//! host objects with fields and methods.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::format::float_v;

/// A template value. Numbers keep Go's int/float distinction, since Go's
/// comparison functions refuse to compare the two.
#[derive(Clone, Debug)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    List(Arc<Vec<Value>>),
    Map(Arc<Map>),
    Object(Arc<dyn Object>),
}

/// A map with string keys, ranged in key order as Go does.
#[derive(Debug, Default)]
pub struct Map {
    pub entries: BTreeMap<String, Value>,
    /// What a missing key yields (`missingkey=zero`): `""` for a map of
    /// strings such as labels, nil otherwise.
    pub zero: Option<Box<Value>>,
}

impl Map {
    /// The value under `key`, or the map's zero value.
    pub fn lookup(&self, key: &str) -> Value {
        match self.entries.get(key) {
            Some(v) => v.clone(),
            None => self.zero.as_deref().cloned().unwrap_or(Value::Nil),
        }
    }
}

/// A host value with fields and methods (`.Alerts.Firing`, `.StartsAt`).
pub trait Object: fmt::Debug + Send + Sync {
    /// The field or method `name` called with `args`; `None` if there is
    /// no such field or method.
    fn field(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>>;

    /// The plain value this object behaves as for `range`, `len`, `index`,
    /// truth and printing (a list with methods, a map with methods).
    fn base(&self) -> Option<Value> {
        None
    }

    /// How `{{ . }}` prints the object when it has no base.
    fn display(&self) -> String {
        "{}".into()
    }

    /// Go's type name, for error messages.
    fn type_name(&self) -> &str {
        "struct"
    }

    /// Markup that HTML escaping leaves alone (Go's `template.HTML`).
    fn safe_html(&self) -> Option<&str> {
        None
    }
}

/// A string that HTML escaping leaves alone, as Go's `template.HTML`;
/// otherwise it behaves as the string.
#[derive(Debug)]
pub struct SafeHtml(pub String);

impl Object for SafeHtml {
    fn field(&self, _name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        None
    }

    fn base(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }

    fn type_name(&self) -> &str {
        "template.HTML"
    }

    fn safe_html(&self) -> Option<&str> {
        Some(&self.0)
    }
}

impl Value {
    /// A map of strings whose missing keys read as `""` (Go's
    /// `map[string]string` under `missingkey=zero`).
    pub fn string_map<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Value {
        Value::Map(Arc::new(Map {
            entries: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), Value::String(v.into())))
                .collect(),
            zero: Some(Box::new(Value::String(String::new()))),
        }))
    }

    /// A map of any values; missing keys read as nil.
    pub fn map<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Map(Arc::new(Map {
            entries: pairs.into_iter().map(|(k, v)| (k.into(), v)).collect(),
            zero: None,
        }))
    }

    pub fn list(items: Vec<Value>) -> Value {
        Value::List(Arc::new(items))
    }

    /// Follows objects to the plain value they stand for.
    pub fn resolved(&self) -> Value {
        match self {
            Value::Object(o) => match o.base() {
                Some(b) => b.resolved(),
                None => self.clone(),
            },
            v => v.clone(),
        }
    }

    /// Go's truth: false, 0, nil and empty values are false.
    pub fn is_true(&self) -> bool {
        match self.resolved() {
            Value::Nil => false,
            Value::Bool(b) => b,
            Value::Int(i) => i != 0,
            Value::Float(f) => f != 0.0,
            Value::String(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.entries.is_empty(),
            Value::Object(_) => true,
        }
    }

    /// Go's type name (`float64`, `string`, …), for messages such as
    /// `%!d(string=x)`.
    pub fn type_name(&self) -> String {
        match self {
            Value::Nil => "<nil>".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) => "int".into(),
            Value::Float(_) => "float64".into(),
            Value::String(_) => "string".into(),
            Value::List(_) => "[]interface {}".into(),
            Value::Map(m) if m.zero.is_some() => "map[string]string".into(),
            Value::Map(_) => "map[string]interface {}".into(),
            Value::Object(o) => o.type_name().into(),
        }
    }

    /// The value as a float, for functions that take a number (Prometheus's
    /// `convertToFloat` accepts strings too).
    pub fn to_float(&self) -> Result<f64, String> {
        match self.resolved() {
            Value::Int(i) => Ok(i as f64),
            Value::Float(f) => Ok(f),
            Value::String(s) => parse_go_float(&s)
                .ok_or_else(|| format!("strconv.ParseFloat: parsing {s:?}: invalid syntax")),
            v => Err(format!("can't convert {} to float", v.type_name())),
        }
    }
}

/// Go's `strconv.ParseFloat` for the forms people write: decimals,
/// exponents, `Inf`, `NaN`, hex.
pub fn parse_go_float(s: &str) -> Option<f64> {
    let t = s.replace('_', "");
    let lower = t.to_ascii_lowercase();
    match lower.trim_start_matches(['+', '-']) {
        "inf" | "infinity" => {
            return Some(if lower.starts_with('-') {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            })
        }
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    if let Some(h) = lower.strip_prefix("0x") {
        return i64::from_str_radix(h, 16).ok().map(|i| i as f64);
    }
    if t.is_empty()
        || !t
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
    {
        return None;
    }
    t.parse().ok()
}

/// `fmt.Sprint` of one value (`%v`).
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("<no value>"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => f.write_str(&float_v(*x)),
            Value::String(s) => f.write_str(s),
            Value::List(l) => {
                f.write_str("[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    v.fmt_nested(f)?;
                }
                f.write_str("]")
            }
            Value::Map(m) => {
                f.write_str("map[")?;
                for (i, (k, v)) in m.entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{k}:")?;
                    v.fmt_nested(f)?;
                }
                f.write_str("]")
            }
            Value::Object(o) => match o.base() {
                Some(b) => b.fmt(f),
                None => f.write_str(&o.display()),
            },
        }
    }
}

impl Value {
    /// Inside a list or map Go prints nil as `<nil>`.
    fn fmt_nested(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("<nil>"),
            v => fmt::Display::fmt(v, f),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
