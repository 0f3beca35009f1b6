//! Session rules, with the manual clock, on the engine's own SQLite
//! database: the shared suite (`tests/common/session_suite.rs`, every rule
//! written once for every backend), and the settings checks of the engine.
//! Native and wasm.

#[cfg(all(target_family = "wasm", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

use crate::common;

use common::session_suite::*;
use common::*;
use serde_json::{json, Map};
use usertrail::session::{ClientContext, CreateOptions, FingerprintPolicy, SessionConfig};
use usertrail::UserTrail;

crate::session_suite!(Sqlite);

#[test]
fn bad_engine_settings_are_refused_at_open() {
    use std::sync::Arc;
    use usertrail::clock::ManualClock;
    use usertrail::{OpenOptions, Storage};
    let open = |config: SessionConfig| {
        code(UserTrail::open(
            OpenOptions::new(Storage::Memory)
                .clock(Arc::new(ManualClock::new(0)))
                .sessions(config),
        ))
    };
    let d = SessionConfig::default;
    assert_eq!(
        open(SessionConfig {
            idle_timeout_secs: 0,
            ..d()
        }),
        "INVALID_INPUT"
    );
    assert_eq!(
        open(SessionConfig {
            touch_interval_secs: 4000,
            ..d()
        }),
        "INVALID_INPUT"
    );
    assert_eq!(
        open(SessionConfig {
            max_sessions_per_user: Some(0),
            ..d()
        }),
        "INVALID_INPUT"
    );
    assert_eq!(
        open(SessionConfig {
            max_state_bytes: 1,
            ..d()
        }),
        "INVALID_INPUT"
    );
    assert_eq!(open(d()), "OK");
}

/// What a validate answers for `token` now, on `trail`.
async fn seen(trail: &UserTrail, token: &str) -> Option<usertrail::session::Session> {
    trail
        .sessions()
        .validate(token, &ClientContext::default())
        .await
        .unwrap()
}

crate::async_test! {
/// A create inside a transaction that Rust code holds on the engine's
/// connection fails, with or without a per-user cap, and writes nothing:
/// its token would otherwise be taken back by the caller's rollback.
fn a_create_inside_a_transaction_the_caller_holds_fails() {
    for cap in [None, Some(1)] {
        let (trail, _clock) = engine(SessionConfig {
            max_sessions_per_user: cap,
            ..SessionConfig::default()
        });
        let s = trail.sessions();
        let ann = || CreateOptions {
            user_id: Some("ann"),
            ..CreateOptions::default()
        };
        let first = s.create(ann()).await.unwrap();
        let conn = trail.store().conn();
        conn.execute_batch("BEGIN").unwrap();
        assert_eq!(code(s.create(ann()).await), "STORAGE_ERROR", "cap {cap:?}");
        conn.execute_batch("ROLLBACK").unwrap();
        assert_eq!(rows(&trail), 1, "cap {cap:?}");
        assert!(seen(&trail, &first.token).await.is_some(), "cap {cap:?}");
        s.create(ann()).await.unwrap();
    }
}
}

crate::async_test! {
/// A validate keeps the session's record in memory (the engine's cache of
/// its own sessions table); every way the row changes afterwards is seen by
/// the next validate: the API's writes, erasure, a touch, SQL run on the
/// engine's connection, and a change read inside a transaction that then
/// rolled back. Each session is validated first, so that it is cached.
fn a_validated_session_is_never_answered_from_a_stale_copy() {
    let (trail, clock) = engine(SessionConfig::default());
    let s = trail.sessions();
    let user = |u: &'static str| CreateOptions {
        user_id: Some(u),
        ..CreateOptions::default()
    };

    // Destroyed.
    let a = s.create(user("ann")).await.unwrap();
    assert!(seen(&trail, &a.token).await.is_some());
    assert!(s.destroy(&a.token).await.unwrap());
    assert!(seen(&trail, &a.token).await.is_none(), "destroyed");

    // A state write bumps the version.
    let b = s.create(user("bob")).await.unwrap();
    let v0 = seen(&trail, &b.token).await.unwrap().version;
    s.set(&b.token, "cart", &json!(["A1"]), None).await.unwrap();
    assert!(seen(&trail, &b.token).await.unwrap().version > v0, "the new version");

    // Logged in: the old token ends, the new one names the user.
    let c = s.create(CreateOptions::default()).await.unwrap();
    assert_eq!(seen(&trail, &c.token).await.unwrap().user_id, None);
    let logged = s.login(&c.token, "carol").await.unwrap();
    assert!(seen(&trail, &c.token).await.is_none(), "the token before login");
    assert_eq!(seen(&trail, &logged.token).await.unwrap().user_id.as_deref(), Some("carol"));

    // SQL on the engine's connection: expired by hand, then deleted by hand.
    let d = s.create(user("dan")).await.unwrap();
    let e = s.create(user("dan")).await.unwrap();
    assert!(seen(&trail, &d.token).await.is_some() && seen(&trail, &e.token).await.is_some());
    let conn = trail.store().conn();
    conn.execute(
        "UPDATE sessions SET absolute_expires_at = ?1, idle_expires_at = ?1 WHERE session_id = ?2",
        rusqlite::params![T0, d.session.session_id],
    )
    .unwrap();
    assert!(seen(&trail, &d.token).await.is_none(), "expired by SQL");
    conn.execute("DELETE FROM sessions WHERE user_id = 'dan'", []).unwrap();
    assert!(seen(&trail, &e.token).await.is_none(), "deleted by SQL");

    // Replaced by SQL: `INSERT OR REPLACE` deletes the row without the
    // DELETE trigger.
    let r = s.create(user("rex")).await.unwrap();
    assert!(seen(&trail, &r.token).await.is_some());
    conn.execute(
        "INSERT OR REPLACE INTO sessions (slot, session_id, token_hash, user_id, created_at, \
         last_seen_at, idle_timeout_ms, idle_expires_at, absolute_expires_at, ip_masked, \
         browser, os, device, fingerprint, data, sealed, key_id, version, first_format) \
         SELECT slot, session_id, token_hash, user_id, created_at, last_seen_at, idle_timeout_ms, \
         ?1, ?1, ip_masked, browser, os, device, fingerprint, data, sealed, key_id, version, \
         first_format FROM sessions WHERE session_id = ?2",
        rusqlite::params![T0, r.session.session_id],
    )
    .unwrap();
    assert!(seen(&trail, &r.token).await.is_none(), "replaced by SQL, expired");

    // Erased with the user.
    let f = s.create(user("fay")).await.unwrap();
    assert!(seen(&trail, &f.token).await.is_some());
    trail
        .privacy()
        .erase(
            "fay",
            &usertrail::privacy::EraseOptions {
                reason: "user request".into(),
                actor: None,
                vacuum: None,
                wait_ms: None,
            },
        )
        .await
        .unwrap();
    assert!(seen(&trail, &f.token).await.is_none(), "erased");

    // A row changed inside a transaction and read there is not kept once the
    // transaction rolls back.
    let g = s.create(user("gus")).await.unwrap();
    let v = seen(&trail, &g.token).await.unwrap().version;
    conn.execute_batch("BEGIN").unwrap();
    conn.execute(
        "UPDATE sessions SET version = version + 100 WHERE session_id = ?1",
        [&g.session.session_id],
    )
    .unwrap();
    assert_eq!(seen(&trail, &g.token).await.unwrap().version, v + 100, "read in the transaction");
    conn.execute_batch("ROLLBACK").unwrap();
    assert_eq!(seen(&trail, &g.token).await.unwrap().version, v, "rolled back");
    conn.execute_batch("BEGIN; DELETE FROM sessions WHERE session_id = 'none'; ROLLBACK").unwrap();
    conn.execute_batch("BEGIN").unwrap();
    conn.execute("DELETE FROM sessions WHERE session_id = ?1", [&g.session.session_id])
        .unwrap();
    conn.execute_batch("ROLLBACK").unwrap();
    assert_eq!(seen(&trail, &g.token).await.unwrap().version, v, "a rolled-back delete");

    // A touch: the next validate sees the new deadline and does not touch again.
    let h = s.create(user("hal")).await.unwrap();
    assert!(!seen(&trail, &h.token).await.unwrap().renewed);
    clock.advance(2 * MIN);
    let touched = seen(&trail, &h.token).await.unwrap();
    assert!(touched.renewed);
    assert_eq!(touched.last_seen_at, T0 + 2 * MIN);
    let again = seen(&trail, &h.token).await.unwrap();
    assert!(!again.renewed, "the touch is seen");
    assert_eq!(again.last_seen_at, T0 + 2 * MIN);
    assert_eq!(again.idle_expires_at, touched.idle_expires_at);
}
}

crate::async_test! {
/// The table has no index by expiry (schema 17): a sweep walks it in key
/// order from where the last one stopped, looking at no more sessions than
/// it is given, and deletes only the expired ones among them; past the end
/// it goes on from the first; a sweep with no bound goes once around.
fn sweeps_walk_the_table_from_where_the_last_stopped() {
    use usertrail::session::{RecordCache, SessionStore, SqliteSessionStore, SweepCursor};
    let (trail, clock) = engine(SessionConfig::default());
    let s = trail.sessions();
    let mut live = Vec::new();
    for i in 0..30 {
        let name = format!("user{i}");
        let options = CreateOptions {
            user_id: (i % 3 == 0).then_some(name.as_str()),
            idle_timeout_secs: (i % 2 == 0).then_some(60),
            ..CreateOptions::default()
        };
        let created = s.create(options).await.unwrap();
        if i % 2 == 1 {
            live.push(created.token);
        }
    }
    clock.advance(2 * MIN);
    let now = T0 + 2 * MIN;
    let conn = trail.store().conn();
    // Expired or not, in key order.
    let flags: Vec<bool> = conn
        .prepare("SELECT idle_expires_at <= ?1 FROM sessions ORDER BY slot, session_id")
        .unwrap()
        .query_map([now], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!((flags.len(), flags.iter().filter(|e| **e).count()), (30, 15));

    let cache = RecordCache::default();
    let cursor = SweepCursor::default();
    let store = SqliteSessionStore::cached(conn, &cache, &cursor);
    for (call, visited) in flags.chunks(7).enumerate() {
        let expected = visited.iter().filter(|e| **e).count() as u64;
        let deleted = store.delete_expired(now, 100, Some(7)).await.unwrap();
        assert_eq!(deleted, expected, "call {call} deletes the expired among the next 7");
    }
    assert_eq!(rows(&trail), 15);
    assert_eq!(store.delete_expired(now, 100, Some(7)).await.unwrap(), 0);
    for token in &live {
        assert!(s.validate(token, &ClientContext::default()).await.unwrap().is_some());
    }

    // More expire, on both sides of where the sweeps stopped: a bounded one
    // goes past the end to the first keys; an unbounded one goes once
    // around, up to its limit.
    clock.advance(24 * 60 * MIN);
    let now = now + 24 * 60 * MIN;
    assert_eq!(store.delete_expired(now, 2, None).await.unwrap(), 2);
    assert_eq!(store.delete_expired(now, 100, Some(10)).await.unwrap(), 10);
    assert_eq!(store.delete_expired(now, 100, None).await.unwrap(), 3);
    assert_eq!(rows(&trail), 0);
    assert_eq!(store.delete_expired(now, 100, None).await.unwrap(), 0);
}
}

/// A value given as JSON text whose text alone is over the state's limit is
/// refused with `PAYLOAD_TOO_LARGE` before it is built: the heap the check
/// needs stays far below what the value would take (ten megabytes of zeros
/// would be a vector of a million and a half `Value`s, 48 MB). A bad key is
/// refused first; text within the limit, and text the measure cannot tell
/// (a key twice), pass to the full check.
#[test]
fn a_value_too_large_for_the_state_is_refused_before_it_is_built() {
    let (trail, _clock) = engine(SessionConfig::default());
    let s = trail.sessions();
    let zeros = format!("[{}0]", "0,".repeat(5 << 20));
    let (r, peak) = crate::alloc_peak::peak(|| s.check_value_text("big", &zeros));
    match r {
        Err(usertrail::Error::Session(usertrail::error::SessionError::PayloadTooLarge {
            size,
            limit,
        })) => {
            assert_eq!(size, zeros.len());
            assert_eq!(limit, 65_536);
        }
        other => panic!("{other:?}"),
    }
    assert!(peak < 64 << 10, "the check held {peak} bytes");
    assert_eq!(code(s.check_value_text("", "1")), "INVALID_INPUT");
    assert_eq!(code(s.check_value_text("a\"b", &zeros)), "INVALID_INPUT");
    s.check_value_text("small", "[1,2,3]").unwrap();
    s.check_value_text("twice", r#"{"a":1,"a":2}"#).unwrap();
    // Text written shorter than the engine writes it is measured as the
    // engine writes it: 2^64 as JS writes it is 20 digits, and 21 bytes
    // from the engine (1.8446744073709552e19).
    let big = format!("[{}1]", "18446744073709552000,".repeat(3100));
    assert!(big.len() < 65_536);
    assert_eq!(code(s.check_value_text("big", &big)), "PAYLOAD_TOO_LARGE");
}
