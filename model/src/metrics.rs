//! Self-metrics: one [`Registry`] that every part of Watchfire reports
//! into, rendered in the Prometheus text format (0.0.4) for `/metrics`.
//!
//! Parts keep their numbers in cheap atomics ([`Counter`], [`Gauge`],
//! [`Histogram`]) on their hot paths; at scrape time each registered
//! [`Collect`] writes its families through an [`Encoder`], which owns the
//! format: `# HELP` and `# TYPE` lines, label and help escaping as the
//! exposition format specifies, one family per name.
//!
//! Why not the `prometheus-client` crate: it cannot write summaries, and
//! Prometheus's own metrics that we export under their names
//! (`prometheus_target_interval_length_seconds`,
//! `prometheus_tsdb_wal_fsync_duration_seconds`, …) are summaries. What is
//! left (escaping and a few atomics) is small enough to own.
//!
//! ```
//! use std::sync::Arc;
//! use model::metrics::{Collect, Counter, Encoder, Registry};
//!
//! struct Requests(Counter);
//! impl Collect for Requests {
//!     fn collect(&self, e: &mut Encoder) {
//!         e.counter("app_requests_total", "Requests served.")
//!             .sample(&[("code", "200")], self.0.get() as f64);
//!     }
//! }
//! let r = Arc::new(Requests(Counter::default()));
//! r.0.inc();
//! let reg = Registry::default();
//! reg.register(r);
//! assert_eq!(
//!     reg.render(),
//!     "# HELP app_requests_total Requests served.\n# TYPE app_requests_total counter\napp_requests_total{code=\"200\"} 1\n"
//! );
//! ```

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// Something that reports metrics when `/metrics` is scraped.
pub trait Collect: Send + Sync {
    /// Writes this part's families.
    fn collect(&self, e: &mut Encoder);
}

/// The one list of everything that reports metrics.
#[derive(Default)]
pub struct Registry {
    parts: RwLock<Vec<Arc<dyn Collect>>>,
}

impl Registry {
    /// Adds a part; it reports at every render from now on.
    pub fn register(&self, part: Arc<dyn Collect>) {
        // A poisoned lock only means a panic elsewhere; the list is intact.
        self.parts
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(part);
    }

    /// Every part's metrics in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut e = Encoder::default();
        for p in self.parts.read().unwrap_or_else(|e| e.into_inner()).iter() {
            p.collect(&mut e);
        }
        let mut out = String::new();
        for (header, samples) in e.families {
            out.push_str(&header);
            out.push_str(&samples);
        }
        out
    }
}

/// The content type of [`Registry::render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Writes metric families in the text format.
#[derive(Default)]
pub struct Encoder {
    /// Header and samples of each family, in the order first reported.
    families: Vec<(String, String)>,
    index: std::collections::HashMap<String, usize>,
}

/// The samples of one family, kept together under its header.
pub struct Family<'a> {
    out: &'a mut String,
    name: &'a str,
}

impl Encoder {
    fn family<'a>(&'a mut self, name: &'a str, help: &str, kind: &str) -> Family<'a> {
        // One header, and all samples together, even when two parts
        // report into the same family.
        let i = *self.index.entry(name.to_string()).or_insert_with(|| {
            let mut header = format!("# HELP {name} ");
            for c in help.chars() {
                match c {
                    '\\' => header.push_str("\\\\"),
                    '\n' => header.push_str("\\n"),
                    c => header.push(c),
                }
            }
            let _ = writeln!(header, "\n# TYPE {name} {kind}");
            self.families.push((header, String::new()));
            self.families.len() - 1
        });
        Family {
            out: &mut self.families[i].1,
            name,
        }
    }

    /// A counter family; its name should end in `_total`.
    pub fn counter<'a>(&'a mut self, name: &'a str, help: &str) -> Family<'a> {
        self.family(name, help, "counter")
    }

    /// A gauge family.
    pub fn gauge<'a>(&'a mut self, name: &'a str, help: &str) -> Family<'a> {
        self.family(name, help, "gauge")
    }

    /// A histogram family: write its series with [`Family::histogram`].
    pub fn histogram<'a>(&'a mut self, name: &'a str, help: &str) -> Family<'a> {
        self.family(name, help, "histogram")
    }

    /// A summary family: write its series with [`Family::summary`].
    pub fn summary<'a>(&'a mut self, name: &'a str, help: &str) -> Family<'a> {
        self.family(name, help, "summary")
    }
}

impl Family<'_> {
    fn line(&mut self, suffix: &str, labels: &[(&str, &str)], extra: Option<(&str, &str)>, v: f64) {
        let out = &mut *self.out;
        out.push_str(self.name);
        out.push_str(suffix);
        if !labels.is_empty() || extra.is_some() {
            out.push('{');
            for (i, (k, val)) in labels.iter().copied().chain(extra).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(k);
                out.push_str("=\"");
                for c in val.chars() {
                    match c {
                        '\\' => out.push_str("\\\\"),
                        '"' => out.push_str("\\\""),
                        '\n' => out.push_str("\\n"),
                        c => out.push(c),
                    }
                }
                out.push('"');
            }
            out.push('}');
        }
        out.push(' ');
        push_value(out, v);
        out.push('\n');
    }

    /// One series of a counter or gauge.
    pub fn sample(&mut self, labels: &[(&str, &str)], v: f64) -> &mut Self {
        self.line("", labels, None, v);
        self
    }

    /// One series of a histogram.
    pub fn histogram(&mut self, labels: &[(&str, &str)], h: &Histogram) -> &mut Self {
        let mut le = String::new();
        for (bound, n) in h.bounds.iter().zip(h.cumulative()) {
            le.clear();
            push_value(&mut le, *bound);
            self.line("_bucket", labels, Some(("le", &le)), n as f64);
        }
        let count = h.count();
        self.line("_bucket", labels, Some(("le", "+Inf")), count as f64);
        self.line("_sum", labels, None, h.sum());
        self.line("_count", labels, None, count as f64);
        self
    }

    /// One series of a summary: quantiles (may be none), sum and count.
    pub fn summary(
        &mut self,
        labels: &[(&str, &str)],
        quantiles: &[(f64, f64)],
        sum: f64,
        count: u64,
    ) -> &mut Self {
        let mut q = String::new();
        for (quantile, v) in quantiles {
            q.clear();
            push_value(&mut q, *quantile);
            self.line("", labels, Some(("quantile", &q)), *v);
        }
        self.line("_sum", labels, None, sum);
        self.line("_count", labels, None, count as f64);
        self
    }
}

/// A value as the text format writes it.
fn push_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v}");
    }
}

/// A count that only goes up.
#[derive(Default, Debug)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.add(1)
    }
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// The count.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down (an `f64` in an atomic).
#[derive(Default, Debug)]
pub struct Gauge(AtomicU64);

impl Gauge {
    /// Sets the value.
    pub fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }
    /// The value.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

/// Observations counted into buckets, with their sum.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    /// The sum, as `f64` bits, added to with compare-and-swap.
    sum: AtomicU64,
}

/// Prometheus's default buckets (`prometheus.DefBuckets`).
pub const DEFAULT_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl Histogram {
    /// A histogram with these upper bounds (ascending, `+Inf` implied).
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0f64.to_bits()),
        }
    }

    /// Counts one observation.
    pub fn observe(&self, v: f64) {
        if let Some(i) = self.bounds.iter().position(|b| v <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let _ = self
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| {
                Some((f64::from_bits(s) + v).to_bits())
            });
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Their sum.
    pub fn sum(&self) -> f64 {
        f64::from_bits(self.sum.load(Ordering::Relaxed))
    }

    fn cumulative(&self) -> Vec<u64> {
        let mut n = 0;
        self.buckets
            .iter()
            .map(|b| {
                n += b.load(Ordering::Relaxed);
                n
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;
    impl Collect for Fixed {
        fn collect(&self, e: &mut Encoder) {
            e.gauge("g", "Help with \\ and\nnewline.")
                .sample(&[("a", "quote \" back \\ nl \n")], f64::NAN)
                .sample(&[], f64::NEG_INFINITY);
            let h = Histogram::new(&[0.5, 1.0]);
            for v in [0.1, 0.7, 3.0] {
                h.observe(v);
            }
            e.histogram("h_seconds", "A histogram.")
                .histogram(&[("k", "v")], &h);
            e.summary("s_seconds", "A summary.")
                .summary(&[], &[(0.5, 2.0), (0.99, 3.5)], 10.0, 4);
            // A second report into the same family writes no second header.
            e.gauge("g", "Help with \\ and\nnewline.")
                .sample(&[("a", "2")], 2.0);
        }
    }

    #[test]
    fn renders_the_text_format_with_its_escaping() {
        let r = Registry::default();
        r.register(Arc::new(Fixed));
        let want = r#"# HELP g Help with \\ and\nnewline.
# TYPE g gauge
g{a="quote \" back \\ nl \n"} NaN
g -Inf
g{a="2"} 2
# HELP h_seconds A histogram.
# TYPE h_seconds histogram
h_seconds_bucket{k="v",le="0.5"} 1
h_seconds_bucket{k="v",le="1"} 2
h_seconds_bucket{k="v",le="+Inf"} 3
h_seconds_sum{k="v"} 3.8
h_seconds_count{k="v"} 3
# HELP s_seconds A summary.
# TYPE s_seconds summary
s_seconds{quantile="0.5"} 2
s_seconds{quantile="0.99"} 3.5
s_seconds_sum 10
s_seconds_count 4
"#;
        assert_eq!(r.render(), want);
    }
}
