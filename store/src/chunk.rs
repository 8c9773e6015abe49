//! The chunk codec: a run of samples of one series, compressed.
//!
//! Byte 0 names the encoding so a better one can follow; today there is one,
//! [`Encoding::Xor`]: Gorilla-style delta-of-delta timestamps and XOR-ed
//! float values (the scheme Prometheus's `tsdb/chunkenc/xor.go` uses; the
//! layout here is our own and specified in `store/docs/format/chunk.md`).
//! Any `i64` timestamp sequence and any `f64` bit pattern round-trips
//! exactly, NaN payloads and the staleness marker included.

use model::Sample;

use crate::bits::{BitReader, BitWriter};

/// Bytes before the bit stream: encoding (1) and sample count (2).
const HEADER_LEN: usize = 3;

/// How a chunk's payload is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Encoding {
    /// Delta-of-delta timestamps and XOR floats.
    Xor = 1,
}

/// A chunk that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// Byte 0 names an encoding this version does not know.
    #[error("unknown chunk encoding {0}")]
    UnknownEncoding(u8),
    /// The bytes end before the samples the header announces.
    #[error("chunk truncated: {got} of {want} samples readable")]
    Truncated {
        /// Samples decoded before the end.
        got: usize,
        /// Samples the header announces.
        want: usize,
    },
}

/// Builds an [`Encoding::Xor`] chunk sample by sample.
#[derive(Clone, Debug)]
pub struct Encoder {
    out: BitWriter,
    count: u16,
    t: i64,
    t_delta: i64,
    v: u64,
    leading: u8,
    trailing: u8,
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Encoder {
    /// Most samples one chunk can hold (the count is 16 bits).
    pub const MAX_SAMPLES: usize = u16::MAX as usize;

    /// An empty chunk.
    pub fn new() -> Self {
        let mut bytes = Vec::with_capacity(32);
        bytes.extend_from_slice(&[Encoding::Xor as u8, 0, 0]);
        Encoder {
            out: BitWriter::from_bytes(bytes),
            count: 0,
            t: 0,
            t_delta: 0,
            v: 0,
            leading: 0xff,
            trailing: 0,
        }
    }

    /// Samples in the chunk.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether the chunk has no samples.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The timestamp of the last sample (0 when empty).
    pub fn last_t(&self) -> i64 {
        self.t
    }

    /// The value bits of the last sample (0 when empty).
    pub fn last_v_bits(&self) -> u64 {
        self.v
    }

    /// Appends a sample. Returns false, appending nothing, when the chunk is
    /// full. Timestamps need not increase: the codec stores any sequence;
    /// ordering is the head's rule, not the codec's.
    pub fn append(&mut self, t: i64, v: f64) -> bool {
        if self.len() >= Self::MAX_SAMPLES {
            return false;
        }
        let bits = v.to_bits();
        match self.count {
            0 => {
                self.out.write_varint(t);
                self.out.write_bits(bits, 64);
            }
            1 => {
                self.t_delta = t.wrapping_sub(self.t);
                self.out.write_varint(self.t_delta);
                self.write_value(bits);
            }
            _ => {
                let delta = t.wrapping_sub(self.t);
                let dod = delta.wrapping_sub(self.t_delta);
                self.t_delta = delta;
                self.write_dod(dod);
                self.write_value(bits);
            }
        }
        self.t = t;
        self.v = bits;
        self.count += 1;
        self.out.bytes[1..3].copy_from_slice(&self.count.to_be_bytes());
        true
    }

    fn write_dod(&mut self, dod: i64) {
        const BUCKETS: [(u64, u8, u8); 3] = [(0b10, 2, 14), (0b110, 3, 17), (0b1110, 4, 20)];
        if dod == 0 {
            self.out.write_bit(false);
            return;
        }
        for (prefix, plen, width) in BUCKETS {
            let half = 1i64 << (width - 1);
            if (-half..half).contains(&dod) {
                self.out.write_bits(prefix, plen);
                self.out
                    .write_bits(dod as u64 & ((1u64 << width) - 1), width);
                return;
            }
        }
        self.out.write_bits(0b1111, 4);
        self.out.write_bits(dod as u64, 64);
    }

    fn write_value(&mut self, bits: u64) {
        let xor = bits ^ self.v;
        if xor == 0 {
            self.out.write_bit(false);
            return;
        }
        self.out.write_bit(true);
        // 5 bits hold the leading-zero count, so it is capped at 31.
        let leading = (xor.leading_zeros() as u8).min(31);
        let trailing = xor.trailing_zeros() as u8;
        if self.leading != 0xff && leading >= self.leading && trailing >= self.trailing {
            self.out.write_bit(false);
            self.out
                .write_bits(xor >> self.trailing, 64 - self.leading - self.trailing);
            return;
        }
        self.leading = leading;
        self.trailing = trailing;
        let sig = 64 - leading - trailing;
        self.out.write_bit(true);
        self.out.write_bits(leading as u64, 5);
        // 64 significant bits do not fit in 6 bits; 0 stands for 64
        // (0 itself never occurs since the XOR is non-zero).
        self.out.write_bits((sig & 63) as u64, 6);
        self.out.write_bits(xor >> trailing, sig);
    }

    /// The encoded chunk so far.
    pub fn bytes(&self) -> &[u8] {
        &self.out.bytes
    }

    /// Heap bytes held (for memory accounting).
    pub fn heap_bytes(&self) -> usize {
        self.out.bytes.capacity()
    }

    /// The finished chunk, trimmed to size.
    pub fn finish(self) -> Box<[u8]> {
        self.out.bytes.into_boxed_slice()
    }
}

/// Decodes every sample of a chunk.
pub fn decode(bytes: &[u8]) -> Result<Vec<Sample>, ChunkError> {
    let mut out = Vec::new();
    decode_into(bytes, &mut out)?;
    Ok(out)
}

/// The number of samples a chunk announces, without decoding it.
pub fn sample_count(bytes: &[u8]) -> usize {
    match bytes {
        [_, hi, lo, ..] => u16::from_be_bytes([*hi, *lo]) as usize,
        _ => 0,
    }
}

/// Decodes every sample of a chunk, appending to `out`.
pub fn decode_into(bytes: &[u8], out: &mut Vec<Sample>) -> Result<(), ChunkError> {
    let Some(&enc) = bytes.first() else {
        return Err(ChunkError::Truncated { got: 0, want: 1 });
    };
    if enc != Encoding::Xor as u8 {
        return Err(ChunkError::UnknownEncoding(enc));
    }
    if bytes.len() < HEADER_LEN {
        return Err(ChunkError::Truncated { got: 0, want: 1 });
    }
    let want = sample_count(bytes);
    let start = out.len();
    out.reserve(want);
    let mut d = Decoder {
        r: BitReader::new(&bytes[HEADER_LEN..]),
        t: 0,
        t_delta: 0,
        v: 0,
        leading: 0,
        trailing: 0,
    };
    for i in 0..want {
        match d.next(i) {
            Some(s) => out.push(s),
            None => {
                return Err(ChunkError::Truncated {
                    got: out.len() - start,
                    want,
                })
            }
        }
    }
    Ok(())
}

struct Decoder<'a> {
    r: BitReader<'a>,
    t: i64,
    t_delta: i64,
    v: u64,
    leading: u8,
    trailing: u8,
}

impl Decoder<'_> {
    fn next(&mut self, i: usize) -> Option<Sample> {
        match i {
            0 => {
                self.t = self.r.read_varint()?;
                self.v = self.r.read_bits(64)?;
            }
            1 => {
                self.t_delta = self.r.read_varint()?;
                self.t = self.t.wrapping_add(self.t_delta);
                self.read_value()?;
            }
            _ => {
                let dod = self.read_dod()?;
                self.t_delta = self.t_delta.wrapping_add(dod);
                self.t = self.t.wrapping_add(self.t_delta);
                self.read_value()?;
            }
        }
        Some(Sample::new(self.t, f64::from_bits(self.v)))
    }

    fn read_dod(&mut self) -> Option<i64> {
        let mut ones = 0;
        while ones < 4 && self.r.read_bit()? {
            ones += 1;
        }
        let width = match ones {
            0 => return Some(0),
            1 => 14,
            2 => 17,
            3 => 20,
            _ => return Some(self.r.read_bits(64)? as i64),
        };
        let raw = self.r.read_bits(width)?;
        // Sign-extend from `width` bits.
        let shift = 64 - width as u32;
        Some(((raw << shift) as i64) >> shift)
    }

    fn read_value(&mut self) -> Option<()> {
        if !self.r.read_bit()? {
            return Some(());
        }
        if self.r.read_bit()? {
            self.leading = self.r.read_bits(5)? as u8;
            let sig = self.r.read_bits(6)? as u8;
            let sig = if sig == 0 { 64 } else { sig };
            // A damaged chunk can announce more bits than a float has.
            self.trailing = 64u8.checked_sub(self.leading)?.checked_sub(sig)?;
        }
        let sig = 64 - self.leading - self.trailing;
        let bits = self.r.read_bits(sig)?;
        self.v ^= bits << self.trailing;
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::sample::stale_nan;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    fn round_trip(samples: &[(i64, f64)]) {
        let mut e = Encoder::new();
        for &(t, v) in samples {
            assert!(e.append(t, v));
        }
        let got = decode(e.bytes())
            .unwrap_or_else(|err| panic!("decode failed: {err}; input {samples:?}"));
        assert_eq!(got.len(), samples.len(), "input {samples:?}");
        for (i, (g, &(t, v))) in got.iter().zip(samples).enumerate() {
            assert!(
                g.t == t && g.v.to_bits() == v.to_bits(),
                "sample {i}: got ({}, {:#x}), want ({t}, {:#x}); input {samples:?}",
                g.t,
                g.v.to_bits(),
                v.to_bits()
            );
        }
    }

    #[test]
    fn edge_values_table() {
        let cases: Vec<Vec<(i64, f64)>> = vec![
            vec![],
            vec![(0, 0.0)],
            vec![
                (1, f64::NAN),
                (2, stale_nan()),
                (3, f64::INFINITY),
                (4, f64::NEG_INFINITY),
                (5, -0.0),
                (6, 0.0),
            ],
            vec![
                (i64::MIN, f64::MIN),
                (i64::MAX, f64::MAX),
                (0, f64::MIN_POSITIVE),
                (-5, f64::EPSILON),
            ],
            vec![(10, 1.0); 5],
            vec![(1000, 1.0), (2000, 1.0), (3000, 1.0), (4000, 1.0)],
            vec![
                (0, f64::from_bits(1)),
                (1, f64::from_bits(u64::MAX)),
                (2, f64::from_bits(0x8000_0000_0000_0001)),
            ],
            vec![
                (-1_000_000_000_000, 5.5),
                (1_000_000_000_000, 6.5),
                (-3, 7.5),
            ],
        ];
        for c in cases {
            round_trip(&c);
        }
    }

    /// Seeded random sequences checked against the plain `Vec` they came
    /// from: value kinds and timestamp gaps mixed to reach every branch.
    #[test]
    fn random_round_trips_against_reference() {
        for seed in 0..300u64 {
            let mut rng = SmallRng::seed_from_u64(seed);
            let n = rng.random_range(0..=600);
            let mut t: i64 = rng.random();
            let mut v: f64 = rng.random_range(-1e6..1e6);
            let mut reference = Vec::with_capacity(n);
            for _ in 0..n {
                t = t.wrapping_add(match rng.random_range(0..10) {
                    0..=5 => 15_000,
                    6 => rng.random_range(-5..5) + 15_000,
                    7 => rng.random_range(-1_000_000..1_000_000),
                    8 => rng.random::<i64>(),
                    _ => rng.random_range(-(1 << 40)..(1 << 40)),
                });
                v = match rng.random_range(0..12) {
                    0..=3 => v,
                    4 => v + 1.0,
                    5 => f64::NAN,
                    6 => stale_nan(),
                    7 => [f64::INFINITY, f64::NEG_INFINITY, -0.0, 0.0][rng.random_range(0..4)],
                    8 => f64::from_bits(rng.random()),
                    9 => (v * 1.0001).round(),
                    _ => rng.random_range(-1e9..1e9),
                };
                reference.push((t, v));
            }
            round_trip(&reference);
        }
    }

    #[test]
    fn damaged_chunks_error_without_panic() {
        let mut e = Encoder::new();
        for i in 0..50 {
            e.append(i * 1000, i as f64 * 1.5);
        }
        let full = e.bytes().to_vec();
        for cut in 0..full.len() {
            let _ = decode(&full[..cut]);
        }
        match decode(&full[..full.len() / 2]) {
            Err(ChunkError::Truncated { got, want: 50 }) => assert!(got < 50),
            other => panic!("half a chunk: got {other:?}, want Truncated"),
        }
        let mut bad = full.clone();
        bad[0] = 9;
        assert_eq!(decode(&bad).err(), Some(ChunkError::UnknownEncoding(9)));
        let mut rng = SmallRng::seed_from_u64(7);
        for _ in 0..2000 {
            let mut b = full.clone();
            let i = rng.random_range(0..b.len());
            b[i] ^= 1 << rng.random_range(0..8);
            let _ = decode(&b);
        }
    }

    #[test]
    fn full_chunk_refuses_more() {
        let mut e = Encoder::new();
        for i in 0..Encoder::MAX_SAMPLES as i64 {
            assert!(e.append(i, 0.0));
        }
        assert!(!e.append(1 << 40, 1.0));
        assert_eq!(decode(e.bytes()).unwrap().len(), Encoder::MAX_SAMPLES);
    }
}
