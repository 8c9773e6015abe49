//! The range functions, from Prometheus's documentation and upstream
//! `promql/functions.go`: `rate`/`increase`/`delta` extrapolate to the
//! window's edges (`extrapolatedRate`), `irate`/`idelta` look at the last
//! two samples, and the `*_over_time` functions summarise the samples in
//! the window. Every function but `last_over_time` and `first_over_time`
//! drops the metric name.

use crate::data::{Input, Series, NAME};
use crate::eval::{max, mean, min, quantile, sum, variance, Vector};
use crate::expr::RangeCall;

pub const FUNCS: [&str; 24] = [
    "rate",
    "increase",
    "delta",
    "irate",
    "idelta",
    "deriv",
    "resets",
    "changes",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "sum_over_time",
    "count_over_time",
    "last_over_time",
    "first_over_time",
    "present_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "quantile_over_time",
    "mad_over_time",
    "ts_of_first_over_time",
    "ts_of_last_over_time",
    "ts_of_min_over_time",
    "ts_of_max_over_time",
];

pub fn call(r: &RangeCall, input: &Input, t: i64) -> Vector {
    let mut out = Vec::new();
    for s in input.range(&r.names, t, r.range, r.offset) {
        let Some(v) = one(r, &s, t) else {
            continue;
        };
        let mut labels = s.labels.clone();
        if r.func != "last_over_time" && r.func != "first_over_time" {
            labels.remove(NAME);
        }
        out.push((labels, v));
    }
    out
}

fn one(r: &RangeCall, s: &Series, t: i64) -> Option<f64> {
    let p = &s.points;
    let vals: Vec<f64> = p.iter().map(|x| x.1).collect();
    let secs = |ms: i64| ms as f64 / 1000.0;
    let n = p.len();
    Some(match r.func {
        "rate" | "increase" | "delta" => {
            if n < 2 {
                return None;
            }
            let start = t - r.offset - r.range;
            let end = t - r.offset;
            extrapolated(p, start, end, r.func != "delta", r.func == "rate")
        }
        "irate" | "idelta" => {
            if n < 2 {
                return None;
            }
            let (t0, v0) = p[n - 2];
            let (t1, v1) = p[n - 1];
            // After a counter reset irate takes the new value as the rise.
            let rise = if r.func == "irate" && v1 < v0 {
                v1
            } else {
                v1 - v0
            };
            if r.func == "irate" {
                rise / secs(t1 - t0)
            } else {
                rise
            }
        }
        "deriv" => {
            if n < 2 {
                return None;
            }
            slope(p)
        }
        "resets" => p.windows(2).filter(|w| w[1].1 < w[0].1).count() as f64,
        "changes" => p
            .windows(2)
            .filter(|w| w[1].1 != w[0].1 && !(w[1].1.is_nan() && w[0].1.is_nan()))
            .count() as f64,
        "avg_over_time" => mean(&vals),
        "min_over_time" => min(&vals),
        "max_over_time" => max(&vals),
        "sum_over_time" => sum(&vals),
        "count_over_time" => n as f64,
        "last_over_time" => vals[n - 1],
        "first_over_time" => vals[0],
        "present_over_time" => 1.0,
        "stddev_over_time" => variance(&vals).sqrt(),
        "stdvar_over_time" => variance(&vals),
        "quantile_over_time" => quantile(r.param.unwrap(), &vals),
        "mad_over_time" => {
            if vals.iter().any(|v| v.is_nan()) {
                return Some(f64::NAN);
            }
            let median = quantile(0.5, &vals);
            let dev: Vec<f64> = vals.iter().map(|v| (v - median).abs()).collect();
            quantile(0.5, &dev)
        }
        "ts_of_first_over_time" => secs(p[0].0),
        "ts_of_last_over_time" => secs(p[n - 1].0),
        // The last sample holding the extreme value; NaN counts only
        // when every sample is NaN.
        "ts_of_min_over_time" => secs(last_at(p, min(&vals))),
        "ts_of_max_over_time" => secs(last_at(p, max(&vals))),
        f => panic!("no reference for {f}"),
    })
}

fn last_at(p: &[(i64, f64)], target: f64) -> i64 {
    p.iter()
        .rev()
        .find(|x| x.1 == target || (target.is_nan() && x.1.is_nan()))
        .unwrap()
        .0
}

/// The increase over `[start, end]` estimated from the samples: the
/// difference between the last and the first (plus the value before each
/// counter reset), extrapolated to each edge of the window when the edge
/// is within 1.1 average sample intervals of the nearest sample, and by
/// half an interval otherwise; a counter is never extrapolated below zero.
fn extrapolated(p: &[(i64, f64)], start: i64, end: i64, counter: bool, per_second: bool) -> f64 {
    let n = p.len();
    let (first_t, first_v) = p[0];
    let (last_t, last_v) = p[n - 1];
    let mut rise = last_v - first_v;
    if counter {
        for w in p.windows(2) {
            if w[1].1 < w[0].1 {
                rise += w[0].1;
            }
        }
    }
    let sampled = (last_t - first_t) as f64 / 1000.0;
    let average = sampled / (n - 1) as f64;
    let mut before = (first_t - start) as f64 / 1000.0;
    let mut after = (end - last_t) as f64 / 1000.0;
    if before >= average * 1.1 {
        before = average / 2.0;
    }
    if after >= average * 1.1 {
        after = average / 2.0;
    }
    if counter && rise > 0.0 && first_v >= 0.0 {
        let to_zero = sampled * first_v / rise;
        before = before.min(to_zero);
    }
    // The factor first, so that a rise near the largest float does not
    // overflow on the way to a smaller result.
    let mut factor = (sampled + before + after) / sampled;
    if per_second {
        factor /= (end - start) as f64 / 1000.0;
    }
    rise * factor
}

/// The least-squares slope of value against time in seconds, computed
/// from sums that are exact for the generated inputs (timestamps in whole
/// seconds or milliseconds, values in quarters).
fn slope(p: &[(i64, f64)]) -> f64 {
    let n = p.len() as f64;
    let t0 = p[0].0;
    let xs: Vec<f64> = p.iter().map(|x| (x.0 - t0) as f64 / 1000.0).collect();
    let ys: Vec<f64> = p.iter().map(|x| x.1).collect();
    if ys.iter().all(|y| *y == ys[0]) {
        // A constant series has no slope, unless it is infinite.
        return if ys[0].is_infinite() { f64::NAN } else { 0.0 };
    }
    let sx: f64 = xs.iter().sum();
    let sy: f64 = ys.iter().sum();
    let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| x * y).sum();
    let sxx: f64 = xs.iter().map(|x| x * x).sum();
    (n * sxy - sx * sy) / (n * sxx - sx * sx)
}
