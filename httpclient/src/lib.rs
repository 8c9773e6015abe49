//! Prometheus's `http_config` and the one HTTP client every outgoing
//! request of Watchfire goes through: scrapes, HTTP discovery, the
//! Alertmanager notifier, the alerter's receivers and the query CLI.
//!
//! Behaviour mirrors prometheus/common `config/http_config.go` (field
//! names, defaults, validation and its wording) and Go's `net/http`
//! client (redirects), except where Watchfire is stricter: a credential
//! file that cannot be read is an error when the configuration is
//! loaded, and credentials never follow a redirect to another origin.
//!
//! # Main types
//!
//! - [`HttpConfig`] and its parts ([`BasicAuthConfig`],
//!   [`AuthorizationConfig`], [`OAuth2Config`], [`TlsConfig`],
//!   [`ProxyConfig`], [`HeaderConfig`]): the raw configuration, serde
//!   types with upstream's defaults; [`HttpConfig::validate`] applies
//!   upstream's rules and checks that the files can be read.
//! - [`Secret`]: a configured secret; prints `<secret>` in `Debug`,
//!   `Display` and `Serialize`, so configuration dumps, logs and errors
//!   never show one. [`Secret::expose`] is the explicit way to the value.
//! - [`Client`]: built once from an [`HttpConfig`] (TLS through
//!   [`model::tls`], proxy, HTTP/2, credentials, headers, OAuth2 token
//!   cache) and cloned freely.
//! - [`Request`] and [`Response`]: method, URL, headers, body, timeout and
//!   body limit in; status, headers, the body read whole, and the final
//!   URL out.
//! - [`Error`]: the one error type; [`ErrorKind`] says what went wrong
//!   (timeout, body too large, transport, file, ...). Its text names the
//!   method and the origin only (`GET http://host:port: ...`): a path,
//!   query or user info often holds a secret.
//!
//! # Data flow
//!
//! `HttpConfig` → [`Client::new`] (validate, build the transport: with
//! a proxy reqwest's client, else hyper-util's pooled client whose
//! connections read in small pieces; both over rustls) → [`Client::send`]`(Request)`: within the
//! request's timeout, add the configured headers and credentials (files
//! re-read on each use, OAuth2 token from its cache), send, follow
//! redirects here (at most 10; credentials and secret headers only to
//! the original scheme, host and port), read the body up to the limit →
//! `Response`.
//!
//! # Example
//!
//! ```no_run
//! # async fn f() -> Result<(), httpclient::Error> {
//! use std::time::Duration;
//! let cfg: httpclient::HttpConfig = serde_json::from_str(
//!     r#"{"authorization": {"credentials": "t0ken"}, "follow_redirects": false}"#,
//! ).expect("valid JSON");
//! let client = httpclient::Client::new(&cfg)?;
//! let resp = client
//!     .send(
//!         httpclient::Request::get("http://127.0.0.1:9100/metrics")
//!             .header("accept", "text/plain")
//!             .timeout(Duration::from_secs(10))
//!             .body_limit(1 << 20),
//!     )
//!     .await?;
//! println!("{} {} bytes", resp.status, resp.body.len());
//! # Ok(())
//! # }
//! ```

mod client;
mod config;
mod error;
mod oauth2;
mod secret;
mod tls;
mod transport;

pub use bytes::Bytes;
pub use client::{
    origin, Client, Request, Response, DEFAULT_BODY_LIMIT, DEFAULT_TIMEOUT, MAX_REDIRECTS,
    USER_AGENT,
};
pub use config::{
    canonical_header, mask_url_password, AuthorizationConfig, BasicAuthConfig, HeaderConfig,
    HttpConfig, OAuth2Config, ProxyConfig, TlsConfig, RESERVED_HEADERS,
};
pub use error::{Error, ErrorKind};
pub use reqwest::{header, Method, StatusCode};
pub use secret::{Secret, MASK};
