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

    pub(crate) fn write_bit(&mut self, bit: bool) {
        if self.free == 0 {
            self.bytes.push(0);
            self.free = 8;
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
                self.bytes.push(0);
                self.free = 8;
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

    pub(crate) fn read_bit(&mut self) -> Option<bool> {
        let byte = *self.bytes.get(self.pos / 8)?;
        let bit = byte & (0x80 >> (self.pos % 8)) != 0;
        self.pos += 1;
        Some(bit)
    }

    pub(crate) fn read_bits(&mut self, mut n: u8) -> Option<u64> {
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
}
