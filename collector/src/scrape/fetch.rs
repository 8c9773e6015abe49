//! One HTTP GET of a target, with content negotiation, gzip, a timeout and
//! a body size limit that also bounds the decompressed size (a gzip bomb
//! stops at the limit).

use std::io::Read;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;

use crate::exposition::Format;

/// What Prometheus 3 sends: OpenMetrics preferred, the text format next.
pub const ACCEPT: &str = "application/openmetrics-text;version=1.0.0;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1";

/// An HTTP client shared by every scrape loop.
#[derive(Clone)]
pub struct Fetcher {
    client: Client<HttpConnector, Empty<Bytes>>,
}

impl Default for Fetcher {
    fn default() -> Self {
        Self::new()
    }
}

/// A fetched body and the format its content type names.
pub struct Body {
    pub bytes: Vec<u8>,
    pub format: Format,
}

impl Fetcher {
    pub fn new() -> Self {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        Fetcher {
            client: Client::builder(hyper_util::rt::TokioExecutor::new()).build(http),
        }
    }

    /// GETs `url`. `limit` of 0 means no body size limit. `auth` is a
    /// ready `Authorization` header value.
    pub async fn get(
        &self,
        url: &str,
        timeout: Duration,
        limit: u64,
        auth: Option<&str>,
    ) -> Result<Body, String> {
        match tokio::time::timeout(timeout, self.get_inner(url, limit, auth)).await {
            Ok(r) => r,
            Err(_) => Err(format!("Get \"{url}\": context deadline exceeded")),
        }
    }

    async fn get_inner(&self, url: &str, limit: u64, auth: Option<&str>) -> Result<Body, String> {
        let uri: hyper::Uri = url.parse().map_err(|e| format!("bad URL {url:?}: {e}"))?;
        if uri.scheme_str() == Some("https") {
            return Err(format!(
                "Get \"{url}\": https is not supported by this build yet"
            ));
        }
        let mut req = hyper::Request::get(uri)
            .header(hyper::header::ACCEPT, ACCEPT)
            .header(hyper::header::ACCEPT_ENCODING, "gzip")
            .header(
                hyper::header::USER_AGENT,
                concat!("Watchfire/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(a) = auth {
            req = req.header(hyper::header::AUTHORIZATION, a);
        }
        let req = req.body(Empty::<Bytes>::new()).map_err(|e| e.to_string())?;
        let resp = self
            .client
            .request(req)
            .await
            .map_err(|e| format!("Get \"{url}\": {}", error_chain(&e)))?;
        let status = resp.status();
        if status != hyper::StatusCode::OK {
            return Err(format!("server returned HTTP status {status}"));
        }
        let headers = resp.headers();
        let format = match headers
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
        {
            Some(ct) if ct.starts_with("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Text,
        };
        let gzip = headers
            .get(hyper::header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
        let mut body = resp.into_body();
        let max = if limit == 0 { u64::MAX } else { limit };
        let mut raw = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("read body: {e}"))?;
            if let Some(data) = frame.data_ref() {
                if raw.len() as u64 + data.len() as u64 > max {
                    return Err(format!("body size limit exceeded ({limit} bytes)"));
                }
                raw.extend_from_slice(data);
            }
        }
        let bytes = if gzip {
            let mut out = Vec::new();
            let mut dec = flate2::read::GzDecoder::new(&raw[..]).take(max.saturating_add(1));
            dec.read_to_end(&mut out)
                .map_err(|e| format!("decompress gzip body: {e}"))?;
            if out.len() as u64 > max {
                return Err(format!(
                    "body size limit exceeded ({limit} bytes, decompressed)"
                ));
            }
            out
        } else {
            raw
        };
        Ok(Body { bytes, format })
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
