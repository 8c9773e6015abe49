//! Charts of a range query's result, laid out by our own code and drawn as
//! SVG or PNG: for the UI's `/api/v1/render` and for the graphs that
//! notifications carry.
//!
//! A [`Chart`] holds the series ([`Series`]: labels and `(t, v)` points),
//! the time range and step, the size, and optionally an alert's threshold
//! or an error to show instead of data. The layout is made once (value and
//! time axes on round numbers, one line per series in a fixed palette,
//! broken where a step is missing or a value is not a number so gaps and
//! staleness show, a lone sample drawn as a dot, a legend, the threshold
//! as a dashed line) and drawn by [`svg`] as text or by [`png`] with
//! tiny-skia, its text from the Hack typeface built in (so no fonts are
//! needed and every machine draws the same pixels). The same chart always
//! gives the same bytes.
//!
//! ```
//! use render::{Chart, Series};
//! let s = Series { labels: model::Labels::from_pairs([("job", "api")]), points: vec![(0, 1.0), (60_000, 2.0)] };
//! let chart = Chart { series: vec![s], start_ms: 0, end_ms: 60_000, step_ms: 60_000, ..Chart::default() };
//! assert!(render::svg(&chart).starts_with("<svg"));
//! ```

use model::Labels;

mod png;
mod svg;
mod text;

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
    svg::draw(&layout(c))
}

/// Draws `c` as a PNG image, text included, with no fonts needed on the
/// machine.
pub fn png(c: &Chart) -> Vec<u8> {
    png::draw(&layout(c))
}

/// A colour as `0xRRGGBB`.
type Rgb = u32;

const INK: Rgb = 0x1d2330;
const MUTED: Rgb = 0x667085;
const GRID: Rgb = 0xe5e7eb;
const ALARM: Rgb = 0xb91c1c;

fn palette(i: usize) -> Rgb {
    u32::from_str_radix(&COLORS[i % COLORS.len()][1..], 16).unwrap_or(0)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Anchor {
    Start,
    Middle,
    End,
}

/// What both backends draw, in order, in pixels from the top left.
#[derive(Debug, Clone, PartialEq)]
enum Item {
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        fill: Rgb,
    },
    /// A straight line one pixel wide, dashed or not.
    Line {
        x1: f32,
        y1: f32,
        x2: f32,
        y2: f32,
        stroke: Rgb,
        dashed: bool,
    },
    /// A series: polylines (each at least two points) and lone points,
    /// which are drawn as dots so a sample between two gaps still shows.
    Series {
        runs: Vec<Vec<(f32, f32)>>,
        dots: Vec<(f32, f32)>,
        stroke: Rgb,
    },
    /// Text on a baseline at `y`.
    Text {
        x: f32,
        y: f32,
        size: f32,
        anchor: Anchor,
        fill: Rgb,
        text: String,
    },
}

struct Scene {
    w: f32,
    h: f32,
    items: Vec<Item>,
}

const SIZE: f32 = 11.0;

fn text(x: f32, y: f32, anchor: Anchor, fill: Rgb, s: impl Into<String>) -> Item {
    Item::Text {
        x,
        y,
        size: SIZE,
        anchor,
        fill,
        text: s.into(),
    }
}

/// Lays the chart out once for both backends.
fn layout(c: &Chart) -> Scene {
    let (w, h) = (
        c.width.clamp(100, 4000) as f32,
        c.height.clamp(100, 4000) as f32,
    );
    let mut items = vec![Item::Rect {
        x: 0.0,
        y: 0.0,
        w,
        h,
        fill: 0xffffff,
    }];
    let title_h = if c.title.is_empty() { 0.0 } else { 18.0 };
    if !c.title.is_empty() {
        items.push(Item::Text {
            x: 8.0,
            y: 14.0,
            size: 12.0,
            anchor: Anchor::Start,
            fill: INK,
            text: text::fit(&c.title, 12.0, w - 16.0),
        });
    }
    let middle = |items: &mut Vec<Item>, fill: Rgb, msg: &str| {
        let lines = text::wrap(
            msg,
            SIZE,
            w - 20.0,
            ((h - title_h) / 14.0).max(1.0) as usize,
        );
        let top = title_h + (h - title_h) / 2.0 - 14.0 * (lines.len() as f32 - 1.0) / 2.0 + 4.0;
        for (i, l) in lines.into_iter().enumerate() {
            items.push(text(
                w / 2.0,
                top + 14.0 * i as f32,
                Anchor::Middle,
                fill,
                l,
            ));
        }
    };
    if let Some(e) = &c.error {
        middle(&mut items, ALARM, &format!("query failed: {e}"));
        return Scene { w, h, items };
    }
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
        middle(&mut items, MUTED, "no data");
        return Scene { w, h, items };
    }
    if lo == hi {
        lo -= 1.0;
        hi += 1.0;
    }
    let legend_rows = ((h - title_h - 80.0) / 2.0 / 14.0).clamp(0.0, LEGEND_MAX as f32) as usize;
    let shown = c.series.len().min(legend_rows);
    let more = c.series.len() > shown;
    let legend_h = 14.0 * (shown + usize::from(more)) as f32;
    // The value axis runs from a tick to a tick.
    let n = ((h - title_h - legend_h) / 50.0).clamp(2.0, 8.0) as usize;
    let step = tick_step(lo, hi, n);
    if step.is_finite() && step > 0.0 {
        (lo, hi) = ((lo / step).floor() * step, (hi / step).ceil() * step);
    }
    let value_ticks: Vec<(f64, String)> = ticks(lo, hi, n)
        .into_iter()
        .map(|v| (v, number(v)))
        .collect();
    let label_w = value_ticks
        .iter()
        .map(|(_, s)| text::width(s, SIZE))
        .fold(0.0, f32::max);
    let (l, r, t, b) = (
        (label_w + 10.0).max(30.0),
        10.0,
        8.0 + title_h,
        24.0 + legend_h,
    );
    let (pw, ph) = ((w - l - r).max(1.0), (h - t - b).max(1.0));
    let span = (c.end_ms - c.start_ms).max(1) as f64;
    let x = |ms: i64| l + ((ms - c.start_ms) as f64 / span) as f32 * pw;
    let y = |v: f64| t + ((hi - v) / (hi - lo)) as f32 * ph;
    for (v, label) in value_ticks {
        let yv = y(v);
        items.push(Item::Line {
            x1: l,
            y1: yv,
            x2: w - r,
            y2: yv,
            stroke: GRID,
            dashed: false,
        });
        items.push(text(l - 4.0, yv + 4.0, Anchor::End, MUTED, label));
    }
    let every = text::width("00-00 00:00", SIZE) + 24.0;
    for ms in time_ticks(c.start_ms, c.end_ms, (pw / every).max(2.0) as usize) {
        let label = clock(ms, c.end_ms - c.start_ms);
        // Kept whole inside the image at either edge.
        let half = text::width(&label, SIZE) / 2.0 + 2.0;
        let xt = x(ms).clamp(half, (w - half).max(half));
        items.push(text(xt, t + ph + 16.0, Anchor::Middle, MUTED, label));
    }
    for (i, s) in c.series.iter().enumerate() {
        let mut runs: Vec<Vec<(f32, f32)>> = Vec::new();
        let mut prev: Option<i64> = None;
        for &(ms, v) in &s.points {
            if !v.is_finite() {
                prev = None;
                continue;
            }
            let gap = prev.is_none_or(|p| ms - p > c.step_ms + c.step_ms / 2);
            if gap {
                runs.push(Vec::new());
            }
            if let Some(run) = runs.last_mut() {
                run.push((x(ms), y(v)));
            }
            prev = Some(ms);
        }
        let (runs, lone): (Vec<_>, Vec<_>) = runs.into_iter().partition(|r| r.len() > 1);
        items.push(Item::Series {
            runs,
            dots: lone.into_iter().flatten().collect(),
            stroke: palette(i),
        });
    }
    if let Some(th) = c.threshold.filter(|v| v.is_finite()) {
        let yt = y(th);
        items.push(Item::Line {
            x1: l,
            y1: yt,
            x2: w - r,
            y2: yt,
            stroke: ALARM,
            dashed: true,
        });
    }
    let mut ly = t + ph + 32.0;
    for (i, s) in c.series.iter().take(shown).enumerate() {
        items.push(Item::Rect {
            x: l,
            y: ly - 8.0,
            w: 9.0,
            h: 9.0,
            fill: palette(i),
        });
        let label = text::fit(&s.labels.to_string(), SIZE, w - l - 14.0 - r);
        items.push(text(l + 14.0, ly, Anchor::Start, INK, label));
        ly += 14.0;
    }
    if more {
        let n = c.series.len() - shown;
        let label = if shown == 0 {
            format!("{n} series")
        } else {
            format!("and {n} more series")
        };
        items.push(text(l, ly, Anchor::Start, MUTED, label));
    }
    Scene { w, h, items }
}

/// About `n` round values from lo to hi: steps of 1, 2 or 5 times a power
/// of ten.
fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let step = tick_step(lo, hi, n);
    let mut out = Vec::new();
    let mut k = (lo / step).ceil();
    while k * step <= hi + step * 1e-9 && out.len() < 50 {
        // `+ 0.0` makes -0 a plain 0.
        out.push(k * step + 0.0);
        k += 1.0;
    }
    out
}

fn tick_step(lo: f64, hi: f64, n: usize) -> f64 {
    let raw = (hi - lo) / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|f| f * mag)
        .find(|s| *s >= raw)
        .unwrap_or(raw)
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

    /// Decodes a PNG: its size and how many pixels are not white.
    fn decode(bytes: &[u8]) -> (u32, u32, usize) {
        let mut r = ::png::Decoder::new(std::io::Cursor::new(bytes))
            .read_info()
            .unwrap();
        let mut buf = vec![0; r.output_buffer_size().unwrap()];
        let info = r.next_frame(&mut buf).unwrap();
        let px = info.color_type.samples();
        let inked = buf[..info.buffer_size()]
            .chunks(px)
            .filter(|p| p[..3] != [255, 255, 255])
            .count();
        (info.width, info.height, inked)
    }

    #[test]
    fn png_for_every_case_has_its_size_and_is_not_blank() {
        let mut gappy = line(0, |k| if k == 30 { f64::NAN } else { (k % 7) as f64 });
        gappy.points.retain(|p| p.0 != 10 * 60_000);
        let cases = [
            ("one series", chart(vec![line(0, |k| k as f64)])),
            (
                "100 series",
                chart(
                    (0..100)
                        .map(|n| line(n, move |k| (k * n as i64) as f64))
                        .collect(),
                ),
            ),
            ("gaps and staleness", chart(vec![gappy])),
            ("empty", chart(vec![])),
            (
                "error",
                Chart {
                    error: Some("parse error: unexpected end of input".into()),
                    ..chart(vec![])
                },
            ),
        ];
        for (name, c) in cases {
            let bytes = png(&c);
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{name}");
            assert_eq!(bytes, png(&c), "{name}: not deterministic");
            let (w, h, inked) = decode(&bytes);
            assert_eq!((w, h), (600, 300), "{name}");
            // Text alone inks a few hundred pixels; lines thousands.
            assert!(inked > 100, "{name}: only {inked} pixels drawn");
        }
        let big = Chart {
            width: 1200,
            height: 700,
            ..chart(vec![line(0, |k| k as f64)])
        };
        let (w, h, _) = decode(&png(&big));
        assert_eq!((w, h), (1200, 700));
    }

    #[test]
    fn lone_points_are_dots_and_long_labels_are_cut() {
        let mut s = line(0, |k| if k % 2 == 0 { f64::NAN } else { 1.0 });
        s.labels = Labels::from_pairs([("path", "x".repeat(300))]);
        let a = svg(&chart(vec![s]));
        assert_eq!(a.matches("<circle").count(), 30, "{a}");
        assert!(a.contains("…"));
    }

    #[test]
    fn small_charts_keep_their_plot() {
        let many: Vec<Series> = (0..20)
            .map(|n| line(n, move |k| (k + n as i64) as f64))
            .collect();
        let c = Chart {
            width: 100,
            height: 100,
            ..chart(many)
        };
        let a = svg(&c);
        assert!(a.contains("20 series"), "{a}");
        let (w, h, _) = decode(&png(&c));
        assert_eq!((w, h), (100, 100));
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
