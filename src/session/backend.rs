//! The session store an engine uses: its own SQLite database, or a shared
//! Redis store when the host gave one.

use super::record::{SessionRecord, StoredState};
use super::redis::RedisSessionStore;
use super::sqlite::SqliteSessionStore;
use super::store::{Rotated, SessionStore, StateWrite, Written};
use super::token::{Locator, TokenHash};
use crate::error::Result;

/// One of the session stores, chosen when the engine opens.
#[derive(Debug, Clone, Copy)]
pub enum Backend<'a> {
    /// The engine's own database.
    Sqlite(SqliteSessionStore<'a>),
    /// A Redis shared by many processes.
    Redis(RedisSessionStore<'a>),
}

macro_rules! each {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            Backend::Sqlite($s) => $call,
            Backend::Redis($s) => $call,
        }
    };
}

impl SessionStore for Backend<'_> {
    async fn insert(
        &self,
        record: &SessionRecord,
        state: &StoredState,
        keep: Option<u32>,
    ) -> Result<Option<u64>> {
        each!(self, s => s.insert(record, state, keep).await)
    }

    async fn load(&self, at: &Locator) -> Result<Option<SessionRecord>> {
        each!(self, s => s.load(at).await)
    }

    async fn load_with_state(
        &self,
        at: &Locator,
    ) -> Result<Option<(SessionRecord, StoredState, i64)>> {
        each!(self, s => s.load_with_state(at).await)
    }

    async fn touch(&self, record: &SessionRecord) -> Result<()> {
        each!(self, s => s.touch(record).await)
    }

    async fn rehash(&self, record: &SessionRecord, new: &TokenHash) -> Result<bool> {
        each!(self, s => s.rehash(record, new).await)
    }

    async fn relife(&self, record: &SessionRecord, updated: &SessionRecord) -> Result<bool> {
        each!(self, s => s.relife(record, updated).await)
    }

    async fn rotate(&self, at: &Locator, now: i64, new: &TokenHash) -> Result<Rotated> {
        each!(self, s => s.rotate(at, now, new).await)
    }

    async fn bind(
        &self,
        record: &SessionRecord,
        bound: &SessionRecord,
        keep: Option<u32>,
    ) -> Result<bool> {
        each!(self, s => s.bind(record, bound, keep).await)
    }

    async fn delete(&self, record: &SessionRecord) -> Result<bool> {
        each!(self, s => s.delete(record).await)
    }

    async fn delete_expired_one(&self, record: &SessionRecord) -> Result<bool> {
        each!(self, s => s.delete_expired_one(record).await)
    }

    async fn delete_token(&self, at: &Locator) -> Result<Option<SessionRecord>> {
        each!(self, s => s.delete_token(at).await)
    }

    async fn delete_for_user_by_id(&self, user_id: &str, session_id: &str) -> Result<bool> {
        each!(self, s => s.delete_for_user_by_id(user_id, session_id).await)
    }

    async fn delete_all_for_user(&self, user_id: &str, except: Option<&str>) -> Result<u64> {
        each!(self, s => s.delete_all_for_user(user_id, except).await)
    }

    async fn list_for_user(&self, user_id: &str, now: i64) -> Result<Vec<SessionRecord>> {
        each!(self, s => s.list_for_user(user_id, now).await)
    }

    async fn evict_least_recent(&self, user_id: &str, keep: u32) -> Result<u64> {
        each!(self, s => s.evict_least_recent(user_id, keep).await)
    }

    async fn delete_expired(&self, now: i64, limit: u32, visit: Option<u32>) -> Result<u64> {
        each!(self, s => s.delete_expired(now, limit, visit).await)
    }

    async fn load_state(&self, record: &SessionRecord) -> Result<(StoredState, i64)> {
        each!(self, s => s.load_state(record).await)
    }

    async fn write_state(
        &self,
        at: &Locator,
        now: i64,
        write: StateWrite<'_>,
        expected: Option<i64>,
        limit: usize,
    ) -> Result<Written> {
        each!(self, s => s.write_state(at, now, write, expected, limit).await)
    }

    fn expires_by_itself(&self) -> bool {
        each!(self, s => s.expires_by_itself())
    }
}
