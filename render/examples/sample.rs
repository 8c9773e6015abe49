//! Writes sample charts to the directory given (default `.`), as PNG and
//! SVG, to look at: `cargo run -p render --example sample -- /tmp/charts`.

use model::Labels;
use render::{Chart, Series};

fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| ".".into());
    let line = |n: usize, f: &dyn Fn(i64) -> f64| Series {
        labels: Labels::from_pairs([
            ("__name__", "http_requests_total".to_string()),
            ("instance", format!("10.0.0.{n}:9100")),
            ("job", "api".to_string()),
        ]),
        points: (0..=360).map(|k| (k * 60_000, f(k))).collect(),
    };
    let base = Chart {
        title: "rate(http_requests_total[5m])".into(),
        start_ms: 1_764_900_000_000,
        end_ms: 1_764_900_000_000 + 360 * 60_000,
        step_ms: 60_000,
        ..Chart::default()
    };
    let shift = |mut s: Series| {
        for p in &mut s.points {
            p.0 += base.start_ms;
        }
        s
    };
    let cases = [
        (
            "one",
            vec![line(0, &|k| 50.0 + 30.0 * (k as f64 / 20.0).sin())],
            None,
        ),
        (
            "many",
            (0..100)
                .map(|n| {
                    line(n, &move |k| {
                        n as f64 + 10.0 * ((k + 3 * n as i64) as f64 / 30.0).sin()
                    })
                })
                .collect(),
            Some(90.0),
        ),
        (
            "gaps",
            vec![line(0, &|k| {
                if (100..140).contains(&k) || k % 50 == 7 {
                    f64::NAN
                } else {
                    (k % 60) as f64
                }
            })],
            None,
        ),
        ("empty", vec![], None),
    ];
    for (name, series, threshold) in cases {
        let c = Chart {
            series: series.into_iter().map(shift).collect(),
            threshold,
            ..base.clone()
        };
        std::fs::write(format!("{dir}/{name}.png"), render::png(&c)).unwrap();
        std::fs::write(format!("{dir}/{name}.svg"), render::svg(&c)).unwrap();
    }
    let e = Chart {
        error: Some("1:5: parse error: unexpected character inside braces: '!'".into()),
        ..base
    };
    std::fs::write(format!("{dir}/error.png"), render::png(&e)).unwrap();
}
