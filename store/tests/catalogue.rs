//! The SQLite catalogue of series (`store/docs/format/sqlite.md`): label
//! sets held as symbol ids, the migration from format 1 (label sets as
//! text), and the errors for a damaged catalogue.

use std::path::Path;

use model::{Appender, Labels, Querier, Sample};
use rusqlite::Connection;
use store::{chunk::Encoder, Options, Store};

fn opts() -> Options {
    Options {
        background: false,
        retention_time: None,
        ..Options::default()
    }
}

fn labels(i: usize) -> Labels {
    Labels::from_pairs([
        ("__name__", "requests_total".to_string()),
        ("instance", format!("host-{}:9100", i % 3)),
        ("job", "node".to_string()),
        ("path", format!("/api/{i}/\u{e9}t\u{e9}:1")),
    ])
}

fn samples(i: usize) -> Vec<Sample> {
    (0..200)
        .map(|k| {
            Sample::new(
                1_700_000_000_000 + k * 15_000,
                (k as usize * i) as f64 + 0.25,
            )
        })
        .collect()
}

fn everything(store: &Store) -> Vec<(Labels, Vec<Sample>)> {
    let mut got: Vec<(Labels, Vec<Sample>)> = store
        .select(&[], i64::MIN, i64::MAX)
        .unwrap()
        .map(|s| {
            let s = s.unwrap();
            (s.labels, s.samples)
        })
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    got
}

/// A data directory as a build of format 1 left it: label sets as text in
/// `series.labels`, no `symbols` table. The schema statements are the ones
/// that build ran.
fn format_1_dir(dir: &Path, n: usize, damaged: Option<usize>) -> Vec<(Labels, Vec<Sample>)> {
    let conn = Connection::open(dir.join(store::DB_FILE)).unwrap();
    conn.execute_batch(
        "PRAGMA auto_vacuum = INCREMENTAL;
         PRAGMA journal_mode = WAL;
         CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
         CREATE TABLE series (id INTEGER PRIMARY KEY, labels TEXT NOT NULL);
         CREATE TABLE chunks (
             series_id INTEGER NOT NULL,
             mint INTEGER NOT NULL,
             maxt INTEGER NOT NULL,
             data BLOB NOT NULL,
             PRIMARY KEY (series_id, mint)
         ) WITHOUT ROWID;
         INSERT INTO meta (key, value) VALUES ('format', '1');",
    )
    .unwrap();
    let mut want = Vec::new();
    for i in 0..n {
        let l = labels(i);
        let text = match damaged {
            Some(d) if d == i => "8:__name__".to_string(),
            _ => l.encoded().to_string(),
        };
        conn.execute(
            "INSERT INTO series (id, labels) VALUES (?1, ?2)",
            rusqlite::params![i as i64 + 1, text],
        )
        .unwrap();
        let s = samples(i);
        let mut enc = Encoder::new();
        for x in &s {
            assert!(enc.append(x.t, x.v));
        }
        conn.execute(
            "INSERT INTO chunks (series_id, mint, maxt, data) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![i as i64 + 1, s[0].t, s[s.len() - 1].t, &enc.finish()[..]],
        )
        .unwrap();
        want.push((l, s));
    }
    want.sort_by(|a, b| a.0.cmp(&b.0));
    want
}

fn assert_same(got: &[(Labels, Vec<Sample>)], want: &[(Labels, Vec<Sample>)]) {
    assert_eq!(got.len(), want.len());
    for ((gl, gs), (wl, ws)) in got.iter().zip(want) {
        assert_eq!(gl, wl);
        assert_eq!(gs.len(), ws.len(), "{wl:?}");
        assert!(gs.iter().zip(ws).all(|(g, w)| g.bit_eq(w)), "{wl:?}");
    }
}

fn meta_format(dir: &Path) -> String {
    Connection::open(dir.join(store::DB_FILE))
        .unwrap()
        .query_row("SELECT value FROM meta WHERE key = 'format'", [], |r| {
            r.get(0)
        })
        .unwrap()
}

fn count(dir: &Path, sql: &str) -> i64 {
    Connection::open(dir.join(store::DB_FILE))
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

#[test]
fn format_1_catalogue_is_migrated_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let want = format_1_dir(dir.path(), 40, None);
    let store = Store::open(dir.path(), opts()).unwrap();
    assert_same(&everything(&store), &want);
    drop(store);
    assert_eq!(meta_format(dir.path()), "3");
    // One symbol per distinct name and value: 4 names, 1 + 3 + 1 + 40
    // values.
    assert_eq!(count(dir.path(), "SELECT COUNT(*) FROM symbols"), 49);
    assert_eq!(
        count(
            dir.path(),
            "SELECT COUNT(*) FROM series WHERE typeof(labels) = 'blob'"
        ),
        40
    );
    // The file keeps the 4 KiB pages it was made with.
    assert_eq!(count(dir.path(), "PRAGMA page_size"), 4096);
    // Opening again reads format 3 as it is.
    let store = Store::open(dir.path(), opts()).unwrap();
    assert_same(&everything(&store), &want);
}

#[test]
fn format_2_is_moved_to_format_3_by_its_format_row() {
    let dir = tempfile::tempdir().unwrap();
    let want = format_1_dir(dir.path(), 12, None);
    drop(Store::open(dir.path(), opts()).unwrap());
    // A file as a build of format 2 left it: the same tables and rows.
    Connection::open(dir.path().join(store::DB_FILE))
        .unwrap()
        .execute_batch("UPDATE meta SET value = '2' WHERE key = 'format'")
        .unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    assert_same(&everything(&store), &want);
    drop(store);
    assert_eq!(meta_format(dir.path()), "3");
}

#[test]
fn a_damaged_format_1_catalogue_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    format_1_dir(dir.path(), 10, Some(6));
    let err = Store::open(dir.path(), opts())
        .err()
        .expect("damaged catalogue accepted");
    let msg = err.to_string();
    assert!(
        msg.contains("watchfire.db") && msg.contains("series 7: bad labels"),
        "{msg}"
    );
    assert_eq!(meta_format(dir.path()), "1");
    assert_eq!(
        count(
            dir.path(),
            "SELECT COUNT(*) FROM series WHERE typeof(labels) = 'text'"
        ),
        10
    );
}

#[test]
fn series_written_now_share_symbols_and_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    let mut want = Vec::new();
    for i in 0..30 {
        let mut app = store.appender();
        let s = samples(i);
        for x in &s {
            app.append(&labels(i), x.t, x.v).unwrap();
        }
        app.commit().unwrap();
        // Flush in several transactions, so later ones reuse cached ids.
        if i % 10 == 9 {
            store.flush_all().unwrap();
        }
        want.push((labels(i), s));
    }
    want.sort_by(|a, b| a.0.cmp(&b.0));
    drop(store);
    assert_eq!(
        count(dir.path(), "SELECT COUNT(*) FROM symbols"),
        4 + 5 + 30
    );
    // A restart that replays no WAL reads every label set from SQLite.
    std::fs::remove_dir_all(dir.path().join("wal")).unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    assert_same(&everything(&store), &want);
}

#[test]
fn a_missing_or_misordered_symbol_names_the_series() {
    type Damage = &'static str;
    let cases: [(Damage, &str); 3] = [
        (
            "DELETE FROM symbols WHERE text = 'node'",
            "bad labels: symbol 6 is missing",
        ),
        (
            "UPDATE series SET labels = X'0102038F' WHERE id = 2",
            "bad labels: truncated symbol id",
        ),
        (
            // `job` before `instance`: out of order.
            "UPDATE series SET labels = X'0506010203040708' WHERE id = 2",
            "bad labels: label names out of order",
        ),
    ];
    for (damage, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), opts()).unwrap();
        for i in 0..3 {
            let mut app = store.appender();
            app.append(&labels(i), 1_000, 1.0).unwrap();
            app.commit().unwrap();
        }
        store.flush_all().unwrap();
        drop(store);
        std::fs::remove_dir_all(dir.path().join("wal")).unwrap();
        Connection::open(dir.path().join(store::DB_FILE))
            .unwrap()
            .execute_batch(damage)
            .unwrap();
        let err = Store::open(dir.path(), opts())
            .err()
            .unwrap_or_else(|| panic!("{damage}: accepted"));
        let msg = err.to_string();
        assert!(
            msg.contains("watchfire.db") && msg.contains("series ") && msg.contains(want),
            "{damage}: {msg}"
        );
    }
}

#[test]
fn a_newer_format_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    format_1_dir(dir.path(), 2, None);
    Connection::open(dir.path().join(store::DB_FILE))
        .unwrap()
        .execute_batch("UPDATE meta SET value = '4' WHERE key = 'format'")
        .unwrap();
    let err = Store::open(dir.path(), opts())
        .err()
        .expect("format 4 accepted");
    assert!(
        err.to_string()
            .ends_with("watchfire.db: format version 4, this build reads 3"),
        "{err}"
    );
    assert_eq!(meta_format(dir.path()), "4");
}

/// Retention drops the symbols of deleted series once the rows deleted
/// since the last sweep reach a twentieth of those left, not before.
#[test]
fn unused_symbols_are_swept_once_enough_series_are_gone() {
    let dir = tempfile::tempdir().unwrap();
    let day = 86_400_000i64;
    let t0 = 1_700_000_000_000i64;
    let store = Store::open(
        dir.path(),
        Options {
            retention_time: Some(std::time::Duration::from_secs(86_400)),
            ..opts()
        },
    )
    .unwrap();
    // Series 0-2 end at t0, 3-5 a day later, the rest three days later.
    for i in 0..100 {
        let start = match i {
            0..3 => t0,
            3..6 => t0 + day,
            _ => t0 + 3 * day,
        };
        let mut app = store.appender();
        for k in 0..10 {
            app.append(&labels(i), start + k * 15_000, k as f64)
                .unwrap();
        }
        app.commit().unwrap();
    }
    store.flush_all().unwrap();
    let symbols = || count(dir.path(), "SELECT COUNT(*) FROM symbols");
    // 4 names; requests_total, node and 3 hosts; 100 paths.
    assert_eq!(symbols(), 109);
    // 3 rows gone, 97 left: below the share, the symbols stay.
    let r = store.apply_retention(t0 + day + day / 2).unwrap();
    assert_eq!(r.series, 3, "{r:?}");
    assert_eq!(symbols(), 109);
    // 6 gone since the last sweep, 94 left: the six paths go.
    let r = store.apply_retention(t0 + 2 * day + day / 2).unwrap();
    assert_eq!(r.series, 3, "{r:?}");
    assert_eq!(symbols(), 103);
    drop(store);
    let store = Store::open(dir.path(), opts()).unwrap();
    assert_eq!(everything(&store).len(), 94);
}
