//! OAuth2 client credentials (RFC 6749 section 4.4), as upstream gets
//! them through `golang.org/x/oauth2/clientcredentials`: the client id
//! and secret in a basic `Authorization` header, `scope` and
//! `endpoint_params` in the form, the token cached until 10 s before it
//! expires (the library's `expiryDelta`), and fetched anew when the
//! secret file changes.

use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::client::{basic, build_http, origin, read_body, Source};
use crate::config::OAuth2Config;
use crate::error::{Error, ErrorKind};
use crate::secret::Secret;
use crate::transport::Reply;

/// A token is renewed this long before it expires.
const EXPIRY_DELTA: Duration = Duration::from_secs(10);

/// Most bytes of a token endpoint's answer read.
const TOKEN_BODY_LIMIT: u64 = 1 << 20;

struct Cached {
    /// `Bearer <token>`.
    header: Secret,
    expires: Option<Instant>,
    /// The client secret the token was had with.
    secret: Secret,
}

/// Fetches and caches the token of one `oauth2` section.
pub(crate) struct TokenSource {
    client_id: String,
    secret: Source,
    scopes: Vec<String>,
    token_url: String,
    params: Vec<(String, String)>,
    http: reqwest::Client,
    cache: tokio::sync::Mutex<Option<Cached>>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    token_type: String,
    #[serde(default)]
    expires_in: Option<f64>,
}

fn form(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl TokenSource {
    pub(crate) fn new(cfg: &OAuth2Config) -> Result<Self, Error> {
        Ok(TokenSource {
            client_id: cfg.client_id.clone(),
            secret: if cfg.client_secret_file.is_empty() {
                Source::Inline(cfg.client_secret.clone())
            } else {
                Source::File("client_secret_file", cfg.client_secret_file.clone())
            },
            scopes: cfg.scopes.clone(),
            token_url: cfg.token_url.clone(),
            params: cfg
                .endpoint_params
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            http: build_http(cfg.tls_config.as_ref(), &cfg.proxy(), true)?,
            cache: tokio::sync::Mutex::new(None),
        })
    }

    /// The `Authorization` value to send: the cached token while it is
    /// fresh, else a new one.
    pub(crate) async fn header(&self) -> Result<Secret, Error> {
        let secret = self.secret.read()?;
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_ref() {
            let fresh = c.expires.is_none_or(|e| Instant::now() + EXPIRY_DELTA < e);
            if fresh && c.secret == secret {
                return Ok(c.header.clone());
            }
        }
        let fetched = self.fetch(&secret).await?;
        let header = fetched.header.clone();
        *cache = Some(fetched);
        Ok(header)
    }

    async fn fetch(&self, secret: &Secret) -> Result<Cached, Error> {
        let at = || format!("POST {}", origin(&self.token_url));
        let mut body = String::from("grant_type=client_credentials");
        if !self.scopes.is_empty() {
            body.push_str("&scope=");
            body.push_str(&form(&self.scopes.join(" ")));
        }
        for (k, v) in &self.params {
            body.push_str(&format!("&{}={}", form(k), form(v)));
        }
        // RFC 6749 2.3.1: id and secret are form-encoded, then joined.
        let id = basic(&Secret::new(format!(
            "{}:{}",
            form(&self.client_id),
            form(secret.expose())
        )));
        let mut auth = reqwest::header::HeaderValue::from_str(&id)
            .map_err(|_| token_error("client credentials cannot be sent in a header").at(at))?;
        auth.set_sensitive(true);
        let started = Instant::now();
        let resp = self
            .http
            .post(&self.token_url)
            .header(reqwest::header::AUTHORIZATION, auth)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| {
                token_error(format!(
                    "cannot fetch token: {}",
                    model::error_chain(&e.without_url())
                ))
                .at(at)
            })?;
        let mut resp = Reply::from(resp);
        let status = resp.status;
        let bytes = read_body(&mut resp, TOKEN_BODY_LIMIT)
            .await
            .map_err(|e| e.at(at))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(256)])
                .trim()
                .to_string();
            return Err(token_error(format!("cannot fetch token: {status}: {text}")).at(at));
        }
        let t: TokenAnswer = serde_json::from_slice(&bytes)
            .map_err(|e| token_error(format!("cannot read token answer: {e}")).at(at))?;
        if t.access_token.is_empty() {
            return Err(token_error("server response missing access_token").at(at));
        }
        // Go's oauth2 `Token.Type` normalises the case of the usual ones.
        let kind = match t.token_type.to_ascii_lowercase().as_str() {
            "" | "bearer" => "Bearer".to_string(),
            "mac" => "MAC".to_string(),
            "basic" => "Basic".to_string(),
            _ => t.token_type.clone(),
        };
        let expires = t
            .expires_in
            .filter(|s| *s > 0.0 && s.is_finite())
            .map(|s| started + Duration::from_secs_f64(s.min(1e9)));
        Ok(Cached {
            header: Secret::new(format!("{kind} {}", t.access_token)),
            expires,
            secret: secret.clone(),
        })
    }
}

fn token_error(m: impl Into<String>) -> Error {
    Error::new(ErrorKind::Token(m.into()))
}
