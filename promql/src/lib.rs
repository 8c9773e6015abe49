//! PromQL for Watchfire.
//!
//! Parsing goes through the `promql-parser` crate behind this crate's own
//! functions, so its errors can be reshaped and the parser replaced. Today
//! the crate parses series selectors, as the `match[]` parameters of the
//! series and label APIs need them; the evaluation engine builds on it.
//!
//! ```
//! let sets = promql::parse_selector(r#"up{job=~"api|web"} or up{env="prod"}"#).err();
//! assert!(sets.is_some()); // `or` of two selectors is an expression, not a selector
//! let sets = promql::parse_selector(r#"{__name__="up", job=~"api|web" or env="prod"}"#).unwrap();
//! assert_eq!(sets.len(), 2);
//! ```

use model::{MatchOp, Matcher};

/// A query that does not parse, or is not what was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

/// Parses a series selector (`up{job="api"}`, `{__name__=~"a.*"}`) into
/// sets of matchers: one set, or one per `or` alternative inside the
/// braces. A selector that could match every series (only matchers that
/// accept the empty string) is refused, as Prometheus refuses it.
pub fn parse_selector(s: &str) -> Result<Vec<Vec<Matcher>>, ParseError> {
    use promql_parser::parser::Expr;
    let expr = promql_parser::parser::parse(s)
        .map_err(|e| ParseError(format!("invalid parameter \"match[]\": {e}")))?;
    let Expr::VectorSelector(vs) = expr else {
        return Err(ParseError(format!(
            "invalid parameter \"match[]\": {s:?} is not a series selector"
        )));
    };
    let mut groups: Vec<Vec<&promql_parser::label::Matcher>> = Vec::new();
    if vs.matchers.or_matchers.is_empty() {
        groups.push(vs.matchers.matchers.iter().collect());
    } else {
        for g in &vs.matchers.or_matchers {
            groups.push(g.iter().chain(&vs.matchers.matchers).collect());
        }
    }
    let mut out = Vec::new();
    for g in groups {
        let mut set = Vec::new();
        if let Some(name) = &vs.name {
            if !g.iter().any(|m| m.name == model::METRIC_NAME) {
                set.push(Matcher::equal(model::METRIC_NAME, name.as_str()));
            }
        }
        for m in g {
            set.push(convert(m)?);
        }
        if set.iter().all(|m| m.matches_empty()) {
            return Err(ParseError(
                "match[] must contain at least one non-empty matcher".into(),
            ));
        }
        out.push(set);
    }
    Ok(out)
}

fn convert(m: &promql_parser::label::Matcher) -> Result<Matcher, ParseError> {
    use promql_parser::label::MatchOp as P;
    let op = match m.op {
        P::Equal => MatchOp::Equal,
        P::NotEqual => MatchOp::NotEqual,
        P::Re(_) => MatchOp::RegexMatch,
        P::NotRe(_) => MatchOp::RegexNoMatch,
    };
    Matcher::new(op, m.name.as_str(), m.value.as_str()).map_err(|e| ParseError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors() {
        // (input, number of matcher sets, or None for an error)
        let cases = [
            ("up", Some(1)),
            (r#"up{job="a"}"#, Some(1)),
            (r#"{job=~".+"}"#, Some(1)),
            (r#"{job=""}"#, None),
            (r#"{job=~".*"}"#, None),
            ("rate(up[5m])", None),
            ("up{", None),
            (r#"{a="1" or b="2"}"#, Some(2)),
        ];
        for (input, want) in cases {
            let got = parse_selector(input).map(|s| s.len()).ok();
            assert_eq!(got, want, "input {input:?}");
        }
        let sets = parse_selector(r#"up{job="a"}"#).unwrap();
        assert_eq!(
            sets[0].iter().map(|m| m.to_string()).collect::<Vec<_>>(),
            [r#"__name__="up""#, r#"job="a""#]
        );
    }
}
