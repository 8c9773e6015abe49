//! Series selectors: the `match[]` parameter of the metadata APIs and the
//! selectors inside queries, as sets of [`Matcher`]s.

use model::{MatchOp, Matcher};

use crate::ParseError;

/// Parses a series selector (`up{job="api"}`, `{__name__=~"a.*"}`) into
/// sets of matchers: one set, or one per `or` alternative inside the
/// braces. A selector that could match every series (only matchers that
/// accept the empty string) is refused, as Prometheus refuses it.
pub fn parse_selector(s: &str) -> Result<Vec<Vec<Matcher>>, ParseError> {
    use promql_parser::parser::Expr;
    let expr = crate::parse_expr(s)
        .map_err(|e| ParseError(format!("invalid parameter \"match[]\": {e}")))?;
    let Expr::VectorSelector(vs) = expr else {
        return Err(ParseError(format!(
            "invalid parameter \"match[]\": {s:?} is not a series selector"
        )));
    };
    let sets = matcher_sets(&vs).map_err(ParseError)?;
    if sets.iter().any(|set| set.iter().all(|m| m.matches_empty())) {
        return Err(ParseError(
            "match[] must contain at least one non-empty matcher".into(),
        ));
    }
    Ok(sets)
}

/// The matcher sets of a selector inside a query: the name and the
/// matchers, one set per `or` alternative.
pub(crate) fn matcher_sets(
    vs: &promql_parser::parser::VectorSelector,
) -> Result<Vec<Vec<Matcher>>, String> {
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
            set.push(convert(m).map_err(|e| e.0)?);
        }
        out.push(set);
    }
    Ok(out)
}

/// A parser matcher as ours.
pub(crate) fn convert(m: &promql_parser::label::Matcher) -> Result<Matcher, ParseError> {
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
