//! Graphs in notifications: the alert's expression over the last hours,
//! drawn by the server's renderer (the alerter only asks for it, through
//! [`Grapher`]), inline in email and as an image in chat messages.
//!
//! The expression comes from the alert's `generatorURL`, which Prometheus
//! and Watchfire's rules make as `…/graph?g0.expr=<expression>&g0.tab=1`.
//! A chat fetches the image from a URL under `--web.external-url` that
//! carries a token of its own (one that allows only the graph), so the
//! URL can be shown to a chat's image proxy without giving away the
//! buttons' token.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use parking_lot::Mutex;

/// The size of a graph in a notification: readable in a chat and a mail.
pub const WIDTH: u32 = 600;
pub const HEIGHT: u32 = 300;

/// What to draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphRequest {
    /// The alert's expression, as its rule has it.
    pub expr: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub width: u32,
    pub height: u32,
    pub title: String,
}

/// A PNG, or why there is none.
pub type GraphFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<u8>, String>> + Send + 'a>>;

/// An expression's value: a line a series, or why there is none.
pub type ValuesFuture<'a> = Pin<Box<dyn Future<Output = Result<Values, String>> + Send + 'a>>;

/// What an instant query answered, as lines to show.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Values {
    /// `series value`, at most the limit asked.
    pub lines: Vec<String>,
    /// How many series there were in all.
    pub total: usize,
}

/// Draws an expression over a range as a PNG, and tells its value now:
/// the server's query engine and renderer.
pub trait Grapher: Send + Sync {
    fn png(&self, r: GraphRequest) -> GraphFuture<'_>;
    /// The expression's value at `at_ms`: at most `limit` lines.
    fn values(&self, expr: String, at_ms: i64, limit: usize) -> ValuesFuture<'_>;
}

/// Where the server puts its grapher, once it has one; shared by the
/// service and each of its senders.
pub type Slot = Arc<Mutex<Option<Arc<dyn Grapher>>>>;

/// The expression in an alert's `generatorURL`, if it has one.
pub fn expr_of(generator_url: &str) -> Option<String> {
    let (_, query) = generator_url.split_once('?')?;
    let query = query.split('#').next().unwrap_or("");
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "g0.expr")
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The first expression among a group's alerts.
pub fn expr_of_alerts(alerts: &[crate::dispatch::Alert]) -> Option<String> {
    alerts.iter().find_map(|a| expr_of(&a.generator_url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expression_comes_from_the_generator_url() {
        assert_eq!(
            expr_of("http://prom:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1").as_deref(),
            Some("up == 0")
        );
        assert_eq!(
            expr_of("http://wf/watchfire/graph?g0.tab=1&g0.expr=rate%28x%5B5m%5D%29+%3E+1")
                .as_deref(),
            Some("rate(x[5m]) > 1")
        );
        assert_eq!(expr_of("http://prom:9090/graph"), None);
        assert_eq!(expr_of("http://prom:9090/graph?g0.expr="), None);
        assert_eq!(expr_of(""), None);
    }
}
