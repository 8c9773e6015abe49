//! The chunk codec: a run of samples of one series, compressed.
//!
//! Byte 0 names the encoding so a better one can follow; the head writes
//! [`Encoding::Xor`]: Gorilla-style delta-of-delta timestamps and XOR-ed
//! float values (the scheme Prometheus's `tsdb/chunkenc/xor.go` uses; the
//! layout here is our own and specified in `store/docs/format/chunk.md`).
//! Any `i64` timestamp sequence and any `f64` bit pattern round-trips
//! exactly, NaN payloads and the staleness marker included.
//!
//! Scraped values are mostly decimals written with a few digits (`64.655652`,
//! `37.51`), which XOR encodes poorly. When a complete chunk goes to
//! SQLite, [`compact`] also tries [`Encoding::Shaped`] (integer mantissas,
//! residuals of a few predictors in Rice or range codes, the first
//! timestamp left to the row's key) and keeps the smaller; chunks in the
//! head stay XOR so appends are cheap. [`Encoding::Decimal`] and
//! [`Encoding::Keyed`], its predecessors, are still read.
//! [`Encoding::Referenced`] codes a series against another one's samples
//! at the same timestamps (a histogram bucket against its `_count`).

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
    /// Delta-of-delta timestamps (none when the interval is steady) and
    /// Rice-coded deltas or deltas of deltas of decimal mantissas: for
    /// chunks whose every value is `m / 10^e` exactly, with one `e`.
    /// Written by earlier builds; read, no longer written.
    Decimal = 2,
    /// [`Encoding::Decimal`] for a row that stores its first timestamp
    /// beside the chunk (SQLite's `mint`): the chunk leaves it out, and
    /// timestamps may also be coded as runs of a steady interval, values
    /// against a running mean. Written by earlier builds; read with
    /// [`decode_row_into`], no longer written.
    Keyed = 3,
    /// [`Encoding::Keyed`] with the mantissas' common factor divided out
    /// ([`FACTOR`]) and the residuals coded in truncated binary over their
    /// range ([`RANGE_CODE`]) where that is shorter than Rice codes.
    /// Chosen when a completed chunk is written to SQLite, if smaller than
    /// XOR; read with [`decode_row_into`].
    Shaped = 4,
    /// [`Encoding::Shaped`] whose mantissa deltas are predicted from
    /// another series' deltas at the same timestamps, the reference: a
    /// histogram bucket's increments are a share of its `_count`'s, which
    /// stays steady while both scatter. The chunk names the reference's
    /// series ([`reference`]) and is read with its samples
    /// ([`decode_referenced_row_into`]); written with
    /// [`encode_referenced`].
    Referenced = 5,
}

/// A chunk that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// Byte 0 names an encoding this version does not know.
    #[error("unknown chunk encoding {0}")]
    UnknownEncoding(u8),
    /// An [`Encoding::Keyed`] or [`Encoding::Shaped`] chunk read without
    /// its row's first timestamp.
    #[error("chunk encoding {0} is read with its row's first timestamp")]
    Keyed(u8),
    /// An [`Encoding::Referenced`] chunk read without the samples of the
    /// series it refers to.
    #[error("chunk refers to series {0} and is read with its samples")]
    Referenced(u64),
    /// An [`Encoding::Referenced`] chunk's reference has no whole-number
    /// sample at a timestamp of the chunk.
    #[error("chunk refers to series {series}, which has no integral sample at {t}")]
    ReferenceMissing {
        /// The series the chunk refers to.
        series: u64,
        /// The chunk's timestamp that the reference lacks.
        t: i64,
    },
    /// An [`Encoding::Referenced`] chunk's reference has other values at
    /// its timestamps than it was written against.
    #[error("chunk refers to series {0}, whose values changed since it was written")]
    ReferenceChanged(u64),
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
    /// The chunk's bytes, of which the last `room` are room to grow
    /// (zeroed), and the bits free in the last one written: a
    /// [`BitWriter`]'s parts, kept apart so that the small fields below
    /// share one word (the encoder is in every series' head record; a
    /// vector's capacity would take a word more).
    bytes: Box<[u8]>,
    room: u8,
    free: u8,
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
        let mut bytes = vec![0; 32].into_boxed_slice();
        bytes[0] = Encoding::Xor as u8;
        Encoder {
            bytes,
            room: (32 - HEADER_LEN) as u8,
            free: 0,
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

    /// The timestamp of the first sample (0 when empty), read back from
    /// the bytes: the head keeps one encoder per series, and a field for
    /// it would cost every series 8 bytes.
    pub fn first_t(&self) -> i64 {
        if self.count == 0 {
            return 0;
        }
        let mut r = BitReader::new(&self.bytes()[HEADER_LEN..]);
        r.read_varint().unwrap_or(0)
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
        let written = self.bytes.len() - usize::from(self.room);
        let mut bytes = std::mem::take(&mut self.bytes).into_vec();
        bytes.truncate(written);
        let mut out = BitWriter::resume(bytes, self.free);
        match self.count {
            0 => {
                out.write_varint(t);
                out.write_bits(bits, 64);
            }
            1 => {
                self.t_delta = t.wrapping_sub(self.t);
                out.write_varint(self.t_delta);
                self.write_value(&mut out, bits);
            }
            _ => {
                let delta = t.wrapping_sub(self.t);
                let dod = delta.wrapping_sub(self.t_delta);
                self.t_delta = delta;
                write_bucketed(&mut out, dod, &T_BUCKETS);
                self.write_value(&mut out, bits);
            }
        }
        self.t = t;
        self.v = bits;
        self.count += 1;
        let mut bytes;
        (bytes, self.free) = out.into_parts();
        bytes[1..3].copy_from_slice(&self.count.to_be_bytes());
        // The room the writer made is kept, zeroed, as the box's tail, up
        // to 255 bytes (a vector whose length is its capacity becomes a
        // box as it is; one with more room is cut to that, in place).
        let keep = bytes.capacity().min(bytes.len() + usize::from(u8::MAX));
        self.room = (keep - bytes.len()) as u8;
        bytes.resize(keep, 0);
        self.bytes = bytes.into_boxed_slice();
        true
    }

    fn write_value(&mut self, out: &mut BitWriter, bits: u64) {
        let xor = bits ^ self.v;
        if xor == 0 {
            out.write_bit(false);
            return;
        }
        out.write_bit(true);
        // 5 bits hold the leading-zero count, so it is capped at 31.
        let leading = (xor.leading_zeros() as u8).min(31);
        let trailing = xor.trailing_zeros() as u8;
        if self.leading != 0xff && leading >= self.leading && trailing >= self.trailing {
            out.write_bit(false);
            out.write_bits(xor >> self.trailing, 64 - self.leading - self.trailing);
            return;
        }
        self.leading = leading;
        self.trailing = trailing;
        let sig = 64 - leading - trailing;
        out.write_bit(true);
        out.write_bits(leading as u64, 5);
        // 64 significant bits do not fit in 6 bits; 0 stands for 64
        // (0 itself never occurs since the XOR is non-zero).
        out.write_bits((sig & 63) as u64, 6);
        out.write_bits(xor >> trailing, sig);
    }

    /// The encoded chunk so far.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..self.bytes.len() - usize::from(self.room)]
    }

    /// Heap bytes held (for memory accounting).
    pub fn heap_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// The finished chunk, trimmed to size.
    pub fn finish(self) -> Box<[u8]> {
        let written = self.bytes.len() - usize::from(self.room);
        let mut bytes = self.bytes.into_vec();
        bytes.truncate(written);
        bytes.into_boxed_slice()
    }
}

/// Bucket widths for timestamp delta-of-deltas: prefixes `10`, `110`,
/// `1110`; `1111` is followed by 64 bits.
const T_BUCKETS: [u8; 3] = [14, 17, 20];

/// Writes `x` as `0` (zero), a bucket prefix and `width` two's-complement
/// bits, or `1111` and all 64 bits.
fn write_bucketed(out: &mut BitWriter, x: i64, widths: &[u8; 3]) {
    if x == 0 {
        out.write_bit(false);
        return;
    }
    for (k, &width) in widths.iter().enumerate() {
        let half = 1i64 << (width - 1);
        if (-half..half).contains(&x) {
            // k+1 ones then a zero: 0b10, 0b110, 0b1110.
            out.write_bits(((1u64 << (k + 1)) - 1) << 1, k as u8 + 2);
            out.write_bits(x as u64 & ((1u64 << width) - 1), width);
            return;
        }
    }
    out.write_bits(0b1111, 4);
    out.write_bits(x as u64, 64);
}

fn read_bucketed(r: &mut BitReader<'_>, widths: &[u8; 3]) -> Option<i64> {
    let ones = r.read_ones(4)? as usize;
    let width = match ones {
        0 => return Some(0),
        4 => return Some(r.read_bits(64)? as i64),
        k => widths[k - 1],
    };
    let raw = r.read_bits(width)?;
    let shift = 64 - width as u32;
    Some(((raw << shift) as i64) >> shift)
}

/// Powers of ten up to 10^15, exact in an `f64`. Encoder and decoder divide
/// by the same constant, so the check in [`decimal_exponent`] is exact.
const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];
/// Mantissas stay within what an `f64` holds exactly.
const MAX_MANTISSA: f64 = 9_007_199_254_740_992.0;

/// The smallest `e` such that every value is exactly `m / 10^e` for an
/// integer `m`, with the mantissas; `None` for NaN, infinities, `-0.0` or
/// values that need more digits.
fn decimal_exponent(samples: &[Sample]) -> Option<(u8, Vec<i64>)> {
    'exp: for (e, &p) in POW10.iter().enumerate() {
        let mut ms = Vec::with_capacity(samples.len());
        for s in samples {
            let m = (s.v * p).round();
            if !m.is_finite() || m.abs() > MAX_MANTISSA || (m / p).to_bits() != s.v.to_bits() {
                continue 'exp;
            }
            ms.push(m as i64);
        }
        return Some((e as u8, ms));
    }
    None
}

/// Bit 7 of the exponent byte: mantissas are delta coded rather than
/// delta-of-delta coded (better for gauges that wander).
const DELTA_MODE: u8 = 0x80;
/// Bit 6 of the exponent byte: every timestamp delta equals the first, so
/// no timestamp bits follow the second sample (a steady scrape interval).
const REGULAR_TIMES: u8 = 0x40;
/// Bit 5 of the exponent byte of an [`Encoding::Keyed`] chunk: timestamps
/// are coded as runs of samples at the previous interval, each run's
/// length once, then the delta of delta of the sample that breaks it.
const TIME_RUNS: u8 = 0x20;
/// Bytes before the bit stream of a decimal chunk: the XOR header, the
/// exponent byte and the Rice parameter.
const DECIMAL_HEADER_LEN: usize = HEADER_LEN + 2;
/// A Rice quotient this large is written as an escape and 64 raw bits.
const RICE_ESCAPE: u64 = 16;

fn zigzag(x: i64) -> u64 {
    ((x << 1) ^ (x >> 63)) as u64
}

fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

/// Bits that Rice coding with parameter `k` spends on `x`.
fn rice_bits(x: i64, k: u8) -> u64 {
    let q = zigzag(x) >> k;
    if q < RICE_ESCAPE {
        q + 1 + k as u64
    } else {
        RICE_ESCAPE + 64
    }
}

/// Writes `zigzag(x)` as a unary quotient `z >> k` (ones, then a zero) and
/// the `k` low bits; a quotient of 16 or more as 16 ones and 64 raw bits.
fn write_rice(out: &mut BitWriter, x: i64, k: u8) {
    let z = zigzag(x);
    let q = z >> k;
    if q < RICE_ESCAPE {
        out.write_bits((1u64 << q) - 1, q as u8);
        out.write_bit(false);
        out.write_bits(z & ((1u64 << k) - 1), k);
    } else {
        out.write_bits((1u64 << RICE_ESCAPE) - 1, RICE_ESCAPE as u8);
        out.write_bits(z, 64);
    }
}

fn read_rice(r: &mut BitReader<'_>, k: u8) -> Option<i64> {
    let q = r.read_ones(RICE_ESCAPE as u8)? as u64;
    let z = if q == RICE_ESCAPE {
        r.read_bits(64)?
    } else {
        (q << k) | r.read_bits(k)?
    };
    Some(unzigzag(z))
}

/// The mantissa residuals coded from the third sample on: deltas, or
/// deltas of deltas.
fn residuals(ms: &[i64], delta_mode: bool) -> Vec<i64> {
    let d: Vec<i64> = ms.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
    if delta_mode {
        d.into_iter().skip(1).collect()
    } else {
        d.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect()
    }
}

/// Bit 4 of the exponent byte of an [`Encoding::Keyed`] chunk: each
/// mantissa delta is coded against a running mean of the deltas before
/// it ([`Mean`]). A counter's increments scatter around a rate that drifts
/// slowly: against their mean the scatter is coded once, where a delta of
/// delta holds two samples' worth.
const MEAN_MODE: u8 = 0x10;

/// The running mean of [`MEAN_MODE`]: eight times an exponentially
/// weighted mean of the deltas, each new one weighing 1/8, in integers
/// (wrapping: a damaged chunk may hold any values).
#[derive(Clone, Copy)]
struct Mean {
    acc: i64,
}

impl Mean {
    /// The mean after the first delta (the second sample's): that delta.
    fn start(d: i64) -> Self {
        Mean {
            acc: d.wrapping_mul(8),
        }
    }

    /// The mean rounded half up: `(acc + 4) >> 3`, the shift arithmetic.
    #[inline]
    fn predict(&self) -> i64 {
        self.acc.wrapping_add(4) >> 3
    }

    /// Takes in the next delta: `acc − (acc >> 3) + d`.
    #[inline]
    fn push(&mut self, d: i64) {
        self.acc = self.acc.wrapping_sub(self.acc >> 3).wrapping_add(d);
    }
}

/// [`MEAN_MODE`]'s residuals from the third sample on: each delta less
/// the rounded mean of the deltas before it, from the second sample's on.
fn mean_residuals(ms: &[i64]) -> Vec<i64> {
    let mut mean = Mean::start(0);
    let mut out = Vec::with_capacity(ms.len().saturating_sub(2));
    for (i, w) in ms.windows(2).enumerate() {
        let d = w[1].wrapping_sub(w[0]);
        if i == 0 {
            mean = Mean::start(d);
        } else {
            out.push(d.wrapping_sub(mean.predict()));
            mean.push(d);
        }
    }
    out
}

/// Bit 6 of the code byte (the byte after the flags) of an
/// [`Encoding::Shaped`] chunk: the residuals are coded in truncated binary
/// over their range ([`Range`]), whose bounds the bit stream gives; the
/// Rice parameter bits are zero.
const RANGE_CODE: u8 = 0x40;
/// Bit 7 of the code byte of an [`Encoding::Shaped`] chunk: every mantissa
/// is a multiple of a factor of at least 2, which the bit stream gives
/// first, and is coded divided by it. Memory sizes in pages or KiB, and
/// decimals with a step such as 0.5 or 0.25, have one.
const FACTOR: u8 = 0x80;
/// The most bits a range code's offset takes is one more than this, so it
/// fits the decoder's window after a reload.
const RANGE_MAX_BITS: u32 = 56;

/// Truncated binary over the `n` values from `lo`: with `b = ⌊log2 n⌋`
/// and `u = 2^(b+1) − n`, an offset `v = x − lo` below `u` is written in
/// `b` bits and any other as `v + u` in `b + 1`. When residuals scatter
/// evenly over a band (a counter's increments around its rate) this takes
/// about `log2 n` bits each, where a Rice code takes half a bit to a bit
/// more; a constant residual takes none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Range {
    lo: i64,
    b: u32,
    u: u64,
}

impl Range {
    /// The range of `n` values from `lo`; `None` unless `1 ≤ n ≤ 2^56`.
    fn new(lo: i64, n: u64) -> Option<Range> {
        if n == 0 || n > 1 << RANGE_MAX_BITS {
            return None;
        }
        let b = 63 - n.leading_zeros();
        Some(Range {
            lo,
            b,
            u: (1u64 << (b + 1)) - n,
        })
    }

    /// The range of `xs`, when it is narrow enough.
    fn of(xs: &[i64]) -> Option<Range> {
        let lo = *xs.iter().min()?;
        let hi = *xs.iter().max()?;
        let n = u64::try_from(i128::from(hi) - i128::from(lo) + 1).ok()?;
        Range::new(lo, n)
    }

    /// How many values it holds.
    fn len(&self) -> u64 {
        (1u64 << (self.b + 1)) - self.u
    }

    fn bits(&self, x: i64) -> u64 {
        u64::from(self.b) + u64::from(x.wrapping_sub(self.lo) as u64 >= self.u)
    }

    /// Bits of the bounds at the head of the bit stream.
    fn header_bits(&self) -> u64 {
        uvarint_bits(zigzag(self.lo)) + uvarint_bits(self.len() - 1)
    }

    fn write(&self, out: &mut BitWriter, x: i64) {
        let v = x.wrapping_sub(self.lo) as u64;
        if v < self.u {
            out.write_bits(v, self.b as u8);
        } else {
            out.write_bits(v + self.u, self.b as u8 + 1);
        }
    }

    fn read(&self, r: &mut BitReader<'_>) -> Option<i64> {
        let y = r.read_bits(self.b as u8)?;
        let v = if y < self.u {
            y
        } else {
            ((y << 1) | u64::from(r.read_bit()?)) - self.u
        };
        Some(self.lo.wrapping_add(v as i64))
    }
}

/// Bits of `BitWriter::write_uvarint(v)`: a byte per seven bits.
fn uvarint_bits(v: u64) -> u64 {
    8 * u64::from((64 - v.leading_zeros()).div_ceil(7).max(1))
}

/// How a decimal chunk codes its residuals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Code {
    /// Rice codes with this parameter.
    Rice(u8),
    /// Truncated binary over a range ([`RANGE_CODE`]).
    Range(Range),
}

impl Code {
    fn write(&self, out: &mut BitWriter, x: i64) {
        match self {
            Code::Rice(k) => write_rice(out, x, *k),
            Code::Range(r) => r.write(out, x),
        }
    }
}

/// The greatest common divisor of the mantissas, or 1 when it is 0 or 1
/// (or all are 0).
fn common_factor(ms: &[i64]) -> i64 {
    let mut g = 0u64;
    for &m in ms {
        let (mut a, mut b) = (g, m.unsigned_abs());
        while b != 0 {
            (a, b) = (b, a % b);
        }
        g = a;
        if g == 1 {
            return 1;
        }
    }
    i64::try_from(g).unwrap_or(1).max(1)
}

/// How a decimal chunk codes timestamps after the second sample.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Times {
    /// Every interval equals the first: nothing.
    Regular,
    /// Each sample's delta of delta, bucketed.
    Each,
    /// Runs of unchanged intervals ([`TIME_RUNS`]).
    Runs,
}

/// Bits of [`write_bucketed`] with the timestamp buckets.
fn bucketed_bits(x: i64) -> u64 {
    if x == 0 {
        return 1;
    }
    for (k, &width) in T_BUCKETS.iter().enumerate() {
        let half = 1i64 << (width - 1);
        if (-half..half).contains(&x) {
            return k as u64 + 2 + u64::from(width);
        }
    }
    68
}

/// The longest run of a timestamp code: 17 ones would announce a run of
/// 2^17 or more samples, past any chunk's count.
const RUN_MAX_ONES: u8 = 17;

/// Writes a run length `r` as `x = r + 1` with `n` = its bit length less
/// one: `n` ones, a zero, and the `n` low bits of `x` (Elias gamma's
/// length and bits, with ones for the length).
fn write_run(out: &mut BitWriter, r: u64) {
    let x = r + 1;
    let n = 63 - x.leading_zeros() as u8;
    out.write_bits((1u64 << n) - 1, n);
    out.write_bit(false);
    out.write_bits(x & ((1u64 << n) - 1), n);
}

fn run_bits(r: u64) -> u64 {
    2 * u64::from(63 - (r + 1).leading_zeros()) + 1
}

fn read_run(r: &mut BitReader<'_>) -> Option<u64> {
    let n = r.read_ones(RUN_MAX_ONES)?;
    if n == RUN_MAX_ONES {
        return None;
    }
    Some(((1u64 << n) | r.read_bits(n)?) - 1)
}

/// Bits of the timestamp codes of deltas of deltas `dods` as runs.
fn runs_bits(dods: &[i64]) -> u64 {
    let (mut bits, mut i) = (0, 0);
    while i < dods.len() {
        let r = dods[i..].iter().take_while(|&&d| d == 0).count();
        bits += run_bits(r as u64);
        i += r;
        if let Some(&d) = dods.get(i) {
            bits += bucketed_bits(d);
            i += 1;
        }
    }
    bits
}

/// The residual modes of [`Encoding::Keyed`]: deltas of deltas, deltas,
/// and deltas against their mean.
const KEYED_MODES: [u8; 3] = [0, DELTA_MODE, MEAN_MODE];

/// The Rice parameter that codes `xs` in the fewest bits, with that
/// count. The count falls and then rises as `k` grows (nearly always: the
/// escape of wide codes can break it), so the search starts near the bit
/// length of the mean code and walks downhill, a few counts instead of
/// one per `k` (the flusher runs this for every chunk it writes).
fn best_rice_k(xs: &[i64]) -> (u64, u8) {
    if xs.is_empty() {
        return (0, 0);
    }
    let cost = |k: u8| xs.iter().map(|&x| rice_bits(x, k)).sum::<u64>();
    let mean = xs.iter().map(|&x| u128::from(zigzag(x))).sum::<u128>() / xs.len() as u128;
    let mut k = (128 - mean.leading_zeros()).min(63) as u8;
    let mut bits = cost(k);
    while k > 0 {
        let down = cost(k - 1);
        if down > bits {
            break;
        }
        (k, bits) = (k - 1, down);
    }
    while k < 63 {
        let up = cost(k + 1);
        if up >= bits {
            break;
        }
        (k, bits) = (k + 1, up);
    }
    (bits, k)
}

/// A decimal chunk in encoding `enc`: [`Encoding::Shaped`] (no first
/// timestamp, the timestamp codes that take fewest bits, the mantissas'
/// common factor divided out and the shorter of the Rice and range codes),
/// or one of the older [`Encoding::Keyed`] and [`Encoding::Decimal`]
/// (whose `modes` are 0 and [`DELTA_MODE`]). Of `modes`, the one whose
/// residuals take fewest bits is used.
fn encode_decimal(
    samples: &[Sample],
    e: u8,
    ms: &[i64],
    enc: Encoding,
    modes: &[u8],
) -> Option<Vec<u8>> {
    encode_decimal_with(samples, e, ms, enc, modes, true, None)
}

/// [`encode_decimal`]; with `rice` false, an [`Encoding::Shaped`] chunk
/// takes the range code whenever the residuals fit one (for tests). With
/// `reference` (its series and its integral values at the samples'
/// timestamps), an [`Encoding::Referenced`] chunk, whose only mode is
/// [`RATIO_MODE`].
fn encode_decimal_with(
    samples: &[Sample],
    e: u8,
    ms: &[i64],
    enc: Encoding,
    modes: &[u8],
    rice: bool,
    reference: Option<(u64, &[i64])>,
) -> Option<Vec<u8>> {
    let count = u16::try_from(samples.len()).ok()?;
    let keyed = enc != Encoding::Decimal;
    let shaped = matches!(enc, Encoding::Shaped | Encoding::Referenced);
    // A factor pays for its header once it saves a bit a sample on a few
    // samples.
    let factor = match shaped {
        true => common_factor(ms),
        false => 1,
    };
    let factor = match (factor as u64).ilog2() as u64 * samples.len() as u64 {
        saved if factor > 1 && saved > uvarint_bits(factor as u64 - 2) => factor,
        _ => 1,
    };
    let scaled: Vec<i64>;
    let ms = if factor > 1 {
        scaled = ms.iter().map(|&m| m / factor).collect();
        &scaled[..]
    } else {
        ms
    };
    // The shortest code of each mode's residuals, and of all modes.
    let mut best: Option<(u64, u8, Code, Vec<i64>)> = None;
    for &mode in modes {
        let xs = match (mode, reference) {
            (RATIO_MODE, Some((_, ls))) => ratio_residuals(ms, ls),
            (RATIO_MODE, None) => continue,
            (MEAN_MODE, _) => mean_residuals(ms),
            _ => residuals(ms, mode == DELTA_MODE),
        };
        let (mut bits, k) = best_rice_k(&xs);
        let mut code = Code::Rice(k);
        if let Some(r) = Range::of(&xs).filter(|_| shaped) {
            let range_bits = r.header_bits() + xs.iter().map(|&x| r.bits(x)).sum::<u64>();
            if range_bits < bits || !rice {
                (bits, code) = (range_bits.min(bits), Code::Range(r));
            }
        }
        if best.as_ref().is_none_or(|b| bits < b.0) {
            best = Some((bits, mode, code, xs));
        }
    }
    let (_, mode, code, xs) = best?;
    let ts: Vec<i64> = samples.iter().map(|s| s.t).collect();
    let dods = residuals(&ts, false);
    let times = if dods.iter().all(|&x| x == 0) {
        Times::Regular
    } else if keyed && runs_bits(&dods) < dods.iter().map(|&d| bucketed_bits(d)).sum() {
        Times::Runs
    } else {
        Times::Each
    };
    let mut flags = e | if mode == RATIO_MODE { 0 } else { mode };
    let mut code_byte = match code {
        Code::Rice(k) => k,
        Code::Range(_) => RANGE_CODE,
    };
    if factor > 1 {
        code_byte |= FACTOR;
    }
    match times {
        Times::Regular => flags |= REGULAR_TIMES,
        Times::Runs => flags |= TIME_RUNS,
        Times::Each => {}
    }
    let mut bytes = Vec::with_capacity(samples.len() * 2 + 8);
    bytes.push(enc as u8);
    bytes.extend_from_slice(&count.to_be_bytes());
    bytes.push(flags);
    bytes.push(code_byte);
    let mut out = BitWriter::from_bytes(bytes);
    if let Some((series, ls)) = reference {
        out.write_uvarint(series);
        let checksum = ls.iter().fold(Checksum::new(), |c, &l| c.add(l));
        out.write_bits(u64::from(checksum.value()), 32);
    }
    if factor > 1 {
        out.write_uvarint(factor as u64 - 2);
    }
    if let Code::Range(r) = code {
        out.write_varint(r.lo);
        out.write_uvarint(r.len() - 1);
    }
    let (mut t, mut td) = (0i64, 0i64);
    // Runs: samples left in the current run of unchanged intervals, and
    // whether the next sample starts a run (its length comes first).
    let (mut zeros_left, mut need_run) = (0usize, true);
    for (i, (s, &mi)) in samples.iter().zip(ms).enumerate() {
        match i {
            0 => {
                if !keyed {
                    out.write_varint(s.t);
                }
                out.write_varint(mi);
            }
            1 => {
                td = s.t.wrapping_sub(t);
                out.write_varint(td);
                out.write_varint(mi.wrapping_sub(ms[0]));
            }
            _ => {
                let d = s.t.wrapping_sub(t);
                let dod = d.wrapping_sub(td);
                match times {
                    Times::Regular => {}
                    Times::Each => write_bucketed(&mut out, dod, &T_BUCKETS),
                    Times::Runs => {
                        if need_run {
                            zeros_left = dods[i - 2..].iter().take_while(|&&x| x == 0).count();
                            write_run(&mut out, zeros_left as u64);
                            need_run = false;
                        }
                        if zeros_left > 0 {
                            zeros_left -= 1;
                        } else {
                            write_bucketed(&mut out, dod, &T_BUCKETS);
                            need_run = true;
                        }
                    }
                }
                td = d;
                code.write(&mut out, xs[i - 2]);
            }
        }
        t = s.t;
    }
    Some(out.bytes)
}

/// Re-encodes a complete chunk in whichever encoding is smallest.
pub fn compact(chunk: Box<[u8]>) -> Box<[u8]> {
    let Ok(samples) = decode(&chunk) else {
        return chunk;
    };
    smaller_decimal(&samples, chunk)
}

/// Encodes samples (at most [`Encoder::MAX_SAMPLES`]) in whichever
/// encoding is smallest; `None` when there are more.
pub fn encode_smallest(samples: &[Sample]) -> Option<Box<[u8]>> {
    let mut enc = Encoder::new();
    for s in samples {
        if !enc.append(s.t, s.v) {
            return None;
        }
    }
    Some(smaller_decimal(samples, enc.finish()))
}

/// `xor`, the XOR encoding of `samples`, or their decimal encoding when that
/// is smaller.
fn smaller_decimal(samples: &[Sample], xor: Box<[u8]>) -> Box<[u8]> {
    let Some((e, ms)) = decimal_exponent(samples) else {
        return xor;
    };
    match encode_decimal(samples, e, &ms, Encoding::Shaped, &KEYED_MODES) {
        Some(d) if d.len() < xor.len() => d.into_boxed_slice(),
        _ => xor,
    }
}

/// Encodes `samples` (2 to [`Encoder::MAX_SAMPLES`]) as an
/// [`Encoding::Referenced`] chunk against the series `series`, whose
/// samples (over at least the chunk's time range) are `reference`. `None` when that
/// encoding does not apply: a value that is not a decimal, or a timestamp
/// of `samples` at which the reference has no whole-number sample (of at
/// most 2^53). The caller keeps the smaller of this and
/// [`encode_smallest`].
pub fn encode_referenced(
    samples: &[Sample],
    series: u64,
    reference: &Reference,
) -> Option<Box<[u8]>> {
    if samples.len() < 2 {
        return None;
    }
    let mut look = Lookup::new(reference);
    let ls = samples
        .iter()
        .map(|s| look.at(s.t))
        .collect::<Option<Vec<i64>>>()?;
    let (e, ms) = decimal_exponent(samples)?;
    encode_decimal_with(
        samples,
        e,
        &ms,
        Encoding::Referenced,
        &[RATIO_MODE],
        true,
        Some((series, &ls)),
    )
    .map(Vec::into_boxed_slice)
}

/// The series an [`Encoding::Referenced`] chunk refers to; `None` for
/// other encodings (and a damaged header).
pub fn reference(bytes: &[u8]) -> Option<u64> {
    match bytes {
        [enc, ..] if *enc == Encoding::Referenced as u8 && bytes.len() >= DECIMAL_HEADER_LEN => {
            BitReader::new(&bytes[DECIMAL_HEADER_LEN..]).read_uvarint()
        }
        _ => None,
    }
}

/// The residual mode of [`Encoding::Referenced`], the only one it has
/// (internal: no flag bit names it). Each mantissa delta `d` is coded
/// against a prediction from the reference's delta `D` at the same step:
/// `D` times the ratio of weighted sums of the deltas before ([`Ratio`]).
const RATIO_MODE: u8 = 0xff;

/// The prediction of [`RATIO_MODE`]: eight times exponentially weighted
/// sums of a chunk's deltas (`a`) and of its reference's (`b`), each new
/// delta weighing 1/8, in wrapping integers. Both start at 0; a step
/// where either delta is negative (a counter reset) leaves them as they
/// are, since the shares a histogram's buckets take of its count outlive
/// a restart. The ratio the predictions use, `r = a / b`, is taken anew
/// only every eighth prediction: a prediction then never waits for the
/// one before it, so the decoder's steps overlap instead of queueing
/// behind a division each.
#[derive(Clone, Copy, Default)]
struct Ratio {
    a: i64,
    b: i64,
    /// `a / b` as of the last refresh (0 while `b ≤ 0`).
    r: f64,
    /// Predictions made so far.
    n: u32,
}

impl Ratio {
    /// The chunk's predicted delta at a step where the reference moved by
    /// `dl` to `l`, the chunk's previous mantissa being `m`:
    /// `trunc(x × r + 0.5)` saturated to `i64`, less `m` after a reset,
    /// where `x` is `dl`, or `l` after a reset of the reference
    /// (`dl < 0`: the chunk is predicted to start over in the same
    /// ratio). Before the 1st, 9th, 17th … prediction `r` becomes `a / b`
    /// (0 while `b ≤ 0`). All in IEEE 754 binary64, whose operations
    /// round the same on every target, so writer and reader agree.
    #[inline]
    fn predict(&mut self, dl: i64, l: i64, m: i64) -> i64 {
        if self.n.is_multiple_of(8) {
            self.r = match self.b > 0 {
                true => self.a as f64 / self.b as f64,
                false => 0.0,
            };
        }
        self.n = self.n.wrapping_add(1);
        let (x, base) = match dl < 0 {
            false => (dl, 0),
            true => (l, m),
        };
        ((x as f64 * self.r + 0.5) as i64).wrapping_sub(base)
    }

    /// Takes in a step: the chunk's delta `d`, the reference's `dl`.
    #[inline]
    fn push(&mut self, d: i64, dl: i64) {
        if d < 0 || dl < 0 {
            return;
        }
        self.a = self
            .a
            .wrapping_sub(self.a >> 3)
            .wrapping_add(d.wrapping_mul(8));
        self.b = self
            .b
            .wrapping_sub(self.b >> 3)
            .wrapping_add(dl.wrapping_mul(8));
    }
}

/// [`RATIO_MODE`]'s residuals from the third sample on, for mantissas `ms`
/// and the reference's values `ls` at the same timestamps.
fn ratio_residuals(ms: &[i64], ls: &[i64]) -> Vec<i64> {
    let mut ratio = Ratio::default();
    let mut out = Vec::with_capacity(ms.len().saturating_sub(2));
    for (i, (m, l)) in ms.windows(2).zip(ls.windows(2)).enumerate() {
        let (d, dl) = (m[1].wrapping_sub(m[0]), l[1].wrapping_sub(l[0]));
        if i > 0 {
            out.push(d.wrapping_sub(ratio.predict(dl, l[1], m[0])));
        }
        ratio.push(d, dl);
    }
    out
}

/// The samples of a series that chunks of encoding 5 refer to, as
/// [`decode_referenced_row_into`] reads them: timestamps, and values as
/// whole numbers ([`NOT_WHOLE`] where a value is not one). Built once per
/// referenced series and window, so the chunks that refer to it (a
/// histogram's buckets) do not each convert its floats.
#[derive(Debug, Default, Clone)]
pub struct Reference {
    t: Vec<i64>,
    l: Vec<i64>,
}

/// [`Reference`]'s mark of a value that is not a whole number of at most
/// 2^53 in magnitude (no such number is `i64::MIN`).
const NOT_WHOLE: i64 = i64::MIN;

impl Reference {
    /// A reference without samples.
    pub const EMPTY: Reference = Reference {
        t: Vec::new(),
        l: Vec::new(),
    };

    /// The reference made of `samples` (ascending, as decoded).
    pub fn new(samples: &[Sample]) -> Reference {
        Reference {
            t: samples.iter().map(|s| s.t).collect(),
            l: samples
                .iter()
                .map(|s| whole(s.v).unwrap_or(NOT_WHOLE))
                .collect(),
        }
    }
}

/// A [`Reference`]'s values at ascending timestamps, found by walking its
/// samples once.
struct Lookup<'a> {
    t: &'a [i64],
    l: &'a [i64],
    i: usize,
}

impl<'a> Lookup<'a> {
    fn new(r: &'a Reference) -> Self {
        Lookup {
            t: &r.t,
            l: &r.l[..r.t.len()],
            i: 0,
        }
    }

    /// The whole-number value at `t` (at most 2^53 in magnitude), if the
    /// reference has one; timestamps asked for must not decrease.
    #[inline]
    fn at(&mut self, t: i64) -> Option<i64> {
        if self.i == 0 {
            // The first look: a chunk's row usually starts well into the
            // window of its reference (which spans all the rows a read
            // fetched), so it is searched for, not walked to.
            self.i = self.t.partition_point(|&x| x < t);
        }
        while self.t.get(self.i).is_some_and(|&x| x < t) {
            self.i += 1;
        }
        match self.t.get(self.i) {
            Some(&x) if x == t => Some(self.l[self.i]).filter(|&l| l != NOT_WHOLE),
            _ => None,
        }
    }
}

/// `v` as an integer when it is a whole number of at most 2^53 in
/// magnitude (NaN and the infinities are not): a round trip through `i64`
/// instead of `fract`, which is a library call where the target has no
/// rounding instruction.
#[inline]
fn whole(v: f64) -> Option<i64> {
    let i = v as i64;
    (i as f64 == v && i.unsigned_abs() <= 1 << 53).then_some(i)
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

/// Decodes every sample of a chunk, appending to `out`. An
/// [`Encoding::Keyed`] chunk needs [`decode_row_into`].
pub fn decode_into(bytes: &[u8], out: &mut Vec<Sample>) -> Result<(), ChunkError> {
    decode_with(bytes, None, out)
}

/// Decodes every sample of a chunk stored in a row whose key holds the
/// first sample's timestamp `mint` (SQLite's `chunks.mint`), appending to
/// `out`. Reads every encoding; only [`Encoding::Keyed`] uses `mint`.
pub fn decode_row_into(bytes: &[u8], mint: i64, out: &mut Vec<Sample>) -> Result<(), ChunkError> {
    decode_with(bytes, Some(mint), out)
}

/// [`decode_row_into`] for every encoding, [`Encoding::Referenced`]
/// included: `reference` holds the samples of the series the chunk names
/// ([`reference`]) over at least the chunk's time range. Other encodings
/// ignore it.
pub fn decode_referenced_row_into(
    bytes: &[u8],
    mint: i64,
    reference: &Reference,
    out: &mut Vec<Sample>,
) -> Result<(), ChunkError> {
    decode_full(bytes, Some(mint), Some(reference), out)
}

/// [`decode_row_into`] into a new vector.
pub fn decode_row(bytes: &[u8], mint: i64) -> Result<Vec<Sample>, ChunkError> {
    let mut out = Vec::new();
    decode_row_into(bytes, mint, &mut out)?;
    Ok(out)
}

fn decode_with(bytes: &[u8], mint: Option<i64>, out: &mut Vec<Sample>) -> Result<(), ChunkError> {
    decode_full(bytes, mint, None, out)
}

fn decode_full(
    bytes: &[u8],
    mint: Option<i64>,
    reference: Option<&Reference>,
    out: &mut Vec<Sample>,
) -> Result<(), ChunkError> {
    let Some(&enc) = bytes.first() else {
        return Err(ChunkError::Truncated { got: 0, want: 1 });
    };
    let header = match enc {
        x if x == Encoding::Xor as u8 => HEADER_LEN,
        x if x == Encoding::Decimal as u8 => DECIMAL_HEADER_LEN,
        x if x == Encoding::Keyed as u8 => DECIMAL_HEADER_LEN,
        x if x == Encoding::Shaped as u8 => DECIMAL_HEADER_LEN,
        x if x == Encoding::Referenced as u8 => DECIMAL_HEADER_LEN,
        x => return Err(ChunkError::UnknownEncoding(x)),
    };
    let referenced = enc == Encoding::Referenced as u8;
    let shaped = enc == Encoding::Shaped as u8 || referenced;
    let keyed = enc == Encoding::Keyed as u8 || shaped;
    if keyed && mint.is_none() {
        return Err(ChunkError::Keyed(enc));
    }
    if bytes.len() < header {
        return Err(ChunkError::Truncated { got: 0, want: 1 });
    }
    let want = sample_count(bytes);
    let start = out.len();
    out.reserve(want);
    let mut r = BitReader::new(&bytes[header..]);
    let truncated = |out: &Vec<Sample>| ChunkError::Truncated {
        got: out.len() - start,
        want,
    };
    if enc == Encoding::Xor as u8 {
        let mut d = Decoder {
            r,
            t: 0,
            t_delta: 0,
            v: 0,
            leading: 0,
            trailing: 0,
        };
        for i in 0..want {
            match d.next(i) {
                Some(s) => out.push(s),
                None => return Err(truncated(out)),
            }
        }
        return Ok(());
    }
    let flags = bytes[HEADER_LEN];
    let code_byte = bytes[HEADER_LEN + 1];
    let damaged = ChunkError::Truncated { got: 0, want };
    // Before encoding 4 the code byte is the Rice parameter alone.
    let extra = if shaped { RANGE_CODE | FACTOR } else { 0 };
    let k = code_byte & !extra;
    if k > 63 || (code_byte & RANGE_CODE != 0 && k != 0) {
        return Err(damaged);
    }
    let reference = match (referenced, reference) {
        (false, _) => None,
        (true, samples) => {
            let series = r.read_uvarint().ok_or(damaged.clone())?;
            let checksum = r.read_bits(32).ok_or(damaged.clone())? as u32;
            let Some(samples) = samples else {
                return Err(ChunkError::Referenced(series));
            };
            Some(RefDecode {
                series,
                look: Lookup::new(samples),
                ratio: Ratio::default(),
                prev: 0,
                missing: None,
                checksum,
                seen: Checksum::new(),
            })
        }
    };
    let factor = match code_byte & FACTOR != 0 {
        true => r
            .read_uvarint()
            .and_then(|g| i64::try_from(g).ok()?.checked_add(2))
            .ok_or(damaged.clone())?,
        false => 1,
    };
    let range = match code_byte & RANGE_CODE != 0 {
        true => {
            let lo = r.read_varint();
            let n = r.read_uvarint().and_then(|n| n.checked_add(1));
            Some(
                lo.zip(n)
                    .and_then(|(lo, n)| Range::new(lo, n))
                    .ok_or(damaged.clone())?,
            )
        }
        false => None,
    };
    // Bits 4 and 5 of encoding 2 must be zero: an index past the table is
    // damage.
    // Encoding 5 has one residual mode: its mode bits must be zero too.
    let modes = match (referenced, keyed) {
        (true, _) => REGULAR_TIMES | TIME_RUNS,
        (false, true) => DELTA_MODE | REGULAR_TIMES | TIME_RUNS | MEAN_MODE,
        (false, false) => DELTA_MODE | REGULAR_TIMES,
    };
    let p = *POW10
        .get((flags & !modes) as usize)
        .ok_or(ChunkError::Truncated { got: 0, want })?;
    let runs = flags & TIME_RUNS != 0 && keyed;
    let regular = flags & REGULAR_TIMES != 0;
    let mean_mode = flags & MEAN_MODE != 0 && keyed;
    if (runs && regular) || (mean_mode && flags & DELTA_MODE != 0) {
        return Err(ChunkError::Truncated { got: 0, want });
    }
    let mut d = DecimalDecoder {
        r,
        t: 0,
        td: 0,
        m: 0,
        md: 0,
        delta_mode: flags & DELTA_MODE != 0,
        regular,
        k,
        range,
        t0: mint.filter(|_| keyed),
        mean: mean_mode.then(|| Mean::start(0)),
        reference,
    };
    // Runs: samples left in the current run of unchanged intervals, and
    // whether the next sample starts with a run's length.
    let (mut zeros_left, mut need_run) = (0u64, true);
    // Samples are written in place (a slice keeps the loop free of
    // capacity checks); a decode that stops early is cut back below.
    out.resize(start + want, Sample::new(0, 0.0));
    let mut complete = true;
    let mut i = 0;
    while i < want {
        if i >= 2 && runs {
            if need_run {
                match read_run(&mut d.r) {
                    Some(r) => zeros_left = r,
                    None => {
                        complete = false;
                        break;
                    }
                }
                need_run = false;
            }
            let step = if zeros_left > 0 {
                // A damaged length may reach past the chunk's end.
                let end = want.min(i.saturating_add(zeros_left.min(want as u64) as usize));
                let n = d.run::<true>(&mut out[start + i..start + end]);
                (i, zeros_left) = (i + n, zeros_left - n as u64);
                if i == want {
                    break;
                }
                if zeros_left > 0 {
                    // The fast loop left a code: one sample the slow way.
                    zeros_left -= 1;
                    d.step(0)
                } else {
                    continue;
                }
            } else {
                need_run = true;
                read_bucketed(&mut d.r, &T_BUCKETS).and_then(|dod| d.step(dod))
            };
            match step {
                Some((t, m)) => out[start + i] = Sample::new(t, m as f64),
                None => {
                    complete = false;
                    break;
                }
            }
            i += 1;
            continue;
        }
        if i >= 2 {
            i += if d.regular {
                d.run::<true>(&mut out[start + i..])
            } else {
                d.run::<false>(&mut out[start + i..])
            };
            if i == want {
                break;
            }
        }
        // The first two samples, irregular chunks, and a code the fast
        // loop leaves (an escape, or the last bytes).
        match d.next(i) {
            Some((t, m)) => out[start + i] = Sample::new(t, m as f64),
            None => {
                complete = false;
                break;
            }
        }
        i += 1;
    }
    out.truncate(start + i);
    let missing = d
        .reference
        .as_ref()
        .and_then(|rf| rf.missing.map(|t| (rf.series, t)));
    let changed = d
        .reference
        .as_ref()
        .filter(|rf| rf.seen.value() != rf.checksum)
        .map(|rf| rf.series);
    let result = match (complete, missing, changed) {
        (true, _, None) => Ok(()),
        (true, _, Some(series)) => Err(ChunkError::ReferenceChanged(series)),
        (false, Some((series, t)), _) => Err(ChunkError::ReferenceMissing { series, t }),
        (false, None, _) => Err(truncated(out)),
    };
    if changed.is_some() {
        // Every value was predicted from other values than the writer's.
        out.truncate(start);
    }
    // Scaling in a pass of its own keeps the divisions (the slowest step)
    // out of the bit reading's way; integers (exponent 0) need none. The
    // mantissas held in `v` are whole numbers of at most 53 bits (any
    // values in a damaged chunk: the casts saturate, the product wraps).
    if factor != 1 {
        for s in &mut out[start..] {
            s.v = ((s.v as i64).wrapping_mul(factor)) as f64 / p;
        }
    } else if p != 1.0 {
        for s in &mut out[start..] {
            s.v /= p;
        }
    }
    result
}

/// The residual modes, as [`DecimalDecoder::run_mode`]'s parameter.
const MODE_DOD: u8 = 0;
const MODE_DELTA: u8 = 1;
const MODE_MEAN: u8 = 2;
const MODE_REF: u8 = 3;

struct DecimalDecoder<'a> {
    r: BitReader<'a>,
    t: i64,
    td: i64,
    m: i64,
    md: i64,
    delta_mode: bool,
    regular: bool,
    k: u8,
    /// The range code, when the chunk's residuals use it ([`RANGE_CODE`]).
    range: Option<Range>,
    /// The row's first timestamp, for an [`Encoding::Keyed`] chunk.
    t0: Option<i64>,
    /// The deltas so far, in [`MEAN_MODE`].
    mean: Option<Mean>,
    /// The reference of an [`Encoding::Referenced`] chunk.
    reference: Option<RefDecode<'a>>,
}

/// What decoding an [`Encoding::Referenced`] chunk keeps of its reference.
struct RefDecode<'a> {
    series: u64,
    look: Lookup<'a>,
    ratio: Ratio,
    /// The reference's value at the previous sample's timestamp.
    prev: i64,
    /// A timestamp at which the reference had no integral sample.
    missing: Option<i64>,
    /// The checksum of the reference's values the chunk was written
    /// against, and of those read.
    checksum: u32,
    seen: Checksum,
}

/// A checksum of the reference's values at a chunk's timestamps, so a
/// reference that changed under a chunk of encoding 5 is an error, not
/// wrong values: per value `h = rotl((h XOR l) × K, 29)` in 64 bits, with
/// `K = 0x9e3779b97f4a7c15`, from `h = 0`; the chunk holds
/// `(h >> 32) XOR h`, 32 bits (one multiply per value).
#[derive(Clone, Copy)]
struct Checksum(u64);

impl Checksum {
    fn new() -> Self {
        Checksum(0)
    }

    #[inline]
    fn add(self, l: i64) -> Self {
        Checksum(
            (self.0 ^ l as u64)
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .rotate_left(29),
        )
    }

    fn value(self) -> u32 {
        ((self.0 >> 32) ^ self.0) as u32
    }
}

impl RefDecode<'_> {
    /// The reference's value at `t` and its delta since the previous
    /// sample, taken in; `None` (noting `t`) when it has no integral
    /// sample there.
    fn delta_to(&mut self, t: i64) -> Option<(i64, i64)> {
        let Some(l) = self.look.at(t) else {
            self.missing = Some(t);
            return None;
        };
        let dl = l.wrapping_sub(self.prev);
        self.prev = l;
        self.seen = self.seen.add(l);
        Some((dl, l))
    }
}

impl<'a> DecimalDecoder<'a> {
    /// Decodes samples after the second of a chunk into `slots`, in one
    /// tight loop (`REGULAR`: the chunk has no timestamp codes; otherwise
    /// each sample's bucketed delta of delta comes before its value's
    /// code). Codes are taken from a 64-bit window of the bytes that is
    /// shifted as they are read and loaded again only when the next code
    /// may not fit in what is left of it, so the loop mostly waits on a
    /// shift, not a load (the last bytes are loaded zero-filled). Stops
    /// early (returning how many it decoded) where a code is an escape,
    /// is too wide for a fresh window or runs past the chunk's end;
    /// [`Self::next`] reads those (or reports the damage).
    #[inline]
    fn run<const REGULAR: bool>(&mut self, slots: &mut [Sample]) -> usize {
        // One loop per residual mode and code, so none pays for another's
        // steps.
        if self.reference.is_some() {
            return match self.range.is_some() {
                false => self.run_mode::<REGULAR, MODE_REF, false>(slots),
                true => self.run_mode::<REGULAR, MODE_REF, true>(slots),
            };
        }
        match (self.mean.is_some(), self.delta_mode, self.range.is_some()) {
            (true, _, false) => self.run_mode::<REGULAR, MODE_MEAN, false>(slots),
            (false, true, false) => self.run_mode::<REGULAR, MODE_DELTA, false>(slots),
            (false, false, false) => self.run_mode::<REGULAR, MODE_DOD, false>(slots),
            (true, _, true) => self.run_mode::<REGULAR, MODE_MEAN, true>(slots),
            (false, true, true) => self.run_mode::<REGULAR, MODE_DELTA, true>(slots),
            (false, false, true) => self.run_mode::<REGULAR, MODE_DOD, true>(slots),
        }
    }

    #[inline(always)]
    fn run_mode<const REGULAR: bool, const MODE: u8, const RANGE: bool>(
        &mut self,
        slots: &mut [Sample],
    ) -> usize {
        let (bytes, mut pos) = self.r.parts();
        let k = u32::from(self.k);
        let range = self.range.unwrap_or(Range { lo: 0, b: 0, u: 1 });
        let (mut t, mut td, mut m, mut md) = (self.t, self.td, self.m, self.md);
        let mut mean = self.mean.unwrap_or(Mean { acc: 0 });
        // Encoding 5: the reference's samples and where its walk stands,
        // its previous value, the checksum so far and the prediction.
        let (ref_t, ref_l, mut ri, mut prev, mut seen, mut ratio) = match &self.reference {
            Some(rf) if MODE == MODE_REF => {
                (rf.look.t, rf.look.l, rf.look.i, rf.prev, rf.seen, rf.ratio)
            }
            _ => (&[][..], &[][..], 0, 0, Checksum::new(), Ratio::default()),
        };
        // The window at bit `pos`, left-aligned, and how many of its bits
        // are the stream's (at least 57 unless the chunk ends first; the
        // rest are zeros).
        let load = |pos: usize| -> Option<(u64, u32)> {
            let idx = pos / 8;
            let mut word = [0u8; 8];
            let bits = match bytes.get(idx..idx + 8) {
                Some(b) => {
                    word.copy_from_slice(b);
                    64
                }
                // The last bytes, zero-filled: the codes that fit in them
                // are read here too (on rows of a few dozen bytes those
                // are a good share of the samples).
                None => {
                    let rest = bytes.get(idx..).filter(|r| !r.is_empty())?;
                    word[..rest.len()].copy_from_slice(rest);
                    rest.len() as u32 * 8
                }
            };
            let skip = (pos % 8) as u32;
            Some((u64::from_be_bytes(word) << skip, bits - skip))
        };
        let (mut w, mut avail) = (0u64, 0u32);
        let mut done = 0;
        for slot in slots.iter_mut() {
            // `p`, `d`, `w` and `avail` move through the sample's codes;
            // `pos` and `td` only once it is whole.
            let (mut p, mut d) = (pos, td);
            if !REGULAR {
                // `0`, or 1 to 3 ones, a zero and that bucket's width
                // (at most 24 bits in all); four ones escape to 64 bits.
                if avail < 24 {
                    let Some(x) = load(p) else {
                        break;
                    };
                    (w, avail) = x;
                }
                let ones = (!w).leading_zeros();
                let n = if ones == 0 {
                    1
                } else if ones < 4 {
                    let width = u32::from(T_BUCKETS[ones as usize - 1]);
                    let shift = 64 - width;
                    let raw = (w << (ones + 1)) >> shift;
                    d = d.wrapping_add(((raw << shift) as i64) >> shift);
                    ones + 1 + width
                } else {
                    break;
                };
                if n > avail {
                    break;
                }
                w <<= n;
                avail -= n;
                p += n as usize;
            }
            // The reference's value at this sample's timestamp, before its
            // value's code: a missing one leaves the sample to the slow
            // path, which reports it.
            let l = if MODE == MODE_REF {
                let at = t.wrapping_add(d);
                while ref_t.get(ri).is_some_and(|&x| x < at) {
                    ri += 1;
                }
                match ref_t.get(ri) {
                    Some(&x) if x == at && ref_l[ri] != NOT_WHOLE => ref_l[ri],
                    _ => break,
                }
            } else {
                0
            };
            let x = if RANGE {
                // `b` bits, and one more for offsets from `u` on: at most
                // 57, which a fresh window holds unless the chunk ends.
                let b = range.b;
                if b + 1 > avail {
                    let Some(x) = load(p) else {
                        break;
                    };
                    (w, avail) = x;
                }
                let y = if b == 0 { 0 } else { w >> (64 - b) };
                let (v, used) = if y < range.u {
                    (y, b)
                } else {
                    (((y << 1) | ((w << b) >> 63)) - range.u, b + 1)
                };
                if used > avail {
                    break;
                }
                if used > 0 {
                    w = (w << (used - 1)) << 1;
                }
                avail -= used;
                (pos, td) = (p + used as usize, d);
                range.lo.wrapping_add(v as i64)
            } else {
                // Ones counted in `w` stop at its zero fill at the latest,
                // so a code that does not fit shows as `used > avail`.
                let mut q = (!w).leading_zeros();
                if q + 1 + k > avail {
                    let Some(x) = load(p) else {
                        break;
                    };
                    (w, avail) = x;
                    q = (!w).leading_zeros();
                }
                let used = q + 1 + k;
                if q >= RICE_ESCAPE as u32 || used > avail {
                    break;
                }
                let low = if k == 0 {
                    0
                } else {
                    (w << (q + 1)) >> (64 - k)
                };
                // `used` may be all 64 bits of a window loaded at a byte
                // boundary: the shift goes in two steps, as one shift by
                // 64 would not clear it.
                w = (w << (used - 1)) << 1;
                avail -= used;
                // The sample is whole: its codes are taken.
                (pos, td) = (p + used as usize, d);
                unzigzag((u64::from(q) << k) | low)
            };
            md = match MODE {
                MODE_MEAN => {
                    let d = mean.predict().wrapping_add(x);
                    mean.push(d);
                    d
                }
                MODE_DELTA => x,
                MODE_REF => {
                    let dl = l.wrapping_sub(prev);
                    let d = ratio.predict(dl, l, m).wrapping_add(x);
                    ratio.push(d, dl);
                    (prev, seen) = (l, seen.add(l));
                    d
                }
                _ => md.wrapping_add(x),
            };
            m = m.wrapping_add(md);
            t = t.wrapping_add(td);
            *slot = Sample::new(t, m as f64);
            done += 1;
        }
        (self.t, self.td, self.m, self.md) = (t, td, m, md);
        if MODE == MODE_MEAN {
            self.mean = Some(mean);
        }
        if let Some(rf) = self.reference.as_mut().filter(|_| MODE == MODE_REF) {
            (rf.look.i, rf.prev, rf.seen, rf.ratio) = (ri, prev, seen, ratio);
        }
        self.r.set_pos(pos);
        done
    }

    fn next(&mut self, i: usize) -> Option<(i64, i64)> {
        match i {
            0 => {
                self.t = match self.t0 {
                    Some(t) => t,
                    None => self.r.read_varint()?,
                };
                self.m = self.r.read_varint()?;
                if let Some(rf) = &mut self.reference {
                    rf.delta_to(self.t)?;
                }
            }
            1 => {
                self.td = self.r.read_varint()?;
                self.md = self.r.read_varint()?;
                self.t = self.t.wrapping_add(self.td);
                self.m = self.m.wrapping_add(self.md);
                if let Some(mean) = &mut self.mean {
                    *mean = Mean::start(self.md);
                }
                if let Some(rf) = &mut self.reference {
                    let (dl, _) = rf.delta_to(self.t)?;
                    rf.ratio.push(self.md, dl);
                }
            }
            _ => {
                let dod = match self.regular {
                    true => 0,
                    false => read_bucketed(&mut self.r, &T_BUCKETS)?,
                };
                return self.step(dod);
            }
        }
        Some((self.t, self.m))
    }

    /// A sample after the second whose interval changed by `dod`: its
    /// value's code is next.
    fn step(&mut self, dod: i64) -> Option<(i64, i64)> {
        self.td = self.td.wrapping_add(dod);
        self.t = self.t.wrapping_add(self.td);
        let x = match &self.range {
            Some(range) => range.read(&mut self.r)?,
            None => read_rice(&mut self.r, self.k)?,
        };
        self.md = match (&mut self.mean, &mut self.reference) {
            (_, Some(rf)) => {
                let (dl, l) = rf.delta_to(self.t)?;
                let d = rf.ratio.predict(dl, l, self.m).wrapping_add(x);
                rf.ratio.push(d, dl);
                d
            }
            (Some(mean), None) => {
                let d = mean.predict().wrapping_add(x);
                mean.push(d);
                d
            }
            (None, None) if self.delta_mode => x,
            (None, None) => self.md.wrapping_add(x),
        };
        self.m = self.m.wrapping_add(self.md);
        Some((self.t, self.m))
    }
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
        read_bucketed(&mut self.r, &T_BUCKETS)
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

    fn bits(samples: &[(i64, f64)]) -> Vec<(i64, u64)> {
        samples.iter().map(|&(t, v)| (t, v.to_bits())).collect()
    }

    /// A chunk read as a row whose key is `mint`.
    fn bits_of(chunk: &[u8], mint: i64) -> Vec<(i64, u64)> {
        decode_row(chunk, mint)
            .unwrap()
            .iter()
            .map(|s| (s.t, s.v.to_bits()))
            .collect()
    }

    /// Decimal-valued sequences, as scraped: compacting must pick the
    /// keyed decimal encoding and still round-trip every bit.
    #[test]
    fn decimal_chunks_round_trip_and_shrink() {
        let (mut eligible, mut chosen, mut regular) = (0, 0, 0);
        for seed in 0..200u64 {
            let mut rng = SmallRng::seed_from_u64(seed);
            let e = rng.random_range(0..=9u32);
            let scale = 10f64.powi(e as i32);
            let mut m: i64 = rng.random_range(-1_000_000_000..1_000_000_000);
            let mut t: i64 = 1_793_469_601_237;
            let n = rng.random_range(2..=600);
            let mut samples = Vec::new();
            let mut huge = false;
            for _ in 0..n {
                let kinds = if seed % 4 == 0 { 4 } else { 3 };
                m += match rng.random_range(0..kinds) {
                    0 => 0,
                    1 => rng.random_range(0..300),
                    2 => rng.random_range(-5_000_000..5_000_000),
                    _ => {
                        huge = true;
                        rng.random_range(-(1i64 << 40)..(1i64 << 40))
                    }
                };
                t += 15_000
                    + if seed % 3 == 0 {
                        0
                    } else {
                        rng.random_range(-2..=2)
                    };
                samples.push((t, m as f64 / scale));
            }
            round_trip(&samples);
            let mut enc = Encoder::new();
            for &(t, v) in &samples {
                enc.append(t, v);
            }
            let c = compact(enc.bytes().to_vec().into_boxed_slice());
            assert_eq!(bits_of(&c, samples[0].0), bits(&samples), "seed {seed}");
            if n > 10 && !huge {
                eligible += 1;
                chosen += usize::from(c[0] == Encoding::Shaped as u8);
            }
            if c[0] == Encoding::Shaped as u8 && c[3] & REGULAR_TIMES != 0 {
                regular += 1;
            }
            let all: Vec<Sample> = samples.iter().map(|&(t, v)| Sample::new(t, v)).collect();
            if let Some((e, ms)) = decimal_exponent(&all) {
                // The range code wherever the residuals fit one, and the
                // older keyed encoding, still read.
                let ranged =
                    encode_decimal_with(&all, e, &ms, Encoding::Shaped, &KEYED_MODES, false, None)
                        .unwrap();
                assert_eq!(
                    bits_of(&ranged, samples[0].0),
                    bits(&samples),
                    "seed {seed}"
                );
                let keyed = encode_decimal(&all, e, &ms, Encoding::Keyed, &KEYED_MODES).unwrap();
                assert_eq!(keyed[0], Encoding::Keyed as u8);
                assert_eq!(bits_of(&keyed, samples[0].0), bits(&samples), "seed {seed}");
                // The older decimal encoding, still read.
                let old =
                    encode_decimal(&all, e, &ms, Encoding::Decimal, &[0, DELTA_MODE]).unwrap();
                assert_eq!(old[0], Encoding::Decimal as u8);
                assert_eq!(bits_of(&old, i64::MIN), bits(&samples), "seed {seed}");
                let got: Vec<(i64, u64)> = decode(&old)
                    .unwrap()
                    .iter()
                    .map(|s| (s.t, s.v.to_bits()))
                    .collect();
                assert_eq!(got, bits(&samples), "seed {seed}");
            }
        }
        assert!(
            regular > 20,
            "only {regular} chunks took the regular-timestamp form"
        );
        assert!(
            chosen * 10 >= eligible * 8,
            "decimal chosen for {chosen} of {eligible} decimal chunks"
        );
    }

    /// Decimal chunks with irregular timestamps: every width of the
    /// timestamps' delta-of-delta code (none, the three buckets and the
    /// 64-bit escape) next to small, wide and escaped mantissa codes, so
    /// the fast loop meets each and hands over to the slow reader mid-chunk;
    /// with timestamps changing often (a code for each) and rarely (runs).
    #[test]
    fn irregular_decimal_chunks_round_trip_through_every_code_width() {
        let (mut each, mut runs) = (0, 0);
        for seed in 0..400u64 {
            let mut rng = SmallRng::seed_from_u64(seed);
            let (mut t, mut m) = (1_793_469_601_237i64, 0i64);
            let mut samples = Vec::new();
            // Odd seeds: the interval mostly holds.
            let arms = if seed % 2 == 1 { 200 } else { 6 };
            for _ in 0..rng.random_range(3..=600) {
                t += 15_000
                    + match rng.random_range(0..arms) {
                        0 => rng.random_range(-8_000..8_000),
                        1 => rng.random_range(-60_000..60_000),
                        2 => rng.random_range(-500_000..500_000),
                        3 => rng.random_range(1_000_000_000..2_000_000_000),
                        4 => rng.random_range(-3..=3),
                        _ => 0,
                    };
                m += match rng.random_range(0..20) {
                    0 => rng.random_range(-(1i64 << 40)..(1i64 << 40)),
                    1..=3 => rng.random_range(-100_000..100_000),
                    _ => rng.random_range(0..40),
                };
                samples.push((t, m as f64 / 100.0));
            }
            round_trip(&samples);
            let mut enc = Encoder::new();
            for &(t, v) in &samples {
                enc.append(t, v);
            }
            let c = compact(enc.bytes().to_vec().into_boxed_slice());
            assert_eq!(bits_of(&c, samples[0].0), bits(&samples), "seed {seed}");
            let all: Vec<Sample> = samples.iter().map(|&(t, v)| Sample::new(t, v)).collect();
            let (e, ms) = decimal_exponent(&all).unwrap();
            let ranged =
                encode_decimal_with(&all, e, &ms, Encoding::Shaped, &KEYED_MODES, false, None)
                    .unwrap();
            assert_eq!(
                bits_of(&ranged, samples[0].0),
                bits(&samples),
                "seed {seed}"
            );
            if c[0] == Encoding::Shaped as u8 && c[3] & REGULAR_TIMES == 0 {
                if c[3] & TIME_RUNS != 0 {
                    runs += 1;
                } else {
                    each += 1;
                }
            }
        }
        assert!(
            each > 50 && runs > 50,
            "irregular decimal chunks: {each} with a code per sample, {runs} with runs"
        );
    }

    /// Counters whose increments scatter around a drifting rate take the
    /// mean mode and round-trip; so do increments at the edge of what a
    /// mantissa holds; the mean rounds half up, negative sums too.
    #[test]
    fn mean_mode_codes_scattered_increments() {
        let mut chosen = 0;
        for seed in 0..100u64 {
            let mut rng = SmallRng::seed_from_u64(seed);
            let rate = rng.random_range(10.0..100_000.0);
            let (mut t, mut m) = (1_793_469_601_237i64, rng.random_range(0..1_000_000i64));
            let mut samples = Vec::new();
            for i in 0..rng.random_range(3..=600) {
                t += 15_000;
                let drift = 1.0 + 0.3 * (i as f64 / 100.0).sin();
                m += (rate * drift * rng.random_range(0.85..1.15)).round() as i64;
                samples.push((t, m as f64 / 100.0));
            }
            let all: Vec<Sample> = samples.iter().map(|&(t, v)| Sample::new(t, v)).collect();
            let c = encode_smallest(&all).unwrap();
            assert_eq!(bits_of(&c, samples[0].0), bits(&samples), "seed {seed}");
            chosen += usize::from(c[0] == Encoding::Shaped as u8 && c[3] & MEAN_MODE != 0);
        }
        assert!(chosen > 80, "mean mode chosen for {chosen} of 100 counters");
        let big = (1i64 << 53) - 1;
        let edge: Vec<(i64, f64)> = (0..100)
            .map(|i| (i * 1000, if i % 3 == 0 { big } else { -big } as f64))
            .collect();
        let all: Vec<Sample> = edge.iter().map(|&(t, v)| Sample::new(t, v)).collect();
        let (e, ms) = decimal_exponent(&all).unwrap();
        for modes in [&KEYED_MODES[..], &[MEAN_MODE]] {
            let c = encode_decimal(&all, e, &ms, Encoding::Shaped, modes).unwrap();
            assert_eq!(bits_of(&c, 0), bits(&edge));
        }
        // The mean: 8 × 10 = 80; after 18, 80 − 10 + 18 = 88 (11); after
        // −100, 88 − 11 − 100 = −23, which rounds to −3 (−23 + 4 = −19,
        // shifted: −3); half rounds up, for negatives too.
        let mut mean = Mean::start(10);
        assert_eq!(mean.predict(), 10);
        mean.push(18);
        assert_eq!(mean.predict(), 11);
        mean.push(-100);
        assert_eq!(mean.acc, -23);
        assert_eq!(mean.predict(), -3);
        assert_eq!(Mean { acc: -4 }.predict(), 0);
        assert_eq!(Mean { acc: -5 }.predict(), -1);
        assert_eq!(Mean { acc: 12 }.predict(), 2);
    }

    /// The walk finds the exhaustive search's bit count on residuals of
    /// every width, and misses it by little where escapes bend the curve.
    #[test]
    fn rice_parameter_search_matches_the_exhaustive_one() {
        let (mut exact, mut total) = (0, 0);
        for seed in 0..500u64 {
            let mut rng = SmallRng::seed_from_u64(seed);
            let width = rng.random_range(0..40u32);
            let xs: Vec<i64> = (0..rng.random_range(1..300))
                .map(|_| match rng.random_range(0..50) {
                    0 if seed % 3 == 0 => rng.random::<i64>(),
                    _ => rng.random_range(-(1i64 << width)..=(1i64 << width)),
                })
                .collect();
            let all = (0..=63u8)
                .map(|k| xs.iter().map(|&x| rice_bits(x, k)).sum::<u64>())
                .min()
                .unwrap();
            let (bits, k) = best_rice_k(&xs);
            assert_eq!(bits, xs.iter().map(|&x| rice_bits(x, k)).sum::<u64>());
            assert!(
                bits * 100 <= all * 105,
                "seed {seed}: {bits} bits, best {all}"
            );
            exact += usize::from(bits == all);
            total += 1;
        }
        assert!(exact * 100 >= total * 95, "exact for {exact} of {total}");
    }

    /// The shortest and longest runs, back to back changes of interval,
    /// and a run that ends the chunk.
    #[test]
    fn timestamp_runs_round_trip_at_their_edges() {
        let shapes: Vec<Vec<i64>> = vec![
            vec![0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0],
            vec![3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -3],
            vec![0; 65_530],
            [
                vec![0; 40_000],
                vec![1],
                vec![0; 20_000],
                vec![-1_000_000_000],
            ]
            .concat(),
            [vec![5, -5], vec![0; 300], vec![9, 9, 9], vec![0; 30]].concat(),
        ];
        for (n, shape) in shapes.into_iter().enumerate() {
            let (mut t, mut d) = (1_793_469_601_237i64, 15_000i64);
            let mut samples = vec![(t, 1.5), (t + d, 2.5)];
            t += d;
            for (k, dod) in shape.iter().enumerate() {
                d += dod;
                t += d;
                samples.push((t, k as f64 * 0.5));
            }
            samples.truncate(Encoder::MAX_SAMPLES);
            let all: Vec<Sample> = samples.iter().map(|&(t, v)| Sample::new(t, v)).collect();
            let c = encode_smallest(&all).unwrap();
            assert_eq!(c[0], Encoding::Shaped as u8, "shape {n}");
            assert_eq!(bits_of(&c, samples[0].0), bits(&samples), "shape {n}");
        }
    }

    /// Truncated binary at every width: each value of a small range, and
    /// both ends of wide ones, read back; ranges past 2^56 are refused.
    #[test]
    fn range_codes_round_trip_at_every_width() {
        assert_eq!(Range::new(0, 0), None);
        assert_eq!(Range::new(0, (1 << RANGE_MAX_BITS) + 1), None);
        assert_eq!(Range::of(&[i64::MIN, i64::MAX]), None);
        for n in 1..=40u64 {
            let r = Range::new(-7, n).unwrap();
            assert_eq!(r.len(), n);
            let xs: Vec<i64> = (0..n as i64).map(|v| v - 7).collect();
            let mut w = BitWriter::from_bytes(Vec::new());
            for &x in &xs {
                r.write(&mut w, x);
            }
            let total: u64 = xs.iter().map(|&x| r.bits(x)).sum();
            assert_eq!(w.bytes.len() as u64, total.div_ceil(8), "n {n}");
            let mut rd = BitReader::new(&w.bytes);
            for &x in &xs {
                assert_eq!(r.read(&mut rd), Some(x), "n {n}");
            }
        }
        for b in 0..=RANGE_MAX_BITS {
            let n = 1u64 << b;
            for n in [n, n + 1, 2 * n - 1] {
                let Some(r) = Range::new(i64::MAX - 3, n) else {
                    assert!(n > 1 << RANGE_MAX_BITS);
                    continue;
                };
                let ends = [i64::MAX - 3, (i64::MAX - 3).wrapping_add((n - 1) as i64)];
                let mut w = BitWriter::from_bytes(Vec::new());
                for &x in &ends {
                    r.write(&mut w, x);
                }
                let mut rd = BitReader::new(&w.bytes);
                for &x in &ends {
                    assert_eq!(r.read(&mut rd), Some(x), "n {n}");
                }
            }
        }
    }

    /// Encoding 4's additions, each where it pays: memory sizes in pages
    /// and steps of 0.25 have their factor divided out; counters whose
    /// increments spread evenly take the range code and come out shorter
    /// than encoding 3; a steady increase takes no bits a sample.
    #[test]
    fn shaped_chunks_divide_out_factors_and_code_ranges() {
        let all = |v: &[(i64, f64)]| -> Vec<Sample> {
            v.iter().map(|&(t, v)| Sample::new(t, v)).collect()
        };
        let (mut factored, mut ranged, mut shorter) = (0, 0, 0);
        for seed in 0..100u64 {
            let mut rng = SmallRng::seed_from_u64(seed);
            let t0 = 1_793_469_601_237i64;
            let pages = rng.random_range(10_000..1_000_000i64);
            let memory: Vec<(i64, f64)> = (0..120)
                .map(|i| {
                    (
                        t0 + i * 15_000,
                        ((pages + rng.random_range(-50..50)) * 4096) as f64,
                    )
                })
                .collect();
            let quarters: Vec<(i64, f64)> = (0..120)
                .map(|i| (t0 + i * 15_000, rng.random_range(0..400) as f64 * 0.25))
                .collect();
            for v in [&memory, &quarters] {
                let c = encode_smallest(&all(v)).unwrap();
                assert_eq!(bits_of(&c, t0), bits(v), "seed {seed}");
                factored += usize::from(c[0] == Encoding::Shaped as u8 && c[4] & FACTOR != 0);
            }
            let rate = rng.random_range(20..5_000i64);
            let mut m = rng.random_range(0..1_000_000i64);
            let counter: Vec<(i64, f64)> = (0..120)
                .map(|i| {
                    m += rate + rng.random_range(-rate / 10..=rate / 10);
                    (t0 + i * 15_000, m as f64)
                })
                .collect();
            let c = encode_smallest(&all(&counter)).unwrap();
            assert_eq!(bits_of(&c, t0), bits(&counter), "seed {seed}");
            ranged += usize::from(c[0] == Encoding::Shaped as u8 && c[4] & RANGE_CODE != 0);
            let (e, ms) = decimal_exponent(&all(&counter)).unwrap();
            let keyed = encode_decimal(&all(&counter), e, &ms, Encoding::Keyed, &KEYED_MODES);
            shorter += usize::from(c.len() < keyed.unwrap().len());
        }
        assert!(factored >= 195, "a factor in {factored} of 200 chunks");
        assert!(ranged >= 90, "the range code in {ranged} of 100 counters");
        assert!(
            shorter >= 90,
            "shorter than encoding 3 for {shorter} of 100"
        );
        // A steady increase: the header, two samples and nothing more.
        let steady: Vec<(i64, f64)> = (0..1000)
            .map(|i| (i * 15_000, (i * 3 + 1) as f64))
            .collect();
        let c = encode_smallest(&all(&steady)).unwrap();
        assert!(c.len() <= 12, "{} bytes", c.len());
        assert_eq!(bits_of(&c, 0), bits(&steady));
    }

    #[test]
    fn damaged_chunks_error_without_panic() {
        let mut e = Encoder::new();
        for i in 0..50 {
            e.append(i * 1000, i as f64 * 1.5);
        }
        let keyed = compact(e.bytes().to_vec().into_boxed_slice());
        assert_eq!(keyed[0], Encoding::Shaped as u8);
        assert_eq!(decode(&keyed).err(), Some(ChunkError::Keyed(4)));
        // Timestamps in runs, and the older decimal encoding.
        let irregular: Vec<Sample> = (0..50)
            .map(|i| Sample::new(i * 1000 + (i / 10) * 7, i as f64 * 1.5))
            .collect();
        let runs = encode_smallest(&irregular).unwrap();
        assert_eq!(runs[3] & TIME_RUNS, TIME_RUNS);
        let (e2, ms) = decimal_exponent(&irregular).unwrap();
        let old = encode_decimal(&irregular, e2, &ms, Encoding::Decimal, &[0, DELTA_MODE]).unwrap();
        let mean = encode_decimal(&irregular, e2, &ms, Encoding::Keyed, &[MEAN_MODE]).unwrap();
        assert_eq!(mean[3] & MEAN_MODE, MEAN_MODE);
        // A factor (mantissas 15, 30, ...) and the range code.
        let ranged = encode_decimal_with(
            &irregular,
            e2,
            &ms,
            Encoding::Shaped,
            &KEYED_MODES,
            false,
            None,
        )
        .unwrap();
        assert_eq!(ranged[4] & (RANGE_CODE | FACTOR), RANGE_CODE | FACTOR);
        let mut rng0 = SmallRng::seed_from_u64(8);
        for decimal in [&keyed[..], &runs[..], &old[..], &mean[..], &ranged[..]] {
            for cut in 0..decimal.len() {
                let _ = decode_row(&decimal[..cut], 0);
                for _ in 0..20 {
                    let mut b = decimal.to_vec();
                    let i = rng0.random_range(0..b.len());
                    b[i] ^= 1 << rng0.random_range(0..8);
                    let _ = decode_row(&b, 0);
                }
            }
            match decode_row(&decimal[..decimal.len() / 2], 0) {
                Err(ChunkError::Truncated { got, want: 50 }) => assert!(got < 50),
                other => panic!("half a chunk: got {other:?}, want Truncated"),
            }
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

    /// A histogram's `_count` and its buckets over `n` scrapes, as a
    /// client library exposes them: each scrape adds a scattered number
    /// of observations, and each bucket a share of them that scatters a
    /// little too (cumulative: a bucket never counts more than the next).
    /// Counters reset once, at scrape `reset`.
    fn histogram(rng: &mut SmallRng, n: usize, reset: usize) -> (Vec<Sample>, Vec<Vec<Sample>>) {
        let shares = [0.05, 0.3, 0.7, 0.95, 1.0];
        let mut count = Vec::new();
        let mut buckets = vec![Vec::new(); shares.len()];
        let (mut c, mut b) = (1000.0f64, vec![0.0f64; shares.len()]);
        for i in 0..n {
            if i == reset {
                c = 0.0;
                b.iter_mut().for_each(|x| *x = 0.0);
            }
            let t = 1_700_000_000_000 + i as i64 * 15_000;
            let obs = (200.0 * rng.random_range(0.8..1.2f64)).round();
            let mut prev = 0.0;
            for (j, share) in shares.iter().enumerate() {
                let inc = match *share {
                    1.0 => obs,
                    s => (obs * s * rng.random_range(0.97..1.03f64))
                        .round()
                        .clamp(prev, obs),
                };
                prev = inc;
                b[j] += inc;
                buckets[j].push(Sample::new(t, b[j]));
            }
            c += obs;
            count.push(Sample::new(t, c));
        }
        (count, buckets)
    }

    fn referenced_bits(chunk: &[u8], mint: i64, reference: &[Sample]) -> Vec<(i64, u64)> {
        let mut out = Vec::new();
        decode_referenced_row_into(chunk, mint, &Reference::new(reference), &mut out).unwrap();
        out.iter().map(|s| (s.t, s.v.to_bits())).collect()
    }

    #[test]
    fn referenced_chunks_round_trip_and_shrink_histogram_buckets() {
        let mut rng = SmallRng::seed_from_u64(5);
        let (count, buckets) = histogram(&mut rng, 480, 300);
        let (mut own, mut referenced) = (0, 0);
        for (j, bucket) in buckets.iter().enumerate() {
            let plain = encode_smallest(bucket).unwrap();
            let chunk = encode_referenced(bucket, 77, &Reference::new(&count)).unwrap();
            assert_eq!(chunk[0], Encoding::Referenced as u8);
            assert_eq!(reference(&chunk), Some(77));
            assert_eq!(reference(&plain), None);
            let want: Vec<(i64, u64)> = bucket.iter().map(|s| (s.t, s.v.to_bits())).collect();
            assert_eq!(
                referenced_bits(&chunk, bucket[0].t, &count),
                want,
                "bucket {j}"
            );
            // Other encodings read the same with a reference or without.
            assert_eq!(
                referenced_bits(&plain, bucket[0].t, &count),
                want,
                "bucket {j}"
            );
            assert_eq!(
                decode_row(&chunk, bucket[0].t).err(),
                Some(ChunkError::Referenced(77))
            );
            own += plain.len();
            referenced += chunk.len();
            if j == buckets.len() - 1 {
                // The bucket that counts everything is the count itself.
                assert!(chunk.len() < 40, "+Inf bucket: {} bytes", chunk.len());
            }
        }
        assert!(
            referenced * 2 < own,
            "referenced {referenced} bytes, own {own}"
        );
    }

    #[test]
    fn referenced_chunks_follow_their_reference_through_every_shape() {
        let mut rng = SmallRng::seed_from_u64(6);
        let (count, buckets) = histogram(&mut rng, 200, 90);
        // Irregular timestamps (a missed scrape, a late one) in runs and in
        // codes per sample; the reference holds samples the chunk does not.
        let pick = |s: &[Sample], keep: &dyn Fn(usize) -> bool| -> Vec<Sample> {
            s.iter()
                .enumerate()
                .filter(|(i, _)| keep(*i))
                .map(|(_, s)| *s)
                .collect()
        };
        let sparse = pick(&buckets[2], &|i| i % 7 != 3);
        let ragged = pick(&buckets[2], &|i| i % 2 == 0 || i % 5 == 1);
        // Decimals with a factor (a sum in milliseconds, steps of 0.25),
        // a member that falls while the count rises, wild magnitudes.
        let sum: Vec<Sample> = count
            .iter()
            .map(|s| Sample::new(s.t, s.v * 0.25 + 0.5))
            .collect();
        let falling: Vec<Sample> = count.iter().map(|s| Sample::new(s.t, 1e6 - s.v)).collect();
        let wild: Vec<Sample> = count
            .iter()
            .map(|s| Sample::new(s.t, (rng.random_range(-(1i64 << 52)..1i64 << 52)) as f64))
            .collect();
        for (name, member) in [
            ("sparse", sparse),
            ("ragged", ragged),
            ("sum", sum),
            ("falling", falling),
            ("wild", wild),
        ] {
            let chunk = encode_referenced(&member, 3, &Reference::new(&count)).unwrap();
            let want: Vec<(i64, u64)> = member.iter().map(|s| (s.t, s.v.to_bits())).collect();
            assert_eq!(referenced_bits(&chunk, member[0].t, &count), want, "{name}");
        }
        // Wild references: huge, negative and wrapping deltas.
        let wild_ref: Vec<Sample> = count
            .iter()
            .enumerate()
            .map(|(i, s)| Sample::new(s.t, [9e15, -9e15, 0.0, 1.0][i % 4]))
            .collect();
        let chunk = encode_referenced(&buckets[1], 3, &Reference::new(&wild_ref)).unwrap();
        let want: Vec<(i64, u64)> = buckets[1].iter().map(|s| (s.t, s.v.to_bits())).collect();
        assert_eq!(referenced_bits(&chunk, want[0].0, &wild_ref), want);
    }

    #[test]
    fn referenced_chunks_need_their_reference_at_every_timestamp() {
        let mut rng = SmallRng::seed_from_u64(7);
        let (count, buckets) = histogram(&mut rng, 60, 1000);
        let member = &buckets[1];
        let chunk = encode_referenced(member, 9, &Reference::new(&count)).unwrap();
        // The encoder refuses what the decoder could not read: a gap in
        // the reference, a value that is not a whole number, NaN, a value
        // that is not a decimal, fewer than two samples.
        let mut gap = count.clone();
        gap.remove(17);
        assert!(encode_referenced(member, 9, &Reference::new(&gap)).is_none());
        let mut fraction = count.clone();
        fraction[20].v += 0.5;
        assert!(encode_referenced(member, 9, &Reference::new(&fraction)).is_none());
        let mut nan = count.clone();
        nan[21].v = f64::NAN;
        assert!(encode_referenced(member, 9, &Reference::new(&nan)).is_none());
        let mut third = member.clone();
        third[5].v = 1.0 / 3.0;
        assert!(encode_referenced(&third, 9, &Reference::new(&count)).is_none());
        assert!(encode_referenced(&member[..1], 9, &Reference::new(&count)).is_none());
        // A chunk whose reference lost a sample names the series and time.
        assert_eq!(
            decode_referenced_row_into(&chunk, member[0].t, &Reference::new(&gap), &mut Vec::new()),
            Err(ChunkError::ReferenceMissing {
                series: 9,
                t: count[17].t
            })
        );
        assert_eq!(
            decode_referenced_row_into(&chunk, member[0].t, &Reference::EMPTY, &mut Vec::new()),
            Err(ChunkError::ReferenceMissing {
                series: 9,
                t: member[0].t
            })
        );
        // A reference whose values changed since: an error, not wrong values.
        let mut changed = count.clone();
        changed[30].v += 1.0;
        let mut out = Vec::new();
        assert_eq!(
            decode_referenced_row_into(&chunk, member[0].t, &Reference::new(&changed), &mut out),
            Err(ChunkError::ReferenceChanged(9))
        );
        assert!(out.is_empty());
        // Damage: every prefix and random bit flips, never a panic.
        let mut rng0 = SmallRng::seed_from_u64(8);
        for cut in 0..chunk.len() {
            let _ = decode_referenced_row_into(
                &chunk[..cut],
                0,
                &Reference::new(&count),
                &mut Vec::new(),
            );
            let _ = reference(&chunk[..cut]);
            for _ in 0..20 {
                let mut b = chunk.to_vec();
                let i = rng0.random_range(0..b.len());
                b[i] ^= 1 << rng0.random_range(0..8);
                let _ = decode_referenced_row_into(
                    &b,
                    member[0].t,
                    &Reference::new(&count),
                    &mut Vec::new(),
                );
            }
        }
        // Mode bits that encoding 4 knows are damage in encoding 5.
        for bit in [DELTA_MODE, MEAN_MODE] {
            let mut b = chunk.to_vec();
            b[3] |= bit;
            assert!(matches!(
                decode_referenced_row_into(
                    &b,
                    member[0].t,
                    &Reference::new(&count),
                    &mut Vec::new()
                ),
                Err(ChunkError::Truncated { got: 0, .. })
            ));
        }
    }

    /// A long chunk of values that take many bits each grows past the
    /// 255 bytes of room an encoder keeps, and reads back whole.
    #[test]
    fn long_chunk_keeps_little_room_and_reads_back() {
        let mut e = Encoder::new();
        let mut want = Vec::new();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for i in 0..5000i64 {
            // xorshift: values whose bits change throughout.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = f64::from_bits(x >> 2);
            let t = i * 15_000 + (x % 7) as i64;
            assert!(e.append(t, v));
            want.push((t, v.to_bits()));
            assert!(e.heap_bytes() - e.bytes().len() <= 255);
        }
        assert!(e.bytes().len() > 20_000);
        let got: Vec<(i64, u64)> = decode(e.bytes())
            .unwrap()
            .iter()
            .map(|s| (s.t, s.v.to_bits()))
            .collect();
        assert_eq!(got, want);
        let finished = e.finish();
        assert_eq!(decode(&finished).unwrap().len(), 5000);
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
