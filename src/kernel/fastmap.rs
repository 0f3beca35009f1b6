//! Fast maps for in-memory metrics.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A fast, non-cryptographic hasher for the metrics' in-memory maps (the
/// FxHash mix): keys are small integers and ids from our own database, so
/// hash flooding is no concern, and SipHash dominated the profile on wasm.
#[derive(Debug, Default, Clone, Copy)]
pub struct Fx(u64);

impl Fx {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    fn write_i64(&mut self, i: i64) {
        self.add(i as u64);
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    /// The state turned so that its best-mixed bits come first: the
    /// multiply mixes upwards, so its low bits depend only on the low
    /// bits of the input, and `HashMap` picks buckets by the low bits.
    /// Keys that differ only past their first bytes (`user-1`, `user-2`:
    /// the last bytes of a little-endian word) all fell in a few buckets,
    /// and every lookup compared strings along a long probe (what
    /// rustc-hash 2 does too).
    fn finish(&self) -> u64 {
        self.0.rotate_left(26)
    }
}

/// A `HashMap` with [`Fx`].
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<Fx>>;
/// A `HashSet` with [`Fx`].
pub type FastSet<K> = std::collections::HashSet<K, BuildHasherDefault<Fx>>;
