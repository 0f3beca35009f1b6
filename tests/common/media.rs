//! The storage-medium contract, written once and run on every medium an
//! engine can live on: memory (both targets), an OS file (native), a host
//! file through the host-file VFS (wasm in Node), and OPFS (wasm in a
//! Chromium worker). Each medium implements [`Medium`]; `media_suite!`
//! runs every case on it.
#![allow(dead_code)] // each test binary uses the media it can reach

use serde_json::json;
pub use usertrail::block_on;
use usertrail::error::ErrorCode;
use usertrail::session::{ClientContext, CreateOptions};
use usertrail::tracking::{EventInput, HistoryFilter};
use usertrail::{OpenOptions, Storage, UserTrail};

/// Runs a future that is ready at once.
trait Now: std::future::Future + Sized {
    fn now(self) -> Self::Output {
        block_on(self)
    }
}
impl<F: std::future::Future> Now for F {}

/// A fixed start time: 2023-11-14T22:13:20Z.
pub const T0: i64 = 1_700_000_000_000;

/// An open engine, however the medium holds it (natively, or behind the JS
/// bindings).
pub trait Engine {
    /// Runs `f` on the core engine.
    fn with(&mut self, f: &mut dyn FnMut(&UserTrail));
    /// Closes the engine, releasing the medium.
    fn close(self: Box<Self>);
}

impl Engine for UserTrail {
    fn with(&mut self, f: &mut dyn FnMut(&UserTrail)) {
        f(self)
    }
    fn close(self: Box<Self>) {
        (*self).close().unwrap()
    }
}

/// An engine behind the JS bindings (the host file, a Durable Object).
#[cfg(all(target_family = "wasm", target_os = "unknown"))]
impl Engine for usertrail::wasm::JsUserTrail {
    fn with(&mut self, f: &mut dyn FnMut(&UserTrail)) {
        self.with_core(|t| f(t)).expect("the engine is open");
    }
    fn close(self: Box<Self>) {
        let _ = usertrail::wasm::JsUserTrail::close(&self);
    }
}

/// Where a database lives, as the suite sees it.
#[allow(async_fn_in_trait)] // test code, one thread
pub trait Medium {
    /// For messages.
    const NAME: &'static str;
    /// A closed engine's data is there when the database opens again.
    const PERSISTENT: bool;
    /// A second engine on the same database is refused with `BUSY`.
    const EXCLUSIVE: bool;
    /// Opens an engine on this medium's database, or the error's code.
    async fn open(&self) -> Result<Box<dyn Engine>, String>;
    /// Replaces the database's bytes as another program would: the next
    /// open finds them.
    async fn put(&self, bytes: &[u8]);
    /// The database's bytes as stored, or `None` where nothing is stored
    /// outside the engine (memory).
    async fn stored(&self) -> Option<Vec<u8>>;
}

/// The code of a `usertrail` result, or "OK".
pub fn code<T>(r: usertrail::Result<T>) -> String {
    r.map(|_| "OK".to_owned())
        .unwrap_or_else(|e| e.code().to_owned())
}

/// Writes a session with state, an event and a preference.
fn write_some(t: &UserTrail) -> String {
    let s = t
        .sessions()
        .create(CreateOptions {
            user_id: Some("ann"),
            ..CreateOptions::default()
        })
        .now()
        .unwrap();
    t.sessions()
        .set(&s.token, "cart", &json!(["A1"]), None)
        .now()
        .unwrap();
    let event = EventInput {
        name: "page_view".into(),
        user_id: Some("ann".into()),
        ..EventInput::default()
    };
    t.tracking().track(event).unwrap();
    t.prefs()
        .set("ann", "appearance.theme", &json!("dark"), "test")
        .now()
        .unwrap();
    s.token
}

/// The events of the user [`write_some`] writes for.
fn ann() -> HistoryFilter {
    HistoryFilter {
        user_id: Some("ann".into()),
        ..HistoryFilter::default()
    }
}

/// Whether what [`write_some`] wrote is all there.
fn holds_it(t: &UserTrail, token: &str) -> bool {
    let session = t
        .sessions()
        .validate(token, &ClientContext::default())
        .now()
        .unwrap();
    let events = t.tracking().count(&ann()).unwrap();
    let theme = t
        .prefs()
        .get("ann", "appearance.theme")
        .now()
        .unwrap()
        .value;
    match session {
        Some(_) => {
            assert_eq!(events, 1);
            assert_eq!(theme, json!("dark"));
            let cart = t.sessions().get(token, Some("cart")).now().unwrap();
            assert_eq!(cart, Some(json!(["A1"])));
            true
        }
        None => {
            assert_eq!(events, 0, "a session is gone but its events stayed");
            false
        }
    }
}

/// An export of an engine on memory.
fn export_of(f: impl FnOnce(&UserTrail)) -> Vec<u8> {
    let t = memory_engine(Storage::Memory).unwrap();
    f(&t);
    t.export().unwrap()
}

/// An engine on `storage` at [`T0`].
pub fn memory_engine(storage: Storage) -> usertrail::Result<UserTrail> {
    use std::sync::Arc;
    use usertrail::clock::ManualClock;
    UserTrail::open(OpenOptions::new(storage).clock(Arc::new(ManualClock::new(T0))))
}

/// Data survives closing and reopening on a persistent medium; on memory,
/// it survives as an export imported again.
pub async fn keeps_data_across_reopen<M: Medium>(m: &M) {
    let mut engine = m.open().await.unwrap();
    let mut token = String::new();
    let mut export = Vec::new();
    engine.with(&mut |t| {
        token = write_some(t);
        export = t.export().unwrap();
    });
    engine.close();
    let mut again = m.open().await.unwrap();
    let mut kept = false;
    again.with(&mut |t| kept = holds_it(t, &token));
    again.close();
    assert_eq!(kept, M::PERSISTENT, "{}: reopened", M::NAME);
    if !M::PERSISTENT {
        m.put(&export).await;
        let mut imported = m.open().await.unwrap();
        imported.with(&mut |t| assert!(holds_it(t, &token), "{}: imported", M::NAME));
        imported.close();
    }
}

/// One engine holds a database: a second gets `BUSY` until the first closes
/// (on memory, each engine has a database of its own).
pub async fn a_second_engine_is_busy<M: Medium>(m: &M) {
    let mut first = m.open().await.unwrap();
    first.with(&mut |t| {
        write_some(t);
    });
    let second = m.open().await;
    if M::EXCLUSIVE {
        assert_eq!(second.err().as_deref(), Some("BUSY"), "{}", M::NAME);
        first.close();
        let mut second = m.open().await.unwrap();
        second.with(&mut |t| {
            assert_eq!(t.tracking().count(&ann()).unwrap(), 1);
        });
        second.close();
    } else {
        let mut second = second.unwrap();
        second.with(&mut |t| {
            assert_eq!(t.tracking().count(&ann()).unwrap(), 0);
        });
        second.close();
        first.close();
    }
}

/// Bytes that are not SQLite, another application's database and a
/// database from a newer usertrail are refused with their codes, and left
/// byte for byte as they were.
pub async fn foreign_and_newer_files_are_refused_untouched<M: Medium>(m: &M) {
    let mut garbage = b"not a database, but something else entirely ".repeat(100);
    garbage.resize(4096, b'!');
    let foreign = {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE notes (x TEXT); INSERT INTO notes VALUES ('mine');")
            .unwrap();
        conn.serialize(rusqlite::MAIN_DB).unwrap().to_vec()
    };
    let mut newer = export_of(|_| {});
    newer[60..64].copy_from_slice(&999u32.to_be_bytes()); // PRAGMA user_version
    for (bytes, expected) in [
        (&garbage, "NOT_A_DATABASE"),
        (&foreign, "FOREIGN_DATABASE"),
        (&newer, "SCHEMA_TOO_NEW"),
    ] {
        m.put(bytes).await;
        let got = m.open().await.err();
        assert_eq!(got.as_deref(), Some(expected), "{}", M::NAME);
        if let Some(after) = m.stored().await {
            assert!(
                after == *bytes,
                "{}: a refused {expected} file was changed",
                M::NAME
            );
        }
    }
}

/// An export is a whole SQLite file in rollback-journal format that SQLite
/// opens and checks clean, whatever the medium.
pub async fn exports_are_whole_sqlite_files<M: Medium>(m: &M) -> Vec<u8> {
    let mut engine = m.open().await.unwrap();
    let mut bytes = Vec::new();
    engine.with(&mut |t| {
        write_some(t);
        bytes = t.export().unwrap();
    });
    engine.close();
    assert!(bytes.starts_with(b"SQLite format 3\0"), "{}", M::NAME);
    assert_eq!(
        &bytes[18..20],
        &[1, 1],
        "{}: not rollback-journal format",
        M::NAME
    );
    let mut conn = rusqlite::Connection::open_in_memory().unwrap();
    conn.deserialize_read_exact(rusqlite::MAIN_DB, bytes.as_slice(), bytes.len(), true)
        .unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok", "{}", M::NAME);
    let sessions: i64 = conn
        .query_row("SELECT count(*) FROM sessions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sessions, 1, "{}", M::NAME);
    bytes
}

/// Erasure leaves no byte of the subject in what the medium stores, nor in
/// an export, without rewriting the database: 8,000 events of 500 users,
/// one in four the subject's, so every index has interior pages and SQLite
/// has rebuilt pages (whose unused space it leaves holding stale cells).
pub async fn erasure_leaves_no_bytes_stored<M: Medium>(m: &M) {
    use usertrail::privacy::EraseOptions;
    let mut engine = m.open().await.unwrap();
    let mut export = Vec::new();
    engine.with(&mut |t| {
        let mut batch = Vec::new();
        for i in 0..12_000i64 {
            let who = if i % 4 == 0 {
                "subject-eve".to_owned()
            } else {
                format!("other-{}", i % 997)
            };
            batch.push(EventInput {
                name: "click".into(),
                user_id: Some(who.clone()),
                session_id: Some(format!("{who}-session-{}", i % 7)),
                ts: Some(T0 - i * 60_000),
                properties: json!({ "i": i, "who": who }).as_object().cloned(),
                ..EventInput::default()
            });
            if batch.len() == 2_000 {
                t.tracking()
                    .track_batch(std::mem::take(&mut batch), false)
                    .unwrap();
            }
        }
        // Erasing others first leaves pages underfull: SQLite merges them,
        // moving the subject's cells between pages.
        for k in 0..10 {
            let options = EraseOptions {
                reason: "churn".into(),
                vacuum: Some(false),
                ..EraseOptions::default()
            };
            t.privacy()
                .erase(&format!("other-{}", k * 3 + 1), &options)
                .now()
                .unwrap();
        }
        let report = t
            .privacy()
            .erase(
                "subject-eve",
                &EraseOptions {
                    reason: "user request".into(),
                    ..EraseOptions::default()
                },
            )
            .now()
            .unwrap();
        assert_eq!(report.counts["events"], 3_000, "{}", M::NAME);
        assert!(!report.vacuumed, "{}: rewritten", M::NAME);
        export = t.export().unwrap();
    });
    engine.close();
    let trace = |bytes: &[u8]| bytes.windows(11).any(|w| w == b"subject-eve");
    // Whether any page holds bytes in its unused space: what secure_delete
    // leaves and the scrub clears, so the stale copies a workload happens
    // to leave are caught wherever they are, not only when they name the
    // subject.
    let scrubbed = |bytes: &[u8]| {
        let mut again = bytes.to_vec();
        usertrail::store::scrub::image(&mut again);
        again == bytes
    };
    assert!(!trace(&export), "{}: in the export", M::NAME);
    assert!(scrubbed(&export), "{}: the export's unused space", M::NAME);
    assert!(export.windows(9).any(|w| w == b"other-996"), "{}", M::NAME);
    if let Some(stored) = m.stored().await {
        assert!(
            stored.len() > 1_000_000,
            "{}: {} bytes",
            M::NAME,
            stored.len()
        );
        assert!(!trace(&stored), "{}: in the stored file", M::NAME);
        assert!(
            scrubbed(&stored),
            "{}: the stored file's unused space",
            M::NAME
        );
    }
}

/// Reads see every write: rows of several overflow pages each (as packed
/// blocks of events are), read in order through a page cache too small to
/// hold them, so each read reaches the medium (a medium that reads pages
/// ahead of a sequential read must forget what its writes change), then
/// rewritten in place, grown, checkpointed, deleted and vacuumed (the file
/// shrinks), read again after each, and after a reopen.
pub async fn reads_see_every_write<M: Medium>(m: &M) {
    fn bytes(k: i64, generation: u8, len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31) ^ (k as u8) ^ generation.wrapping_mul(101))
            .collect()
    }
    let mut want: std::collections::BTreeMap<i64, Vec<u8>> = (0..240)
        .map(|k| (k, bytes(k, 0, 9_000 + (k as usize % 5) * 1_000)))
        .collect();
    let check = |t: &UserTrail, want: &std::collections::BTreeMap<i64, Vec<u8>>, when: &str| {
        let conn = t.store().conn();
        conn.pragma_update(None, "cache_size", 16).unwrap();
        let mut stmt = conn.prepare("SELECT k, v FROM probe ORDER BY k").unwrap();
        let got: Vec<(i64, Vec<u8>)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let want: Vec<(i64, Vec<u8>)> = want.iter().map(|(k, v)| (*k, v.clone())).collect();
        assert!(got == want, "{}: {when}: rows differ", M::NAME);
    };
    let mut engine = m.open().await.unwrap();
    engine.with(&mut |t| {
        let conn = t.store().conn();
        conn.execute_batch("CREATE TABLE probe (k INTEGER PRIMARY KEY, v BLOB NOT NULL)")
            .unwrap();
        let tx = conn.unchecked_transaction().unwrap();
        for (k, v) in &want {
            tx.execute(
                "INSERT INTO probe (k, v) VALUES (?1, ?2)",
                rusqlite::params![k, v],
            )
            .unwrap();
        }
        tx.commit().unwrap();
        check(t, &want, "written");
        // Rewritten in place (same sizes), and grown.
        let tx = conn.unchecked_transaction().unwrap();
        for k in 0..240i64 {
            let v = match k {
                k if k % 5 == 0 => bytes(k, 2, 30_000),
                k if k % 3 == 0 => bytes(k, 1, want[&k].len()),
                _ => continue,
            };
            tx.execute(
                "UPDATE probe SET v = ?2 WHERE k = ?1",
                rusqlite::params![k, v],
            )
            .unwrap();
            want.insert(k, v);
        }
        tx.commit().unwrap();
        check(t, &want, "rewritten");
        // A row read, rewritten in place, its pages put in the database
        // file and dropped from SQLite's cache, then read again: the medium
        // gives what was written, not what it read before.
        for k in [12i64, 131, 227] {
            let read = |t: &UserTrail| -> Vec<u8> {
                t.store()
                    .conn()
                    .query_row("SELECT v FROM probe WHERE k = ?1", [k], |r| r.get(0))
                    .unwrap()
            };
            assert_eq!(read(t), want[&k], "{}: row {k} before", M::NAME);
            let v = bytes(k, 3, want[&k].len());
            conn.execute(
                "UPDATE probe SET v = ?2 WHERE k = ?1",
                rusqlite::params![k, v],
            )
            .unwrap();
            want.insert(k, v);
            let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
            conn.execute_batch("PRAGMA shrink_memory").unwrap();
            assert!(read(t) == want[&k], "{}: row {k} read again", M::NAME);
        }
        // Into the database file, where a log holds them.
        let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        check(t, &want, "checkpointed");
        conn.execute("DELETE FROM probe WHERE k % 7 = 0", [])
            .unwrap();
        want.retain(|k, _| k % 7 != 0);
        conn.execute_batch("VACUUM").unwrap();
        check(t, &want, "vacuumed");
    });
    engine.close();
    if M::PERSISTENT {
        let mut again = m.open().await.unwrap();
        again.with(&mut |t| check(t, &want, "reopened"));
        again.close();
    }
}

/// The suite on one medium: `media_suite!(module_name, make_medium)`.
#[macro_export]
macro_rules! media_suite {
    ($name:ident, $make:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[cfg(not(all(target_family = "wasm", target_os = "unknown")))]
            mod cases {
                use super::*;
                use $crate::media::block_on;

                #[test]
                fn keeps_data_across_reopen() {
                    block_on($crate::media::keeps_data_across_reopen(&$make));
                }
                #[test]
                fn a_second_engine_is_busy() {
                    block_on($crate::media::a_second_engine_is_busy(&$make));
                }
                #[test]
                fn foreign_and_newer_files_are_refused_untouched() {
                    block_on($crate::media::foreign_and_newer_files_are_refused_untouched(&$make));
                }
                #[test]
                fn exports_are_whole_sqlite_files() {
                    block_on($crate::media::exports_are_whole_sqlite_files(&$make));
                }
                #[test]
                fn erasure_leaves_no_bytes_stored() {
                    block_on($crate::media::erasure_leaves_no_bytes_stored(&$make));
                }
                #[test]
                fn reads_see_every_write() {
                    block_on($crate::media::reads_see_every_write(&$make));
                }
            }

            #[cfg(all(target_family = "wasm", target_os = "unknown"))]
            mod cases {
                use super::*;
                use wasm_bindgen_test::wasm_bindgen_test;

                #[wasm_bindgen_test]
                async fn keeps_data_across_reopen() {
                    $crate::media::keeps_data_across_reopen(&$make).await;
                }
                #[wasm_bindgen_test]
                async fn a_second_engine_is_busy() {
                    $crate::media::a_second_engine_is_busy(&$make).await;
                }
                #[wasm_bindgen_test]
                async fn foreign_and_newer_files_are_refused_untouched() {
                    $crate::media::foreign_and_newer_files_are_refused_untouched(&$make).await;
                }
                #[wasm_bindgen_test]
                async fn exports_are_whole_sqlite_files() {
                    $crate::media::exports_are_whole_sqlite_files(&$make).await;
                }
                #[wasm_bindgen_test]
                async fn erasure_leaves_no_bytes_stored() {
                    $crate::media::erasure_leaves_no_bytes_stored(&$make).await;
                }
                #[wasm_bindgen_test]
                async fn reads_see_every_write() {
                    $crate::media::reads_see_every_write(&$make).await;
                }
            }
        }
    };
}
