//! The engine checked against a naive reference evaluator on seeded
//! random input, as GreptimeDB checks its PromQL functions: every
//! aggregation, every binary operator with `on`/`ignoring`/`group_left`/
//! `group_right` and with `bool`, and the rate and `*_over_time` family,
//! at least `CASES` random cases each, as instant and as range queries.
//!
//! A failure prints the seed, the query, the input as a `promqltest` load
//! block, and the engine's and the reference's answers. To replay one
//! case, set `REFERENCE_SEED` to the printed seed.

mod check;
mod data;
mod eval;
mod expr;
mod gen;
mod over_time;
mod rng;

use std::time::Instant;

use check::{from_answer, same, show, Series};
use data::Input;
use eval::{eval, group_key, Val};
use expr::{Expr, Param};
use promql::Engine;
use rng::Rng;

/// Random cases for each operator and function.
const CASES: u64 = 1000;

/// The relative tolerance of a comparison.
const REL: f64 = 1e-9;

/// When and how a case is evaluated.
#[derive(Clone, Copy, Debug)]
pub enum Query {
    Instant(i64),
    Range { start: i64, end: i64, step: i64 },
}

pub struct Case {
    pub expr: Expr,
    pub input: Input,
    pub query: Query,
}

/// How many cases gave a non-empty answer, an empty one or an error, so
/// that a generator that stops producing interesting cases is noticed.
#[derive(Default, Debug)]
struct Tally {
    full: u64,
    empty: u64,
    errors: u64,
}

fn reference(c: &Case) -> Result<Series, String> {
    let times: Vec<i64> = match c.query {
        Query::Instant(t) => vec![t],
        Query::Range { start, end, step } => (start..=end).step_by(step as usize).collect(),
    };
    let mut out = Series::new();
    for t in times {
        match eval(&c.expr, &c.input, t)? {
            Val::Vector(v) => {
                for (l, x) in v {
                    out.entry(l).or_default().push((t, x));
                }
            }
            Val::Scalar(_) => return Err("scalar result".into()),
        }
    }
    Ok(out)
}

fn engine(c: &Case) -> Result<Series, String> {
    let q = c.expr.to_string();
    let e = promql::parse(&q).map_err(|e| e.to_string())?;
    let store = c.input.store();
    let out = match c.query {
        Query::Instant(t) => Engine::default().instant(&store, &e, t),
        Query::Range { start, end, step } => Engine::default().range(&store, &e, start, end, step),
    }
    .map_err(|e| e.to_string())?;
    from_answer(&out.answer)
}

/// `topk`, `bottomk` and `limitk` may choose any of several equal
/// elements: each element the engine returns must be an input element,
/// and per group `topk`/`bottomk` must return the reference's values and
/// `limitk` as many elements as the reference.
fn same_choice(c: &Case, got: &Series, want: &Series) -> bool {
    let (Expr::Agg(a), Query::Instant(t)) = (&c.expr, c.query) else {
        unreachable!("only instant k-aggregations are checked by choice")
    };
    let Expr::Select(names) = &a.arg else {
        unreachable!()
    };
    let input = c.input.instant(names, t);
    let member = got.iter().all(|(l, p)| {
        input
            .iter()
            .any(|(il, iv)| il == l && check::close(*iv, p[0].1, 0.0))
    });
    let groups = |s: &Series| {
        let mut g: std::collections::BTreeMap<data::Lbls, Vec<f64>> = Default::default();
        for (l, p) in s {
            g.entry(group_key(l, &a.grouping)).or_default().push(p[0].1);
        }
        for v in g.values_mut() {
            eval::sort_nan_first(v);
        }
        g
    };
    let (g, w) = (groups(got), groups(want));
    member
        && g.len() == w.len()
        && g.iter().zip(&w).all(|((gk, gv), (wk, wv))| {
            gk == wk
                && gv.len() == wv.len()
                && (a.op == "limitk" || gv.iter().zip(wv).all(|(x, y)| check::close(*x, *y, 0.0)))
        })
}

fn by_choice(c: &Case) -> bool {
    matches!(&c.expr, Expr::Agg(a) if matches!(a.op, "topk" | "bottomk" | "limitk"))
}

/// Runs `CASES` cases of each name through `make`; panics with the first
/// failures.
fn run(family: &str, names: &[&'static str], make: fn(&mut Rng, &'static str) -> Case) {
    let started = Instant::now();
    let only: Option<u64> = std::env::var("REFERENCE_SEED")
        .ok()
        .and_then(|s| s.parse().ok());
    let mut failures = Vec::new();
    let mut total = 0;
    for (i, name) in names.iter().enumerate() {
        let mut tally = Tally::default();
        for n in 0..CASES {
            let seed = (family.len() as u64) << 48 | (i as u64) << 32 | n;
            if only.is_some_and(|s| s != seed) {
                continue;
            }
            let mut rng = Rng::new(seed);
            let case = make(&mut rng, name);
            total += 1;
            let want = reference(&case);
            let got = engine(&case);
            match &want {
                Err(_) => tally.errors += 1,
                Ok(w) if w.is_empty() => {
                    if std::env::var("REFERENCE_SHOW_EMPTY").is_ok() {
                        eprintln!(
                            "empty: {} {:?}\n{}",
                            case.expr,
                            case.query,
                            case.input.show()
                        );
                    }
                    tally.empty += 1
                }
                Ok(_) => tally.full += 1,
            }
            let ok = match (&got, &want) {
                (Err(_), Err(_)) => true,
                (Ok(g), Ok(w)) if by_choice(&case) => same_choice(&case, g, w),
                (Ok(g), Ok(w)) => same(g, w, REL),
                _ => false,
            };
            if !ok {
                eprintln!("FAIL seed {seed}: {}", case.expr);
                failures.push(format!(
                    "seed {seed}: {}\n{:?}\ninput:\n{}got:\n{}want:\n{}",
                    case.expr,
                    case.query,
                    case.input.show(),
                    show(&got),
                    show(&want)
                ));
            }
        }
        eprintln!("{family} {name}: {tally:?}");
        assert!(
            only.is_some() || tally.full * 5 >= CASES,
            "{family} {name}: under a fifth of the cases had an answer: {tally:?}"
        );
    }
    eprintln!(
        "{family}: {total} cases in {:?}, {} failed",
        started.elapsed(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {total} {family} cases differ from the reference; the first:\n\n{}",
        failures.len(),
        failures
            .iter()
            .take(4)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn aggregations() {
    run("aggregation", &gen::AGGREGATIONS, gen::aggregation);
}

#[test]
fn binary_operators() {
    run("binary", &gen::BINARY, gen::binary);
}

#[test]
fn range_functions() {
    run("range", &over_time::FUNCS, gen::range_function);
}

/// The reference itself, on cases worked by hand.
#[test]
fn reference_by_hand() {
    let mut input = Input::default();
    let l = |pairs: &[(&str, &str)]| -> data::Lbls {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    input.series.push(data::Series {
        labels: l(&[("__name__", "a"), ("x", "0")]),
        points: (0..6)
            .map(|i| (5_000 + i * 10_000, 10.0 + i as f64 * 10.0))
            .collect(),
    });
    let case = |e: Expr| Case {
        expr: e,
        input: input.clone(),
        query: Query::Instant(60_000),
    };
    let range = |func| {
        Expr::Range(expr::RangeCall {
            func,
            param: None,
            names: vec!["a"],
            range: 60_000,
            offset: 0,
        })
    };
    // 10..60 over 50 s in a 60 s window: extrapolated to both edges, but
    // not below zero at the start.
    let want = |v: f64| Series::from([(l(&[("x", "0")]), vec![(60_000, v)])]);
    assert!(same(
        &reference(&case(range("increase"))).unwrap(),
        &want(60.0),
        REL
    ));
    assert!(same(
        &reference(&case(range("rate"))).unwrap(),
        &want(1.0),
        REL
    ));
    assert!(same(
        &reference(&case(range("idelta"))).unwrap(),
        &want(10.0),
        REL
    ));
    let sum = Expr::Agg(Box::new(expr::Agg {
        op: "quantile",
        param: Param::Number(0.5),
        grouping: expr::Grouping::None,
        trailing: false,
        arg: Expr::Select(vec!["a"]),
    }));
    let got = reference(&case(sum)).unwrap();
    assert!(same(
        &got,
        &Series::from([(l(&[]), vec![(60_000, 60.0)])]),
        REL
    ));
}
