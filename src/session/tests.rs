//! Unit tests of the session rules that need a store misbehaving on purpose.
#[cfg(all(target_family = "wasm", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::cell::Cell;

use rusqlite::Connection;
use serde_json::json;

use super::manager::merge_patch;
use super::*;
use crate::kernel::clock::ManualClock;
use crate::kernel::net::IpMask;
use crate::session::token::TokenHash;

use crate::store::{Storage, Store, StoreOptions};

/// A store that lets another writer in between a read of the state and
/// the write that follows it, the race a sealed read-modify-write meets.
struct Racing<'a> {
    inner: SqliteSessionStore<'a>,
    keys: &'a Keyring,
    races_left: &'a Cell<u32>,
}

impl SessionStore for Racing<'_> {
    fn insert(&self, r: &SessionRecord, s: &StoredState) -> crate::error::Result<bool> {
        self.inner.insert(r, s)
    }
    fn load(&self, h: &TokenHash) -> crate::error::Result<Option<SessionRecord>> {
        self.inner.load(h)
    }
    fn touch(&self, id: &str, seen: i64, idle: i64) -> crate::error::Result<()> {
        self.inner.touch(id, seen, idle)
    }
    fn rehash(
        &self,
        id: &str,
        o: &TokenHash,
        n: &TokenHash,
        u: Option<&str>,
    ) -> crate::error::Result<bool> {
        self.inner.rehash(id, o, n, u)
    }
    fn delete(&self, id: &str) -> crate::error::Result<bool> {
        self.inner.delete(id)
    }
    fn delete_for_user_by_id(&self, u: &str, id: &str) -> crate::error::Result<bool> {
        self.inner.delete_for_user_by_id(u, id)
    }
    fn delete_all_for_user(&self, u: &str, e: Option<&str>) -> crate::error::Result<u64> {
        self.inner.delete_all_for_user(u, e)
    }
    fn list_for_user(&self, u: &str, now: i64) -> crate::error::Result<Vec<SessionRecord>> {
        self.inner.list_for_user(u, now)
    }
    fn evict_least_recent(&self, u: &str, keep: u32) -> crate::error::Result<u64> {
        self.inner.evict_least_recent(u, keep)
    }
    fn delete_expired(&self, now: i64, limit: u32) -> crate::error::Result<u64> {
        self.inner.delete_expired(now, limit)
    }
    fn load_state(&self, id: &str) -> crate::error::Result<(StoredState, i64)> {
        let read = self.inner.load_state(id)?;
        let n = self.races_left.get();
        if n > 0 {
            self.races_left.set(n - 1);
            // Another writer seals a state of its own in between.
            let json = json!({ format!("raced{n}"): true }).to_string();
            let (key_id, blob) = self.keys.seal(json.as_bytes(), id.as_bytes()).unwrap();
            let other = StoredState::Sealed { key_id, blob };
            self.inner
                .write_state(id, StateWrite::Replace(other), None, usize::MAX)?;
        }
        Ok(read)
    }
    fn write_state(
        &self,
        id: &str,
        w: StateWrite<'_>,
        e: Option<i64>,
        l: usize,
    ) -> crate::error::Result<i64> {
        self.inner.write_state(id, w, e, l)
    }
}

fn store() -> Store {
    Store::open(Storage::Memory, &StoreOptions::default(), 0).unwrap()
}

#[test]
fn a_sealed_write_that_races_another_retries_and_loses_nothing() {
    let store = store();
    let conn: &Connection = store.conn();
    let config = SessionConfig {
        keys: Keyring::new([("k".to_string(), [3u8; 32])]).unwrap(),
        ..SessionConfig::default()
    };
    let clock = ManualClock::new(1_000);
    let sweep = Cell::new(0);
    let races = Cell::new(0);
    let racing = Racing {
        inner: SqliteSessionStore::new(conn),
        keys: &config.keys,
        races_left: &races,
    };
    let sessions = Sessions::new(racing, &config, IpMask::default(), &clock, &sweep);
    let t = sessions.create(CreateOptions::default()).unwrap().token;
    races.set(1);
    sessions.set(&t, "a", &json!(1), None).unwrap();
    // The other writer's state was kept, and this write applied on top.
    assert_eq!(
        sessions.get(&t, None).unwrap(),
        Some(json!({ "raced1": true, "a": 1 }))
    );

    // With an expected version, a race is a conflict, not a retry.
    let calm = Sessions::new(
        SqliteSessionStore::new(conn),
        &config,
        IpMask::default(),
        &clock,
        &sweep,
    );
    let v = calm
        .validate(&t, &ClientContext::default())
        .unwrap()
        .unwrap()
        .version;
    let races = Cell::new(1);
    let racing = Racing {
        inner: SqliteSessionStore::new(conn),
        keys: &config.keys,
        races_left: &races,
    };
    let sessions = Sessions::new(racing, &config, IpMask::default(), &clock, &sweep);
    let err = sessions.set(&t, "b", &json!(2), Some(v)).unwrap_err();
    assert_eq!(crate::error::ErrorCode::code(&err), "CONFLICT");
}

#[test]
fn a_sealed_write_that_keeps_racing_gives_up_typed() {
    let store = store();
    let config = SessionConfig {
        keys: Keyring::new([("k".to_string(), [3u8; 32])]).unwrap(),
        ..SessionConfig::default()
    };
    let clock = ManualClock::new(1_000);
    let sweep = Cell::new(0);
    let races = Cell::new(0);
    let racing = Racing {
        inner: SqliteSessionStore::new(store.conn()),
        keys: &config.keys,
        races_left: &races,
    };
    let sessions = Sessions::new(racing, &config, IpMask::default(), &clock, &sweep);
    let t = sessions.create(CreateOptions::default()).unwrap().token;
    races.set(100);
    let err = sessions.set(&t, "a", &json!(1), None).unwrap_err();
    assert_eq!(crate::error::ErrorCode::code(&err), "BUSY");
}

#[test]
fn merge_patch_follows_rfc_7396() {
    let mut doc = json!({ "a": "b", "c": { "d": "e", "f": "g" } });
    merge_patch(&mut doc, &json!({ "a": "z", "c": { "f": null } }));
    assert_eq!(doc, json!({ "a": "z", "c": { "d": "e" } }));
    let mut doc = json!({ "a": [1] });
    merge_patch(&mut doc, &json!({ "a": { "b": 1 }, "n": null }));
    assert_eq!(doc, json!({ "a": { "b": 1 } }));
}

#[test]
fn accepted_client_leaves_out_what_the_engine_refuses() {
    let long = "x".repeat(5_000);
    let c = ClientContext {
        ip: Some("not an ip"),
        user_agent: Some("Mozilla/5.0"),
    };
    let a = c.accepted();
    assert_eq!((a.ip, a.user_agent), (None, Some("Mozilla/5.0")));
    let c = ClientContext {
        ip: Some("203.0.113.9"),
        user_agent: Some(&long),
    };
    let a = c.accepted();
    assert_eq!((a.ip, a.user_agent), (Some("203.0.113.9"), None));
    assert!(
        a.check().is_ok(),
        "what is accepted passes the engine's checks"
    );
}
