//! What the API reports about a rule's last evaluation.

/// A rule's health after its last evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Health {
    #[default]
    Unknown,
    Ok,
    Err,
}

impl Health {
    /// The word Prometheus's API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Ok => "ok",
            Health::Err => "err",
        }
    }
}

/// The outcome of a rule's last evaluation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Status {
    pub health: Health,
    pub last_error: Option<String>,
    /// Unix milliseconds of the last evaluation; 0 before the first.
    pub last_evaluation: i64,
    /// Seconds the last evaluation took.
    pub evaluation_seconds: f64,
}

impl Status {
    pub fn set_ok(&mut self) {
        self.health = Health::Ok;
        self.last_error = None;
    }

    pub fn set_err(&mut self, e: impl Into<String>) {
        self.health = Health::Err;
        self.last_error = Some(e.into());
    }
}
