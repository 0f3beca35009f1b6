//! Little-endian base-128 integers (LEB128), as packed blocks of events
//! ([`crate::tracking::blocks`]) and the day rollups
//! ([`crate::analytics::days`]) write them, and a reader over such bytes
//! that says `None` for anything truncated or out of range.

/// `v` with its sign in the lowest bit, so that small negative numbers are
/// small too.
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// The inverse of [`zigzag`].
pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Appends `v` in 7-bit groups, lowest first.
pub fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A cursor over bytes.
#[derive(Debug)]
pub struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, at: 0 }
    }

    /// The next byte.
    pub fn byte(&mut self) -> Option<u8> {
        let b = *self.data.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    /// The next integer as [`put`] writes it. One byte (below 128, the
    /// most common in packed columns) is read inline.
    #[inline]
    pub fn varint(&mut self) -> Option<u64> {
        match self.data.get(self.at) {
            Some(b) if *b < 0x80 => {
                self.at += 1;
                Some(u64::from(*b))
            }
            _ => self.varint_long(),
        }
    }

    /// [`Reader::varint`] of more than one byte (or none left).
    fn varint_long(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7F) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }

    /// The next integer, as a count of items that each take at least a
    /// byte: `None` if more are claimed than bytes are left.
    pub fn count(&mut self) -> Option<usize> {
        let n = usize::try_from(self.varint()?).ok()?;
        (n <= self.data.len() - self.at).then_some(n)
    }

    /// The bytes left, without reading them.
    pub fn rest(&self) -> &'a [u8] {
        &self.data[self.at..]
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.data.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }

    /// The next 8 bytes as a little-endian `u64`.
    pub fn u64_le(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    /// Whether every byte was read.
    pub fn is_done(&self) -> bool {
        self.at == self.data.len()
    }
}
