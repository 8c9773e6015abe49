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

fn fail(message: String) -> SendError {
    SendError {
        message,
        retry: false,
    }
}

impl Clients {
    fn client(&self, tls: Option<&TlsConfig>) -> Result<HttpsClient, SendError> {
        let key = format!("{tls:?}");
        let mut map = self.by_tls.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = map.get(&key) {
            return Ok(c.clone());
        }
        let connector = model::tls::connector(tls.map(options).as_ref())
            .map_err(|e| fail(format!("tls_config: {e}")))?;
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
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(url)
            .header("content-type", content_type)
            .header(
                "user-agent",
                concat!("Watchfire/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(c) = cfg {
            if let Some(v) = authorization(c)? {
                req = req.header("authorization", v);
            }
            for (name, h) in &c.http_headers {
                for v in &h.values {
                    req = req.header(name.as_str(), v.as_str());
                }
                for v in &h.secrets {
                    req = req.header(name.as_str(), v.as_str());
                }
                for f in &h.files {
                    req = req.header(name.as_str(), secret_or_file("", f)?);
                }
            }
        }
        for (k, v) in extra {
            req = req.header(*k, v.as_str());
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| fail(format!("bad request to {}: {e}", redact(url))))?;
        let resp = tokio::time::timeout(timeout, async {
            let resp = client.request(req).await.map_err(|e| SendError {
                message: format!("{method} {}: {}", redact(url), model::error_chain(&e)),
                retry: true,
            })?;
            let status = resp.status().as_u16();
            let body = resp
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes().to_vec())
                .unwrap_or_default();
            Ok::<_, SendError>(Response { status, body })
        })
        .await
        .map_err(|_| SendError {
            message: format!("{method} {}: timed out after {timeout:?}", redact(url)),
            retry: true,
        })??;
        Ok(resp)
    }
}

/// The `Authorization` header `http_config` asks for.
fn authorization(c: &HttpConfig) -> Result<Option<String>, SendError> {
    use base64::Engine;
    let encode = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
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
        Ok(u) => format!(
            "{}://{}/<redacted>",
            u.scheme_str().unwrap_or("http"),
            u.authority().map(|a| a.as_str()).unwrap_or("")
        ),
        Err(_) => "<redacted URL>".into(),
    }
}
