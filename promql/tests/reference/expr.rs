//! The expressions the generator builds, printed as PromQL for the
//! engine and evaluated by the reference.

use std::fmt::{self, Display};

#[derive(Clone, Debug)]
pub enum Expr {
    /// `a`, or `{__name__=~"a|b"}` for several names.
    Select(Vec<&'static str>),
    Number(f64),
    Agg(Box<Agg>),
    Binary(Box<Binary>),
    Range(RangeCall),
}

#[derive(Clone, Debug)]
pub enum Grouping {
    None,
    By(Vec<&'static str>),
    Without(Vec<&'static str>),
}

#[derive(Clone, Debug)]
pub enum Param {
    None,
    Number(f64),
    Label(&'static str),
}

#[derive(Clone, Debug)]
pub struct Agg {
    pub op: &'static str,
    pub param: Param,
    pub grouping: Grouping,
    /// Whether the grouping is printed after the argument.
    pub trailing: bool,
    pub arg: Expr,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Card {
    OneToOne,
    /// `group_left(include...)`: the left side is the "many" side.
    Left(Vec<&'static str>),
    Right(Vec<&'static str>),
}

#[derive(Clone, Debug)]
pub struct Matching {
    pub on: bool,
    pub labels: Vec<&'static str>,
}

#[derive(Clone, Debug)]
pub struct Binary {
    pub op: &'static str,
    pub bool: bool,
    /// `None` when no `on`/`ignoring` is written.
    pub matching: Option<Matching>,
    pub card: Card,
    pub lhs: Expr,
    pub rhs: Expr,
}

#[derive(Clone, Debug)]
pub struct RangeCall {
    pub func: &'static str,
    /// The φ of `quantile_over_time`.
    pub param: Option<f64>,
    pub names: Vec<&'static str>,
    pub range: i64,
    pub offset: i64,
}

pub const SET_OPS: [&str; 3] = ["and", "or", "unless"];
pub const COMPARISONS: [&str; 6] = ["==", "!=", ">", "<", ">=", "<="];

pub fn is_comparison(op: &str) -> bool {
    COMPARISONS.contains(&op)
}

pub fn is_set(op: &str) -> bool {
    SET_OPS.contains(&op)
}

fn number(v: f64) -> String {
    // `Inf` is the literal; `+Inf` would read as a unary plus.
    promql::format_float(v).trim_start_matches('+').to_string()
}

fn list(l: &[&str]) -> String {
    l.join(", ")
}

fn selector(names: &[&str]) -> String {
    if names.len() == 1 {
        names[0].to_string()
    } else {
        format!("{{__name__=~\"{}\"}}", names.join("|"))
    }
}

fn duration(ms: i64) -> String {
    if ms % 60_000 == 0 {
        format!("{}m", ms / 60_000)
    } else {
        format!("{}s", ms / 1000)
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Select(names) => f.write_str(&selector(names)),
            Expr::Number(v) => f.write_str(&number(*v)),
            Expr::Agg(a) => {
                let grouping = match &a.grouping {
                    Grouping::None => String::new(),
                    Grouping::By(l) => format!(" by ({})", list(l)),
                    Grouping::Without(l) => format!(" without ({})", list(l)),
                };
                let param = match a.param {
                    Param::None => String::new(),
                    Param::Number(v) => format!("{}, ", number(v)),
                    Param::Label(l) => format!("\"{l}\", "),
                };
                if a.trailing {
                    write!(f, "{}({}{}){}", a.op, param, a.arg, grouping)
                } else {
                    write!(f, "{}{} ({}{})", a.op, grouping, param, a.arg)
                }
            }
            Expr::Binary(b) => {
                write!(f, "({}) {}", b.lhs, b.op)?;
                if b.bool {
                    f.write_str(" bool")?;
                }
                if let Some(m) = &b.matching {
                    let word = if m.on { "on" } else { "ignoring" };
                    write!(f, " {word}({})", list(&m.labels))?;
                }
                match &b.card {
                    Card::OneToOne => {}
                    Card::Left(l) => write!(f, " group_left({})", list(l))?,
                    Card::Right(l) => write!(f, " group_right({})", list(l))?,
                }
                write!(f, " ({})", b.rhs)
            }
            Expr::Range(r) => {
                let mut sel = format!("{}[{}]", selector(&r.names), duration(r.range));
                if r.offset != 0 {
                    sel = format!("{sel} offset {}", duration(r.offset));
                }
                match r.param {
                    Some(p) => write!(f, "{}({}, {})", r.func, number(p), sel),
                    None => write!(f, "{}({})", r.func, sel),
                }
            }
        }
    }
}
