//! Acknowledgements and snoozes on an injected clock: the alerter ticked
//! second by second, alerts re-sent every minute as Prometheus does (each
//! with `endsAt` four minutes ahead), and what it decides to send written
//! down with the second it was decided and the answer it names.
//!
//! The route: `group_by: [service]`, `group_wait: 30s`,
//! `group_interval: 5m`, `repeat_interval: 1h`; so a group flushes at
//! 30 s and every 5 minutes after, and repeats an unchanged notification
//! at the first flush more than an hour after the last one.

use std::collections::BTreeMap;

use alerter::ack::Actor;
use alerter::dispatch::Alert;
use alerter::runtime::Alerter;
use alerter::silence::Silences;

const S: i64 = 1000;
const M: i64 = 60 * S;
const H: i64 = 60 * M;

fn alerter() -> Alerter {
    let cfg = alerter::config::parse(
        "route:\n  receiver: team\n  group_by: [service]\n  group_wait: 30s\n  group_interval: 5m\n  repeat_interval: 1h\nreceivers:\n  - name: team\n    webhook_configs:\n      - url: http://127.0.0.1:1/\n        send_resolved: true\n",
        "am.yml",
    )
    .unwrap();
    Alerter::new(&cfg, Silences::open(None, 0).unwrap()).unwrap()
}

fn alert(name: &str, starts: i64, ends: i64) -> Alert {
    Alert {
        labels: [("alertname", name), ("service", "api")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        annotations: BTreeMap::new(),
        starts_at: starts,
        ends_at: ends,
        generator_url: String::new(),
        updated_at: 0,
    }
}

fn ana() -> Actor {
    Actor {
        user: "ana".into(),
        via: "slack".into(),
        ..Actor::default()
    }
}

const GROUP: &str = "{}:{service=\"api\"}";

/// One decided send: the second, the reason, the alerts with their state,
/// and who the answer names (`acked by ana`, `snoozed by ana`).
type Sent = (i64, String);

/// Ticks from 0 to `until`; `alerts(now)` gives what the senders send each
/// minute, `act(now, alerter)` answers.
fn run(
    until: i64,
    alerts: impl Fn(i64) -> Vec<Alert>,
    mut act: impl FnMut(i64, &mut Alerter),
) -> (Vec<Sent>, Alerter) {
    let mut a = alerter();
    let mut sent = Vec::new();
    let mut now = 0;
    while now <= until {
        if now % M == 0 {
            let batch = alerts(now);
            if !batch.is_empty() {
                a.put(batch, now);
            }
        }
        act(now, &mut a);
        for d in a.tick(now) {
            let what: Vec<String> = d
                .alerts
                .iter()
                .map(|x| {
                    let state = if x.is_resolved(now) {
                        "resolved"
                    } else {
                        "firing"
                    };
                    format!("{} {state}", x.labels["alertname"])
                })
                .collect();
            let named = match &d.answer {
                Some(x) if x.ack.is_some() => {
                    format!(" (acked by {})", x.ack.as_ref().unwrap().by.user)
                }
                Some(x) if x.snooze.is_some() => {
                    format!(" (snoozed by {})", x.snooze.as_ref().unwrap().by.user)
                }
                _ => String::new(),
            };
            sent.push((
                now / S,
                format!("{}: {}{named}", d.reason.as_str(), what.join(", ")),
            ));
            drop(a.record(&d));
        }
        now += S;
    }
    (sent, a)
}

/// Fires from 0 until `stop` (then resolved), re-sent every minute.
fn firing_until(name: &'static str, stop: i64) -> impl Fn(i64) -> Vec<Alert> {
    move |now| {
        if now < stop {
            vec![alert(name, 0, now + 4 * M)]
        } else if now == stop {
            vec![alert(name, 0, stop)]
        } else {
            vec![]
        }
    }
}

fn at(s: i64, what: &str) -> Sent {
    (s, what.to_string())
}

#[test]
fn without_an_answer_repeats_every_hour() {
    let (sent, _) = run(3 * H, firing_until("Down", 10 * H), |_, _| {});
    assert_eq!(
        sent,
        vec![
            at(30, "first notification: Down firing"),
            at(3930, "repeat interval elapsed: Down firing"),
            at(7830, "repeat interval elapsed: Down firing"),
        ]
    );
}

#[test]
fn an_ack_stops_repeats_and_the_resolved_notice_names_it() {
    let (sent, a) = run(3 * H, firing_until("Down", 2 * H), |now, a| {
        if now == 10 * M {
            let c = a.ack(GROUP, "team", ana(), now).unwrap();
            assert!(c.changed);
            // Twice is the same as once.
            assert!(!a.ack(GROUP, "team", ana(), now).unwrap().changed);
        }
    });
    assert_eq!(
        sent,
        vec![
            at(30, "first notification: Down firing"),
            at(7230, "all alerts resolved: Down resolved (acked by ana)"),
        ]
    );
    // The group resolved: its acknowledgement is gone.
    assert!(a.acks.get(GROUP, "team").is_none());
}

#[test]
fn a_new_alert_in_an_acked_group_notifies_once_naming_the_ack() {
    let down = firing_until("Down", 10 * H);
    let (sent, _) = run(
        3 * H,
        move |now| {
            let mut v = down(now);
            if now >= 20 * M {
                v.push(alert("Slow", 20 * M, now + 4 * M));
            }
            v
        },
        |now, a| {
            if now == 10 * M {
                drop(a.ack(GROUP, "team", ana(), now).unwrap());
            }
        },
    );
    assert_eq!(
        sent,
        vec![
            at(30, "first notification: Down firing"),
            at(
                1230,
                "new alerts added: Down firing, Slow firing (acked by ana)"
            ),
        ]
    );
}

#[test]
fn unack_resumes_repeats() {
    let (sent, _) = run(3 * H, firing_until("Down", 10 * H), |now, a| {
        if now == 10 * M {
            drop(a.ack(GROUP, "team", ana(), now).unwrap());
        }
        if now == 2 * H {
            assert!(a.unack(GROUP, "team").unwrap().changed);
            assert!(!a.unack(GROUP, "team").unwrap().changed);
        }
    });
    assert_eq!(
        sent,
        vec![
            at(30, "first notification: Down firing"),
            // The first flush after the unack: the repeat is long due.
            at(7230, "repeat interval elapsed: Down firing"),
        ]
    );
}

#[test]
fn a_snooze_holds_repeats_and_notifies_again_at_its_time() {
    let (sent, a) = run(5 * H, firing_until("Down", 10 * H), |now, a| {
        if now == 10 * M {
            let c = a.snooze(GROUP, "team", ana(), now, 2 * H + 10 * M).unwrap();
            assert!(c.changed);
        }
    });
    assert_eq!(
        sent,
        vec![
            at(30, "first notification: Down firing"),
            // No repeat at 1h05m; the first flush from 2h10m on.
            at(7830, "snooze ended: Down firing (snoozed by ana)"),
            // Then an hour as usual.
            at(11730, "repeat interval elapsed: Down firing"),
            at(15630, "repeat interval elapsed: Down firing"),
        ]
    );
    assert!(a.acks.get(GROUP, "team").is_none());
}

#[test]
fn a_snooze_in_the_past_or_of_an_unknown_group_is_refused() {
    let mut a = alerter();
    assert!(a.ack(GROUP, "team", ana(), 0).is_err(), "no such group yet");
    a.put(vec![alert("Down", 0, 4 * M)], 0);
    assert!(a.snooze(GROUP, "team", ana(), 10, 10).is_err());
    assert!(a.snooze(GROUP, "other", ana(), 10, 20).is_err());
    assert!(a.snooze(GROUP, "team", ana(), 10, 20).is_ok());
}

#[test]
fn flapping_within_the_group_interval_keeps_the_ack() {
    // Down resolves at 21m and fires again at 23m: the flushes at 20m30s
    // and 25m30s both see it firing.
    let (sent, a) = run(
        3 * H,
        |now| {
            if now == 21 * M {
                vec![alert("Down", 0, 21 * M)]
            } else if now == 22 * M {
                vec![]
            } else if now >= 23 * M {
                vec![alert("Down", 23 * M, now + 4 * M)]
            } else {
                vec![alert("Down", 0, now + 4 * M)]
            }
        },
        |now, a| {
            if now == 10 * M {
                drop(a.ack(GROUP, "team", ana(), now).unwrap());
            }
        },
    );
    assert_eq!(sent, vec![at(30, "first notification: Down firing")]);
    assert!(a.acks.get(GROUP, "team").is_some_and(|x| x.ack.is_some()));
}

/// Silences the group by `service="api"` at `now`, held until it
/// resolves, as a chat's "until resolved" does; returns the silence's id.
fn silence_until_resolved(a: &mut Alerter, now: i64) -> String {
    let sil = alerter::silence::Silence {
        id: String::new(),
        matchers: vec![
            alerter::matcher::Matcher::new(model::MatchOp::Equal, "service", "api").unwrap(),
        ],
        starts_at: now,
        ends_at: now + 30 * 24 * H,
        updated_at: now,
        created_by: "ana".into(),
        comment: "until resolved".into(),
    };
    let (id, w) = a.silences.set(sil, now).unwrap();
    drop(w);
    drop(a.acks.hold_silence(GROUP, "team", &id, ana(), now));
    id
}

#[test]
fn a_silence_until_resolved_ends_when_the_group_resolves() {
    // Silenced "until resolved" at 10m; Down resolves at 90m, and the
    // flush at 90m30s sees the group resolved: the silence ends then.
    let mut id = String::new();
    let (sent, a) = run(2 * H, firing_until("Down", 90 * M), |now, a| {
        if now == 10 * M {
            id = silence_until_resolved(a, now);
        }
    });
    // Muted from 10m: no repeat at 1h, no resolved notice.
    assert_eq!(sent, vec![at(30, "first notification: Down firing")]);
    let s = a.silences.get(&id).unwrap();
    assert_eq!(s.ends_at, 90 * M + 30 * S, "ended when the group resolved");
    assert_eq!(s.state(2 * H), alerter::silence::State::Expired);
    assert!(a.acks.get(GROUP, "team").is_none(), "the hold is forgotten");
}

#[test]
fn a_silence_until_resolved_outlives_a_flap() {
    // Down resolves at 21m and fires again at 23m: no flush sees the group
    // resolved, so the silence holds.
    let mut id = String::new();
    let (sent, a) = run(
        2 * H,
        |now| match now {
            t if t < 21 * M => vec![alert("Down", 0, now + 4 * M)],
            t if t == 21 * M => vec![alert("Down", 0, 21 * M)],
            t if t < 23 * M => vec![],
            _ => vec![alert("Down", 23 * M, now + 4 * M)],
        },
        |now, a| {
            if now == 10 * M {
                id = silence_until_resolved(a, now);
            }
        },
    );
    assert_eq!(sent, vec![at(30, "first notification: Down firing")]);
    assert_eq!(
        a.silences.get(&id).unwrap().state(2 * H),
        alerter::silence::State::Active
    );
}
