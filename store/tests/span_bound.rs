//! The bound on chunk rows' spans (`max_chunk_span` in `meta`,
//! `store/docs/format/sqlite.md`): reads start their scan of a series at
//! `mint - bound`, so the bound must cover every row a reader can see.
//! Rows longer than any before raise it, files without it get it measured
//! at open, and a damaged value is refused.

use std::path::Path;
use std::time::Duration;

use model::{Appender, Labels, Matcher, Querier};
use rusqlite::Connection;
use store::{Options, Store};

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

fn opts(range: Duration) -> Options {
    Options {
        background: false,
        retention_time: None,
        chunk_range: range,
        ..Options::default()
    }
}

fn labels() -> Labels {
    Labels::from_pairs([("__name__", "m".to_string())])
}

fn meta(dir: &Path, key: &str) -> Option<String> {
    let db = Connection::open(dir.join("watchfire.db")).unwrap();
    db.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .ok()
}

/// Timestamps of the samples in `[mint, maxt]`.
fn times(store: &Store, mint: i64, maxt: i64) -> Vec<i64> {
    store
        .select(&[Matcher::equal("__name__", "m")], mint, maxt)
        .unwrap()
        .flat_map(|s| s.unwrap().samples.into_iter().map(|p| p.t))
        .collect()
}

/// Samples every `step` ms from 0 through `until`, flushed to SQLite.
fn write(store: &Store, step: i64, until: i64) {
    let mut app = store.appender();
    let mut t = 0;
    while t <= until {
        app.append(&labels(), t, t as f64).unwrap();
        t += step;
    }
    app.commit().unwrap();
    store.flush_all().unwrap();
}

#[test]
fn longer_rows_raise_the_bound_and_are_still_found() {
    let dir = tempfile::tempdir().unwrap();
    // Two-hour chunks of one-minute samples: rows span 119 minutes.
    let store = Store::open(dir.path(), opts(Duration::from_secs(2 * 3600))).unwrap();
    write(&store, MIN, 4 * HOUR - MIN);
    drop(store);
    assert_eq!(
        meta(dir.path(), "max_chunk_span"),
        Some((119 * MIN).to_string())
    );

    // The same store later cut at ten hours: 120 samples of five minutes
    // make one row of 595 minutes, far longer than the bound so far.
    let store = Store::open(dir.path(), opts(Duration::from_secs(10 * 3600))).unwrap();
    let mut app = store.appender();
    let start = 10 * HOUR;
    for i in 0..120 {
        app.append(&labels(), start + i * 5 * MIN, 1.0).unwrap();
    }
    app.commit().unwrap();
    store.flush_all().unwrap();
    assert_eq!(
        meta(dir.path(), "max_chunk_span"),
        Some((595 * MIN).to_string())
    );
    // A window at the row's end: only a scan from `mint - 595 min` finds it.
    let end = start + 119 * 5 * MIN;
    assert_eq!(times(&store, end - MIN, end), vec![end]);
    // A window in the two-hour rows is unchanged.
    assert_eq!(
        times(&store, 3 * HOUR, 3 * HOUR + MIN),
        vec![3 * HOUR, 3 * HOUR + MIN]
    );
    drop(store);

    // After a restart, readers take the bound from the file.
    let store = Store::open(dir.path(), opts(Duration::from_secs(2 * 3600))).unwrap();
    assert_eq!(times(&store, end - MIN, end), vec![end]);
}

#[test]
fn a_file_without_the_bound_gets_it_measured_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts(Duration::from_secs(2 * 3600))).unwrap();
    write(&store, MIN, 5 * HOUR);
    let want = times(&store, 0, 5 * HOUR);
    drop(store);
    // As a build that did not record the bound leaves the file.
    Connection::open(dir.path().join("watchfire.db"))
        .unwrap()
        .execute("DELETE FROM meta WHERE key = 'max_chunk_span'", [])
        .unwrap();
    let store = Store::open(dir.path(), opts(Duration::from_secs(2 * 3600))).unwrap();
    assert_eq!(
        meta(dir.path(), "max_chunk_span"),
        Some((119 * MIN).to_string())
    );
    assert_eq!(times(&store, 0, 5 * HOUR), want);
    assert_eq!(times(&store, 4 * HOUR + 30 * MIN, 5 * HOUR).len(), 31);
}

#[test]
fn a_damaged_bound_is_refused_at_open() {
    for bad in ["-1", "soon", ""] {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), opts(Duration::from_secs(2 * 3600))).unwrap();
        write(&store, MIN, HOUR);
        drop(store);
        Connection::open(dir.path().join("watchfire.db"))
            .unwrap()
            .execute(
                "UPDATE meta SET value = ?1 WHERE key = 'max_chunk_span'",
                [bad],
            )
            .unwrap();
        let err = Store::open(dir.path(), opts(Duration::from_secs(2 * 3600)))
            .err()
            .expect("opened with a damaged bound")
            .to_string();
        assert!(
            err.contains("watchfire.db")
                && err.contains(&format!(
                    "meta max_chunk_span is {bad:?}, not a span in milliseconds"
                )),
            "{err}"
        );
    }
}
