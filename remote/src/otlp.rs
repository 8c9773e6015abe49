//! The OTLP metrics receiver's logic (`POST /api/v1/otlp/v1/metrics`):
//! an `ExportMetricsServiceRequest` (protobuf, or the OTLP JSON mapping)
//! translated to samples as Prometheus 3 translates it
//! (`storage/remote/otlptranslator`, `prometheus/otlptranslator`).
//!
//! | OTLP | Watchfire |
//! |---|---|
//! | gauge; sum that is not monotonic | a gauge `name` (unit `1` adds `_ratio` to gauges) |
//! | monotonic cumulative sum | a counter `name_total` |
//! | cumulative explicit-bucket histogram | `name_bucket{le}` (cumulative counts, `+Inf` = count), `name_sum`, `name_count` |
//! | summary | `name{quantile}`, `name_sum`, `name_count` |
//! | delta sum or histogram | refused: `partial_success` names the metric |
//! | exponential histogram | refused (native histograms are not stored) |
//! | data point flag "no recorded value" | the staleness marker |
//! | resource `service.name` (with `service.namespace/` before it) | label `job` |
//! | resource `service.instance.id` | label `instance` |
//! | other resource attributes | `target_info{job, instance, …} 1`, and labels on every series for those promoted |
//!
//! Names, under the default `UnderscoreEscapingWithSuffixes`: characters
//! other than letters, digits and `:` split the name into words joined by
//! one `_`; the unit's word follows (`s` → `seconds`, `By` → `bytes`, `ms` →
//! `milliseconds`, …; `{…}` units add nothing; `a/b` adds `a_per_b`) unless
//! the name has it; a leading digit gets `_`. Label names: characters other
//! than letters, digits and `_` become `_`; a leading digit gets `key_`, a
//! single leading `_` gets `key`.

use std::collections::BTreeMap;

use model::Labels;
use prost::Message;

/// `ExportMetricsServiceRequest`.
#[derive(Clone, PartialEq, Message)]
pub struct ExportRequest {
    #[prost(message, repeated, tag = "1")]
    pub resource_metrics: Vec<ResourceMetrics>,
}

/// `ExportMetricsServiceResponse`.
#[derive(Clone, PartialEq, Message)]
pub struct ExportResponse {
    #[prost(message, optional, tag = "1")]
    pub partial_success: Option<PartialSuccess>,
}

/// `ExportMetricsPartialSuccess`.
#[derive(Clone, PartialEq, Message)]
pub struct PartialSuccess {
    #[prost(int64, tag = "1")]
    pub rejected_data_points: i64,
    #[prost(string, tag = "2")]
    pub error_message: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct ResourceMetrics {
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    #[prost(message, repeated, tag = "2")]
    pub scope_metrics: Vec<ScopeMetrics>,
    #[prost(string, tag = "3")]
    pub schema_url: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct Resource {
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ScopeMetrics {
    #[prost(message, optional, tag = "1")]
    pub scope: Option<Scope>,
    #[prost(message, repeated, tag = "2")]
    pub metrics: Vec<Metric>,
    #[prost(string, tag = "3")]
    pub schema_url: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct Scope {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub version: String,
    #[prost(message, repeated, tag = "3")]
    pub attributes: Vec<KeyValue>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Metric {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub description: String,
    #[prost(string, tag = "3")]
    pub unit: String,
    #[prost(message, optional, tag = "5")]
    pub gauge: Option<Gauge>,
    #[prost(message, optional, tag = "7")]
    pub sum: Option<Sum>,
    #[prost(message, optional, tag = "9")]
    pub histogram: Option<Histogram>,
    /// Kept as bytes: only its presence matters (refused).
    #[prost(bytes = "vec", optional, tag = "10")]
    pub exponential_histogram: Option<Vec<u8>>,
    #[prost(message, optional, tag = "11")]
    pub summary: Option<Summary>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Gauge {
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<NumberPoint>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Sum {
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<NumberPoint>,
    /// 1 delta, 2 cumulative.
    #[prost(int32, tag = "2")]
    pub aggregation_temporality: i32,
    #[prost(bool, tag = "3")]
    pub is_monotonic: bool,
}

#[derive(Clone, PartialEq, Message)]
pub struct Histogram {
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<HistogramPoint>,
    #[prost(int32, tag = "2")]
    pub aggregation_temporality: i32,
}

#[derive(Clone, PartialEq, Message)]
pub struct Summary {
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<SummaryPoint>,
}

#[derive(Clone, PartialEq, Message)]
pub struct NumberPoint {
    #[prost(message, repeated, tag = "7")]
    pub attributes: Vec<KeyValue>,
    #[prost(fixed64, tag = "3")]
    pub time_unix_nano: u64,
    #[prost(double, optional, tag = "4")]
    pub as_double: Option<f64>,
    #[prost(sfixed64, optional, tag = "6")]
    pub as_int: Option<i64>,
    #[prost(uint32, tag = "8")]
    pub flags: u32,
}

#[derive(Clone, PartialEq, Message)]
pub struct HistogramPoint {
    #[prost(message, repeated, tag = "9")]
    pub attributes: Vec<KeyValue>,
    #[prost(fixed64, tag = "3")]
    pub time_unix_nano: u64,
    #[prost(fixed64, tag = "4")]
    pub count: u64,
    #[prost(double, optional, tag = "5")]
    pub sum: Option<f64>,
    #[prost(fixed64, repeated, tag = "6")]
    pub bucket_counts: Vec<u64>,
    #[prost(double, repeated, tag = "7")]
    pub explicit_bounds: Vec<f64>,
    #[prost(uint32, tag = "10")]
    pub flags: u32,
}

#[derive(Clone, PartialEq, Message)]
pub struct SummaryPoint {
    #[prost(message, repeated, tag = "7")]
    pub attributes: Vec<KeyValue>,
    #[prost(fixed64, tag = "3")]
    pub time_unix_nano: u64,
    #[prost(fixed64, tag = "4")]
    pub count: u64,
    #[prost(double, tag = "5")]
    pub sum: f64,
    #[prost(message, repeated, tag = "6")]
    pub quantile_values: Vec<Quantile>,
    #[prost(uint32, tag = "8")]
    pub flags: u32,
}

#[derive(Clone, PartialEq, Message)]
pub struct Quantile {
    #[prost(double, tag = "1")]
    pub quantile: f64,
    #[prost(double, tag = "2")]
    pub value: f64,
}

#[derive(Clone, PartialEq, Message)]
pub struct KeyValue {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

/// `AnyValue`: one of these is set.
#[derive(Clone, PartialEq, Message)]
pub struct AnyValue {
    #[prost(string, optional, tag = "1")]
    pub string_value: Option<String>,
    #[prost(bool, optional, tag = "2")]
    pub bool_value: Option<bool>,
    #[prost(int64, optional, tag = "3")]
    pub int_value: Option<i64>,
    #[prost(double, optional, tag = "4")]
    pub double_value: Option<f64>,
    #[prost(message, optional, tag = "5")]
    pub array_value: Option<ArrayValue>,
    #[prost(message, optional, tag = "6")]
    pub kvlist_value: Option<KvList>,
    #[prost(bytes = "vec", optional, tag = "7")]
    pub bytes_value: Option<Vec<u8>>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ArrayValue {
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<AnyValue>,
}

#[derive(Clone, PartialEq, Message)]
pub struct KvList {
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<KeyValue>,
}

/// The data point flag "no recorded value".
const NO_RECORDED_VALUE: u32 = 1;
/// Prometheus's staleness marker.
const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// Decodes a protobuf body.
pub fn decode_protobuf(body: &[u8]) -> Result<ExportRequest, String> {
    ExportRequest::decode(body).map_err(|e| format!("protobuf: {e}"))
}

/// An attribute value as a label value, as upstream's `AsString`: JSON for
/// arrays and maps, hex for bytes.
fn value_text(v: &AnyValue) -> String {
    if let Some(s) = &v.string_value {
        return s.clone();
    }
    if let Some(b) = v.bool_value {
        return b.to_string();
    }
    if let Some(i) = v.int_value {
        return i.to_string();
    }
    if let Some(d) = v.double_value {
        return format_float(d);
    }
    if let Some(b) = &v.bytes_value {
        return b.iter().map(|x| format!("{x:02x}")).collect();
    }
    serde_json_text(v)
}

fn serde_json_text(v: &AnyValue) -> String {
    fn json(v: &AnyValue) -> String {
        if let Some(a) = &v.array_value {
            let parts: Vec<String> = a.values.iter().map(json).collect();
            return format!("[{}]", parts.join(","));
        }
        if let Some(m) = &v.kvlist_value {
            let parts: Vec<String> = m
                .values
                .iter()
                .map(|kv| {
                    format!(
                        "{:?}:{}",
                        kv.key,
                        kv.value.as_ref().map_or("null".into(), json)
                    )
                })
                .collect();
            return format!("{{{}}}", parts.join(","));
        }
        if let Some(s) = &v.string_value {
            return format!("{s:?}");
        }
        let t = value_text(v);
        if t.is_empty() {
            "null".into()
        } else {
            t
        }
    }
    json(v)
}

/// A float as Go's `strconv.FormatFloat(f, 'f', -1, 64)`.
fn format_float(f: f64) -> String {
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    format!("{f}")
}

/// How names are translated (`otlp.translation_strategy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Escaped to Prometheus's classic characters, with unit and type
    /// suffixes (the default).
    #[default]
    UnderscoreEscapingWithSuffixes,
    /// Escaped, without suffixes.
    UnderscoreEscapingWithoutSuffixes,
    /// Names kept (UTF-8), with suffixes.
    NoUtf8EscapingWithSuffixes,
    /// Names kept, no suffixes.
    NoTranslation,
}

impl Strategy {
    pub fn parse(s: &str) -> Option<Strategy> {
        Some(match s {
            "UnderscoreEscapingWithSuffixes" => Strategy::UnderscoreEscapingWithSuffixes,
            "UnderscoreEscapingWithoutSuffixes" => Strategy::UnderscoreEscapingWithoutSuffixes,
            "NoUTF8EscapingWithSuffixes" => Strategy::NoUtf8EscapingWithSuffixes,
            "NoTranslation" => Strategy::NoTranslation,
            _ => return None,
        })
    }

    fn escapes(self) -> bool {
        matches!(
            self,
            Strategy::UnderscoreEscapingWithSuffixes | Strategy::UnderscoreEscapingWithoutSuffixes
        )
    }

    fn suffixes(self) -> bool {
        matches!(
            self,
            Strategy::UnderscoreEscapingWithSuffixes | Strategy::NoUtf8EscapingWithSuffixes
        )
    }
}

/// The `otlp:` settings that shape the translation.
#[derive(Clone, Debug)]
pub struct Settings {
    pub strategy: Strategy,
    /// Resource attributes added as labels to every series.
    pub promote: Vec<String>,
    /// Promote every resource attribute but these.
    pub promote_all: bool,
    pub ignore: Vec<String>,
    /// Keep `service.name`, `service.namespace` and `service.instance.id`
    /// on `target_info` too.
    pub keep_identifying: bool,
    /// `otel_scope_name`, `otel_scope_version`, `otel_scope_schema_url`
    /// and `otel_scope_<attribute>` labels.
    pub promote_scope: bool,
    /// A single leading `_` of a label name gets `key` before it.
    pub underscore_sanitization: bool,
    /// Keep runs of `_` in label names (else one is left).
    pub preserve_multiple_underscores: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            strategy: Strategy::default(),
            promote: Vec::new(),
            promote_all: false,
            ignore: Vec::new(),
            keep_identifying: false,
            promote_scope: false,
            underscore_sanitization: true,
            preserve_multiple_underscores: true,
        }
    }
}

impl Settings {
    /// From the `otlp:` section.
    pub fn from_config(c: &config::sections::OtlpConfig) -> Settings {
        Settings {
            strategy: c
                .translation_strategy
                .as_deref()
                .and_then(Strategy::parse)
                .unwrap_or_default(),
            promote: c
                .promote_resource_attributes
                .iter()
                .map(|s| s.trim().to_string())
                .collect(),
            promote_all: c.promote_all_resource_attributes.unwrap_or(false),
            ignore: c
                .ignore_resource_attributes
                .iter()
                .map(|s| s.trim().to_string())
                .collect(),
            keep_identifying: c.keep_identifying_resource_attributes.unwrap_or(false),
            promote_scope: c.promote_scope_metadata.unwrap_or(false),
            underscore_sanitization: c.label_name_underscore_sanitization.unwrap_or(true),
            preserve_multiple_underscores: c
                .label_name_preserve_multiple_underscores
                .unwrap_or(true),
        }
    }

    /// A label name as Prometheus's `LabelNamer` builds it.
    pub fn label_name(&self, name: &str) -> String {
        if !self.strategy.escapes() || name.is_empty() {
            return name.to_string();
        }
        let mut out: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if !self.preserve_multiple_underscores {
            let mut collapsed = String::with_capacity(out.len());
            for c in out.chars() {
                if !(c == '_' && collapsed.ends_with('_')) {
                    collapsed.push(c);
                }
            }
            out = collapsed;
        }
        if out.starts_with(|c: char| c.is_ascii_digit()) {
            out = format!("key_{out}");
        } else if self.underscore_sanitization && out.starts_with('_') && !out.starts_with("__") {
            out = format!("key{out}");
        }
        out
    }

    /// A metric name as Prometheus's `MetricNamer` builds it.
    pub fn metric_name(&self, name: &str, unit: &str, kind: Kind) -> String {
        let suffixes = self.strategy.suffixes();
        if !self.strategy.escapes() {
            let mut n = name.to_string();
            if suffixes {
                let (main, per) = unit_suffixes(unit);
                if let Some(m) = main.filter(|m| !n.ends_with(m.as_str())) {
                    n = format!("{n}_{m}");
                }
                if let Some(p) = per.filter(|p| !n.ends_with(p.as_str())) {
                    n = format!("{n}_per_{p}");
                }
                if kind == Kind::Counter && !n.ends_with("_total") {
                    n.push_str("_total");
                }
                if unit == "1" && kind == Kind::Gauge && !n.ends_with("_ratio") {
                    n.push_str("_ratio");
                }
            }
            return n;
        }
        let mut tokens: Vec<String> = name
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == ':'))
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect();
        if suffixes {
            let (main, per) = unit_suffixes(unit);
            let clean = |s: String| {
                s.chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == ':' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect::<String>()
                    .trim_matches('_')
                    .to_string()
            };
            let main = main
                .map(clean)
                .filter(|m| !m.is_empty() && !tokens.contains(m));
            let per = per
                .map(clean)
                .filter(|p| !p.is_empty() && !tokens.contains(p));
            if let Some(m) = main {
                tokens.push(m);
            }
            if let Some(p) = per {
                tokens.push(format!("per_{p}"));
            }
            if kind == Kind::Counter {
                tokens.retain(|t| t != "total");
                tokens.push("total".into());
            }
            if unit == "1" && kind == Kind::Gauge {
                tokens.retain(|t| t != "ratio");
                tokens.push("ratio".into());
            }
        }
        let mut n = tokens.join("_");
        if n.starts_with(|c: char| c.is_ascii_digit()) {
            n.insert(0, '_');
        }
        n
    }
}

/// What a metric becomes, for its name's suffixes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
    Histogram,
    Summary,
}

/// The words a unit adds: the main unit and the per-unit, mapped as
/// upstream's `unitMap` and `perUnitMap`; units in braces add nothing.
fn unit_suffixes(unit: &str) -> (Option<String>, Option<String>) {
    let mut parts = unit.splitn(2, '/');
    let main = parts
        .next()
        .map(str::trim)
        .filter(|u| !u.is_empty() && !u.contains(['{', '}']))
        .map(|u| {
            match u {
                "d" => "days",
                "h" => "hours",
                "min" => "minutes",
                "s" => "seconds",
                "ms" => "milliseconds",
                "us" => "microseconds",
                "ns" => "nanoseconds",
                "By" => "bytes",
                "KiBy" => "kibibytes",
                "MiBy" => "mebibytes",
                "GiBy" => "gibibytes",
                "TiBy" => "tibibytes",
                "KBy" => "kilobytes",
                "MBy" => "megabytes",
                "GBy" => "gigabytes",
                "TBy" => "terabytes",
                "m" => "meters",
                "V" => "volts",
                "A" => "amperes",
                "J" => "joules",
                "W" => "watts",
                "g" => "grams",
                "Cel" => "celsius",
                "Hz" => "hertz",
                "1" => "",
                "%" => "percent",
                other => other,
            }
            .to_string()
        })
        .filter(|u| !u.is_empty());
    let per = parts
        .next()
        .map(str::trim)
        .filter(|u| !u.is_empty() && !u.contains(['{', '}']))
        .map(|u| {
            match u {
                "s" => "second",
                "m" => "minute",
                "h" => "hour",
                "d" => "day",
                "w" => "week",
                "mo" => "month",
                "y" => "year",
                other => other,
            }
            .to_string()
        });
    (main, per)
}

/// One translated sample.
pub type Out = (Labels, i64, f64);

/// What a request gave: samples, and what was refused.
#[derive(Debug, Default)]
pub struct Translated {
    pub samples: Vec<Out>,
    pub rejected: i64,
    pub errors: Vec<String>,
}

fn ms(nanos: u64) -> i64 {
    (nanos / 1_000_000) as i64
}

fn attr_map(attrs: &[KeyValue]) -> BTreeMap<String, String> {
    attrs
        .iter()
        .map(|kv| {
            (
                kv.key.clone(),
                kv.value.as_ref().map(value_text).unwrap_or_default(),
            )
        })
        .collect()
}

/// Translates a whole request.
pub fn translate(req: &ExportRequest, s: &Settings) -> Translated {
    let mut out = Translated::default();
    for rm in &req.resource_metrics {
        let res = attr_map(rm.resource.as_ref().map_or(&[][..], |r| &r.attributes));
        let job = match (res.get("service.namespace"), res.get("service.name")) {
            (Some(ns), Some(name)) if !ns.is_empty() => Some(format!("{ns}/{name}")),
            (_, Some(name)) => Some(name.clone()),
            _ => None,
        };
        let instance = res.get("service.instance.id").cloned();
        // Labels every series of the resource carries.
        let mut base: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in &res {
            let promoted = if s.promote_all {
                !s.ignore.contains(k)
            } else {
                s.promote.contains(k)
            };
            if promoted {
                base.insert(s.label_name(k), v.clone());
            }
        }
        if let Some(j) = &job {
            base.insert("job".into(), j.clone());
        }
        if let Some(i) = &instance {
            base.insert("instance".into(), i.clone());
        }
        let mut newest = i64::MIN;
        for sm in &rm.scope_metrics {
            let mut scoped = base.clone();
            if s.promote_scope {
                if let Some(sc) = &sm.scope {
                    scoped.insert("otel_scope_name".into(), sc.name.clone());
                    scoped.insert("otel_scope_version".into(), sc.version.clone());
                    for (k, v) in attr_map(&sc.attributes) {
                        scoped.insert(format!("otel_scope_{}", s.label_name(&k)), v);
                    }
                }
                scoped.insert("otel_scope_schema_url".into(), sm.schema_url.clone());
            }
            for m in &sm.metrics {
                metric(m, &scoped, s, &mut out, &mut newest);
            }
        }
        // target_info: the resource's other attributes, once, at the
        // newest timestamp of its data points.
        let mut info: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in &res {
            let identifying = matches!(
                k.as_str(),
                "service.name" | "service.namespace" | "service.instance.id"
            );
            if identifying && !s.keep_identifying {
                continue;
            }
            info.insert(s.label_name(k), v.clone());
        }
        if !info.is_empty() && newest != i64::MIN {
            if let Some(j) = &job {
                info.insert("job".into(), j.clone());
            }
            if let Some(i) = &instance {
                info.insert("instance".into(), i.clone());
            }
            info.insert("__name__".into(), "target_info".into());
            out.samples.push((
                Labels::from_pairs(info.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                newest,
                1.0,
            ));
        }
    }
    out
}

fn labels(
    base: &BTreeMap<String, String>,
    attrs: &[KeyValue],
    s: &Settings,
    name: &str,
    extra: Option<(&str, String)>,
) -> Labels {
    let mut all = base.clone();
    for (k, v) in attr_map(attrs) {
        // A data point attribute does not replace job or instance.
        let k = s.label_name(&k);
        if (k == "job" || k == "instance") && all.contains_key(&k) {
            continue;
        }
        all.insert(k, v);
    }
    if let Some((k, v)) = extra {
        all.insert(k.to_string(), v);
    }
    all.insert("__name__".into(), name.to_string());
    Labels::from_pairs(all.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

fn value(flags: u32, v: f64) -> f64 {
    if flags & NO_RECORDED_VALUE != 0 {
        f64::from_bits(STALE_NAN)
    } else {
        v
    }
}

fn metric(
    m: &Metric,
    base: &BTreeMap<String, String>,
    s: &Settings,
    out: &mut Translated,
    newest: &mut i64,
) {
    let mut push = |l: Labels, t: i64, v: f64, out: &mut Translated| {
        *newest = (*newest).max(t);
        out.samples.push((l, t, v));
    };
    if let Some(g) = &m.gauge {
        let name = s.metric_name(&m.name, &m.unit, Kind::Gauge);
        for p in &g.data_points {
            let v = p.as_double.or(p.as_int.map(|i| i as f64)).unwrap_or(0.0);
            push(
                labels(base, &p.attributes, s, &name, None),
                ms(p.time_unix_nano),
                value(p.flags, v),
                out,
            );
        }
    } else if let Some(sum) = &m.sum {
        if sum.is_monotonic && sum.aggregation_temporality != 2 {
            out.rejected += sum.data_points.len() as i64;
            out.errors.push(format!(
                "invalid temporality and type combination for metric {:?}: delta (or unspecified) temporality is not accepted; export cumulative sums",
                m.name
            ));
            return;
        }
        let kind = if sum.is_monotonic {
            Kind::Counter
        } else {
            Kind::Gauge
        };
        let name = s.metric_name(&m.name, &m.unit, kind);
        for p in &sum.data_points {
            let v = p.as_double.or(p.as_int.map(|i| i as f64)).unwrap_or(0.0);
            push(
                labels(base, &p.attributes, s, &name, None),
                ms(p.time_unix_nano),
                value(p.flags, v),
                out,
            );
        }
    } else if let Some(h) = &m.histogram {
        if h.aggregation_temporality != 2 {
            out.rejected += h.data_points.len() as i64;
            out.errors.push(format!(
                "invalid temporality and type combination for metric {:?}: delta (or unspecified) temporality is not accepted; export cumulative histograms",
                m.name
            ));
            return;
        }
        let name = s.metric_name(&m.name, &m.unit, Kind::Histogram);
        for p in &h.data_points {
            let t = ms(p.time_unix_nano);
            if let Some(sum) = p.sum {
                push(
                    labels(base, &p.attributes, s, &format!("{name}_sum"), None),
                    t,
                    value(p.flags, sum),
                    out,
                );
            }
            push(
                labels(base, &p.attributes, s, &format!("{name}_count"), None),
                t,
                value(p.flags, p.count as f64),
                out,
            );
            let mut cumulative = 0u64;
            for (i, bound) in p.explicit_bounds.iter().enumerate() {
                cumulative += p.bucket_counts.get(i).copied().unwrap_or(0);
                let l = labels(
                    base,
                    &p.attributes,
                    s,
                    &format!("{name}_bucket"),
                    Some(("le", format_float(*bound))),
                );
                push(l, t, value(p.flags, cumulative as f64), out);
            }
            let l = labels(
                base,
                &p.attributes,
                s,
                &format!("{name}_bucket"),
                Some(("le", "+Inf".into())),
            );
            push(l, t, value(p.flags, p.count as f64), out);
        }
    } else if let Some(sm) = &m.summary {
        let name = s.metric_name(&m.name, &m.unit, Kind::Summary);
        for p in &sm.data_points {
            let t = ms(p.time_unix_nano);
            push(
                labels(base, &p.attributes, s, &format!("{name}_sum"), None),
                t,
                value(p.flags, p.sum),
                out,
            );
            push(
                labels(base, &p.attributes, s, &format!("{name}_count"), None),
                t,
                value(p.flags, p.count as f64),
                out,
            );
            for q in &p.quantile_values {
                let l = labels(
                    base,
                    &p.attributes,
                    s,
                    &name,
                    Some(("quantile", format_float(q.quantile))),
                );
                push(l, t, value(p.flags, q.value), out);
            }
        }
    } else if m.exponential_histogram.is_some() {
        out.rejected += 1;
        out.errors.push(format!(
            "exponential histogram {:?} refused: native histograms are not stored; export explicit-bucket histograms",
            m.name
        ));
    }
}

/// Decodes the OTLP JSON mapping (protobuf's JSON with lowerCamelCase
/// names; 64-bit integers as strings or numbers; enums as numbers or
/// names).
pub fn decode_json(body: &[u8]) -> Result<ExportRequest, String> {
    use serde_json::Value;
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("JSON: {e}"))?;
    fn arr<'a>(v: &'a Value, k: &str) -> &'a [Value] {
        v.get(k)
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }
    fn text(v: &Value, k: &str) -> String {
        v.get(k).and_then(Value::as_str).unwrap_or("").to_string()
    }
    fn u64_of(v: &Value) -> Result<u64, String> {
        match v {
            Value::String(s) => s.parse().map_err(|e| format!("{s:?}: {e}")),
            Value::Number(n) => n
                .as_u64()
                .ok_or_else(|| format!("{n} is not an unsigned integer")),
            other => Err(format!("{other} is not an integer")),
        }
    }
    fn num(v: &Value, k: &str) -> Result<u64, String> {
        v.get(k)
            .map_or(Ok(0), |x| u64_of(x).map_err(|e| format!("{k}: {e}")))
    }
    fn float(v: &Value) -> Option<f64> {
        match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => match s.as_str() {
                "NaN" => Some(f64::NAN),
                "Infinity" => Some(f64::INFINITY),
                "-Infinity" => Some(f64::NEG_INFINITY),
                s => s.parse().ok(),
            },
            _ => None,
        }
    }
    fn temporality(v: &Value) -> i32 {
        match v.get("aggregationTemporality") {
            Some(Value::Number(n)) => n.as_i64().unwrap_or(0) as i32,
            Some(Value::String(s)) => match s.as_str() {
                "AGGREGATION_TEMPORALITY_DELTA" => 1,
                "AGGREGATION_TEMPORALITY_CUMULATIVE" => 2,
                _ => 0,
            },
            _ => 0,
        }
    }
    fn any(v: &Value) -> Result<AnyValue, String> {
        let mut a = AnyValue::default();
        if let Some(s) = v.get("stringValue").and_then(Value::as_str) {
            a.string_value = Some(s.to_string());
        } else if let Some(b) = v.get("boolValue").and_then(Value::as_bool) {
            a.bool_value = Some(b);
        } else if let Some(i) = v.get("intValue") {
            a.int_value = Some(match i {
                Value::String(s) => s.parse().map_err(|e| format!("intValue {s:?}: {e}"))?,
                Value::Number(n) => n.as_i64().ok_or("intValue out of range")?,
                _ => return Err("intValue is not an integer".into()),
            });
        } else if let Some(d) = v.get("doubleValue").and_then(float) {
            a.double_value = Some(d);
        } else if let Some(x) = v.get("arrayValue") {
            a.array_value = Some(ArrayValue {
                values: arr(x, "values").iter().map(any).collect::<Result<_, _>>()?,
            });
        } else if let Some(x) = v.get("kvlistValue") {
            a.kvlist_value = Some(KvList {
                values: kvs(arr(x, "values"))?,
            });
        } else if let Some(s) = v.get("bytesValue").and_then(Value::as_str) {
            a.string_value = Some(s.to_string());
        }
        Ok(a)
    }
    fn kvs(list: &[Value]) -> Result<Vec<KeyValue>, String> {
        list.iter()
            .map(|kv| {
                Ok(KeyValue {
                    key: text(kv, "key"),
                    value: kv.get("value").map(any).transpose()?,
                })
            })
            .collect()
    }
    fn number_points(v: &Value) -> Result<Vec<NumberPoint>, String> {
        arr(v, "dataPoints")
            .iter()
            .map(|p| {
                Ok(NumberPoint {
                    attributes: kvs(arr(p, "attributes"))?,
                    time_unix_nano: num(p, "timeUnixNano")?,
                    as_double: p.get("asDouble").and_then(float),
                    as_int: p
                        .get("asInt")
                        .map(|x| {
                            u64_of(x).map(|u| u as i64).or_else(|_| {
                                x.as_i64().ok_or("asInt is not an integer".to_string())
                            })
                        })
                        .transpose()?,
                    flags: num(p, "flags")? as u32,
                })
            })
            .collect()
    }
    let mut req = ExportRequest::default();
    for rm in arr(&v, "resourceMetrics") {
        let mut out = ResourceMetrics {
            resource: Some(Resource {
                attributes: kvs(rm.get("resource").map_or(&[][..], |r| arr(r, "attributes")))?,
            }),
            schema_url: text(rm, "schemaUrl"),
            ..Default::default()
        };
        for sm in arr(rm, "scopeMetrics") {
            let scope = sm.get("scope").map(|s| -> Result<Scope, String> {
                Ok(Scope {
                    name: text(s, "name"),
                    version: text(s, "version"),
                    attributes: kvs(arr(s, "attributes"))?,
                })
            });
            let mut metrics = Vec::new();
            for m in arr(sm, "metrics") {
                let mut metric = Metric {
                    name: text(m, "name"),
                    description: text(m, "description"),
                    unit: text(m, "unit"),
                    ..Default::default()
                };
                if let Some(g) = m.get("gauge") {
                    metric.gauge = Some(Gauge {
                        data_points: number_points(g)?,
                    });
                } else if let Some(s) = m.get("sum") {
                    metric.sum = Some(Sum {
                        data_points: number_points(s)?,
                        aggregation_temporality: temporality(s),
                        is_monotonic: s
                            .get("isMonotonic")
                            .and_then(Value::as_bool)
                            .unwrap_or(false),
                    });
                } else if let Some(h) = m.get("histogram") {
                    let mut points = Vec::new();
                    for p in arr(h, "dataPoints") {
                        points.push(HistogramPoint {
                            attributes: kvs(arr(p, "attributes"))?,
                            time_unix_nano: num(p, "timeUnixNano")?,
                            count: num(p, "count")?,
                            sum: p.get("sum").and_then(float),
                            bucket_counts: arr(p, "bucketCounts")
                                .iter()
                                .map(u64_of)
                                .collect::<Result<_, _>>()?,
                            explicit_bounds: arr(p, "explicitBounds")
                                .iter()
                                .filter_map(float)
                                .collect(),
                            flags: num(p, "flags")? as u32,
                        });
                    }
                    metric.histogram = Some(Histogram {
                        data_points: points,
                        aggregation_temporality: temporality(h),
                    });
                } else if let Some(s) = m.get("summary") {
                    let mut points = Vec::new();
                    for p in arr(s, "dataPoints") {
                        points.push(SummaryPoint {
                            attributes: kvs(arr(p, "attributes"))?,
                            time_unix_nano: num(p, "timeUnixNano")?,
                            count: num(p, "count")?,
                            sum: p.get("sum").and_then(float).unwrap_or(0.0),
                            quantile_values: arr(p, "quantileValues")
                                .iter()
                                .map(|q| Quantile {
                                    quantile: q.get("quantile").and_then(float).unwrap_or(0.0),
                                    value: q.get("value").and_then(float).unwrap_or(0.0),
                                })
                                .collect(),
                            flags: num(p, "flags")? as u32,
                        });
                    }
                    metric.summary = Some(Summary {
                        data_points: points,
                    });
                } else if m.get("exponentialHistogram").is_some() {
                    metric.exponential_histogram = Some(Vec::new());
                }
                metrics.push(metric);
            }
            out.scope_metrics.push(ScopeMetrics {
                scope: scope.transpose()?,
                metrics,
                schema_url: text(sm, "schemaUrl"),
            });
        }
        req.resource_metrics.push(out);
    }
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_prometheus_3_builds_them() {
        let s = Settings::default();
        let cases = [
            (
                "http.server.request.duration",
                "s",
                Kind::Histogram,
                "http_server_request_duration_seconds",
            ),
            ("requests", "1", Kind::Counter, "requests_total"),
            (
                "requests.total",
                "{request}",
                Kind::Counter,
                "requests_total",
            ),
            ("cpu.utilization", "1", Kind::Gauge, "cpu_utilization_ratio"),
            ("memory.usage", "By", Kind::Gauge, "memory_usage_bytes"),
            (
                "throughput",
                "By/s",
                Kind::Gauge,
                "throughput_bytes_per_second",
            ),
            ("latency_seconds", "s", Kind::Gauge, "latency_seconds"),
            ("queue..depth__now", "", Kind::Gauge, "queue_depth_now"),
            ("2xx.count", "", Kind::Counter, "_2xx_count_total"),
            ("temp", "Cel", Kind::Gauge, "temp_celsius"),
        ];
        for (name, unit, kind, want) in cases {
            assert_eq!(s.metric_name(name, unit, kind), want, "{name} [{unit}]");
        }
        let plain = Settings {
            strategy: Strategy::UnderscoreEscapingWithoutSuffixes,
            ..Settings::default()
        };
        assert_eq!(
            plain.metric_name("http.requests", "s", Kind::Counter),
            "http_requests"
        );
        let utf8 = Settings {
            strategy: Strategy::NoTranslation,
            ..Settings::default()
        };
        assert_eq!(
            utf8.metric_name("http.requests", "s", Kind::Counter),
            "http.requests"
        );
        assert_eq!(s.label_name("http.method"), "http_method");
        assert_eq!(s.label_name("2fa"), "key_2fa");
        assert_eq!(s.label_name("_private"), "key_private");
        assert_eq!(s.label_name("__reserved"), "__reserved");
        assert_eq!(s.label_name("a..b"), "a__b");
    }
}
