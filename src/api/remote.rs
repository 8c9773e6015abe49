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

/// `POST /api/v1/otlp/v1/metrics`, behind `--web.enable-otlp-receiver`:
/// OTLP/HTTP metrics, protobuf or JSON, plain or gzip (`remote::otlp`).
/// Data points that cannot be stored are named in `partial_success`, with
/// 200, as the OTLP specification asks; an undecodable body gets 400.
pub async fn otlp(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    if !st.otlp_receiver {
        return text(
            StatusCode::NOT_FOUND,
            "otlp receiver needs to be enabled with --web.enable-otlp-receiver".into(),
        );
    }
    let get = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    };
    let ctype = get(header::CONTENT_TYPE);
    let json = match ctype.split(';').next().unwrap_or("").trim() {
        "application/x-protobuf" | "" => false,
        "application/json" => true,
        other => {
            return text(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("unsupported content type {other:?}: OTLP/HTTP is application/x-protobuf or application/json"),
            )
        }
    };
    let raw = match get(header::CONTENT_ENCODING).as_str() {
        "" | "identity" => body.to_vec(),
        "gzip" => {
            use std::io::Read;
            let mut out = Vec::new();
            let limited = flate2::read::GzDecoder::new(&body[..])
                .take(remote::receive::MAX_DECODED_BYTES as u64 + 1);
            if let Err(e) = std::io::BufReader::new(limited).read_to_end(&mut out) {
                return text(StatusCode::BAD_REQUEST, format!("gzip: {e}"));
            }
            if out.len() > remote::receive::MAX_DECODED_BYTES {
                return text(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "decoded size is over the limit of {} bytes",
                        remote::receive::MAX_DECODED_BYTES
                    ),
                );
            }
            out
        }
        other => {
            return text(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("unsupported content encoding {other:?}: plain or gzip"),
            )
        }
    };
    let req = if json {
        remote::otlp::decode_json(&raw)
    } else {
        remote::otlp::decode_protobuf(&raw)
    };
    let req = match req {
        Ok(r) => r,
        Err(e) => return text(StatusCode::BAD_REQUEST, e),
    };
    let settings = st
        .config
        .read()
        .config
        .otlp
        .as_ref()
        .map(remote::otlp::Settings::from_config)
        .unwrap_or_default();
    let store = st.store.clone();
    let done = tokio::task::spawn_blocking(move || {
        let mut t = remote::otlp::translate(&req, &settings);
        let mut app = model::Appendable::appender(&*store);
        for (l, ts, v) in &t.samples {
            app.append(l, *ts, *v)?;
        }
        let sum = app.commit()?;
        if sum.rejected() > 0 {
            t.rejected += sum.rejected() as i64;
            t.errors.push(format!(
                "{} samples out of order (outside storage.tsdb.out_of_order_time_window, if set) or with a new value at a stored timestamp",
                sum.rejected()
            ));
        }
        Ok::<_, model::StorageError>((sum.appended, t.rejected, t.errors))
    })
    .await;
    let (stored, rejected, errors) = match done {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "storing OTLP metrics failed");
            return text(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
        }
        Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    st.otlp_metrics.record(stored, rejected);
    let message = errors.join("; ");
    if rejected > 0 {
        tracing::warn!(rejected, %message, "OTLP data points refused");
    }
    let partial = (rejected > 0).then(|| remote::otlp::PartialSuccess {
        rejected_data_points: rejected,
        error_message: message.clone(),
    });
    if json {
        let body = match &partial {
            Some(p) => {
                serde_json::json!({"partialSuccess": {"rejectedDataPoints": p.rejected_data_points.to_string(), "errorMessage": p.error_message}})
            }
            None => serde_json::json!({}),
        };
        return axum::Json(body).into_response();
    }
    let resp = remote::otlp::ExportResponse {
        partial_success: partial,
    };
    (
        [(header::CONTENT_TYPE, "application/x-protobuf")],
        prost::Message::encode_to_vec(&resp),
    )
        .into_response()
}

/// The OTLP receiver's counters.
#[derive(Default)]
pub struct OtlpMetrics {
    samples: model::metrics::Counter,
    rejected: model::metrics::Counter,
}

impl OtlpMetrics {
    fn record(&self, stored: usize, rejected: i64) {
        self.samples.add(stored as u64);
        self.rejected.add(rejected.max(0) as u64);
    }
}

impl model::metrics::Collect for OtlpMetrics {
    fn collect(&self, e: &mut model::metrics::Encoder) {
        e.counter(
            "watchfire_otlp_receiver_samples_total",
            "Samples received over OTLP and stored.",
        )
        .sample(&[], self.samples.get() as f64);
        e.counter(
            "watchfire_otlp_receiver_rejected_data_points_total",
            "OTLP data points refused (delta temporality, exponential histograms, out of order), as reported in partial_success.",
        )
        .sample(&[], self.rejected.get() as f64);
    }
}
