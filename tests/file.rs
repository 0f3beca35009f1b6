//! Native files: durability settings, persistence across reopen, one engine
//! per file, and refusal of bad files without touching them.
#![cfg(not(all(target_family = "wasm", target_os = "unknown")))]

use std::sync::Arc;

use usertrail::clock::ManualClock;
use usertrail::error::ErrorCode;
use usertrail::store::{Durability, StoreOptions, SCHEMA_VERSION};
use usertrail::{OpenOptions, Storage, UserTrail};

fn open(path: &std::path::Path) -> usertrail::Result<UserTrail> {
    let mut options =
        OpenOptions::new(Storage::File(path.to_owned())).clock(Arc::new(ManualClock::new(1_000)));
    options.store = StoreOptions {
        busy_timeout_ms: 50,
        ..StoreOptions::default()
    };
    UserTrail::open(options)
}

/// `PRAGMA name` on the engine's connection.
fn pragma<T: rusqlite::types::FromSql>(trail: &UserTrail, name: &str) -> T {
    trail
        .store()
        .conn()
        .pragma_query_value(None, name, |r| r.get(0))
        .unwrap()
}

#[test]
fn data_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trail.db");
    let trail = open(&path).unwrap();
    trail
        .store()
        .conn()
        .execute(
            "INSERT INTO meta (key, value) VALUES ('probe', 'durable')",
            [],
        )
        .unwrap();
    trail.close().unwrap();
    assert!(
        !dir.path().join("trail.db-wal").exists(),
        "close checkpoints the WAL"
    );

    let trail = open(&path).unwrap();
    let v: String = trail
        .store()
        .conn()
        .query_row("SELECT value FROM meta WHERE key = 'probe'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(v, "durable");
    assert_eq!(trail.created_at().unwrap(), 1_000);
}

#[test]
fn file_settings_are_durable() {
    let dir = tempfile::tempdir().unwrap();
    let trail = open(&dir.path().join("t.db")).unwrap();
    let journal: String = pragma(&trail, "journal_mode");
    let sync: i64 = pragma(&trail, "synchronous");
    let secure: i64 = pragma(&trail, "secure_delete");
    assert_eq!(journal, "wal");
    assert_eq!(sync, 2, "synchronous=FULL");
    assert_eq!(secure, 1);
    let cache: i64 = pragma(&trail, "cache_size");
    assert_eq!(
        cache, -32_768,
        "a 32 MiB page cache, so analytics do not re-read the file"
    );
}

#[test]
fn durability_normal_keeps_the_log_without_a_sync_per_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n.db");
    let mut options = OpenOptions::new(Storage::File(path.clone()));
    options.store.durability = Durability::Normal;
    let trail = UserTrail::open(options).unwrap();
    let journal: String = pragma(&trail, "journal_mode");
    let sync: i64 = pragma(&trail, "synchronous");
    let checkpoint: i64 = pragma(&trail, "wal_autocheckpoint");
    assert_eq!(
        (journal.as_str(), sync),
        ("wal", 1),
        "WAL, synchronous=NORMAL"
    );
    assert_eq!(checkpoint, 8192);
    trail
        .store()
        .conn()
        .execute("INSERT INTO meta (key, value) VALUES ('probe', 'n')", [])
        .unwrap();
    trail.close().unwrap();
    // The default reopens it with a sync per commit.
    let trail = open(&path).unwrap();
    let sync: i64 = pragma(&trail, "synchronous");
    assert_eq!(sync, 2);
    let v: String = trail
        .store()
        .conn()
        .query_row("SELECT value FROM meta WHERE key = 'probe'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(v, "n");
}

#[test]
fn a_second_engine_on_the_same_file_is_busy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let first = open(&path).unwrap();
    assert_eq!(open(&path).unwrap_err().code(), "BUSY");
    first.close().unwrap();
    open(&path).unwrap();
}

#[test]
fn export_of_a_file_database_includes_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let trail = open(&dir.path().join("t.db")).unwrap();
    trail
        .store()
        .conn()
        .execute("INSERT INTO meta (key, value) VALUES ('in_wal', 'yes')", [])
        .unwrap();
    let bytes = trail.export().unwrap();
    assert_eq!(&bytes[18..20], &[1, 1], "exported as rollback format");
    let copy = UserTrail::open(OpenOptions::new(Storage::Bytes(bytes))).unwrap();
    let v: String = copy
        .store()
        .conn()
        .query_row("SELECT value FROM meta WHERE key = 'in_wal'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(v, "yes");
}

#[test]
fn a_file_that_is_not_sqlite_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    let text = "Dear diary, this is not a database.\n".repeat(200);
    std::fs::write(&path, &text).unwrap();
    assert_eq!(open(&path).unwrap_err().code(), "NOT_A_DATABASE");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}

#[test]
fn a_newer_schema_file_is_refused_byte_for_byte_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.db");
    open(&path).unwrap().close().unwrap();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "journal_mode", "DELETE").unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 5)
            .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    assert_eq!(open(&path).unwrap_err().code(), "SCHEMA_TOO_NEW");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert!(!dir.path().join("future.db-wal").exists());
}

#[test]
fn a_corrupt_file_gives_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let trail = open(&path).unwrap();
    for i in 0..300 {
        trail
            .store()
            .conn()
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)",
                (format!("k{i}"), "y".repeat(200)),
            )
            .unwrap();
    }
    let _ = trail.export().unwrap();
    trail.close().unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    // Smash the schema table's page body.
    for b in &mut bytes[100..400] {
        *b = 0xEE;
    }
    std::fs::write(&path, &bytes).unwrap();
    let c = open(&path).unwrap_err().code();
    assert!(c == "CORRUPT" || c == "NOT_A_DATABASE", "{c}");
}

#[test]
fn a_directory_cannot_be_opened() {
    let dir = tempfile::tempdir().unwrap();
    let err = open(dir.path()).unwrap_err();
    assert_eq!(err.code(), "CANNOT_OPEN");
    // The message names the file and what the system said, beside
    // SQLite's own "unable to open database file".
    let message = err.to_string();
    assert!(
        message.contains(&dir.path().display().to_string()) && message.contains("directory"),
        "{message}"
    );
}

#[test]
fn a_log_that_cannot_be_opened_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.db");
    open(&path).unwrap().close().unwrap();
    // Something else took the log's name: the open fails, naming it.
    std::fs::create_dir(dir.path().join("w.db-wal")).unwrap();
    let err = open(&path).unwrap_err();
    assert_eq!(err.code(), "CANNOT_OPEN");
    let message = err.to_string();
    assert!(message.contains("w.db-wal"), "{message}");
    // And a later, unrelated open failure does not repeat it.
    let other = open(dir.path()).unwrap_err().to_string();
    assert!(!other.contains("w.db-wal"), "{other}");
}

#[test]
fn the_sqlite3_cli_reads_a_closed_file() {
    // ./build.sh setup installs the CLI (Debian package sqlite3).
    let version = std::process::Command::new("sqlite3")
        .arg("--version")
        .output();
    assert!(
        version.is_ok_and(|o| o.status.success()),
        "the sqlite3 CLI is missing"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cli.db");
    open(&path).unwrap().close().unwrap();
    let out = std::process::Command::new("sqlite3")
        .arg(&path)
        .arg("PRAGMA integrity_check; SELECT value FROM meta WHERE key='created_at';")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n1000\n");
}

#[test]
fn the_outbox_survives_a_restart() {
    use usertrail::tracking::{EventInput, OutboxConfig, TrackingConfig};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.db");
    let open_with_outbox = || {
        let options = OpenOptions::new(Storage::File(path.clone()))
            .clock(Arc::new(ManualClock::new(1_000)))
            .tracking(TrackingConfig {
                outbox: Some(OutboxConfig::default()),
                ..TrackingConfig::default()
            });
        UserTrail::open(options).unwrap()
    };
    let trail = open_with_outbox();
    let event = EventInput {
        name: "purchase".into(),
        ..EventInput::default()
    };
    trail.tracking().track(event).unwrap();
    trail.close().unwrap();
    let trail = open_with_outbox();
    let batch = trail.tracking().outbox_take(10).unwrap().unwrap();
    assert_eq!(batch.events.len(), 1);
    assert_eq!(batch.events[0]["name"], "purchase");
}

#[test]
fn an_engine_can_move_to_another_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<UserTrail>();
    let trail = UserTrail::open(OpenOptions::new(Storage::Memory)).unwrap();
    let handle = std::thread::spawn(move || trail.schema_version());
    assert_eq!(handle.join().unwrap(), SCHEMA_VERSION);
}

/// The day rows (`rollup_days`) in the file at `path`, read with SQLite
/// alone.
fn day_rows_in(path: &std::path::Path) -> Vec<i64> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT day FROM rollup_days ORDER BY day")
        .unwrap();
    let rows = stmt.query_map([], |r| r.get(0)).unwrap();
    rows.collect::<rusqlite::Result<_>>().unwrap()
}

#[test]
fn closing_after_storing_events_writes_the_day_rows_of_whole_days() {
    use usertrail::analytics::Query;
    use usertrail::tracking::EventInput;
    const DAY: i64 = 86_400_000;
    let d0 = 20_454; // 2026-01-01
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("days.db");
    // The clock is in day d0 + 3: days d0, d0 + 1 and d0 + 2 are whole.
    let clock = Arc::new(ManualClock::new((d0 + 3) * DAY + 5 * 3_600_000));
    let open = |clock: &Arc<ManualClock>| {
        UserTrail::open(OpenOptions::new(Storage::File(path.clone())).clock(clock.clone())).unwrap()
    };
    let event = |day: i64, user: &str| EventInput {
        name: "page".into(),
        path: Some("/".into()),
        user_id: Some(user.into()),
        session_id: Some(format!("{user}-{day}")),
        ts: Some(day * DAY + 7_200_000),
        ..EventInput::default()
    };
    let trail = open(&clock);
    let batch = vec![
        event(d0, "ann"),
        event(d0, "bob"),
        event(d0 + 2, "ann"),
        event(d0 + 3, "cy"),
    ];
    trail.tracking().track_batch(batch, false).unwrap();
    trail.close().unwrap();
    // Days with events before today; not d0 + 1 (no hour rows), not today.
    assert_eq!(day_rows_in(&path), vec![d0, d0 + 2]);
    // A fresh engine's first summary reads them, and agrees with the hours.
    let trail = open(&clock);
    let q = Query {
        since: Some(d0 * DAY),
        until: Some((d0 + 3) * DAY),
        ..Query::default()
    };
    let summary = serde_json::to_value(trail.analytics().summary(&q).unwrap()).unwrap();
    let hours = trail.analytics_from_sqlite().from_hour_rollups();
    let hours = serde_json::to_value(hours.summary(&q).unwrap()).unwrap();
    assert_eq!(summary, hours);
    assert_eq!(summary["events"], 3.0);
    assert_eq!(summary["users"], 2.0);
    // An engine that stored no events writes nothing when it closes: a
    // row deleted by hand stays deleted (reading a file changes it not).
    trail
        .store()
        .conn()
        .execute("DELETE FROM rollup_days WHERE day = ?1", [d0])
        .unwrap();
    trail.close().unwrap();
    assert_eq!(day_rows_in(&path), vec![d0 + 2]);
    // A late event deletes its day's row; the close writes it again, and
    // the one deleted by hand, and today's day turns whole once the clock
    // moves on.
    clock.set((d0 + 4) * DAY);
    let trail = open(&clock);
    trail
        .tracking()
        .track_batch(vec![event(d0 + 2, "dee")], false)
        .unwrap();
    assert_eq!(
        trail
            .store()
            .conn()
            .query_row("SELECT COUNT(*) FROM rollup_days", [], |r| r
                .get::<_, i64>(0))
            .unwrap(),
        0
    );
    trail.close().unwrap();
    assert_eq!(day_rows_in(&path), vec![d0, d0 + 2, d0 + 3]);
    // An open transaction at close writes no row.
    clock.set((d0 + 5) * DAY);
    let trail = open(&clock);
    trail
        .tracking()
        .track_batch(vec![event(d0 + 4, "eve")], false)
        .unwrap();
    trail.store().conn().execute_batch("BEGIN").unwrap();
    trail.close().unwrap();
    assert_eq!(day_rows_in(&path), vec![d0, d0 + 2, d0 + 3]);
}
