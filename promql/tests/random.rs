//! Random expressions over a small store never panic: each either
//! evaluates or fails with an error, as an instant and as a range query.

use model::mem::MemStore;
use model::{Appendable, Labels};
use promql::Engine;
use proptest::prelude::*;

fn store() -> MemStore {
    let s = MemStore::new();
    let mut app = s.appender();
    let stale = model::sample::stale_nan();
    let values = [
        0.0,
        1.0,
        -1.0,
        f64::NAN,
        f64::INFINITY,
        1e308,
        5.5,
        stale,
        3.0,
        2.0,
    ];
    for (name, n) in [("m", 4), ("n", 3), ("h_bucket", 4)] {
        for i in 0..n {
            let le = ["0.1", "1", "+Inf", "x"][i % 4];
            let l = Labels::from_pairs([
                ("__name__", name.to_string()),
                ("i", i.to_string()),
                ("le", le.to_string()),
                ("job", format!("j{}", i % 2)),
            ]);
            for k in 0..40i64 {
                let v = values[(k as usize * (i + 1)) % values.len()];
                let _ = app.append(&l, k * 15_000, v + k as f64);
            }
        }
    }
    let info = Labels::from_pairs([("__name__", "target_info"), ("job", "j0"), ("x", "y")]);
    let _ = app.append(&info, 0, 1.0);
    app.commit().unwrap();
    s
}

fn pick(options: &'static [&'static str]) -> impl Strategy<Value = String> + Clone {
    proptest::sample::select(options).prop_map(str::to_string)
}

fn leaf() -> impl Strategy<Value = String> {
    pick(&[
        "m",
        "n",
        "h_bucket",
        "m{i=\"1\"}",
        "{__name__=~\"m|n\"}",
        "m offset 1m",
        "m @ 100",
        "vector(1)",
        "nothing",
    ])
}

fn scalar() -> impl Strategy<Value = String> {
    pick(&["1", "-2.5", "NaN", "Inf", "0", "time()", "scalar(m)", "0.5"])
}

fn vector() -> impl Strategy<Value = String> {
    leaf().prop_recursive(4, 32, 3, |inner| {
        let matrix = prop_oneof![
            leaf().prop_map(|v| format!("{v}[1m]")),
            leaf().prop_map(|v| format!("{v}[5m]")),
            inner.clone().prop_map(|v| format!("({v})[5m:1m]")),
        ];
        let op = pick(&[
            "+",
            "-",
            "*",
            "/",
            "%",
            "^",
            "==",
            "!=",
            ">",
            "<=",
            "and",
            "or",
            "unless",
            "> bool",
            "+ on(i)",
            "* ignoring(job)",
            "* on(job) group_left",
            "/ on(job) group_right(i)",
        ]);
        let simple = pick(&[
            "abs",
            "ceil",
            "exp",
            "ln",
            "sqrt",
            "sort",
            "sort_desc",
            "timestamp",
            "-",
            "absent",
            "info",
            "day_of_week",
            "sgn",
        ]);
        let over_time = pick(&[
            "rate",
            "increase",
            "delta",
            "irate",
            "idelta",
            "deriv",
            "changes",
            "resets",
            "avg_over_time",
            "min_over_time",
            "stddev_over_time",
            "last_over_time",
            "mad_over_time",
            "absent_over_time",
            "count_over_time",
        ]);
        let agg = pick(&[
            "sum",
            "avg",
            "min",
            "max",
            "count",
            "group",
            "stddev",
            "stdvar",
            "sum by (i)",
            "max without (i)",
        ]);
        let k_agg = pick(&["topk", "bottomk", "limitk", "limit_ratio", "quantile"]);
        prop_oneof![
            (simple, inner.clone()).prop_map(|(f, v)| format!("{f}({v})")),
            (over_time, matrix.clone()).prop_map(|(f, m)| format!("{f}({m})")),
            (scalar(), matrix.clone()).prop_map(|(s, m)| format!("quantile_over_time({s}, {m})")),
            (scalar(), matrix.clone()).prop_map(|(s, m)| format!("predict_linear({m}, {s})")),
            matrix.prop_map(|m| format!("double_exponential_smoothing({m}, 0.5, 0.5)")),
            (agg, inner.clone()).prop_map(|(a, v)| format!("{a}({v})")),
            (k_agg, scalar(), inner.clone()).prop_map(|(a, s, v)| format!("{a}({s}, {v})")),
            inner
                .clone()
                .prop_map(|v| format!("count_values(\"x\", {v})")),
            (scalar(), inner.clone()).prop_map(|(s, v)| format!("histogram_quantile({s}, {v})")),
            inner
                .clone()
                .prop_map(|v| format!("label_replace({v}, \"a\", \"$1\", \"i\", \"(.*)\")")),
            inner
                .clone()
                .prop_map(|v| format!("label_join({v}, \"a\", \"-\", \"i\", \"job\")")),
            (inner.clone(), scalar(), scalar())
                .prop_map(|(v, a, b)| format!("clamp({v}, {a}, {b})")),
            (inner.clone(), scalar()).prop_map(|(v, s)| format!("round({v}, {s})")),
            (inner.clone(), op.clone(), inner.clone())
                .prop_map(|(a, o, b)| format!("({a}) {o} ({b})")),
            (inner.clone(), op, scalar()).prop_map(|(a, o, s)| format!("({a}) {o} {s}")),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn never_panics(q in vector()) {
        let s = store();
        if let Ok(expr) = promql::parse(&q) {
            let engine = Engine::default();
            let _ = engine.instant(&s, &expr, 300_000);
            let _ = engine.range(&s, &expr, 0, 600_000, 30_000);
        }
    }
}

/// `(labels, t) -> value bits` of the points of a range query's answer at
/// the steps `keep` accepts.
type Points = std::collections::BTreeMap<(String, i64), u64>;

fn range_points(answer: promql::Answer, keep: impl Fn(i64) -> bool) -> Points {
    let promql::Answer::Matrix(m) = answer else {
        panic!("not a matrix");
    };
    let mut out = Points::new();
    for r in &m {
        for &(t, v) in r.points.iter().filter(|(t, _)| keep(*t)) {
            out.insert((r.labels.to_string(), t), v.to_bits());
        }
    }
    out
}

/// Adds an instant query's answer at `t` to `out`.
fn add_instant(out: &mut Points, answer: promql::Answer, t: i64) {
    let promql::Answer::Vector { elems, .. } = answer else {
        panic!("not a vector");
    };
    for e in elems {
        out.insert((e.labels.to_string(), t), e.v.to_bits());
    }
}

/// Counters over `n` series (`job` = `j<i % jobs>`), `per` samples 15 s
/// apart with series `i` shifted by `i * shift` ms: `next(i, k, counter)`
/// gives the counter's next value and the value written for it.
fn counters(
    n: i64,
    jobs: i64,
    per: i64,
    shift: i64,
    next: impl Fn(i64, i64, f64) -> (f64, f64),
) -> MemStore {
    let s = MemStore::new();
    let mut app = s.appender();
    for i in 0..n {
        let l = Labels::from_pairs([
            ("__name__", "c".to_string()),
            ("i", i.to_string()),
            ("job", format!("j{}", i % jobs)),
        ]);
        let mut v = 0.0;
        for k in 0..per {
            let (counter, written) = next(i, k, v);
            v = counter;
            app.append(&l, k * 15_000 + i * shift, written).unwrap();
        }
    }
    app.commit().unwrap();
    s
}

/// A range query computes range functions for all steps at once (with the
/// counter resets of `rate` and `increase` found once per series); every
/// step must equal the instant query at that time, bit for bit, both as
/// instant queries run (one step of the same machinery) and node by node
/// on vectors of labelled elements.
#[test]
fn range_steps_equal_instant_queries() {
    let stale = model::sample::stale_nan();
    // Counters that grow, reset now and then (to 0 or part way), go stale
    // for a while, and restart.
    let s = counters(6, 2, 120, 700, |i, k, v| {
        let v = match (k * (i + 3)) % 17 {
            0 => 0.0,
            5 => v / 3.0,
            _ => v + (k % 7) as f64 * 1.25 + i as f64,
        };
        let stale_now = (40..44).contains(&k) && i % 3 == 0;
        (v, if stale_now { stale } else { v })
    });
    let engine = Engine::default();
    for q in [
        "rate(c[1m])",
        "increase(c[5m])",
        "increase(c[1h])",
        "rate(c[2m] offset 45s)",
        "sum by (job) (increase(c[10m]))",
        "count by (job) (c)",
        "max without (i) (rate(c[1m]))",
        "avg(c)",
        "rate(c[1m]) * on(job) group_left sum by (job) (c)",
        "c > on(i, job) c offset 1m",
        "count by (job) (c) < bool on(job) group_right c",
        "delta(c[3m])",
        "resets(c[10m])",
        "sum_over_time(c[4m])",
        // Aggregations that take every step's groups at once.
        "sum(rate(c[1m]))",
        "avg by (job) (rate(c[2m]))",
        "min by (job) (c)",
        "max(increase(c[3m]))",
        "group by (job) (rate(c[1m]))",
        "stddev by (job) (rate(c[1m]))",
        "stdvar without (i) (c)",
        "count without (i) (rate(c[1m]))",
        "sum by (__name__) (c)",
        "sum by (__name__) (rate(c[1m]))",
        "quantile(0.3, rate(c[1m]))",
        "topk(2, sum by (i) (c))",
        // A comparison with a number filtering the column on its way up.
        "count by (job) (c > 20)",
        "sum(0.1 < rate(c[1m]))",
        "max by (job) ((c) >= 10)",
        "count(c == bool 3)",
        "sum by (job) (c + 1)",
    ] {
        let expr = promql::parse(q).unwrap();
        let (start, end, step) = (0, 1_900_000, 20_000);
        let answer = engine.range(&s, &expr, start, end, step).unwrap().answer;
        let from_range = range_points(answer, |_| true);
        let mut from_instant = Points::new();
        let mut from_vectors = Points::new();
        let mut t = start;
        while t <= end {
            add_instant(
                &mut from_instant,
                engine.instant(&s, &expr, t).unwrap().answer,
                t,
            );
            let answer = engine.instant_by_vectors(&s, &expr, t).unwrap().answer;
            add_instant(&mut from_vectors, answer, t);
            t += step;
        }
        assert!(from_range.len() >= 90, "{q}: {} points", from_range.len());
        assert_eq!(from_range, from_vectors, "{q}");
        assert_eq!(from_instant, from_vectors, "{q}");
    }
}

/// An aggregation over a range function whose series are alike once
/// their names are dropped fails in a range query as in an instant one,
/// though the aggregation asked for every step's groups at once.
#[test]
fn aggregation_over_series_alike_without_names_fails_in_range_queries() {
    let s = MemStore::new();
    let mut app = s.appender();
    for name in ["c", "d"] {
        let l = Labels::from_pairs([("__name__", name), ("job", "a")]);
        for k in 0..40i64 {
            app.append(&l, k * 15_000, k as f64).unwrap();
        }
    }
    app.commit().unwrap();
    let engine = Engine::default();
    let expr = promql::parse(r#"sum(rate({__name__=~"c|d"}[1m]))"#).unwrap();
    let instant = engine.instant(&s, &expr, 300_000).unwrap_err();
    let by_vectors = engine.instant_by_vectors(&s, &expr, 300_000).unwrap_err();
    let range = engine.range(&s, &expr, 0, 500_000, 20_000).unwrap_err();
    assert!(
        by_vectors.message.contains("same labelset"),
        "{by_vectors:?}"
    );
    assert_eq!(instant.message, by_vectors.message);
    assert_eq!(range.message, by_vectors.message);
}

/// Aggregations over enough values to add up each half of the steps on a
/// thread of its own give every step what the node-by-node evaluation
/// gives, bit for bit: at the first and last steps, on both sides of the
/// middle, and at steps in between.
#[test]
fn aggregations_split_across_threads_equal_node_by_node_evaluation() {
    let s = counters(700, 7, 480, 11, |i, k, v| {
        let v = match (k * (i + 5)) % 211 {
            0 => 0.0,
            _ => v + ((k * 7 + i) % 13) as f64 * 0.1 + 1e-3 * i as f64,
        };
        (v, v)
    });
    let engine = Engine::default();
    let (start, end, step) = (0, 7_200_000, 15_000);
    let steps = (end - start) / step + 1;
    let mut at: Vec<i64> = (0..steps).step_by(40).collect();
    at.extend([steps / 2 - 1, steps / 2, steps / 2 + 1, steps - 1]);
    at.sort();
    at.dedup();
    for q in [
        "sum by (job) (rate(c[1m]))",
        "avg by (job) (c)",
        "max(c)",
        "min by (job) (rate(c[2m]))",
        "stddev(rate(c[2m]))",
        "count by (job) (c)",
        "group(c)",
    ] {
        let expr = promql::parse(q).unwrap();
        let answer = engine.range(&s, &expr, start, end, step).unwrap().answer;
        let from_range = range_points(answer, |t| at.contains(&((t - start) / step)));
        let mut from_vectors = Points::new();
        for &k in &at {
            let t = start + k * step;
            let answer = engine.instant_by_vectors(&s, &expr, t).unwrap().answer;
            add_instant(&mut from_vectors, answer, t);
        }
        // A rate has no value at the first step.
        assert!(
            from_range.len() + 1 >= at.len(),
            "{q}: {} points",
            from_range.len()
        );
        assert_eq!(from_range, from_vectors, "{q}");
    }
}
