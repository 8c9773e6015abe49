//! The scrape side's metrics under Prometheus's names
//! (`scrape/metrics.go`, `discovery/metrics.go`):
//! `prometheus_target_interval_length_seconds`, the time between two
//! scrapes of a target by configured interval, and
//! `prometheus_sd_discovered_targets`, targets discovered per job.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use model::metrics::{Collect, Encoder};
use parking_lot::Mutex;

/// Upstream's objectives for the interval summary.
const QUANTILES: [f64; 5] = [0.01, 0.05, 0.5, 0.9, 0.99];
/// Observations older than this leave the quantiles, as upstream's
/// summary has a ten-minute window.
const WINDOW: Duration = Duration::from_secs(600);
/// At most this many observations are kept per interval.
const KEPT: usize = 10_000;

#[derive(Default)]
struct Intervals {
    recent: VecDeque<(Instant, f64)>,
    sum: f64,
    count: u64,
}

/// Counts shared by the scrape manager and its loops.
#[derive(Default)]
pub struct ScrapeMetrics {
    intervals: Mutex<BTreeMap<Duration, Intervals>>,
    discovered: Mutex<BTreeMap<String, usize>>,
}

impl ScrapeMetrics {
    /// A target configured to scrape every `configured` was scraped
    /// `actual` after its previous scrape.
    pub(crate) fn observe_interval(&self, configured: Duration, actual: Duration) {
        let now = Instant::now();
        let mut all = self.intervals.lock();
        let i = all.entry(configured).or_default();
        i.recent.push_back((now, actual.as_secs_f64()));
        while i.recent.len() > KEPT
            || i.recent
                .front()
                .is_some_and(|(t, _)| now.duration_since(*t) > WINDOW)
        {
            i.recent.pop_front();
        }
        i.sum += actual.as_secs_f64();
        i.count += 1;
    }

    /// The targets discovered for each job at the last apply.
    pub(crate) fn set_discovered(&self, by_job: BTreeMap<String, usize>) {
        *self.discovered.lock() = by_job;
    }
}

impl Collect for ScrapeMetrics {
    fn collect(&self, e: &mut Encoder) {
        let mut f = e.summary(
            "prometheus_target_interval_length_seconds",
            "Actual intervals between scrapes.",
        );
        for (configured, i) in self.intervals.lock().iter() {
            let mut values: Vec<f64> = i.recent.iter().map(|(_, v)| *v).collect();
            values.sort_by(f64::total_cmp);
            let quantiles: Vec<(f64, f64)> =
                QUANTILES.iter().map(|q| (*q, rank(&values, *q))).collect();
            let label = model::time::format_duration(*configured);
            f.summary(&[("interval", &label)], &quantiles, i.sum, i.count);
        }
        let mut f = e.gauge(
            "prometheus_sd_discovered_targets",
            "Current number of discovered targets.",
        );
        for (job, n) in self.discovered.lock().iter() {
            f.sample(&[("config", job), ("name", "scrape")], *n as f64);
        }
    }
}

/// The `q` quantile of sorted `values` by nearest rank; NaN when empty,
/// as an upstream summary reports an empty window.
fn rank(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let i = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1;
    values[i]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_and_discovered_targets_render_as_upstream() {
        let m = ScrapeMetrics::default();
        for ms in [14_900, 15_000, 15_100, 15_000] {
            m.observe_interval(Duration::from_secs(15), Duration::from_millis(ms));
        }
        m.set_discovered(BTreeMap::from([("node".to_string(), 3)]));
        let r = model::metrics::Registry::default();
        r.register(std::sync::Arc::new(m));
        let text = r.render();
        for want in [
            "# TYPE prometheus_target_interval_length_seconds summary\n",
            "prometheus_target_interval_length_seconds{interval=\"15s\",quantile=\"0.01\"} 14.9\n",
            "prometheus_target_interval_length_seconds{interval=\"15s\",quantile=\"0.5\"} 15\n",
            "prometheus_target_interval_length_seconds{interval=\"15s\",quantile=\"0.99\"} 15.1\n",
            "prometheus_target_interval_length_seconds_count{interval=\"15s\"} 4\n",
            "prometheus_sd_discovered_targets{config=\"node\",name=\"scrape\"} 3\n",
        ] {
            assert!(text.contains(want), "want {want:?} in\n{text}");
        }
    }
}
