//! Prometheus rule files: loading and strict validation (`file`).
//!
//! Groups, their schedule, recording and alerting rules and the unit-test
//! runner build on this.

pub mod expand;
pub mod file;

pub use file::{parse, Group, NameValidation, Rule, RuleError, RuleFile, RuleKind};
