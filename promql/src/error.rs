//! Query errors, with the `errorType` Prometheus gives each.

/// What kind of failure, as the API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The query or a parameter is malformed (HTTP 400).
    BadData,
    /// Evaluation failed (HTTP 422).
    Execution,
    /// `--query.timeout` or the `timeout` parameter ran out (HTTP 503).
    Timeout,
    /// The query was cancelled (HTTP 503).
    Canceled,
}

impl ErrorKind {
    /// Prometheus's `errorType` string.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::BadData => "bad_data",
            ErrorKind::Execution => "execution",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Canceled => "canceled",
        }
    }
}

/// A failed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub kind: ErrorKind,
    pub message: String,
}

impl QueryError {
    pub fn bad_data(message: impl Into<String>) -> Self {
        QueryError {
            kind: ErrorKind::BadData,
            message: message.into(),
        }
    }

    pub fn execution(message: impl Into<String>) -> Self {
        QueryError {
            kind: ErrorKind::Execution,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for QueryError {}
