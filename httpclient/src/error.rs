//! The crate's one error type: what went wrong, and the request it went
//! wrong in (method and origin only: a URL's path and user info often
//! hold a secret).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// An error of configuration or of a request, with its context.
#[derive(Debug)]
pub struct Error {
    /// `GET http://host:port`, when a request failed; never a path,
    /// query or user info.
    context: Option<String>,
    kind: ErrorKind,
}

/// What went wrong; callers act on it (retry, count, report).
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The configuration breaks one of upstream's rules, with upstream's
    /// wording.
    Config(String),
    /// A credential, header or TLS file cannot be read.
    File {
        /// The configuration key, e.g. `password_file`.
        key: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A URL that cannot be used.
    Url(String),
    /// The request, redirects and body read together took longer than
    /// this.
    Timeout(Duration),
    /// The response body is larger than this many bytes.
    BodyTooLarge(u64),
    /// More than 10 redirects, as Go's client refuses.
    TooManyRedirects,
    /// An OAuth2 token could not be had.
    Token(String),
    /// Connecting, TLS, or the connection broke.
    Transport(String),
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Error {
            context: None,
            kind,
        }
    }

    pub(crate) fn config(msg: impl Into<String>) -> Self {
        Error::new(ErrorKind::Config(msg.into()))
    }

    /// Adds a request's context (`GET http://host:port`) unless one is set.
    pub(crate) fn at(mut self, context: impl FnOnce() -> String) -> Self {
        if self.context.is_none() {
            self.context = Some(context());
        }
        self
    }

    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    pub fn is_timeout(&self) -> bool {
        matches!(self.kind, ErrorKind::Timeout(_))
    }

    /// Whether trying again may help: timeouts, transport errors and
    /// token endpoints that failed (upstream retries these too).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Timeout(_) | ErrorKind::Transport(_) | ErrorKind::Token(_)
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Config(m) | ErrorKind::Url(m) | ErrorKind::Transport(m) => f.write_str(m),
            ErrorKind::File { key, path, source } => {
                write!(f, "unable to read {key} {}: {source}", path.display())
            }
            ErrorKind::Timeout(d) => write!(
                f,
                "context deadline exceeded (timeout {})",
                model::time::format_duration(*d)
            ),
            ErrorKind::BodyTooLarge(n) => {
                write!(f, "body size limit exceeded (body over {n} bytes)")
            }
            ErrorKind::TooManyRedirects => f.write_str("stopped after 10 redirects"),
            ErrorKind::Token(m) => write!(f, "oauth2: {m}"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.context {
            Some(c) => write!(f, "{c}: {}", self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::File { source, .. } => Some(source),
            _ => None,
        }
    }
}
