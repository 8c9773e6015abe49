//! The HTTP side of notifications: one client per TLS configuration,
//! requests carrying `http_config`'s credentials and headers, and
//! upstream's default retry rule (5xx and transport errors retry).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use model::tls::{Options, Pem};

use super::secret_or_file;
use crate::http::{HttpConfig, TlsConfig};
use crate::notify::SendError;

type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A response read whole.
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    /// Upstream's default rule: 2xx is success, 5xx may be retried, the
    /// rest is final.
    pub fn default_retry(&self) -> Result<(), SendError> {
        if (200..300).contains(&self.status) {
            return Ok(());
        }
        Err(SendError {
            message: self.describe(),
            retry: self.status >= 500,
        })
    }

    /// "unexpected status code 503: <first bytes of the body>".
    pub fn describe(&self) -> String {
        let body = String::from_utf8_lossy(&self.body[..self.body.len().min(512)])
            .trim()
            .to_string();
        if body.is_empty() {
            format!("unexpected status code {}", self.status)
        } else {
            format!("unexpected status code {}: {body}", self.status)
        }
    }
}

fn pem<'a>(inline: &'a str, file: &'a str) -> Option<Pem<'a>> {
    if !inline.is_empty() {
        Some(Pem::Inline(inline))
    } else if !file.is_empty() {
        Some(Pem::File(file))
    } else {
        None
    }
}

fn options(t: &TlsConfig) -> Options<'_> {
    Options {
        ca: pem(&t.ca, &t.ca_file),
        cert: pem(&t.cert, &t.cert_file),
        key: pem(&t.key, &t.key_file),
        server_name: Some(t.server_name.as_str()).filter(|s| !s.is_empty()),
        insecure_skip_verify: t.insecure_skip_verify,
        min_version: Some(t.min_version.as_str()).filter(|s| !s.is_empty()),
    }
}

/// HTTP clients, one per TLS configuration, made when first needed.
#[derive(Default)]
pub struct Clients {
    by_tls: Mutex<HashMap<String, HttpsClient>>,
}

impl Clients {
    fn client(&self, tls: Option<&TlsConfig>) -> Result<HttpsClient, SendError> {
        let key = format!("{tls:?}");
        let mut map = self.by_tls.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = map.get(&key) {
            return Ok(c.clone());
        }
        let connector = model::tls::connector(tls.map(options).as_ref())
            .map_err(|e| SendError::fatal(format!("tls_config: {e}")))?;
        let c = Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector);
        map.insert(key, c.clone());
        Ok(c)
    }

    /// POSTs `body` as JSON to `url` with `http_config`'s credentials and
    /// headers and `extra` headers, within `timeout`.
    pub async fn post(
        &self,
        cfg: Option<&HttpConfig>,
        url: &str,
        extra: &[(&str, String)],
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Response, SendError> {
        self.request("POST", cfg, url, "application/json", extra, body, timeout)
            .await
    }

    /// Any request; transport errors and timeouts may be retried.
    /// Redirects are followed (at most 10) unless `follow_redirects` is
    /// false, as Go's client does: 307 and 308 repeat the request, the
    /// others turn it into a GET without a body. A user and password in
    /// the URL are sent as basic credentials when nothing else is.
    #[allow(clippy::too_many_arguments)]
    pub async fn request(
        &self,
        method: &str,
        cfg: Option<&HttpConfig>,
        url: &str,
        content_type: &str,
        extra: &[(&str, String)],
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Response, SendError> {
        let client = self.client(cfg.and_then(|c| c.tls_config.as_ref()))?;
        let follow = cfg.and_then(|c| c.follow_redirects).unwrap_or(true);
        let mut auth = match cfg {
            Some(c) => authorization(c)?,
            None => None,
        };
        let mut headers: Vec<(String, String)> = Vec::new();
        if let Some(c) = cfg {
            for (name, h) in &c.http_headers {
                for v in h.values.iter().chain(&h.secrets) {
                    headers.push((name.clone(), v.clone()));
                }
                for f in &h.files {
                    headers.push((name.clone(), secret_or_file("", f)?));
                }
            }
        }
        for (k, v) in extra {
            headers.push((k.to_string(), v.clone()));
        }
        let (mut url, userinfo) = split_userinfo(url);
        if auth.is_none() {
            auth = userinfo.map(|u| format!("Basic {}", base64(u.as_bytes())));
        }
        let mut method = method.to_string();
        let mut body = Bytes::from(body);
        let attempt = async {
            for _ in 0..=10 {
                let mut req = hyper::Request::builder()
                    .method(method.as_str())
                    .uri(url.as_str())
                    .header(
                        "user-agent",
                        concat!("Watchfire/", env!("CARGO_PKG_VERSION")),
                    );
                if !body.is_empty() {
                    req = req.header("content-type", content_type);
                }
                if let Some(a) = &auth {
                    req = req.header("authorization", a.as_str());
                }
                for (k, v) in &headers {
                    req = req.header(k.as_str(), v.as_str());
                }
                let req = req.body(Full::new(body.clone())).map_err(|e| {
                    SendError::fatal(format!("bad request to {}: {e}", redact(&url)))
                })?;
                let resp = client.request(req).await.map_err(|e| SendError {
                    message: format!("{method} {}: {}", redact(&url), model::error_chain(&e)),
                    retry: true,
                })?;
                let status = resp.status().as_u16();
                let location = resp
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let bytes = resp.into_body().collect().await.map_err(|e| SendError {
                    message: format!("{method} {}: reading the answer: {e}", redact(&url)),
                    retry: true,
                })?;
                match (follow, status, location) {
                    (true, 301 | 302 | 303 | 307 | 308, Some(loc)) => {
                        url = resolve(&url, &loc);
                        if !matches!(status, 307 | 308) {
                            method = "GET".into();
                            body = Bytes::new();
                        }
                    }
                    _ => {
                        return Ok(Response {
                            status,
                            body: bytes.to_bytes().to_vec(),
                        })
                    }
                }
            }
            Err(SendError::fatal(format!(
                "{method} {}: stopped after 10 redirects",
                redact(&url)
            )))
        };
        tokio::time::timeout(timeout, attempt)
            .await
            .map_err(|_| SendError {
                message: format!("timed out after {timeout:?}"),
                retry: true,
            })?
    }
}

pub(crate) fn base64(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// The URL without its `user:password@`, and that part decoded.
fn split_userinfo(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_string(), None);
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rsplit_once('@') {
        Some((info, host)) => (
            format!("{scheme}://{host}{}", &rest[end..]),
            Some(percent_decode(info)),
        ),
        None => (url.to_string(), None),
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A redirect's `Location` against the URL that answered it.
fn resolve(base: &str, loc: &str) -> String {
    if loc.contains("://") {
        return loc.to_string();
    }
    let Some((scheme, rest)) = base.split_once("://") else {
        return loc.to_string();
    };
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let origin = format!("{scheme}://{}", &rest[..host_end]);
    if let Some(path) = loc.strip_prefix("//") {
        return format!("{scheme}://{path}");
    }
    if loc.starts_with('/') {
        return format!("{origin}{loc}");
    }
    let path = &rest[host_end..];
    let path = path.split(['?', '#']).next().unwrap_or("");
    let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
    format!("{origin}{dir}/{loc}")
}

/// The `Authorization` header `http_config` asks for.
fn authorization(c: &HttpConfig) -> Result<Option<String>, SendError> {
    let encode = base64;
    if let Some(b) = &c.basic_auth {
        let user = secret_or_file(&b.username, &b.username_file)?;
        let pass = secret_or_file(&b.password, &b.password_file)?;
        return Ok(Some(format!(
            "Basic {}",
            encode(format!("{user}:{pass}").as_bytes())
        )));
    }
    if let Some(a) = &c.authorization {
        let kind = if a.kind.trim().is_empty() {
            "Bearer"
        } else {
            a.kind.trim()
        };
        let cred = secret_or_file(&a.credentials, &a.credentials_file)?;
        return Ok(Some(format!("{kind} {cred}")));
    }
    if !c.bearer_token.is_empty() || !c.bearer_token_file.is_empty() {
        let cred = secret_or_file(&c.bearer_token, &c.bearer_token_file)?;
        return Ok(Some(format!("Bearer {cred}")));
    }
    Ok(None)
}

/// A URL fit for logs: secrets often sit in the path (Slack, Discord,
/// Teams, Telegram), so only the scheme and host are kept.
pub fn redact(url: &str) -> String {
    match url.parse::<hyper::Uri>() {
        Ok(u) => {
            let host = u.host().unwrap_or("");
            let port = u.port_u16().map(|p| format!(":{p}")).unwrap_or_default();
            format!(
                "{}://{host}{port}/<redacted>",
                u.scheme_str().unwrap_or("http")
            )
        }
        Err(_) => "<redacted URL>".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_taken_out_of_urls() {
        assert_eq!(
            split_userinfo("https://u:p%40ss@hook.example:8443/x?y=1"),
            (
                "https://hook.example:8443/x?y=1".into(),
                Some("u:p@ss".into())
            )
        );
        assert_eq!(
            split_userinfo("http://h/a@b"),
            ("http://h/a@b".into(), None)
        );
        assert_eq!(
            redact("https://u:secret@hook.example:8443/T/B/X"),
            "https://hook.example:8443/<redacted>"
        );
    }

    #[test]
    fn redirects_resolve() {
        assert_eq!(resolve("http://h:1/a/b?q", "/c"), "http://h:1/c");
        assert_eq!(resolve("http://h:1/a/b?q", "c"), "http://h:1/a/c");
        assert_eq!(resolve("http://h:1/a", "https://o/p"), "https://o/p");
    }
}
