//! Folding OpenMetrics `_created` samples into start timestamps.
//!
//! OpenMetrics 1.0 writes the start time of a counter, summary or histogram
//! series as a separate `<family>_created` sample, anywhere among the
//! family's samples, often after the samples it belongs to. Prometheus
//! (`model/textparse/openmetricsparse.go`, `StartTimestamp`) does not store
//! `_created` as a series; it gives its value to the family's samples with
//! the same labels, ignoring `le` on histograms and `quantile` on summaries.
//! Prometheus finds it by peeking ahead in the body; a line-by-line parser
//! cannot, so [`Parser`](super::Parser) emits [`Entry::Created`] and the
//! caller folds it here, over all entries or over any slice that holds whole
//! families (families are contiguous in OpenMetrics).

use std::collections::HashMap;

use super::family::label_set_key;
use super::{Entry, MetricType};

/// Sets `start_timestamp_ms` of samples from the `_created` entries of
/// their family and drops the [`Entry::Created`] entries.
///
/// A family's context is its last HELP, TYPE or UNIT line, as in
/// Prometheus: `_created` applies to the samples between two metadata lines
/// whose names are the family name plus a suffix of its type.
pub fn attach_start_timestamps(entries: &mut Vec<Entry<'_>>) {
    if !entries.iter().any(|e| matches!(e, Entry::Created(_))) {
        return;
    }
    let mut family = String::new();
    let mut kind = MetricType::Unknown;
    let mut i = 0;
    while i < entries.len() {
        match &entries[i] {
            Entry::Help { name, .. } | Entry::Unit { name, .. } => {
                family.clear();
                family.push_str(name);
            }
            Entry::Type { name, kind: k } => {
                family.clear();
                family.push_str(name);
                kind = *k;
            }
            Entry::Sample(_) | Entry::Created(_) => {
                let end = entries[i..]
                    .iter()
                    .position(|e| !matches!(e, Entry::Sample(_) | Entry::Created(_)))
                    .map_or(entries.len(), |n| i + n);
                fold_run(&mut entries[i..end], &family, kind);
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    entries.retain(|e| !matches!(e, Entry::Created(_)));
}

/// Folds within one run of samples that share a family context.
fn fold_run(run: &mut [Entry<'_>], family: &str, kind: MetricType) {
    let (skip, suffixes): (Option<&str>, &[&str]) = match kind {
        MetricType::Counter => (None, &["_total"]),
        MetricType::Summary => (Some("quantile"), &["", "_count", "_sum"]),
        MetricType::Histogram => (Some("le"), &["_bucket", "_count", "_sum"]),
        _ => return,
    };
    let mut starts: HashMap<u128, i64> = HashMap::new();
    for e in run.iter() {
        if let Entry::Created(s) = e {
            if let Some(ms) = s.start_timestamp_ms {
                starts.entry(label_set_key(&s.labels, skip)).or_insert(ms);
            }
        }
    }
    if starts.is_empty() {
        return;
    }
    for e in run.iter_mut() {
        let Entry::Sample(s) = e else { continue };
        let member = s
            .name
            .strip_prefix(family)
            .is_some_and(|suffix| suffixes.contains(&suffix));
        if member && s.start_timestamp_ms.is_none() {
            s.start_timestamp_ms = starts.get(&label_set_key(&s.labels, skip)).copied();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{parse_with, Entry, Format, Strictness};

    /// (body, expected `name labels start` per sample) at both strictness
    /// levels where the body is valid OpenMetrics.
    #[test]
    fn folds() {
        type Case<'c> = (&'c str, &'c [(&'c str, Option<i64>)]);
        let cases: &[Case] = &[
            (
                "# TYPE foo counter\nfoo_total{a=\"b\"} 1\nfoo_created{a=\"b\"} 5\nfoo_total{a=\"c\"} 1\n",
                &[("foo_total{a=b}", Some(5000)), ("foo_total{a=c}", None)],
            ),
            (
                "# TYPE h histogram\nh_count 1\nh_sum 1\nh_created 1520430001\nh_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 1\n",
                &[
                    ("h_count{}", Some(1520430001000)),
                    ("h_sum{}", Some(1520430001000)),
                    ("h_bucket{le=1.0}", Some(1520430001000)),
                    ("h_bucket{le=+Inf}", Some(1520430001000)),
                ],
            ),
            (
                "# TYPE fizz_created gauge\nfizz_created 17.0\n",
                &[("fizz_created{}", None)],
            ),
            (
                "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_count 1\ns_sum 2\ns_created 1.5e9\n# TYPE t gauge\nt 1\n",
                &[("s{quantile=0.5}", Some(1500000000000)), ("s_count{}", Some(1500000000000)), ("s_sum{}", Some(1500000000000)), ("t{}", None)],
            ),
        ];
        for (body, want) in cases {
            let full = format!("{body}# EOF\n");
            for strictness in [Strictness::Spec, Strictness::Prometheus] {
                let entries = parse_with(full.as_bytes(), Format::OpenMetrics, strictness)
                    .unwrap_or_else(|e| panic!("input {full:?} at {strictness:?}: {e}"));
                let got: Vec<(String, Option<i64>)> = entries
                    .iter()
                    .filter_map(|e| match e {
                        Entry::Sample(s) => {
                            let labels: Vec<String> =
                                s.labels.iter().map(|(n, v)| format!("{n}={v}")).collect();
                            Some((
                                format!("{}{{{}}}", s.name, labels.join(",")),
                                s.start_timestamp_ms,
                            ))
                        }
                        _ => None,
                    })
                    .collect();
                let want: Vec<(String, Option<i64>)> =
                    want.iter().map(|(s, t)| (s.to_string(), *t)).collect();
                assert_eq!(got, want, "input {full:?} at {strictness:?}");
            }
        }
    }
}
