//! Driving a future that never waits.
//!
//! The engine's methods that may reach a shared store are `async`. On an
//! engine without one (sessions, preferences and consent in SQLite), or
//! with a transport that answers at once (a blocking Redis client), their
//! futures are ready at the first poll: [`block_on`] runs them from plain
//! synchronous code, natively and on wasm.
//!
//! ```
//! use std::sync::Arc;
//! use usertrail::{block_on, clock::ManualClock, session::CreateOptions, OpenOptions, Storage, UserTrail};
//!
//! let trail = UserTrail::open(OpenOptions::new(Storage::Memory).clock(Arc::new(ManualClock::new(1_000)))).unwrap();
//! let issued = block_on(trail.sessions().create(CreateOptions::default())).unwrap();
//! assert!(!issued.token.is_empty());
//! ```

use std::future::Future;
use std::task::{Context, Poll, Waker};

/// The output of `future`, if it is ready at its first poll.
pub fn now_or_never<F: Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

/// Runs `future`, which must be ready at its first poll.
///
/// # Panics
/// If it would wait (an engine whose shared store is reached
/// asynchronously: `await` its futures instead).
pub fn block_on<F: Future>(future: F) -> F::Output {
    now_or_never(future).expect("this future waits: await it instead of block_on")
}
