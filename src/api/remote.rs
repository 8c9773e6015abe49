//! Remote write receiver (`POST /api/v1/write`), behind
//! `--web.enable-remote-write-receiver` as in Prometheus. What each
//! request gets is in `remote::receive`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::server::AppState;

/// Largest request body taken (compressed); the decoded size is capped
/// separately before decompression.
pub const MAX_BODY: usize = 32 << 20;

fn text(code: StatusCode, msg: String) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        msg + "\n",
    )
        .into_response()
}

/// `POST /api/v1/write`.
pub async fn write(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    if !st.remote_write_receiver {
        return text(
            StatusCode::NOT_FOUND,
            "remote write receiver needs to be enabled with --web.enable-remote-write-receiver"
                .into(),
        );
    }
    let m = &st.remote_receiver;
    let header = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    // Remote write 1.0: protobuf with snappy. An absent header is taken as
    // 1.0, as upstream does.
    let ctype = header(header::CONTENT_TYPE);
    let base = ctype.split(';').next().unwrap_or("").trim().to_string();
    if !ctype.is_empty() && base != "application/x-protobuf" {
        m.requests_bad.inc();
        return text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "unsupported content type {ctype:?}; remote write 1.0 is application/x-protobuf"
            ),
        );
    }
    if let Some(proto) = ctype
        .split(';')
        .skip(1)
        .filter_map(|p| p.trim().strip_prefix("proto="))
        .next()
    {
        if proto != config::remote::PROTO_V1.to_ascii_lowercase() {
            m.requests_bad.inc();
            return text(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "unsupported proto {proto:?}: only remote write 1.0 ({}) is accepted",
                    config::remote::PROTO_V1
                ),
            );
        }
    }
    let enc = header(header::CONTENT_ENCODING);
    if !enc.is_empty() && enc != "snappy" {
        m.requests_bad.inc();
        return text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("unsupported content encoding {enc:?}; remote write 1.0 is snappy"),
        );
    }
    let req = match remote::receive::decode_write(&body) {
        Ok(r) => r,
        Err(e) => {
            m.requests_bad.inc();
            tracing::warn!(error = %e, "remote write request refused");
            return text(StatusCode::BAD_REQUEST, e.to_string());
        }
    };
    let store = st.store.clone();
    let out = tokio::task::spawn_blocking(move || remote::receive::append(&*store, &req)).await;
    match out {
        Ok(Ok(o)) => {
            m.record(&o);
            match o.refusal() {
                Some(reason) => {
                    m.requests_bad.inc();
                    tracing::warn!(%reason, stored = o.appended, "remote write request refused in part");
                    text(StatusCode::BAD_REQUEST, reason)
                }
                None => {
                    m.requests_ok.inc();
                    StatusCode::NO_CONTENT.into_response()
                }
            }
        }
        Ok(Err(e)) => {
            m.requests_failed.inc();
            tracing::error!(error = %e, "storing a remote write request failed");
            text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
        Err(e) => {
            m.requests_failed.inc();
            text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
    }
}

/// `POST /api/v1/read`: remote read, samples or streamed XOR chunks as
/// the client accepts (`remote::read`).
pub async fn read(State(st): State<Arc<AppState>>, body: Bytes) -> Response {
    let req = match remote::read::decode_read(&body) {
        Ok(r) => r,
        Err(e) => return text(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let Ok(_permit) = st.remote_reads.acquire().await else {
        return text(StatusCode::SERVICE_UNAVAILABLE, "shutting down".into());
    };
    let external = st.config.read().config.global.external_labels.clone();
    let store = st.store.clone();
    if remote::read::wants_stream(&req) {
        let max_frame = st.remote_read_limits.max_frame_bytes;
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
        let producer = tokio::task::spawn_blocking(move || {
            let mut send = |frame: Vec<u8>| tx.blocking_send(Ok(frame)).is_ok();
            if let Err(e) = remote::read::stream(&*store, &req, &external, max_frame, &mut send) {
                // The status is sent already; ending the stream with an
                // error tells the client it is incomplete.
                tracing::error!(error = %e, "remote read failed mid-stream");
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
            }
        });
        drop(producer);
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        return (
            [(header::CONTENT_TYPE, remote::read::STREAMED_CONTENT_TYPE)],
            axum::body::Body::from_stream(stream),
        )
            .into_response();
    }
    let limit = st.remote_read_limits.sample_limit;
    let out =
        tokio::task::spawn_blocking(move || remote::read::samples(&*store, &req, &external, limit))
            .await;
    match out {
        Ok(Ok(body)) => (
            [
                (header::CONTENT_TYPE, "application/x-protobuf"),
                (header::CONTENT_ENCODING, "snappy"),
            ],
            body,
        )
            .into_response(),
        Ok(Err(remote::read::ReadError::BadRequest(m))) => text(StatusCode::BAD_REQUEST, m),
        Ok(Err(e)) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `--storage.remote.read-*`.
#[derive(Debug, Clone, Copy)]
pub struct ReadLimits {
    pub sample_limit: usize,
    pub max_frame_bytes: usize,
}
