//! The storage behind sessions, as a small trait (after tower-sessions'
//! `SessionStore`), so that another backend is an addition, not a rewrite:
//! [`SqliteSessionStore`](super::SqliteSessionStore) in the engine's own
//! database, [`RedisSessionStore`](super::RedisSessionStore) shared by many
//! processes.
//!
//! A store does storage only, each operation one step (one transaction, or
//! one Redis script on keys of one hash slot); every rule (expiry,
//! rotation, fingerprints, limits, sealing) is in
//! [`Sessions`](super::Sessions). The methods are `async` because a shared
//! store is reached through the host; the SQLite store answers at once.

use super::record::{SessionRecord, StoredState};
use super::token::{Locator, TokenHash};
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

/// What a state write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// Applied; the state's new version.
    Version(i64),
    /// The token names no live session: unknown, rotated away, destroyed.
    NotFound,
    /// The session is past a deadline at `now`; nothing was written (the
    /// caller deletes it).
    Expired(Box<SessionRecord>),
    /// The state is sealed, so it cannot be edited in place: the caller
    /// opens it, edits it and replaces it whole.
    Sealed,
}

/// What a rotation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotated {
    /// The token hash was replaced; the record as it was before.
    Done(SessionRecord),
    /// The token names no live session.
    NotFound,
    /// The session is past a deadline; nothing was changed.
    Expired(SessionRecord),
}

/// Where sessions live. Every method is one step in the store.
#[allow(async_fn_in_trait)] // used generically, never as a trait object
pub trait SessionStore {
    /// Inserts a new session with its initial state and, for a user's
    /// session with `keep`, evicts that user's least recently used sessions
    /// beyond `keep`, in the same step. Returns how many were evicted, or
    /// `None`, writing nothing, if the session id or token hash is taken:
    /// the caller draws new ones and tries again.
    async fn insert(
        &self,
        record: &SessionRecord,
        state: &StoredState,
        keep: Option<u32>,
    ) -> Result<Option<u64>>;

    /// The session a token names, if its hash matches, expired or not.
    async fn load(&self, at: &Locator) -> Result<Option<SessionRecord>>;

    /// Records activity (`last_seen_at`, `idle_expires_at` of `record`), if
    /// the session still holds `record.token_hash`. Never revives a deleted
    /// session.
    async fn touch(&self, record: &SessionRecord) -> Result<()>;

    /// Replaces `record`'s token hash with `new`, if it still holds the old
    /// one. Returns whether it did.
    async fn rehash(&self, record: &SessionRecord, new: &TokenHash) -> Result<bool>;

    /// Gives `record` the timeouts of `updated` (its idle timeout, idle
    /// deadline and absolute deadline; the rest is the same), if it still
    /// holds its token hash. Returns whether it did.
    async fn relife(&self, record: &SessionRecord, updated: &SessionRecord) -> Result<bool>;

    /// Binds the anonymous session `record` to `bound.user_id` with the token
    /// hash `bound.token_hash` (a login), keeping its id and state (its
    /// activity, idle timeout and both deadlines are `bound`'s),
    /// and evicts the user's least recently used sessions beyond
    /// `keep`. A shared store moves the session into the user's slot, which
    /// may take a few steps. Returns whether the session was still there.
    async fn bind(
        &self,
        record: &SessionRecord,
        bound: &SessionRecord,
        keep: Option<u32>,
    ) -> Result<bool>;

    /// Deletes a session. Returns whether it existed.
    async fn delete(&self, record: &SessionRecord) -> Result<bool>;

    /// Deletes a session found expired: as [`delete`](Self::delete), but
    /// nothing a failover must keep (it is over either way), so a shared
    /// store does not wait for replicas and a validate answers `null`, not
    /// `STORE_UNAVAILABLE`, while too few are up.
    async fn delete_expired_one(&self, record: &SessionRecord) -> Result<bool> {
        self.delete(record).await
    }

    /// Deletes a user's session by id. Returns whether it existed.
    async fn delete_for_user_by_id(&self, user_id: &str, session_id: &str) -> Result<bool>;

    /// Deletes all of a user's sessions but `except`. Returns how many.
    async fn delete_all_for_user(&self, user_id: &str, except: Option<&str>) -> Result<u64>;

    /// A user's sessions that are live at `now`, most recently used first.
    async fn list_for_user(&self, user_id: &str, now: i64) -> Result<Vec<SessionRecord>>;

    /// Deletes a user's least recently used sessions until `keep` remain.
    /// Returns how many were deleted.
    async fn evict_least_recent(&self, user_id: &str, keep: u32) -> Result<u64>;

    /// Deletes up to `limit` sessions expired at `now`, looking at no more
    /// than `visit` sessions (`None`: all of them once) from where the last
    /// call stopped. Returns how many it deleted. A store whose entries
    /// expire by themselves may do nothing.
    async fn delete_expired(&self, now: i64, limit: u32, visit: Option<u32>) -> Result<u64>;

    /// The state of the live session `record` and its version.
    async fn load_state(&self, record: &SessionRecord) -> Result<(StoredState, i64)>;

    /// Applies `write` to the state of the session the token `at` names, in
    /// one step: if it still holds that token, is live at `now`, its version
    /// is `expected` (or whatever it is, for `None`) and the stored result
    /// fits in `limit` bytes; all or nothing.
    async fn write_state(
        &self,
        at: &Locator,
        now: i64,
        write: StateWrite<'_>,
        expected: Option<i64>,
        limit: usize,
    ) -> Result<Written>;

    /// The session `at` names with its state and version, expired or not:
    /// one step where the store can ([`load`](Self::load) then
    /// [`load_state`](Self::load_state) otherwise).
    async fn load_with_state(
        &self,
        at: &Locator,
    ) -> Result<Option<(SessionRecord, StoredState, i64)>> {
        let Some(record) = self.load(at).await? else {
            return Ok(None);
        };
        let (state, version) = self.load_state(&record).await?;
        Ok(Some((record, state, version)))
    }

    /// Gives the session `at` names the token hash `new`, if it is live at
    /// `now`: one step where the store can.
    async fn rotate(&self, at: &Locator, now: i64, new: &TokenHash) -> Result<Rotated> {
        let Some(record) = self.load(at).await? else {
            return Ok(Rotated::NotFound);
        };
        if record.is_expired(now) {
            return Ok(Rotated::Expired(record));
        }
        Ok(if self.rehash(&record, new).await? {
            Rotated::Done(record)
        } else {
            Rotated::NotFound
        })
    }

    /// Deletes the session `at` names, if its token still holds it, and
    /// returns it: one step where the store can.
    async fn delete_token(&self, at: &Locator) -> Result<Option<SessionRecord>> {
        let Some(record) = self.load(at).await? else {
            return Ok(None);
        };
        Ok(self.delete(&record).await?.then_some(record))
    }

    /// How the store keeps sessions, for the rules: whether it sweeps expired
    /// sessions itself (a TTL) rather than on request.
    fn expires_by_itself(&self) -> bool {
        false
    }
}
