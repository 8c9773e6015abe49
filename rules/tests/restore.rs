//! Restoring `for` state after a restart, on an injected clock: a group
//! runs, "dies" (no more evaluations), and a new group over the same store
//! restores from `ALERTS_FOR_STATE` the way upstream's `RestoreForState`
//! does (the cases of upstream `TestForStateRestore`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use model::mem::MemStore;
use model::Labels;
use rules::alerting::State;
use rules::group::{Env, Group, RuleState};

const M: i64 = 60_000;

fn env(store: &Arc<MemStore>) -> Env {
    Env {
        engine: promql::Engine::default(),
        querier: store.clone(),
        appendable: store.clone(),
        external_labels: Labels::empty(),
        external_url: String::new(),
        notify: None,
        resend_delay: Duration::from_secs(60),
    }
}

fn group() -> Group {
    let text = "groups:\n  - name: g\n    interval: 1m\n    rules:\n      - alert: HoldTen\n        expr: vector(1)\n        for: 10m\n        labels: {severity: page}\n";
    let f = rules::parse(Path::new("r.yml"), text, rules::NameValidation::Utf8).unwrap();
    Group::new(
        Path::new("r.yml"),
        &f.groups[0],
        Duration::from_secs(60),
        Duration::ZERO,
    )
    .unwrap()
}

fn alert_state(g: &Group) -> (State, i64) {
    let RuleState::Alert(a) = &g.rules[0] else {
        panic!()
    };
    let al = a.alerts()[0];
    (al.state, al.active_at)
}

/// Runs the old server from 0 to `down` (exclusive), restarts at
/// `restart` with evaluations every minute, restores after the second,
/// and returns the time the alert fires and its restored `active_at`.
fn run(down: i64, restart: i64, tolerance: Duration, grace: Duration) -> (i64, i64) {
    let store = Arc::new(MemStore::new());
    let env = env(&store);
    let mut old = group();
    old.set_restored();
    let mut t = 0;
    while t < down {
        old.eval(t, &env);
        t += M;
    }
    drop(old);
    let mut g = group();
    let mut t = restart;
    g.eval(t, &env);
    t += M;
    g.eval(t, &env);
    g.restore_for_state(t, &env, tolerance, grace);
    let restored_at = alert_state(&g).1;
    loop {
        t += M;
        g.eval(t, &env);
        if alert_state(&g).0 == State::Firing {
            return (t, restored_at);
        }
        assert!(t < 10 * 60 * M, "never fired");
    }
}

#[test]
fn restore_timelines() {
    let hour = Duration::from_secs(3600);
    // (name, last eval before the kill + 1m, restart, tolerance, grace,
    //  want restored active_at, want firing time)
    let cases = [
        // Pending 1m (last ALERTS_FOR_STATE at 1m), back at 5m, restored at
        // 6m: 9m remain, less than the 10m grace, so it fires at 6m + 10m.
        (
            "within grace",
            2 * M,
            5 * M,
            hour,
            Duration::from_secs(600),
            6 * M,
            16 * M,
        ),
        // With a 2m grace the down time (1m → 6m) is added to active_at.
        (
            "down time added",
            2 * M,
            5 * M,
            hour,
            Duration::from_secs(120),
            5 * M,
            15 * M,
        ),
        // Gone longer than the outage tolerance: nothing is restored; the
        // alert counts from its first evaluation after the restart.
        (
            "beyond tolerance",
            2 * M,
            120 * M,
            hour,
            Duration::from_secs(120),
            120 * M,
            130 * M,
        ),
        // Was firing when it went down (active since 0): keeps its time and
        // fires again at the evaluation after the restore.
        (
            "was firing",
            12 * M,
            15 * M,
            hour,
            Duration::from_secs(120),
            0,
            17 * M,
        ),
    ];
    for (name, down, restart, tol, grace, want_active, want_fire) in cases {
        let (fired, active) = run(down, restart, tol, grace);
        assert_eq!(
            (active, fired),
            (want_active, want_fire),
            "{name}: (active_at, fired) in minutes got ({}, {}), want ({}, {})",
            active / M,
            fired / M,
            want_active / M,
            want_fire / M
        );
    }
}

#[test]
fn for_shorter_than_grace_is_not_restored() {
    let (fired, active) = run(
        2 * M,
        5 * M,
        Duration::from_secs(3600),
        Duration::from_secs(3600),
    );
    assert_eq!((active, fired), (5 * M, 15 * M));
}
