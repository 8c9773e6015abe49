//! Time to draw the chart a notification carries: 600×300, 100 series of
//! 360 points each (6 h at one minute), as PNG and as SVG.
//! `cargo bench -p render`.

use criterion::{criterion_group, criterion_main, Criterion};
use model::Labels;
use render::{Chart, Series};

fn chart() -> Chart {
    let series = (0..100)
        .map(|n| Series {
            labels: Labels::from_pairs([
                ("__name__", "http_requests_total".to_string()),
                ("instance", format!("10.0.0.{n}:9100")),
            ]),
            points: (0..360)
                .map(|k| {
                    let v = n as f64 + 10.0 * ((k + 3 * n) as f64 / 30.0).sin();
                    (k * 60_000, v)
                })
                .collect(),
        })
        .collect();
    Chart {
        title: "rate(http_requests_total[5m])".into(),
        series,
        start_ms: 0,
        end_ms: 359 * 60_000,
        step_ms: 60_000,
        threshold: Some(90.0),
        ..Chart::default()
    }
}

fn bench(c: &mut Criterion) {
    let chart = chart();
    let mut g = c.benchmark_group("600x300, 100 series x 360 points");
    g.bench_function("png", |b| b.iter(|| render::png(&chart)));
    g.bench_function("svg", |b| b.iter(|| render::svg(&chart)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
