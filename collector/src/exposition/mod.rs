//! Parsers for the two text exposition formats a scrape target may answer
//! with: Prometheus text 0.0.4 and OpenMetrics 1.0.
//!
//! The parser works line by line on bytes. [`Parser::parse_line`] turns one
//! line into one [`Entry`], borrowing from the line unless an escape had to
//! be resolved; the [`Parser`] keeps what spans lines (the current metric
//! family, OpenMetrics ordering rules, whether `# EOF` was seen), so a body
//! never needs to be in memory at once. [`parse`] does the whole-body loop
//! for callers that have the body anyway.
//!
//! Two levels of checking exist, chosen by [`Strictness`]:
//!
//! - [`Strictness::Spec`] (the default) enforces the format as specified:
//!   for OpenMetrics the family rules of the 1.0 spec as the OpenMetrics
//!   conformance suite tests them (grouping and ordering, suffixes per type,
//!   counter-like values non-negative, histogram bucket rules, exemplars only
//!   on buckets and `_total`); for the text format the rules of the reference
//!   parser in `prometheus/common` `expfmt` (one HELP and TYPE per family,
//!   TYPE before samples, only `\\`, `\"`, `\n` escapes).
//! - [`Strictness::Prometheus`] accepts what the Prometheus 3.x scraper
//!   accepts (`model/textparse/promparse.go`, `openmetricsparse.go`): syntax
//!   only, no family rules. Real exporters break the OpenMetrics family rules
//!   (client_golang writes negative histogram sums, for instance), so the
//!   scrape loop uses this level to scrape what Prometheus scrapes.
//!
//! Both levels normalise `le` (histograms) and `quantile` (summaries) label
//! values to Go float text as Prometheus 3 does (`"1"` becomes `"1.0"`), and
//! read OpenMetrics timestamps, given in seconds, into exact milliseconds.
//! An OpenMetrics `_created` sample of a counter, summary or histogram comes
//! out as [`Entry::Created`]; [`attach_start_timestamps`] (which [`parse`]
//! calls) turns it into the `start_timestamp_ms` of the family's samples.
//!
//! # Why not the `prometheus-parse` crate
//!
//! It silently drops lines whose metric names contain colons, such as
//! recording-rule names (`a:b:c`); it cuts label values at commas and at `=`;
//! it keeps escapes raw; it replaces OpenMetrics timestamps (seconds with a
//! fraction) with the scrape time; and it never reports a parse error, so a
//! broken target looks healthy. It is also several times slower than a
//! straightforward byte-level parser: on the 237-family text sample of the
//! shared corpus (release build) it reads 52 MB/s where this parser reads
//! about 320 MB/s, before counting its per-line `String`s.

use std::borrow::Cow;
use std::fmt;

mod created;
mod family;
mod lexer;
mod number;
mod openmetrics;
mod text;

pub use created::attach_start_timestamps;

/// An exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Prometheus text format 0.0.4 (`text/plain; version=0.0.4`).
    Text,
    /// OpenMetrics 1.0 text (`application/openmetrics-text; version=1.0.0`).
    OpenMetrics,
}

/// How much beyond syntax a [`Parser`] checks; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Strictness {
    /// The format as specified, family rules included.
    #[default]
    Spec,
    /// What the Prometheus 3.x scraper accepts.
    Prometheus,
}

/// The type of a metric family, as declared by a `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    /// OpenMetrics `unknown`, text-format `untyped`, or no TYPE line.
    Unknown,
}

impl MetricType {
    /// The OpenMetrics name of the type.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }

    /// Every type.
    pub(crate) const ALL: [MetricType; 8] = [
        MetricType::Counter,
        MetricType::Gauge,
        MetricType::Histogram,
        MetricType::GaugeHistogram,
        MetricType::Summary,
        MetricType::Info,
        MetricType::StateSet,
        MetricType::Unknown,
    ];

    /// The type of OpenMetrics name `name`, the inverse of
    /// [`MetricType::as_str`].
    pub(crate) fn from_name(name: &[u8]) -> Option<MetricType> {
        MetricType::ALL
            .into_iter()
            .find(|k| k.as_str().as_bytes() == name)
    }

    /// Whether OpenMetrics gives the type a `_created` sample.
    fn has_created(self) -> bool {
        matches!(
            self,
            MetricType::Counter | MetricType::Summary | MetricType::Histogram
        )
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Label pairs in input order, without `__name__`, escapes resolved.
pub type Labels<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

/// One parsed line.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry<'a> {
    /// `# HELP name text`, escapes resolved.
    Help {
        name: Cow<'a, str>,
        help: Cow<'a, str>,
    },
    /// `# TYPE name type`.
    Type {
        name: Cow<'a, str>,
        kind: MetricType,
    },
    /// `# UNIT name unit` (OpenMetrics only); the unit may be empty.
    Unit {
        name: Cow<'a, str>,
        unit: Cow<'a, str>,
    },
    /// Any other comment (text format only).
    Comment,
    /// An empty or blank line (text format only; [`parse`] leaves these out).
    Blank,
    /// A sample.
    Sample(Sample<'a>),
    /// An OpenMetrics `_created` sample of a counter, summary or histogram:
    /// not a series of its own but the start time of the family's series
    /// with the same labels, held in `start_timestamp_ms`. See
    /// [`attach_start_timestamps`].
    Created(Sample<'a>),
    /// OpenMetrics `# EOF`.
    Eof,
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    /// The metric name, also when written inside the braces as a quoted
    /// name (Prometheus 3 UTF-8 syntax).
    pub name: Cow<'a, str>,
    /// Labels in input order, without `__name__`, escapes resolved; `le` and
    /// `quantile` values normalised to Go float text.
    pub labels: Labels<'a>,
    pub value: f64,
    /// Milliseconds since the epoch. OpenMetrics seconds are converted
    /// exactly by decimal arithmetic on the text and truncated toward zero;
    /// values beyond `i64` milliseconds are clamped.
    pub timestamp_ms: Option<i64>,
    /// The OpenMetrics exemplar, when the line has one.
    pub exemplar: Option<Exemplar<'a>>,
    /// Start time from the family's `_created` sample, in milliseconds.
    pub start_timestamp_ms: Option<i64>,
}

impl Sample<'_> {
    /// The value of label `name`, if present.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_ref())
    }

    /// The series this sample belongs to: the metric name as `__name__` and
    /// the labels, as a sorted [`model::Labels`] (empty values dropped, as
    /// Prometheus does).
    pub fn series(&self) -> model::Labels {
        let mut b = model::LabelsBuilder::new();
        b.set(model::METRIC_NAME, &self.name);
        for (n, v) in &self.labels {
            b.set(n, v);
        }
        b.labels()
    }

    /// Whether `labels` is this sample's [`Sample::series`], without
    /// building it: consecutive lines usually belong to one series.
    pub fn is_series(&self, labels: &model::Labels) -> bool {
        labels.metric_name() == Some(&*self.name)
            && labels.len() == 1 + self.labels.iter().filter(|(_, v)| !v.is_empty()).count()
            && self
                .labels
                .iter()
                .all(|(n, v)| n != model::METRIC_NAME && labels.get(n).unwrap_or("") == v)
    }
}

/// An OpenMetrics exemplar: `# {labels} value [timestamp]` after a sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar<'a> {
    pub labels: Labels<'a>,
    pub value: f64,
    pub timestamp_ms: Option<i64>,
}

/// Why a body was rejected, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// 1-based byte column, for syntax errors.
    pub column: Option<usize>,
    pub reason: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for ParseError {}

/// An error inside one line, before the line number is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fault {
    /// 0-based byte offset, for syntax errors.
    offset: Option<usize>,
    reason: String,
}

impl Fault {
    /// A syntax error at byte `offset` of the line.
    fn at(offset: usize, reason: impl Into<String>) -> Self {
        Fault {
            offset: Some(offset),
            reason: reason.into(),
        }
    }

    /// A violated rule that spans lines.
    fn rule(reason: impl Into<String>) -> Self {
        Fault {
            offset: None,
            reason: reason.into(),
        }
    }

    fn on_line(self, line: usize) -> ParseError {
        ParseError {
            line,
            column: self.offset.map(|o| o + 1),
            reason: self.reason,
        }
    }
}

/// A line-by-line parser of one exposition body.
pub struct Parser {
    grammar: Grammar,
    /// The last line number passed in, for errors raised by `finish`.
    last_line: usize,
}

enum Grammar {
    Text(text::State),
    OpenMetrics(Box<openmetrics::State>),
}

impl Parser {
    /// A parser for `format` at [`Strictness::Spec`].
    pub fn new(format: Format) -> Self {
        Self::with_strictness(format, Strictness::Spec)
    }

    /// A parser for `format` at the given strictness.
    pub fn with_strictness(format: Format, strictness: Strictness) -> Self {
        let strict = strictness == Strictness::Spec;
        let grammar = match format {
            Format::Text => Grammar::Text(text::State::new(strict)),
            Format::OpenMetrics => Grammar::OpenMetrics(Box::new(openmetrics::State::new(strict))),
        };
        Parser {
            grammar,
            last_line: 0,
        }
    }

    /// Parses one line (without its trailing `'\n'`); `line_no` is 1-based.
    /// Zero-copy: strings borrow from `line` unless an escape had to be
    /// resolved or a label value normalised.
    pub fn parse_line<'a>(
        &mut self,
        line: &'a [u8],
        line_no: usize,
    ) -> Result<Entry<'a>, ParseError> {
        self.last_line = line_no;
        let entry = match &mut self.grammar {
            Grammar::Text(s) => s.parse(line),
            Grammar::OpenMetrics(s) => s.parse(line),
        };
        entry.map_err(|f| f.on_line(line_no))
    }

    /// For a scrape cache keyed by raw bytes: where the series part of a
    /// sample line ends, and a tag for the parser context that shapes its
    /// labels. Only the lenient text format answers; `None` means "parse
    /// the line in full". The key is the tag and `line[..end]`.
    pub fn series_end(&self, line: &[u8]) -> Option<(u8, usize)> {
        match &self.grammar {
            Grammar::Text(s) => s.series_end(line),
            Grammar::OpenMetrics(_) => None,
        }
    }

    /// The tag [`Parser::series_end`] gives lines now; `None` when it
    /// finds no series parts (strict text, OpenMetrics).
    pub fn series_tag(&self) -> Option<u8> {
        match &self.grammar {
            Grammar::Text(s) => s.series_tag(),
            Grammar::OpenMetrics(_) => None,
        }
    }

    /// Whether `line`, whose first `len` bytes equal a series part that
    /// [`Parser::series_end`] found in an earlier line with the current
    /// tag, has its series part end there too, found without scanning the
    /// line: a scrape cache checks its guess for the next line with it.
    pub fn ends_series(&self, line: &[u8], len: usize) -> bool {
        match &self.grammar {
            Grammar::Text(s) => s.ends_series(line, len),
            Grammar::OpenMetrics(_) => false,
        }
    }

    /// Parses the value and timestamp of a sample line whose series part,
    /// `line[..end]` from [`Parser::series_end`], an earlier line with the
    /// same tag parsed cleanly: the rest of the line is all that can be
    /// wrong. Errors read as [`Parser::parse_line`]'s would.
    pub fn sample_value(
        &mut self,
        line: &[u8],
        end: usize,
        line_no: usize,
    ) -> Result<(f64, Option<i64>), ParseError> {
        self.last_line = line_no;
        let r = match &self.grammar {
            Grammar::Text(s) => s.sample_value(line, end),
            Grammar::OpenMetrics(_) => Err(Fault::at(0, "no fast path for OpenMetrics")),
        };
        r.map_err(|f| f.on_line(line_no))
    }

    /// Parses the last line of a body that does not end in `'\n'`. The
    /// reference text parser rejects such a line unless it is blank;
    /// Prometheus and OpenMetrics take it as any other line.
    pub fn parse_unterminated_line<'a>(
        &mut self,
        line: &'a [u8],
        line_no: usize,
    ) -> Result<Entry<'a>, ParseError> {
        if let Grammar::Text(s) = &self.grammar {
            if s.is_strict() && line.iter().any(|&b| b != b' ' && b != b'\t') {
                self.last_line = line_no;
                return Err(Fault::at(
                    line.len(),
                    "unexpected end of input: last line has no newline",
                )
                .on_line(line_no));
            }
        }
        self.parse_line(line, line_no)
    }

    /// Called after the last line: OpenMetrics requires `# EOF` as the last
    /// line; nothing else is pending in the text format.
    pub fn finish(&mut self) -> Result<(), ParseError> {
        let line = self.last_line.max(1);
        match &mut self.grammar {
            Grammar::Text(_) => Ok(()),
            Grammar::OpenMetrics(s) => s.finish().map_err(|f| f.on_line(line)),
        }
    }
}

/// Rewrites `le` values of histograms and `quantile` values of summaries
/// that parse as floats into Go float text, as Prometheus 3 does
/// (`model/textparse/openmetricsparse.go`, `normalizeFloatsInLabelValues`).
/// Allocates only for a value that changes.
fn normalize_floats(labels: &mut Labels<'_>, kind: MetricType, scratch: &mut String) {
    let target = match kind {
        MetricType::Histogram => "le",
        MetricType::Summary => "quantile",
        _ => return,
    };
    for (name, value) in labels.iter_mut() {
        if name != target || value == "+Inf" {
            continue;
        }
        if let Ok(f) = number::parse_float(value.as_bytes()) {
            scratch.clear();
            number::format_float(f, scratch);
            if *scratch != **value {
                *value = Cow::Owned(scratch.clone());
            }
        }
    }
}

/// Shows input bytes in an error message, shortened.
fn show(bytes: &[u8]) -> String {
    const MAX: usize = 40;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX)]);
    if bytes.len() > MAX {
        format!("{text:?}...")
    } else {
        format!("{text:?}")
    }
}

/// Parses a whole body at [`Strictness::Spec`]: every entry except blank
/// lines, with `_created` samples folded into start timestamps. The first
/// error fails the body.
pub fn parse(body: &[u8], format: Format) -> Result<Vec<Entry<'_>>, ParseError> {
    parse_with(body, format, Strictness::Spec)
}

/// [`parse`] at the given strictness.
pub fn parse_with(
    body: &[u8],
    format: Format,
    strictness: Strictness,
) -> Result<Vec<Entry<'_>>, ParseError> {
    let mut parser = Parser::with_strictness(format, strictness);
    let mut entries = Vec::new();
    let mut rest = body;
    let mut line_no = 0;
    while !rest.is_empty() {
        line_no += 1;
        let entry = match rest.iter().position(|&b| b == b'\n') {
            Some(end) => {
                let entry = parser.parse_line(&rest[..end], line_no)?;
                rest = &rest[end + 1..];
                entry
            }
            None => {
                let entry = parser.parse_unterminated_line(rest, line_no)?;
                rest = &[];
                entry
            }
        };
        if entry != Entry::Blank {
            entries.push(entry);
        }
    }
    parser.finish()?;
    attach_start_timestamps(&mut entries);
    Ok(entries)
}

/// Renders an entry compactly for the case tables of the format modules.
#[cfg(test)]
fn render(e: &Entry<'_>) -> String {
    let labels = |l: &Labels<'_>| {
        l.iter()
            .map(|(n, v)| format!("{n}={v:?}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    match e {
        Entry::Help { name, help } => format!("help {name} {help:?}"),
        Entry::Type { name, kind } => format!("type {name} {kind}"),
        Entry::Unit { name, unit } => format!("unit {name} {unit:?}"),
        Entry::Comment => "comment".into(),
        Entry::Blank => "blank".into(),
        Entry::Eof => "eof".into(),
        Entry::Sample(s) | Entry::Created(s) => {
            let mut out = format!(
                "{}{{{}}} {} {:?}",
                s.name,
                labels(&s.labels),
                s.value,
                s.timestamp_ms
            );
            if let Some(x) = &s.exemplar {
                out += &format!(
                    " # {{{}}} {} {:?}",
                    labels(&x.labels),
                    x.value,
                    x.timestamp_ms
                );
            }
            if matches!(e, Entry::Created(_)) {
                out += &format!(" created {:?}", s.start_timestamp_ms);
            }
            out
        }
    }
}

/// Feeds `lines` to `parse` until one fails: the rendering of the last
/// line's entry, or the reason of the failure.
#[cfg(test)]
fn run_lines(
    lines: &[&str],
    mut parse: impl for<'a> FnMut(&'a [u8]) -> Result<Entry<'a>, Fault>,
) -> Result<String, String> {
    let mut got = Err(String::from("no lines"));
    for line in lines {
        got = parse(line.as_bytes())
            .map(|e| render(&e))
            .map_err(|f| f.reason);
        if got.is_err() {
            break;
        }
    }
    got
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_display() {
        let err = ParseError {
            line: 12,
            column: Some(3),
            reason: "expected label name".into(),
        };
        assert_eq!(err.to_string(), "line 12: expected label name");
    }

    /// Whole-body outcomes: (format, strictness, body, Ok(sample count) or Err(line)).
    #[test]
    fn parse_bodies() {
        use Format::*;
        use Strictness::*;
        let cases: &[(Format, Strictness, &str, Result<usize, usize>)] = &[
            (Text, Spec, "", Ok(0)),
            (Text, Spec, "a 1\n\n  \nb 2\n", Ok(2)),
            (Text, Spec, "a 1\nb 2", Err(2)),
            (Text, Prometheus, "a 1\nb 2", Ok(2)),
            (Text, Spec, "a 1\n\t\t", Ok(1)),
            (Text, Spec, "a 1\nb{c=\"d\"} x\n", Err(2)),
            (OpenMetrics, Spec, "# EOF", Ok(0)),
            (OpenMetrics, Spec, "a 1\n# EOF\n", Ok(1)),
            (OpenMetrics, Spec, "a 1\n", Err(1)),
            (OpenMetrics, Spec, "", Err(1)),
            (OpenMetrics, Spec, "# EOF\n\n", Err(2)),
            (OpenMetrics, Spec, "a 1\n\n# EOF\n", Err(2)),
            (
                OpenMetrics,
                Prometheus,
                "# TYPE a gauge\na 1\n# HELP a x\n# EOF\n",
                Ok(1),
            ),
            (
                OpenMetrics,
                Spec,
                "# TYPE a gauge\na 1\n# HELP a x\n# EOF\n",
                Err(3),
            ),
        ];
        for (format, strictness, body, want) in cases {
            let got = parse_with(body.as_bytes(), *format, *strictness)
                .map(|entries| {
                    entries
                        .iter()
                        .filter(|e| matches!(e, Entry::Sample(_)))
                        .count()
                })
                .map_err(|e| e.line);
            assert_eq!(
                got, *want,
                "parse_with({body:?}, {format:?}, {strictness:?}): got {got:?}, want {want:?}"
            );
        }
    }

    #[test]
    fn type_names() {
        for kind in MetricType::ALL {
            let got = MetricType::from_name(kind.as_str().as_bytes());
            assert_eq!(got, Some(kind), "from_name({:?})", kind.as_str());
        }
        for name in ["", "untyped", "Counter", "gauge_histogram", "counter "] {
            let got = MetricType::from_name(name.as_bytes());
            assert_eq!(got, None, "from_name({name:?})");
        }
    }

    #[test]
    fn created_folds_into_start_timestamps() {
        let body = "# TYPE foo counter\nfoo_total 17.0\nfoo_created 1520872607.123\n\
                    # TYPE bar summary\nbar_count 17\nbar{quantile=\"0.5\"} 1\nbar_created 1520872608.124\n# EOF\n";
        let entries = parse(body.as_bytes(), Format::OpenMetrics).expect("valid body");
        let got: Vec<(String, Option<i64>, Option<i64>)> = entries
            .iter()
            .filter_map(|e| match e {
                Entry::Sample(s) => {
                    Some((s.name.to_string(), s.timestamp_ms, s.start_timestamp_ms))
                }
                Entry::Created(_) => panic!("Created entries must be folded: {e:?}"),
                _ => None,
            })
            .collect();
        let want = vec![
            ("foo_total".to_string(), None, Some(1520872607123)),
            ("bar_count".to_string(), None, Some(1520872608124)),
            ("bar".to_string(), None, Some(1520872608124)),
        ];
        assert_eq!(got, want, "input {body:?}");
    }

    #[test]
    fn never_panics_on_bytes() {
        // Every prefix and single-byte corruption of a small valid body.
        let body: &[u8] = b"# HELP a h\\n\n# TYPE a histogram\na_bucket{le=\"1\",x=\"\\\"\"} 1 # {i=\"1\"} 1 1.5\n\
                            a_bucket{le=\"+Inf\"} 2 2\na_count 2\na_sum 3\n# EOF\n";
        for format in [Format::Text, Format::OpenMetrics] {
            for strictness in [Strictness::Spec, Strictness::Prometheus] {
                for end in 0..body.len() {
                    let _ = parse_with(&body[..end], format, strictness);
                }
                for at in 0..body.len() {
                    for b in [0u8, b'"', b'\\', b'{', b'}', b' ', b'#', 0xff, 0xc3] {
                        let mut copy = body.to_vec();
                        copy[at] = b;
                        let _ = parse_with(&copy, format, strictness);
                    }
                }
            }
        }
    }

    #[test]
    fn series_identity() {
        let body = b"a{x=\"1\",y=\"\"} 1\na{x=\"1\"} 2\na{x=\"2\"} 3\nb{x=\"1\"} 4\n";
        let entries = parse(body, Format::Text).unwrap();
        let samples: Vec<&Sample> = entries
            .iter()
            .filter_map(|e| match e {
                Entry::Sample(s) => Some(s),
                _ => None,
            })
            .collect();
        let first = samples[0].series();
        assert_eq!(first.to_string(), r#"a{x="1"}"#);
        // (sample, whether it is `first`'s series)
        for (i, want) in [(0, true), (1, true), (2, false), (3, false)] {
            assert_eq!(
                samples[i].is_series(&first),
                want,
                "sample {i}: {:?}",
                samples[i]
            );
            assert_eq!(
                samples[i].series() == first,
                want,
                "sample {i}: series() disagrees"
            );
        }
    }
}
