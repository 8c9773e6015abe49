//! Out-of-order samples (`out_of_order_time_window`): stored within the
//! window, refused beyond it, queryable in time order, and kept through
//! WAL replay, checkpoints, flushes to SQLite and WAL damage.

use std::fs::{self, OpenOptions};
use std::path::Path;
use std::time::Duration;

use model::{Appender, Labels, Matcher, Querier};
use store::{Options, Store};

const HOUR: i64 = 3_600_000;
/// The newest in-order timestamp of the test data.
const NOW: i64 = 10 * HOUR;

fn opts(window: Option<Duration>) -> Options {
    Options {
        background: false,
        retention_time: None,
        segment_bytes: 4096,
        out_of_order_window: window,
        ..Options::default()
    }
}

fn hour() -> Option<Duration> {
    Some(Duration::from_secs(3600))
}

fn l(i: usize) -> Labels {
    Labels::from_pairs([("__name__", "m".to_string()), ("s", i.to_string())])
}

/// In-order samples every minute for two hours up to `NOW`, then late
/// ones every 10 s in between over the last 50 minutes (out of order).
/// Returns the late samples' count per series.
fn write(store: &Store) -> usize {
    let mut app = store.appender();
    for t in (NOW - 2 * HOUR..=NOW).step_by(60_000) {
        for i in 0..3 {
            app.append(&l(i), t, t as f64 / 1000.0).unwrap();
        }
    }
    let sum = app.commit().unwrap();
    assert_eq!(sum.out_of_order, 0);
    let mut late = 0;
    for t in (NOW - 50 * 60_000..NOW).step_by(10_000) {
        if t % 60_000 == 0 {
            continue;
        }
        let mut app = store.appender();
        for i in 0..3 {
            app.append(&l(i), t, t as f64 / 1000.0).unwrap();
        }
        let sum = app.commit().unwrap();
        assert_eq!(
            (sum.appended, sum.out_of_order),
            (3, 0),
            "late sample at {t}"
        );
        late += 1;
    }
    late
}

/// Every sample of series `i`, checked ascending and exact.
fn samples(store: &Store, i: usize) -> Vec<i64> {
    let s = store
        .select(&[Matcher::equal("s", i.to_string())], 0, i64::MAX)
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let ts: Vec<i64> = s.samples.iter().map(|x| x.t).collect();
    assert!(ts.windows(2).all(|w| w[0] < w[1]), "ascending, no repeats");
    for x in &s.samples {
        assert_eq!(x.v, x.t as f64 / 1000.0, "value at {}", x.t);
    }
    ts
}

fn expected(late: usize) -> usize {
    121 + late
}

#[test]
fn late_samples_within_the_window_are_stored_and_older_ones_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts(hour())).unwrap();
    let late = write(&store);
    assert_eq!(samples(&store, 0).len(), expected(late));
    // Beyond the window (an hour behind the newest sample of any series).
    let mut app = store.appender();
    app.append(&l(0), NOW - HOUR - 1, 1.0).unwrap();
    app.append(&l(0), NOW - HOUR + 5, (NOW - HOUR + 5) as f64 / 1000.0)
        .unwrap();
    let sum = app.commit().unwrap();
    assert_eq!((sum.appended, sum.out_of_order), (1, 1));
    // A late sample again with another value is a duplicate; the same
    // value is ignored.
    let t = NOW - 50 * 60_000 + 10_000;
    let mut app = store.appender();
    app.append(&l(0), t, 5.0).unwrap();
    app.append(&l(1), t, t as f64 / 1000.0).unwrap();
    let sum = app.commit().unwrap();
    assert_eq!((sum.appended, sum.duplicate), (0, 1));
    assert_eq!(store.metrics().out_of_order.get(), 1);
}

#[test]
fn without_a_window_late_samples_are_refused_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts(None)).unwrap();
    let mut app = store.appender();
    app.append(&l(0), NOW, 1.0).unwrap();
    app.commit().unwrap();
    let mut app = store.appender();
    app.append(&l(0), NOW - 1000, 1.0).unwrap();
    assert_eq!(app.commit().unwrap().out_of_order, 1);
}

fn reopen(dir: &Path) -> Store {
    Store::open(dir, opts(hour())).unwrap()
}

#[test]
fn late_samples_survive_replay_checkpoints_and_flushes() {
    // WAL replay.
    let dir = tempfile::tempdir().unwrap();
    let store = reopen(dir.path());
    let late = write(&store);
    store.close().unwrap();
    let store = reopen(dir.path());
    for i in 0..3 {
        assert_eq!(samples(&store, i).len(), expected(late), "after replay");
    }
    // A checkpoint holds the late samples the head has.
    store.checkpoint().unwrap();
    store.close().unwrap();
    let store = reopen(dir.path());
    for i in 0..3 {
        assert_eq!(
            samples(&store, i).len(),
            expected(late),
            "after a checkpoint"
        );
    }
    // Everything in SQLite: overlapping chunks merge by time.
    store.flush_all().unwrap();
    store.close().unwrap();
    let wal = dir.path().join("wal");
    for e in fs::read_dir(&wal).unwrap() {
        fs::remove_file(e.unwrap().path()).unwrap();
    }
    let store = reopen(dir.path());
    for i in 0..3 {
        assert_eq!(
            samples(&store, i).len(),
            expected(late),
            "from SQLite alone"
        );
    }
    // New late samples after the reopen still go in, and a range in the
    // middle reads exactly.
    let mut app = store.appender();
    app.append(&l(0), NOW - 5_000, (NOW - 5_000) as f64 / 1000.0)
        .unwrap();
    assert_eq!(app.commit().unwrap().appended, 1);
    let s = store
        .select(&[Matcher::equal("s", "0")], NOW - 60_000, NOW)
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let ts: Vec<i64> = s.samples.iter().map(|x| x.t).collect();
    let want: Vec<i64> = (NOW - 60_000..=NOW)
        .step_by(10_000)
        .chain([NOW - 5_000])
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(ts, want);
}

#[test]
fn a_damaged_out_of_order_record_is_repaired_like_any_other() {
    let dir = tempfile::tempdir().unwrap();
    let store = reopen(dir.path());
    let late = write(&store);
    drop(store);
    let mut segs: Vec<_> = fs::read_dir(dir.path().join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| fs::metadata(p).unwrap().len() > 8)
        .collect();
    segs.sort();
    // Tear the last record (a type 3 one: the late samples came last).
    let last = segs.last().unwrap();
    let len = fs::metadata(last).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(last)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    let store = reopen(dir.path());
    assert_eq!(store.metrics().wal_corruptions.get(), 1);
    for i in 0..3 {
        assert_eq!(
            samples(&store, i).len(),
            expected(late) - 1,
            "all but the torn batch"
        );
    }
}

#[test]
fn a_late_chunk_starting_where_a_stored_chunk_starts_keeps_both() {
    // Chunks in SQLite are keyed by series and first timestamp. A late
    // sample at a timestamp the head no longer has (its chunk is flushed)
    // can start a late chunk with the key of a stored one: the two are
    // joined, and no sample of the stored chunk is lost.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts(Some(Duration::from_secs(3 * 3600)))).unwrap();
    let mut app = store.appender();
    for t in (NOW - 2 * HOUR..=NOW).step_by(60_000) {
        app.append(&l(0), t, t as f64 / 1000.0).unwrap();
    }
    app.commit().unwrap();
    store.flush_all().unwrap();
    let stored = samples(&store, 0);
    let first = stored[0];
    let mut app = store.appender();
    // The stored chunk's first timestamp with another value: the head does
    // not hold it, so it is taken as late; then two new late timestamps.
    app.append(&l(0), first, 2.0).unwrap();
    for t in [first + 10_000, first + 20_000] {
        app.append(&l(0), t, t as f64 / 1000.0).unwrap();
    }
    app.commit().unwrap();
    store.flush_all().unwrap();
    let mut want = stored.clone();
    want.extend([first + 10_000, first + 20_000]);
    want.sort();
    // `samples` also checks every value: where both chunks had a sample,
    // the stored one stays, as queries read it.
    assert_eq!(samples(&store, 0), want);
    store.close().unwrap();
}
