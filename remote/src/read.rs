//! The remote read server's logic (`POST /api/v1/read`), as Prometheus's
//! `storage/remote/read_handler.go`: a snappy-compressed `ReadRequest`,
//! answered either with a snappy-compressed `ReadResponse` of samples
//! (`SAMPLES`, what every client accepts) or, when the client accepts it,
//! with a stream of `ChunkedReadResponse` frames holding XOR chunks in
//! Prometheus's encoding (`STREAMED_XOR_CHUNKS`).
//!
//! External labels are handled as upstream: an equality matcher on an
//! external label with its value is dropped from the selection, and the
//! external labels are added to every series returned (a series' own
//! label of the same name wins).

use std::collections::BTreeMap;

use model::{Labels, MatchOp, Matcher, Querier};
use prost::Message;

use crate::proto;
use crate::receive::{unsnappy, DecodeError, MAX_DECODED_BYTES};

/// `ReadRequest.ResponseType`: `SAMPLES`.
pub const SAMPLES: i32 = 0;
/// `ReadRequest.ResponseType`: `STREAMED_XOR_CHUNKS`.
pub const STREAMED_XOR_CHUNKS: i32 = 1;
/// The content type of a streamed response.
pub const STREAMED_CONTENT_TYPE: &str =
    "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse";
/// Samples per chunk in a streamed response (as Prometheus's head cuts).
const CHUNK_SAMPLES: usize = 120;

/// Why a read failed.
#[derive(Debug)]
pub enum ReadError {
    /// The request is wrong (400).
    BadRequest(String),
    /// Reading the store failed (500).
    Internal(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::BadRequest(m) | ReadError::Internal(m) => f.write_str(m),
        }
    }
}

/// Decodes a remote read body: snappy block format, then protobuf.
pub fn decode_read(body: &[u8]) -> Result<proto::ReadRequest, DecodeError> {
    let raw = unsnappy(body, MAX_DECODED_BYTES)?;
    proto::ReadRequest::decode(raw.as_slice()).map_err(|e| DecodeError::Protobuf(e.to_string()))
}

/// Whether the client takes streamed chunks: upstream answers with the
/// first accepted type it supports, and samples when none is given.
pub fn wants_stream(req: &proto::ReadRequest) -> bool {
    req.accepted_response_types
        .iter()
        .find(|t| matches!(**t, SAMPLES | STREAMED_XOR_CHUNKS))
        == Some(&STREAMED_XOR_CHUNKS)
}

fn matchers(
    q: &proto::Query,
    external: &BTreeMap<String, String>,
) -> Result<Vec<Matcher>, ReadError> {
    let mut out = Vec::with_capacity(q.matchers.len());
    for m in &q.matchers {
        let op = match m.r#type {
            0 => MatchOp::Equal,
            1 => MatchOp::NotEqual,
            2 => MatchOp::RegexMatch,
            3 => MatchOp::RegexNoMatch,
            t => return Err(ReadError::BadRequest(format!("invalid matcher type {t}"))),
        };
        if op == MatchOp::Equal && external.get(&m.name) == Some(&m.value) {
            continue;
        }
        out.push(
            Matcher::new(op, m.name.clone(), m.value.clone())
                .map_err(|e| ReadError::BadRequest(e.to_string()))?,
        );
    }
    Ok(out)
}

/// A series' labels with the external labels added, as protobuf labels.
fn labels_out(l: &Labels, external: &BTreeMap<String, String>) -> Vec<proto::Label> {
    let mut all: BTreeMap<&str, &str> = external
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    for (k, v) in l.iter() {
        all.insert(k, v);
    }
    all.into_iter()
        .map(|(name, value)| proto::Label {
            name: name.to_string(),
            value: value.to_string(),
        })
        .collect()
}

/// The `SAMPLES` answer: a snappy-compressed `ReadResponse`. More than
/// `sample_limit` samples in all is an error, as upstream's
/// `--storage.remote.read-sample-limit` (0: no limit).
pub fn samples(
    q: &dyn Querier,
    req: &proto::ReadRequest,
    external: &BTreeMap<String, String>,
    sample_limit: usize,
) -> Result<Vec<u8>, ReadError> {
    let mut resp = proto::ReadResponse::default();
    let mut total = 0usize;
    for query in &req.queries {
        let ms = matchers(query, external)?;
        let set = q
            .select(&ms, query.start_timestamp_ms, query.end_timestamp_ms)
            .map_err(|e| ReadError::Internal(e.to_string()))?;
        let mut result = proto::QueryResult::default();
        for s in set {
            let s = s.map_err(|e| ReadError::Internal(e.to_string()))?;
            total += s.samples.len();
            if sample_limit > 0 && total > sample_limit {
                return Err(ReadError::BadRequest(format!(
                    "exceeded sample limit ({sample_limit})"
                )));
            }
            result.timeseries.push(proto::TimeSeries {
                labels: labels_out(&s.labels, external),
                samples: s
                    .samples
                    .iter()
                    .map(|p| proto::Sample {
                        value: p.v,
                        timestamp: p.t,
                    })
                    .collect(),
                ..Default::default()
            });
        }
        resp.results.push(result);
    }
    Ok(crate::receive::snappy(&resp.encode_to_vec()))
}

/// The `STREAMED_XOR_CHUNKS` answer, frame by frame: each frame is a
/// `ChunkedReadResponse` of whole series (a series larger than
/// `max_frame_bytes` gets frames of its own) for one query, framed as
/// upstream's `ChunkedWriter` does (the message's length as a uvarint, its
/// CRC-32C big-endian, the message). `send` returns false when the client
/// went away; reading then stops.
pub fn stream(
    q: &dyn Querier,
    req: &proto::ReadRequest,
    external: &BTreeMap<String, String>,
    max_frame_bytes: usize,
    send: &mut dyn FnMut(Vec<u8>) -> bool,
) -> Result<(), ReadError> {
    for (i, query) in req.queries.iter().enumerate() {
        let ms = matchers(query, external)?;
        let set = q
            .select(&ms, query.start_timestamp_ms, query.end_timestamp_ms)
            .map_err(|e| ReadError::Internal(e.to_string()))?;
        let mut frame = proto::ChunkedReadResponse {
            chunked_series: Vec::new(),
            query_index: i as i64,
        };
        let mut size = 0usize;
        for s in set {
            let s = s.map_err(|e| ReadError::Internal(e.to_string()))?;
            let labels = labels_out(&s.labels, external);
            let mut series = proto::ChunkedSeries {
                labels: labels.clone(),
                chunks: Vec::new(),
            };
            for part in s.samples.chunks(CHUNK_SAMPLES) {
                let data = xor_chunk(part);
                size += data.len() + 16;
                series.chunks.push(proto::Chunk {
                    min_time_ms: part[0].t,
                    max_time_ms: part[part.len() - 1].t,
                    r#type: 1,
                    data,
                });
                if size >= max_frame_bytes {
                    frame.chunked_series.push(std::mem::replace(
                        &mut series,
                        proto::ChunkedSeries {
                            labels: labels.clone(),
                            chunks: Vec::new(),
                        },
                    ));
                    if !send(framed(&frame)) {
                        return Ok(());
                    }
                    frame.chunked_series.clear();
                    size = 0;
                }
            }
            if !series.chunks.is_empty() {
                frame.chunked_series.push(series);
            }
        }
        if !frame.chunked_series.is_empty() && !send(framed(&frame)) {
            return Ok(());
        }
    }
    Ok(())
}

/// One frame: uvarint length, CRC-32C (Castagnoli) big-endian, message.
pub fn framed(m: &proto::ChunkedReadResponse) -> Vec<u8> {
    let msg = m.encode_to_vec();
    let mut out = Vec::with_capacity(msg.len() + 14);
    let mut n = msg.len() as u64;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.extend_from_slice(&crc32c(&msg).to_be_bytes());
    out.extend_from_slice(&msg);
    out
}

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), bitwise over a
/// table built once.
pub fn crc32c(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, e) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    (c >> 1) ^ 0x82F6_3B78
                } else {
                    c >> 1
                };
            }
            *e = c;
        }
        t
    });
    let mut crc = !0u32;
    for &b in data {
        crc = table[((crc ^ b as u32) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

/// Bits written most significant first, as Prometheus's `bstream`.
#[derive(Default)]
struct Bits {
    bytes: Vec<u8>,
    /// Bits still free in the last byte.
    free: u8,
}

impl Bits {
    fn bit(&mut self, one: bool) {
        if self.free == 0 {
            self.bytes.push(0);
            self.free = 8;
        }
        if one {
            let last = self.bytes.len() - 1;
            self.bytes[last] |= 1 << (self.free - 1);
        }
        self.free -= 1;
    }

    fn bits(&mut self, v: u64, n: u32) {
        for i in (0..n).rev() {
            self.bit((v >> i) & 1 == 1);
        }
    }

    fn byte(&mut self, b: u8) {
        self.bits(b as u64, 8);
    }
}

/// Samples as one chunk in Prometheus's XOR encoding (`tsdb/chunkenc`
/// `XORChunk`): a big-endian 16-bit sample count; the first timestamp as
/// a varint and value as 64 bits; the second timestamp's delta as a
/// uvarint; then timestamp delta-of-deltas (`0`; `10` and 14 bits; `110`
/// and 17; `1110` and 20; `1111` and 64) and values XOR-ed with the
/// previous (`0` for equal; `10` and the meaningful bits in the previous
/// window; `11`, 5 bits of leading zeros, 6 bits of length and the bits).
pub fn xor_chunk(samples: &[model::Sample]) -> Vec<u8> {
    let mut b = Bits {
        bytes: vec![0, 0],
        free: 0,
    };
    let (mut t, mut v, mut t_delta) = (0i64, 0u64, 0u64);
    let (mut leading, mut trailing) = (0xffu8, 0u8);
    for (i, s) in samples.iter().enumerate() {
        let bits = s.v.to_bits();
        match i {
            0 => {
                let z = ((s.t << 1) ^ (s.t >> 63)) as u64;
                uvarint(&mut b, z);
                b.bits(bits, 64);
            }
            1 => {
                t_delta = s.t.wrapping_sub(t) as u64;
                uvarint(&mut b, t_delta);
                xor_value(&mut b, bits ^ v, &mut leading, &mut trailing);
            }
            _ => {
                let delta = s.t.wrapping_sub(t) as u64;
                let dod = delta.wrapping_sub(t_delta) as i64;
                t_delta = delta;
                let in_range = |n: u32| -((1i64 << (n - 1)) - 1) <= dod && dod <= 1i64 << (n - 1);
                if dod == 0 {
                    b.bit(false);
                } else if in_range(14) {
                    b.bits(0b10, 2);
                    b.bits(dod as u64, 14);
                } else if in_range(17) {
                    b.bits(0b110, 3);
                    b.bits(dod as u64, 17);
                } else if in_range(20) {
                    b.bits(0b1110, 4);
                    b.bits(dod as u64, 20);
                } else {
                    b.bits(0b1111, 4);
                    b.bits(dod as u64, 64);
                }
                xor_value(&mut b, bits ^ v, &mut leading, &mut trailing);
            }
        }
        t = s.t;
        v = bits;
    }
    let n = samples.len() as u16;
    b.bytes[..2].copy_from_slice(&n.to_be_bytes());
    b.bytes
}

fn uvarint(b: &mut Bits, mut x: u64) {
    while x >= 0x80 {
        b.byte((x as u8) | 0x80);
        x >>= 7;
    }
    b.byte(x as u8);
}

fn xor_value(b: &mut Bits, delta: u64, leading: &mut u8, trailing: &mut u8) {
    if delta == 0 {
        b.bit(false);
        return;
    }
    b.bit(true);
    let new_leading = (delta.leading_zeros() as u8).min(31);
    let new_trailing = delta.trailing_zeros() as u8;
    if *leading != 0xff && new_leading >= *leading && new_trailing >= *trailing {
        b.bit(false);
        b.bits(delta >> *trailing, 64 - *leading as u32 - *trailing as u32);
        return;
    }
    *leading = new_leading;
    *trailing = new_trailing;
    b.bit(true);
    b.bits(new_leading as u64, 5);
    let sig = 64 - new_leading as u32 - new_trailing as u32;
    b.bits((sig & 63) as u64, 6);
    b.bits(delta >> new_trailing, sig);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        // RFC 3720, B.4: CRC-32C of "123456789".
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    /// A reader of Prometheus's XOR chunks, written from the same
    /// description, checks that what is written reads back.
    fn decode(c: &[u8]) -> Vec<(i64, u64)> {
        struct R<'a> {
            b: &'a [u8],
            pos: usize,
        }
        impl R<'_> {
            fn bit(&mut self) -> bool {
                let v = self.b[self.pos / 8] >> (7 - self.pos % 8) & 1 == 1;
                self.pos += 1;
                v
            }
            fn bits(&mut self, n: u32) -> u64 {
                (0..n).fold(0, |acc, _| (acc << 1) | self.bit() as u64)
            }
            fn uvarint(&mut self) -> u64 {
                let (mut x, mut s) = (0u64, 0);
                loop {
                    let byte = self.bits(8);
                    x |= (byte & 0x7f) << s;
                    if byte < 0x80 {
                        return x;
                    }
                    s += 7;
                }
            }
        }
        let n = u16::from_be_bytes([c[0], c[1]]) as usize;
        let mut r = R { b: c, pos: 16 };
        let mut out = Vec::new();
        let (mut t, mut v, mut delta) = (0i64, 0u64, 0i64);
        let (mut leading, mut trailing) = (0u32, 0u32);
        for i in 0..n {
            if i == 0 {
                let z = r.uvarint();
                t = ((z >> 1) as i64) ^ -((z & 1) as i64);
                v = r.bits(64);
            } else {
                if i == 1 {
                    delta = r.uvarint() as i64;
                } else {
                    let mut ones = 0;
                    while ones < 4 && r.bit() {
                        ones += 1;
                    }
                    let dod = match ones {
                        0 => 0,
                        4 => r.bits(64) as i64,
                        k => {
                            let sz = [14, 17, 20][k - 1];
                            let mut x = r.bits(sz) as i64;
                            if x > 1 << (sz - 1) {
                                x -= 1 << sz;
                            }
                            x
                        }
                    };
                    delta += dod;
                }
                t += delta;
                if r.bit() {
                    if r.bit() {
                        leading = r.bits(5) as u32;
                        let mut sig = r.bits(6) as u32;
                        if sig == 0 {
                            sig = 64;
                        }
                        trailing = 64 - leading - sig;
                    }
                    let sig = 64 - leading - trailing;
                    v ^= r.bits(sig) << trailing;
                }
            }
            out.push((t, v));
        }
        out
    }

    #[test]
    fn xor_chunks_read_back() {
        let mut samples = Vec::new();
        let mut t = 1_700_000_000_000i64;
        for i in 0..120 {
            t += match i % 7 {
                0 => 15_000,
                1 => 15_001,
                2 => 14_000,
                3 => 100_000,
                4 => 5_000_000,
                5 => 1,
                _ => 15_000,
            };
            let v = match i % 5 {
                0 => i as f64,
                1 => f64::from_bits(0x7ff0_0000_0000_0002), // a stale marker
                2 => -0.0,
                3 => 1e300,
                _ => 0.1 * i as f64,
            };
            samples.push(model::Sample { t, v });
        }
        let got = decode(&xor_chunk(&samples));
        let want: Vec<(i64, u64)> = samples.iter().map(|s| (s.t, s.v.to_bits())).collect();
        assert_eq!(got, want);
    }
}
