//! One HTTP GET of a target through [`httpclient`], with content
//! negotiation, gzip, a timeout and a body size limit that also bounds the
//! decompressed size (a gzip bomb stops at the limit).

use std::io::Read;
use std::time::Duration;

use httpclient::header::HeaderName;
use httpclient::{Client, HttpConfig, Request, StatusCode};

use crate::exposition::Format;

/// What Prometheus 3 sends by default: OpenMetrics preferred, the text
/// format next (see [`crate::config::accept_header`]).
pub const ACCEPT: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

/// A job's HTTP client ([`httpclient::Client`]: TLS, credentials, proxy,
/// redirects), shared by every scrape loop of the job.
#[derive(Clone)]
pub struct Fetcher {
    client: Client,
}

/// A fetched scrape body and the format its content type names.
pub struct Body {
    pub bytes: httpclient::Bytes,
    pub format: Format,
}

/// A response of any status, its body read (and unzipped) within a limit.
pub struct Response {
    pub status: StatusCode,
    pub content_type: Option<String>,
    pub bytes: httpclient::Bytes,
}

impl Fetcher {
    /// A client without credentials that checks certificates against
    /// the system's roots.
    pub fn plain() -> Result<Self, String> {
        Self::new(&HttpConfig::default())
    }

    /// A client for a job's `http_config` keys; errors name what is
    /// wrong (a file, a rule of upstream's).
    pub fn new(cfg: &HttpConfig) -> Result<Self, String> {
        Ok(Fetcher {
            client: Client::new(cfg).map_err(|e| e.to_string())?,
        })
    }

    /// GETs a scrape target with the loop's headers. `limit` of 0 means
    /// no body size limit. A status other than 200 is an error, and so is
    /// a content type that names no text format unless `fallback` (from
    /// `fallback_scrape_protocol`) says what to read instead.
    pub async fn get(
        &self,
        url: &str,
        timeout: Duration,
        limit: u64,
        headers: &[(HeaderName, String)],
        fallback: Option<&str>,
    ) -> Result<Body, String> {
        let r = self.request(url, timeout, limit, headers).await?;
        if r.status != StatusCode::OK {
            return Err(format!("server returned HTTP status {}", r.status));
        }
        let format = if r.bytes.is_empty() {
            Format::Text
        } else {
            format_of(r.content_type.as_deref(), fallback)?
        };
        Ok(Body {
            bytes: r.bytes,
            format,
        })
    }

    /// GETs `url` with extra headers, within `timeout` (the body read
    /// included), and reads the body whatever the status. A gzip body is
    /// unzipped within the same limit, so a gzip bomb stops there.
    pub async fn request(
        &self,
        url: &str,
        timeout: Duration,
        limit: u64,
        headers: &[(HeaderName, String)],
    ) -> Result<Response, String> {
        let max = if limit == 0 { u64::MAX } else { limit };
        let mut req = Request::get(url).timeout(timeout).body_limit(max);
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let resp = self.client.send(req).await.map_err(|e| e.to_string())?;
        let content_type = resp.header("content-type").map(str::to_string);
        let gzip = resp
            .header("content-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
        let bytes = if gzip {
            let mut out = Vec::new();
            let mut dec = flate2::read::GzDecoder::new(&resp.body[..]).take(max.saturating_add(1));
            dec.read_to_end(&mut out)
                .map_err(|e| format!("decompress gzip body: {e}"))?;
            if out.len() as u64 > max {
                return Err(format!(
                    "body size limit exceeded (body over {limit} bytes, decompressed)"
                ));
            }
            out.into()
        } else {
            resp.body
        };
        Ok(Response {
            status: resp.status,
            content_type,
            bytes,
        })
    }
}

/// The format a scrape's `Content-Type` names, as Prometheus 3 decides
/// it; `fallback` is a `fallback_scrape_protocol` name.
pub fn format_of(content_type: Option<&str>, fallback: Option<&str>) -> Result<Format, String> {
    let by_protocol = |p: &str| -> Result<Format, String> {
        match p {
            "OpenMetricsText0.0.1" | "OpenMetricsText1.0.0" => Ok(Format::OpenMetrics),
            "PrometheusText0.0.4" | "PrometheusText1.0.0" => Ok(Format::Text),
            other => Err(format!(
                "fallback_scrape_protocol {other} is not supported: Watchfire reads the text formats only"
            )),
        }
    };
    let fallback = fallback.filter(|f| !f.is_empty());
    let ct = content_type.map(str::trim).unwrap_or("");
    if ct.is_empty() {
        return match fallback {
            Some(f) => by_protocol(f),
            None => Err("non-compliant scrape target sending blank Content-Type and no fallback_scrape_protocol specified for target".into()),
        };
    }
    let media = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let valid = media
        .split_once('/')
        .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty() && !b.contains('/'));
    if !valid {
        return match fallback {
            Some(f) => by_protocol(f),
            None => Err(format!(
                "cannot parse Content-Type {ct:?} and no fallback_scrape_protocol for target"
            )),
        };
    }
    match media.as_str() {
        "application/openmetrics-text" => Ok(Format::OpenMetrics),
        "text/plain" => Ok(Format::Text),
        _ => match fallback {
            Some(f) => by_protocol(f),
            None => Err(format!(
                "received unsupported Content-Type {ct:?} and no fallback_scrape_protocol specified for target"
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers_like_prometheus() {
        assert_eq!(crate::config::accept_header(&[]), ACCEPT);
        let list = [
            "PrometheusText0.0.4".to_string(),
            "PrometheusProto".to_string(),
        ];
        assert_eq!(
            crate::config::accept_header(&list),
            "text/plain;version=0.0.4;q=0.6,*/*;q=0.5"
        );
    }

    #[test]
    fn content_types_like_prometheus() {
        let om = Ok(Format::OpenMetrics);
        let text = Ok(Format::Text);
        for (ct, fallback, want) in [
            (
                Some("text/plain; version=0.0.4; charset=utf-8"),
                None,
                text.clone(),
            ),
            (Some("Text/Plain"), None, text.clone()),
            (
                Some("application/openmetrics-text; version=1.0.0"),
                None,
                om.clone(),
            ),
            (None, Some("OpenMetricsText1.0.0"), om.clone()),
            (Some(" "), Some("PrometheusText0.0.4"), text.clone()),
            (
                Some("application/json"),
                Some("PrometheusText1.0.0"),
                text.clone(),
            ),
            (Some("garbage"), Some("OpenMetricsText0.0.1"), om.clone()),
        ] {
            assert_eq!(format_of(ct, fallback), want, "{ct:?} {fallback:?}");
        }
        for (ct, want) in [
            (
                None,
                "non-compliant scrape target sending blank Content-Type",
            ),
            (Some("garbage"), "cannot parse Content-Type \"garbage\""),
            (
                Some("application/json"),
                "received unsupported Content-Type \"application/json\"",
            ),
        ] {
            let e = format_of(ct, None).unwrap_err();
            assert!(e.starts_with(want), "{ct:?}: {e}");
        }
    }
}
