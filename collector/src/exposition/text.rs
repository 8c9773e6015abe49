//! Prometheus text format 0.0.4, one line at a time.
//!
//! Syntax follows Prometheus' scrape parser (`model/textparse/promlex.l`,
//! `promparse.go`): blanks may surround every token, commas between labels
//! are optional, unknown escapes are kept raw, timestamps are digits only.
//! In strict mode the rules of the reference parser (`prometheus/common`
//! `expfmt/text_parse.go`) apply on top: commas required, only `\\`, `\"`
//! and `\n` escapes, signed timestamps, one HELP and one TYPE per family
//! and TYPE before the family's samples, float `le`/`quantile` values,
//! non-negative histogram counts, and a newline after the last line.

use std::borrow::Cow;
use std::collections::HashMap;

use super::lexer::{label_set, unescape, Cursor, Escapes, LabelSyntax};
use super::number::{parse_float, parse_millis};
use super::{normalize_floats, show, Entry, Fault, MetricType, Sample};

/// Cross-line state of a text-format body.
pub(super) struct State {
    strict: bool,
    /// Type of the last TYPE line, whatever its name: what Prometheus uses
    /// to decide which `le`/`quantile` values to normalise.
    last_type: MetricType,
    /// Strict mode: what each family has declared so far.
    families: HashMap<String, Family>,
    /// Strict mode: the family the last sample name resolved to; valid
    /// until the next metadata line.
    last: Option<Resolved>,
    /// Strict mode: the sample name `last` belongs to, a buffer kept across
    /// lines.
    last_name: String,
    /// Reused buffer for normalising label values.
    scratch: String,
}

#[derive(Debug, Default)]
struct Family {
    help: bool,
    kind: Option<MetricType>,
    samples: bool,
}

/// The type of the family a sample belongs to and the sample's role in
/// it; the family name is the sample name without `suffix`.
#[derive(Debug, Clone, Copy)]
struct Resolved {
    kind: MetricType,
    suffix: &'static str,
}

impl State {
    pub(super) fn new(strict: bool) -> Self {
        State {
            strict,
            last_type: MetricType::Unknown,
            families: HashMap::new(),
            last: None,
            last_name: String::new(),
            scratch: String::new(),
        }
    }

    pub(super) fn is_strict(&self) -> bool {
        self.strict
    }

    fn escapes(&self) -> Escapes {
        if self.strict {
            Escapes::Reject
        } else {
            Escapes::Keep
        }
    }

    pub(super) fn parse<'a>(&mut self, line: &'a [u8]) -> Result<Entry<'a>, Fault> {
        let mut cur = Cursor::new(line);
        cur.skip_blanks();
        match cur.peek() {
            None => Ok(Entry::Blank),
            Some(b'#') => self.comment(cur),
            Some(_) => self.sample(cur).map(Entry::Sample),
        }
    }

    /// A `#` line: HELP, TYPE or a plain comment.
    fn comment<'a>(&mut self, mut cur: Cursor<'a>) -> Result<Entry<'a>, Fault> {
        cur.advance(1);
        if cur.skip_blanks() == 0 {
            return Ok(Entry::Comment);
        }
        let help = match cur.rest() {
            r if r.starts_with(b"HELP") && matches!(r.get(4), Some(b' ' | b'\t')) => true,
            r if r.starts_with(b"TYPE") && matches!(r.get(4), Some(b' ' | b'\t')) => false,
            _ => return Ok(Entry::Comment),
        };
        let keyword = if help { "HELP" } else { "TYPE" };
        cur.advance(4);
        cur.skip_blanks();
        let name = cur.metadata_name(keyword, self.escapes())?;
        let rest = cur.rest();
        let text_at = cur.pos();
        if matches!(rest.first(), Some(b) if *b != b' ' && *b != b'\t') {
            return Err(cur.fault(format!("expected blank after metric name in {keyword}")));
        }
        let (text, text_at) = if self.strict {
            // expfmt ignores HELP and TYPE lines that end at the name.
            if rest.is_empty() {
                return Ok(Entry::Comment);
            }
            cur.skip_blanks();
            (cur.rest(), cur.pos())
        } else if rest.iter().all(|&b| b == b' ' || b == b'\t') {
            (&rest[rest.len()..], text_at + rest.len())
        } else {
            // Prometheus drops exactly one separator character.
            (&rest[1..], text_at + 1)
        };
        if help {
            let help = unescape(text, text_at, "help text", self.escapes(), false)?;
            if self.strict {
                self.last = None;
                let family = self.families.entry(name.to_string()).or_default();
                if family.help {
                    return Err(Fault::rule(format!(
                        "second HELP line for metric name {name:?}"
                    )));
                }
                family.help = true;
            }
            return Ok(Entry::Help { name, help });
        }
        let text = if self.strict {
            trim_end_blanks(text)
        } else {
            text
        };
        // The text format has five of the OpenMetrics types and calls
        // `unknown` `untyped`. expfmt knows gauge histograms (under two
        // names); Prometheus' text parser does not.
        let kind = match text {
            b"untyped" => Some(MetricType::Unknown),
            b"gauge_histogram" => Some(MetricType::GaugeHistogram),
            _ => MetricType::from_name(text).filter(|k| {
                !matches!(
                    k,
                    MetricType::Unknown | MetricType::Info | MetricType::StateSet
                )
            }),
        }
        .filter(|k| *k != MetricType::GaugeHistogram || self.strict);
        let Some(kind) = kind else {
            return Err(Fault::at(
                text_at,
                format!("invalid metric type {:?}", String::from_utf8_lossy(text)),
            ));
        };
        self.last_type = kind;
        if self.strict {
            self.last = None;
            let family = self.families.entry(name.to_string()).or_default();
            if family.kind.is_some() || family.samples {
                return Err(Fault::rule(format!(
                    "second TYPE line for metric name {name:?}, or TYPE reported after samples"
                )));
            }
            family.kind = Some(kind);
        }
        Ok(Entry::Type { name, kind })
    }

    fn sample<'a>(&mut self, mut cur: Cursor<'a>) -> Result<Sample<'a>, Fault> {
        let start = cur.pos();
        let mut name = cur.metric_name().map(Cow::Borrowed);
        if name.is_none() && cur.peek() != Some(b'{') {
            return Err(cur.fault("expected metric name or '{'"));
        }
        cur.skip_blanks();
        let mut labels = Vec::new();
        if cur.eat(b'{') {
            let syntax = LabelSyntax {
                blanks: true,
                optional_commas: !self.strict,
                name_inside: true,
                escapes: self.escapes(),
            };
            label_set(&mut cur, syntax, &mut name, &mut labels)?;
        }
        let Some(name) = name else {
            return Err(Fault::at(start, "metric name not set"));
        };
        let (value, timestamp_ms) = self.value_part(&mut cur)?;
        let mut sample = Sample {
            name,
            labels,
            value,
            timestamp_ms,
            exemplar: None,
            start_timestamp_ms: None,
        };
        let kind = if self.strict {
            self.check_family(&sample)?
        } else {
            self.last_type
        };
        normalize_floats(&mut sample.labels, kind, &mut self.scratch);
        Ok(sample)
    }

    /// The value and optional timestamp that end a sample line.
    fn value_part(&self, cur: &mut Cursor<'_>) -> Result<(f64, Option<i64>), Fault> {
        cur.skip_blanks();
        let value_at = cur.pos();
        let value = cur.token(|b| b == b' ' || b == b'\t');
        if value.is_empty() {
            return Err(cur.fault("expected value after metric"));
        }
        let value = parse_float(value)
            .map_err(|e| Fault::at(value_at, format!("{e} in value {}", show(value))))?;
        cur.skip_blanks();
        let mut timestamp_ms = None;
        if !cur.is_end() {
            let ts_at = cur.pos();
            let ts = cur.token(|b| b == b' ' || b == b'\t');
            timestamp_ms = Some(
                parse_millis(ts, self.strict)
                    .map_err(|e| Fault::at(ts_at, format!("{e}: {}", show(ts))))?,
            );
            cur.skip_blanks();
            if !cur.is_end() {
                return Err(cur.fault("expected end of line after timestamp"));
            }
        }
        Ok((value, timestamp_ms))
    }

    /// Lenient mode: where the series part (name and label set) of a
    /// sample line ends, found by a quote-aware scan without parsing, with
    /// a tag for the context that shapes its labels (the last TYPE). `None`
    /// when the line is no sample line or its shape is unusual (leading
    /// blanks, a blank between name and `{`); such lines take the full
    /// parse.
    pub(super) fn series_end(&self, line: &[u8]) -> Option<(u8, usize)> {
        if self.strict {
            return None;
        }
        let tag = self.last_type as u8;
        // The name as the full parser reads it: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
        // Whatever ends it must be a blank or `{`: `a-1 2` is the series
        // `a` with value -1, which only the full parse gets right.
        let mut i = 0;
        while i < line.len() && (line[i].is_ascii_alphanumeric() || matches!(line[i], b'_' | b':'))
        {
            i += 1;
        }
        if line.first().is_some_and(u8::is_ascii_digit) {
            return None;
        }
        match line.get(i)? {
            b' ' | b'\t' if i > 0 => {
                let next = line[i..].iter().find(|b| !matches!(b, b' ' | b'\t'));
                (next != Some(&b'{')).then_some((tag, i))
            }
            b'{' => {
                let mut quoted = false;
                i += 1;
                while i < line.len() {
                    match line[i] {
                        b'\\' if quoted => i += 1,
                        b'"' => quoted = !quoted,
                        b'}' if !quoted => return Some((tag, i + 1)),
                        _ => {}
                    }
                    i += 1;
                }
                None
            }
            _ => None,
        }
    }

    /// Lenient mode: the tag [`State::series_end`] gives lines now.
    pub(super) fn series_tag(&self) -> Option<u8> {
        (!self.strict).then_some(self.last_type as u8)
    }

    /// Lenient mode: whether a line whose first `len` bytes are a series
    /// part that [`State::series_end`] found in an earlier line with the
    /// same tag has its own series part end there too. Where the part ends
    /// in `}` the scan that found its end read only those bytes, so it
    /// ends there again. A bare name ends where a blank follows that does
    /// not lead to a `{`.
    pub(super) fn ends_series(&self, line: &[u8], len: usize) -> bool {
        if self.strict || len == 0 || len > line.len() {
            return false;
        }
        if line[len - 1] == b'}' {
            return true;
        }
        let rest = &line[len..];
        matches!(rest.first(), Some(b' ' | b'\t'))
            && rest.iter().find(|b| !matches!(b, b' ' | b'\t')) != Some(&b'{')
    }

    /// Lenient mode: parses what follows a series part that
    /// [`State::series_end`] found and an earlier line proved valid.
    pub(super) fn sample_value(
        &self,
        line: &[u8],
        end: usize,
    ) -> Result<(f64, Option<i64>), Fault> {
        let mut cur = Cursor::new(line);
        cur.advance(end);
        self.value_part(&mut cur)
    }

    /// Strict mode: finds the sample's family the way `expfmt` groups
    /// samples, records that it has samples and applies its value rules.
    fn check_family(&mut self, sample: &Sample<'_>) -> Result<MetricType, Fault> {
        let resolved = match self.last {
            Some(r) if self.last_name == sample.name => r,
            _ => {
                let r = self.resolve(&sample.name);
                self.last = Some(r);
                self.last_name.clear();
                self.last_name.push_str(&sample.name);
                r
            }
        };
        let family = || {
            sample
                .name
                .strip_suffix(resolved.suffix)
                .unwrap_or(&sample.name)
        };
        let histogram = matches!(
            resolved.kind,
            MetricType::Histogram | MetricType::GaugeHistogram
        );
        if histogram && resolved.suffix == "_bucket" {
            if let Some(le) = sample.label("le") {
                if parse_float(le.as_bytes()).is_err() {
                    return Err(Fault::rule("expected float as value for 'le' label"));
                }
            }
            if sample.value < 0.0 {
                return Err(Fault::rule(format!(
                    "negative bucket population for histogram {:?}",
                    family()
                )));
            }
        }
        if histogram && resolved.suffix == "_count" && sample.value < 0.0 {
            return Err(Fault::rule(format!(
                "negative count for histogram {:?}",
                family()
            )));
        }
        if resolved.kind == MetricType::Summary && resolved.suffix.is_empty() {
            if let Some(q) = sample.label("quantile") {
                if parse_float(q.as_bytes()).is_err() {
                    return Err(Fault::rule("expected float as value for 'quantile' label"));
                }
            }
        }
        Ok(resolved.kind)
    }

    fn resolve(&mut self, name: &str) -> Resolved {
        const SUFFIXES: [(&str, &[MetricType]); 3] = [
            (
                "_bucket",
                &[MetricType::Histogram, MetricType::GaugeHistogram],
            ),
            (
                "_count",
                &[
                    MetricType::Summary,
                    MetricType::Histogram,
                    MetricType::GaugeHistogram,
                ],
            ),
            (
                "_sum",
                &[
                    MetricType::Summary,
                    MetricType::Histogram,
                    MetricType::GaugeHistogram,
                ],
            ),
        ];
        for (suffix, kinds) in SUFFIXES {
            let Some(base) = name.strip_suffix(suffix) else {
                continue;
            };
            if let Some(family) = self.families.get_mut(base) {
                if let Some(kind) = family.kind.filter(|k| kinds.contains(k)) {
                    family.samples = true;
                    return Resolved { kind, suffix };
                }
            }
        }
        // Look up before inserting: the name is copied only for a new family.
        let kind = match self.families.get_mut(name) {
            Some(family) => {
                family.samples = true;
                family.kind
            }
            None => {
                let family = Family {
                    samples: true,
                    ..Family::default()
                };
                self.families.insert(name.to_string(), family);
                None
            }
        };
        Resolved {
            kind: kind.unwrap_or(MetricType::Unknown),
            suffix: "",
        }
    }
}

fn trim_end_blanks(s: &[u8]) -> &[u8] {
    let n = s
        .iter()
        .rev()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    &s[..s.len() - n]
}

#[cfg(test)]
mod tests {
    use super::super::{render, run_lines};
    use super::*;

    /// Each case is a sequence of lines fed to one parser; `want` is the
    /// rendering of the last line's entry or `Err` with the reason's start.
    #[test]
    fn lines() {
        let cases: &[(bool, &[&str], Result<&str, &str>)] = &[
            (false, &["a 1"], Ok("a{} 1 None")),
            (false, &["  a\t1  \t123123  "], Ok("a{} 1 Some(123123)")),
            (
                false,
                &["some:aggregate:rate5m{a_b=\"c\"}\t1"],
                Ok("some:aggregate:rate5m{a_b=\"c\"} 1 None"),
            ),
            (
                false,
                &["a { b = \"c\" d=\"e\", } -Inf"],
                Ok("a{b=\"c\",d=\"e\"} -inf None"),
            ),
            (false, &["a{b=\"c\"}1"], Ok("a{b=\"c\"} 1 None")),
            (
                false,
                &["{\"my.metric\",b=\"1,2=3\"} 4"],
                Ok("my.metric{b=\"1,2=3\"} 4 None"),
            ),
            (
                false,
                &["{b=\"c\",\"my.metric\"} 4"],
                Ok("my.metric{b=\"c\"} 4 None"),
            ),
            (
                false,
                &["a{b=\"x\\\\y\\\"z\\nw\\t\"} 1"],
                Ok("a{b=\"x\\\\y\\\"z\\nw\\\\t\"} 1 None"),
            ),
            (false, &["a{b=\"abc\0\"} 1"], Ok("a{b=\"abc\\0\"} 1 None")),
            (false, &["a -1 -2"], Err("expected integer")),
            (true, &["a -1 -2"], Ok("a{} -1 Some(-2)")),
            (false, &["a 1 2.72"], Err("expected integer")),
            (false, &["a 1 2 3"], Err("expected end of line")),
            (false, &["a"], Err("expected value")),
            (false, &["{a=\"ok\"} 1"], Err("metric name not set")),
            (false, &["a\0{b=\"c\"} 1"], Err("invalid float")),
            (false, &["a{b\0=\"c\"} 1"], Err("expected '='")),
            (false, &["foo 0x1p-3"], Err("unsupported character")),
            (false, &["a{b=\"c\"} 1e400"], Err("float out of range")),
            (false, &["#"], Ok("comment")),
            (false, &["# Hrandom"], Ok("comment")),
            (false, &["#HELP a b"], Ok("comment")),
            (false, &["# HELP"], Ok("comment")),
            (false, &["# \tTYPE a summary"], Ok("type a summary")),
            (false, &["# HELP a"], Ok("help a \"\"")),
            (false, &["# HELP a "], Ok("help a \"\"")),
            (
                false,
                &["# HELP a  two\\\\ \\n \\\""],
                Ok("help a \" two\\\\ \\n \\\\\\\"\""),
            ),
            (true, &["# HELP a  two"], Ok("help a \"two\"")),
            (true, &["# HELP a \\t"], Err("invalid escape")),
            (false, &["# HELP \"a.b\" x"], Ok("help a.b \"x\"")),
            (false, &["# HELP "], Err("expected metric name")),
            (false, &["# TYPE a gauge "], Err("invalid metric type")),
            (true, &["# TYPE a gauge "], Ok("type a gauge")),
            (
                false,
                &["# TYPE a gaugehistogram"],
                Err("invalid metric type"),
            ),
            (
                true,
                &["# TYPE a gauge_histogram"],
                Ok("type a gaugehistogram"),
            ),
            (true, &["# TYPE a"], Ok("comment")),
            (false, &["# TYPE a untyped"], Ok("type a unknown")),
            (true, &["# TYPE a untyped"], Ok("type a unknown")),
            (
                true,
                &["# TYPE a gaugehistogram"],
                Ok("type a gaugehistogram"),
            ),
            (
                false,
                &["# TYPE a gauge_histogram"],
                Err("invalid metric type"),
            ),
            (true, &["# TYPE a unknown"], Err("invalid metric type")),
            (false, &["# TYPE a info"], Err("invalid metric type")),
            (true, &["# TYPE a stateset"], Err("invalid metric type")),
            (true, &["# TYPE a Counter"], Err("invalid metric type")),
            (
                true,
                &["# TYPE a counter", "# TYPE a counter"],
                Err("second TYPE"),
            ),
            (true, &["a 1", "# TYPE a counter"], Err("second TYPE")),
            (true, &["# HELP a x", "# HELP a y"], Err("second HELP")),
            (true, &["# HELP a", "# HELP a"], Ok("comment")),
            (
                false,
                &["# TYPE a counter", "# TYPE a counter"],
                Ok("type a counter"),
            ),
            (
                false,
                &["# TYPE h histogram", "h_bucket{le=\"1\"} 1"],
                Ok("h_bucket{le=\"1.0\"} 1 None"),
            ),
            (
                false,
                &["# TYPE h histogram", "x{le=\"1\"} 1"],
                Ok("x{le=\"1.0\"} 1 None"),
            ),
            (
                true,
                &["# TYPE h histogram", "x{le=\"1\"} 1"],
                Ok("x{le=\"1\"} 1 None"),
            ),
            (
                false,
                &["# TYPE s summary", "s{quantile=\"0\"} 1"],
                Ok("s{quantile=\"0.0\"} 1 None"),
            ),
            (
                false,
                &["# TYPE c counter", "c{le=\"10\"} 1"],
                Ok("c{le=\"10\"} 1 None"),
            ),
            (
                true,
                &["# TYPE h histogram", "h_bucket{le=\"bla\"} 1"],
                Err("expected float"),
            ),
            (
                false,
                &["# TYPE h histogram", "h_bucket{le=\"bla\"} 1"],
                Ok("h_bucket{le=\"bla\"} 1 None"),
            ),
            (
                true,
                &["# TYPE s summary", "s{quantile=\"x\"} 1"],
                Err("expected float"),
            ),
            (
                true,
                &["# TYPE h histogram", "h_count -1"],
                Err("negative count for histogram \"h\""),
            ),
            (
                true,
                &["# TYPE h histogram", "h_bucket{le=\"1\"} -1"],
                Err("negative bucket population for histogram \"h\""),
            ),
            (
                true,
                &[
                    "# TYPE h gauge_histogram",
                    "h_bucket{le=\"1\"} 1",
                    "h_bucket{le=\"2\"} -1",
                ],
                Err("negative bucket population for histogram \"h\""),
            ),
            (
                true,
                &["# TYPE h histogram", "h_count 1", "h_count -1"],
                Err("negative count for histogram \"h\""),
            ),
            (true, &["a{b=\"c\" d=\"e\"} 1"], Err("expected ','")),
            (true, &["a{b=\"\\t\"} 1"], Err("invalid escape")),
        ];
        for (strict, lines, want) in cases {
            let mut state = State::new(*strict);
            let got = run_lines(lines, |line| state.parse(line));
            let ok = match (&got, want) {
                (Ok(g), Ok(w)) => g == w,
                (Err(g), Err(w)) => g.starts_with(w),
                _ => false,
            };
            assert!(
                ok,
                "strict={strict} input {lines:?}: got {got:?}, want {want:?}"
            );
        }
    }

    #[test]
    fn invalid_bytes() {
        let cases: &[(&[u8], &str)] = &[
            (b"a{b=\"\xff\"} 1", "invalid UTF-8"),
            (b"a{\xff=\"foo\"} 1", "expected label name"),
            (b"# HELP a \xc3", "invalid UTF-8"),
            (b"\xff 1", "expected metric name"),
        ];
        for (input, want) in cases {
            let got = State::new(false)
                .parse(input)
                .map(|e| render(&e))
                .map_err(|f| f.reason);
            assert!(
                matches!(&got, Err(r) if r.starts_with(want)),
                "input {:?}: got {got:?}, want Err({want:?})",
                String::from_utf8_lossy(input)
            );
        }
    }
}

#[cfg(test)]
mod fast_path {
    use super::super::{Entry, Format, Parser, Strictness};

    /// The series part of a line that parsed cleanly, followed by any
    /// value part, parses to the same value and timestamp by both paths,
    /// and fails on both when it fails on one.
    #[test]
    fn agrees_with_the_full_parse() {
        let series = [
            "a",
            "a{}",
            "a{b=\"c\"}",
            "a{b=\"c\",}",
            "a{b=\"c\" d=\"e\"}",
            "a{b=\"x } y\"}",
            "a{b=\"q\\\"}\\\\\"}",
            "a{b=\"\\n\\t\"}",
            "{\"my.metric\",b=\"c\"}",
            "a_bucket{le=\"1\"}",
            "a_bucket{le=\"1.0e1\"}",
            "x:y:z",
        ];
        let tails = [
            " 1",
            "\t1",
            " 1 2",
            " 1 2 3",
            "1",
            " x",
            "",
            " ",
            " 1e3 -5",
            " NaN",
            " +Inf 12",
            " 1 1.5",
            "  -0.5\t 99  ",
            " 0x1f",
            " 1 ",
            "{c=\"d\"} 1",
            " {c=\"d\"} 1",
            "} 1",
            "-1 2",
            ".5 7",
            "+Inf 3",
            "x 1",
        ];
        for kind in ["", "# TYPE a_bucket histogram"] {
            for s in series {
                let mut p = Parser::with_strictness(Format::Text, Strictness::Prometheus);
                if !kind.is_empty() {
                    p.parse_line(kind.as_bytes(), 1).unwrap();
                }
                let base = format!("{s} 7");
                let Ok(Entry::Sample(first)) = p.parse_line(base.as_bytes(), 2) else {
                    panic!("{base:?} should parse");
                };
                let first_labels = first.series();
                let (_, end) = p.series_end(base.as_bytes()).expect(&base);
                assert_eq!(&base[..end], s, "series part of {base:?}");
                for t in tails {
                    let line = format!("{s}{t}");
                    // The cache's guess says the part ends where the
                    // scan would end it, without scanning.
                    assert_eq!(
                        p.ends_series(line.as_bytes(), s.len()),
                        p.series_end(line.as_bytes()).map(|(_, end)| end) == Some(s.len()),
                        "{line:?}"
                    );
                    let Some((_, end)) = p.series_end(line.as_bytes()) else {
                        continue;
                    };
                    if line.as_bytes()[..end] != *s.as_bytes() {
                        continue;
                    }
                    let full = p.parse_line(line.as_bytes(), 3);
                    let fast = p.sample_value(line.as_bytes(), end, 3);
                    match (full, fast) {
                        (Ok(Entry::Sample(f)), Ok((v, ts))) => {
                            assert_eq!(f.series(), first_labels, "{line:?}");
                            assert_eq!(
                                (f.value.to_bits(), f.timestamp_ms),
                                (v.to_bits(), ts),
                                "{line:?}"
                            );
                        }
                        (Err(a), Err(b)) => {
                            assert_eq!(a.to_string(), b.to_string(), "{line:?}")
                        }
                        (a, b) => panic!("{line:?}: full {a:?}, fast {b:?}"),
                    }
                }
            }
        }
    }

    #[test]
    fn unusual_shapes_take_the_full_parse() {
        let p = Parser::with_strictness(Format::Text, Strictness::Prometheus);
        for line in [
            "",
            " a 1",
            "# HELP a b",
            "a {b=\"c\"} 1",
            "a{b=\"c\" 1",
            "a",
            "a-1 2",
            "a.5 7",
            "a+Inf 3",
            "1a 2",
        ] {
            assert_eq!(p.series_end(line.as_bytes()), None, "{line:?}");
        }
        let strict = Parser::with_strictness(Format::Text, Strictness::Spec);
        assert_eq!(strict.series_end(b"a 1"), None);
        let om = Parser::with_strictness(Format::OpenMetrics, Strictness::Prometheus);
        assert_eq!(om.series_end(b"a 1"), None);
    }
}
