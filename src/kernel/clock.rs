//! Time, injectable.
//!
//! Every timestamp the engine writes comes from a [`Clock`], in milliseconds
//! since the Unix epoch. Production uses the wall clock; tests use a
//! [`ManualClock`] and move it, so expiry and retention tests never sleep.
//!
//! ```
//! use usertrail::clock::{Clock, ManualClock};
//!
//! let clock = ManualClock::new(1_000);
//! clock.advance(30 * 60 * 1_000);
//! assert_eq!(clock.now_ms(), 1_801_000);
//! ```

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// `Send + Sync` on native targets, where an engine may move between threads;
/// nothing on wasm, which is single-threaded and whose JS values are not `Send`.
#[cfg(not(target_family = "wasm"))]
pub trait MaybeSendSync: Send + Sync {}
#[cfg(not(target_family = "wasm"))]
impl<T: Send + Sync + ?Sized> MaybeSendSync for T {}

/// `Send + Sync` on native targets, where an engine may move between threads;
/// nothing on wasm, which is single-threaded and whose JS values are not `Send`.
#[cfg(target_family = "wasm")]
pub trait MaybeSendSync {}
#[cfg(target_family = "wasm")]
impl<T: ?Sized> MaybeSendSync for T {}

/// A source of the current time in milliseconds since the Unix epoch.
pub trait Clock: MaybeSendSync {
    /// The current time, in milliseconds since the Unix epoch. Never negative.
    fn now_ms(&self) -> i64;
}

/// A clock shared between an engine and its parts.
pub type SharedClock = Arc<dyn Clock>;

/// The operating system's wall clock. Native targets only: on wasm the host
/// supplies the time (see `usertrail::wasm`).
#[cfg(not(all(target_family = "wasm", target_os = "unknown")))]
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

#[cfg(not(all(target_family = "wasm", target_os = "unknown")))]
impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        use std::time::{SystemTime, UNIX_EPOCH};
        // A clock set before 1970 reads as the epoch rather than a negative time.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to. For tests and simulations.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicI64,
}

impl ManualClock {
    /// A clock reading `start_ms`. Negative starts read as 0.
    pub fn new(start_ms: i64) -> Self {
        Self {
            now: AtomicI64::new(start_ms.max(0)),
        }
    }

    /// Sets the time. Negative times read as 0.
    pub fn set(&self, ms: i64) {
        self.now.store(ms.max(0), Ordering::SeqCst);
    }

    /// Moves the time forward (or back, with a negative `ms`), never below 0.
    pub fn advance(&self, ms: i64) {
        let next = self.now.load(Ordering::SeqCst).saturating_add(ms).max(0);
        self.now.store(next, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(5);
        assert_eq!(clock.now_ms(), 5);
        clock.advance(10);
        assert_eq!(clock.now_ms(), 15);
        clock.set(100);
        assert_eq!(clock.now_ms(), 100);
    }

    #[test]
    fn manual_clock_never_reads_negative() {
        let clock = ManualClock::new(-50);
        assert_eq!(clock.now_ms(), 0);
        clock.set(10);
        clock.advance(-100);
        assert_eq!(clock.now_ms(), 0);
    }

    #[cfg(not(all(target_family = "wasm", target_os = "unknown")))]
    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now_ms() > 1_577_836_800_000);
    }
}
