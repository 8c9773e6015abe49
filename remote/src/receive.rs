//! The remote write receiver's logic (`POST /api/v1/write`): decode a 1.0
//! request and append its samples. HTTP is the server's job.
//!
//! What a request gets:
//!
//! | request | answer | stored |
//! |---|---|---|
//! | body is not snappy block format, or decodes past the size cap | 400 | nothing |
//! | snappy is fine but the protobuf is not a `WriteRequest` | 400 | nothing |
//! | a series with unsorted or repeated label names, an empty name, no `__name__`, or native histograms | 400 naming the first such series and the count | the other series |
//! | samples older than their series' newest (out of order), or a new value at a stored timestamp | 400 naming how many | every other sample |
//! | all well | 204 | everything |
//!
//! Prometheus (3.x) skips invalid series and answers 204; it answers 400
//! for out-of-order samples but rolls the whole request back. Watchfire
//! answers 400 in both cases, so the sender knows and does not retry, and
//! keeps every valid sample of the request, so nothing valid is lost
//! between a sender that does not retry a 400 and a receiver that dropped
//! it. An exact repeat of a stored sample (a sender resending after a
//! restart) is not an error. Exemplars are counted and dropped: Watchfire
//! keeps none.

use model::{Appendable, Labels};
use prost::Message;

use crate::proto::WriteRequest;

/// Largest decoded (uncompressed) request accepted; checked from the
/// snappy header before anything is decompressed. Prometheus's sender
/// stays far below it (2,000 samples a request by default).
pub const MAX_DECODED_BYTES: usize = 64 << 20;

/// Why a request was refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Not snappy block format, or its header says it decodes too large.
    Snappy(String),
    /// Not a `WriteRequest`.
    Protobuf(String),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Snappy(e) => write!(f, "snappy: {e}"),
            DecodeError::Protobuf(e) => write!(f, "protobuf: {e}"),
        }
    }
}

/// Decompresses a snappy block-format body, refusing one whose header
/// says it decodes to more than `max` bytes.
pub fn unsnappy(body: &[u8], max: usize) -> Result<Vec<u8>, DecodeError> {
    let len = snap::raw::decompress_len(body).map_err(|e| DecodeError::Snappy(e.to_string()))?;
    if len > max {
        return Err(DecodeError::Snappy(format!(
            "decoded size {len} bytes is over the limit of {max}"
        )));
    }
    snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| DecodeError::Snappy(e.to_string()))
}

/// Compresses in snappy block format.
pub fn snappy(raw: &[u8]) -> Vec<u8> {
    // Only fails for inputs over 4 GiB, which no request comes near.
    snap::raw::Encoder::new()
        .compress_vec(raw)
        .unwrap_or_default()
}

/// Decodes a remote write 1.0 body: snappy block format, then protobuf.
pub fn decode_write(body: &[u8]) -> Result<WriteRequest, DecodeError> {
    let raw = unsnappy(body, MAX_DECODED_BYTES)?;
    WriteRequest::decode(raw.as_slice()).map_err(|e| DecodeError::Protobuf(e.to_string()))
}

/// What one request did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Samples stored.
    pub appended: usize,
    /// Series refused, and the first one's reason.
    pub invalid_series: usize,
    pub first_invalid: Option<String>,
    /// Samples out of order or at a stored timestamp with another value.
    pub out_of_order: usize,
    pub duplicate: usize,
    /// Exemplars dropped (Watchfire keeps none).
    pub exemplars: usize,
}

impl Outcome {
    /// The reason to answer 400, or `None` for 204.
    pub fn refusal(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(first) = &self.first_invalid {
            parts.push(format!(
                "{} invalid series not stored, the first: {first}",
                self.invalid_series
            ));
        }
        if self.out_of_order > 0 {
            parts.push(format!(
                "out of order sample: {} samples older than their series' newest (and outside storage.tsdb.out_of_order_time_window, if set) not stored",
                self.out_of_order
            ));
        }
        if self.duplicate > 0 {
            parts.push(format!(
                "duplicate sample for timestamp: {} samples with a new value at a stored timestamp not stored",
                self.duplicate
            ));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// Why a series is refused, or its labels.
fn series_labels(ts: &crate::proto::TimeSeries) -> Result<Labels, String> {
    let mut prev: Option<&str> = None;
    for l in &ts.labels {
        if l.name.is_empty() {
            return Err("empty label name".into());
        }
        if let Some(p) = prev {
            if p == l.name {
                return Err(format!("duplicate label name {:?}", l.name));
            }
            if p > l.name.as_str() {
                return Err(format!(
                    "labels not sorted by name ({:?} before {:?})",
                    p, l.name
                ));
            }
        }
        prev = Some(&l.name);
    }
    if !ts.histograms.is_empty() {
        return Err("native histograms are not supported".into());
    }
    let labels = Labels::from_pairs(
        ts.labels
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str())),
    );
    if labels.get("__name__").is_none() {
        return Err("no metric name (__name__)".into());
    }
    Ok(labels)
}

/// A series as text for error messages: its pairs as sent.
fn describe(ts: &crate::proto::TimeSeries) -> String {
    let pairs: Vec<String> = ts
        .labels
        .iter()
        .map(|l| format!("{:?}={:?}", l.name, l.value))
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

/// Appends the samples of every valid series of `req` in one commit.
/// Invalid series are skipped and reported; a storage failure is an
/// error (the server answers 500 and the sender retries).
pub fn append(store: &dyn Appendable, req: &WriteRequest) -> Result<Outcome, model::StorageError> {
    let mut out = Outcome::default();
    let mut app = store.appender();
    for ts in &req.timeseries {
        out.exemplars += ts.exemplars.len();
        let labels = match series_labels(ts) {
            Ok(l) => l,
            Err(reason) => {
                out.invalid_series += 1;
                if out.first_invalid.is_none() {
                    out.first_invalid = Some(format!("{}: {reason}", describe(ts)));
                }
                continue;
            }
        };
        for s in &ts.samples {
            app.append(&labels, s.timestamp, s.value)?;
        }
    }
    let sum = app.commit()?;
    out.appended = sum.appended;
    out.out_of_order = sum.out_of_order;
    out.duplicate = sum.duplicate;
    Ok(out)
}

/// The receiver's counters, for `/metrics`.
#[derive(Default)]
pub struct Metrics {
    pub requests_ok: model::metrics::Counter,
    pub requests_bad: model::metrics::Counter,
    pub requests_failed: model::metrics::Counter,
    pub samples: model::metrics::Counter,
    pub invalid_series: model::metrics::Counter,
    pub out_of_order: model::metrics::Counter,
    pub duplicate: model::metrics::Counter,
    pub exemplars: model::metrics::Counter,
}

impl Metrics {
    /// Counts one request's outcome.
    pub fn record(&self, o: &Outcome) {
        self.samples.add(o.appended as u64);
        self.invalid_series.add(o.invalid_series as u64);
        self.out_of_order.add(o.out_of_order as u64);
        self.duplicate.add(o.duplicate as u64);
        self.exemplars.add(o.exemplars as u64);
    }
}

impl model::metrics::Collect for Metrics {
    fn collect(&self, e: &mut model::metrics::Encoder) {
        e.counter(
            "watchfire_remote_write_receiver_requests_total",
            "Remote write requests received, by answer: 204 stored, 400 refused in whole or part, 500 storage failed.",
        )
        .sample(&[("code", "204")], self.requests_ok.get() as f64)
        .sample(&[("code", "400")], self.requests_bad.get() as f64)
        .sample(&[("code", "500")], self.requests_failed.get() as f64);
        e.counter(
            "watchfire_remote_write_receiver_samples_total",
            "Samples received by remote write and stored.",
        )
        .sample(&[], self.samples.get() as f64);
        e.counter(
            "watchfire_remote_write_receiver_invalid_series_total",
            "Series refused by the remote write receiver: bad labels or native histograms.",
        )
        .sample(&[], self.invalid_series.get() as f64);
        e.counter(
            "watchfire_remote_write_receiver_samples_rejected_total",
            "Samples refused by the remote write receiver.",
        )
        .sample(
            &[("reason", "out_of_order")],
            self.out_of_order.get() as f64,
        )
        .sample(
            &[("reason", "duplicate_timestamp")],
            self.duplicate.get() as f64,
        );
        e.counter(
            "watchfire_remote_write_receiver_exemplars_dropped_total",
            "Exemplars received by remote write and dropped: Watchfire keeps none.",
        )
        .sample(&[], self.exemplars.get() as f64);
    }
}
