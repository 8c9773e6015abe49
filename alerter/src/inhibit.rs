//! Inhibition (upstream `inhibit/inhibit.go`): while a firing source alert
//! matches a rule's source matchers, alerts matching its target matchers
//! and agreeing on its `equal` labels are muted.

use std::collections::BTreeMap;

use crate::config::Loaded;
use crate::dispatch::Alert;
use crate::matcher::Matcher;
use crate::mute::{At, Muter};
use crate::Error;

/// A compiled `inhibit_rules` entry.
#[derive(Debug, Clone)]
pub struct Rule {
    source: Vec<Matcher>,
    target: Vec<Matcher>,
    equal: Vec<String>,
}

/// Compiles `inhibit_rules`.
pub fn rules(cfg: &Loaded) -> Result<Vec<Rule>, Error> {
    let mut out = Vec::new();
    for (i, r) in cfg.raw.inhibit_rules.iter().enumerate() {
        let at = |part: &str| format!("inhibit_rules[{i}].{part}");
        let regex =
            |m, part: &str| crate::config::regex_map(m).map_err(|e| Error::invalid(at(part), e));
        let mut source = crate::matcher::from_maps(
            &r.source_match,
            &regex(&r.source_match_re, "source_match_re")?,
        )
        .map_err(|e| Error::invalid(at("source_match"), e))?;
        for m in &r.source_matchers {
            source.extend(
                crate::matcher::parse(m).map_err(|e| Error::invalid(at("source_matchers"), e))?,
            );
        }
        let mut target = crate::matcher::from_maps(
            &r.target_match,
            &regex(&r.target_match_re, "target_match_re")?,
        )
        .map_err(|e| Error::invalid(at("target_match"), e))?;
        for m in &r.target_matchers {
            target.extend(
                crate::matcher::parse(m).map_err(|e| Error::invalid(at("target_matchers"), e))?,
            );
        }
        out.push(Rule {
            source,
            target,
            equal: r.equal.clone(),
        });
    }
    Ok(out)
}

/// The rules with each rule's firing source alerts at one time (upstream
/// keeps them as the rule's source cache): found once, then asked for
/// every target.
pub struct Inhibitor<'a> {
    rules: &'a [Rule],
    sources: Vec<Vec<&'a Alert>>,
}

impl<'a> Inhibitor<'a> {
    /// Finds each rule's firing sources among `alerts` at `now`.
    pub fn new(rules: &'a [Rule], alerts: &'a BTreeMap<u64, Alert>, now: i64) -> Self {
        let sources = rules
            .iter()
            .map(|r| {
                alerts
                    .values()
                    .filter(|a| {
                        !a.is_resolved(now) && r.source.iter().all(|m| m.matches(&a.labels))
                    })
                    .collect()
            })
            .collect();
        Inhibitor { rules, sources }
    }

    /// The source that inhibits an alert with `labels`, if any (upstream
    /// `Inhibitor.Mutes`). When the alert matches both sides, sources
    /// that do too are passed over, so an alert never inhibits itself.
    pub fn inhibited_by(&self, labels: &BTreeMap<String, String>) -> Option<u64> {
        for (r, src) in self.rules.iter().zip(&self.sources) {
            if !r.target.iter().all(|m| m.matches(labels)) {
                continue;
            }
            let two_sided = r.source.iter().all(|m| m.matches(labels));
            for a in src {
                if !r.equal.iter().all(|n| a.labels.get(n) == labels.get(n)) {
                    continue;
                }
                if two_sided && r.target.iter().all(|m| m.matches(&a.labels)) {
                    continue;
                }
                return Some(a.fingerprint());
            }
        }
        None
    }
}

impl Muter for Inhibitor<'_> {
    fn mutes(&self, labels: &BTreeMap<String, String>, _: At<'_>) -> bool {
        self.inhibited_by(labels).is_some()
    }
}
