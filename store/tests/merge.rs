//! Merging of SQLite chunks per period (`store/docs/format/sqlite.md`,
//! "Merging"): answers stay the same bit for bit, rows get fewer, a late
//! chunk reopens its period, and a damaged row is left for the query to
//! name.

use std::path::Path;
use std::time::Duration;

use model::{Appender, Labels, Querier, Sample};
use rusqlite::Connection;
use store::{Options, Store};

const HOUR: i64 = 3_600_000;

fn opts() -> Options {
    Options {
        background: false,
        retention_time: None,
        ..Options::default()
    }
}

fn labels(i: usize) -> Labels {
    Labels::from_pairs([("__name__", "m".to_string()), ("s", i.to_string())])
}

/// Every series' samples over all time, as `(t, value bits)`.
fn everything(store: &Store) -> Vec<(String, Vec<(i64, u64)>)> {
    store
        .select(
            &[model::Matcher::equal("__name__", "m")],
            i64::MIN,
            i64::MAX,
        )
        .unwrap()
        .map(|s| {
            let s = s.unwrap();
            let pts = s
                .samples
                .iter()
                .map(|p: &Sample| (p.t, p.v.to_bits()))
                .collect();
            (s.labels.encoded().to_string(), pts)
        })
        .collect()
}

fn rows(dir: &Path) -> i64 {
    let db = Connection::open(dir.join("watchfire.db")).unwrap();
    db.query_row("SELECT COUNT(*) FROM chunks", [], |r| r.get(0))
        .unwrap()
}

/// A finite `f64` of 64 scattered bits (a SplitMix64 step of `i`): XOR
/// coding spends about 8.4 bytes on each.
fn noise(i: u64) -> f64 {
    let mut z = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    // An exponent of all ones would be an infinity or a NaN.
    if (z >> 52) & 0x7ff == 0x7ff {
        z ^= 1 << 52;
    }
    f64::from_bits(z)
}

/// Six hours of 15 s samples for a few kinds of series: a counter, a
/// decimal gauge, values that need XOR (every 7.5 s: a period's 960 take
/// more than a page keeps in place), and a stale marker.
fn write_six_hours(store: &Store) {
    let mut app = store.appender();
    for step in 0..(6 * 240) {
        let t = step * 15_000 + 123;
        app.append(&labels(0), t, (step * 7) as f64).unwrap();
        app.append(&labels(1), t, (step % 97) as f64 / 100.0)
            .unwrap();
        app.append(&labels(2), t, noise(2 * step as u64)).unwrap();
        app.append(&labels(2), t + 7_500, noise(2 * step as u64 + 1))
            .unwrap();
        let v = if step % 300 == 299 {
            f64::from_bits(0x7ff0000000000002)
        } else {
            step as f64
        };
        app.append(&labels(3), t, v).unwrap();
        if step % 100 == 99 {
            app.commit().unwrap();
        }
    }
    app.commit().unwrap();
}

#[test]
fn merging_keeps_every_sample_and_cuts_the_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    write_six_hours(&store);
    store.flush_all().unwrap();
    let before = everything(&store);
    let rows_before = rows(dir.path());
    // 4 series of at least 1 440 samples, in chunks of at most 120.
    assert!(rows_before >= 48, "{rows_before} rows");

    // Only the periods that ended: [0, 2 h) and [2 h, 4 h).
    store.merge(4 * HOUR).unwrap();
    let rows_mid = rows(dir.path());
    assert!(rows_mid < rows_before, "{rows_mid} rows after merging");
    assert_eq!(everything(&store), before);

    store.merge(i64::MAX).unwrap();
    let rows_after = rows(dir.path());
    assert!(rows_after < rows_mid, "{rows_after} rows after merging all");
    assert_eq!(everything(&store), before);
    let db = Connection::open(dir.path().join("watchfire.db")).unwrap();
    let page: i64 = db.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
    assert_eq!(page, 16384, "a new file's page size");
    // The XOR series' 960 samples a period take more than one page can
    // hold in place (4 086 bytes with 16 KiB pages), so it keeps more rows
    // than the others.
    assert!(rows_after > 12, "{rows_after}");
    store.close().unwrap();

    // After a restart the answers are the same and merging again changes
    // nothing.
    let store = Store::open(dir.path(), opts()).unwrap();
    assert_eq!(everything(&store), before);
    store.merge(i64::MAX).unwrap();
    assert_eq!(rows(dir.path()), rows_after);
    store.close().unwrap();
}

#[test]
fn a_late_chunk_reopens_its_merged_period() {
    let dir = tempfile::tempdir().unwrap();
    let o = Options {
        out_of_order_window: Some(Duration::from_secs(6 * 3600)),
        ..opts()
    };
    let store = Store::open(dir.path(), o).unwrap();
    write_six_hours(&store);
    store.flush_all().unwrap();
    store.merge(i64::MAX).unwrap();
    let merged = rows(dir.path());

    // Late samples for the first period, between existing ones, and one
    // that repeats a timestamp with its value.
    let mut app = store.appender();
    for k in 0..40 {
        app.append(&labels(0), k * 15_000 + 5_000, -1.0).unwrap();
    }
    app.append(&labels(0), 123, 0.0).unwrap();
    app.commit().unwrap();
    store.flush_all().unwrap();
    let with_late = everything(&store);
    {
        let db = Connection::open(dir.path().join("watchfire.db")).unwrap();
        let mut st = db.prepare("SELECT series_id, mint, maxt, length(data), hex(substr(data,1,3)) FROM chunks ORDER BY series_id, mint").unwrap();
        let r: Vec<(i64, i64, i64, i64, String)> = st
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .unwrap()
            .map(|x| x.unwrap())
            .collect();
        eprintln!("{r:?}");
    }
    assert!(rows(dir.path()) > merged);
    assert_eq!(with_late[0].1.len(), 1440 + 40);

    store.merge(i64::MAX).unwrap();
    assert_eq!(rows(dir.path()), merged, "the late chunk is merged in");
    assert_eq!(everything(&store), with_late);
    store.close().unwrap();
}

/// [`write_six_hours`] flushed, with one chunk of series 0 (`series_id`
/// 1), the one whose `mint` the SQL expression `mint` gives, cut short: it
/// still names 120 samples but holds fewer. The store is opened again.
fn six_hours_with_a_chunk_cut_short(dir: &Path, mint: &str) -> Store {
    let store = Store::open(dir, opts()).unwrap();
    write_six_hours(&store);
    store.flush_all().unwrap();
    store.close().unwrap();
    let db = Connection::open(dir.join("watchfire.db")).unwrap();
    db.execute(
        &format!(
            "UPDATE chunks SET data = substr(data, 1, 10) WHERE series_id = 1 AND mint = {mint}"
        ),
        [],
    )
    .unwrap();
    Store::open(dir, opts()).unwrap()
}

#[test]
fn a_damaged_row_is_left_for_the_query_to_name() {
    let dir = tempfile::tempdir().unwrap();
    // The second chunk.
    let store = six_hours_with_a_chunk_cut_short(
        dir.path(),
        "(SELECT mint FROM chunks WHERE series_id = 1 ORDER BY mint LIMIT 1 OFFSET 1)",
    );
    let rows_before = rows(dir.path());
    store.merge(i64::MAX).unwrap();
    assert_eq!(
        store.metrics().merge_damaged.get(),
        1,
        "the damaged chunk is counted"
    );
    // The damaged period of series 0 keeps its rows; the rest merged.
    let left: i64 = {
        let db = Connection::open(dir.path().join("watchfire.db")).unwrap();
        db.query_row(
            "SELECT COUNT(*) FROM chunks WHERE series_id = (SELECT MIN(series_id) FROM chunks) AND mint < ?1",
            [2 * HOUR],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(left, 4, "the damaged period is left as it was");
    assert!(rows(dir.path()) < rows_before);
    let err = store
        .select(&[model::Matcher::equal("s", "0")], 0, HOUR)
        .unwrap()
        .find_map(|s| s.err())
        .expect("the query names the damage");
    assert!(err.to_string().contains("watchfire.db: series"), "{err}");
    // The other series answer in full.
    let others: Vec<_> = store
        .select(&[model::Matcher::equal("s", "1")], i64::MIN, i64::MAX)
        .unwrap()
        .map(|s| s.unwrap().samples.len())
        .collect();
    assert_eq!(others, vec![1440]);
    store.close().unwrap();
}

#[test]
fn a_long_gap_between_periods_is_passed_in_one_step() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    let later = 1_000 * 24 * HOUR;
    let mut app = store.appender();
    for base in [0, later] {
        for step in 0..480 {
            app.append(&labels(0), base + step * 15_000, step as f64)
                .unwrap();
        }
    }
    app.commit().unwrap();
    store.flush_all().unwrap();
    let before = everything(&store);
    assert_eq!(rows(dir.path()), 8);
    // 12,000 empty periods lie between the two; merging passes them in
    // one step rather than a transaction each.
    store.merge(i64::MAX).unwrap();
    // One row for the first period; the later one holds the series'
    // newest samples and keeps its last 15 minutes in a row of their own.
    assert_eq!(rows(dir.path()), 3);
    assert_eq!(everything(&store), before);
    let merged_before: String = Connection::open(dir.path().join("watchfire.db"))
        .unwrap()
        .query_row(
            "SELECT value FROM meta WHERE key = 'merged_before'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(merged_before, (later + 2 * HOUR).to_string());
    store.close().unwrap();
}

/// A damaged row that the next period would join is left out of the join:
/// that period merges on its own, and the damage is counted once.
#[test]
fn a_damaged_row_is_not_joined() {
    let dir = tempfile::tempdir().unwrap();
    // The last chunk of the first period.
    let store = six_hours_with_a_chunk_cut_short(
        dir.path(),
        &format!(
            "(SELECT MAX(mint) FROM chunks WHERE series_id = 1 AND mint < {})",
            2 * HOUR
        ),
    );
    store.merge(4 * HOUR).unwrap();
    assert_eq!(store.metrics().merge_damaged.get(), 1);
    let sizes = row_sizes(dir.path(), 1);
    // The first period's four rows as they were, the second merged alone,
    // the third's four not yet merged.
    assert_eq!(sizes.len(), 9, "{sizes:?}");
    assert!(sizes[..4].iter().all(|&(_, n)| n == 120), "{sizes:?}");
    assert_eq!(sizes[4], (2 * HOUR + 123, 480));
    store.close().unwrap();
}

/// `(mint, samples)` of each row of series `s`, oldest first.
fn row_sizes(dir: &Path, s: i64) -> Vec<(i64, usize)> {
    let db = Connection::open(dir.join("watchfire.db")).unwrap();
    let mut st = db
        .prepare("SELECT mint, data FROM chunks WHERE series_id = ?1 ORDER BY mint")
        .unwrap();
    st.query_map([s], |r| Ok((r.get(0)?, r.get::<_, Vec<u8>>(1)?)))
        .unwrap()
        .map(|r| {
            let (mint, data) = r.unwrap();
            (mint, store::chunk::sample_count(&data))
        })
        .collect()
}

/// Periods that are not a series' latest data join the row before them
/// while it holds at most 1 920 samples; the latest period keeps its last
/// 15 minutes apart.
#[test]
fn old_periods_chain_into_rows_of_eight_hours() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    let mut app = store.appender();
    // Twelve hours of 15 s samples: six periods of 480.
    for step in 0..(12 * 240) {
        app.append(&labels(0), step * 15_000, (step * 3) as f64)
            .unwrap();
        if step % 100 == 99 {
            app.commit().unwrap();
        }
    }
    app.commit().unwrap();
    store.flush_all().unwrap();
    let before = everything(&store);

    // Periods 0 to 3 (eight hours): one row, as each joins the row before.
    store.merge(8 * HOUR).unwrap();
    assert_eq!(row_sizes(dir.path(), 1)[0], (0, 1920));
    assert_eq!(everything(&store), before);

    // Period 4 would make 2 400: a row of its own. Period 5 holds the
    // newest samples: it joins nothing, and its last 15 minutes (60
    // samples) are a row apart.
    store.merge(i64::MAX).unwrap();
    assert_eq!(
        row_sizes(dir.path(), 1),
        vec![
            (0, 1920),
            (8 * HOUR, 480),
            (10 * HOUR, 420),
            (12 * HOUR - 15 * 60_000, 60)
        ]
    );
    assert_eq!(everything(&store), before);
    store.close().unwrap();

    // A restart reads the same, and merging again changes nothing.
    let store = Store::open(dir.path(), opts()).unwrap();
    assert_eq!(everything(&store), before);
    store.merge(i64::MAX).unwrap();
    assert_eq!(row_sizes(dir.path(), 1).len(), 4);
    store.close().unwrap();
}
