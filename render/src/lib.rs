//! Charts of a range query's result, drawn as SVG by our own code: for the
//! UI's `/api/v1/render` and for the graphs that notifications carry.
//!
//! A [`Chart`] holds the series ([`Series`]: labels and `(t, v)` points),
//! the time range and step, the size, and optionally an alert's threshold
//! or an error to show instead of data. [`svg`] draws it: value and time
//! axes on round numbers, one line per series in a fixed palette (broken
//! where a step is missing or a value is not a number, so gaps and
//! staleness show), a legend, and the threshold as a dashed line. The
//! same chart always gives the same bytes.
//!
//! ```
//! use render::{Chart, Series};
//! let s = Series { labels: model::Labels::from_pairs([("job", "api")]), points: vec![(0, 1.0), (60_000, 2.0)] };
//! let chart = Chart { series: vec![s], start_ms: 0, end_ms: 60_000, step_ms: 60_000, ..Chart::default() };
//! assert!(render::svg(&chart).starts_with("<svg"));
//! ```

use std::fmt::Write;

use model::Labels;

/// One line: its labels and its points in time order.
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub labels: Labels,
    pub points: Vec<(i64, f64)>,
}

/// What to draw.
#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    pub series: Vec<Series>,
    pub start_ms: i64,
    pub end_ms: i64,
    pub step_ms: i64,
    pub width: u32,
    pub height: u32,
    /// An alert's threshold, drawn as a dashed line.
    pub threshold: Option<f64>,
    /// Drawn instead of the data when the query failed.
    pub error: Option<String>,
}

impl Default for Chart {
    fn default() -> Self {
        Chart {
            title: String::new(),
            series: Vec::new(),
            start_ms: 0,
            end_ms: 0,
            step_ms: 1,
            width: 600,
            height: 300,
            threshold: None,
            error: None,
        }
    }
}

/// The palette, in legend order.
pub const COLORS: [&str; 12] = [
    "#2563eb", "#c2410c", "#15803d", "#7c3aed", "#b91c1c", "#0891b2", "#a16207", "#db2777",
    "#4d7c0f", "#1e40af", "#9a3412", "#0f766e",
];

/// Most legend entries drawn; the rest are counted.
const LEGEND_MAX: usize = 5;

/// Draws `c` as an SVG document.
pub fn svg(c: &Chart) -> String {
    let (w, h) = (
        c.width.clamp(200, 4000) as f64,
        c.height.clamp(120, 4000) as f64,
    );
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11"><rect width="{w}" height="{h}" fill="#ffffff"/>"##
    );
    let title_h = if c.title.is_empty() { 0.0 } else { 18.0 };
    if !c.title.is_empty() {
        let _ = write!(
            out,
            r##"<text x="8" y="14" font-size="12" fill="#1d2330">{}</text>"##,
            escape(&c.title)
        );
    }
    if let Some(e) = &c.error {
        let _ = write!(
            out,
            r##"<text x="{}" y="{}" text-anchor="middle" fill="#b91c1c">{}</text></svg>"##,
            w / 2.0,
            h / 2.0,
            escape(&format!("query failed: {e}"))
        );
        return out;
    }
    let shown = c.series.len().min(LEGEND_MAX);
    let legend_h = 14.0 * (shown + usize::from(c.series.len() > LEGEND_MAX)) as f64;
    let (l, r, t, b) = (56.0, 10.0, 8.0 + title_h, 22.0 + legend_h);
    let (pw, ph) = (w - l - r, h - t - b);
    let values = c
        .series
        .iter()
        .flat_map(|s| &s.points)
        .map(|p| p.1)
        .filter(|v| v.is_finite());
    let (mut lo, mut hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if let Some(th) = c.threshold.filter(|v| v.is_finite()) {
        lo = lo.min(th);
        hi = hi.max(th);
    }
    if !lo.is_finite() {
        let _ = write!(
            out,
            r##"<text x="{}" y="{}" text-anchor="middle" fill="#667085">no data</text></svg>"##,
            w / 2.0,
            h / 2.0
        );
        return out;
    }
    if lo == hi {
        lo -= 1.0;
        hi += 1.0;
    }
    let span = (c.end_ms - c.start_ms).max(1) as f64;
    let x = |ms: i64| l + (ms - c.start_ms) as f64 / span * pw;
    let y = |v: f64| t + (hi - v) / (hi - lo) * ph;
    for v in ticks(lo, hi, 5) {
        let _ = write!(
            out,
            r##"<line x1="{l}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#e5e7eb"/><text x="{}" y="{:.1}" text-anchor="end" fill="#667085">{}</text>"##,
            w - r,
            l - 4.0,
            y(v) + 4.0,
            number(v),
            y = y(v)
        );
    }
    for ms in time_ticks(c.start_ms, c.end_ms, (pw / 110.0).max(2.0) as usize) {
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#667085">{}</text>"##,
            x(ms),
            t + ph + 14.0,
            clock(ms, c.end_ms - c.start_ms)
        );
    }
    for (i, s) in c.series.iter().enumerate() {
        let mut d = String::new();
        let mut prev: Option<i64> = None;
        for &(ms, v) in &s.points {
            let gap = prev.is_none_or(|p| ms - p > c.step_ms + c.step_ms / 2);
            if v.is_finite() {
                let _ = write!(d, "{}{:.1} {:.1}", if gap { "M" } else { "L" }, x(ms), y(v));
                prev = Some(ms);
            } else {
                prev = None;
            }
        }
        let _ = write!(
            out,
            r#"<path d="{d}" fill="none" stroke="{}" stroke-width="1.5"/>"#,
            COLORS[i % COLORS.len()]
        );
    }
    if let Some(th) = c.threshold.filter(|v| v.is_finite()) {
        let _ = write!(
            out,
            r##"<line x1="{l}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#b91c1c" stroke-dasharray="4 3"/>"##,
            w - r,
            y = y(th)
        );
    }
    let mut ly = t + ph + 30.0;
    for (i, s) in c.series.iter().take(shown).enumerate() {
        let _ = write!(
            out,
            r##"<rect x="{l}" y="{:.1}" width="9" height="9" fill="{}"/><text x="{}" y="{ly:.1}" fill="#1d2330">{}</text>"##,
            ly - 8.0,
            COLORS[i % COLORS.len()],
            l + 14.0,
            escape(&s.labels.to_string())
        );
        ly += 14.0;
    }
    if c.series.len() > LEGEND_MAX {
        let _ = write!(
            out,
            r##"<text x="{l}" y="{ly:.1}" fill="#667085">and {} more series</text>"##,
            c.series.len() - LEGEND_MAX
        );
    }
    out.push_str("</svg>");
    out
}

/// About `n` round values from lo to hi: steps of 1, 2 or 5 times a power
/// of ten.
fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let raw = (hi - lo) / n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|f| f * mag)
        .find(|s| *s >= raw)
        .unwrap_or(raw);
    let mut out = Vec::new();
    let mut k = (lo / step).ceil();
    while k * step <= hi + step * 1e-9 && out.len() < 50 {
        out.push(k * step);
        k += 1.0;
    }
    out
}

/// About `n` times from start to end on round seconds, minutes, hours or days.
fn time_ticks(start: i64, end: i64, n: usize) -> Vec<i64> {
    const STEPS: [i64; 20] = [
        1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
        172800, 604800,
    ];
    let raw = (end - start) / 1000 / n.max(1) as i64;
    let step = STEPS
        .iter()
        .copied()
        .find(|s| *s >= raw)
        .unwrap_or(raw.max(1))
        * 1000;
    let mut out = Vec::new();
    let mut ms = start.div_euclid(step) * step;
    if ms < start {
        ms += step;
    }
    while ms <= end && out.len() < 50 {
        out.push(ms);
        ms += step;
    }
    out
}

/// A time label in UTC: seconds for short ranges, the day for long ones.
fn clock(ms: i64, span_ms: i64) -> String {
    // `2026-12-05T06:00:00.000Z`
    let t = model::time::format_rfc3339(ms);
    if span_ms < 600_000 {
        t[11..19].to_string()
    } else if span_ms <= 86_400_000 {
        t[11..16].to_string()
    } else {
        format!("{} {}", &t[5..10], &t[11..16])
    }
}

/// A value label: short, exact for round numbers.
fn number(v: f64) -> String {
    let a = v.abs();
    if v != 0.0 && !(1e-3..1e6).contains(&a) {
        format!("{v:.2e}")
    } else {
        let s = format!("{:.6}", v);
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(series: Vec<Series>) -> Chart {
        Chart {
            series,
            start_ms: 0,
            end_ms: 3_600_000,
            step_ms: 60_000,
            ..Chart::default()
        }
    }

    fn line(n: usize, f: impl Fn(i64) -> f64) -> Series {
        Series {
            labels: Labels::from_pairs([("i", n.to_string())]),
            points: (0..=60).map(|k| (k * 60_000, f(k))).collect(),
        }
    }

    #[test]
    fn one_line_per_series_and_the_same_bytes_each_time() {
        let c = chart(vec![line(0, |k| k as f64), line(1, |k| 2.0 * k as f64)]);
        let a = svg(&c);
        assert_eq!(a, svg(&c));
        assert_eq!(a.matches("<path").count(), 2);
        assert!(
            a.contains(r#"i=&quot;0&quot;"#) || a.contains("{i=&quot;0&quot;}"),
            "{a}"
        );
    }

    #[test]
    fn gaps_and_stale_points_break_the_line() {
        let mut s = line(0, |k| if k == 30 { f64::NAN } else { 1.0 });
        s.points.retain(|p| p.0 != 10 * 60_000);
        let a = svg(&chart(vec![s]));
        let d = a.split("d=\"").nth(1).unwrap();
        assert_eq!(d.split('"').next().unwrap().matches('M').count(), 3, "{a}");
    }

    #[test]
    fn empty_error_and_many_series() {
        assert!(svg(&chart(vec![])).contains("no data"));
        let e = svg(&Chart {
            error: Some("bad <query>".into()),
            ..chart(vec![])
        });
        assert!(e.contains("query failed: bad &lt;query&gt;"));
        let many: Vec<Series> = (0..100)
            .map(|n| line(n, move |k| (k + n as i64) as f64))
            .collect();
        let a = svg(&chart(many));
        assert_eq!(a.matches("<path").count(), 100);
        assert!(a.contains("and 95 more series"));
    }

    #[test]
    fn threshold_is_dashed() {
        let c = Chart {
            threshold: Some(100.0),
            ..chart(vec![line(0, |k| k as f64)])
        };
        assert!(svg(&c).contains("stroke-dasharray"));
    }

    #[test]
    fn labels() {
        assert_eq!(clock(3_723_000, 60_000), "01:02:03");
        assert_eq!(clock(3_723_000, 3_600_000), "01:02");
        assert_eq!(clock(3_723_000, 7 * 86_400_000), "01-01 01:02");
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(2_000_000.0), "2.00e6");
        assert_eq!(ticks(0.0, 10.0, 5), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
    }
}
