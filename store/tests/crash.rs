//! Crash test: a child process appends as fast as it can and reports every
//! acknowledged batch; it is killed with SIGKILL at random moments, and
//! every acknowledged sample must be there, bit-exact, when the store is
//! reopened. The child runs with tiny flush, checkpoint and segment
//! thresholds so that kills also land inside flushes, checkpoints and
//! segment cuts.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use model::{Appender, Labels, Querier};
use rand::{Rng, SeedableRng};
use store::{Options, Store};

const CHILD_DIR: &str = "WATCHFIRE_CRASH_CHILD_DIR";
const CHILD_ROUND: &str = "WATCHFIRE_CRASH_CHILD_ROUND";
const SERIES: usize = 20;
const ROUNDS: i64 = 12;

fn labels(i: usize) -> Labels {
    Labels::from_pairs([("__name__", "crash".to_string()), ("s", i.to_string())])
}

fn t_of(round: i64, batch: i64) -> i64 {
    round * 1_000_000_000 + batch * 10
}

/// Any 64-bit pattern, NaNs included, derived from the position.
fn v_of(round: i64, batch: i64, i: usize) -> f64 {
    let mut x = (round as u64) << 40 ^ (batch as u64) << 8 ^ i as u64;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    f64::from_bits(x)
}

/// The child: does nothing unless started by the parent below.
#[test]
fn crash_child() {
    let (Ok(dir), Ok(round)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_ROUND)) else {
        return;
    };
    let round: i64 = round.parse().expect("round number");
    let opts = Options {
        wal_fsync_interval: Duration::from_millis(5),
        flush_interval: Duration::from_millis(3),
        checkpoint_bytes: 64 << 10,
        checkpoint_interval: Duration::from_millis(20),
        segment_bytes: 16 << 10,
        chunk_samples: 30,
        retention_time: None,
        ..Options::default()
    };
    let store = Store::open(std::path::Path::new(&dir), opts).expect("child opens store");
    let mut app = store.appender();
    let start = Instant::now();
    let mut batch = 0;
    while start.elapsed() < Duration::from_secs(30) {
        for i in 0..SERIES {
            app.append(&labels(i), t_of(round, batch), v_of(round, batch, i))
                .unwrap();
        }
        let sum = app.commit().expect("commit");
        assert_eq!(sum.appended, SERIES);
        println!("ack {batch}");
        batch += 1;
    }
}

#[test]
fn acknowledged_batches_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(20261126);
    let mut acked: Vec<i64> = Vec::new();
    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR, dir.path())
            .env(CHILD_ROUND, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let last = Arc::new(AtomicI64::new(-1));
        let reader = {
            let last = last.clone();
            let out = child.stdout.take().unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if let Some(n) = line.strip_prefix("ack ").and_then(|n| n.parse().ok()) {
                        last.store(n, Ordering::SeqCst);
                    }
                }
            })
        };
        // Wait for the child to be writing, then kill it at a random moment.
        let begun = Instant::now();
        while last.load(Ordering::SeqCst) < 0 && begun.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(20..400)));
        child.kill().unwrap();
        child.wait().unwrap();
        reader.join().unwrap();
        let n = last.load(Ordering::SeqCst);
        assert!(n >= 0, "round {round}: child acknowledged nothing");
        acked.push(n);

        let store = Store::open(
            dir.path(),
            Options {
                background: false,
                retention_time: None,
                ..Options::default()
            },
        )
        .unwrap_or_else(|e| panic!("round {round}: store failed to open after SIGKILL: {e}"));
        let mut got: HashMap<Labels, HashMap<i64, u64>> = HashMap::new();
        for s in store.select(&[], i64::MIN, i64::MAX).unwrap() {
            let s = s.unwrap();
            got.insert(
                s.labels,
                s.samples.iter().map(|x| (x.t, x.v.to_bits())).collect(),
            );
        }
        for (r, &last_ack) in acked.iter().enumerate() {
            for i in 0..SERIES {
                let samples = got
                    .get(&labels(i))
                    .unwrap_or_else(|| panic!("round {round}: series {i} missing"));
                for b in 0..=last_ack {
                    let want = v_of(r as i64, b, i).to_bits();
                    let t = t_of(r as i64, b);
                    assert_eq!(
                        samples.get(&t),
                        Some(&want),
                        "round {round}: series {i}, round {r} batch {b} (acked up to {last_ack})"
                    );
                }
            }
        }
        eprintln!(
            "round {round}: killed after {n} acknowledged batches; all {} rounds verified",
            acked.len()
        );
    }
}
