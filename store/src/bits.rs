//! Bit-level writing and reading for the chunk codec.

/// Appends bits, most significant first, to a byte vector.
#[derive(Clone, Debug, Default)]
pub(crate) struct BitWriter {
    pub(crate) bytes: Vec<u8>,
    /// Bits still free in the last byte (0 when it is full or absent).
    free: u8,
}

impl BitWriter {
    pub(crate) fn from_bytes(bytes: Vec<u8>) -> Self {
        BitWriter { bytes, free: 0 }
    }

    /// Goes on writing after bits that [`BitWriter::into_parts`] gave.
    pub(crate) fn resume(bytes: Vec<u8>, free: u8) -> Self {
        BitWriter { bytes, free }
    }

    /// The bytes written and the bits still free in the last one.
    pub(crate) fn into_parts(self) -> (Vec<u8>, u8) {
        (self.bytes, self.free)
    }

    /// Starts a new byte. A full vector grows by a quarter (at least 16
    /// bytes), not by doubling: every series' open chunk is one of these,
    /// and doubling leaves a quarter of their memory unused on average,
    /// a tenth this way, for a few more copies of bytes that are few.
    #[inline]
    fn next_byte(&mut self) {
        if self.bytes.len() == self.bytes.capacity() {
            self.bytes.reserve_exact((self.bytes.len() / 4).max(16));
        }
        self.bytes.push(0);
        self.free = 8;
    }

    pub(crate) fn write_bit(&mut self, bit: bool) {
        if self.free == 0 {
            self.next_byte();
        }
        self.free -= 1;
        if bit {
            // `free` was just made >= 1 above, so the vector is non-empty.
            let last = self.bytes.len() - 1;
            self.bytes[last] |= 1 << self.free;
        }
    }

    /// Writes the low `n` bits of `v` (n <= 64).
    pub(crate) fn write_bits(&mut self, v: u64, mut n: u8) {
        while n > 0 {
            if self.free == 0 {
                self.next_byte();
            }
            let take = n.min(self.free);
            let chunk = ((v >> (n - take)) & ((1u64 << take) - 1)) as u8;
            let last = self.bytes.len() - 1;
            self.bytes[last] |= chunk << (self.free - take);
            self.free -= take;
            n -= take;
        }
    }

    pub(crate) fn write_uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.write_bits((v as u8 | 0x80) as u64, 8);
            v >>= 7;
        }
        self.write_bits(v, 8);
    }

    pub(crate) fn write_varint(&mut self, v: i64) {
        self.write_uvarint(((v << 1) ^ (v >> 63)) as u64);
    }
}

/// Reads bits written by [`BitWriter`]; every read fails cleanly at the end.
pub(crate) struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        BitReader { bytes, pos: 0 }
    }

    /// The bytes and the bit position, for a decoder's own tight loop.
    pub(crate) fn parts(&self) -> (&'a [u8], usize) {
        (self.bytes, self.pos)
    }

    /// Moves to bit `pos`, where a decoder's own loop stopped.
    pub(crate) fn set_pos(&mut self, pos: usize) {
        self.pos = pos;
    }

    /// The next 64 bits from the current position, most significant
    /// first, when 8 whole bytes are left from the current byte on; the
    /// top 57 bits at least are ones that follow. `None` near the end,
    /// where the bytewise reads below take over.
    #[inline]
    fn window(&self) -> Option<u64> {
        let i = self.pos / 8;
        let b: [u8; 8] = self.bytes.get(i..i + 8)?.try_into().ok()?;
        Some(u64::from_be_bytes(b) << (self.pos % 8))
    }

    #[inline]
    pub(crate) fn read_bit(&mut self) -> Option<bool> {
        if let Some(w) = self.window() {
            self.pos += 1;
            return Some(w >> 63 == 1);
        }
        let byte = *self.bytes.get(self.pos / 8)?;
        let bit = byte & (0x80 >> (self.pos % 8)) != 0;
        self.pos += 1;
        Some(bit)
    }

    /// Counts one bits up to `max` (at most 56), as
    /// `while n < max && read_bit()? { n += 1 }` does: the zero that ends a
    /// shorter run is read too.
    #[inline]
    pub(crate) fn read_ones(&mut self, max: u8) -> Option<u8> {
        debug_assert!(max <= 56);
        if let Some(w) = self.window() {
            let ones = ((!w).leading_zeros() as u8).min(max);
            self.pos += ones as usize + usize::from(ones < max);
            return Some(ones);
        }
        let mut n = 0;
        while n < max && self.read_bit()? {
            n += 1;
        }
        Some(n)
    }

    #[inline]
    pub(crate) fn read_bits(&mut self, mut n: u8) -> Option<u64> {
        if n == 0 {
            return Some(0);
        }
        if n <= 56 {
            if let Some(w) = self.window() {
                self.pos += n as usize;
                return Some(w >> (64 - n));
            }
        }
        let mut v = 0u64;
        while n > 0 {
            let byte = *self.bytes.get(self.pos / 8)?;
            let offset = (self.pos % 8) as u8;
            let avail = 8 - offset;
            let take = n.min(avail);
            let bits = (byte >> (avail - take)) & (((1u16 << take) - 1) as u8);
            v = (v << take) | bits as u64;
            self.pos += take as usize;
            n -= take;
        }
        Some(v)
    }

    pub(crate) fn read_uvarint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.read_bits(8)? as u8;
            v |= ((b & 0x7f) as u64) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }

    pub(crate) fn read_varint(&mut self) -> Option<i64> {
        let u = self.read_uvarint()?;
        Some(((u >> 1) as i64) ^ -((u & 1) as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_mixed_widths() {
        let items: Vec<(u64, u8)> = vec![
            (1, 1),
            (0, 1),
            (0x3fff, 14),
            (u64::MAX, 64),
            (5, 3),
            (0, 64),
            (0xabcdef, 24),
        ];
        let mut w = BitWriter::default();
        for &(v, n) in &items {
            w.write_bits(v, n);
        }
        w.write_varint(-123456789);
        w.write_uvarint(u64::MAX);
        let mut r = BitReader::new(&w.bytes);
        for &(v, n) in &items {
            assert_eq!(r.read_bits(n), Some(v), "width {n}");
        }
        assert_eq!(r.read_varint(), Some(-123456789));
        assert_eq!(r.read_uvarint(), Some(u64::MAX));
    }

    #[test]
    fn reading_past_the_end_fails() {
        let mut r = BitReader::new(&[0xff]);
        assert_eq!(r.read_bits(8), Some(0xff));
        assert_eq!(r.read_bit(), None);
        assert_eq!(BitReader::new(&[0x80, 0x80]).read_uvarint(), None);
    }

    /// The word-at-a-time reads answer as the bitwise ones do, at every
    /// position and near the end.
    #[test]
    fn fast_reads_match_bitwise_reads() {
        let bytes: Vec<u8> = (0..40u32).map(|i| (i * 97 + 13) as u8 ^ 0xa5).collect();
        let bit_at = |p: usize| bytes[p / 8] & (0x80 >> (p % 8)) != 0;
        let total = bytes.len() * 8;
        for start in 0..total {
            for n in 0..=64u8 {
                let mut r = BitReader::new(&bytes);
                r.pos = start;
                let want = (start + n as usize <= total).then(|| {
                    (0..n as usize).fold(0u64, |v, k| (v << 1) | bit_at(start + k) as u64)
                });
                assert_eq!(r.read_bits(n), want, "read_bits({n}) at {start}");
            }
            for max in [1u8, 4, 16, 56] {
                let mut r = BitReader::new(&bytes);
                r.pos = start;
                let mut p = start;
                let mut n = 0;
                let mut want = Some(());
                while n < max {
                    if p >= total {
                        want = None;
                        break;
                    }
                    p += 1;
                    if !bit_at(p - 1) {
                        break;
                    }
                    n += 1;
                }
                let got = r.read_ones(max);
                match want {
                    Some(()) => {
                        assert_eq!(got, Some(n), "read_ones({max}) at {start}");
                        assert_eq!(r.pos, p, "position after read_ones({max}) at {start}");
                    }
                    None => assert_eq!(got, None, "read_ones({max}) at {start}"),
                }
            }
        }
        let mut ones = vec![0xffu8; 16];
        ones.push(0x00);
        let mut r = BitReader::new(&ones);
        assert_eq!(r.read_ones(16), Some(16));
        assert_eq!(r.pos, 16, "a full run reads no terminating zero");
    }
}
