//! Store benchmarks: append throughput for 100k series on one core, chunk
//! decode throughput, and two measurements printed before the timed runs:
//! head memory per active series (counted by a wrapping allocator) and
//! bytes per sample on disk after the compliance dataset is loaded and
//! flushed (skipped with a reason when `../shared` is absent).

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use model::{Appender, Labels};
use store::{Options, Store};

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static A: Counting = Counting;

const SERIES: usize = 100_000;

fn opts() -> Options {
    Options {
        background: false,
        retention_time: None,
        ..Options::default()
    }
}

/// Label sets shaped like the ingest harness's targets: 1000 series per
/// target, a handful of labels each.
fn series_labels(n: usize) -> Vec<Labels> {
    (0..n)
        .map(|i| {
            Labels::from_pairs([
                ("__name__", format!("bench_metric_{}", i % 50)),
                ("instance", format!("127.0.0.1:{}", 20000 + i / 1000)),
                ("job", "bench".to_string()),
                ("series", (i % 1000).to_string()),
                ("kind", ["counter", "gauge", "histogram"][i % 3].to_string()),
            ])
        })
        .collect()
}

/// A value sequence like a scraped counter or gauge.
fn value(i: usize, k: usize) -> f64 {
    match i % 3 {
        0 => (k * (i % 17 + 1)) as f64,
        1 => 1000.0 + ((k * 7 + i) % 13) as f64 * 0.25,
        _ => ((k * 31 + i * 7) % 1000) as f64,
    }
}

fn head_memory_per_series() {
    let labels = series_labels(SERIES);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    let before = LIVE.load(Ordering::Relaxed);
    // 60 samples each: an open chunk half full, as in steady state.
    for k in 0..60 {
        let mut app = store.appender();
        for (i, l) in labels.iter().enumerate() {
            app.append(l, k as i64 * 15_000, value(i, k)).unwrap();
        }
        app.commit().unwrap();
    }
    let after = LIVE.load(Ordering::Relaxed);
    // Label sets are shared with the caller's copies: count them once.
    let label_bytes: usize = labels.iter().map(|l| l.heap_bytes() + 16).sum();
    drop(labels);
    let per = (after - before) as f64 / SERIES as f64;
    println!(
        "head memory: {:.0} bytes per active series with a half-full open chunk ({} series; label sets {:.0} B of that)",
        per + 0.0,
        SERIES,
        label_bytes as f64 / SERIES as f64
    );
    drop(store);
}

fn compliance_bytes_per_sample() {
    let gen = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/compliance/gen_dataset.py");
    if !gen.exists() {
        println!("bytes per sample: skipped, {} not found", gen.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data.prom");
    let ok = std::process::Command::new("python3")
        .arg(&gen)
        .args(["--format", "prom-ms", "--out"])
        .arg(&file)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        println!("bytes per sample: skipped, gen_dataset.py failed");
        return;
    }
    let data = dir.path().join("store");
    let store = Store::open(&data, opts()).unwrap();
    let mut app = store.appender();
    let (mut n, mut in_batch) = (0usize, 0usize);
    let mut last_key = String::new();
    let mut last_labels = Labels::empty();
    for line in BufReader::new(std::fs::File::open(&file).unwrap()).lines() {
        let line = line.unwrap();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        // `<series> <value> <ms>`: the series text is the identity here.
        let mut parts = line.rsplitn(3, ' ');
        let (Some(ts), Some(v), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if key != last_key {
            last_key = key.to_string();
            last_labels = Labels::from_pairs([("__name__", "s"), ("k", key)]);
        }
        let v: f64 = match v {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap(),
        };
        app.append(&last_labels, ts.parse().unwrap(), v).unwrap();
        n += 1;
        in_batch += 1;
        if in_batch == 50_000 {
            app.commit().unwrap();
            in_batch = 0;
        }
    }
    app.commit().unwrap();
    store.flush_all().unwrap();
    store.vacuum().unwrap();
    let bytes = store.disk_bytes();
    println!("bytes per sample: {:.3} ({} bytes on disk for {} samples of the compliance dataset, flushed and vacuumed)", bytes as f64 / n as f64, bytes, n);
}

fn append(c: &mut Criterion) {
    let labels = series_labels(SERIES);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    let mut round = 0usize;
    let mut g = c.benchmark_group("append");
    g.throughput(Throughput::Elements(SERIES as u64));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(20));
    // One round = one scrape of 100 targets × 1000 series, each target a
    // committed batch, as the scrape loop does it.
    g.bench_function("100k_series_round", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                for target in labels.chunks(1000) {
                    let mut app = store.appender();
                    for (i, l) in target.iter().enumerate() {
                        app.append(l, round as i64 * 15_000, value(i, round))
                            .unwrap();
                    }
                    app.commit().unwrap();
                }
                spent += start.elapsed();
                round += 1;
                if round.is_multiple_of(60) {
                    store.flush().unwrap();
                }
            }
            spent
        })
    });
    g.finish();
}

fn decode(c: &mut Criterion) {
    // A gauge with arbitrary floats (stays XOR) and a counter of integers
    // (compacted to the keyed decimal encoding), 120 samples each.
    let mut xor = store::chunk::Encoder::new();
    let mut dec = store::chunk::Encoder::new();
    for k in 0..120 {
        let t = 1_793_469_601_237 + k as i64 * 15_000;
        xor.append(t, value(0, k) + value(2, k) / 7.0);
        dec.append(t, value(0, k) + value(2, k));
    }
    let dec = store::chunk::compact(dec.finish());
    assert_eq!(dec[0], store::chunk::Encoding::Shaped as u8);
    // A merged row: two hours of the counter.
    let long: Vec<model::Sample> = (0..480)
        .map(|k| {
            model::Sample::new(
                1_793_469_601_237 + k as i64 * 15_000,
                value(0, k) + value(2, k),
            )
        })
        .collect();
    let long = store::chunk::encode_smallest(&long).unwrap();
    assert_eq!(long[0], store::chunk::Encoding::Shaped as u8);
    // A histogram bucket merged against its `_count` (encoding 5): two
    // hours, a share of the observations that drifts.
    let (mut count, mut bucket) = (Vec::new(), Vec::new());
    let (mut n, mut b) = (0i64, 0i64);
    for k in 0..480i64 {
        let t = 1_793_469_601_237 + k * 15_000;
        let obs = 40 + (k * 7919) % 37;
        n += obs;
        b += (obs * 3 + (k * 31) % 7) / 10;
        count.push(model::Sample::new(t, n as f64));
        bucket.push(model::Sample::new(t, b as f64));
    }
    let count = store::chunk::Reference::new(&count);
    let referenced = store::chunk::encode_referenced(&bucket, 1, &count).unwrap();
    let mut out = Vec::with_capacity(480);
    let mut g = c.benchmark_group("decode");
    for (name, bytes) in [
        ("xor_chunk_120_samples", xor.bytes().to_vec()),
        ("decimal_chunk_120_samples", dec.to_vec()),
        ("decimal_chunk_480_samples", long.to_vec()),
    ] {
        g.throughput(Throughput::Elements(
            store::chunk::sample_count(&bytes) as u64
        ));
        g.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                store::chunk::decode_row_into(
                    std::hint::black_box(&bytes),
                    1_793_469_601_237,
                    &mut out,
                )
                .unwrap();
                out.len()
            })
        });
    }
    g.throughput(Throughput::Elements(bucket.len() as u64));
    g.bench_function("referenced_chunk_480_samples", |b| {
        b.iter(|| {
            out.clear();
            store::chunk::decode_referenced_row_into(
                std::hint::black_box(&referenced),
                1_793_469_601_237,
                &count,
                &mut out,
            )
            .unwrap();
            out.len()
        })
    });
    g.finish();
}

criterion_group!(benches, decode, append);

fn main() {
    head_memory_per_series();
    compliance_bytes_per_sample();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
