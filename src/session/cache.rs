//! Session records in memory beside the engine's own sessions table, so that
//! a validate reads no page of SQLite.
//!
//! The table stays the truth; the cache only spares reading it again. It is
//! kept true by temporary triggers on the table: every `UPDATE` or
//! `DELETE` of a row, by whatever statement made it (a rotate, a state
//! write, a touch, erasure, retention, anonymisation, SQL an operator runs
//! through the engine), takes its session out of the cache inside that
//! statement, and so does an `INSERT` (one that replaces a row deletes it
//! without the `DELETE` trigger). SQLite's update hook cannot do this: it is
//! not called for a `WITHOUT ROWID` table. What replaces the table or the
//! database itself under an open engine (dropping the table, which drops
//! the triggers; the backup API or `deserialize` into the engine's
//! connection) is outside the engine's API; Rust code that does it through
//! `store_mut()` must reopen the engine.
//!
//! A record is put in only when read outside any transaction, so a row a
//! transaction changes and then rolls back is never kept, and only for a
//! token that holds it (its hash and its place), so that knowing a session
//! id, which is not secret, does not fill the cache. One engine holds
//! its database at a time (the exclusive lock), so no other process writes
//! the table under it. The cache holds at most [`CAPACITY`] records; a
//! server validating more sessions than that within a touch interval reads
//! SQLite more often. A shared store (Redis) has no cache: other processes
//! write it.

use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::functions::FunctionFlags;
use rusqlite::Connection;

use super::record::SessionRecord;
use crate::error::Result;
use crate::kernel::fastmap::FastMap;

/// How many records the cache holds (about 500 bytes each, so 16 MB at
/// most); when it is full, the next record put empties it first.
pub const CAPACITY: usize = 32_768;

/// The SQL function the triggers call with the changed row's session id.
const FORGET: &str = "usertrail_session_changed";

/// The cached records, by session id; cloning shares them.
#[derive(Debug, Default, Clone)]
pub struct RecordCache(Arc<Mutex<FastMap<String, SessionRecord>>>);

impl RecordCache {
    /// Installs the function and the temporary triggers that keep this
    /// cache true on `conn`, the engine's connection (the only one that
    /// writes its database). Call once per connection.
    pub fn install(&self, conn: &Connection) -> Result<()> {
        let records = Arc::clone(&self.0);
        // Not innocuous, and so unusable from a database's own schema; a
        // temporary trigger is the application's and may call it.
        conn.create_scalar_function(FORGET, 1, FunctionFlags::SQLITE_UTF8, move |ctx| {
            if let Ok(id) = ctx.get_raw(0).as_str() {
                records
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(id);
            }
            Ok(rusqlite::types::Null)
        })?;
        // An INSERT that replaces a row (`INSERT OR REPLACE`) deletes it
        // without the DELETE trigger: the INSERT trigger forgets the id too.
        conn.execute_batch(
            "CREATE TEMP TRIGGER usertrail_sessions_updated AFTER UPDATE ON main.sessions \
               BEGIN SELECT usertrail_session_changed(OLD.session_id), \
                            usertrail_session_changed(NEW.session_id); END; \
             CREATE TEMP TRIGGER usertrail_sessions_deleted AFTER DELETE ON main.sessions \
               BEGIN SELECT usertrail_session_changed(OLD.session_id); END; \
             CREATE TEMP TRIGGER usertrail_sessions_inserted AFTER INSERT ON main.sessions \
               BEGIN SELECT usertrail_session_changed(NEW.session_id); END;",
        )?;
        Ok(())
    }

    /// The record of `session_id`, if cached.
    pub fn get(&self, session_id: &str) -> Option<SessionRecord> {
        self.records().get(session_id).cloned()
    }

    /// Keeps `record`, just read from `conn`, unless a transaction is open
    /// there (it could still roll back what it read).
    pub fn put(&self, conn: &Connection, record: &SessionRecord) {
        if !conn.is_autocommit() {
            return;
        }
        let mut records = self.records();
        // Full: start again (O(1) a record over time; dropping one record at
        // a time from the front of a hash map scans ever more empty slots).
        if records.len() >= CAPACITY && !records.contains_key(&record.session_id) {
            records.clear();
        }
        records.insert(record.session_id.clone(), record.clone());
    }

    /// How many records are cached.
    pub fn len(&self) -> usize {
        self.records().len()
    }

    /// Whether no record is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn records(&self) -> std::sync::MutexGuard<'_, FastMap<String, SessionRecord>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::kernel::useragent::DeviceClass;
    use crate::session::Client;

    fn record(id: usize) -> SessionRecord {
        SessionRecord {
            session_id: format!("s{id}"),
            token_hash: [7; 32],
            user_id: None,
            created_at: 0,
            last_seen_at: 0,
            idle_timeout_ms: 1,
            idle_expires_at: 1,
            absolute_expires_at: 1,
            client: Client {
                ip: None,
                browser: "Other".into(),
                os: "Other".into(),
                device: DeviceClass::Unknown,
            },
            fingerprint: None,
            version: 0,
        }
    }

    #[test]
    fn holds_at_most_its_capacity_and_nothing_read_in_a_transaction() {
        let conn = Connection::open_in_memory().unwrap();
        let cache = RecordCache::default();
        for i in 0..CAPACITY {
            cache.put(&conn, &record(i));
        }
        assert_eq!(cache.len(), CAPACITY);
        // Put again: replaced, not grown.
        cache.put(&conn, &record(CAPACITY - 1));
        assert_eq!(cache.len(), CAPACITY);
        // One more: emptied first, then kept.
        cache.put(&conn, &record(CAPACITY));
        assert_eq!(cache.len(), 1);
        assert!(cache.get(&format!("s{CAPACITY}")).is_some());

        let fresh = RecordCache::default();
        conn.execute_batch("BEGIN").unwrap();
        fresh.put(&conn, &record(1));
        conn.execute_batch("COMMIT").unwrap();
        assert!(fresh.is_empty(), "read inside a transaction: not kept");
    }
}
