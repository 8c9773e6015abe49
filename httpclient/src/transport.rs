//! How a request reaches the network.
//!
//! Without a proxy, requests go through hyper-util's pooled client over a
//! connector of our own, whose connections hand hyper less than 8 KiB a
//! read ([`READ_CHUNK`]). hyper grows a connection's read buffer
//! whenever a read fills it, and keeps that buffer while the connection
//! waits in the pool; a kept-alive scrape connection to a target with a
//! thousand series would hold 128 KiB or more between scrapes, which at
//! a hundred thousand series is more memory than the series' samples.
//! With smaller reads the buffer stays at hyper's initial 8 KiB, and it
//! still grows as far as a long response head needs.
//!
//! Through a proxy (`proxy_url`, `proxy_from_environment`), requests go
//! through reqwest, which implements HTTP proxies and `CONNECT` tunnels
//! with their `no_proxy` rules and connect headers.

use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::rt::{Read, ReadBuf, ReadBufCursor, Write};
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, USER_AGENT};
use reqwest::{Method, StatusCode};
use tokio::net::TcpStream;
use url::Url;

/// The most bytes a pooled connection reads at a time: one below hyper's
/// initial read size of 8 KiB. hyper doubles its read buffer only after
/// a read that fills it, so the buffer stays at 8 KiB.
pub(crate) const READ_CHUNK: usize = 8 * 1024 - 1;

/// How long an idle connection stays pooled: upstream's 5 minutes, above
/// any sane scrape interval.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

type Stream = MaybeHttpsStream<TokioIo<TcpStream>>;
type Pooled = hyper_util::client::legacy::Client<SmallReads, Full<Bytes>>;

/// Where requests go: straight to the server, or through reqwest when a
/// proxy may be in the way.
#[derive(Clone)]
pub(crate) enum Transport {
    Direct(Box<Pooled>),
    Proxied(reqwest::Client),
}

impl Transport {
    /// A direct transport with `tls` for `https` URLs; its ALPN list says
    /// whether HTTP/2 may be spoken.
    pub(crate) fn direct(tls: rustls::ClientConfig) -> Transport {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        let https = HttpsConnector::new(
            http,
            Arc::new(tls),
            false,
            Arc::new(hyper_rustls::DefaultServerNameResolver::default()),
        );
        let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_idle_timeout(IDLE_TIMEOUT)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(SmallReads { inner: https });
        Transport::Direct(Box::new(client))
    }

    /// Sends one request (no redirects followed) and returns the answer's
    /// head, with its body still to read.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &Url,
        mut headers: HeaderMap,
        body: Option<Bytes>,
    ) -> Result<Reply, String> {
        match self {
            Transport::Direct(client) => {
                if !headers.contains_key(USER_AGENT) {
                    headers.insert(USER_AGENT, HeaderValue::from_static(crate::USER_AGENT));
                }
                if !headers.contains_key(ACCEPT) {
                    headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
                }
                let mut req = hyper::Request::new(Full::new(body.unwrap_or_default()));
                *req.method_mut() = method;
                *req.uri_mut() = url
                    .as_str()
                    .parse()
                    .map_err(|e| format!("invalid URL: {e}"))?;
                *req.headers_mut() = headers;
                let resp = client
                    .request(req)
                    .await
                    .map_err(|e| model::error_chain(&e))?;
                let (head, body) = resp.into_parts();
                Ok(Reply {
                    status: head.status,
                    headers: head.headers,
                    body: ReplyBody::Direct(body),
                })
            }
            Transport::Proxied(client) => {
                let mut rb = client.request(method, url.clone()).headers(headers);
                if let Some(b) = body {
                    rb = rb.body(b);
                }
                let resp = rb
                    .send()
                    .await
                    .map_err(|e| model::error_chain(&e.without_url()))?;
                Ok(Reply::from(resp))
            }
        }
    }
}

/// An answer's head and its body, read chunk by chunk.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    body: ReplyBody,
}

enum ReplyBody {
    Direct(hyper::body::Incoming),
    Proxied(reqwest::Response),
}

impl From<reqwest::Response> for Reply {
    fn from(resp: reqwest::Response) -> Reply {
        Reply {
            status: resp.status(),
            headers: resp.headers().clone(),
            body: ReplyBody::Proxied(resp),
        }
    }
}

impl Reply {
    /// The body's length, when the server announced it.
    pub(crate) fn content_length(&self) -> Option<u64> {
        match &self.body {
            ReplyBody::Direct(b) => hyper::body::Body::size_hint(b).exact(),
            ReplyBody::Proxied(r) => r.content_length(),
        }
    }

    /// The body's next piece; `None` at its end.
    pub(crate) async fn chunk(&mut self) -> Result<Option<Bytes>, String> {
        match &mut self.body {
            ReplyBody::Direct(b) => loop {
                match b.frame().await {
                    None => return Ok(None),
                    Some(Err(e)) => return Err(model::error_chain(&e)),
                    Some(Ok(frame)) => {
                        // Trailers carry no body bytes.
                        if let Ok(data) = frame.into_data() {
                            return Ok(Some(data));
                        }
                    }
                }
            },
            ReplyBody::Proxied(r) => r
                .chunk()
                .await
                .map_err(|e| model::error_chain(&e.without_url())),
        }
    }
}

/// hyper-rustls's connector, whose connections read in small pieces.
#[derive(Clone)]
pub(crate) struct SmallReads {
    inner: HttpsConnector<HttpConnector>,
}

impl tower_service::Service<hyper::Uri> for SmallReads {
    type Response = Small;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = Pin<Box<dyn Future<Output = Result<Small, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: hyper::Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        Box::pin(async move { Ok(Small(connecting.await?)) })
    }
}

/// A connection that returns at most [`READ_CHUNK`] bytes a read.
pub(crate) struct Small(Stream);

impl Read for Small {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let mut room = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
        let n = buf.remaining().min(READ_CHUNK);
        let mut small = ReadBuf::uninit(&mut room[..n]);
        ready!(Pin::new(&mut self.0).poll_read(cx, small.unfilled()))?;
        buf.put_slice(small.filled());
        Poll::Ready(Ok(()))
    }
}

impl Write for Small {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }
}

impl Connection for Small {
    fn connected(&self) -> Connected {
        self.0.connected()
    }
}
