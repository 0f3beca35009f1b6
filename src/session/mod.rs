//! Secure server-side sessions.
//!
//! The rules follow the OWASP Session Management Cheat Sheet and ASVS V3:
//! - tokens are 32 random bytes; only their SHA-256 is stored ([`token`]);
//! - an idle deadline that slides with activity (written at most once per
//!   touch interval) and an absolute deadline that never moves;
//! - [`Sessions::rotate`] and [`Sessions::login`] issue a new token for the
//!   same session and invalidate the old one at once (fixation defence);
//! - an optional binding to the client's user agent and network
//!   ([`FingerprintPolicy`]);
//! - per-session JSON state with atomic per-key updates, compare-and-swap and
//!   a size limit, optionally sealed with XChaCha20-Poly1305 ([`Keyring`]).
//!
//! The logic lives in [`Sessions`]; storage is behind the small
//! [`SessionStore`] trait, implemented for SQLite by [`SqliteSessionStore`]
//! and for a Redis shared by many processes by [`RedisSessionStore`].
//! Tokens are `<slot>.<session id>.<secret>` ([`token`]).
//!
//! ```
//! use std::sync::Arc;
//! use usertrail::clock::ManualClock;
//! use usertrail::session::{ClientContext, CreateOptions};
//! use usertrail::{block_on, OpenOptions, Storage, UserTrail};
//!
//! let clock = Arc::new(ManualClock::new(1_700_000_000_000));
//! let trail = UserTrail::open(OpenOptions::new(Storage::Memory).clock(clock.clone())).unwrap();
//! let sessions = trail.sessions();
//! let none = ClientContext::default();
//!
//! // Async, since a shared store is reached through the host; on SQLite
//! // every future is ready at once.
//! block_on(async {
//!     let issued = sessions.create(CreateOptions::default()).await.unwrap();
//!     let alice = sessions.login(&issued.token, "alice").await.unwrap(); // binds and rotates
//!     assert!(sessions.validate(&issued.token, &none).await.unwrap().is_none());
//!     assert!(sessions.validate(&alice.token, &none).await.unwrap().is_some());
//!
//!     clock.advance(31 * 60 * 1000); // past the 30 min idle timeout
//!     assert!(sessions.validate(&alice.token, &none).await.unwrap().is_none());
//! });
//! ```

mod backend;
mod cache;
mod config;
mod input;
mod manager;
mod record;
pub mod redis;
mod seal;
mod sqlite;
mod store;
#[cfg(test)]
mod tests;
pub mod token;

pub use crate::error::SessionError;
pub use backend::Backend;
pub use cache::RecordCache;
pub use config::{FingerprintPolicy, SessionConfig};
pub use manager::{
    merge_patch, Change, ClientContext, CreateOptions, LoginOptions, SessionObserver, Sessions,
};
pub use record::{Client, Issued, Session, SessionRecord, StoredState};
pub use redis::RedisSessionStore;
pub use seal::Keyring;
pub use sqlite::{SqliteSessionStore, SweepCursor};
pub use store::{Rotated, SessionStore, StateWrite, Written};
