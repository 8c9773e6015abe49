//! Reading the WAL as it is written (remote write's source) and the holds
//! that keep unsent segments through checkpoints and restarts.

use std::path::Path;
use std::time::Duration;

use model::{Appender, Labels};
use store::{Options, Store, WalPosition};

fn opts() -> Options {
    Options {
        background: false,
        // Small, so that a hundred compressed batches span several.
        segment_bytes: 2048,
        ..Options::default()
    }
}

fn write(store: &Store, from: i64, n: i64) {
    for t in from..from + n {
        let mut app = store.appender();
        for s in 0..10 {
            let l = Labels::from_pairs([("__name__", "m"), ("s", &s.to_string())]);
            app.append(&l, t * 1000, (t * 10 + s) as f64).unwrap();
        }
        app.commit().unwrap();
    }
}

/// Everything the tail returns until it catches up: (labels, t, v).
fn drain(tail: &mut store::WalTail) -> (Vec<(String, i64, f64)>, WalPosition) {
    let mut names = std::collections::HashMap::new();
    let mut out = Vec::new();
    let mut end = tail.position();
    while let Some(b) = tail.read().unwrap() {
        for (r, l) in b.series {
            names.insert(r, l.to_string());
        }
        for (r, t, v) in b.samples {
            let l = names
                .get(&r)
                .cloned()
                .or_else(|| tail.labels(r).map(|l| l.to_string()))
                .unwrap();
            out.push((l, t, v));
        }
        end = b.end;
    }
    (out, end)
}

fn segments(dir: &Path) -> Vec<u64> {
    let mut v: Vec<u64> = std::fs::read_dir(dir.join("wal"))
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str()?.parse().ok())
        .collect();
    v.sort();
    v
}

#[test]
fn a_new_tail_starts_at_the_present_and_follows_the_writer_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    write(&store, 0, 5);
    let (mut tail, _hold) = store.wal_tail("vm").unwrap();
    assert!(tail.read().unwrap().is_none(), "nothing new yet");
    write(&store, 5, 100);
    let (got, _) = drain(&mut tail);
    assert_eq!(got.len(), 1000);
    assert!(segments(dir.path()).len() > 3, "the writes span segments");
    assert_eq!(got[0], ("m{s=\"0\"}".into(), 5000, 50.0));
    let last = got.last().unwrap();
    assert_eq!(last, &("m{s=\"9\"}".into(), 104_000, 1049.0));
    // In order per series.
    for s in 0..10 {
        let name = format!("m{{s=\"{s}\"}}");
        let ts: Vec<i64> = got.iter().filter(|x| x.0 == name).map(|x| x.1).collect();
        assert_eq!(ts, (5..105).map(|t| t * 1000).collect::<Vec<_>>());
    }
}

#[test]
fn held_segments_survive_checkpoints_and_a_restart_resumes_at_the_acknowledged_position() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    let (mut tail, hold) = store.wal_tail("vm").unwrap();
    write(&store, 0, 50);
    let (first, end) = drain(&mut tail);
    assert_eq!(first.len(), 500);
    // Nothing acknowledged: a checkpoint keeps every segment.
    let before = segments(dir.path());
    store.checkpoint().unwrap();
    let after = segments(dir.path());
    assert!(
        before.iter().all(|s| after.contains(s)),
        "{before:?} {after:?}"
    );
    // Acknowledge half way, then more is written and the process dies.
    let (mut tail2, _) = store.wal_tail("other").unwrap();
    assert!(tail2.read().unwrap().is_none());
    hold.ack(end);
    hold.save().unwrap();
    write(&store, 50, 30);
    drop(tail);
    drop(tail2);
    drop(hold);
    store.close().unwrap();

    let store = Store::open(dir.path(), opts()).unwrap();
    store.retain_wal_holds(&["vm".to_string()]);
    let (mut tail, hold) = store.wal_tail("vm").unwrap();
    assert_eq!(tail.position(), end);
    let (rest, end2) = drain(&mut tail);
    assert_eq!(
        rest.len(),
        300,
        "the samples after the acknowledged position, once"
    );
    assert_eq!(rest[0].1, 50_000);
    hold.ack(end2);
    store.checkpoint().unwrap();
    let left = segments(dir.path());
    assert!(
        left.iter().all(|s| *s >= end2.segment),
        "acknowledged segments go at the next checkpoint: {left:?}, hold at {end2}"
    );
    assert!(
        !dir.path().join("remote").join("other").exists(),
        "a removed remote's hold is released"
    );
}

#[test]
fn a_hold_past_its_size_limit_drops_the_oldest_segments() {
    let dir = tempfile::tempdir().unwrap();
    let o = Options {
        hold_max_bytes: Some(16 << 10),
        hold_max_age: Some(Duration::from_secs(3600)),
        ..opts()
    };
    let store = Store::open(dir.path(), o).unwrap();
    let (mut tail, hold) = store.wal_tail("vm").unwrap();
    write(&store, 0, 200);
    store.checkpoint().unwrap();
    let (segs, bytes) = hold.dropped();
    assert!(segs > 0 && bytes > 0, "{segs} {bytes}");
    let held: u64 = segments(dir.path())
        .iter()
        .filter(|s| **s >= hold.acked().segment)
        .map(|s| {
            std::fs::metadata(dir.path().join("wal").join(format!("{s:08}")))
                .unwrap()
                .len()
        })
        .sum();
    assert!(held <= (16 << 10) + 4096, "{held}");
    // The reader jumps to what is left.
    let (got, _) = drain(&mut tail);
    assert!(!got.is_empty() && got.len() < 2000, "{}", got.len());
    assert!(got[0].1 > 0);
}

#[test]
fn wal_only_keeps_no_samples_but_checks_order_and_feeds_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    let o = Options {
        wal_only: true,
        ..opts()
    };
    let store = Store::open(dir.path(), o).unwrap();
    let (mut tail, _hold) = store.wal_tail("vm").unwrap();
    write(&store, 0, 20);
    let mut app = store.appender();
    let l = Labels::from_pairs([("__name__", "m"), ("s", "0")]);
    app.append(&l, 1000, 1.0).unwrap();
    let sum = app.commit().unwrap();
    assert_eq!(
        sum.out_of_order, 1,
        "the newest sample is kept for the order checks"
    );
    let (got, _) = drain(&mut tail);
    assert_eq!(got.len(), 200);
    use model::Querier;
    let selected: Vec<_> = store
        .select(&[model::Matcher::equal("__name__", "m")], 0, i64::MAX)
        .unwrap()
        .map(|s| s.unwrap())
        .filter(|s| !s.samples.is_empty())
        .collect();
    assert!(selected.is_empty(), "no samples are kept for queries");
    store.flush_all().unwrap();
    assert_eq!(store.metrics().head_chunks.get(), 0.0);
}
