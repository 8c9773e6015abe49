//! Functions over range vectors: `rate` and its kin, `deriv`,
//! `predict_linear`, the `*_over_time` family and
//! `double_exponential_smoothing` (upstream `promql/functions.go`).

use crate::engine::aggregate::{kahan_inc, quantile};
use crate::error::QueryError;

/// The window a range argument covered at this step: `(end - range, end]`.
#[derive(Clone, Copy)]
pub(crate) struct Window {
    pub end: i64,
    pub range: i64,
}

/// `rate`, `increase` and `delta` with Prometheus's extrapolation to the
/// window's edges (upstream `extrapolatedRate`).
pub(crate) fn extrapolated_rate(
    p: &[(i64, f64)],
    w: Window,
    counter: bool,
    rate: bool,
) -> Option<f64> {
    if p.len() < 2 {
        return None;
    }
    let mut result = p[p.len() - 1].1 - p[0].1;
    if counter {
        let mut prev = p[0].1;
        for &(_, v) in &p[1..] {
            if v < prev {
                result += prev;
            }
            prev = v;
        }
    }
    Some(extrapolate(p, result, w, counter, rate))
}

/// The rest of [`extrapolated_rate`] once the window's change `result`
/// (counter resets added in order) is known; `p` has two points or more.
pub(crate) fn extrapolate(
    p: &[(i64, f64)],
    result: f64,
    w: Window,
    counter: bool,
    rate: bool,
) -> f64 {
    let range_start = w.end - w.range;
    let range_end = w.end;
    let (first_t, first_v) = p[0];
    let last_t = p[p.len() - 1].0;
    let mut to_start = (first_t - range_start) as f64 / 1000.0;
    let mut to_end = (range_end - last_t) as f64 / 1000.0;
    let sampled = (last_t - first_t) as f64 / 1000.0;
    let average = sampled / (p.len() - 1) as f64;
    let threshold = average * 1.1;
    let mut interval = sampled;
    if to_start >= threshold {
        to_start = average / 2.0;
    }
    if counter && result > 0.0 && first_v >= 0.0 {
        // A counter cannot go below zero: do not extrapolate past the
        // point where it would have been zero.
        let to_zero = sampled * (first_v / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    interval += to_start;
    if to_end >= threshold {
        to_end = average / 2.0;
    }
    interval += to_end;
    let mut factor = interval / sampled;
    if rate {
        factor /= w.range as f64 / 1000.0;
    }
    result * factor
}

/// `irate` and `idelta`: the last two samples (upstream `instantValue`).
pub(crate) fn instant_value(p: &[(i64, f64)], rate: bool) -> Option<f64> {
    if p.len() < 2 {
        return None;
    }
    let (lt, lv) = p[p.len() - 1];
    let (pt, pv) = p[p.len() - 2];
    let mut v = if rate && lv < pv { lv } else { lv - pv };
    let interval = lt - pt;
    if interval == 0 {
        return None;
    }
    if rate {
        v /= interval as f64 / 1000.0;
    }
    Some(v)
}

/// Least-squares slope and the intercept at `intercept_t` (upstream
/// `linearRegression`, Kahan-compensated).
pub(crate) fn linear_regression(p: &[(i64, f64)], intercept_t: i64) -> (f64, f64) {
    let (mut n, mut sx, mut cx, mut sy, mut cy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut sxy, mut cxy, mut sx2, mut cx2) = (0.0, 0.0, 0.0, 0.0);
    let init_y = p[0].1;
    let mut const_y = true;
    for (i, &(t, v)) in p.iter().enumerate() {
        if const_y && i > 0 && v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (t - intercept_t) as f64 / 1e3;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(v, sy, cy);
        (sxy, cxy) = kahan_inc(x * v, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    sx += cx;
    sy += cy;
    sxy += cxy;
    sx2 += cx2;
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

pub(crate) fn changes(p: &[(i64, f64)]) -> f64 {
    let mut n = 0.0;
    let mut prev = p[0].1;
    for &(_, v) in &p[1..] {
        if v != prev && !(v.is_nan() && prev.is_nan()) {
            n += 1.0;
        }
        prev = v;
    }
    n
}

pub(crate) fn resets(p: &[(i64, f64)]) -> f64 {
    let mut n = 0.0;
    let mut prev = p[0].1;
    for &(_, v) in &p[1..] {
        if v < prev {
            n += 1.0;
        }
        prev = v;
    }
    n
}

pub(crate) fn avg(p: &[(i64, f64)]) -> f64 {
    let (mut sum, mut c, mut mean) = (p[0].1, 0.0, 0.0);
    let mut count = 1.0;
    let mut incremental = false;
    for (i, &(_, v)) in p[1..].iter().enumerate() {
        count = (i + 2) as f64;
        if !incremental {
            let (s, nc) = kahan_inc(v, sum, c);
            if !s.is_infinite() {
                sum = s;
                c = nc;
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (mean, c) = kahan_inc(v / count, q * mean, q * c);
    }
    if incremental {
        mean + c
    } else {
        sum / count + c / count
    }
}

pub(crate) fn sum(p: &[(i64, f64)]) -> f64 {
    let (mut s, mut c) = (0.0, 0.0);
    for &(_, v) in p {
        (s, c) = kahan_inc(v, s, c);
    }
    if s.is_infinite() {
        s
    } else {
        s + c
    }
}

pub(crate) fn variance(p: &[(i64, f64)]) -> f64 {
    let (mut count, mut mean, mut cm, mut aux, mut ca) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for &(_, v) in p {
        count += 1.0;
        let delta = v - (mean + cm);
        (mean, cm) = kahan_inc(delta / count, mean, cm);
        (aux, ca) = kahan_inc(delta * (v - (mean + cm)), aux, ca);
    }
    (aux + ca) / count
}

pub(crate) fn min(p: &[(i64, f64)]) -> f64 {
    let mut m = p[0].1;
    for &(_, v) in p {
        if v < m || m.is_nan() {
            m = v;
        }
    }
    m
}

pub(crate) fn max(p: &[(i64, f64)]) -> f64 {
    let mut m = p[0].1;
    for &(_, v) in p {
        if v > m || m.is_nan() {
            m = v;
        }
    }
    m
}

/// Seconds of the sample the test picks (the last one on ties, as
/// upstream's `>=` comparisons do).
pub(crate) fn ts_of(p: &[(i64, f64)], better: impl Fn(f64, f64) -> bool) -> f64 {
    let (mut bt, mut bv) = p[0];
    for &(t, v) in &p[1..] {
        if better(v, bv) || bv.is_nan() {
            bt = t;
            bv = v;
        }
    }
    bt as f64 / 1000.0
}

pub(crate) fn quantile_over(q: f64, p: &[(i64, f64)]) -> f64 {
    let mut vals: Vec<f64> = p.iter().map(|x| x.1).collect();
    quantile(q, &mut vals)
}

/// Median absolute deviation.
pub(crate) fn mad(p: &[(i64, f64)]) -> f64 {
    if p.iter().any(|x| x.1.is_nan()) {
        return f64::NAN;
    }
    let mut vals: Vec<f64> = p.iter().map(|x| x.1).collect();
    let median = quantile(0.5, &mut vals);
    let mut dev: Vec<f64> = vals.iter().map(|v| (v - median).abs()).collect();
    quantile(0.5, &mut dev)
}

/// `double_exponential_smoothing` (Holt's linear trend).
pub(crate) fn double_exponential(
    p: &[(i64, f64)],
    sf: f64,
    tf: f64,
) -> Result<Option<f64>, QueryError> {
    if sf <= 0.0 || sf >= 1.0 {
        return Err(QueryError::execution(format!(
            "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"
        )));
    }
    if tf <= 0.0 || tf >= 1.0 {
        return Err(QueryError::execution(format!(
            "invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"
        )));
    }
    if p.len() < 2 {
        return Ok(None);
    }
    let (mut s0, mut s1) = (0.0, p[0].1);
    let mut b = p[1].1 - p[0].1;
    for (i, &(_, v)) in p.iter().enumerate().skip(1) {
        let x = sf * v;
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    Ok(Some(s1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_extrapolates_like_prometheus() {
        // 10, 20, 30 ... every 10 s in a 60 s window ending 5 s after the
        // last sample: extrapolated to both edges.
        let p: Vec<(i64, f64)> = (0..6)
            .map(|i| (5_000 + i * 10_000, 10.0 + i as f64 * 10.0))
            .collect();
        let w = Window {
            end: 60_000,
            range: 60_000,
        };
        let inc = extrapolated_rate(&p, w, true, false).unwrap();
        assert!((inc - 60.0).abs() < 1e-9, "{inc}");
        let r = extrapolated_rate(&p, w, true, true).unwrap();
        assert!((r - 1.0).abs() < 1e-9, "{r}");
        // From zero, extrapolation stops at the zero point.
        let z: Vec<(i64, f64)> = p.iter().map(|&(t, v)| (t, v - 10.0)).collect();
        let inc = extrapolated_rate(&z, w, true, false).unwrap();
        assert!((inc - 55.0).abs() < 1e-9, "{inc}");
        // A counter reset adds the value before it.
        let p = [(0, 5.0), (10_000, 8.0), (20_000, 2.0)];
        let w = Window {
            end: 20_000,
            range: 20_000,
        };
        let d = extrapolated_rate(&p, w, true, false).unwrap();
        assert_eq!(d, 5.0);
        assert_eq!(instant_value(&p, true), Some(0.2));
        assert_eq!(changes(&p), 2.0);
        assert_eq!(resets(&p), 1.0);
    }

    #[test]
    fn regression_and_smoothing() {
        let p: Vec<(i64, f64)> = (0..5).map(|i| (i * 1000, 2.0 * i as f64 + 1.0)).collect();
        let (slope, intercept) = linear_regression(&p, 0);
        assert!((slope - 2.0).abs() < 1e-12 && (intercept - 1.0).abs() < 1e-12);
        assert!(double_exponential(&p, 0.5, 0.5).unwrap().is_some());
        assert!(double_exponential(&p, 1.0, 0.5).is_err());
    }
}
