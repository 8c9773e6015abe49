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
