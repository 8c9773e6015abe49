//! Prometheus rules for Watchfire.
//!
//! - [`file`]: rule files, loaded and checked strictly.
//! - [`expand`]: alert label and annotation templates with Prometheus's
//!   data and functions (on the `template` crate).
//! - [`alerting`] and [`recording`]: the two kinds of rule; an alerting rule
//!   runs the pending → firing → resolved state machine.
//! - [`group`]: a group's rules evaluated in order at one timestamp,
//!   output appended with staleness markers, alerts handed to a
//!   [`group::Notify`], `for` state restored after a restart.
//! - [`manager`]: one task per group on its schedule; reloads.
//! - [`notifier`]: alerts queued and sent to external Alertmanagers (API v2).
//! - [`unittest`]: the runner of `promtool test rules` files.
//!
//! Data flow: a rule file becomes [`file::RuleFile`] → each group becomes a
//! [`group::Group`] → a scheduler calls [`group::Group::eval`] at the
//! group's evaluation times with an [`group::Env`] (engine, querier,
//! appender, notifier).

pub mod alerting;
pub mod expand;
pub mod file;
pub mod group;
pub mod manager;
pub mod notifier;
pub mod recording;
pub mod status;
pub mod unittest;

pub use file::{parse, Group as GroupConfig, NameValidation, Rule, RuleError, RuleFile, RuleKind};
