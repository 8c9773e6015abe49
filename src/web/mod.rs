//! The web UI: one HTML page, one stylesheet and one script, written in
//! this repo and embedded in the binary at compile time. The pages
//! (`/query`, `/graph`, `/alerts`, `/rules`, `/targets`,
//! `/service-discovery`, `/status`, `/config`, `/flags`, `/tsdb-status`,
//! `/silences`, `/alert-groups`) all get the same page; its script draws each from the
//! JSON API, charts included. Nothing is fetched from elsewhere. The
//! confirmation page of a notification's signed action link
//! (`/chatops/{token}/{action}`, in [`confirm`]) is plain HTML made here,
//! with no script.
//!
//! Everything is served under the route prefix: `--web.route-prefix`, by
//! default the path of `--web.external-url` (as Prometheus does), so the
//! UI works behind a reverse proxy at `/watchfire/`, whether the proxy
//! passes that path on or strips it. The page's links use the external
//! URL's path.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

use crate::server::AppState;

mod confirm;

const INDEX: &str = include_str!("assets/index.html");
const CSS: &str = include_str!("assets/app.css");
const JS: &str = include_str!("assets/app.js");
const ICON: &str = include_str!("assets/favicon.svg");

/// The pages, each served the same document.
pub const PAGES: [&str; 12] = [
    "/query",
    "/graph",
    "/alerts",
    "/rules",
    "/targets",
    "/service-discovery",
    "/status",
    "/config",
    "/flags",
    "/tsdb-status",
    "/silences",
    "/alert-groups",
];

/// The UI's routes, below the route prefix.
pub fn router() -> Router<Arc<AppState>> {
    let mut r = Router::new()
        // Alertmanager's links (`/#/silences/new?filter=…`) land on `/`
        // with a fragment the server never sees: the page routes them.
        .route("/", get(page))
        .route(
            "/static/app.css",
            get(|h: HeaderMap| async move { asset(&h, "text/css", CSS) }),
        )
        .route(
            "/static/app.js",
            get(|h: HeaderMap| async move { asset(&h, "text/javascript", JS) }),
        )
        .route(
            "/static/favicon.svg",
            get(|h: HeaderMap| async move { asset(&h, "image/svg+xml", ICON) }),
        )
        // Signed action links from notifications: the confirmation page.
        .route(
            "/chatops/{token}/{action}",
            get(confirm::show).post(confirm::act),
        );
    for p in PAGES {
        r = r.route(p, get(page));
    }
    r
}

/// The page for every route, with the external URL's path filled in for
/// its links.
async fn page(State(st): State<Arc<AppState>>) -> Response {
    let html = INDEX.replace("{{prefix}}", &escape(&st.link_prefix));
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response()
}

/// An embedded file, revalidated on every load (`no-cache`) by its ETag,
/// so a browser fetches it again only when the binary changed it.
fn asset(h: &HeaderMap, kind: &'static str, body: &'static str) -> Response {
    let tag = etag(body);
    let fresh = h
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    let headers = [
        (header::CONTENT_TYPE, kind.to_string()),
        (header::CACHE_CONTROL, "no-cache".to_string()),
        (header::ETAG, tag),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (StatusCode::OK, headers, body).into_response()
}

/// A strong ETag for an embedded file: a hash of its bytes.
fn etag(body: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut h);
    format!("\"{:016x}\"", h.finish())
}

/// Text for an HTML attribute.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The route prefix of an external URL: its path without the trailing
/// slash ("" for none). A path the router cannot take literally (one
/// with `{`, `*`, `%`, spaces, a query or a fragment) is refused.
pub fn route_prefix(external_url: &str) -> Result<String, String> {
    let path = url_path(external_url).trim_end_matches('/');
    let plain = |c: char| c.is_ascii_alphanumeric() || "/-._~".contains(c);
    if !path.chars().all(plain) || path.contains("//") {
        return Err(format!(
            "--web.external-url {external_url:?}: its path {path:?} may hold only letters, digits and /-._~"
        ));
    }
    Ok(path.to_string())
}

/// `--web.route-prefix` as routes take it: a leading slash, no trailing
/// one ("" for `/`), with the same characters as [`route_prefix`] allows.
pub fn normalize_route_prefix(p: &str) -> Result<String, String> {
    let path = format!("/{}", p.trim_matches('/'));
    let path = path.trim_end_matches('/');
    let plain = |c: char| c.is_ascii_alphanumeric() || "/-._~".contains(c);
    if !path.chars().all(plain) || path.contains("//") {
        return Err(format!(
            "--web.route-prefix {p:?}: it may hold only letters, digits and /-._~"
        ));
    }
    Ok(path.to_string())
}

fn url_path(u: &str) -> &str {
    let rest = u.split_once("://").map_or(u, |(_, r)| r);
    rest.find('/').map_or("", |i| &rest[i..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_is_the_external_urls_path() {
        let ok = |u: &str| route_prefix(u).unwrap();
        assert_eq!(ok("http://h:9090"), "");
        assert_eq!(ok("http://h:9090/"), "");
        assert_eq!(ok("http://h:9090/watchfire/"), "/watchfire");
        assert_eq!(ok("https://h/a/b"), "/a/b");
        for bad in [
            "http://h/{x}",
            "http://h/a b",
            "http://h/*",
            "http://h/a?b=c",
            "http://h//a",
        ] {
            assert!(route_prefix(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn route_prefix_flag() {
        let ok = |p: &str| normalize_route_prefix(p).unwrap();
        assert_eq!(ok("/"), "");
        assert_eq!(ok(""), "");
        assert_eq!(ok("watchfire"), "/watchfire");
        assert_eq!(ok("/a/b/"), "/a/b");
        assert!(normalize_route_prefix("/a b").is_err());
        assert!(normalize_route_prefix("/a//b").is_err());
    }
}
