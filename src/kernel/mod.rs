//! The kernel: small, pure helpers that every concern uses. It imports
//! nothing else from the crate, so any module may import it.
//!
//! - [`clock`] and [`calendar`]: time, injectable, and civil dates;
//! - [`ids`]: CSPRNG bytes, UUIDv7s, hex and a stable hash;
//! - [`net`]: IP parsing and masking;
//! - [`useragent`]: user agents reduced to a browser, an OS and a device class;
//! - [`redact`] and [`url`]: emails, phone numbers and card numbers in free
//!   text and in URLs;
//! - [`text`]: the one check on caller-supplied text;
//! - [`fastmap`] and [`stats`]: fast maps for in-memory metrics, medians,
//!   percentiles and the two-proportion z-test;
//! - [`tally`]: weighted counts that merge exactly;
//! - [`varint`]: base-128 integers and a reader of packed bytes.
//!
//! A check that fails returns an [`Invalid`], which the error layer turns
//! into `INVALID_INPUT`.

pub mod block;
pub mod bytes;
pub mod calendar;
pub mod clock;
pub mod fastmap;
pub mod ids;
mod invalid;
pub mod json_len;
pub mod net;
pub mod proxy;
pub mod redact;
pub mod stats;
pub mod tally;
#[cfg(test)]
pub mod testing;
pub mod text;
pub mod url;
pub mod useragent;
pub mod varint;

pub use invalid::Invalid;
