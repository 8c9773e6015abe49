//! Behaviour of the store through its public API: commit rules, restart,
//! flush and checkpoint, retention, the querier.

use std::time::Duration;

use model::{Appendable, Labels, MatchOp, Matcher, Querier, Sample};
use store::{Options, Store};

fn opts() -> Options {
    Options {
        background: false,
        retention_time: None,
        ..Options::default()
    }
}

fn series(name: &str, i: usize) -> Labels {
    Labels::from_pairs([
        ("__name__", name.to_string()),
        ("i", i.to_string()),
        ("job", "test".to_string()),
    ])
}

fn all(store: &Store, matchers: &[Matcher]) -> Vec<(Labels, Vec<Sample>)> {
    store
        .select(matchers, i64::MIN, i64::MAX)
        .unwrap()
        .map(|s| {
            let s = s.unwrap();
            (s.labels, s.samples)
        })
        .collect()
}

/// Writes `n` series × `per` samples, 15 s apart, with values that exercise
/// the codec; returns what was written.
fn fill(store: &Store, n: usize, per: usize, t0: i64) -> Vec<(Labels, Vec<Sample>)> {
    let mut want: Vec<(Labels, Vec<Sample>)> =
        (0..n).map(|i| (series("m", i), Vec::new())).collect();
    for k in 0..per {
        let mut app = Appendable::appender(store);
        for (i, (l, samples)) in want.iter_mut().enumerate() {
            let t = t0 + k as i64 * 15_000 + i as i64;
            let v = match (i + k) % 7 {
                0 => f64::NAN,
                1 => f64::INFINITY,
                2 => -0.0,
                _ => (k * i) as f64 * 1.25,
            };
            app.append(l, t, v).unwrap();
            samples.push(Sample::new(t, v));
        }
        app.commit().unwrap();
    }
    want.sort_by(|a, b| a.0.cmp(&b.0));
    want
}

fn assert_same(got: &[(Labels, Vec<Sample>)], want: &[(Labels, Vec<Sample>)], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: series count");
    for ((gl, gs), (wl, ws)) in got.iter().zip(want) {
        assert_eq!(gl, wl, "{what}: labels");
        assert_eq!(gs.len(), ws.len(), "{what}: {gl}: sample count");
        for (g, w) in gs.iter().zip(ws) {
            assert!(g.bit_eq(w), "{what}: {gl}: got {g:?}, want {w:?}");
        }
    }
}

#[test]
fn commit_counts_rejections() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    let l = series("x", 0);
    let mut app = store.appender();
    use model::Appender;
    for (t, v) in [(100, 1.0), (50, 2.0), (100, 1.0), (100, 3.0), (200, 4.0)] {
        app.append(&l, t, v).unwrap();
    }
    let sum = app.commit().unwrap();
    assert_eq!(
        (
            sum.appended,
            sum.new_series,
            sum.out_of_order,
            sum.duplicate
        ),
        (2, 1, 1, 1)
    );
    app.append(&l, 150, 0.0).unwrap();
    assert_eq!(app.commit().unwrap().out_of_order, 1);
    assert_eq!(store.metrics().out_of_order.get(), 2);
    assert_eq!(store.metrics().duplicate.get(), 1);
    assert!(app.append(&Labels::empty(), 1, 1.0).is_err());
    app.append(&l, 300, 5.0).unwrap();
    app.rollback();
    assert_eq!(app.commit().unwrap().appended, 0);
    assert_eq!(all(&store, &[]).len(), 1);
    assert_eq!(all(&store, &[])[0].1.len(), 2);
}

/// References from `refs` are hints only: right ones, wrong ones (another
/// series', unknown, zero), repeats in one batch and hints across a
/// restart all land each sample on its own series. Every other batch is
/// given whole to `commit_with`, with a sample without labels in it: that
/// one is left out and its reference is 0.
#[test]
fn series_hints_never_misroute() {
    use model::Appender;
    let dir = tempfile::tempdir().unwrap();
    let labels: Vec<Labels> = (0..50).map(|i| series("h", i)).collect();
    let none = Labels::empty();
    let mut want: Vec<(Labels, Vec<Sample>)> =
        labels.iter().map(|l| (l.clone(), Vec::new())).collect();
    let mut hints = vec![0u64; labels.len()];
    let mut t = 1_000;
    for round in 0..6 {
        // Round 3 reopens the store: the hints survive as numbers only.
        let store = Store::open(dir.path(), opts()).unwrap();
        for _ in 0..(if round == 3 { 1 } else { 2 }) {
            let mut app = store.appender();
            let mut order: Vec<usize> = (0..labels.len()).collect();
            // Reverse order every other batch, so references do not rise.
            if (t / 1_000) % 2 == 0 {
                order.reverse();
            }
            // (series index or none, hint, value) in append order.
            let mut batch: Vec<(Option<usize>, u64, f64)> = Vec::new();
            for &i in &order {
                let hint = match (round, i % 4) {
                    (0, _) | (_, 0) => hints[i],
                    (_, 1) => hints[(i + 1) % labels.len()],
                    (_, 2) => 0,
                    _ => 1 << 40,
                };
                let v = (round * 100 + i) as f64;
                batch.push((Some(i), hint, v));
                want[i].1.push(Sample::new(t, v));
                if i % 5 == 0 {
                    // A repeat in the same batch: same sample, ignored.
                    batch.push((Some(i), hint, v));
                }
            }
            let whole = (t / 1_000) % 3 != 0;
            let sum = if whole {
                batch.insert(7, (None, 0, 1.0));
                let given: Vec<(u64, &Labels, i64, f64)> = batch
                    .iter()
                    .map(|&(i, hint, v)| (hint, i.map_or(&none, |i| &labels[i]), t, v))
                    .collect();
                app.commit_with(&given).unwrap()
            } else {
                for &(i, hint, v) in &batch {
                    app.append_hinted(hint, &labels[i.unwrap()], t, v).unwrap();
                }
                app.commit().unwrap()
            };
            assert_eq!(sum.appended, labels.len(), "round {round}");
            let refs = app.refs().to_vec();
            assert_eq!(refs.len(), batch.len(), "round {round}");
            for (&(i, _, _), &r) in batch.iter().zip(&refs) {
                match i {
                    Some(i) => hints[i] = r,
                    None => assert_eq!(r, 0, "round {round}"),
                }
            }
            t += 1_000;
        }
    }
    let store = Store::open(dir.path(), opts()).unwrap();
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_same(&all(&store, &[]), &want, "hinted appends");
}

/// After a restart the store's label sets come from its WAL; a producer's
/// own sets for the same series are swapped for the store's, so both hold
/// one allocation. A set that does not match its reference is left alone.
#[test]
fn share_labels_hands_out_the_stores_own_sets() {
    use model::Appender;
    let dir = tempfile::tempdir().unwrap();
    let first = {
        let store = Store::open(dir.path(), opts()).unwrap();
        let mut app = store.appender();
        app.append(&series("s", 1), 1_000, 1.0).unwrap();
        app.append(&series("s", 2), 1_000, 2.0).unwrap();
        app.commit().unwrap();
        app.refs().to_vec()
    };
    let store = Store::open(dir.path(), opts()).unwrap();
    let (one, two) = (series("s", 1), series("s", 2));
    let mut app = store.appender();
    app.append(&one, 2_000, 1.0).unwrap();
    app.append(&two, 2_000, 2.0).unwrap();
    app.commit().unwrap();
    let refs = app.refs().to_vec();
    assert_eq!(refs, first, "references survive the restart");
    // The second set is offered under the first one's reference.
    let mut sets = [(refs[0], one.clone()), (refs[0], two.clone())];
    app.share_labels(&mut sets);
    let [(_, one_now), (_, two_now)] = &sets;
    assert_ne!(
        one_now.encoded().as_ptr(),
        one.encoded().as_ptr(),
        "swapped for the store's"
    );
    assert_eq!(one_now, &one);
    assert_eq!(
        two_now.encoded().as_ptr(),
        two.encoded().as_ptr(),
        "another series' set stays"
    );
    // Swapped again, the set is the same allocation: nothing changes.
    let shared = one_now.encoded().as_ptr();
    let mut again = [(refs[0], one_now.clone())];
    app.share_labels(&mut again);
    assert_eq!(again[0].1.encoded().as_ptr(), shared);
}

#[test]
fn survives_restart_at_every_stage() {
    let dir = tempfile::tempdir().unwrap();
    let want = {
        let store = Store::open(dir.path(), opts()).unwrap();
        fill(&store, 30, 400, 1_000_000)
    };
    // WAL only.
    let store = Store::open(dir.path(), opts()).unwrap();
    assert_same(&all(&store, &[]), &want, "after WAL replay");
    store.flush().unwrap();
    drop(store);
    let store = Store::open(dir.path(), opts()).unwrap();
    assert_same(&all(&store, &[]), &want, "after flush");
    store.checkpoint().unwrap();
    let more = fill(&store, 30, 10, 100_000_000);
    drop(store);
    let store = Store::open(dir.path(), opts()).unwrap();
    let mut want2 = want.clone();
    for (w, m) in want2.iter_mut().zip(&more) {
        w.1.extend_from_slice(&m.1);
    }
    assert_same(
        &all(&store, &[]),
        &want2,
        "after checkpoint and more writes",
    );
    store.flush_all().unwrap();
    drop(store);
    let wal_files: Vec<_> = std::fs::read_dir(dir.path().join("wal")).unwrap().collect();
    assert!(wal_files.len() <= 2, "WAL not truncated: {wal_files:?}");
    let store = Store::open(dir.path(), opts()).unwrap();
    assert_same(&all(&store, &[]), &want2, "after flush_all");
}

#[test]
fn select_ranges_and_matchers() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    let want = fill(&store, 10, 300, 0);
    store.flush().unwrap();
    let m = |op, n: &str, v: &str| Matcher::new(op, n, v).unwrap();
    let got = all(
        &store,
        &[
            m(MatchOp::RegexMatch, "i", "1|3|5"),
            m(MatchOp::Equal, "__name__", "m"),
        ],
    );
    assert_eq!(
        got.iter()
            .map(|s| s.0.get("i").unwrap().to_string())
            .collect::<Vec<_>>(),
        ["1", "3", "5"]
    );
    for (mint, maxt) in [
        (0, 0),
        (1, 14_999),
        (100_000, 2_000_000),
        (4_000_000, 4_485_000),
        (7_200_000, 7_200_000),
    ] {
        let got: Vec<_> = store
            .select(&[], mint, maxt)
            .unwrap()
            .map(|s| s.unwrap())
            .collect();
        let expect: Vec<(Labels, Vec<Sample>)> = want
            .iter()
            .map(|(l, s)| {
                (
                    l.clone(),
                    s.iter()
                        .filter(|s| s.t >= mint && s.t <= maxt)
                        .copied()
                        .collect::<Vec<_>>(),
                )
            })
            .filter(|(_, s)| !s.is_empty())
            .collect();
        let got: Vec<_> = got.into_iter().map(|s| (s.labels, s.samples)).collect();
        assert_same(&got, &expect, &format!("range [{mint}, {maxt}]"));
    }
    assert_eq!(
        store.label_names(&[], i64::MIN, i64::MAX).unwrap(),
        ["__name__", "i", "job"]
    );
    assert_eq!(
        store
            .label_values(
                "i",
                &[m(MatchOp::RegexMatch, "i", "[2-4]")],
                i64::MIN,
                i64::MAX
            )
            .unwrap(),
        ["2", "3", "4"]
    );
    assert!(store
        .label_values("i", &[], 10_000_000, 20_000_000)
        .unwrap()
        .is_empty());
}

#[test]
fn retention_by_time_and_size() {
    let dir = tempfile::tempdir().unwrap();
    let day = 86_400_000i64;
    let now = model::time::now_ms();
    let store = Store::open(
        dir.path(),
        Options {
            retention_time: Some(Duration::from_secs(86_400)),
            ..opts()
        },
    )
    .unwrap();
    // Old series: 3 days ago; a series that spans old and new.
    let old = fill(&store, 50, 2000, now - 3 * day);
    let recent = Labels::from_pairs([("__name__", "recent")]);
    let mut app = store.appender();
    use model::Appender;
    for k in 0..600 {
        app.append(&recent, now - 2 * day + k * 300_000, k as f64)
            .unwrap();
    }
    app.commit().unwrap();
    store.flush_all().unwrap();
    let before = std::fs::metadata(dir.path().join(store::DB_FILE))
        .unwrap()
        .len();
    // Query results exclude old data even before retention runs.
    assert!(all(&store, &[Matcher::equal("__name__", "m")]).is_empty());
    let r = all(&store, &[Matcher::equal("__name__", "recent")]);
    assert!(
        r[0].1.iter().all(|s| s.t >= now - day - 60_000),
        "recent series returned samples beyond retention"
    );
    let report = store.apply_retention(now).unwrap();
    assert!(
        report.chunks > 0 && report.series == old.len(),
        "report {report:?}"
    );
    assert!(
        report.file_bytes_after < before,
        "SQLite file did not shrink: {report:?}"
    );
    assert_eq!(
        store
            .label_values("__name__", &[], i64::MIN, i64::MAX)
            .unwrap(),
        ["recent"]
    );
    // The symbols of the deleted series went with them.
    let symbols: Vec<String> = rusqlite::Connection::open(dir.path().join(store::DB_FILE))
        .unwrap()
        .prepare("SELECT text FROM symbols ORDER BY text")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(symbols, ["__name__", "recent"]);
    drop(store);
    // Size retention deletes oldest chunks until under the limit.
    let store = Store::open(
        dir.path(),
        Options {
            retention_size: Some(1),
            ..opts()
        },
    )
    .unwrap();
    let report = store.apply_retention(now).unwrap();
    assert!(report.chunks > 0, "{report:?}");
    assert!(all(&store, &[]).is_empty());
}

/// Time retention scans the table only once its cutoff passes the oldest
/// chunk's newest sample; chunks written or merged later with older
/// samples lower that mark, so they still go at the next pass.
#[test]
fn retention_finds_chunks_older_than_what_it_last_saw() {
    use model::Appender;
    let dir = tempfile::tempdir().unwrap();
    let hour = 3_600_000i64;
    // Half an hour into a two-hour period, an hour and a half to three
    // and a half hours ago: no run of samples below crosses the end of a
    // period, so each is one chunk. Queries hide data by the wall clock,
    // which is later, and keep all of it under ten hours' retention.
    let period = 2 * hour;
    let now = model::time::now_ms().div_euclid(period) * period - period + 30 * 60_000;
    let store = Store::open(
        dir.path(),
        Options {
            retention_time: Some(Duration::from_secs(10 * 3600)),
            out_of_order_window: Some(Duration::from_secs(100 * 3600)),
            ..opts()
        },
    )
    .unwrap();
    let count = |store: &Store| -> usize {
        store
            .select(&[], i64::MIN, i64::MAX)
            .unwrap()
            .map(|s| s.unwrap().samples.len())
            .sum()
    };
    // `n` samples a minute apart from `from`, flushed to SQLite.
    let write = |l: &Labels, from: i64, n: i64, v: f64| {
        let mut app = store.appender();
        for k in 0..n {
            app.append(l, from + k * 60_000, v).unwrap();
        }
        app.commit().unwrap();
        store.flush_all().unwrap();
    };
    // Five hours ago: within retention, nothing to delete.
    let a = Labels::from_pairs([("__name__", "a")]);
    write(&a, now - 5 * hour, 20, 1.0);
    assert_eq!(store.apply_retention(now).unwrap().chunks, 0);
    // A new series with samples from twenty hours ago: beyond retention.
    write(
        &Labels::from_pairs([("__name__", "b")]),
        now - 20 * hour,
        20,
        2.0,
    );
    // A late sample of the first series, also beyond retention.
    write(&a, now - 30 * hour, 1, 3.0);
    let report = store.apply_retention(now).unwrap();
    assert_eq!(report.chunks, 2, "{report:?}");
    let left = store
        .select(&[], now - 100 * hour, now)
        .unwrap()
        .map(|s| s.unwrap())
        .collect::<Vec<_>>();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].labels, a);
    assert!(left[0].samples.iter().all(|s| s.t >= now - 5 * hour));
    // Later passes delete the remaining chunk only once its newest sample
    // is older than ten hours: not five hours on, but six.
    assert_eq!(store.apply_retention(now + 5 * hour).unwrap().chunks, 0);
    assert_eq!(count(&store), 20);
    assert_eq!(store.apply_retention(now + 6 * hour).unwrap().chunks, 1);
}

#[test]
fn zero_fsync_interval_syncs_every_commit_without_a_syncer() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        Options {
            background: true,
            wal_fsync_interval: Duration::ZERO,
            ..opts()
        },
    )
    .unwrap();
    use model::Appender;
    for i in 0..5 {
        let mut app = store.appender();
        app.append(&series("m", 0), i * 1000, i as f64).unwrap();
        app.commit().unwrap();
        assert_eq!(
            store.metrics().wal_fsync.count(),
            i as u64 + 1,
            "commit {i}"
        );
    }
    store.close().unwrap();
}

#[test]
fn a_selection_read_in_parts_on_threads_is_the_selection() {
    // Big enough to be cut; half the chunks flushed to SQLite, so parts
    // read both places through their shared connection.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    let mut want = fill(&store, 1_300, 250, 1_000_000);
    store.flush().unwrap();
    let more = fill(&store, 1_300, 10, 100_000_000);
    for (w, m) in want.iter_mut().zip(&more) {
        w.1.extend_from_slice(&m.1);
    }
    let parts = store.select_parts(&[], i64::MIN, i64::MAX, 3).unwrap();
    assert_eq!(
        parts.len(),
        3,
        "1,300 series make the three parts asked for"
    );
    let got: Vec<Vec<(Labels, Vec<Sample>)>> = std::thread::scope(|s| {
        let hs: Vec<_> = parts
            .into_iter()
            .map(|p| {
                s.spawn(move || {
                    p.map(|x| x.map(|x| (x.labels, x.samples)))
                        .collect::<Result<Vec<_>, _>>()
                        .unwrap()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_same(&got.concat(), &want, "parts in order");
    assert_same(&all(&store, &[]), &want, "one selection");
    // A small selection is one part.
    let small = [Matcher::new(MatchOp::Equal, "i", "7").unwrap()];
    assert_eq!(
        store
            .select_parts(&small, i64::MIN, i64::MAX, 4)
            .unwrap()
            .len(),
        1
    );
}
