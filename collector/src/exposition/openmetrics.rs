//! OpenMetrics 1.0 text, one line at a time.
//!
//! Syntax follows the OpenMetrics ABNF as Prometheus' scrape parser reads
//! it (`model/textparse/openmetricslex.l`, `openmetricsparse.go`): single
//! spaces as separators, no blanks inside braces, no comments other than
//! HELP, TYPE, UNIT and the final `# EOF`, no blank lines, timestamps in
//! seconds. In strict mode [`Families`] applies the family rules of the
//! spec on top.

use std::borrow::Cow;

use super::family::Families;
use super::lexer::{label_set, unescape, Cursor, Escapes, LabelSyntax};
use super::number::{parse_float, parse_seconds, Seconds};
use super::{normalize_floats, show, Entry, Exemplar, Fault, MetricType, Sample};

const LABELS: LabelSyntax = LabelSyntax {
    blanks: false,
    optional_commas: false,
    name_inside: true,
    escapes: Escapes::Keep,
};
const EXEMPLAR_LABELS: LabelSyntax = LabelSyntax {
    blanks: false,
    optional_commas: false,
    name_inside: false,
    escapes: Escapes::Keep,
};

/// Cross-line state of an OpenMetrics body.
pub(super) struct State {
    /// Strict mode: the family rules; `None` at Prometheus strictness.
    families: Option<Families>,
    eof: bool,
    /// Name of the last metadata line and type of the last TYPE line, the
    /// family context Prometheus keeps: `_created` detection and label
    /// normalisation at Prometheus strictness use them.
    meta_name: String,
    last_type: MetricType,
    /// Reused buffer for normalising label values.
    scratch: String,
}

impl State {
    pub(super) fn new(strict: bool) -> Self {
        State {
            families: strict.then(Families::new),
            eof: false,
            meta_name: String::new(),
            last_type: MetricType::Unknown,
            scratch: String::new(),
        }
    }

    pub(super) fn finish(&mut self) -> Result<(), Fault> {
        if self.eof {
            Ok(())
        } else {
            Err(Fault::rule("data does not end with # EOF"))
        }
    }

    pub(super) fn parse<'a>(&mut self, line: &'a [u8]) -> Result<Entry<'a>, Fault> {
        if self.eof {
            return Err(Fault::at(0, "unexpected data after # EOF"));
        }
        if line == b"# EOF" {
            self.eof = true;
            if let Some(families) = &mut self.families {
                families.close()?;
            }
            return Ok(Entry::Eof);
        }
        match line.first() {
            None => Err(Fault::at(0, "blank lines are not allowed in OpenMetrics")),
            Some(b'#') => self.metadata(line),
            Some(_) => self.sample(line),
        }
    }

    fn metadata<'a>(&mut self, line: &'a [u8]) -> Result<Entry<'a>, Fault> {
        let mut cur = Cursor::new(line);
        let keyword = if cur.eat_str(b"# HELP ") {
            "HELP"
        } else if cur.eat_str(b"# TYPE ") {
            "TYPE"
        } else if cur.eat_str(b"# UNIT ") {
            "UNIT"
        } else {
            return Err(Fault::at(
                0,
                "expected '# HELP ', '# TYPE ', '# UNIT ' or '# EOF' (OpenMetrics has no comments)",
            ));
        };
        let name = cur.metadata_name(keyword, Escapes::Keep)?;
        if !cur.eat(b' ') {
            return Err(cur.fault(format!(
                "expected space and text after metric name in {keyword}"
            )));
        }
        let text_at = cur.pos();
        let text = cur.rest();
        let entry = match keyword {
            "HELP" => Entry::Help {
                name,
                help: unescape(text, text_at, "help text", Escapes::Keep, true)?,
            },
            "TYPE" => {
                let Some(kind) = MetricType::from_name(text) else {
                    return Err(Fault::at(
                        text_at,
                        format!("invalid metric type {}", show(text)),
                    ));
                };
                self.last_type = kind;
                Entry::Type { name, kind }
            }
            _ => {
                let unit = std::str::from_utf8(text)
                    .map_err(|e| Fault::at(text_at + e.valid_up_to(), "invalid UTF-8 in unit"))?;
                let suffixed = name.len() > unit.len()
                    && name.ends_with(unit)
                    && name.as_bytes()[name.len() - unit.len() - 1] == b'_';
                if !unit.is_empty() && !suffixed {
                    return Err(Fault::at(
                        text_at,
                        format!("unit {unit:?} not a suffix of metric {name:?}"),
                    ));
                }
                Entry::Unit {
                    name,
                    unit: Cow::Borrowed(unit),
                }
            }
        };
        if let Some(families) = &mut self.families {
            families.metadata(&entry)?;
        }
        self.meta_name.clear();
        if let Entry::Help { name, .. } | Entry::Type { name, .. } | Entry::Unit { name, .. } =
            &entry
        {
            self.meta_name.push_str(name);
        }
        Ok(entry)
    }

    fn sample<'a>(&mut self, line: &'a [u8]) -> Result<Entry<'a>, Fault> {
        let mut cur = Cursor::new(line);
        let mut name = cur.metric_name().map(Cow::Borrowed);
        if name.is_none() && cur.peek() != Some(b'{') {
            return Err(cur.fault("expected metric name, '{', or '#'"));
        }
        let mut labels = Vec::new();
        if cur.eat(b'{') {
            label_set(&mut cur, LABELS, &mut name, &mut labels)?;
        }
        let Some(name) = name else {
            return Err(Fault::at(0, "metric name not set"));
        };
        if !cur.eat(b' ') {
            return Err(cur.fault("expected a space and the value after the metric"));
        }
        let (value, value_text) = value_at(&mut cur, "value")?;
        let mut seconds = None;
        let mut exemplar = None;
        if cur.eat(b' ') {
            if cur.rest().starts_with(b"# ") {
                exemplar = Some(exemplar_at(&mut cur)?);
            } else {
                seconds = Some(timestamp_at(&mut cur, "timestamp")?);
                if cur.eat(b' ') {
                    if !cur.rest().starts_with(b"# ") {
                        return Err(cur.fault("expected '# {' (an exemplar) after the timestamp"));
                    }
                    exemplar = Some(exemplar_at(&mut cur)?);
                }
            }
        }
        if !cur.is_end() {
            return Err(cur.fault("expected end of line"));
        }
        let mut sample = Sample {
            name,
            labels,
            value,
            timestamp_ms: seconds.map(|s| s.millis),
            exemplar,
            start_timestamp_ms: None,
        };
        let (kind, created) = match &mut self.families {
            Some(families) => families.sample(&sample, seconds.map(|s| s.nanos))?,
            None => {
                let created = self.last_type.has_created()
                    && sample.name.strip_suffix("_created") == Some(self.meta_name.as_str());
                (self.last_type, created)
            }
        };
        normalize_floats(&mut sample.labels, kind, &mut self.scratch);
        if created {
            // The value is the start time in seconds; read it exactly.
            sample.start_timestamp_ms = parse_seconds(value_text).ok().map(|s| s.millis);
            return Ok(Entry::Created(sample));
        }
        Ok(Entry::Sample(sample))
    }
}

/// Parses `# {labels} value [timestamp]` at the cursor.
fn exemplar_at<'a>(cur: &mut Cursor<'a>) -> Result<Exemplar<'a>, Fault> {
    if !cur.eat_str(b"# {") {
        return Err(cur.fault("expected '# {' to start an exemplar"));
    }
    let mut labels = Vec::new();
    let mut no_name = None;
    label_set(cur, EXEMPLAR_LABELS, &mut no_name, &mut labels)?;
    if !cur.eat(b' ') {
        return Err(cur.fault("expected a space and the value after exemplar labels"));
    }
    let (value, _) = value_at(cur, "exemplar value")?;
    let mut timestamp_ms = None;
    if cur.eat(b' ') {
        timestamp_ms = Some(timestamp_at(cur, "exemplar timestamp")?.millis);
    }
    Ok(Exemplar {
        labels,
        value,
        timestamp_ms,
    })
}

/// Parses a value up to the next space; `what` names it in errors. Returns
/// the text too.
fn value_at<'a>(cur: &mut Cursor<'a>, what: &str) -> Result<(f64, &'a [u8]), Fault> {
    let at = cur.pos();
    let text = cur.token(|b| b == b' ');
    let value =
        parse_float(text).map_err(|e| Fault::at(at, format!("{e} in {what} {}", show(text))))?;
    Ok((value, text))
}

/// Parses a timestamp in seconds up to the next space; `what` names it in
/// errors.
fn timestamp_at(cur: &mut Cursor<'_>, what: &str) -> Result<Seconds, Fault> {
    let at = cur.pos();
    let text = cur.token(|b| b == b' ');
    parse_seconds(text).map_err(|e| Fault::at(at, format!("invalid {what} {}: {e}", show(text))))
}

#[cfg(test)]
mod tests {
    use super::super::run_lines;
    use super::*;

    /// Lines fed to one Prometheus-strictness parser; `want` renders the
    /// last line's entry, or is `Err` with the reason's start.
    #[test]
    fn lines() {
        let cases: &[(&[&str], Result<&str, &str>)] = &[
            (&["a 1"], Ok("a{} 1 None")),
            (&["a 1 123.123"], Ok("a{} 1 Some(123123)")),
            (&["a 1 1793469601.237"], Ok("a{} 1 Some(1793469601237)")),
            (&["a{b=\"c\",} 1 -1.5"], Ok("a{b=\"c\"} 1 Some(-1500)")),
            (&["a{b=\"\\z\"} 1"], Ok("a{b=\"\\\\z\"} 1 None")),
            (&["{\"a.b\",c=\"d\"} 1"], Ok("a.b{c=\"d\"} 1 None")),
            (
                &["a_total 1 # {id=\"x\"} 4"],
                Ok("a_total{} 1 None # {id=\"x\"} 4 None"),
            ),
            (
                &["a_total 1 2 # {id=\"x\"} 4 1.5"],
                Ok("a_total{} 1 Some(2000) # {id=\"x\"} 4 Some(1500)"),
            ),
            (
                &["a_total{foo=\"} foo # bar # \"} 1"],
                Ok("a_total{foo=\"} foo # bar # \"} 1 None"),
            ),
            (
                &["# HELP a x \\\" \\n \\\\ \\t"],
                Ok("help a \"x \\\" \\n \\\\ \\\\t\""),
            ),
            (&["# HELP a "], Ok("help a \"\"")),
            (
                &["# UNIT a_seconds seconds"],
                Ok("unit a_seconds \"seconds\""),
            ),
            (&["# UNIT a "], Ok("unit a \"\"")),
            (&["# TYPE a counter", "a_total 1"], Ok("a_total{} 1 None")),
            (
                &["# TYPE a counter", "a_created 1520872607.123"],
                Ok("a_created{} 1520872607.123 None created Some(1520872607123)"),
            ),
            (&["# TYPE a gauge", "a_created 5"], Ok("a_created{} 5 None")),
            (
                &["# TYPE h histogram", "h_bucket{le=\"1\"} 1"],
                Ok("h_bucket{le=\"1.0\"} 1 None"),
            ),
            (
                &["# TYPE h gaugehistogram", "h_bucket{le=\"1\"} 1"],
                Ok("h_bucket{le=\"1\"} 1 None"),
            ),
            (&["# TYPE a untyped"], Err("invalid metric type")),
            (&["# TYPE a gauge_histogram"], Err("invalid metric type")),
            (&["# TYPE a Counter"], Err("invalid metric type")),
            (&["# TYPE a stateset"], Ok("type a stateset")),
            (&["# TYPE a counter "], Err("invalid metric type")),
            (&["# TYPE a  counter"], Err("invalid metric type")),
            (&["# TYPE a"], Err("expected space")),
            (&["# TYPE a\t"], Err("expected space")),
            (&["# HELP a"], Err("expected space")),
            (&["# HELP "], Err("expected metric name")),
            (&["# UNIT m suffix"], Err("unit \"suffix\" not a suffix")),
            (
                &["# UNIT seconds seconds"],
                Err("unit \"seconds\" not a suffix"),
            ),
            (&["#  TYPE a counter"], Err("expected '# HELP '")),
            (&["# random comment"], Err("expected '# HELP '")),
            (&["#"], Err("expected '# HELP '")),
            (&["# EOF "], Err("expected '# HELP '")),
            (&[""], Err("blank lines")),
            (&[" a 1"], Err("expected metric name")),
            (&["9"], Err("expected metric name")),
            (&["a\t1"], Err("expected a space")),
            (&["a  1"], Err("invalid float")),
            (&["a 1 "], Err("invalid timestamp")),
            (&["a 1 2 "], Err("expected '# {'")),
            (&["a 1 2 #"], Err("expected '# {'")),
            (&["a 1 Inf"], Err("invalid timestamp")),
            (&["a 1 NaN"], Err("invalid timestamp")),
            (&["a 1 1_2"], Err("invalid timestamp")),
            (&["a 1z"], Err("invalid float in value \"1z\"")),
            (
                &["a_total 1 # {} 1z"],
                Err("invalid float in exemplar value \"1z\""),
            ),
            (&["a 1 1z"], Err("invalid timestamp \"1z\": invalid float")),
            (
                &["a_total 1 # {} 1 1z"],
                Err("invalid exemplar timestamp \"1z\": invalid float"),
            ),
            (&["a{b=\"c\" } 1"], Err("expected ','")),
            (&["a{b=\"c\"}1"], Err("expected a space")),
            (&["a_total 1 # {aa=\"bb\"}"], Err("expected a space")),
            (&["a_total 1 # {aa=\"bb\"} "], Err("invalid float")),
            (&["a_total 1 # {bb}"], Err("expected '='")),
            (&["a_total 1 # {\"bb\"} 1"], Err("expected '='")),
            (
                &["a_total 1 # {aa=\"bb\"} 1 -Inf"],
                Err("invalid exemplar timestamp"),
            ),
            (
                &["a_total 1 # {aa=\"bb\"} 1 1 "],
                Err("expected end of line"),
            ),
            (&["a_total 1 #{} 1"], Err("invalid timestamp")),
            (&["a_total 1 1 # id=\"a\"} 1"], Err("expected '# {'")),
            (&["{b=\"c\",} 1"], Err("metric name not set")),
            (&["a{b=\0\"x\"} 1"], Err("expected label value")),
            (&["a{b=\"\0x\"} 1"], Ok("a{b=\"\\0x\"} 1 None")),
            (&["# EOF", "a 1"], Err("unexpected data after # EOF")),
            (&["# EOF"], Ok("eof")),
        ];
        for (lines, want) in cases {
            let mut state = State::new(false);
            let got = run_lines(lines, |line| state.parse(line));
            let ok = match (&got, want) {
                (Ok(g), Ok(w)) => g == w,
                (Err(g), Err(w)) => g.starts_with(w),
                _ => false,
            };
            assert!(ok, "input {lines:?}: got {got:?}, want {want:?}");
        }
    }

    #[test]
    fn finish_requires_eof() {
        let mut state = State::new(false);
        state.parse(b"a 1").expect("sample line");
        let got = state.finish().map_err(|f| f.reason);
        assert_eq!(
            got,
            Err("data does not end with # EOF".to_string()),
            "input [\"a 1\"]"
        );
        state.parse(b"# EOF").expect("eof line");
        assert_eq!(state.finish(), Ok(()), "input [\"a 1\", \"# EOF\"]");
    }
}
