//! The scrape side of Watchfire: everything between a target's HTTP answer
//! and a batch of samples for the store.
//!
//! Modules: [`config`] (re-exported: `prometheus.yml`, read by the
//! `config` crate), [`discovery`] (file_sd, http_sd answers), [`target`] (from discovered
//! addresses to labels and URLs), [`relabel`] (every relabel action, compiled from the rules `config` checked),
//! [`scrape`] (the [`scrape::Manager`] and one scrape loop per target) and
//! [`exposition`], our own parser of the Prometheus text format 0.0.4 and
//! OpenMetrics 1.0.
//!
//! # Principal types
//!
//! - [`exposition::Parser`]: turns one line into one [`exposition::Entry`]
//!   and keeps the state that spans lines, so bodies of any size can be
//!   streamed through it (`watchfire import` feeds it a file line by line,
//!   as `BufRead::read_until(b'\n')` yields them).
//! - [`exposition::Entry`] and [`exposition::Sample`]: what a line says,
//!   borrowing from the input unless an escape had to be resolved.
//! - [`exposition::ParseError`]: the first error of a body, with its line.
//! - [`exposition::Strictness`]: the format as specified, or what the
//!   Prometheus scraper accepts.
//!
//! # Data flow
//!
//! A scrape body (or an import file) is split into lines; each line goes
//! through [`exposition::Parser::parse_line`]; [`exposition::Parser::finish`]
//! closes the body (OpenMetrics requires `# EOF`);
//! [`exposition::attach_start_timestamps`] folds OpenMetrics `_created`
//! samples into the start timestamps of their series. The samples then go to
//! metric relabeling, limits and one `Appender` batch per scrape.
//! `watchfire import` streams and keeps no entries to fold over: it skips
//! [`exposition::Entry::Created`] entries instead, so imported samples carry
//! no start timestamp.
//!
//! # Example
//!
//! ```
//! use collector::exposition::{parse, Entry, Format};
//!
//! let body = concat!(
//!     "# TYPE http_requests counter\n",
//!     "http_requests_total{code=\"200\"} 1027 1793469601.237\n",
//!     "# EOF\n",
//! );
//! let entries = parse(body.as_bytes(), Format::OpenMetrics)?;
//! let Entry::Sample(s) = &entries[1] else { panic!("expected a sample") };
//! assert_eq!(s.name, "http_requests_total");
//! assert_eq!(s.label("code"), Some("200"));
//! assert_eq!(s.value, 1027.0);
//! assert_eq!(s.timestamp_ms, Some(1793469601237));
//! # Ok::<(), collector::exposition::ParseError>(())
//! ```

/// `prometheus.yml`, read by the `config` crate.
pub use ::config;
pub mod discovery;
pub mod exposition;
pub mod relabel;
pub mod scrape;
pub mod target;
