//! Rows of chunk encoding 5 (`store/docs/format/chunk.md`, "Encoding 5"),
//! which code a histogram bucket against its `_count`: the store reads
//! them wherever it reads rows (queries, merging, a late chunk joined with
//! the stored one under the same key), and merging writes them, keeping a
//! bucket's rows within the bounds of the `_count`'s. The reading tests
//! also rewrite by hand the rows that merging leaves in their own encoding
//! (the newest quarter hour's), so every row of the buckets refers.

use std::time::Duration;

use model::{Appender, Labels, Matcher, Querier, Sample};
use rusqlite::{params, Connection};
use store::{chunk, Options, Store};

fn opts() -> Options {
    Options {
        background: false,
        retention_time: None,
        out_of_order_window: Some(Duration::from_secs(6 * 3600)),
        histogram_references: true,
        ..Options::default()
    }
}

fn series(name: &str, le: Option<&str>) -> Labels {
    let mut pairs = vec![("__name__", name.to_string()), ("job", "api".to_string())];
    if let Some(le) = le {
        pairs.push(("le", le.to_string()));
    }
    Labels::from_pairs(pairs)
}

/// `(labels, [(t, value bits)])` of every series of the histogram.
fn everything(store: &Store) -> Vec<(String, Vec<(i64, u64)>)> {
    store
        .select(&[Matcher::equal("job", "api")], i64::MIN, i64::MAX)
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

const STEP: i64 = 15_000;

/// Six hours of a histogram: `_count` (written first, so its series
/// reference is 1), a bucket that takes about a third of the
/// observations (2) and `+Inf` (3), with a restart at step 700.
fn write_histogram(store: &Store) {
    let mut app = store.appender();
    let (mut count, mut low) = (5_000.0, 1_600.0);
    for step in 0..(6 * 240) {
        if step == 700 {
            (count, low) = (0.0, 0.0);
        }
        let t = step * STEP + 123;
        let obs = (100 + (step * 37) % 41) as f64;
        count += obs;
        low += (obs / 3.0).round() + ((step * 13) % 3) as f64 - 1.0;
        app.append(&series("h_count", None), t, count).unwrap();
        app.append(&series("h_bucket", Some("0.1")), t, low)
            .unwrap();
        app.append(&series("h_bucket", Some("+Inf")), t, count)
            .unwrap();
    }
    app.commit().unwrap();
}

/// Rewrites every row of the buckets (series 2 and 3) that merging left
/// in their own encoding in encoding 5 against the `_count` (series 1),
/// where it applies; returns how many rows of the buckets refer to the
/// `_count` then.
fn refer_buckets_to_count(db: &Connection) -> usize {
    let rows = |id: i64| -> Vec<(i64, Vec<u8>)> {
        let mut st = db
            .prepare("SELECT mint, data FROM chunks WHERE series_id = ?1 ORDER BY mint")
            .unwrap();
        st.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    };
    let count: Vec<Sample> = rows(1)
        .iter()
        .flat_map(|(mint, d)| chunk::decode_row(d, *mint).unwrap())
        .collect();
    let mut referring = 0;
    for id in [2, 3] {
        for (mint, data) in rows(id) {
            let mut samples = Vec::new();
            chunk::decode_referenced_row_into(
                &data,
                mint,
                &chunk::Reference::new(&count),
                &mut samples,
            )
            .unwrap();
            if chunk::reference(&data).is_some() {
                referring += 1;
                continue;
            }
            let Some(referenced) =
                chunk::encode_referenced(&samples, 1, &chunk::Reference::new(&count))
            else {
                continue;
            };
            db.execute(
                "UPDATE chunks SET data = ?3 WHERE series_id = ?1 AND mint = ?2",
                params![id, mint, &referenced[..]],
            )
            .unwrap();
            referring += 1;
        }
    }
    referring
}

/// A store with [`write_histogram`] flushed and merged.
fn merged_histogram(dir: &std::path::Path) -> Store {
    let store = Store::open(dir, opts()).unwrap();
    write_histogram(&store);
    store.flush_all().unwrap();
    store.merge(i64::MAX).unwrap();
    store
}

#[test]
fn referenced_rows_read_back_through_queries_late_chunks_and_merging() {
    let dir = tempfile::tempdir().unwrap();
    let store = merged_histogram(dir.path());
    let before = everything(&store);
    assert_eq!(before.len(), 3);
    store.close().unwrap();

    let db = Connection::open(dir.path().join("watchfire.db")).unwrap();
    assert!(refer_buckets_to_count(&db) >= 2);
    drop(db);

    // Queries, over everything and over a window inside a row.
    let store = Store::open(dir.path(), opts()).unwrap();
    assert_eq!(everything(&store), before);
    let window: Vec<Sample> = store
        .select(&[Matcher::equal("le", "0.1")], 100 * STEP, 110 * STEP)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .samples;
    assert_eq!(window.len(), 10);

    // A late sample that repeats the first one of the bucket's first row
    // (the same key: joined with the stored row) and late samples between
    // others (rows of their own, merged in).
    let bucket = series("h_bucket", Some("0.1"));
    let first = before.iter().find(|s| s.0.contains("0.1")).unwrap().1[0];
    let mut app = store.appender();
    app.append(&bucket, first.0, f64::from_bits(first.1))
        .unwrap();
    for k in 0..30 {
        app.append(&bucket, k * STEP + 5_123, 1e6).unwrap();
    }
    app.commit().unwrap();
    store.flush_all().unwrap();
    let db = Connection::open(dir.path().join("watchfire.db")).unwrap();
    let enc: Vec<u8> = db
        .query_row(
            "SELECT substr(data, 1, 1) FROM chunks WHERE series_id = 2 AND mint = ?1",
            [first.0],
            |r| r.get(0),
        )
        .unwrap();
    // The join decoded the referenced row and wrote the samples again in
    // the series' own encoding.
    assert_eq!(enc, [4], "the row under the late chunk's key was joined");
    drop(db);
    let with_late = everything(&store);
    let low = &with_late.iter().find(|s| s.0.contains("0.1")).unwrap().1;
    assert_eq!(low.len(), 1440 + 30);
    assert_eq!(low[0], first);
    store.merge(i64::MAX).unwrap();
    assert_eq!(
        everything(&store),
        with_late,
        "after merging the late rows in"
    );
    store.close().unwrap();
}

#[test]
fn a_referenced_row_without_its_reference_names_it() {
    let dir = tempfile::tempdir().unwrap();
    merged_histogram(dir.path()).close().unwrap();
    let db = Connection::open(dir.path().join("watchfire.db")).unwrap();
    refer_buckets_to_count(&db);
    db.execute("DELETE FROM chunks WHERE series_id = 1", [])
        .unwrap();
    drop(db);

    let store = Store::open(dir.path(), opts()).unwrap();
    let err = store
        .select(&[Matcher::equal("le", "0.1")], i64::MIN, i64::MAX)
        .unwrap()
        .next()
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("series 2 chunk at") && err.contains("refers to series 1"),
        "{err}"
    );
    store.close().unwrap();
}

/// `(series_id, mint, maxt, encoding)` of every row.
fn row_keys(dir: &std::path::Path) -> Vec<(i64, i64, i64, u8)> {
    let db = Connection::open(dir.join("watchfire.db")).unwrap();
    let mut st = db
        .prepare("SELECT series_id, mint, maxt, data FROM chunks ORDER BY series_id, mint")
        .unwrap();
    st.query_map([], |r| {
        let data: Vec<u8> = r.get(3)?;
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, data[0]))
    })
    .unwrap()
    .map(|r| r.unwrap())
    .collect()
}

/// Every row of the buckets (series 2 and 3) that refers to the `_count`
/// (series 1) has the bounds of one of the `_count`'s rows; returns how
/// many refer to it.
fn referring_rows_are_aligned(dir: &std::path::Path) -> usize {
    let rows = row_keys(dir);
    let count: Vec<(i64, i64)> = rows
        .iter()
        .filter(|r| r.0 == 1)
        .map(|r| (r.1, r.2))
        .collect();
    let referring: Vec<_> = rows.iter().filter(|r| r.3 == 5).collect();
    for r in &referring {
        assert!([2, 3].contains(&r.0), "only buckets refer: {r:?}");
        assert!(
            count.contains(&(r.1, r.2)),
            "row {r:?} not aligned with {count:?}"
        );
    }
    referring.len()
}

#[test]
fn merging_codes_buckets_against_their_count_and_keeps_every_sample() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    write_histogram(&store);
    store.flush_all().unwrap();
    let before = everything(&store);
    let bytes = |dir: &std::path::Path, id: i64| -> i64 {
        let db = Connection::open(dir.join("watchfire.db")).unwrap();
        db.query_row(
            "SELECT SUM(length(data)) FROM chunks WHERE series_id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap()
    };

    // Only the periods that ended first, then everything.
    store.merge(4 * 3_600_000).unwrap();
    assert_eq!(everything(&store), before);
    assert!(referring_rows_are_aligned(dir.path()) > 0);
    store.merge(i64::MAX).unwrap();
    assert_eq!(everything(&store), before);
    let referring = referring_rows_are_aligned(dir.path());
    assert!(referring >= 6, "{referring} rows refer to the count");
    // The +Inf bucket is the count itself: next to nothing.
    assert!(bytes(dir.path(), 3) * 10 < bytes(dir.path(), 1), "+Inf");
    assert!(bytes(dir.path(), 2) < bytes(dir.path(), 1), "a bucket");
    store.close().unwrap();

    // After a restart, the same answers; late samples of the `_count` and a
    // bucket reopen the first period, and merging it again keeps the
    // buckets' rows aligned and every sample.
    let store = Store::open(dir.path(), opts()).unwrap();
    assert_eq!(everything(&store), before);
    let mut app = store.appender();
    for k in 0..20 {
        app.append(&series("h_count", None), k * STEP + 7_123, 1.0)
            .unwrap();
        app.append(&series("h_bucket", Some("0.1")), k * STEP + 9_123, 2.0)
            .unwrap();
    }
    app.commit().unwrap();
    store.flush_all().unwrap();
    let with_late = everything(&store);
    store.merge(i64::MAX).unwrap();
    assert_eq!(everything(&store), with_late);
    referring_rows_are_aligned(dir.path());
    store.close().unwrap();
}
