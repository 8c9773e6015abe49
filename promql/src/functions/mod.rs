//! PromQL functions on floats (upstream `promql/functions.go`).
//!
//! Most functions drop the metric name from their output;
//! `last_over_time`, `first_over_time`, the `sort` family and
//! `label_replace`/`label_join` keep it, as in Prometheus.

mod histogram;
mod info;
mod label;
pub(crate) mod range;

use model::Labels;
use promql_parser::parser::{Call, Expr};

use crate::engine::columns::Shortcut;
use crate::engine::{ms, Evaluator};
use crate::error::QueryError;
use crate::value::{Elem, Range, Value};
use range::Window;

/// Evaluates a call at step `ts`.
pub(crate) fn call(ev: &mut Evaluator<'_>, c: &Call, ts: i64) -> Result<Value, QueryError> {
    let name = c.func.name;
    let args: Vec<&Expr> = c.args.args.iter().map(|a| a.as_ref()).collect();
    // Whether a range function's value at a step depends only on the
    // window (not on the step's time or on other arguments).
    let pure = !matches!(
        name,
        "predict_linear" | "quantile_over_time" | "double_exponential_smoothing"
    );
    match name {
        "rate" | "increase" | "delta" => {
            if name != "delta" {
                counter_info(ev, args.first().copied());
            }
            let counter = (name != "delta").then_some(Shortcut::Counter {
                rate: name == "rate",
            });
            over_range(ev, &args, 0, ts, true, pure, counter, |p, w| {
                Ok(range::extrapolated_rate(
                    p,
                    w,
                    name != "delta",
                    name == "rate",
                ))
            })
        }
        "irate" | "idelta" => over_range(ev, &args, 0, ts, true, pure, None, |p, _| {
            Ok(range::instant_value(p, name == "irate"))
        }),
        "deriv" => over_range(ev, &args, 0, ts, true, pure, None, |p, _| {
            Ok((p.len() >= 2).then(|| range::linear_regression(p, p[0].0).0))
        }),
        "predict_linear" => {
            let d = scalar_arg(ev, args.get(1), ts)?;
            over_range(ev, &args, 0, ts, true, pure, None, |p, _| {
                Ok((p.len() >= 2).then(|| {
                    let (slope, intercept) = range::linear_regression(p, ts);
                    slope * d + intercept
                }))
            })
        }
        "changes" => over_range(ev, &args, 0, ts, true, pure, None, |p, _| {
            Ok(Some(range::changes(p)))
        }),
        "resets" => over_range(ev, &args, 0, ts, true, pure, None, |p, _| {
            Ok(Some(range::resets(p)))
        }),
        "avg_over_time" => over_range(ev, &args, 0, ts, true, pure, Some(Shortcut::Avg), |p, _| {
            Ok(Some(range::avg(p)))
        }),
        "sum_over_time" => over_range(ev, &args, 0, ts, true, pure, Some(Shortcut::Sum), |p, _| {
            Ok(Some(range::sum(p)))
        }),
        "count_over_time" => over_range(ev, &args, 0, ts, true, pure, None, |p, _| {
            Ok(Some(p.len() as f64))
        }),
        "min_over_time" => over_range(ev, &args, 0, ts, true, pure, None, |p, _| {
            Ok(Some(range::min(p)))
        }),
        "max_over_time" => over_range(ev, &args, 0, ts, true, pure, None, |p, _| {
            Ok(Some(range::max(p)))
        }),
        "stddev_over_time" => over_range(ev, &args, 0, ts, true, pure, None, |p, _| {
            Ok(Some(range::variance(p).sqrt()))
        }),
        "stdvar_over_time" => over_range(ev, &args, 0, ts, true, pure, None, |p, _| {
            Ok(Some(range::variance(p)))
        }),
        "mad_over_time" => over_range(ev, &args, 0, ts, true, pure, None, |p, _| {
            Ok(Some(range::mad(p)))
        }),
        "present_over_time" => over_range(ev, &args, 0, ts, true, pure, None, |_, _| Ok(Some(1.0))),
        "last_over_time" => over_range(ev, &args, 0, ts, false, pure, None, |p, _| {
            Ok(p.last().map(|x| x.1))
        }),
        "first_over_time" => over_range(ev, &args, 0, ts, false, pure, None, |p, _| {
            Ok(p.first().map(|x| x.1))
        }),
        "ts_of_last_over_time" => over_range(ev, &args, 0, ts, true, pure, None, |p, _| {
            Ok(p.last().map(|x| x.0 as f64 / 1000.0))
        }),
        "ts_of_first_over_time" => over_range(ev, &args, 0, ts, true, pure, None, |p, _| {
            Ok(p.first().map(|x| x.0 as f64 / 1000.0))
        }),
        "ts_of_max_over_time" => over_range(ev, &args, 0, ts, true, pure, None, |p, _| {
            Ok(Some(range::ts_of(p, |a, b| a >= b)))
        }),
        "ts_of_min_over_time" => over_range(ev, &args, 0, ts, true, pure, None, |p, _| {
            Ok(Some(range::ts_of(p, |a, b| a <= b)))
        }),
        "quantile_over_time" => {
            let q = scalar_arg(ev, args.first(), ts)?;
            ev.check_quantile(q);
            over_range(ev, &args, 1, ts, true, pure, None, |p, _| {
                Ok(Some(range::quantile_over(q, p)))
            })
        }
        "double_exponential_smoothing" => {
            let sf = scalar_arg(ev, args.get(1), ts)?;
            let tf = scalar_arg(ev, args.get(2), ts)?;
            over_range(ev, &args, 0, ts, true, pure, None, |p, _| {
                range::double_exponential(p, sf, tf)
            })
        }
        "absent_over_time" => {
            let (m, _) = matrix_arg(ev, args.first(), ts)?;
            Ok(Value::Vector(if m.is_empty() {
                vec![Elem {
                    labels: absent_labels(args.first().copied()),
                    v: 1.0,
                }]
            } else {
                Vec::new()
            }))
        }
        "absent" => {
            let v = vector_arg(ev, args.first(), ts)?;
            Ok(Value::Vector(if v.is_empty() {
                vec![Elem {
                    labels: absent_labels(args.first().copied()),
                    v: 1.0,
                }]
            } else {
                Vec::new()
            }))
        }
        "time" => Ok(Value::Scalar(ts as f64 / 1000.0)),
        "step" => Ok(Value::Scalar(ev.step as f64 / 1000.0)),
        "range" => Ok(Value::Scalar((ev.end - ev.start) as f64 / 1000.0)),
        "start" => Ok(Value::Scalar(ev.start as f64 / 1000.0)),
        "end" => Ok(Value::Scalar(ev.end as f64 / 1000.0)),
        "min_of" | "max_of" => {
            let mut out: Option<f64> = None;
            for i in 0..args.len() {
                let v = scalar_arg(ev, args.get(i), ts)?;
                out = Some(match out {
                    None => v,
                    Some(o) if o.is_nan() || v.is_nan() => f64::NAN,
                    Some(o) if name == "min_of" => o.min(v),
                    Some(o) => o.max(v),
                });
            }
            Ok(Value::Scalar(out.unwrap_or(f64::NAN)))
        }
        "pi" => Ok(Value::Scalar(std::f64::consts::PI)),
        "vector" => {
            let v = scalar_arg(ev, args.first(), ts)?;
            Ok(Value::Vector(vec![Elem {
                labels: Labels::empty(),
                v,
            }]))
        }
        "scalar" => {
            let v = vector_arg(ev, args.first(), ts)?;
            Ok(Value::Scalar(if v.len() == 1 { v[0].v } else { f64::NAN }))
        }
        "timestamp" => timestamp(ev, args.first().copied(), ts),
        "info" => info::eval(ev, &args, ts),
        "label_replace" => label::replace(ev, &args, ts),
        "label_join" => label::join(ev, &args, ts),
        "sort" | "sort_desc" => {
            sort_warning(ev);
            let mut v = vector_arg(ev, args.first(), ts)?;
            let desc = name == "sort_desc";
            v.sort_by(|a, b| {
                // NaN sorts last either way.
                match (a.v.is_nan(), b.v.is_nan()) {
                    (true, true) => std::cmp::Ordering::Equal,
                    (true, false) => std::cmp::Ordering::Greater,
                    (false, true) => std::cmp::Ordering::Less,
                    _ if desc => b.v.partial_cmp(&a.v).unwrap_or(std::cmp::Ordering::Equal),
                    _ => a.v.partial_cmp(&b.v).unwrap_or(std::cmp::Ordering::Equal),
                }
            });
            Ok(Value::Vector(v))
        }
        "sort_by_label" | "sort_by_label_desc" => {
            sort_warning(ev);
            label::sort_by(ev, &args, ts, name.ends_with("_desc"))
        }
        "histogram_quantile" => histogram::quantile(ev, &args, ts),
        "histogram_fraction" => histogram::fraction(ev, &args, ts),
        "histogram_quantiles" => histogram::quantiles(ev, &args, ts),
        "histogram_count" | "histogram_sum" | "histogram_avg" | "histogram_stddev"
        | "histogram_stdvar" => {
            // Native histograms only: floats give nothing.
            vector_arg(ev, args.first(), ts)?;
            Ok(Value::Vector(Vec::new()))
        }
        "clamp" => {
            let v = vector_arg(ev, args.first(), ts)?;
            let lo = scalar_arg(ev, args.get(1), ts)?;
            let hi = scalar_arg(ev, args.get(2), ts)?;
            if lo > hi {
                return Ok(Value::Vector(Vec::new()));
            }
            Ok(map(ev, v, |x| go_max(lo, go_min(hi, x))))
        }
        "clamp_min" => {
            let v = vector_arg(ev, args.first(), ts)?;
            let lo = scalar_arg(ev, args.get(1), ts)?;
            Ok(map(ev, v, |x| go_max(lo, x)))
        }
        "clamp_max" => {
            let v = vector_arg(ev, args.first(), ts)?;
            let hi = scalar_arg(ev, args.get(1), ts)?;
            Ok(map(ev, v, |x| go_min(hi, x)))
        }
        "round" => {
            let v = vector_arg(ev, args.first(), ts)?;
            let to = match args.get(1) {
                Some(_) => scalar_arg(ev, args.get(1), ts)?,
                None => 1.0,
            };
            // Upstream: floor(v / to + 0.5) * to, with the inverse taken
            // first so that `to` like 0.1 rounds cleanly.
            let inv = 1.0 / to;
            Ok(map(ev, v, |x| (x * inv + 0.5).floor() / inv))
        }
        "minute" | "hour" | "day_of_week" | "day_of_month" | "day_of_year" | "days_in_month"
        | "month" | "year" => {
            let v = match args.first() {
                Some(_) => vector_arg(ev, args.first(), ts)?,
                None => vec![Elem {
                    labels: Labels::empty(),
                    v: ts as f64 / 1000.0,
                }],
            };
            Ok(map(ev, v, |x| date_part(name, x)))
        }
        _ => match simple(name) {
            Some(f) => {
                let v = vector_arg(ev, args.first(), ts)?;
                Ok(map(ev, v, f))
            }
            None => Err(QueryError::bad_data(format!(
                "function {name:?} is not supported"
            ))),
        },
    }
}

/// Go's `math.Max`: NaN wins.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Go's `math.Min`: NaN wins.
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

/// Functions of one float.
fn simple(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sqrt" => f64::sqrt,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "deg" => |x| x * 180.0 / std::f64::consts::PI,
        "rad" => |x| x * std::f64::consts::PI / 180.0,
        "sgn" => |x: f64| {
            if x < 0.0 {
                -1.0
            } else if x > 0.0 {
                1.0
            } else {
                x
            }
        },
        _ => return None,
    })
}

/// Applies `f` to every element, dropping the metric name.
fn map(ev: &mut Evaluator<'_>, v: Vec<Elem>, f: impl Fn(f64) -> f64) -> Value {
    Value::Vector(
        v.into_iter()
            .map(|e| Elem {
                labels: ev.drop_name(&e.labels),
                v: f(e.v),
            })
            .collect(),
    )
}

fn date_part(name: &str, secs: f64) -> f64 {
    if secs.is_nan() || secs.is_infinite() {
        return f64::NAN;
    }
    let secs = secs as i64;
    let days = secs.div_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    match name {
        "minute" => (secs.rem_euclid(3600) / 60) as f64,
        "hour" => (secs.rem_euclid(86_400) / 3600) as f64,
        "day_of_week" => (days + 4).rem_euclid(7) as f64,
        "day_of_month" => d as f64,
        "day_of_year" => {
            const CUM: [i64; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
            (CUM[(m - 1) as usize] + d + i64::from(leap && m > 2)) as f64
        }
        "days_in_month" => match m {
            2 if leap => 29.0,
            2 => 28.0,
            4 | 6 | 9 | 11 => 30.0,
            _ => 31.0,
        },
        "month" => m as f64,
        "year" => y as f64,
        _ => f64::NAN,
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `timestamp(v)`: the time of each element's sample, in seconds.
fn timestamp(ev: &mut Evaluator<'_>, arg: Option<&Expr>, ts: i64) -> Result<Value, QueryError> {
    let Some(arg) = arg else {
        return Err(QueryError::bad_data("timestamp needs an argument"));
    };
    // A bare selector (possibly in parentheses) gives its samples' own
    // times; any other expression the evaluation time.
    let mut inner = arg;
    while let Expr::Paren(p) = inner {
        inner = &p.expr;
    }
    if let Expr::VectorSelector(vs) = inner {
        let elems = ev.select_instant_with_time(vs, ts)?;
        return Ok(Value::Vector(
            elems
                .into_iter()
                .map(|(e, t)| Elem {
                    labels: ev.drop_name(&e.labels),
                    v: t as f64 / 1000.0,
                })
                .collect(),
        ));
    }
    let v = vector_arg(ev, Some(&arg), ts)?;
    Ok(map(ev, v, |_| ts as f64 / 1000.0))
}

/// Sorting means nothing in a range query: Prometheus warns.
fn sort_warning(ev: &mut Evaluator<'_>) {
    if ev.step != 0 {
        let msg = "PromQL warning: sort is ineffective for range queries since results always have ordered timestamps".to_string();
        if !ev.warnings.contains(&msg) {
            ev.warnings.push(msg);
        }
    }
}

/// `rate` and `increase` of a metric whose name does not look like a
/// counter's get Prometheus's info annotation.
fn counter_info(ev: &mut Evaluator<'_>, arg: Option<&Expr>) {
    let mut e = arg;
    while let Some(Expr::Paren(p)) = e {
        e = Some(&p.expr);
    }
    let Some(Expr::MatrixSelector(m)) = e else {
        return;
    };
    if ev.memo.annotated.insert(&m.vs as *const _ as usize) {
        ev.check_counters(&m.vs);
    }
}

/// The labels `absent` reports: the selector's equality matchers.
fn absent_labels(arg: Option<&Expr>) -> Labels {
    let mut e = arg;
    while let Some(Expr::Paren(p)) = e {
        e = Some(&p.expr);
    }
    let vs = match e {
        Some(Expr::VectorSelector(vs)) => vs,
        Some(Expr::MatrixSelector(m)) => &m.vs,
        _ => return Labels::empty(),
    };
    // Upstream `createLabelsForAbsentFunction`: an equality matcher sets
    // its label the first time; any other matcher on the name removes it.
    let mut b = model::LabelsBuilder::new();
    let mut has: Vec<&str> = Vec::new();
    for m in &vs.matchers.matchers {
        if m.name == model::METRIC_NAME {
            continue;
        }
        if matches!(m.op, promql_parser::label::MatchOp::Equal) && !has.contains(&m.name.as_str()) {
            b.set(&m.name, &m.value);
            has.push(&m.name);
        } else {
            b.del(&m.name);
        }
    }
    b.labels()
}

/// Evaluates argument `e` and takes the value `pick` accepts; `what`
/// names the expected type in the error.
fn arg<T>(
    ev: &mut Evaluator<'_>,
    e: Option<&&Expr>,
    ts: i64,
    what: &str,
    pick: impl FnOnce(Value) -> Result<T, Value>,
) -> Result<T, QueryError> {
    let e = e.ok_or_else(|| QueryError::bad_data("missing argument"))?;
    pick(ev.eval(e, ts)?).map_err(|other| {
        QueryError::execution(format!(
            "expected {what} argument, got {}",
            other.type_name()
        ))
    })
}

/// Defines one argument reader per value type: `name(ev, e, ts)`
/// evaluates argument `e`, which must be a `Value::Variant`.
macro_rules! typed_args {
    ($($name:ident: $variant:ident($t:ty), $what:literal;)*) => {$(
        pub(crate) fn $name(
            ev: &mut Evaluator<'_>,
            e: Option<&&Expr>,
            ts: i64,
        ) -> Result<$t, QueryError> {
            arg(ev, e, ts, $what, |v| match v {
                Value::$variant(x) => Ok(x),
                other => Err(other),
            })
        }
    )*};
}

typed_args! {
    vector_arg: Vector(Vec<Elem>), "an instant vector";
    scalar_arg: Scalar(f64), "a scalar";
    string_arg: String(String), "a string";
}

/// A range argument and the window it covered at this step.
fn matrix_arg(
    ev: &mut Evaluator<'_>,
    e: Option<&&Expr>,
    ts: i64,
) -> Result<(Vec<Range>, Window), QueryError> {
    let e = e.ok_or_else(|| QueryError::bad_data("missing argument"))?;
    let mut inner: &Expr = e;
    while let Expr::Paren(p) = inner {
        inner = &p.expr;
    }
    let w = match inner {
        Expr::MatrixSelector(m) => Window {
            end: ev.shift(ts, &m.vs.offset, &m.vs.at),
            range: ms(&m.range),
        },
        Expr::Subquery(s) => Window {
            end: ev.shift(ts, &s.offset, &s.at),
            range: ms(&s.range),
        },
        _ => Window { end: ts, range: 0 },
    };
    match ev.eval(inner, ts)? {
        Value::Matrix(m) => Ok((m, w)),
        other => Err(QueryError::execution(format!(
            "expected a range vector argument, got {}",
            other.type_name()
        ))),
    }
}

/// Applies `f` to each series of the range argument at `index`; `drop`
/// removes the metric name; `pure` says `f` depends on nothing but the
/// window, so that a range query can compute all its steps at once;
/// `shortcut` names what `f` computes where all steps at once have a
/// faster way to the same answer (`range_columns`).
#[allow(clippy::too_many_arguments)]
fn over_range(
    ev: &mut Evaluator<'_>,
    args: &[&Expr],
    index: usize,
    ts: i64,
    drop: bool,
    pure: bool,
    shortcut: Option<Shortcut>,
    f: impl Fn(&[(i64, f64)], Window) -> Result<Option<f64>, QueryError> + Sync,
) -> Result<Value, QueryError> {
    // A plain range selector: windows are borrowed from the loaded data
    // instead of copied at every step.
    let mut inner = args.get(index).copied();
    while let Some(Expr::Paren(p)) = inner {
        inner = Some(&p.expr);
    }
    if let Some(e @ Expr::MatrixSelector(m)) = inner {
        let range = ms(&m.range);
        if let (true, Some(k)) = (pure, ev.main_step(ts)) {
            let key = e as *const Expr as usize;
            if let Some(v) = ev.column_at(key, k, |ev| {
                ev.range_columns(&m.vs, range, drop, shortcut, &f)
            })? {
                return Ok(Value::Vector(v));
            }
        }
        let w = Window {
            end: ev.shift(ts, &m.vs.offset, &m.vs.at),
            range,
        };
        let mut found = Vec::new();
        let mut err = None;
        ev.with_windows(&m.vs, w.range, ts, |labels, points| match f(points, w) {
            Ok(Some(v)) => found.push((labels.clone(), v)),
            Ok(None) => {}
            Err(e) => err = Some(e),
        })?;
        if let Some(e) = err {
            return Err(e);
        }
        let out = found
            .into_iter()
            .map(|(l, v)| Elem {
                labels: if drop { ev.drop_name(&l) } else { l },
                v,
            })
            .collect();
        return Ok(Value::Vector(out));
    }
    let (m, w) = matrix_arg(ev, args.get(index), ts)?;
    let mut out = Vec::with_capacity(m.len());
    for r in m {
        if r.points.is_empty() {
            continue;
        }
        if let Some(v) = f(&r.points, w)? {
            out.push(Elem {
                labels: if drop {
                    ev.drop_name(&r.labels)
                } else {
                    r.labels
                },
                v,
            });
        }
    }
    Ok(Value::Vector(out))
}
