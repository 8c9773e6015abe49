//! How deep a query's syntax tree can be, read from its text before it is
//! parsed.
//!
//! The parser, the evaluator and every printer of a syntax tree walk it
//! recursively, and so do `Clone` and `Drop` of `promql-parser`'s `Expr`. A
//! tree deep enough (ten thousand `1+1+…` terms, or as many nested
//! parentheses) would run a thread off its stack and abort the whole
//! process. Go's growing stacks spare Prometheus this; here a query whose
//! tree could be deeper than [`MAX_DEPTH`] is refused before it is parsed,
//! with a `bad_data` error, and our own recursive walks (evaluation, the
//! API's tree) grow their stack on the heap through [`grow`].
//!
//! The bound is counted from tokens, not from the tree: every node with a
//! child stands for an operator (binary or unary), a `[` (range or
//! subquery) or a pair of parentheses (grouping, a call, an aggregation),
//! and the nodes on one path from the root can use each operator and `[`
//! at most once and only as many parentheses as are open at once. So
//! `operators + brackets + deepest parentheses` is never less than the
//! depth. Text inside strings, label matchers and comments counts nothing.

/// The deepest syntax tree a query may have; deeper ones are refused.
/// Real queries stay far below it (a dashboard's longest `or` chains hold
/// a few hundred terms), and at this depth every recursive walk of the
/// tree fits in the 2 MiB stack of a Tokio worker.
pub const MAX_DEPTH: usize = 2_000;

/// Runs `f` with room on the stack for one more level of a recursive
/// walk of a syntax tree: when less than 256 KiB is left, `f` runs on a
/// fresh 4 MiB segment on the heap. Every recursive walk of ours calls it,
/// so its depth is bounded by memory, not by the thread's stack.
pub fn grow<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(256 << 10, 4 << 20, f)
}

/// An upper bound of the depth of `q`'s syntax tree.
pub fn depth_bound(q: &str) -> usize {
    let b = q.as_bytes();
    let mut i = 0;
    let (mut nodes, mut open, mut deepest) = (0usize, 0usize, 0usize);
    let mut in_braces = false;
    while i < b.len() {
        let c = b[i];
        match c {
            b'"' | b'\'' | b'`' => {
                i = string_end(b, i);
                continue;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'{' => in_braces = true,
            b'}' => in_braces = false,
            _ if in_braces => {}
            b'(' => {
                open += 1;
                deepest = deepest.max(open);
            }
            b')' => open = open.saturating_sub(1),
            b'[' => nodes += 1,
            // `==`, `!=`, `<=`, `>=` count twice: still a bound.
            b'+' | b'-' | b'*' | b'/' | b'%' | b'^' | b'=' | b'!' | b'<' | b'>' => nodes += 1,
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':')
                {
                    i += 1;
                }
                let word = &q[start..i];
                if ["and", "or", "unless", "atan2"]
                    .iter()
                    .any(|k| word.eq_ignore_ascii_case(k))
                {
                    nodes += 1;
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    nodes + deepest
}

/// The index after the string literal that starts at `start`; the end of
/// the text when it is not closed (the parser will say so).
fn string_end(b: &[u8], start: usize) -> usize {
    let quote = b[start];
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' if quote != b'`' => i += 2,
            c if c == quote => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

/// Refuses `q` when its tree could be deeper than [`MAX_DEPTH`].
pub(crate) fn check(q: &str) -> Result<(), String> {
    let depth = depth_bound(q);
    if depth > MAX_DEPTH {
        return Err(format!(
            "query is too deeply nested: up to {depth} levels of operators, brackets and parentheses, the limit is {MAX_DEPTH}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The depth of a parsed tree in edges, walked without recursion.
    fn depth(e: &promql_parser::parser::Expr) -> usize {
        use promql_parser::parser::Expr;
        let mut deepest = 0;
        let mut todo = vec![(e, 0)];
        while let Some((e, d)) = todo.pop() {
            deepest = deepest.max(d);
            match e {
                Expr::Aggregate(a) => {
                    todo.push((&a.expr, d + 1));
                    if let Some(p) = &a.param {
                        todo.push((p, d + 1));
                    }
                }
                Expr::Unary(u) => todo.push((&u.expr, d + 1)),
                Expr::Binary(b) => {
                    todo.push((&b.lhs, d + 1));
                    todo.push((&b.rhs, d + 1));
                }
                Expr::Paren(p) => todo.push((&p.expr, d + 1)),
                Expr::Subquery(s) => todo.push((&s.expr, d + 1)),
                Expr::Call(c) => todo.extend(c.args.args.iter().map(|a| (&**a, d + 1))),
                Expr::MatrixSelector(_) => deepest = deepest.max(d + 1),
                _ => {}
            }
        }
        deepest
    }

    #[test]
    fn bound_is_never_below_the_depth() {
        let cases = [
            "1",
            "up",
            "-up",
            "- - -up",
            "1 + 2 * 3 - 4 / 5 % 6 ^ 7",
            "a and b or c unless d",
            "a == bool b != c >= d <= e > f < g",
            "sum by (job) (rate(http_requests_total{code=~\"5..\"}[5m]))",
            "((up))",
            "max_over_time((rate(x[1m]))[5m:1m])",
            "max_over_time(max_over_time(x[1m:])[5m:])[10m:]",
            "clamp(a, 0, 1)",
            "a atan2 b",
            "topk(3, sum without (instance) (x))",
            "histogram_quantile(0.9, sum by (le) (rate(b[5m]))) > on (job) group_left c",
            "label_replace(up, \"a\", \"$1\", \"b\", \"(.*)\")",
            "x offset -5m",
            "x @ start()",
            "AND_x or OR_y",
        ];
        for q in cases {
            let e = promql_parser::parser::parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
            let (got, want) = (depth_bound(q), depth(&e));
            assert!(got >= want, "{q}: bound {got}, depth {want}");
        }
    }

    #[test]
    fn text_that_is_not_syntax_counts_nothing() {
        for (q, want) in [
            (r#"up{job="a+b-(c)", path=~"/x[0-9]+"}"#, 0),
            (r#"label_replace(up, "a", "((((", "b", "\"+)")"#, 1),
            ("up # ((((+++\n", 0),
            ("`(((`", 0),
        ] {
            assert_eq!(depth_bound(q), want, "{q}");
        }
    }

    #[test]
    fn deep_queries_are_refused_before_parsing() {
        let chain = format!("1{}", "+1".repeat(MAX_DEPTH + 1));
        let parens = format!(
            "{}1{}",
            "(".repeat(MAX_DEPTH + 1),
            ")".repeat(MAX_DEPTH + 1)
        );
        for q in [chain, parens] {
            let e = check(&q).unwrap_err();
            assert!(e.contains("too deeply nested"), "{e}");
        }
        assert!(check(&format!("1{}", "+1".repeat(MAX_DEPTH))).is_ok());
    }
}
