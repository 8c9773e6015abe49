//! The OpenMetrics 1.0 metric-family rules, checked across lines at
//! [`Strictness::Spec`](super::Strictness::Spec).
//!
//! Mirrors what the OpenMetrics conformance suite tests (its reference is
//! the Python client's `prometheus_client/openmetrics/parser.py`):
//!
//! - a family is opened by metadata or by a sample whose name none of the
//!   current family's suffixes explain; its names (with the suffixes of its
//!   type) must not clash with an earlier family's, so families cannot
//!   interleave;
//! - at most one HELP, TYPE and UNIT per family, all before its samples; no
//!   UNIT on info and stateset;
//! - the samples of one label set (ignoring `le`, `quantile` and the
//!   stateset label) are contiguous, all with or all without timestamps,
//!   which do not go backwards; all samples of an info family count as one
//!   label set whatever their labels, and only for info may timestamps go
//!   backwards;
//! - counter-like samples are neither NaN nor negative, bucket and count
//!   values are integers, stateset values 0 or 1, info values 1, quantiles
//!   in `[0, 1]`;
//! - histogram buckets increase in `le` and value, end at `+Inf`, agree with
//!   `_count`; `_sum` needs `_count` and no negative buckets;
//! - exemplars only on histogram buckets and counter `_total`, with at most
//!   128 characters of label names and values.
//!
//! Label sets are remembered as 128-bit hashes, so memory grows with the
//! number of label sets of the current family, not with their size.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use super::number::parse_float;
use super::{Entry, Fault, Labels, MetricType, Sample};

/// Families seen so far and the open one.
pub(super) struct Families {
    /// Every sample name an earlier or the current family may use.
    claimed: HashSet<String>,
    current: Option<Family>,
}

struct Family {
    name: String,
    kind: Option<MetricType>,
    help: bool,
    unit: Option<String>,
    samples: bool,
    /// Key and timestamp (ns) of the last sample's label set.
    group: Option<(u128, Option<i128>)>,
    seen_groups: HashSet<u128>,
    /// Histogram checks of the current label set and timestamp.
    run: Option<Run>,
}

#[derive(Debug)]
struct Run {
    key: u128,
    ts: Option<i128>,
    count: Option<f64>,
    last_le: Option<f64>,
    last_value: f64,
    negative_buckets: bool,
    sum: bool,
    gsum: bool,
    negative_gsum: bool,
}

impl Families {
    pub(super) fn new() -> Self {
        Families {
            claimed: HashSet::new(),
            current: None,
        }
    }

    /// Applies the rules to a HELP, TYPE or UNIT entry.
    pub(super) fn metadata(&mut self, entry: &Entry<'_>) -> Result<(), Fault> {
        let name = match entry {
            Entry::Help { name, .. } | Entry::Type { name, .. } | Entry::Unit { name, .. } => {
                name.as_ref()
            }
            _ => return Ok(()),
        };
        let f = match &mut self.current {
            Some(f) if f.name == name => {
                if f.samples {
                    return Err(Fault::rule(format!(
                        "metadata for {name:?} after its samples"
                    )));
                }
                f
            }
            _ => {
                self.close()?;
                self.open(name)?
            }
        };
        match entry {
            Entry::Help { .. } => {
                if f.help {
                    return Err(Fault::rule(format!("more than one HELP for {name:?}")));
                }
                f.help = true;
            }
            Entry::Type { kind, .. } => {
                if f.kind.is_some() {
                    return Err(Fault::rule(format!("more than one TYPE for {name:?}")));
                }
                f.kind = Some(*kind);
                check_unit(name, *kind, f.unit.as_deref())?;
                for suffix in suffixes(Some(*kind)).iter().filter(|s| !s.is_empty()) {
                    let full = format!("{name}{suffix}");
                    if !self.claimed.insert(full.clone()) {
                        return Err(Fault::rule(format!(
                            "name {full:?} of {kind} {name:?} clashes with an earlier family"
                        )));
                    }
                }
            }
            Entry::Unit { unit, .. } => {
                if f.unit.is_some() {
                    return Err(Fault::rule(format!("more than one UNIT for {name:?}")));
                }
                check_unit(name, f.kind.unwrap_or(MetricType::Unknown), Some(unit))?;
                f.unit = Some(unit.to_string());
            }
            _ => {}
        }
        Ok(())
    }

    /// Applies the rules to a sample with its timestamp in nanoseconds.
    /// Returns the family's type and whether the sample is its `_created`.
    pub(super) fn sample(
        &mut self,
        s: &Sample<'_>,
        ts: Option<i128>,
    ) -> Result<(MetricType, bool), Fault> {
        let suffix = self.current.as_ref().and_then(|f| f.suffix_of(&s.name));
        let (f, suffix) = match (&mut self.current, suffix) {
            (Some(f), Some(suffix)) => (f, suffix),
            _ => {
                self.close()?;
                // A family opened by a sample has no type, so the sample's
                // own name is the family name and its suffix is empty.
                (self.open(&s.name)?, "")
            }
        };
        f.samples = true;
        let kind = f.kind.unwrap_or(MetricType::Unknown);
        let name = f.name.as_str();
        let histogram = matches!(kind, MetricType::Histogram | MetricType::GaugeHistogram);
        let bucket = histogram && suffix == "_bucket";
        let quantile = kind == MetricType::Summary && suffix.is_empty();

        if kind == MetricType::StateSet && s.label(name).is_none() {
            return Err(Fault::rule(format!(
                "stateset {name:?} sample without a {name:?} label"
            )));
        }
        let mut le = None;
        if bucket {
            let text = s.label("le").unwrap_or("NaN");
            let v = parse_float(text.as_bytes()).ok().filter(|v| !v.is_nan());
            le = match v {
                Some(v) if v == f64::INFINITY && text != "+Inf" => None,
                v => v,
            };
            if le.is_none() {
                return Err(Fault::rule(format!(
                    "invalid le label {text:?} on {:?}",
                    s.name
                )));
            }
        }
        if (bucket || suffix == "_count" || suffix == "_gcount")
            && !(s.value.is_finite() && s.value.fract() == 0.0)
        {
            return Err(Fault::rule(format!(
                "{:?} value {} is not an integer",
                s.name, s.value
            )));
        }
        if quantile {
            let q = s
                .label("quantile")
                .and_then(|q| parse_float(q.as_bytes()).ok());
            if !q.is_some_and(|q| (0.0..=1.0).contains(&q)) {
                return Err(Fault::rule(format!(
                    "summary {name:?} sample needs a quantile label in [0, 1]"
                )));
            }
        }

        let skip = match kind {
            MetricType::Summary if quantile => Some("quantile"),
            MetricType::StateSet => Some(name),
            _ if bucket => Some("le"),
            _ => None,
        };
        let key = if kind == MetricType::Info {
            0
        } else {
            label_set_key(&s.labels, skip)
        };
        if let Some((prev, prev_ts)) = f.group {
            if key != prev && f.seen_groups.contains(&key) {
                return Err(Fault::rule(format!(
                    "samples of one label set of {name:?} are not together"
                )));
            }
            if key == prev {
                if ts.is_some() != prev_ts.is_some() {
                    return Err(Fault::rule(format!(
                        "samples of one label set of {name:?} mix timestamps and none"
                    )));
                }
                if let (Some(p), Some(t)) = (prev_ts, ts) {
                    if p > t && kind != MetricType::Info {
                        return Err(Fault::rule(format!(
                            "timestamps of one label set of {name:?} go backwards"
                        )));
                    }
                }
            }
        }
        if f.group.is_none_or(|(prev, _)| prev != key) {
            f.seen_groups.insert(key);
        }
        f.group = Some((key, ts));

        let v = s.value;
        if kind == MetricType::StateSet && v != 0.0 && v != 1.0 {
            return Err(Fault::rule(format!(
                "stateset {name:?} value {v} is not 0 or 1"
            )));
        }
        if kind == MetricType::Info && v != 1.0 {
            return Err(Fault::rule(format!("info {name:?} value {v} is not 1")));
        }
        if quantile && v < 0.0 {
            return Err(Fault::rule(format!(
                "summary {name:?} quantile value {v} is negative"
            )));
        }
        let counter_like = matches!(
            suffix,
            "_total" | "_sum" | "_count" | "_bucket" | "_gcount" | "_gsum"
        );
        if counter_like && v.is_nan() {
            return Err(Fault::rule(format!(
                "{:?} is counter-like and cannot be NaN",
                s.name
            )));
        }
        if counter_like && suffix != "_gsum" && v < 0.0 {
            return Err(Fault::rule(format!(
                "{:?} is counter-like and cannot be negative",
                s.name
            )));
        }
        if let Some(x) = &s.exemplar {
            let allowed = bucket || (kind == MetricType::Counter && suffix == "_total");
            if !allowed {
                return Err(Fault::rule(format!(
                    "exemplar on {:?}: only histogram buckets and counters have them",
                    s.name
                )));
            }
            let chars: usize = x
                .labels
                .iter()
                .map(|(n, v)| n.chars().count() + v.chars().count())
                .sum();
            if chars > 128 {
                return Err(Fault::rule(format!(
                    "exemplar labels of {:?} have {chars} characters, more than 128",
                    s.name
                )));
            }
        }
        if histogram && !suffix.is_empty() {
            f.histogram_sample(key, ts, suffix, le, v)?;
        }
        Ok((kind, kind.has_created() && suffix == "_created"))
    }

    /// Opens family `name` and returns it.
    fn open(&mut self, name: &str) -> Result<&mut Family, Fault> {
        if !self.claimed.insert(name.to_string()) {
            return Err(Fault::rule(format!(
                "family {name:?} clashes with an earlier family or appears twice"
            )));
        }
        Ok(self.current.insert(Family {
            name: name.to_string(),
            kind: None,
            help: false,
            unit: None,
            samples: false,
            group: None,
            seen_groups: HashSet::new(),
            run: None,
        }))
    }

    /// Closes the open family, if any: when the next one opens and at
    /// `# EOF`. Checks its last histogram run.
    pub(super) fn close(&mut self) -> Result<(), Fault> {
        match self.current.take() {
            Some(mut f) => match f.run.take() {
                Some(run) => run.check(&f.name),
                None => Ok(()),
            },
            None => Ok(()),
        }
    }
}

impl Family {
    /// The suffix by which `sample` belongs to this family, if it does.
    fn suffix_of<'s>(&self, sample: &'s str) -> Option<&'s str> {
        let suffix = sample.strip_prefix(self.name.as_str())?;
        suffixes(self.kind).contains(&suffix).then_some(suffix)
    }

    fn histogram_sample(
        &mut self,
        key: u128,
        ts: Option<i128>,
        suffix: &str,
        le: Option<f64>,
        v: f64,
    ) -> Result<(), Fault> {
        if self
            .run
            .as_ref()
            .is_some_and(|r| r.key != key || r.ts != ts)
        {
            if let Some(run) = self.run.take() {
                run.check(&self.name)?;
            }
        }
        let run = self.run.get_or_insert(Run {
            key,
            ts,
            count: None,
            last_le: None,
            last_value: 0.0,
            negative_buckets: false,
            sum: false,
            gsum: false,
            negative_gsum: false,
        });
        match suffix {
            "_bucket" => {
                let le = le.unwrap_or(f64::NAN);
                if le < 0.0 {
                    run.negative_buckets = true;
                }
                if run.last_le.is_some_and(|prev| le <= prev) {
                    return Err(Fault::rule(format!(
                        "histogram {:?}: buckets out of order",
                        self.name
                    )));
                }
                if v < run.last_value {
                    return Err(Fault::rule(format!(
                        "histogram {:?}: bucket values decrease",
                        self.name
                    )));
                }
                run.last_le = Some(le);
                run.last_value = v;
            }
            "_count" | "_gcount" => run.count = Some(v),
            "_sum" => run.sum = true,
            "_gsum" => {
                run.gsum = true;
                run.negative_gsum |= v < 0.0;
            }
            _ => {}
        }
        Ok(())
    }
}

impl Run {
    fn check(&self, name: &str) -> Result<(), Fault> {
        let fail = |why: &str| Err(Fault::rule(format!("histogram {name:?}: {why}")));
        if self.last_le != Some(f64::INFINITY) {
            return fail("+Inf bucket missing");
        }
        if self.count.is_some_and(|c| c != self.last_value) {
            return fail("count does not match the +Inf bucket");
        }
        if self.sum && self.count.is_none() {
            return fail("_count must be present if _sum is present");
        }
        if self.gsum && self.count.is_none() {
            return fail("_gcount must be present if _gsum is present");
        }
        if !(self.sum || self.gsum) && self.count.is_some() {
            return fail("_sum or _gsum must be present if the count is present");
        }
        if self.negative_buckets && self.sum {
            return fail("_sum is not allowed with negative buckets");
        }
        if !self.negative_buckets && self.negative_gsum {
            return fail("negative _gsum needs negative buckets");
        }
        Ok(())
    }
}

/// The sample-name suffixes of a family of the given type.
fn suffixes(kind: Option<MetricType>) -> &'static [&'static str] {
    match kind {
        Some(MetricType::Counter) => &["_total", "_created"],
        Some(MetricType::Summary) => &["", "_count", "_sum", "_created"],
        Some(MetricType::Histogram) => &["_count", "_sum", "_bucket", "_created"],
        Some(MetricType::GaugeHistogram) => &["_gcount", "_gsum", "_bucket"],
        Some(MetricType::Info) => &["_info"],
        _ => &[""],
    }
}

fn check_unit(name: &str, kind: MetricType, unit: Option<&str>) -> Result<(), Fault> {
    if unit.is_some_and(|u| !u.is_empty())
        && matches!(kind, MetricType::Info | MetricType::StateSet)
    {
        return Err(Fault::rule(format!("{kind} {name:?} cannot have a unit")));
    }
    Ok(())
}

/// An order-independent 128-bit key of a label set, leaving out `skip`.
pub(super) fn label_set_key(labels: &Labels<'_>, skip: Option<&str>) -> u128 {
    labels
        .iter()
        .filter(|(n, _)| Some(n.as_ref()) != skip)
        .map(|(n, v)| pair_hash(n, v))
        .fold(0u128, u128::wrapping_add)
}

fn pair_hash(name: &str, value: &str) -> u128 {
    // Two SipHash runs with different prefixes make a 128-bit hash, so a
    // collision (which would wrongly report a grouping error) is negligible.
    let mut hi = DefaultHasher::new();
    hi.write_u8(1);
    (name, value).hash(&mut hi);
    let mut lo = DefaultHasher::new();
    lo.write_u8(2);
    (name, value).hash(&mut lo);
    (u128::from(hi.finish()) << 64) | u128::from(lo.finish())
}

#[cfg(test)]
mod tests {
    use super::super::{parse_with, Format, Strictness};

    /// Whole OpenMetrics bodies (without `# EOF`, which is appended) checked
    /// at Spec strictness: `want` is `Ok` or `Err` with a part of the reason.
    #[test]
    fn rules() {
        let cases: &[(&str, Result<(), &str>)] = &[
            ("# TYPE a counter\n# HELP a h\na_total 1\na_created 2\n", Ok(())),
            ("# TYPE a counter\n# TYPE a counter\n", Err("more than one TYPE")),
            ("# TYPE a_created gauge\n# TYPE a counter\n", Err("clashes")),
            ("# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\n# TYPE a gauge\n", Err("clashes")),
            ("# TYPE a gauge\na 1\n# HELP a x\n", Err("after its samples")),
            ("# TYPE a counter\na_total -1\n", Err("negative")),
            ("# TYPE a counter\na_total NaN\n", Err("NaN")),
            ("# TYPE a counter\na 1\n", Err("clashes")),
            ("# TYPE a gauge\na -1\na{b=\"c\"} NaN\n", Ok(())),
            ("# TYPE a gauge\na 1 # {x=\"y\"} 1\n", Err("exemplar")),
            ("# TYPE a counter\na_total 1 # {x=\"y\"} 1\n", Ok(())),
            ("# TYPE a stateset\na{a=\"x\"} 1\na{a=\"y\"} 0\n", Ok(())),
            ("# TYPE a stateset\na{a=\"x\"} 2\n", Err("not 0 or 1")),
            ("# TYPE a stateset\na{b=\"x\"} 1\n", Err("without")),
            ("# TYPE a info\na_info{x=\"y\"} 1\n", Ok(())),
            ("# TYPE a info\na_info 2\n", Err("not 1")),
            ("# TYPE a summary\na{quantile=\"0.5\"} 1\na_count 1\na_sum 1\n", Ok(())),
            ("# TYPE a summary\na{quantile=\"1.01\"} 1\n", Err("quantile")),
            ("# TYPE a summary\na 1\n", Err("quantile")),
            ("# TYPE a summary\na{quantile=\"0.5\"} -1\n", Err("negative")),
            ("# TYPE a histogram\na_bucket{le=\"1\"} 0\na_bucket{le=\"+Inf\"} 1\na_count 1\na_sum 1\n", Ok(())),
            ("# TYPE a histogram\na_bucket{le=\"+INF\"} 0\n", Err("invalid le")),
            ("# TYPE a histogram\na_bucket 0\n", Err("invalid le")),
            ("# TYPE a histogram\na_bucket{le=\"1\"} 0\n", Err("+Inf bucket missing")),
            ("# TYPE a histogram\na_bucket{le=\"2\"} 0\na_bucket{le=\"1\"} 0\n", Err("out of order")),
            ("# TYPE a histogram\na_bucket{le=\"1\"} 2\na_bucket{le=\"+Inf\"} 1\n", Err("decrease")),
            ("# TYPE a histogram\na_bucket{le=\"+Inf\"} 1.5\n", Err("integer")),
            ("# TYPE a histogram\na_bucket{le=\"+Inf\"} 1\na_count 2\na_sum 1\n", Err("count does not match")),
            ("# TYPE a histogram\na_bucket{le=\"+Inf\"} 1\na_sum 1\n", Err("_count must be present")),
            ("# TYPE a histogram\na_bucket{le=\"+Inf\"} 1\na_count 1\n", Err("_sum or _gsum")),
            ("# TYPE a histogram\na_bucket{le=\"-1\"} 1\na_bucket{le=\"+Inf\"} 1\na_count 1\na_sum 1\n", Err("negative buckets")),
            ("# TYPE a gaugehistogram\na_bucket{le=\"-1\"} 1\na_bucket{le=\"+Inf\"} 1\na_gcount 1\na_gsum -1\n", Ok(())),
            ("# TYPE a gaugehistogram\na_bucket{le=\"+Inf\"} 1\na_gcount 1\na_gsum -1\n", Err("negative _gsum")),
            (
                "# TYPE a histogram\na_bucket{a=\"1\",le=\"+Inf\"} 0\na_count{a=\"1\"} 0\na_sum{a=\"1\"} 0\n\
                 a_bucket{a=\"2\",le=\"+Inf\"} 0\na_count{a=\"2\"} 0\na_sum{a=\"2\"} 0\na_sum{a=\"1\"} 0\n",
                Err("not together"),
            ),
            ("# TYPE a histogram\na_bucket{x=\"1\",le=\"1\"} 0\na_bucket{le=\"+Inf\",x=\"1\"} 0\n", Ok(())),
            ("# TYPE a gauge\na 0 1\na 0 0\n", Err("backwards")),
            ("# TYPE a gauge\na 0 -1\na 0 -1.1\n", Err("backwards")),
            ("# TYPE a gauge\na 0\na 0 0\n", Err("mix")),
            ("# TYPE a gauge\na 1 0.0000000000\na 2 0.0000000001\n", Ok(())),
            ("# TYPE a_s gauge\n# UNIT a_s s\n", Ok(())),
            ("# TYPE x_u info\n# UNIT x_u u\n", Err("cannot have a unit")),
            ("# UNIT x_u u\n# TYPE x_u stateset\n", Err("cannot have a unit")),
            ("# HELP a x\n# HELP a x\n", Err("more than one HELP")),
            ("a{a=\"1\"} 1\n", Ok(())),
            ("# TYPE a histogram\na_bucket{le=\"+Inf\"} 1 # {x=\"é\"} 1\n", Ok(())),
        ];
        for (body, want) in cases {
            let full = format!("{body}# EOF\n");
            let got = parse_with(full.as_bytes(), Format::OpenMetrics, Strictness::Spec)
                .map(|_| ())
                .map_err(|e| e.reason);
            let ok = match (&got, want) {
                (Ok(()), Ok(())) => true,
                (Err(g), Err(w)) => g.contains(w),
                _ => false,
            };
            assert!(ok, "input {full:?}: got {got:?}, want {want:?}");
            // The same body must pass Prometheus strictness when it passes Spec.
            if want.is_ok() {
                let lenient =
                    parse_with(full.as_bytes(), Format::OpenMetrics, Strictness::Prometheus);
                assert!(
                    lenient.is_ok(),
                    "input {full:?}: Prometheus strictness got {lenient:?}, want Ok"
                );
            }
        }
    }
}
