//! Random input series and the plain selection rules of Prometheus 3:
//! an instant selector takes the newest sample in `(t - 5m, t]` unless it
//! is a staleness marker; a range selector takes the samples in
//! `(t - offset - range, t - offset]` without markers.

use std::collections::BTreeMap;
use std::fmt::Write;

use model::mem::MemStore;
use model::sample::{is_stale_nan, stale_nan};
use model::{Appendable, Labels};

use crate::rng::Rng;

/// Labels as a plain sorted map: the reference needs nothing cleverer.
pub type Lbls = BTreeMap<String, String>;

pub const NAME: &str = "__name__";

/// Prometheus's default lookback delta.
pub const LOOKBACK: i64 = 300_000;

/// The label names the generator uses besides `__name__`, with the values
/// each may take.
pub const LABELS: [(&str, &[&str]); 3] = [
    ("x", &["0", "1", "2"]),
    ("y", &["a", "b"]),
    ("z", &["p", "q"]),
];

#[derive(Clone, Debug)]
pub struct Series {
    pub labels: Lbls,
    /// In time order; may hold staleness markers.
    pub points: Vec<(i64, f64)>,
}

#[derive(Clone, Debug, Default)]
pub struct Input {
    pub series: Vec<Series>,
}

/// How sample values are drawn.
#[derive(Clone, Copy)]
pub struct Values {
    /// Counters go up, with the odd reset; gauges wander.
    pub counter: bool,
    /// The chance of a NaN or an infinity in place of a value.
    pub special: f64,
    /// Gauges take values in `-spread..=spread` quarters: a small spread
    /// gives many equal values.
    pub spread: i64,
    /// The chance that a series has each of the labels.
    pub presence: f64,
    /// Whether special values include 1e308 (and then not -Inf).
    pub huge: bool,
}

/// Multiples of 0.25 keep sums exact, so that the order of summation (and
/// upstream's Kahan compensation) cannot change a result.
fn quarter(rng: &mut Rng, lo: i64, hi: i64) -> f64 {
    rng.between(lo, hi) as f64 / 4.0
}

/// NaN, the infinities, or (with `huge`) a value whose sums overflow.
/// Huge values come without -Inf, so that no sum depends on the order it
/// is taken in (`1e308 + 1e308 - Inf` is NaN, `-Inf + 1e308 + 1e308` is
/// -Inf, and neither Prometheus nor we promise an order).
fn special(rng: &mut Rng, huge: bool) -> f64 {
    if huge {
        rng.pick(&[f64::NAN, f64::INFINITY, 1e308])
    } else {
        rng.pick(&[f64::NAN, f64::INFINITY, f64::NEG_INFINITY])
    }
}

impl Input {
    /// Up to `max_series` series for each metric name, each with a
    /// distinct random subset of the labels, sampled at a random interval
    /// with jitter, gaps and the odd staleness marker.
    pub fn random(rng: &mut Rng, names: &[&str], max_series: usize, vals: Values) -> Input {
        let mut series: Vec<Series> = Vec::new();
        for name in names {
            // Now and then no series at all.
            let n = if rng.chance(0.05) {
                0
            } else {
                rng.between(1, max_series as i64) as usize
            };
            for _ in 0..n {
                let mut labels = Lbls::new();
                labels.insert(NAME.into(), name.to_string());
                for (l, values) in LABELS {
                    if rng.chance(vals.presence) {
                        labels.insert(l.into(), rng.pick(values).to_string());
                    }
                }
                if series.iter().any(|s| s.labels == labels) {
                    continue;
                }
                let points = points(rng, vals);
                series.push(Series { labels, points });
            }
        }
        Input { series }
    }

    /// The store the engine reads.
    pub fn store(&self) -> MemStore {
        let store = MemStore::new();
        let mut app = store.appender();
        for s in &self.series {
            let l = Labels::from_pairs(s.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            for &(t, v) in &s.points {
                app.append(&l, t, v).unwrap();
            }
        }
        app.commit().unwrap();
        store
    }

    /// The input as a `promqltest` load block would show it.
    pub fn show(&self) -> String {
        let mut out = String::new();
        for s in &self.series {
            let _ = write!(out, "  {}:", show_labels(&s.labels));
            for &(t, v) in &s.points {
                let v = if is_stale_nan(v) {
                    "stale".to_string()
                } else {
                    v.to_string()
                };
                let _ = write!(out, " {}@{}", v, t as f64 / 1000.0);
            }
            out.push('\n');
        }
        out
    }

    /// An instant selector over the series named one of `names`.
    pub fn instant(&self, names: &[&str], t: i64) -> Vec<(Lbls, f64)> {
        let mut out = Vec::new();
        for s in self.named(names) {
            let newest = s.points.iter().rfind(|p| p.0 > t - LOOKBACK && p.0 <= t);
            if let Some(&(_, v)) = newest {
                if !is_stale_nan(v) {
                    out.push((s.labels.clone(), v));
                }
            }
        }
        out
    }

    /// A range selector: the samples of each series in
    /// `(t - offset - range, t - offset]`, series without any left out.
    pub fn range(&self, names: &[&str], t: i64, range: i64, offset: i64) -> Vec<Series> {
        let end = t - offset;
        let mut out = Vec::new();
        for s in self.named(names) {
            let points: Vec<(i64, f64)> = s
                .points
                .iter()
                .copied()
                .filter(|&(pt, v)| pt > end - range && pt <= end && !is_stale_nan(v))
                .collect();
            if !points.is_empty() {
                out.push(Series {
                    labels: s.labels.clone(),
                    points,
                });
            }
        }
        out
    }

    fn named<'a>(&'a self, names: &'a [&str]) -> impl Iterator<Item = &'a Series> + 'a {
        self.series
            .iter()
            .filter(move |s| names.contains(&s.labels[NAME].as_str()))
    }
}

fn points(rng: &mut Rng, vals: Values) -> Vec<(i64, f64)> {
    let interval = rng.pick(&[10_000i64, 15_000, 30_000, 60_000]);
    let mut t = rng.between(0, 60) * 1000;
    let mut out = Vec::new();
    let mut counter = quarter(rng, 0, 40);
    while t <= 720_000 {
        if !rng.chance(0.1) {
            let v = if rng.chance(0.02) {
                stale_nan()
            } else if rng.chance(vals.special) {
                special(rng, vals.huge)
            } else if vals.counter {
                if rng.chance(0.1) {
                    counter = quarter(rng, 0, 8);
                } else {
                    counter += quarter(rng, 0, 20);
                }
                counter
            } else {
                quarter(rng, -vals.spread, vals.spread)
            };
            out.push((t, v));
        }
        let jitter = if rng.chance(0.3) {
            rng.between(-2000, 2000)
        } else {
            0
        };
        t += interval + jitter;
    }
    out
}

pub fn show_labels(l: &Lbls) -> String {
    let mut out = String::new();
    if let Some(n) = l.get(NAME) {
        out.push_str(n);
    }
    out.push('{');
    let mut first = true;
    for (k, v) in l.iter().filter(|(k, _)| *k != NAME) {
        if !first {
            out.push_str(", ");
        }
        first = false;
        let _ = write!(out, "{k}=\"{v}\"");
    }
    out.push('}');
    out
}

/// The engine's labels in the reference's form.
pub fn from_model(l: &Labels) -> Lbls {
    l.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
