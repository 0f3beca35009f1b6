//! The page-cache shim (`usertrail::store::pcache`), in a test binary of its
//! own: the shim must be configured before SQLite starts, and the suite's
//! other tests start SQLite from other threads (natively) or from tests that
//! open a raw connection first (wasm). Here the first SQLite call is the
//! shim's: natively the program opts in, as it must; in wasm the engine's
//! first open installs it. Runs natively and, under wasm-bindgen-test, in
//! Node.

#[cfg(all(target_family = "wasm", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::sync::Arc;

use rusqlite::Connection;
use usertrail::clock::ManualClock;
use usertrail::session::{ClientContext, CreateOptions};
use usertrail::store::pcache;
use usertrail::{block_on, OpenOptions, Storage, UserTrail};

const T0: i64 = 1_700_000_000_000;

/// Rows of random keys into a raw table: every few rows a leaf splits, and
/// SQLite's balance swaps page numbers through the lock page's number.
/// Returns the keys.
fn random_inserts(conn: &Connection, n: u32, seed: u64) -> Vec<String> {
    let mut x = seed;
    let mut stmt = conn
        .prepare("INSERT INTO shim_t (k, v) VALUES (?1, ?2)")
        .unwrap();
    (0..n)
        .map(|i| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let k = format!("{:016x}", x >> 1);
            stmt.execute((&k, format!("row {i} {}", "v".repeat(100))))
                .unwrap();
            k
        })
        .collect()
}

fn integrity(conn: &Connection) -> String {
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

/// Splits, a rolled-back transaction, a rolled-back savepoint, deletes and
/// sessions on `trail`: integrity holds and exactly the committed rows are
/// there.
fn exercise(trail: &UserTrail) {
    let conn = trail.store().conn();
    conn.execute_batch("CREATE TABLE shim_t (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID")
        .unwrap();
    let mut want = random_inserts(conn, 3000, 1);
    conn.execute_batch("BEGIN").unwrap();
    random_inserts(conn, 2000, 2);
    conn.execute_batch("ROLLBACK").unwrap();
    conn.execute_batch("BEGIN; SAVEPOINT s").unwrap();
    random_inserts(conn, 500, 3);
    conn.execute_batch("ROLLBACK TO s; RELEASE s").unwrap();
    want.extend(random_inserts(conn, 500, 4));
    conn.execute_batch("COMMIT").unwrap();
    conn.execute_batch("DELETE FROM shim_t WHERE k < '4'")
        .unwrap();
    want.retain(|k| k.as_str() >= "4");
    want.extend(random_inserts(conn, 1000, 5));
    assert_eq!(integrity(conn), "ok");
    want.sort();
    let got: Vec<String> = conn
        .prepare("SELECT k FROM shim_t ORDER BY k")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        got == want,
        "exactly the rows committed: {} rows, {} wanted",
        got.len(),
        want.len()
    );
    // Sessions for many users: random keys too, each create its own commit.
    let sessions = trail.sessions();
    let issued: Vec<_> = (0..1500)
        .map(|i| {
            let user = format!("shim-user-{i}");
            block_on(sessions.create(CreateOptions {
                user_id: Some(&user),
                ..Default::default()
            }))
            .unwrap()
        })
        .collect();
    let client = ClientContext::default();
    for s in &issued {
        let found = block_on(sessions.validate(&s.token, &client)).unwrap();
        assert_eq!(
            found.map(|f| f.session_id),
            Some(s.session.session_id.clone())
        );
    }
    assert_eq!(integrity(conn), "ok");
}

#[test]
fn the_page_cache_shim_stands_in_for_the_swap_page_and_keeps_every_page() {
    #[cfg(not(all(target_family = "wasm", target_os = "unknown")))]
    {
        // The only test of this binary: no other thread calls SQLite.
        assert!(
            !pcache::install(),
            "natively the engine does not install it"
        );
        assert!(unsafe { pcache::install_before_sqlite_starts() });
    }
    let clock = || Arc::new(ManualClock::new(T0));
    let trail = UserTrail::open(OpenOptions::new(Storage::Memory).clock(clock())).unwrap();
    assert!(pcache::installed(), "installed before SQLite started");
    exercise(&trail);
    trail.close().unwrap();
    #[cfg(not(all(target_family = "wasm", target_os = "unknown")))]
    {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shim.db");
        let mut options = OpenOptions::new(Storage::File(path.clone())).clock(clock());
        options.store.durability = usertrail::store::Durability::Normal;
        let trail = UserTrail::open(options).unwrap();
        exercise(&trail);
        trail.close().unwrap();
        let reopened =
            UserTrail::open(OpenOptions::new(Storage::File(path)).clock(clock())).unwrap();
        assert_eq!(integrity(reopened.store().conn()), "ok");
        reopened.close().unwrap();
    }
    assert!(pcache::stand_ins() > 0, "the splits swapped pages");
    assert_eq!(
        pcache::temp_passed(),
        0,
        "the default cache never held the swap's page number"
    );
}
