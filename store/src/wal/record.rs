//! What WAL records mean. Framing (lengths, checksums) is `segment`'s job;
//! this module turns payloads into series, samples and chunks and back.
//! Layouts are specified in `store/docs/format/wal.md`.

use model::Labels;

/// A payload of type 1: series created and samples appended by one commit.
pub(crate) const TYPE_BATCH: u8 = 1;
/// A payload of type 2: encoded chunks, written only into checkpoints.
pub(crate) const TYPE_CHUNKS: u8 = 2;
/// A payload of type 3: a batch with out-of-order samples after its
/// in-order ones.
pub(crate) const TYPE_BATCH_OOO: u8 = 3;
/// Types 4 and 5: types 1 and 3 with sample lists that give each sample's
/// series as the difference from the previous sample's, and one time for
/// all samples when they share it. A scrape's series have consecutive
/// references, so a sample's series takes one byte instead of three, and
/// the records compress about 30% smaller. Written by this build; types 1
/// and 3 are read as before.
pub(crate) const TYPE_DELTA_BATCH: u8 = 4;
pub(crate) const TYPE_DELTA_BATCH_OOO: u8 = 5;

/// The high bit of the type byte: the rest of the payload is a zstd frame
/// holding what follows the type byte of the record `type & 0x7f`.
pub(crate) const COMPRESSED: u8 = 0x80;
/// The next bit (format version 4): the rest of the payload is a Snappy
/// block (the raw format, no framing) holding what follows the type byte
/// of the record `type & 0x3f`.
pub(crate) const SNAPPY: u8 = 0x40;
/// Payloads shorter than this are written as they are: a zstd frame's own
/// overhead (about a dozen bytes) would eat what compression saves.
const COMPRESS_MIN: usize = 128;
/// zstd level: level 1 is the fastest, and on WAL records it comes within
/// a few per cent of level 3's size.
const ZSTD_LEVEL: i32 = 1;

/// Compresses payloads for the WAL, reusing one context.
pub(crate) struct Compressor {
    codec: Codec,
    out: Vec<u8>,
}

enum Codec {
    Snappy(Box<snap::raw::Encoder>),
    Zstd(zstd::bulk::Compressor<'static>),
}

impl Compressor {
    pub(crate) fn new(kind: crate::WalCompression) -> std::io::Result<Compressor> {
        let codec = match kind {
            crate::WalCompression::Snappy => Codec::Snappy(Box::new(snap::raw::Encoder::new())),
            crate::WalCompression::Zstd => {
                let mut ctx = zstd::bulk::Compressor::new(ZSTD_LEVEL)?;
                // The content size in the frame header lets the reader
                // allocate exactly, and refuse a frame that claims more
                // than a record holds.
                ctx.include_contentsize(true)?;
                ctx.include_checksum(false)?;
                Codec::Zstd(ctx)
            }
        };
        Ok(Compressor {
            codec,
            out: Vec::new(),
        })
    }

    /// The payload to write for `raw`: compressed when that makes it
    /// smaller, else `raw` itself.
    pub(crate) fn compress<'a>(&'a mut self, raw: &'a [u8]) -> &'a [u8] {
        if raw.len() < COMPRESS_MIN || raw[0] & (COMPRESSED | SNAPPY) != 0 {
            return raw;
        }
        let body = &raw[1..];
        self.out.clear();
        let n = match &mut self.codec {
            Codec::Snappy(e) => {
                self.out
                    .resize(1 + snap::raw::max_compress_len(body.len()), 0);
                self.out[0] = raw[0] | SNAPPY;
                e.compress(body, &mut self.out[1..]).ok()
            }
            Codec::Zstd(ctx) => {
                self.out
                    .resize(1 + zstd::zstd_safe::compress_bound(body.len()), 0);
                self.out[0] = raw[0] | COMPRESSED;
                ctx.compress_to_buffer(body, &mut self.out[1..]).ok()
            }
        };
        match n {
            Some(n) if 1 + n < raw.len() => {
                self.out.truncate(1 + n);
                &self.out
            }
            _ => raw,
        }
    }
}

/// One committed batch.
#[derive(Debug, Default, Clone)]
pub(crate) struct Batch {
    pub series: Vec<(u64, Labels)>,
    pub samples: Vec<(u64, i64, f64)>,
    /// Out-of-order samples (within the window); written as type 3.
    pub ooo: Vec<(u64, i64, f64)>,
}

/// A decoded record.
#[derive(Debug)]
pub(crate) enum Record {
    Batch(Batch),
    Chunks(Vec<(u64, Vec<u8>)>),
}

pub(crate) fn encode_batch(b: &Batch, out: &mut Vec<u8>) {
    out.push(if b.ooo.is_empty() {
        TYPE_DELTA_BATCH
    } else {
        TYPE_DELTA_BATCH_OOO
    });
    put_uvarint(out, b.series.len() as u64);
    for (r, l) in &b.series {
        put_uvarint(out, *r);
        put_bytes(out, l.encoded().as_bytes());
    }
    put_samples(out, &b.samples);
    if !b.ooo.is_empty() {
        put_samples(out, &b.ooo);
    }
}

/// A sample list of types 4 and 5: count, base time, whether every sample
/// is at the base time, then per sample the change of series reference
/// from the previous sample (from 0 for the first), its time's offset
/// from the base unless all share it, and its value's bits.
fn put_samples(out: &mut Vec<u8>, samples: &[(u64, i64, f64)]) {
    put_uvarint(out, samples.len() as u64);
    let base = samples.first().map_or(0, |s| s.1);
    put_varint(out, base);
    let shared = samples.iter().all(|s| s.1 == base);
    // A scrape's samples take a byte of reference and 8 of value each:
    // grown once, not doubled a dozen times.
    out.reserve(samples.len() * if shared { 9 } else { 12 } + 1);
    out.push(u8::from(shared));
    let mut prev = 0u64;
    for &(r, t, v) in samples {
        put_varint(out, r.wrapping_sub(prev) as i64);
        prev = r;
        if !shared {
            put_varint(out, t.wrapping_sub(base));
        }
        out.extend_from_slice(&v.to_bits().to_le_bytes());
    }
}

pub(crate) fn encode_chunks<'a>(
    chunks: impl ExactSizeIterator<Item = (u64, &'a [u8])>,
    out: &mut Vec<u8>,
) {
    out.push(TYPE_CHUNKS);
    put_uvarint(out, chunks.len() as u64);
    for (r, bytes) in chunks {
        put_uvarint(out, r);
        put_bytes(out, bytes);
    }
}

/// Decodes a payload; the error says what is wrong at which byte.
pub(crate) fn decode(payload: &[u8]) -> Result<Record, String> {
    match payload.first() {
        Some(&t) if t & (COMPRESSED | SNAPPY) == COMPRESSED | SNAPPY => {
            Err(format!("unknown record type {t}"))
        }
        Some(&t) if t & COMPRESSED != 0 => decode_plain(&decompress(payload)?),
        Some(&t) if t & SNAPPY != 0 => decode_plain(&unsnap(payload)?),
        _ => decode_plain(payload),
    }
}

/// The plain payload a Snappy one stands for. The block states its
/// length first, no more than a record may hold, and must decompress to
/// exactly that; anything else is damage.
fn unsnap(payload: &[u8]) -> Result<Vec<u8>, String> {
    let block = &payload[1..];
    let size = match snap::raw::decompress_len(block) {
        Ok(n) if n <= super::segment::MAX_RECORD => n,
        Ok(n) => return Err(format!("byte 1: compressed record claims {n} bytes")),
        Err(e) => return Err(format!("byte 1: snappy: {e}")),
    };
    let mut out = vec![0u8; 1 + size];
    out[0] = payload[0] & !SNAPPY;
    match snap::raw::Decoder::new().decompress(block, &mut out[1..]) {
        Ok(n) if n == size => Ok(out),
        Ok(n) => Err(format!(
            "byte 1: compressed record holds {n} bytes, not {size}"
        )),
        Err(e) => Err(format!("byte 1: snappy: {e}")),
    }
}

/// The plain payload a compressed one stands for. The frame must state its
/// content size, no more than a record may hold, and decompress to exactly
/// that; anything else is damage.
fn decompress(payload: &[u8]) -> Result<Vec<u8>, String> {
    let frame = &payload[1..];
    let size = match zstd::zstd_safe::get_frame_content_size(frame) {
        Ok(Some(n)) if n <= super::segment::MAX_RECORD as u64 => n as usize,
        Ok(Some(n)) => return Err(format!("byte 1: compressed record claims {n} bytes")),
        _ => return Err("byte 1: not a zstd frame with a content size".into()),
    };
    let mut out = vec![0u8; 1 + size];
    out[0] = payload[0] & !COMPRESSED;
    match zstd::bulk::decompress_to_buffer(frame, &mut out[1..]) {
        Ok(n) if n == size => Ok(out),
        Ok(n) => Err(format!(
            "byte 1: compressed record holds {n} bytes, not {size}"
        )),
        Err(e) => Err(format!("byte 1: zstd: {e}")),
    }
}

fn decode_plain(payload: &[u8]) -> Result<Record, String> {
    let mut d = Reader {
        buf: payload,
        pos: 1,
    };
    match payload.first() {
        Some(&ty @ (TYPE_BATCH | TYPE_BATCH_OOO | TYPE_DELTA_BATCH | TYPE_DELTA_BATCH_OOO)) => {
            let delta = matches!(ty, TYPE_DELTA_BATCH | TYPE_DELTA_BATCH_OOO);
            let n = d.len()?;
            let mut b = Batch {
                series: Vec::with_capacity(n),
                samples: Vec::new(),
                ooo: Vec::new(),
            };
            for _ in 0..n {
                let r = d.uvarint()?;
                let raw = d.bytes()?;
                let s = std::str::from_utf8(raw).map_err(|_| d.err("labels are not UTF-8"))?;
                let l = Labels::from_encoded(s).map_err(|e| d.err(&format!("labels: {e}")))?;
                b.series.push((r, l));
            }
            b.samples = d.samples(delta)?;
            if matches!(ty, TYPE_BATCH_OOO | TYPE_DELTA_BATCH_OOO) {
                b.ooo = d.samples(delta)?;
            }
            d.end()?;
            Ok(Record::Batch(b))
        }
        Some(&TYPE_CHUNKS) => {
            let n = d.len()?;
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let r = d.uvarint()?;
                out.push((r, d.bytes()?.to_vec()));
            }
            d.end()?;
            Ok(Record::Chunks(out))
        }
        Some(t) => Err(format!("unknown record type {t}")),
        None => Err("empty record".into()),
    }
}

pub(crate) fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_uvarint(out, b.len() as u64);
    out.extend_from_slice(b);
}

impl Reader<'_> {
    /// A sample list: of types 1 and 3, or with `delta` of types 4 and 5.
    fn samples(&mut self, delta: bool) -> Result<Vec<(u64, i64, f64)>, String> {
        let n = self.len()?;
        let base = self.varint()?;
        let shared = match delta {
            false => false,
            true => match self.fixed::<1>()? {
                [0] => false,
                [1] => true,
                _ => return Err(self.err("bad shared-time flag")),
            },
        };
        let mut out = Vec::with_capacity(n);
        let mut prev = 0u64;
        for _ in 0..n {
            let r = match delta {
                false => self.uvarint()?,
                true => prev.wrapping_add(self.varint()? as u64),
            };
            prev = r;
            let t = match shared {
                true => base,
                false => base.wrapping_add(self.varint()?),
            };
            let v = f64::from_bits(u64::from_le_bytes(self.fixed::<8>()?));
            out.push((r, t, v));
        }
        Ok(out)
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn err(&self, what: &str) -> String {
        format!("byte {}: {what}", self.pos)
    }

    fn uvarint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| self.err("truncated varint"))?;
            self.pos += 1;
            v |= ((b & 0x7f) as u64) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(self.err("varint too long"))
    }

    fn varint(&mut self) -> Result<i64, String> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    /// A count that must fit in what is left (each item takes a byte or more).
    fn len(&mut self) -> Result<usize, String> {
        let n = self.uvarint()?;
        if n > (self.buf.len() - self.pos) as u64 {
            return Err(self.err("count exceeds record"));
        }
        Ok(n as usize)
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.len()?;
        let b = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(b)
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let b = self
            .buf
            .get(self.pos..self.pos + N)
            .ok_or_else(|| self.err("truncated value"))?;
        self.pos += N;
        let mut a = [0u8; N];
        a.copy_from_slice(b);
        Ok(a)
    }

    fn end(&self) -> Result<(), String> {
        if self.pos != self.buf.len() {
            return Err(self.err("trailing bytes"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::segment;
    use super::*;

    #[test]
    fn batch_round_trip_and_damage() {
        // Type 4, and type 5 with out-of-order samples after the others;
        // samples at one time and at several, references up and down.
        let shared = vec![
            (9, 40, 1.0),
            (2, 40, 2.0),
            (u64::MAX, 40, 3.0),
            (0, 40, 4.0),
        ];
        for ooo in [
            vec![],
            vec![(8, -10, 2.5), (7, i64::MIN, f64::INFINITY)],
            shared.clone(),
        ] {
            let b = Batch {
                series: vec![
                    (7, Labels::from_pairs([("__name__", "a"), ("x", "東京")])),
                    (8, Labels::empty()),
                ],
                samples: match ooo.is_empty() {
                    true => shared.clone(),
                    false => vec![
                        (7, 1_793_469_601_237, f64::NAN),
                        (8, -5, 1.5),
                        (7, i64::MAX, -0.0),
                    ],
                },
                ooo,
            };
            let mut buf = Vec::new();
            encode_batch(&b, &mut buf);
            let want_type = if b.ooo.is_empty() {
                TYPE_DELTA_BATCH
            } else {
                TYPE_DELTA_BATCH_OOO
            };
            assert_eq!(buf[0], want_type);
            let Ok(Record::Batch(got)) = decode(&buf) else {
                panic!("decode failed")
            };
            assert_eq!(got.series, b.series);
            assert_eq!(got.samples.len(), b.samples.len());
            assert_eq!(got.ooo.len(), b.ooo.len());
            let pairs = got
                .samples
                .iter()
                .zip(&b.samples)
                .chain(got.ooo.iter().zip(&b.ooo));
            for (g, w) in pairs {
                assert!(
                    g.0 == w.0 && g.1 == w.1 && g.2.to_bits() == w.2.to_bits(),
                    "got {g:?} want {w:?}"
                );
            }
            for cut in 0..buf.len() {
                assert!(
                    decode(&buf[..cut]).is_err(),
                    "prefix of {cut} bytes decoded"
                );
            }
        }
    }

    /// The examples of `store/docs/format/wal.md`: one commit creating
    /// `up{job="api"}` as series 1 with two samples, as this build writes
    /// it (type 4) and as earlier builds wrote it (type 1, still read).
    #[test]
    fn the_documented_batches() {
        let hex = |s: &str| -> Vec<u8> {
            s.split_whitespace()
                .map(|b| u8::from_str_radix(b, 16).unwrap())
                .collect()
        };
        let labels = "38 3a 5f 5f 6e 61 6d 65 5f 5f 32 3a 75 70 33 3a 6a 6f 62 33 3a 61 70 69";
        let base = "80 a0 ab fe f9 62";
        let one = "00 00 00 00 00 00 f0 3f";
        let zero = "00 00 00 00 00 00 00 00";
        let type4 = hex(&format!(
            "04 01 01 18 {labels} 02 {base} 00 02 00 {one} 00 b0 ea 01 {zero}"
        ));
        let type1 = hex(&format!(
            "01 01 01 18 {labels} 02 {base} 01 00 {one} 01 b0 ea 01 {zero}"
        ));
        let b = Batch {
            series: vec![(1, Labels::from_pairs([("__name__", "up"), ("job", "api")]))],
            samples: vec![(1, 1_700_000_000_000, 1.0), (1, 1_700_000_015_000, 0.0)],
            ooo: vec![],
        };
        let mut buf = Vec::new();
        encode_batch(&b, &mut buf);
        assert_eq!(buf, type4);
        assert_eq!(crc32fast::hash(&type4), 0x7694_7fd5);
        assert_eq!(crc32fast::hash(&type1), 0xe55e_64b1);
        for payload in [&type4, &type1] {
            let Ok(Record::Batch(got)) = decode(payload) else {
                panic!("decode failed")
            };
            assert_eq!(got.series, b.series);
            assert_eq!(got.samples, b.samples);
        }
        // The shared-time flag is 0 or 1.
        let mut bad = type4.clone();
        bad[35] = 2;
        assert!(decode(&bad).unwrap_err().contains("shared-time flag"));
    }

    #[test]
    fn chunks_round_trip() {
        let mut buf = Vec::new();
        let chunks: Vec<(u64, &[u8])> = vec![(1, &[1, 0, 0]), (300, &[9; 200])];
        encode_chunks(chunks.clone().into_iter(), &mut buf);
        let Ok(Record::Chunks(got)) = decode(&buf) else {
            panic!("decode failed")
        };
        assert_eq!(
            got,
            chunks
                .iter()
                .map(|(r, b)| (*r, b.to_vec()))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn compressed_round_trip_and_damage() {
        let b = Batch {
            series: (0..50)
                .map(|i| {
                    (
                        i,
                        Labels::from_pairs([("__name__", "m"), ("i", &i.to_string())]),
                    )
                })
                .collect(),
            samples: (0..50).map(|i| (i, 1_793_469_601_237, 7.0)).collect(),
            ooo: vec![],
        };
        let mut raw = Vec::new();
        encode_batch(&b, &mut raw);
        for (kind, bit) in [
            (crate::WalCompression::Snappy, SNAPPY),
            (crate::WalCompression::Zstd, COMPRESSED),
        ] {
            let mut c = Compressor::new(kind).unwrap();
            let packed = c.compress(&raw).to_vec();
            assert_eq!(packed[0], TYPE_DELTA_BATCH | bit, "{kind:?}");
            assert!(
                packed.len() < raw.len() / 2,
                "{kind:?}: {} of {}",
                packed.len(),
                raw.len()
            );
            let got = match decode(&packed) {
                Ok(Record::Batch(got)) => got,
                other => panic!("{kind:?}: decode: {other:?}"),
            };
            assert_eq!(got.series, b.series);
            assert_eq!(got.samples, b.samples);
            // Too small to gain: written as it is.
            let small = [TYPE_BATCH, 0, 0, 0];
            assert_eq!(c.compress(&small), &small);
            // Every prefix is damage and never a panic.
            for cut in 1..packed.len() {
                assert!(
                    decode(&packed[..cut]).is_err(),
                    "{kind:?}: prefix of {cut} bytes decoded"
                );
            }
            let mut flipped = packed.clone();
            let last = flipped.len() - 1;
            flipped[last] ^= 0xff;
            // (Neither format carries a checksum here, the WAL frame's
            // CRC covers it; a changed byte may decode to other values,
            // never panic.)
            let _ = decode(&flipped);
        }
        // A frame or block claiming more than a record holds is damage.
        let zero = vec![0u8; segment::MAX_RECORD + 1];
        let mut huge = vec![TYPE_BATCH | COMPRESSED];
        huge.extend(zstd::bulk::compress(&zero, 1).unwrap());
        let e = decode(&huge).err().unwrap();
        assert!(e.contains("claims"), "{e}");
        let mut huge = vec![TYPE_BATCH | SNAPPY];
        huge.extend(snap::raw::Encoder::new().compress_vec(&zero).unwrap());
        let e = decode(&huge).err().unwrap();
        assert!(e.contains("claims"), "{e}");
        // Both bits: neither compression.
        let e = decode(&[TYPE_BATCH | SNAPPY | COMPRESSED, 0, 0])
            .err()
            .unwrap();
        assert_eq!(e, "unknown record type 193");
        // Not a Snappy block at all.
        let e = decode(&[TYPE_BATCH | SNAPPY, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
            .err()
            .unwrap();
        assert!(e.contains("snappy"), "{e}");
    }
}
