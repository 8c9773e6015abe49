//! Parser throughput on a 10 MB exposition (one core): bytes per second
//! from criterion, samples per second printed alongside.

use collector::exposition::{parse_with, Format, Strictness};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// A scrape-like body: counters, gauges and histograms with a handful of
/// labels each, about `target` bytes, in both formats.
fn body(target: usize, format: Format) -> (Vec<u8>, usize) {
    let mut out = String::with_capacity(target + 4096);
    let mut samples = 0;
    let mut fam = 0;
    while out.len() < target {
        let name = format!("app_requests_{fam}");
        out.push_str(&format!(
            "# HELP {name} Requests handled.\n# TYPE {name} counter\n"
        ));
        for i in 0..50 {
            let v = fam * 1000 + i * 7;
            let line = match format {
                Format::Text => format!("{name}_total{{method=\"GET\",code=\"200\",handler=\"/api/v1/items/{i}\",instance=\"10.0.0.{i}:8080\"}} {v}\n"),
                Format::OpenMetrics => format!("{name}_total{{method=\"GET\",code=\"200\",handler=\"/api/v1/items/{i}\",instance=\"10.0.0.{i}:8080\"}} {v} 1793469601.237\n"),
            };
            out.push_str(&line);
            samples += 1;
        }
        let h = format!("app_latency_{fam}_seconds");
        out.push_str(&format!("# HELP {h} Latency.\n# TYPE {h} histogram\n"));
        for le in [
            "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "+Inf",
        ] {
            out.push_str(&format!(
                "{h}_bucket{{handler=\"/x\",le=\"{le}\"}} {}\n",
                fam + 3
            ));
            samples += 1;
        }
        out.push_str(&format!(
            "{h}_sum{{handler=\"/x\"}} 12.5\n{h}_count{{handler=\"/x\"}} {}\n",
            fam + 3
        ));
        samples += 2;
        fam += 1;
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    (out.into_bytes(), samples)
}

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse_10MB");
    g.sample_size(20);
    for (name, format) in [("text", Format::Text), ("openmetrics", Format::OpenMetrics)] {
        let (b, samples) = body(10 << 20, format);
        println!("{name}: {} bytes, {samples} samples per body", b.len());
        g.throughput(Throughput::Bytes(b.len() as u64));
        g.bench_function(name, |bench| {
            bench.iter(|| {
                let entries =
                    parse_with(std::hint::black_box(&b), format, Strictness::Prometheus).unwrap();
                entries.len()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
