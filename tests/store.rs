//! The store on every target: open, migrate, import, export, and refusal of
//! bad databases. Runs natively and, under wasm-bindgen-test, in Node.

#[cfg(all(target_family = "wasm", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::sync::Arc;

use crate::common;

use rusqlite::Connection;
use usertrail::clock::ManualClock;
use usertrail::error::ErrorCode;
use usertrail::store::migrations::{migrate_to, MIGRATIONS};
use usertrail::store::{Store, StoreOptions, APPLICATION_ID, SCHEMA_VERSION};
use usertrail::{OpenOptions, Storage, UserTrail};

const T0: i64 = 1_700_000_000_000;

fn open(storage: Storage) -> usertrail::Result<UserTrail> {
    UserTrail::open(OpenOptions::new(storage).clock(Arc::new(ManualClock::new(T0))))
}

fn code<T>(r: usertrail::Result<T>) -> &'static str {
    match r {
        Ok(_) => "OK",
        Err(e) => e.code(),
    }
}

/// An exported image of a raw connection.
fn image(conn: Connection) -> Vec<u8> {
    let mut store_bytes = Vec::new();
    let mut conn = conn;
    let data = conn.serialize(rusqlite::MAIN_DB).unwrap();
    store_bytes.extend_from_slice(&data);
    store_bytes
}

#[test]
fn memory_opens_migrated_and_stamped() {
    let trail = open(Storage::Memory).unwrap();
    assert_eq!(trail.schema_version(), SCHEMA_VERSION);
    assert_eq!(trail.created_at().unwrap(), T0);
    let conn = trail.store().conn();
    let app_id: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .unwrap();
    assert_eq!(app_id, APPLICATION_ID);
}

#[test]
fn settings_are_applied() {
    let trail = open(Storage::Memory).unwrap();
    let conn = trail.store().conn();
    let get = |name: &str| -> i64 { conn.pragma_query_value(None, name, |r| r.get(0)).unwrap() };
    assert_eq!(get("foreign_keys"), 1);
    assert_eq!(get("secure_delete"), 1);
    assert_eq!(get("cache_size"), -65_536);
}

#[test]
fn export_import_round_trip_keeps_data() {
    let trail = open(Storage::Memory).unwrap();
    trail
        .store()
        .conn()
        .execute("INSERT INTO meta (key, value) VALUES ('probe', 'kept')", [])
        .unwrap();
    let bytes = trail.export().unwrap();
    assert!(bytes.starts_with(b"SQLite format 3\0"));

    let copy = open(Storage::Bytes(bytes.clone())).unwrap();
    let v: String = copy
        .store()
        .conn()
        .query_row("SELECT value FROM meta WHERE key = 'probe'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(v, "kept");
    // The copy keeps the original creation time, not the time of the import.
    assert_eq!(copy.created_at().unwrap(), T0);

    // A plain SQLite connection opens the export too.
    let mut plain = Connection::open_in_memory().unwrap();
    let len = bytes.len();
    plain
        .deserialize_read_exact(rusqlite::MAIN_DB, bytes.as_slice(), len, true)
        .unwrap();
    let n: i64 = plain
        .query_row("SELECT count(*) FROM meta", [], |r| r.get(0))
        .unwrap();
    assert!(n >= 3);
}

#[test]
fn bytes_that_are_not_sqlite_are_refused() {
    assert_eq!(code(open(Storage::Bytes(Vec::new()))), "NOT_A_DATABASE");
    assert_eq!(
        code(open(Storage::Bytes(b"hello".to_vec()))),
        "NOT_A_DATABASE"
    );
    assert_eq!(
        code(open(Storage::Bytes(vec![0xff; 8192]))),
        "NOT_A_DATABASE"
    );
    let sql_text = b"'; DROP TABLE meta; --".repeat(100);
    assert_eq!(code(open(Storage::Bytes(sql_text))), "NOT_A_DATABASE");
}

#[test]
fn corrupt_bytes_are_refused() {
    let trail = open(Storage::Memory).unwrap();
    for i in 0..200 {
        trail
            .store()
            .conn()
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)",
                (format!("k{i}"), "x".repeat(300)),
            )
            .unwrap();
    }
    let root: u32 = trail
        .store()
        .conn()
        .query_row(
            "SELECT rootpage FROM sqlite_schema WHERE name = 'meta'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let good = trail.export().unwrap();
    let page = usize::from(u16::from_be_bytes([good[16], good[17]]));
    assert!(good.len() >= 3 * page, "the fixture needs several pages");

    // Garbage over the schema page, and over the header of the meta table's root page.
    for offset in [100, (root as usize - 1) * page] {
        let mut bad = good.clone();
        for b in &mut bad[offset..offset + 64] {
            *b ^= 0xA5;
        }
        let c = code(open(Storage::Bytes(bad)));
        assert!(
            c == "CORRUPT" || c == "NOT_A_DATABASE",
            "offset {offset}: {c}"
        );
    }
    // Truncated in the middle of a page.
    let truncated = good[..good.len() - page / 2].to_vec();
    assert_eq!(code(open(Storage::Bytes(truncated))), "CORRUPT");
}

#[test]
fn a_newer_schema_is_refused_untouched() {
    let conn = Connection::open_in_memory().unwrap();
    conn.pragma_update(None, "application_id", APPLICATION_ID)
        .unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    conn.execute_batch("CREATE TABLE future (x)").unwrap();
    let bytes = image(conn);
    let err = open(Storage::Bytes(bytes)).unwrap_err();
    assert_eq!(err.code(), "SCHEMA_TOO_NEW");
    assert!(err.to_string().contains(&(SCHEMA_VERSION + 1).to_string()));
}

#[test]
fn another_applications_database_is_refused() {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("CREATE TABLE orders (id INTEGER PRIMARY KEY)")
        .unwrap();
    assert_eq!(code(open(Storage::Bytes(image(conn)))), "FOREIGN_DATABASE");

    let conn = Connection::open_in_memory().unwrap();
    conn.pragma_update(None, "application_id", 0x1234).unwrap();
    conn.execute_batch("CREATE TABLE t (x)").unwrap();
    assert_eq!(code(open(Storage::Bytes(image(conn)))), "FOREIGN_DATABASE");
}

/// A first open killed part-way leaves some migrations committed and no
/// creation facts (`meta.created_at`): the next open completes it, so the
/// file opens and reports, where it failed with STORAGE_ERROR ever after.
#[test]
fn a_creation_cut_short_is_completed_at_the_next_open() {
    for cut in [1, 5, 12, SCHEMA_VERSION] {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, cut).unwrap();
        let trail = open(Storage::Bytes(image(conn))).unwrap();
        let created = trail.created_at().unwrap();
        assert!(trail.info().is_ok(), "cut after {cut}");
        assert_eq!(common::pages_scrubbed(&trail), "1", "cut after {cut}");
        // Completed once: the next open keeps the same creation time.
        let again = open(Storage::Bytes(trail.export().unwrap())).unwrap();
        assert_eq!(again.created_at().unwrap(), created);
    }
    // A database with data whose facts were deleted by hand opens too, but
    // is not taken for a clean new one: its pages may hold stale bytes.
    let trail = open(Storage::Memory).unwrap();
    trail
        .tracking()
        .track(usertrail::tracking::EventInput {
            name: "x".into(),
            user_id: Some("u".into()),
            ..Default::default()
        })
        .unwrap();
    trail
        .store()
        .conn()
        .execute_batch(
            "DELETE FROM meta WHERE key = 'created_at'; \
             UPDATE meta SET value = '0' WHERE key = 'pages_scrubbed'",
        )
        .unwrap();
    let reopened = open(Storage::Bytes(trail.export().unwrap())).unwrap();
    assert!(reopened.created_at().is_ok());
    assert_eq!(common::pages_scrubbed(&reopened), "0");
}

/// Builds a database as each older version left it, with a row in it, and
/// checks that today's code migrates it forward keeping the row.
#[test]
fn every_older_version_migrates_forward() {
    for old in 0..SCHEMA_VERSION {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, old).unwrap();
        if old >= 1 {
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('from_version', ?1)",
                [old.to_string()],
            )
            .unwrap();
        }
        let trail = open(Storage::Bytes(image(conn))).unwrap();
        assert_eq!(trail.schema_version(), SCHEMA_VERSION, "from {old}");
        let stored: u32 = trail
            .store()
            .conn()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(stored, SCHEMA_VERSION);
        if old >= 1 {
            let kept: String = trail
                .store()
                .conn()
                .query_row(
                    "SELECT value FROM meta WHERE key = 'from_version'",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(kept, old.to_string());
        }
    }
    assert_eq!(MIGRATIONS.len() as u32, SCHEMA_VERSION);
}

#[test]
fn reopening_a_current_database_changes_nothing() {
    let trail = open(Storage::Memory).unwrap();
    let first = trail.export().unwrap();
    let again = open(Storage::Bytes(first.clone())).unwrap();
    assert_eq!(again.export().unwrap(), first);
}

#[test]
fn store_open_without_engine() {
    let store = Store::open(Storage::Memory, &StoreOptions::default(), 42).unwrap();
    assert_eq!(store.schema_version(), SCHEMA_VERSION);
    store.close().unwrap();
}

/// Migration 10 stores event ids as 16 bytes: ids written as UUID text by
/// version 9 read back the same, still deduplicate, and a row whose id is
/// not a UUID (which tracking never stored) gets a random one, not a
/// failed upgrade.
#[test]
fn event_ids_move_from_text_to_bytes_keeping_their_value() {
    use usertrail::tracking::{EventInput, HistoryFilter, TrackStatus, EVENT_ID_TEXT};
    let mut conn = Connection::open_in_memory().unwrap();
    migrate_to(&mut conn, 9).unwrap();
    let id = "0190d4a2-0000-7000-8000-00000000abcd";
    for (event_id, ts) in [(id, T0 - 2000), ("legacy-not-a-uuid", T0 - 1000)] {
        conn.execute(
            "INSERT INTO events (event_id, ts, type, name, user_id, properties, sample_rate, received_at) \
             VALUES (?1, ?2, 'action', 'click', 'ann', '{}', 1.0, 0)",
            rusqlite::params![event_id, ts],
        )
        .unwrap();
    }
    let trail = open(Storage::Bytes(image(conn))).unwrap();
    let ids: Vec<String> = trail
        .store()
        .conn()
        .prepare(&format!("SELECT {EVENT_ID_TEXT} FROM events ORDER BY id"))
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(ids[0], id);
    assert_eq!(ids[1].len(), 36, "a random UUID-shaped id: {}", ids[1]);
    let kinds: Vec<(String, i64)> = trail
        .store()
        .conn()
        .prepare("SELECT typeof(event_id), length(event_id) FROM events")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(kinds, [("blob".to_owned(), 16), ("blob".to_owned(), 16)]);
    let history = trail
        .tracking()
        .history(
            &HistoryFilter {
                user_id: Some("ann".into()),
                ..HistoryFilter::default()
            },
            None,
            None,
        )
        .unwrap();
    assert!(
        history.events.iter().any(|e| e.event_id == id),
        "{history:?}"
    );
    // The same id again is a duplicate, in any letter case.
    let again = EventInput {
        event_id: Some(id.to_uppercase()),
        name: "click".into(),
        user_id: Some("ann".into()),
        ..EventInput::default()
    };
    assert_eq!(
        trail.tracking().track(again).unwrap().1,
        TrackStatus::Duplicate
    );
}

/// A VFS the host never registered is refused with a typed error before
/// anything is opened, as is a name SQLite could not take.
#[test]
fn an_unregistered_or_malformed_vfs_is_refused() {
    let vfs = |name: &str| Storage::Vfs {
        name: "trail.db".into(),
        vfs: name.into(),
    };
    assert_eq!(code(open(vfs("no-such-vfs"))), "UNSUPPORTED");
    assert_eq!(code(open(vfs("no-such-vfs"))), "UNSUPPORTED", "and again");
    assert_eq!(code(open(vfs("bad\0name"))), "INVALID_INPUT");
    assert_eq!(code(open(vfs(""))), "INVALID_INPUT");
}

/// Migration 12 keeps sessions by their id: sessions stored by version 11,
/// one with a current token and one with a first-format token (the secret
/// alone), still validate afterwards with their state, and the first-format
/// Migration 17 keys sessions by (slot, session id): sessions stored by
/// version 16 (a user's, an anonymous one and one whose token has the first
/// format) still validate with the tokens they were issued, a user's are
/// listed, evicted and ended as before, and a login moves an anonymous one
/// into its user's slot. A token whose slot names another user finds
/// nothing.
#[test]
fn sessions_stored_before_version_17_keep_working() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use sha2::{Digest, Sha256};
    use usertrail::block_on;
    use usertrail::session::token::subject_slot;
    use usertrail::session::ClientContext;

    let mut conn = Connection::open_in_memory().unwrap();
    migrate_to(&mut conn, 16).unwrap();
    let rows = [
        ("AAAAAAAAAAAAAAAAAAAAAA", Some("alice"), false, T0 - 3000),
        ("BBBBBBBBBBBBBBBBBBBBBB", Some("alice"), false, T0 - 2000),
        ("CCCCCCCCCCCCCCCCCCCCCC", None, false, T0 - 1000),
        ("DDDDDDDDDDDDDDDDDDDDDD", Some("bob"), true, T0 - 1000),
    ];
    let mut tokens = Vec::new();
    for (n, (sid, user, first_format, seen)) in rows.iter().enumerate() {
        let secret = [n as u8 + 1; 32];
        let text = URL_SAFE_NO_PAD.encode(secret);
        let hash: [u8; 32] = Sha256::digest(secret).into();
        conn.execute(
            "INSERT INTO sessions (session_id, token_hash, user_id, created_at, last_seen_at, \
             idle_timeout_ms, idle_expires_at, absolute_expires_at, browser, os, device, data, \
             first_format) \
             VALUES (?1, ?2, ?3, ?4, ?4, 3600000, ?5, ?6, 'Other', 'Other', 'desktop', ?7, ?8)",
            rusqlite::params![
                sid,
                hash.to_vec(),
                user,
                seen,
                T0 + 3_599_000,
                T0 + 86_400_000,
                format!("{{\"n\":{n}}}"),
                first_format
            ],
        )
        .unwrap();
        tokens.push(match (first_format, user) {
            (true, _) => text,
            (false, Some(user)) => format!("{}.{sid}.{text}", subject_slot(user)),
            (false, None) => format!("a{}.{sid}.{text}", &sid[..8]),
        });
    }
    // What no version wrote but a hand-made file may hold: a session id that
    // is not ASCII (its token has the first format, the only one that can
    // name it) and a user id that is not valid UTF-8. Neither may stop the
    // migration or panic a lookup.
    let odd_secret = [9u8; 32];
    conn.execute(
        "INSERT INTO sessions (session_id, token_hash, user_id, created_at, last_seen_at, \
         idle_timeout_ms, idle_expires_at, absolute_expires_at, browser, os, device, data, \
         first_format) \
         VALUES ('aaaaaaaé-rest', ?1, NULL, ?2, ?2, 3600000, ?3, ?4, 'Other', 'Other', 'desktop', '{}', 1), \
                ('EEEEEEEEEEEEEEEEEEEEEE', x'00', CAST(x'ff61' AS TEXT), ?2, ?2, 3600000, ?3, ?4, \
                 'Other', 'Other', 'desktop', '{}', 0)",
        rusqlite::params![
            <[u8; 32]>::from(Sha256::digest(odd_secret)).to_vec(),
            T0 - 1000,
            T0 + 3_599_000,
            T0 + 86_400_000
        ],
    )
    .unwrap();
    let trail = open(Storage::Bytes(image(conn))).unwrap();
    let odd = block_on(trail.sessions().validate(
        &URL_SAFE_NO_PAD.encode(odd_secret),
        &ClientContext::default(),
    ))
    .unwrap();
    assert_eq!(odd.map(|s| s.session_id).as_deref(), Some("aaaaaaaé-rest"));
    trail
        .store()
        .conn()
        .execute(
            "DELETE FROM sessions WHERE session_id IN ('aaaaaaaé-rest', 'EEEEEEEEEEEEEEEEEEEEEE')",
            [],
        )
        .unwrap();
    let slots: Vec<(String, String)> = trail
        .store()
        .conn()
        .prepare("SELECT slot, session_id FROM sessions ORDER BY session_id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        slots,
        vec![
            (subject_slot("alice"), rows[0].0.to_owned()),
            (subject_slot("alice"), rows[1].0.to_owned()),
            ("aCCCCCCCC".to_owned(), rows[2].0.to_owned()),
            (subject_slot("bob"), rows[3].0.to_owned()),
        ]
    );
    let sessions = trail.sessions();
    let client = ClientContext::default();
    for (token, row) in tokens.iter().zip(&rows) {
        let found = block_on(sessions.validate(token, &client)).unwrap();
        assert_eq!(
            found.map(|s| s.session_id).as_deref(),
            Some(row.0),
            "{token}"
        );
        let state = block_on(sessions.get(token, Some("n"))).unwrap();
        assert!(state.is_some(), "the state of {token} is kept");
    }
    // Alice's slot, in another user's token, finds nothing.
    let crossed = tokens[0].replace(&subject_slot("alice"), &subject_slot("bob"));
    assert!(block_on(sessions.validate(&crossed, &client))
        .unwrap()
        .is_none());
    let listed: Vec<String> = block_on(sessions.list("alice"))
        .unwrap()
        .into_iter()
        .map(|s| s.session_id)
        .collect();
    assert_eq!(listed.len(), 2);
    // A login moves the anonymous session into carol's slot, keeping its id.
    let logged = block_on(sessions.login(&tokens[2], "carol")).unwrap();
    assert!(logged.token.starts_with(&subject_slot("carol")));
    let listed: Vec<String> = block_on(sessions.list("carol"))
        .unwrap()
        .into_iter()
        .map(|s| s.session_id)
        .collect();
    assert_eq!(listed, vec![rows[2].0.to_owned()]);
    assert!(block_on(sessions.validate(&tokens[2], &client))
        .unwrap()
        .is_none());
    assert_eq!(
        block_on(sessions.destroy_all_for_user("alice", None)).unwrap(),
        2
    );
    for token in &tokens[..2] {
        assert!(block_on(sessions.validate(token, &client))
            .unwrap()
            .is_none());
    }
    assert!(block_on(sessions.validate(&tokens[3], &client))
        .unwrap()
        .is_some());
}

/// token stops working once rotated (the new token names its session).
#[test]
fn sessions_stored_before_version_12_still_validate() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use sha2::{Digest, Sha256};
    use usertrail::block_on;
    use usertrail::session::ClientContext;

    let mut conn = Connection::open_in_memory().unwrap();
    migrate_to(&mut conn, 11).unwrap();
    let mut tokens = Vec::new();
    for (n, sid, first_format) in [
        (1, "AAAAAAAAAAAAAAAAAAAAAA", false),
        (2, "BBBBBBBBBBBBBBBBBBBBBB", true),
    ] {
        let secret = [n as u8; 32];
        let text = URL_SAFE_NO_PAD.encode(secret);
        let hash: [u8; 32] = Sha256::digest(secret).into();
        conn.execute(
            "INSERT INTO sessions (session_id, token_hash, user_id, created_at, last_seen_at, \
             idle_timeout_ms, idle_expires_at, absolute_expires_at, browser, os, device, data) \
             VALUES (?1, ?2, NULL, ?3, ?3, 3600000, ?4, ?5, 'Other', 'Other', 'desktop', ?6)",
            rusqlite::params![
                sid,
                hash.to_vec(),
                T0 - 1000,
                T0 + 3_599_000,
                T0 + 86_400_000,
                format!("{{\"n\":{n}}}")
            ],
        )
        .unwrap();
        tokens.push(if first_format {
            text
        } else {
            format!("a{}.{sid}.{text}", &sid[..8])
        });
    }
    let trail = open(Storage::Bytes(image(conn))).unwrap();
    let sessions = trail.sessions();
    let client = ClientContext::default();
    for (token, sid) in tokens
        .iter()
        .zip(["AAAAAAAAAAAAAAAAAAAAAA", "BBBBBBBBBBBBBBBBBBBBBB"])
    {
        let found = block_on(sessions.validate(token, &client)).unwrap();
        assert_eq!(found.map(|s| s.session_id).as_deref(), Some(sid));
    }
    // A token of the current format with another session's id finds nothing.
    let crossed = tokens[0].replace("AAAAAAAAAAAAAAAAAAAAAA", "BBBBBBBBBBBBBBBBBBBBBB");
    assert!(block_on(sessions.validate(&crossed, &client))
        .unwrap()
        .is_none());
    let rotated = block_on(sessions.rotate(&tokens[1])).unwrap();
    assert!(block_on(sessions.validate(&tokens[1], &client))
        .unwrap()
        .is_none());
    let found = block_on(sessions.validate(&rotated.token, &client)).unwrap();
    assert_eq!(
        found.map(|s| s.session_id).as_deref(),
        Some("BBBBBBBBBBBBBBBBBBBBBB")
    );
    let first_format: i64 = trail
        .store()
        .conn()
        .query_row("SELECT sum(first_format) FROM sessions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(first_format, 1, "only the unrotated session keeps the flag");
}
