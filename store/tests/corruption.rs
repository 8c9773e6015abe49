//! Damage table for everything the store reads back from disk. For each
//! kind of WAL damage the store must open, keep every record before the
//! damage, count it, and take new writes; a damaged or missing SQLite file
//! must be an error that names the file.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use model::{Appender, Labels, Querier};
use store::{Options, Store, WalCompression};

const BATCHES: i64 = 200;
const SERIES: usize = 5;

fn opts() -> Options {
    Options {
        background: false,
        retention_time: None,
        segment_bytes: 2048,
        ..Options::default()
    }
}

fn labels(i: usize) -> Labels {
    Labels::from_pairs([("__name__", "c".to_string()), ("s", i.to_string())])
}

/// A store whose WAL holds `BATCHES` records (one per commit) over several
/// segments; returns the segment paths in order.
fn prepared() -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    write_batches(dir.path(), opts());
    let mut segs: Vec<PathBuf> = fs::read_dir(dir.path().join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .parse::<u64>()
                .is_ok()
        })
        .collect();
    segs.sort();
    // The last segment was started by the last open and may be empty.
    segs.retain(|p| fs::metadata(p).unwrap().len() > 8);
    assert!(segs.len() >= 4, "want several segments, got {}", segs.len());
    (dir, segs)
}

/// Writes `BATCHES` commits of `SERIES` samples each into a store at `dir`.
fn write_batches(dir: &Path, o: Options) {
    let store = Store::open(dir, o).unwrap();
    let mut app = store.appender();
    for b in 0..BATCHES {
        for i in 0..SERIES {
            app.append(&labels(i), b * 1000, b as f64 + i as f64 / 10.0)
                .unwrap();
        }
        app.commit().unwrap();
    }
}

/// Offsets of the record frames in a segment.
fn frames(path: &Path) -> Vec<u64> {
    let b = fs::read(path).unwrap();
    let mut pos = 8usize;
    let mut out = Vec::new();
    while pos + 8 <= b.len() {
        out.push(pos as u64);
        let len = u32::from_le_bytes(b[pos..pos + 4].try_into().unwrap()) as usize;
        pos += 8 + len;
    }
    out
}

fn records_before(segs: &[PathBuf], seg: usize) -> i64 {
    segs[..seg].iter().map(|p| frames(p).len() as i64).sum()
}

/// Batches readable after reopening, checking the ones kept are exact.
fn kept_batches(store: &Store) -> i64 {
    let mut n = i64::MAX;
    for i in 0..SERIES {
        let s = store
            .select(
                &[model::Matcher::equal("s", i.to_string())],
                0,
                BATCHES * 1000,
            )
            .unwrap()
            .next();
        let samples = s.map(|s| s.unwrap().samples).unwrap_or_default();
        for (b, smp) in samples.iter().enumerate() {
            assert_eq!(
                (smp.t, smp.v),
                (b as i64 * 1000, b as f64 + i as f64 / 10.0),
                "series {i} batch {b}"
            );
        }
        n = n.min(samples.len() as i64);
    }
    n
}

#[test]
fn wal_damage_table() {
    type Damage = fn(&[PathBuf]) -> i64;
    let cases: Vec<(&str, Damage)> = vec![
        ("torn last record", |segs| {
            let last = segs.last().unwrap();
            let len = fs::metadata(last).unwrap().len();
            OpenOptions::new()
                .write(true)
                .open(last)
                .unwrap()
                .set_len(len - 3)
                .unwrap();
            BATCHES - 1
        }),
        ("bad CRC in the middle of a segment", |segs| {
            let mid = segs.len() / 2;
            let f = frames(&segs[mid]);
            let victim = f[f.len() / 2];
            let mut b = fs::read(&segs[mid]).unwrap();
            b[victim as usize + 8 + 2] ^= 0x55;
            fs::write(&segs[mid], b).unwrap();
            records_before(segs, mid) + (f.len() / 2) as i64
        }),
        ("zero-filled tail", |segs| {
            OpenOptions::new()
                .append(true)
                .open(segs.last().unwrap())
                .unwrap()
                .write_all(&[0; 4096])
                .unwrap();
            BATCHES
        }),
        ("truncated segment header", |segs| {
            let next = segs.last().unwrap().with_file_name("99999998");
            fs::write(next, b"WFW").unwrap();
            BATCHES
        }),
        ("garbage segment", |segs| {
            let next = segs.last().unwrap().with_file_name("99999998");
            fs::write(
                next,
                b"this is not a WAL segment at all, just garbage bytes",
            )
            .unwrap();
            BATCHES
        }),
        ("garbage segment in the middle", |segs| {
            let mid = segs.len() / 2;
            fs::write(&segs[mid], vec![0xA5; 3000]).unwrap();
            records_before(segs, mid)
        }),
    ];
    for (name, damage) in cases {
        let (dir, segs) = prepared();
        let want = damage(&segs);
        let store =
            Store::open(dir.path(), opts()).unwrap_or_else(|e| panic!("{name}: open failed: {e}"));
        assert!(
            store.metrics().wal_corruptions.get() > 0,
            "{name}: corruption not counted"
        );
        let got = kept_batches(&store);
        assert_eq!(got, want, "{name}: batches kept");
        // New writes are taken and survive another restart.
        let mut app = store.appender();
        app.append(&labels(0), 10_000_000, 42.0).unwrap();
        assert_eq!(
            app.commit().unwrap().appended,
            1,
            "{name}: new write refused"
        );
        drop(app);
        drop(store);
        let store = Store::open(dir.path(), opts()).unwrap();
        assert_eq!(
            store.metrics().wal_corruptions.get(),
            0,
            "{name}: damage left behind after repair"
        );
        let s = store
            .select(&[model::Matcher::equal("s", "0")], 10_000_000, 10_000_000)
            .unwrap()
            .next();
        assert_eq!(
            s.map(|s| s.unwrap().samples.len()),
            Some(1),
            "{name}: new write lost"
        );
        eprintln!("{name}: kept {got} of {BATCHES} batches, repaired, new writes taken");
    }
}

#[test]
fn newer_wal_version_is_refused_not_repaired() {
    let (dir, segs) = prepared();
    let mut b = fs::read(&segs[0]).unwrap();
    b[4] = 5;
    fs::write(&segs[0], &b).unwrap();
    let err = Store::open(dir.path(), opts())
        .err()
        .expect("opened a WAL of another version");
    let msg = err.to_string();
    assert!(
        msg.contains("WAL format version 5, this build reads versions 1 to 4")
            && msg.contains(segs[0].to_str().unwrap()),
        "error: {msg}"
    );
    assert_eq!(fs::read(&segs[0]).unwrap(), b, "segment was changed");
    assert!(segs.iter().all(|p| p.exists()), "a segment was deleted");
}

#[test]
fn damaged_or_missing_sqlite_names_the_file() {
    type Damage = fn(&Path);
    let cases: Vec<(&str, Damage)> = vec![
        ("missing", |db| fs::remove_file(db).unwrap()),
        ("garbage", |db| fs::write(db, vec![0x42; 8192]).unwrap()),
        ("truncated", |db| {
            let len = fs::metadata(db).unwrap().len();
            OpenOptions::new()
                .write(true)
                .open(db)
                .unwrap()
                .set_len(len / 3)
                .unwrap();
        }),
        ("another program's database", |db| {
            fs::remove_file(db).unwrap();
            rusqlite::Connection::open(db)
                .unwrap()
                .execute_batch("CREATE TABLE notes (x TEXT);")
                .unwrap();
        }),
        ("zeroed header", |db| {
            let mut b = fs::read(db).unwrap();
            b[..100].fill(0);
            fs::write(db, b).unwrap();
        }),
    ];
    for (name, damage) in cases {
        let (dir, _) = prepared();
        {
            let store = Store::open(dir.path(), opts()).unwrap();
            store.flush_all().unwrap();
            // Keep some WAL data so "missing" is not a fresh start.
            let mut app = store.appender();
            app.append(&labels(0), 99_000_000, 1.0).unwrap();
            app.commit().unwrap();
        }
        let db = dir.path().join(store::DB_FILE);
        let _ = fs::remove_file(dir.path().join(format!("{}-wal", store::DB_FILE)));
        let _ = fs::remove_file(dir.path().join(format!("{}-shm", store::DB_FILE)));
        damage(&db);
        let result = Store::open(dir.path(), opts()).and_then(|s| {
            // Damage deeper in the file shows when the data is read.
            s.select(&[], i64::MIN, i64::MAX)
                .map_err(|e| store::Error::Corrupt {
                    file: db.clone(),
                    reason: e.to_string(),
                })?
                .try_for_each(|r| r.map(|_| ()))
                .map_err(|e| store::Error::Corrupt {
                    file: db.clone(),
                    reason: e.to_string(),
                })
        });
        match result {
            Ok(()) => panic!("{name}: damaged SQLite file accepted"),
            Err(e) => {
                let msg = e.to_string();
                assert!(
                    msg.contains("watchfire.db"),
                    "{name}: error does not name the file: {msg}"
                );
                eprintln!("{name}: {msg}");
            }
        }
    }
}

/// The damage table's bad-checksum and torn-tail cases on late samples
/// (WAL record type 3): replay keeps every record before the damage.
#[test]
fn late_sample_records_are_repaired_like_the_others() {
    for tear in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let o = Options {
            out_of_order_window: Some(std::time::Duration::from_secs(3600)),
            ..opts()
        };
        let store = Store::open(dir.path(), o.clone()).unwrap();
        for b in 100..150i64 {
            let mut app = store.appender();
            for i in 0..SERIES {
                app.append(&labels(i), b * 1000, 1.0).unwrap();
            }
            app.commit().unwrap();
        }
        for b in 100..150i64 {
            let mut app = store.appender();
            for i in 0..SERIES {
                app.append(&labels(i), b * 1000 + 500, 2.0).unwrap();
            }
            assert_eq!(app.commit().unwrap().appended, SERIES, "late batch {b}");
        }
        drop(store);
        let mut segs: Vec<PathBuf> = fs::read_dir(dir.path().join("wal"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| fs::metadata(p).unwrap().len() > 8)
            .collect();
        segs.sort();
        let last = segs.len() - 1;
        let f = frames(&segs[last]);
        let records = records_before(&segs, last) + f.len() as i64;
        let kept_records = if tear {
            let len = fs::metadata(&segs[last]).unwrap().len();
            OpenOptions::new()
                .write(true)
                .open(&segs[last])
                .unwrap()
                .set_len(len - 3)
                .unwrap();
            records - 1
        } else {
            let victim = f[f.len() / 2];
            let mut b = fs::read(&segs[last]).unwrap();
            b[victim as usize + 8 + 2] ^= 0x55;
            fs::write(&segs[last], b).unwrap();
            records_before(&segs, last) + (f.len() / 2) as i64
        };
        let store = Store::open(dir.path(), o).unwrap();
        assert_eq!(store.metrics().wal_corruptions.get(), 1, "tear {tear}");
        let s = store
            .select(&[model::Matcher::equal("s", "0")], 0, i64::MAX)
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        let late = s.samples.iter().filter(|x| x.v == 2.0).count() as i64;
        let in_order = s.samples.iter().filter(|x| x.v == 1.0).count() as i64;
        assert_eq!(
            in_order + late,
            kept_records,
            "tear {tear}: one sample per kept record"
        );
        assert!(
            late > 0 && late < 50,
            "tear {tear}: {late} late samples kept"
        );
        assert!(s.samples.windows(2).all(|w| w[0].t < w[1].t));
    }
}

/// Compressed WAL records (Snappy, format version 4; zstd, versions 2 to
/// 4): a record whose compressed bytes do not decompress, though its CRC
/// matches, is damage like any other: every record before it is kept and
/// new writes are taken.
#[test]
fn compressed_records_are_repaired_like_the_others() {
    const WIDE: usize = 40;
    for (codec, bit) in [
        (WalCompression::Snappy, 0x40u8),
        (WalCompression::Zstd, 0x80),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let o = Options {
            segment_bytes: 64 << 10,
            wal_compression: Some(codec),
            ..opts()
        };
        let store = Store::open(dir.path(), o.clone()).unwrap();
        for b in 0..60i64 {
            let mut app = store.appender();
            for i in 0..WIDE {
                app.append(&labels(i), b * 1000, (b * 7) as f64).unwrap();
            }
            app.commit().unwrap();
        }
        drop(store);
        let seg = dir.path().join("wal").join("00000001");
        let mut b = fs::read(&seg).unwrap();
        let f = frames(&seg);
        assert_eq!(f.len(), 60);
        assert_eq!(&b[..8], b"WFWL\x04\0\0\0", "this build writes version 4");
        let compressed = f.iter().filter(|&&o| b[o as usize + 8] & bit != 0).count();
        assert_eq!(
            compressed, 60,
            "{codec:?}: every 40-sample record is worth compressing"
        );
        // Garble record 30 just after its type byte (zstd's magic,
        // Snappy's stated length), then fix the CRC so that only
        // decompression can tell.
        let victim = f[30] as usize;
        let len = u32::from_le_bytes(b[victim..victim + 4].try_into().unwrap()) as usize;
        b[victim + 8 + 1] ^= 0xff;
        let crc = crc32fast::hash(&b[victim + 8..victim + 8 + len]);
        b[victim + 4..victim + 8].copy_from_slice(&crc.to_le_bytes());
        fs::write(&seg, &b).unwrap();
        let store = Store::open(dir.path(), o.clone()).unwrap();
        assert_eq!(store.metrics().wal_corruptions.get(), 1, "{codec:?}");
        for i in [0, WIDE - 1] {
            let s = store
                .select(&[model::Matcher::equal("s", i.to_string())], 0, i64::MAX)
                .unwrap()
                .next()
                .unwrap()
                .unwrap();
            let want: Vec<(i64, f64)> = (0..30).map(|b| (b * 1000, (b * 7) as f64)).collect();
            let got: Vec<(i64, f64)> = s.samples.iter().map(|x| (x.t, x.v)).collect();
            assert_eq!(got, want, "{codec:?}: series {i}");
        }
        let mut app = store.appender();
        app.append(&labels(0), 10_000_000, 1.0).unwrap();
        assert_eq!(app.commit().unwrap().appended, 1);
    }
}

/// A WAL of an earlier build's format version (1: no compression; 2:
/// batches of types 1 and 3, which this build still reads, zstd; 3: zstd)
/// is read as it is, and writing goes on in version 4. (The records are
/// this build's; the record types' decoding is checked against the
/// documented bytes in `record.rs`.)
#[test]
fn version_1_wal_is_read() {
    for version in [1u8, 2, 3] {
        let dir = tempfile::tempdir().unwrap();
        let plain = Options {
            wal_compression: (version > 1).then_some(WalCompression::Zstd),
            ..opts()
        };
        write_batches(dir.path(), plain);
        let mut n = 0;
        for e in fs::read_dir(dir.path().join("wal")).unwrap() {
            let p = e.unwrap().path();
            let mut b = fs::read(&p).unwrap();
            assert_eq!(&b[..5], b"WFWL\x04");
            b[4] = version;
            fs::write(&p, b).unwrap();
            n += 1;
        }
        assert!(n >= 4, "{n} segments");
        let store = Store::open(dir.path(), opts()).unwrap();
        assert_eq!(store.metrics().wal_corruptions.get(), 0);
        assert_eq!(kept_batches(&store), BATCHES, "version {version}");
    }
}
