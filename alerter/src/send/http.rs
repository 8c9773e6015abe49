//! The HTTP side of notifications: one [`httpclient::Client`] per
//! `http_config` (credentials, TLS, proxy, OAuth2, redirects and body
//! limits are all the client's), and upstream's default retry rule (5xx
//! and transport errors retry).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use httpclient::{ErrorKind, HttpConfig, Method, Request};

use crate::notify::SendError;

/// Most bytes of a receiver's answer read. Answers are short
/// acknowledgements (`ok`, a small JSON object); more is refused, and
/// retried, rather than held in memory.
pub const ANSWER_LIMIT: u64 = 1 << 20;

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

    /// `unexpected status code 503: <first bytes of the body>`.
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

/// A failed exchange as a notification error: timeouts, broken
/// connections, failed OAuth2 token requests and answers over
/// [`ANSWER_LIMIT`] may pass on a later try; a bad URL, configuration or
/// unreadable credential file, or a redirect loop, will not. The text
/// names the method and origin only (httpclient keeps paths, which often
/// hold a token, out of it).
fn send_error(e: httpclient::Error) -> SendError {
    let retry = e.is_retryable() || matches!(e.kind(), ErrorKind::BodyTooLarge(_));
    SendError {
        message: e.to_string(),
        retry,
    }
}

/// Clients, one per `http_config`, built when first needed and kept for
/// the life of the configuration (a reload makes a new [`super::Sender`]).
#[derive(Default)]
pub struct Clients {
    by_config: Mutex<HashMap<HttpConfig, httpclient::Client>>,
}

impl Clients {
    fn client(&self, cfg: Option<&HttpConfig>) -> Result<httpclient::Client, SendError> {
        let default = HttpConfig::default();
        let cfg = cfg.unwrap_or(&default);
        // A poisoned lock only means another send panicked while
        // inserting; the map itself is still whole.
        let mut map = self.by_config.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = map.get(cfg) {
            return Ok(c.clone());
        }
        let c = httpclient::Client::new(cfg)
            .map_err(|e| SendError::fatal(format!("http_config: {e}")))?;
        map.insert(cfg.clone(), c.clone());
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
        self.request(
            Method::POST,
            cfg,
            url,
            "application/json",
            extra,
            body,
            timeout,
        )
        .await
    }

    /// Any request, through the configuration's client: redirects,
    /// credentials (only to the URL's own origin), the timeout over the
    /// whole exchange and the answer's size limit are the client's.
    #[allow(clippy::too_many_arguments)]
    pub async fn request(
        &self,
        method: Method,
        cfg: Option<&HttpConfig>,
        url: &str,
        content_type: &str,
        extra: &[(&str, String)],
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Response, SendError> {
        let client = self.client(cfg)?;
        let mut req = Request::new(method, url)
            .timeout(timeout)
            .body_limit(ANSWER_LIMIT);
        if !body.is_empty() {
            req = req.header("content-type", content_type).body(body);
        }
        for (k, v) in extra {
            req = req.header(*k, v.clone());
        }
        let resp = client.send(req).await.map_err(send_error)?;
        Ok(Response {
            status: resp.status.as_u16(),
            body: resp.body.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_retry_as_upstream() {
        // (URL, timeout, want retry): a refused connection is transient,
        // a URL that cannot be used is not.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed = format!("http://{}/hook", listener.local_addr().unwrap());
        drop(listener);
        let clients = Clients::default();
        for (url, want) in [
            (closed.as_str(), true),
            ("ftp://127.0.0.1/hook", false),
            ("not a url", false),
        ] {
            let got = rt
                .block_on(clients.post(None, url, &[], b"{}".to_vec(), Duration::from_secs(2)))
                .map(|_| ())
                .unwrap_err();
            assert_eq!(
                got.retry, want,
                "url {url:?}: got {got:?}, want retry {want}"
            );
        }
    }
}
