//! The alerter: Alertmanager's configuration, routing, silences,
//! inhibition and notifications, as a service the server wires in.
//!
//! - [`Service`] ([`service`]): owns the state, an injected clock and the
//!   loop; takes alerts (API v2 JSON, or typed from the rules through
//!   [`model::AlertSink`]), flushes groups as they come due, sends with
//!   retry and keeps the notification counters.
//! - [`config`]: `alertmanager.yml` loaded strictly, checked as upstream
//!   checks the whole (receivers, root route, time intervals).
//! - [`receiver`]: every integration and `global:` (`http_config` is
//!   [`httpclient::HttpConfig`]), checked
//!   and filled from `global:` as upstream does.
//! - [`matcher`]: Alertmanager's matcher syntax and the legacy
//!   `match`/`match_re` maps.
//! - [`route`]: the compiled route tree and the routes an alert takes.
//! - [`dispatch`]: aggregation groups on Alertmanager's timers, on an
//!   injected clock.
//! - [`pipeline`]: notification as stages in upstream's order (inhibit →
//!   time active → time mute → silence → dedup → send with retry →
//!   record); [`mute`]: the one [`mute::Muter`] interface that
//!   [`inhibit`], [`silence`] and the time intervals implement.
//! - [`runtime`]: the state (alerts, groups, log, silences) and the
//!   deliveries each tick owes; [`nflog`]: the notification log.
//! - [`notify`]: the notification data and the webhook's v4 message;
//!   [`send`]: each integration's sender (webhook, email, Slack, Teams,
//!   Discord, Mattermost, Telegram, PagerDuty, Opsgenie); [`tmpl`]:
//!   notification templates with Alertmanager's data and functions.
//! - [`chatops`]: the interactive-notification parts, where a chat calls
//!   back; [`chatops::verify`] proves a callback came from the chat.
//! - [`sqlite`]: `alerter.db` (spec: `alerter/docs/format/sqlite.md`),
//!   written by a thread of its own, never under the state's lock.
//! - [`Error`]: what failed, with context that reads like a path.
//!
//! Data flow: `alertmanager.yml` → [`config::Config`] (raw) → checked
//! [`config::Loaded`] → [`route::Route`] tree and [`runtime::Alerter`].
//! Alerts → [`Service`] → [`dispatch::Dispatcher`] groups → on each
//! group's timer a [`dispatch::Flush`] → [`pipeline`] mute stages and
//! dedup against [`nflog::Log`] → [`runtime::Delivery`] → retry through
//! [`send::Sender`] → recorded in the log, on disk before it is counted.
//! For an alert's labels, [`route::Route::matches`] gives the routes (and
//! so receivers and grouping) in order:
//!
//! ```
//! let cfg = alerter::config::parse(
//!     "route:\n  receiver: ops\n  routes:\n    - matchers: ['team=db']\n      receiver: dba\nreceivers:\n  - name: ops\n  - name: dba\n",
//!     "alertmanager.yml",
//! ).unwrap();
//! let tree = alerter::route::Route::new(cfg.raw.route.as_ref().unwrap()).unwrap();
//! let labels = [("team".to_string(), "db".to_string())].into();
//! let got: Vec<&str> = tree.matches(&labels).iter().map(|r| r.receiver.as_str()).collect();
//! assert_eq!(got, ["dba"]);
//! ```

pub mod ack;
pub mod api;
pub mod chatops;
pub mod config;
pub mod dispatch;
mod error;
pub mod inhibit;
pub mod matcher;
pub mod mute;
pub mod nflog;
pub mod notify;
pub mod pipeline;
pub mod receiver;
pub mod route;
pub mod runtime;
pub mod send;
pub mod service;
pub mod silence;
pub mod sqlite;
pub mod timeinterval;
pub mod tmpl;

pub use error::Error;
pub use service::Service;
