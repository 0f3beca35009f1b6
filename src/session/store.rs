//! The storage behind sessions, as a small trait (after tower-sessions'
//! `SessionStore`), so that another backend is an addition, not a rewrite.
//!
//! A store does storage only; every rule (expiry, rotation, fingerprints,
//! limits, sealing) is in [`Sessions`](super::Sessions).

use super::record::{SessionRecord, StoredState};
use super::token::TokenHash;
use crate::error::Result;

/// A change to a session's state.
#[derive(Debug, Clone)]
pub enum StateWrite<'a> {
    /// Sets one top-level key to a JSON value, atomically in the store.
    SetKey {
        /// The key, already checked.
        key: &'a str,
        /// The value, as JSON text.
        json: &'a str,
    },
    /// Removes one top-level key, atomically in the store.
    RemoveKey(&'a str),
    /// Applies a JSON Merge Patch (RFC 7396) object, atomically in the store.
    MergePatch(&'a str),
    /// Replaces the whole state.
    Replace(StoredState),
}

/// Where sessions live.
pub trait SessionStore {
    /// Inserts a new session with its initial state. Returns `false`, writing
    /// nothing, if its id or token hash is already taken: the caller draws new
    /// ones and tries again.
    fn insert(&self, record: &SessionRecord, state: &StoredState) -> Result<bool>;

    /// The session whose token hashes to `hash`, expired or not.
    fn load(&self, hash: &TokenHash) -> Result<Option<SessionRecord>>;

    /// Records activity.
    fn touch(&self, session_id: &str, last_seen_at: i64, idle_expires_at: i64) -> Result<()>;

    /// Replaces the token hash `old` with `new`, and the user if `user_id` is
    /// given, in one step. Returns `false` if the session no longer has `old`.
    fn rehash(
        &self,
        session_id: &str,
        old: &TokenHash,
        new: &TokenHash,
        user_id: Option<&str>,
    ) -> Result<bool>;

    /// Deletes a session. Returns whether it existed.
    fn delete(&self, session_id: &str) -> Result<bool>;

    /// Deletes a user's session by id. Returns whether it existed.
    fn delete_for_user_by_id(&self, user_id: &str, session_id: &str) -> Result<bool>;

    /// Deletes all of a user's sessions but `except`. Returns how many.
    fn delete_all_for_user(&self, user_id: &str, except: Option<&str>) -> Result<u64>;

    /// A user's sessions that are live at `now`, most recently used first.
    fn list_for_user(&self, user_id: &str, now: i64) -> Result<Vec<SessionRecord>>;

    /// Deletes a user's least recently used sessions until `keep` remain.
    /// Returns how many were deleted.
    fn evict_least_recent(&self, user_id: &str, keep: u32) -> Result<u64>;

    /// Deletes up to `limit` sessions expired at `now`. Returns how many.
    fn delete_expired(&self, now: i64, limit: u32) -> Result<u64>;

    /// The state and its version.
    fn load_state(&self, session_id: &str) -> Result<(StoredState, i64)>;

    /// Applies `write` if the version is `expected` (or whatever it is, for
    /// `None`) and the stored result fits in `limit` bytes; all or nothing.
    /// Returns the new version.
    fn write_state(
        &self,
        session_id: &str,
        write: StateWrite<'_>,
        expected: Option<i64>,
        limit: usize,
    ) -> Result<i64>;
}
