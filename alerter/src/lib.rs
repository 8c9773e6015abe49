//! The alerter: Alertmanager-compatible configuration and routing.
//!
//! - [`config`]: `alertmanager.yml` loaded strictly, checked as upstream
//!   checks the whole (receivers, root route, time intervals).
//! - [`receiver`] and [`http`]: every integration and `global:`, checked
//!   and filled from `global:` as upstream does.
//! - [`matcher`]: Alertmanager's matcher syntax and the legacy
//!   `match`/`match_re` maps.
//! - [`route`]: the compiled route tree and the routes an alert takes.
//! - [`dispatch`]: aggregation groups on Alertmanager's timers and the
//!   notification log's decision to send, on an injected clock.
//! - [`runtime`]: the alerter's state (alerts, groups, log) and the
//!   deliveries each tick owes; [`notify`]: the notification data and the
//!   webhook's v4 message; [`send`]: each integration's sender (webhook,
//!   email, Slack, Teams, Discord, Mattermost, Telegram, PagerDuty,
//!   Opsgenie).
//! - [`silence`]: silences, muting, kept in SQLite; [`timeinterval`]: the
//!   intervals routes mute in or are active in.
//! - [`tmpl`]: notification templates with Alertmanager's data model and
//!   functions.
//!
//! Data flow: `alertmanager.yml` → [`config::Config`] (raw) → checked
//! [`config::Loaded`] → [`route::Route`] tree → for an alert's labels,
//! [`route::Route::matches`] gives the routes (and so receivers and
//! grouping) in order.
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

pub mod api;
pub mod config;
pub mod dispatch;
pub mod http;
pub mod matcher;
pub mod notify;
pub mod receiver;
pub mod route;
pub mod runtime;
pub mod send;
pub mod silence;
pub mod timeinterval;
pub mod tmpl;
