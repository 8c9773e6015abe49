//! The built client: one transport per configuration (TLS, proxy, HTTP/2;
//! see [`crate::transport`]), credentials and headers applied per
//! request, redirects followed here so that credentials go only to the
//! origin the request was made to, and every body read within a limit
//! and within the request's timeout.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use url::Url;

use crate::config::{read_file, HttpConfig, ProxyConfig, TlsConfig};
use crate::error::{Error, ErrorKind};
use crate::oauth2::TokenSource;
use crate::secret::Secret;
use crate::transport::{Reply, Transport};

/// Most redirects followed for one request, as Go's client.
pub const MAX_REDIRECTS: usize = 10;

/// The `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("Watchfire/", env!("CARGO_PKG_VERSION"));

/// The body limit of a [`Request`] that sets none.
pub const DEFAULT_BODY_LIMIT: u64 = 16 << 20;

/// The timeout of a [`Request`] that sets none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A secret given inline or read from a file at each use (so a rotated
/// file takes effect without a reload, as upstream's `FileSecret`).
#[derive(Debug, Clone)]
pub(crate) enum Source {
    Inline(Secret),
    File(&'static str, String),
}

impl Source {
    fn of(inline: &Secret, key: &'static str, file: &str) -> Source {
        if file.is_empty() {
            Source::Inline(inline.clone())
        } else {
            Source::File(key, file.to_string())
        }
    }

    pub(crate) fn read(&self) -> Result<Secret, Error> {
        match self {
            Source::Inline(s) => Ok(s.clone()),
            Source::File(key, path) => read_file(key, path),
        }
    }
}

enum Auth {
    Basic { username: Source, password: Source },
    Scheme { scheme: String, credentials: Source },
    OAuth2(TokenSource),
}

/// An `http_headers` line: plain values go everywhere, secrets and files
/// only to the request's own origin.
enum ConfigHeader {
    Value(HeaderName, String),
    Secret(HeaderName, Source),
}

struct Inner {
    http: Transport,
    auth: Option<Auth>,
    headers: Vec<ConfigHeader>,
    follow_redirects: bool,
}

/// A client built from an [`HttpConfig`]; cheap to clone (connections
/// are pooled and shared).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

/// One request: method, URL, headers, body, timeout and body limit.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub url: String,
    /// Sent as given, after the configuration's; `Authorization` and
    /// `Cookie` are dropped on a redirect to another origin.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// For the whole exchange: connecting, every redirect and reading
    /// the body.
    pub timeout: Duration,
    /// Most bytes of response body read; more is an error.
    pub body_limit: u64,
}

impl Request {
    /// A request without body, [`DEFAULT_TIMEOUT`] and
    /// [`DEFAULT_BODY_LIMIT`].
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Request {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Bytes::new(),
            timeout: DEFAULT_TIMEOUT,
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }

    pub fn get(url: impl Into<String>) -> Self {
        Request::new(Method::GET, url)
    }

    /// A POST of `body` as `content_type`.
    pub fn post(url: impl Into<String>, content_type: &str, body: impl Into<Bytes>) -> Self {
        Request::new(Method::POST, url)
            .header("content-type", content_type)
            .body(body)
    }

    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn body_limit(mut self, limit: u64) -> Self {
        self.body_limit = limit;
        self
    }
}

/// A response of any status, its body read whole (within the limit).
#[derive(Debug, Clone)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The URL that answered, after redirects.
    pub url: Url,
}

impl Response {
    /// A header's value when it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// `scheme://host:port` of a URL: what errors and logs may show.
pub fn origin(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) => origin_of(&u),
        Err(_) => "<invalid URL>".into(),
    }
}

fn origin_of(u: &Url) -> String {
    let host = u.host_str().unwrap_or("");
    match u.port() {
        Some(p) => format!("{}://{host}:{p}", u.scheme()),
        None => format!("{}://{host}", u.scheme()),
    }
}

/// The transport for a TLS, proxy and HTTP/2 configuration: reqwest
/// when a proxy may be in the way, else the direct one (see
/// [`crate::transport`] for why).
fn build_transport(
    tls: Option<&TlsConfig>,
    proxy: &ProxyConfig,
    http2: bool,
) -> Result<Transport, Error> {
    if proxy.proxy_url.is_empty() && !proxy.proxy_from_environment {
        Ok(Transport::direct(crate::tls::rustls_config(tls, http2)?))
    } else {
        Ok(Transport::Proxied(build_http(tls, proxy, http2)?))
    }
}

/// A reqwest client for a TLS and proxy configuration. Redirects are
/// never followed by reqwest, and the environment's proxy is used only
/// when `proxy_from_environment` says so.
pub(crate) fn build_http(
    tls: Option<&TlsConfig>,
    proxy: &ProxyConfig,
    http2: bool,
) -> Result<reqwest::Client, Error> {
    let mut b = reqwest::Client::builder()
        .use_preconfigured_tls(crate::tls::rustls_config(tls, http2)?)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(USER_AGENT)
        .tcp_nodelay(true)
        // Upstream keeps idle connections 5 minutes, above any sane
        // scrape interval.
        .pool_idle_timeout(Duration::from_secs(300));
    if !http2 {
        b = b.http1_only();
    }
    if !proxy.proxy_from_environment {
        b = b.no_proxy();
    }
    if !proxy.proxy_url.is_empty() {
        let mut p = reqwest::Proxy::all(&proxy.proxy_url)
            .map_err(|e| Error::config(format!("proxy_url: {}", e.without_url())))?;
        if !proxy.no_proxy.is_empty() {
            p = p.no_proxy(reqwest::NoProxy::from_string(&proxy.no_proxy));
        }
        if !proxy.proxy_connect_header.is_empty() {
            let mut h = HeaderMap::new();
            for (k, vs) in &proxy.proxy_connect_header {
                let name = HeaderName::from_bytes(k.as_bytes())
                    .map_err(|e| Error::config(format!("proxy_connect_header {k:?}: {e}")))?;
                for v in vs {
                    let v = HeaderValue::from_str(v.expose()).map_err(|_| {
                        Error::config(format!("proxy_connect_header {k:?}: invalid value"))
                    })?;
                    h.append(name.clone(), v);
                }
            }
            p = p.headers(h);
        }
        b = b.proxy(p);
    }
    b.build()
        .map_err(|e| Error::config(format!("build HTTP client: {}", model::error_chain(&e))))
}

impl Client {
    /// Validates `cfg` (upstream's rules; credential files must be
    /// readable) and builds its client.
    pub fn new(cfg: &HttpConfig) -> Result<Client, Error> {
        cfg.validate()?;
        let http = build_transport(cfg.tls_config.as_ref(), &cfg.proxy(), cfg.enable_http2)?;
        let auth = if let Some(b) = &cfg.basic_auth {
            Some(Auth::Basic {
                username: Source::of(&Secret::new(&b.username), "username_file", &b.username_file),
                password: Source::of(&b.password, "password_file", &b.password_file),
            })
        } else if let Some(a) = &cfg.authorization {
            Some(Auth::Scheme {
                scheme: a.scheme().to_string(),
                credentials: Source::of(&a.credentials, "credentials_file", &a.credentials_file),
            })
        } else if !cfg.bearer_token.is_empty() || !cfg.bearer_token_file.is_empty() {
            Some(Auth::Scheme {
                scheme: "Bearer".into(),
                credentials: Source::of(
                    &cfg.bearer_token,
                    "bearer_token_file",
                    &cfg.bearer_token_file,
                ),
            })
        } else if let Some(o) = &cfg.oauth2 {
            Some(Auth::OAuth2(TokenSource::new(o)?))
        } else {
            None
        };
        let mut headers = Vec::new();
        for (name, h) in &cfg.http_headers {
            // Validated above.
            let Ok(n) = HeaderName::from_bytes(name.as_bytes()) else {
                continue;
            };
            headers.extend(
                h.values
                    .iter()
                    .map(|v| ConfigHeader::Value(n.clone(), v.clone())),
            );
            headers.extend(
                h.secrets
                    .iter()
                    .map(|s| ConfigHeader::Secret(n.clone(), Source::Inline(s.clone()))),
            );
            headers.extend(h.files.iter().map(|f| {
                ConfigHeader::Secret(n.clone(), Source::File("http_headers file", f.clone()))
            }));
        }
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                auth,
                headers,
                follow_redirects: cfg.follow_redirects,
            }),
        })
    }

    /// A client without credentials, proxy or custom TLS.
    pub fn plain() -> Result<Client, Error> {
        Client::new(&HttpConfig::default())
    }

    /// A GET of `url` within `timeout`, reading at most `body_limit`
    /// bytes of body.
    pub async fn get(
        &self,
        url: &str,
        timeout: Duration,
        body_limit: u64,
    ) -> Result<Response, Error> {
        self.send(Request::get(url).timeout(timeout).body_limit(body_limit))
            .await
    }

    /// Sends `req` with the configuration's credentials and headers and
    /// reads the answer, all within `req.timeout`. Redirects (301, 302,
    /// 303, 307, 308) are followed up to [`MAX_REDIRECTS`] unless
    /// `follow_redirects` is off, as Go's client does: 307 and 308 repeat
    /// the request, the others turn it into a body-less GET. Credentials
    /// (basic auth, `authorization`, the OAuth2 token, secret and file
    /// `http_headers`, user info in the URL) go only to the origin
    /// (scheme, host and port) of `req.url`.
    pub async fn send(&self, req: Request) -> Result<Response, Error> {
        let context = format!("{} {}", req.method, origin(&req.url));
        let timeout = req.timeout;
        match tokio::time::timeout(timeout, self.exchange(req)).await {
            Ok(r) => r,
            Err(_) => Err(Error::new(ErrorKind::Timeout(timeout)).at(|| context)),
        }
    }

    async fn exchange(&self, req: Request) -> Result<Response, Error> {
        let mut url = Url::parse(&req.url).map_err(|e| {
            Error::new(ErrorKind::Url(format!("invalid URL: {e}")))
                .at(|| format!("{} {}", req.method, origin(&req.url)))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::new(ErrorKind::Url(format!(
                "unsupported protocol scheme {:?}",
                url.scheme()
            )))
            .at(|| format!("{} {}", req.method, origin_of(&url))));
        }
        // User info in the URL stands for basic auth when nothing else
        // is configured (Go's client does the same).
        let userinfo = (!url.username().is_empty()).then(|| {
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            let user = dec(url.username());
            let pass = dec(url.password().unwrap_or(""));
            Secret::new(format!("{user}:{pass}"))
        });
        let _ = url.set_username("");
        let _ = url.set_password(None);
        let home = url.origin();
        let mut extra = HeaderMap::new();
        for (k, v) in &req.headers {
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|e| {
                Error::new(ErrorKind::Url(format!("header {k:?}: {e}")))
                    .at(|| format!("{} {}", req.method, origin_of(&url)))
            })?;
            let value = HeaderValue::from_str(v).map_err(|_| {
                Error::new(ErrorKind::Url(format!("header {k:?}: invalid value")))
                    .at(|| format!("{} {}", req.method, origin_of(&url)))
            })?;
            extra.append(name, value);
        }
        let mut method = req.method.clone();
        let mut body = req.body.clone();
        for hop in 0..=MAX_REDIRECTS {
            let at = || format!("{method} {}", origin_of(&url));
            let own = url.origin() == home;
            let mut headers = HeaderMap::new();
            self.configured_headers(own, userinfo.as_ref(), &mut headers)
                .await
                .map_err(|e| e.at(at))?;
            for (k, v) in &extra {
                if !own && is_sensitive(k) {
                    continue;
                }
                headers.append(k.clone(), v.clone());
            }
            let send_body = (!body.is_empty()
                || matches!(method, Method::POST | Method::PUT | Method::PATCH))
            .then(|| body.clone());
            let mut resp = self
                .inner
                .http
                .send(method.clone(), &url, headers, send_body)
                .await
                .map_err(|e| Error::new(ErrorKind::Transport(e)).at(at))?;
            let status = resp.status;
            let location = resp
                .headers
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            if let (true, 301 | 302 | 303 | 307 | 308, Some(loc)) =
                (self.inner.follow_redirects, status.as_u16(), location)
            {
                if hop == MAX_REDIRECTS {
                    return Err(Error::new(ErrorKind::TooManyRedirects).at(at));
                }
                let next = url.join(&loc).map_err(|e| {
                    Error::new(ErrorKind::Url(format!("redirect to an invalid URL: {e}"))).at(at)
                })?;
                if !matches!(next.scheme(), "http" | "https") {
                    return Err(Error::new(ErrorKind::Url(format!(
                        "redirect to unsupported protocol scheme {:?}",
                        next.scheme()
                    )))
                    .at(at));
                }
                if !matches!(status.as_u16(), 307 | 308) && method != Method::HEAD {
                    method = Method::GET;
                    body = Bytes::new();
                    extra.remove(reqwest::header::CONTENT_TYPE);
                }
                url = next;
                continue;
            }
            let bytes = read_body(&mut resp, req.body_limit)
                .await
                .map_err(|e| e.at(at))?;
            return Ok(Response {
                status,
                headers: resp.headers,
                body: bytes,
                url,
            });
        }
        // The loop returns on its last turn.
        Err(Error::new(ErrorKind::TooManyRedirects))
    }

    /// The configuration's `Authorization` and `http_headers`; with
    /// `own` false (another origin) only the plain header values.
    async fn configured_headers(
        &self,
        own: bool,
        userinfo: Option<&Secret>,
        out: &mut HeaderMap,
    ) -> Result<(), Error> {
        let value = |s: &str| {
            HeaderValue::from_str(s)
                .map(|mut v| {
                    v.set_sensitive(true);
                    v
                })
                .map_err(|_| Error::config("a credential holds characters a header cannot carry"))
        };
        for h in &self.inner.headers {
            match h {
                ConfigHeader::Value(n, v) => {
                    out.append(n.clone(), value(v)?);
                }
                ConfigHeader::Secret(n, s) if own => {
                    out.append(n.clone(), value(s.read()?.expose())?);
                }
                ConfigHeader::Secret(..) => {}
            }
        }
        if !own {
            return Ok(());
        }
        let auth = match &self.inner.auth {
            Some(Auth::Basic { username, password }) => Some(basic(&Secret::new(format!(
                "{}:{}",
                username.read()?.expose(),
                password.read()?.expose()
            )))),
            Some(Auth::Scheme {
                scheme,
                credentials,
            }) => Some(format!("{scheme} {}", credentials.read()?.expose())),
            Some(Auth::OAuth2(t)) => Some(t.header().await?.expose().to_string()),
            None => userinfo.map(basic),
        };
        if let Some(a) = auth {
            out.insert(reqwest::header::AUTHORIZATION, value(&a)?);
        }
        Ok(())
    }
}

pub(crate) fn basic(userpass: &Secret) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(userpass.expose())
    )
}

/// Headers Go's client drops on a redirect to another host.
fn is_sensitive(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "authorization" | "www-authenticate" | "cookie" | "cookie2" | "proxy-authorization"
    )
}

/// The body, at most `limit` bytes.
pub(crate) async fn read_body(resp: &mut Reply, limit: u64) -> Result<Bytes, Error> {
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(Error::new(ErrorKind::BodyTooLarge(limit)));
    }
    // Room for the whole body the server announces (within the limit, and
    // at most 64 MiB up front), so that it is not copied as it grows.
    let announced = resp.content_length().unwrap_or(0).min(limit).min(64 << 20);
    let mut buf = BytesMut::with_capacity(announced as usize);
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| Error::new(ErrorKind::Transport(format!("read body: {e}"))))?
    {
        if buf.len() as u64 + chunk.len() as u64 > limit {
            return Err(Error::new(ErrorKind::BodyTooLarge(limit)));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_keep_no_secret() {
        for (url, want) in [
            (
                "https://u:pw@hook.example:8443/T/B/X?k=v",
                "https://hook.example:8443",
            ),
            ("http://127.0.0.1:9090/metrics", "http://127.0.0.1:9090"),
            ("http://[::1]:80/x", "http://[::1]"),
            ("not a url", "<invalid URL>"),
        ] {
            assert_eq!(origin(url), want, "input {url:?}");
        }
    }
}
