//! Recording rules: evaluate an expression and name its result (upstream
//! `rules/recording.go`).

use std::collections::BTreeMap;

use model::{Labels, METRIC_NAME};

use crate::file::Rule;
use crate::group::RuleQuery;
use crate::status::Status;

#[derive(Debug)]
pub struct RecordingRule {
    pub name: String,
    pub expr_text: String,
    expr: promql::Expr,
    /// The rule's labels, group labels merged in.
    pub labels: BTreeMap<String, String>,
    pub status: Status,
}

impl RecordingRule {
    pub fn new(
        rule: &Rule,
        name: &str,
        group_labels: &BTreeMap<String, String>,
    ) -> Result<Self, String> {
        let (expr, labels) = rule.compile(group_labels)?;
        Ok(RecordingRule {
            name: name.to_string(),
            expr_text: expr.to_string(),
            expr,
            labels,
            status: Status::default(),
        })
    }

    pub fn expr(&self) -> &promql::Expr {
        &self.expr
    }

    /// Evaluates the rule at `ts - offset` and returns the series to write:
    /// the result renamed, with the rule's labels set.
    pub fn eval(
        &self,
        ts: i64,
        offset: i64,
        query: &RuleQuery<'_>,
        limit: u64,
    ) -> Result<Vec<(Labels, f64)>, String> {
        let res = query(&self.expr, ts - offset)?;
        let mut out = Vec::with_capacity(res.len());
        let mut seen = std::collections::HashSet::with_capacity(res.len());
        for (metric, v) in res {
            let mut b = metric.builder();
            b.set(METRIC_NAME, &self.name);
            for (k, val) in &self.labels {
                if val.is_empty() {
                    b.del(k);
                } else {
                    b.set(k, val);
                }
            }
            let l = b.labels();
            if !seen.insert(l.fingerprint()) {
                return Err(
                    "vector contains metrics with the same labelset after applying rule labels"
                        .into(),
                );
            }
            out.push((l, v));
        }
        if limit > 0 && out.len() as u64 > limit {
            return Err(format!(
                "exceeded limit of {limit} with {} series",
                out.len()
            ));
        }
        Ok(out)
    }
}
