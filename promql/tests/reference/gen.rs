//! Random cases: inputs, expressions and evaluation times.

use crate::data::{Input, Values};
use crate::expr::{
    is_comparison, is_set, Agg, Binary, Card, Expr, Grouping, Matching, Param, RangeCall,
};
use crate::rng::Rng;
use crate::{Case, Query};

pub const AGGREGATIONS: [&str; 14] = [
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "limitk",
    "limit_ratio",
];

pub const BINARY: [&str; 16] = [
    "+", "-", "*", "/", "%", "^", "atan2", "==", "!=", ">", "<", ">=", "<=", "and", "or", "unless",
];

const LABEL_NAMES: [&str; 3] = ["x", "y", "z"];

fn values(rng: &mut Rng, counter: bool) -> Values {
    Values {
        counter,
        special: if rng.chance(0.3) { 0.08 } else { 0.0 },
        spread: rng.pick(&[2, 8, 40]),
        presence: 0.75,
        huge: rng.chance(0.3),
    }
}

/// An instant query, or a range query of up to eight steps.
fn query(rng: &mut Rng, instant_only: bool) -> Query {
    let t = if rng.chance(0.5) {
        rng.between(0, 800) * 1000
    } else {
        rng.between(0, 800_000)
    };
    if instant_only || rng.chance(0.5) {
        return Query::Instant(t);
    }
    let step = rng.pick(&[7_000, 15_000, 30_000, 60_000]);
    let steps = rng.between(1, 8);
    Query::Range {
        start: t,
        end: t + (steps - 1) * step,
        step,
    }
}

fn grouping(rng: &mut Rng) -> Grouping {
    match rng.below(3) {
        0 => Grouping::None,
        1 => {
            let mut l = rng.subset(&LABEL_NAMES);
            if rng.chance(0.1) {
                l.push("__name__");
            }
            Grouping::By(l)
        }
        _ => Grouping::Without(rng.subset(&LABEL_NAMES)),
    }
}

fn names(rng: &mut Rng) -> Vec<&'static str> {
    if rng.chance(0.15) {
        vec!["a", "b"]
    } else {
        vec!["a"]
    }
}

pub fn aggregation(rng: &mut Rng, op: &'static str) -> Case {
    let vals = values(rng, false);
    let input = Input::random(rng, &["a", "b"], 6, vals);
    let param = match op {
        "topk" | "bottomk" | "limitk" => {
            Param::Number(rng.pick(&[-1.0, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 10.0]))
        }
        "quantile" => {
            Param::Number(rng.pick(&[0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0, -0.5, 1.5, f64::NAN]))
        }
        "limit_ratio" => {
            Param::Number(rng.pick(&[-1.5, -1.0, -0.75, -0.5, -0.1, 0.0, 0.1, 0.5, 0.9, 1.0, 1.5]))
        }
        "count_values" => Param::Label(rng.pick(&["value", "x", "y"])),
        _ => Param::None,
    };
    let by_choice = matches!(op, "topk" | "bottomk" | "limitk");
    Case {
        expr: Expr::Agg(Box::new(Agg {
            op,
            param,
            grouping: grouping(rng),
            trailing: rng.chance(0.3),
            // `topk` and its kin are checked against their input
            // selector, and `count_values` turns values into labels, where
            // no tolerance can apply; the others also aggregate a range
            // function.
            arg: if !by_choice && op != "count_values" && rng.chance(0.25) {
                over_range(rng, "a")
            } else {
                Expr::Select(names(rng))
            },
        })),
        input,
        query: query(rng, by_choice),
    }
}

/// An operand that is usually a selector and, when matching `on` some
/// labels, sometimes an aggregation by them (the usual "one" side of a
/// many-to-one match).
///
/// Range functions are computed values, equal to the reference's only
/// within a tolerance: they are left out where a last-digit difference
/// changes the answer (`%`, comparisons).
fn operand(rng: &mut Rng, op: &str, name: &'static str, on: &[&'static str]) -> Expr {
    let ranges = !is_comparison(op) && op != "%";
    if !on.is_empty() && rng.chance(0.4) {
        let mut by: Vec<&'static str> = on.to_vec();
        if rng.chance(0.3) {
            let extra = rng.pick(&LABEL_NAMES);
            if !by.contains(&extra) {
                by.push(extra);
            }
        }
        Expr::Agg(Box::new(Agg {
            op: rng.pick(&["sum", "max", "count"]),
            param: Param::None,
            grouping: Grouping::By(by),
            trailing: false,
            arg: Expr::Select(vec![name]),
        }))
    } else if ranges && rng.chance(0.15) {
        over_range(rng, name)
    } else if rng.chance(0.1) {
        Expr::Select(vec!["a", "b"])
    } else {
        Expr::Select(vec![name])
    }
}

pub fn binary(rng: &mut Rng, op: &'static str) -> Case {
    let mut vals = values(rng, false);
    if is_comparison(op) {
        // Few distinct values, so that comparisons hold now and then.
        vals.spread = rng.pick(&[1, 2, 4]);
    }
    // Most series carry most labels, so that the sides match often.
    vals.presence = rng.pick(&[0.9, 0.97]);
    let input = Input::random(rng, &["a", "b"], 5, vals);
    let query = query(rng, false);
    let bool = is_comparison(op) && rng.chance(0.4);
    if !is_set(op) && rng.chance(0.2) {
        let scalar =
            Expr::Number(rng.pick(&[0.0, 1.0, -2.0, 0.5, 3.0, 2.25, f64::NAN, f64::INFINITY]));
        let vector = Expr::Select(names(rng));
        let (lhs, rhs) = if rng.chance(0.5) {
            (vector, scalar)
        } else {
            (scalar, vector)
        };
        return Case {
            expr: Expr::Binary(Box::new(Binary {
                op,
                bool,
                matching: None,
                card: Card::OneToOne,
                lhs,
                rhs,
            })),
            input,
            query,
        };
    }
    let matching = match rng.below(3) {
        0 => None,
        k => Some(Matching {
            on: k == 1,
            labels: rng.subset(&LABEL_NAMES),
        }),
    };
    let on: Vec<&'static str> = match &matching {
        Some(m) if m.on => m.labels.clone(),
        _ => Vec::new(),
    };
    let card = if matching.is_none() || is_set(op) {
        Card::OneToOne
    } else {
        // A label may not be in both `on(...)` and `group_x(...)`.
        let include: Vec<&'static str> = rng
            .subset(&LABEL_NAMES)
            .into_iter()
            .filter(|l| !on.contains(l))
            .collect();
        match rng.below(3) {
            0 => Card::OneToOne,
            1 => Card::Left(include),
            _ => Card::Right(include),
        }
    };
    let (lhs, rhs) = match card {
        Card::Left(_) => (Expr::Select(names(rng)), operand(rng, op, "b", &on)),
        Card::Right(_) => (operand(rng, op, "a", &on), Expr::Select(vec!["b"])),
        Card::OneToOne => (operand(rng, op, "a", &on), operand(rng, op, "b", &on)),
    };
    Case {
        expr: Expr::Binary(Box::new(Binary {
            op,
            bool,
            matching,
            card,
            lhs,
            rhs,
        })),
        input,
        query,
    }
}

pub fn range_function(rng: &mut Rng, func: &'static str) -> Case {
    let counter = if matches!(func, "rate" | "increase" | "irate" | "resets") {
        rng.chance(0.8)
    } else {
        rng.chance(0.5)
    };
    let vals = values(rng, counter);
    let input = Input::random(rng, &["a", "b"], 4, vals);
    let param = (func == "quantile_over_time")
        .then(|| rng.pick(&[0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0, -0.5, 1.5, f64::NAN]));
    let offset = if rng.chance(0.2) {
        rng.pick(&[30_000, 60_000, 300_000])
    } else {
        0
    };
    Case {
        expr: Expr::Range(RangeCall {
            func,
            param,
            names: names(rng),
            range: rng.pick(&[30_000, 60_000, 90_000, 120_000, 300_000, 600_000]),
            offset,
        }),
        input,
        query: query(rng, false),
    }
}

/// A range function over one metric, as aggregations and operators take
/// it in dashboards (`sum by (x) (rate(a[5m]))`, `rate(a[5m]) / rate(b[5m])`).
fn over_range(rng: &mut Rng, name: &'static str) -> Expr {
    Expr::Range(RangeCall {
        func: rng.pick(&[
            "rate",
            "increase",
            "max_over_time",
            "last_over_time",
            "avg_over_time",
        ]),
        param: None,
        names: vec![name],
        range: rng.pick(&[60_000, 120_000, 300_000]),
        offset: 0,
    })
}
