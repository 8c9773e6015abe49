//! A full disk, for real: the store on a small tmpfs that this test mounts
//! (which needs root; elsewhere the test says so and skips, and under
//! `CI=true` fails). The disk is filled while batches are committed, once
//! in the middle of a segment and once exactly when a segment is cut; then
//! space is freed. Writes must resume by themselves, the failures must be
//! counted and reported, nothing half-written may block the next segment,
//! and every acknowledged sample must be there after a restart with no WAL
//! damage reported.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use model::{Appender, Labels, Matcher};
use store::failure::Write;
use store::{Options, Store};

/// A tmpfs mounted for the test's lifetime.
struct Tmpfs {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fs");
        std::fs::create_dir(&path).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs { path, _dir: dir }),
            Ok(o) => {
                model::ci::skip(&format!(
                    "cannot mount a tmpfs (run as root): {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ));
                None
            }
            Err(e) => {
                model::ci::skip(&format!("cannot run mount: {e}"));
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Takes every free byte of the file system with one file.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let block = vec![0xa5u8; 4096];
    loop {
        match f.write(&block) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    path
}

fn series(i: usize) -> Labels {
    Labels::from_pairs([
        ("__name__", "disk_full_test".to_string()),
        ("i", i.to_string()),
    ])
}

const SERIES: usize = 20;

fn opts() -> Options {
    Options {
        background: false,
        retention_time: None,
        segment_bytes: 32 << 10,
        ..Options::default()
    }
}

/// Commits one sample per series at `t`; whether it was acknowledged.
fn commit(store: &Store, t: i64) -> bool {
    let mut app = store.appender();
    for i in 0..SERIES {
        app.append(&series(i), t, t as f64).unwrap();
    }
    app.commit().is_ok()
}

fn segment_files(wal: &Path) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = std::fs::read_dir(wal)
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            Some((
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().ok()?.len(),
            ))
        })
        .filter(|(n, _)| n.parse::<u64>().is_ok())
        .collect();
    v.sort();
    v
}

/// Every timestamp the store holds for series 0.
fn stored(store: &Store) -> Vec<i64> {
    use model::Querier;
    let m = [Matcher::equal("i", "0")];
    let mut set = store.select(&m, i64::MIN, i64::MAX).unwrap();
    let s = set.next().map(|s| s.unwrap()).expect("series 0");
    s.samples.iter().map(|x| x.t).collect()
}

#[test]
fn a_full_disk_fails_loudly_and_writing_resumes_when_space_returns() {
    let Some(fs) = Tmpfs::mount("2m") else {
        return;
    };
    let data = fs.path.join("data");
    let wal = data.join(store::WAL_DIR);
    let store = Store::open(&data, opts()).unwrap();
    let mut acked = Vec::new();
    let mut t = 0;
    let mut next = |store: &Store, acked: &mut Vec<i64>| {
        t += 1000;
        let ok = commit(store, t);
        if ok {
            acked.push(t);
        }
        ok
    };

    // 1. Filled in the middle of a segment: commits fail once the last
    // page of the segment is used up.
    for _ in 0..50 {
        assert!(next(&store, &mut acked));
    }
    let filler = fill(&fs.path);
    let failed = (0..200).filter(|_| !next(&store, &mut acked)).count() as u64;
    assert!(failed > 0, "no commit failed on a full disk");
    let m = store.metrics();
    assert_eq!(m.wal_writes_failed.get(), failed);
    let failing = store.failing_writes();
    assert_eq!(failing.len(), 1, "{failing:?}");
    assert_eq!(failing[0].write, Write::Wal);
    assert!(
        failing[0].error.contains("No space left on device"),
        "{}",
        failing[0].error
    );
    assert!(store.flush().is_err() || store.checkpoint().is_err());
    std::fs::remove_file(&filler).unwrap();
    assert!(next(&store, &mut acked), "writing did not resume");
    assert!(store.failing_writes().iter().all(|f| f.write != Write::Wal));

    // 2. Filled exactly when a segment is cut: the segment in hand is
    // filled to just under its size, the disk is filled, and the next
    // record needs a new segment.
    let before = segment_files(&wal);
    loop {
        let (_, len) = segment_files(&wal).last().cloned().unwrap();
        let (_, len_after) = {
            assert!(next(&store, &mut acked));
            segment_files(&wal).last().cloned().unwrap()
        };
        let record = len_after.saturating_sub(len);
        if record > 0 && len_after + 2 * record > opts().segment_bytes {
            break;
        }
    }
    let segments = segment_files(&wal);
    let filler = fill(&fs.path);
    let failed_cuts = (0..5).filter(|_| !next(&store, &mut acked)).count();
    assert!(failed_cuts > 0, "the cut did not fail on a full disk");
    assert_eq!(
        segment_files(&wal).len(),
        segments.len(),
        "a half-made segment was left behind: {:?}",
        segment_files(&wal)
    );
    std::fs::remove_file(&filler).unwrap();
    assert!(
        next(&store, &mut acked),
        "writing did not resume after the cut failed"
    );
    assert!(segment_files(&wal).len() > before.len());
    assert!(store.failing_writes().iter().all(|f| f.write != Write::Wal));
    assert_eq!(stored(&store), acked);
    store.checkpoint().unwrap();
    store.flush().unwrap();
    assert!(
        store.failing_writes().is_empty(),
        "{:?}",
        store.failing_writes()
    );
    assert!(next(&store, &mut acked));
    drop(store);

    // 3. A restart reports no damage and has every acknowledged sample.
    let store = Store::open(&data, opts()).unwrap();
    assert_eq!(store.metrics().wal_corruptions.get(), 0);
    assert_eq!(stored(&store), acked);
}
