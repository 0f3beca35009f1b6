//! Unit tests of the session rules that need a store misbehaving on purpose.
#[cfg(all(target_family = "wasm", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::cell::Cell;

use rusqlite::Connection;
use serde_json::json;

use super::manager::merge_patch;
use super::*;
use crate::kernel::block::block_on;
use crate::kernel::clock::ManualClock;
use crate::kernel::net::IpMask;
use crate::session::store::Written;
use crate::session::token::{Locator, TokenHash};

use crate::store::{Storage, Store, StoreOptions};

/// A store that lets another writer in between a read of the state and
/// the write that follows it, the race a sealed read-modify-write meets.
struct Racing<'a> {
    inner: SqliteSessionStore<'a>,
    keys: &'a Keyring,
    races_left: &'a Cell<u32>,
}

impl SessionStore for Racing<'_> {
    async fn insert(
        &self,
        r: &SessionRecord,
        s: &StoredState,
        keep: Option<u32>,
    ) -> crate::error::Result<Option<u64>> {
        self.inner.insert(r, s, keep).await
    }
    async fn load(&self, at: &Locator) -> crate::error::Result<Option<SessionRecord>> {
        self.inner.load(at).await
    }
    async fn touch(&self, r: &SessionRecord) -> crate::error::Result<()> {
        self.inner.touch(r).await
    }
    async fn rehash(&self, r: &SessionRecord, new: &TokenHash) -> crate::error::Result<bool> {
        self.inner.rehash(r, new).await
    }
    async fn relife(&self, r: &SessionRecord, u: &SessionRecord) -> crate::error::Result<bool> {
        self.inner.relife(r, u).await
    }
    async fn bind(
        &self,
        r: &SessionRecord,
        bound: &SessionRecord,
        keep: Option<u32>,
    ) -> crate::error::Result<bool> {
        self.inner.bind(r, bound, keep).await
    }
    async fn delete(&self, r: &SessionRecord) -> crate::error::Result<bool> {
        self.inner.delete(r).await
    }
    async fn delete_for_user_by_id(&self, u: &str, id: &str) -> crate::error::Result<bool> {
        self.inner.delete_for_user_by_id(u, id).await
    }
    async fn delete_all_for_user(&self, u: &str, e: Option<&str>) -> crate::error::Result<u64> {
        self.inner.delete_all_for_user(u, e).await
    }
    async fn list_for_user(&self, u: &str, now: i64) -> crate::error::Result<Vec<SessionRecord>> {
        self.inner.list_for_user(u, now).await
    }
    async fn evict_least_recent(&self, u: &str, keep: u32) -> crate::error::Result<u64> {
        self.inner.evict_least_recent(u, keep).await
    }
    async fn delete_expired(
        &self,
        now: i64,
        limit: u32,
        visit: Option<u32>,
    ) -> crate::error::Result<u64> {
        self.inner.delete_expired(now, limit, visit).await
    }
    async fn load_state(&self, r: &SessionRecord) -> crate::error::Result<(StoredState, i64)> {
        let read = self.inner.load_state(r).await?;
        let n = self.races_left.get();
        if n > 0 {
            self.races_left.set(n - 1);
            // Another writer seals a state of its own in between.
            let json = json!({ format!("raced{n}"): true }).to_string();
            let (key_id, blob) = self
                .keys
                .seal(json.as_bytes(), r.session_id.as_bytes())
                .unwrap();
            let other = StoredState::Sealed { key_id, blob };
            let at = Locator {
                slot: Some(super::token::slot(r.user_id.as_deref(), &r.session_id)),
                session_id: Some(r.session_id.clone()),
                hash: r.token_hash,
            };
            self.inner
                .write_state(&at, 0, StateWrite::Replace(other), None, usize::MAX)
                .await?;
        }
        Ok(read)
    }
    async fn write_state(
        &self,
        at: &Locator,
        now: i64,
        w: StateWrite<'_>,
        e: Option<i64>,
        l: usize,
    ) -> crate::error::Result<Written> {
        self.inner.write_state(at, now, w, e, l).await
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
    let t = block_on(sessions.create(CreateOptions::default()))
        .unwrap()
        .token;
    races.set(1);
    block_on(sessions.set(&t, "a", &json!(1), None)).unwrap();
    // The other writer's state was kept, and this write applied on top.
    assert_eq!(
        block_on(sessions.get(&t, None)).unwrap(),
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
    let v = block_on(calm.validate(&t, &ClientContext::default()))
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
    let err = block_on(sessions.set(&t, "b", &json!(2), Some(v))).unwrap_err();
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
    let t = block_on(sessions.create(CreateOptions::default()))
        .unwrap()
        .token;
    races.set(100);
    let err = block_on(sessions.set(&t, "a", &json!(1), None)).unwrap_err();
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

#[test]
fn a_state_limit_past_any_integer_type_is_refused_by_its_range_on_every_target() {
    for n in [1_000_000_000_000_u64, u64::from(u32::MAX) + 1, 1] {
        let config: SessionConfig =
            serde_json::from_value(json!({ "maxStateBytes": n })).expect("an integer of 0 or more");
        let err = config.validate().expect_err("out of range");
        assert_eq!(err.field(), Some("sessions.maxStateBytes"));
        assert!(
            err.to_string().ends_with("must be 2 to 16777216"),
            "{n}: {err}"
        );
    }
    let config: SessionConfig = serde_json::from_value(json!({ "maxStateBytes": 1024 })).unwrap();
    assert_eq!(config.max_state_bytes, 1024);
    assert!(serde_json::from_value::<SessionConfig>(json!({ "maxStateBytes": -1 })).is_err());
}
