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
//! [`SessionStore`] trait, implemented for SQLite by [`SqliteSessionStore`].
//!
//! ```
//! use std::sync::Arc;
//! use usertrail::clock::ManualClock;
//! use usertrail::session::{ClientContext, CreateOptions};
//! use usertrail::{OpenOptions, Storage, UserTrail};
//!
//! let clock = Arc::new(ManualClock::new(1_700_000_000_000));
//! let trail = UserTrail::open(OpenOptions::new(Storage::Memory).clock(clock.clone())).unwrap();
//! let sessions = trail.sessions();
//!
//! let issued = sessions.create(CreateOptions::default()).unwrap();
//! let alice = sessions.login(&issued.token, "alice").unwrap(); // binds and rotates
//! assert!(sessions.validate(&issued.token, &ClientContext::default()).unwrap().is_none());
//! assert!(sessions.validate(&alice.token, &ClientContext::default()).unwrap().is_some());
//!
//! clock.advance(31 * 60 * 1000); // past the 30 min idle timeout
//! assert!(sessions.validate(&alice.token, &ClientContext::default()).unwrap().is_none());
//! ```

mod config;
mod input;
mod manager;
mod record;
mod seal;
mod sqlite;
mod store;
#[cfg(test)]
mod tests;
pub mod token;

pub use crate::error::SessionError;
pub use config::{FingerprintPolicy, SessionConfig};
pub use manager::{Change, ClientContext, CreateOptions, SessionObserver, Sessions};
pub use record::{Client, Issued, Session, SessionRecord, StoredState};
pub use seal::Keyring;
pub use sqlite::SqliteSessionStore;
pub use store::{SessionStore, StateWrite};
