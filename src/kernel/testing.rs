//! Helpers for the crate's unit tests only.

/// A small deterministic generator (xorshift32, Marsaglia's 13/17/5) from
/// `seed` (not zero): each call gives a number below its argument, the same
/// sequence on every target and run.
pub fn xorshift(mut seed: u32) -> impl FnMut(u32) -> u32 {
    move |n| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed % n
    }
}
