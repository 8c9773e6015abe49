//! PromQL for Watchfire: parsing and evaluation over a [`model::Querier`].
//!
//! Parsing goes through the `promql-parser` crate behind [`parse`] and
//! [`parse_selector`], so its errors can be reshaped and the parser
//! replaced. Evaluation is ours and follows Prometheus 3 (upstream
//! `promql/engine.go`, `functions.go`, `quantile.go`).
//!
//! # Principal types
//!
//! - [`Engine`] with its [`Options`] (lookback, sample limit, timeout):
//!   [`Engine::instant`] and [`Engine::range`] evaluate a parsed
//!   expression into an [`Outcome`].
//! - [`Value`]: what an expression gives at one timestamp (scalar, string,
//!   instant vector of [`Elem`]s, range vector of [`Range`]s); [`Answer`]:
//!   what a query gives.
//! - [`QueryError`]: with the [`ErrorKind`] that becomes the API's
//!   `errorType`.
//! - [`script`]: a runner of Prometheus's `promqltest` scripts.
//!
//! # Data flow
//!
//! [`parse`] gives an `Expr`; the engine first walks it to find the time
//! range every selector needs over all steps. In a range query, plain
//! selectors and range functions over a range selector are then computed
//! series by series for all steps at once, reading the querier one series
//! at a time; the rest of the tree is evaluated at each step, and the
//! steps' vectors are gathered into series.
//!
//! # Example
//!
//! ```
//! use model::{mem::MemStore, Appendable, Labels};
//! use promql::{parse, Answer, Engine};
//!
//! let store = MemStore::new();
//! let mut app = store.appender();
//! let l = Labels::from_pairs([("__name__", "requests_total"), ("job", "api")]);
//! for i in 0..10 {
//!     app.append(&l, i * 15_000, (i * 30) as f64).unwrap();
//! }
//! app.commit().unwrap();
//! let expr = parse("rate(requests_total[1m])").unwrap();
//! let out = Engine::default().instant(&store, &expr, 135_000).unwrap();
//! let Answer::Vector { elems, .. } = out.answer else { panic!() };
//! assert_eq!(elems.len(), 1);
//! assert!((elems[0].v - 2.0).abs() < 1e-9);
//! ```

mod engine;
mod error;
mod functions;
pub mod labels;
pub mod nesting;
pub mod script;
mod selector;
mod value;

pub use engine::{Engine, Options};
pub use error::{ErrorKind, QueryError};
pub use promql_parser::parser::Expr;
pub use selector::parse_selector;
pub use value::{format_float, write_float, Answer, Elem, Outcome, Range, Value};

/// A query that does not parse, or is not what was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

/// Parses a PromQL expression. Errors read `parse error: ...`, as
/// Prometheus's do (which also put the position in front).
///
/// Recent expressions are kept by text: dashboards and rules send the same
/// ones again and again, and parsing compiles every regex matcher afresh.
pub fn parse(q: &str) -> Result<Expr, ParseError> {
    static PARSED: model::memo::Memo<Expr> = model::memo::Memo::new(512);
    const KEPT_DEPTH: usize = 64;
    if let Some(e) = PARSED.get(q) {
        return Ok(e);
    }
    let e = parse_expr(q).map_err(|e| ParseError(format!("parse error: {e}")))?;
    // A deep tree is not kept: the cache drops its entries on whichever
    // thread fills it up.
    if nesting::depth_bound(q) > KEPT_DEPTH {
        return Ok(e);
    }
    PARSED.insert(q, e.clone());
    Ok(e)
}

/// Every text that becomes an `Expr` comes through here: a tree deeper than
/// [`nesting::MAX_DEPTH`] is refused before the parser builds it.
pub(crate) fn parse_expr(q: &str) -> Result<Expr, String> {
    nesting::check(q)?;
    promql_parser::parser::parse(q)
}
