//! Sessions in the engine's SQLite database.

use std::cell::RefCell;

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction, TransactionBehavior};

use super::cache::RecordCache;
use super::input::key_path;
use super::record::{Client, SessionRecord, StoredState};
use super::store::{SessionStore, StateWrite, Written};
use super::token::{self, subject_slot, Locator, TokenHash};
use super::SessionError;
use crate::error::{Error, Result};
use crate::kernel::useragent::DeviceClass;

/// The sessions table of an engine's database.
#[derive(Debug, Clone, Copy)]
pub struct SqliteSessionStore<'a> {
    conn: &'a Connection,
    cache: Option<&'a RecordCache>,
    sweep: Option<&'a SweepCursor>,
}

/// Where the last sweep of expired sessions stopped: the key (slot,
/// session id) of the last session it looked at. The table has no index
/// by expiry, so sweeps walk it in key order, each from where the last
/// one stopped; an engine keeps one of these across calls, starting
/// anywhere ([`SweepCursor::anywhere`]) so that engines opened for a
/// short while do not all walk the same first keys.
#[derive(Debug, Default)]
pub struct SweepCursor(RefCell<Option<(String, String)>>);

impl SweepCursor {
    /// A cursor at a random place in the key space: before an anonymous
    /// slot (`a` and a base64url character) or a user's (`u` and a hex
    /// digit), drawn once.
    pub fn anywhere() -> Self {
        const B64: &[u8; 64] = b"-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let [kind, pick] = crate::kernel::ids::random_bytes::<2>();
        let slot = if kind & 1 == 0 {
            format!("a{}", B64[usize::from(pick & 63)] as char)
        } else {
            format!("u{}", HEX[usize::from(pick & 15)] as char)
        };
        Self(RefCell::new(Some((slot, String::new()))))
    }
}

const SWEEP_CHUNK: u32 = 1024;

impl<'a> SqliteSessionStore<'a> {
    /// A store on `conn`, whose schema includes the sessions table.
    pub fn new(conn: &'a Connection) -> Self {
        Self {
            conn,
            cache: None,
            sweep: None,
        }
    }

    /// A store on `conn` (a connection or a transaction on it) whose
    /// sweeps go on from `sweep`; lookups read the table.
    pub fn sweeping(conn: &'a Connection, sweep: &'a SweepCursor) -> Self {
        Self {
            conn,
            cache: None,
            sweep: Some(sweep),
        }
    }

    /// A store on `conn` whose lookups go through `cache`, installed on
    /// `conn` ([`RecordCache::install`]), and whose sweeps go on from
    /// `sweep`.
    pub fn cached(conn: &'a Connection, cache: &'a RecordCache, sweep: &'a SweepCursor) -> Self {
        Self {
            conn,
            cache: Some(cache),
            sweep: Some(sweep),
        }
    }

    fn immediate(&self) -> Result<Transaction<'a>> {
        Ok(Transaction::new_unchecked(
            self.conn,
            TransactionBehavior::Immediate,
        )?)
    }
}

/// The columns [`record`] reads, as a literal so that the statements that
/// read records are `concat!`ed at compile time instead of formatted at
/// each call.
macro_rules! columns {
    () => {
        "session_id, token_hash, user_id, created_at, last_seen_at, idle_timeout_ms, \
         idle_expires_at, absolute_expires_at, ip_masked, browser, os, device, fingerprint, version"
    };
}

fn record(row: &Row<'_>) -> rusqlite::Result<SessionRecord> {
    let device: String = row.get(11)?;
    Ok(SessionRecord {
        session_id: row.get(0)?,
        token_hash: row.get(1)?,
        user_id: row.get(2)?,
        created_at: row.get(3)?,
        last_seen_at: row.get(4)?,
        idle_timeout_ms: row.get(5)?,
        idle_expires_at: row.get(6)?,
        absolute_expires_at: row.get(7)?,
        client: Client {
            ip: row.get(8)?,
            browser: row.get(9)?,
            os: row.get(10)?,
            device: DeviceClass::from_name(&device),
        },
        fingerprint: row.get(12)?,
        version: row.get(13)?,
    })
}

/// The slot `r` is kept in: with its id, the table's key.
fn slot_of(r: &SessionRecord) -> String {
    token::slot(r.user_id.as_deref(), &r.session_id)
}

/// Whether two hashes are equal, in time that does not depend on where
/// they differ.
fn same_hash(a: &TokenHash, b: &TokenHash) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn split(state: &StoredState) -> (Option<&str>, Option<&[u8]>, Option<&str>) {
    match state {
        StoredState::Plain(json) => (Some(json), None, None),
        StoredState::Sealed { key_id, blob } => (None, Some(blob), Some(key_id)),
    }
}

impl SqliteSessionStore<'_> {
    /// The record `at` names: looked up by the slot and session id the
    /// token carries (the table's key; a token has both or neither), or
    /// for a first-format token by its hash among the sessions that can
    /// have one; the secret's hash must match, and so must the slot.
    fn find(conn: &Connection, at: &Locator) -> Result<Option<SessionRecord>> {
        let found = match (&at.slot, &at.session_id) {
            (Some(slot), Some(session_id)) => conn
                .prepare_cached(concat!(
                    "SELECT ",
                    columns!(),
                    " FROM sessions WHERE slot = ?1 AND session_id = ?2"
                ))?
                .query_row([slot, session_id], record)
                .optional()?,
            _ => conn
                .prepare_cached(concat!(
                    "SELECT ",
                    columns!(),
                    " FROM sessions WHERE token_hash = ?1 AND first_format"
                ))?
                .query_row([&at.hash], record)
                .optional()?,
        };
        Ok(found.filter(|r| Self::named(r, at)))
    }

    /// Whether `r` is the record `at` names: its hash, and its place.
    fn named(r: &SessionRecord, at: &Locator) -> bool {
        same_hash(&r.token_hash, &at.hash) && at.names(&r.session_id, r.user_id.as_deref())
    }

    /// Deletes up to `limit` sessions expired at `at` (their idle deadline
    /// at or before it), looking at no more than `visit` sessions (`None`:
    /// all of them once) in key order from where the last sweep stopped,
    /// and past the end from the first key; with `dry_run`, counts them
    /// and deletes nothing, nor moves the cursor. Returns how many.
    pub fn sweep_expired(
        &self,
        at: i64,
        limit: u32,
        visit: Option<u32>,
        dry_run: bool,
    ) -> Result<u64> {
        let start = self.sweep.and_then(|c| c.0.borrow().clone());
        let (expired, stopped) = self.expired_from(start.as_ref(), at, limit, visit)?;
        if dry_run {
            return Ok(expired.len() as u64);
        }
        if let Some(cursor) = self.sweep {
            *cursor.0.borrow_mut() = stopped;
        }
        if expired.is_empty() {
            return Ok(0);
        }
        // idle_expires_at never passes absolute_expires_at (see the schema);
        // checked again here, in the statement that deletes.
        let keys = serde_json::to_string(&expired).unwrap_or_else(|_| "[]".into());
        let mut stmt = self.conn.prepare_cached(
            "DELETE FROM sessions WHERE (slot, session_id) IN ( \
               SELECT value ->> 0, value ->> 1 FROM json_each(?1)) AND idle_expires_at <= ?2",
        )?;
        Ok(stmt.execute(params![keys, at])? as u64)
    }

    /// The keys of up to `limit` sessions expired at `at`, looking at up
    /// to `visit` sessions (`None`: every one once) in key order after
    /// `start` and then, past the end, from the first up to `start`; and
    /// the key of the last one looked at (where the next sweep starts).
    #[allow(clippy::type_complexity)]
    fn expired_from(
        &self,
        start: Option<&(String, String)>,
        at: i64,
        limit: u32,
        visit: Option<u32>,
    ) -> Result<(Vec<(String, String)>, Option<(String, String)>)> {
        // Two statements, so that each range is one search of the key
        // (an optional bound would leave the second one unused).
        const TO_END: &str = "SELECT slot, session_id, idle_expires_at <= ?3 FROM sessions \
             WHERE (slot, session_id) > (?1, ?2) ORDER BY slot, session_id LIMIT ?4";
        const UP_TO: &str = "SELECT slot, session_id, idle_expires_at <= ?3 FROM sessions \
             WHERE (slot, session_id) > (?1, ?2) AND (slot, session_id) <= (?5, ?6) \
             ORDER BY slot, session_id LIMIT ?4";
        let mut expired = Vec::new();
        let mut left = visit.map_or(u64::MAX, u64::from);
        let mut last = start.cloned();
        // First from `start` to the end, then from the first key to `start`.
        let passes = [(start, None), (None, start)];
        let passes = if start.is_some() {
            &passes[..]
        } else {
            &passes[..1]
        };
        for &(from, until) in passes {
            let mut stmt =
                self.conn
                    .prepare_cached(if until.is_some() { UP_TO } else { TO_END })?;
            let mut after: (String, String) = from.cloned().unwrap_or_default();
            loop {
                let want = u64::from(SWEEP_CHUNK).min(left);
                if want == 0 || expired.len() >= limit as usize {
                    return Ok((expired, last));
                }
                let mut bound = vec![
                    rusqlite::types::Value::from(after.0.clone()),
                    after.1.clone().into(),
                    at.into(),
                    (want as i64).into(),
                ];
                if let Some((slot, session_id)) = until {
                    bound.push(slot.clone().into());
                    bound.push(session_id.clone().into());
                }
                let rows: Vec<(String, String, bool)> = stmt
                    .query_map(rusqlite::params_from_iter(bound), |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })?
                    .collect::<rusqlite::Result<_>>()?;
                let got = rows.len() as u64;
                for (slot, session_id, is_expired) in rows {
                    left -= 1;
                    after = (slot, session_id);
                    last = Some(after.clone());
                    if is_expired {
                        expired.push(after.clone());
                        if expired.len() >= limit as usize {
                            return Ok((expired, last));
                        }
                    }
                }
                if got < want {
                    break;
                }
            }
        }
        Ok((expired, last))
    }

    fn evict(conn: &Connection, user_id: &str, keep: u32) -> Result<u64> {
        let mut stmt = conn.prepare_cached(
            "DELETE FROM sessions WHERE slot = ?3 AND session_id IN ( \
               SELECT session_id FROM sessions WHERE slot = ?3 AND user_id = ?1 \
               ORDER BY last_seen_at DESC, created_at DESC, session_id LIMIT -1 OFFSET ?2)",
        )?;
        Ok(stmt.execute(params![user_id, keep, subject_slot(user_id)])? as u64)
    }
}

impl SessionStore for SqliteSessionStore<'_> {
    async fn insert(
        &self,
        r: &SessionRecord,
        state: &StoredState,
        keep: Option<u32>,
    ) -> Result<Option<u64>> {
        let (data, sealed, key_id) = split(state);
        let evict = match (&r.user_id, keep) {
            (Some(user), Some(keep)) => Some((user, keep)),
            _ => None,
        };
        // A create that evicts nothing is one statement, committed on its
        // own: an explicit transaction would add a statement journal (the
        // cache's triggers make the INSERT a multi-write statement) and a
        // write transaction on the temp schema that holds them. Inside a
        // transaction someone else holds on the connection it opens its own
        // all the same, and so fails as a create that evicts does, rather
        // than issue a token the other party's rollback would take back.
        let tx = if evict.is_some() || !self.conn.is_autocommit() {
            Some(self.immediate()?)
        } else {
            None
        };
        let n = self
            .conn
            .prepare_cached(
                "INSERT INTO sessions (slot, session_id, token_hash, user_id, created_at, last_seen_at, \
                 idle_timeout_ms, idle_expires_at, absolute_expires_at, ip_masked, browser, os, device, \
                 fingerprint, version, data, sealed, key_id) \
                 VALUES (?18, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, json(?15), ?16, ?17) \
                 ON CONFLICT DO NOTHING",
            )?
            .execute(params![
                r.session_id,
                r.token_hash,
                r.user_id,
                r.created_at,
                r.last_seen_at,
                r.idle_timeout_ms,
                r.idle_expires_at,
                r.absolute_expires_at,
                r.client.ip,
                r.client.browser,
                r.client.os,
                r.client.device.as_str(),
                r.fingerprint,
                r.version,
                data,
                sealed,
                key_id,
                slot_of(r),
            ])?;
        if n != 1 {
            return Ok(None);
        }
        let (Some(tx), Some((user, keep))) = (tx, evict) else {
            return Ok(Some(0));
        };
        let evicted = Self::evict(&tx, user, keep)?;
        tx.commit()?;
        Ok(Some(evicted))
    }

    async fn load(&self, at: &Locator) -> Result<Option<SessionRecord>> {
        let (Some(cache), Some(session_id)) = (self.cache, &at.session_id) else {
            return Self::find(self.conn, at);
        };
        if let Some(cached) = cache.get(session_id) {
            return Ok(Some(cached).filter(|r| Self::named(r, at)));
        }
        let found = Self::find(self.conn, at)?;
        // Kept only for a token that holds it: a session id alone (not a
        // secret) does not fill the cache.
        if let Some(r) = &found {
            cache.put(self.conn, r);
        }
        Ok(found)
    }

    async fn touch(&self, r: &SessionRecord) -> Result<()> {
        let mut stmt = self.conn.prepare_cached(
            "UPDATE sessions SET last_seen_at = ?3, idle_expires_at = ?4 \
             WHERE slot = ?5 AND session_id = ?1 AND token_hash = ?2",
        )?;
        stmt.execute(params![
            r.session_id,
            r.token_hash,
            r.last_seen_at,
            r.idle_expires_at,
            slot_of(r)
        ])?;
        Ok(())
    }

    async fn rehash(&self, r: &SessionRecord, new: &TokenHash) -> Result<bool> {
        let mut stmt = self.conn.prepare_cached(
            "UPDATE sessions SET token_hash = ?3, first_format = 0 \
             WHERE slot = ?4 AND session_id = ?1 AND token_hash = ?2",
        )?;
        Ok(stmt.execute(params![r.session_id, r.token_hash, new, slot_of(r)])? == 1)
    }

    async fn relife(&self, r: &SessionRecord, updated: &SessionRecord) -> Result<bool> {
        let mut stmt = self.conn.prepare_cached(
            "UPDATE sessions SET idle_timeout_ms = ?3, idle_expires_at = ?4, absolute_expires_at = ?5 \
             WHERE slot = ?6 AND session_id = ?1 AND token_hash = ?2",
        )?;
        Ok(stmt.execute(params![
            r.session_id,
            r.token_hash,
            updated.idle_timeout_ms,
            updated.idle_expires_at,
            updated.absolute_expires_at,
            slot_of(r)
        ])? == 1)
    }

    async fn bind(
        &self,
        r: &SessionRecord,
        bound: &SessionRecord,
        keep: Option<u32>,
    ) -> Result<bool> {
        let tx = self.immediate()?;
        let n = tx
            .prepare_cached(
                "UPDATE sessions SET token_hash = ?3, first_format = 0, user_id = ?4, last_seen_at = ?5, \
                 idle_expires_at = ?6, idle_timeout_ms = ?7, absolute_expires_at = ?8, slot = ?10 \
                 WHERE slot = ?9 AND session_id = ?1 AND token_hash = ?2",
            )?
            .execute(params![
                r.session_id,
                r.token_hash,
                bound.token_hash,
                bound.user_id,
                bound.last_seen_at,
                bound.idle_expires_at,
                bound.idle_timeout_ms,
                bound.absolute_expires_at,
                slot_of(r),
                slot_of(bound)
            ])?;
        if n != 1 {
            return Ok(false);
        }
        if let (Some(user), Some(keep)) = (&bound.user_id, keep) {
            Self::evict(&tx, user, keep)?;
        }
        tx.commit()?;
        Ok(true)
    }

    async fn delete(&self, r: &SessionRecord) -> Result<bool> {
        let mut stmt = self
            .conn
            .prepare_cached("DELETE FROM sessions WHERE slot = ?2 AND session_id = ?1")?;
        Ok(stmt.execute([&r.session_id, &slot_of(r)])? == 1)
    }

    async fn delete_for_user_by_id(&self, user_id: &str, session_id: &str) -> Result<bool> {
        let mut stmt = self.conn.prepare_cached(
            "DELETE FROM sessions WHERE slot = ?3 AND session_id = ?1 AND user_id = ?2",
        )?;
        Ok(stmt.execute([session_id, user_id, &subject_slot(user_id)])? == 1)
    }

    async fn delete_all_for_user(&self, user_id: &str, except: Option<&str>) -> Result<u64> {
        let mut stmt = self.conn.prepare_cached(
            "DELETE FROM sessions WHERE slot = ?3 AND user_id = ?1 \
             AND session_id IS NOT coalesce(?2, '')",
        )?;
        Ok(stmt.execute(params![user_id, except, subject_slot(user_id)])? as u64)
    }

    async fn list_for_user(&self, user_id: &str, now: i64) -> Result<Vec<SessionRecord>> {
        let mut stmt = self.conn.prepare_cached(concat!(
            "SELECT ",
            columns!(),
            " FROM sessions WHERE slot = ?3 AND user_id = ?1 AND idle_expires_at > ?2 \
             ORDER BY last_seen_at DESC, created_at DESC, session_id"
        ))?;
        let rows = stmt.query_map(params![user_id, now, subject_slot(user_id)], record)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    async fn evict_least_recent(&self, user_id: &str, keep: u32) -> Result<u64> {
        Self::evict(self.conn, user_id, keep)
    }

    async fn delete_expired(&self, now: i64, limit: u32, visit: Option<u32>) -> Result<u64> {
        self.sweep_expired(now, limit, visit, false)
    }

    async fn load_state(&self, r: &SessionRecord) -> Result<(StoredState, i64)> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT data, sealed, key_id, version FROM sessions WHERE slot = ?2 AND session_id = ?1",
        )?;
        let row = stmt
            .query_row([&r.session_id, &slot_of(r)], |r| {
                let data: Option<String> = r.get(0)?;
                let sealed: Option<Vec<u8>> = r.get(1)?;
                let key_id: Option<String> = r.get(2)?;
                Ok((data, sealed, key_id, r.get::<_, i64>(3)?))
            })
            .optional()?
            .ok_or(Error::from(SessionError::NotFound))?;
        let state = match row {
            (Some(json), _, _, _) => StoredState::Plain(json),
            (None, Some(blob), Some(key_id), _) => StoredState::Sealed { key_id, blob },
            _ => StoredState::Plain("{}".into()),
        };
        Ok((state, row.3))
    }

    async fn write_state(
        &self,
        at: &Locator,
        now: i64,
        write: StateWrite<'_>,
        expected: Option<i64>,
        limit: usize,
    ) -> Result<Written> {
        let tx = self.immediate()?;
        let Some(record) = Self::find(&tx, at)? else {
            return Ok(Written::NotFound);
        };
        if record.is_expired(now) {
            return Ok(Written::Expired(Box::new(record)));
        }
        let session_id = record.session_id.as_str();
        // Found under the token's slot when it names one (no hash again).
        let slot = at.slot.clone().unwrap_or_else(|| slot_of(&record));
        let sealed: bool = tx
            .prepare_cached(
                "SELECT sealed IS NOT NULL FROM sessions WHERE slot = ?2 AND session_id = ?1",
            )?
            .query_row([session_id, &slot], |r| r.get(0))?;
        let version = record.version;
        if let Some(expected) = expected.filter(|e| *e != version) {
            return Err(SessionError::Conflict {
                expected,
                found: version,
            }
            .into());
        }
        if sealed && !matches!(write, StateWrite::Replace(_)) {
            // Sealed state cannot be edited by SQL; the manager replaces it whole.
            return Ok(Written::Sealed);
        }
        let changed = match write {
            StateWrite::SetKey { key, json } => tx
                .prepare_cached(
                    "UPDATE sessions SET data = json_set(data, ?2, json(?3)), version = version + 1 \
                     WHERE slot = ?4 AND session_id = ?1",
                )?
                .execute(params![session_id, key_path(key), json, slot])?,
            StateWrite::RemoveKey(key) => tx
                .prepare_cached(
                    "UPDATE sessions SET data = json_remove(data, ?2), version = version + 1 \
                     WHERE slot = ?3 AND session_id = ?1",
                )?
                .execute(params![session_id, key_path(key), slot])?,
            StateWrite::MergePatch(patch) => tx
                .prepare_cached(
                    "UPDATE sessions SET data = json_patch(data, json(?2)), version = version + 1 \
                     WHERE slot = ?3 AND session_id = ?1",
                )?
                .execute(params![session_id, patch, slot])?,
            StateWrite::Replace(state) => {
                let (data, sealed, key_id) = split(&state);
                tx.prepare_cached(
                    "UPDATE sessions SET data = json(?2), sealed = ?3, key_id = ?4, version = version + 1 \
                     WHERE slot = ?5 AND session_id = ?1",
                )?
                .execute(params![session_id, data, sealed, key_id, slot])?
            }
        };
        debug_assert_eq!(changed, 1);
        let size: i64 = tx
            .prepare_cached(
                "SELECT coalesce(length(CAST(data AS BLOB)), length(sealed)) FROM sessions \
                 WHERE slot = ?2 AND session_id = ?1",
            )?
            .query_row([session_id, &slot], |r| r.get(0))?;
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        if size > limit {
            // Dropping the transaction rolls the write back.
            return Err(SessionError::PayloadTooLarge { size, limit }.into());
        }
        tx.commit()?;
        Ok(Written::Version(version + 1))
    }
}
