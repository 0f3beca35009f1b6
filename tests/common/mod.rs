//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses its own subset

pub mod dataset;
#[macro_use]
pub mod media;
pub mod people;
#[cfg(not(target_family = "wasm"))]
pub mod procs;
#[cfg(not(target_family = "wasm"))]
pub mod redis;
#[macro_use]
pub mod session_suite;
#[cfg(not(target_family = "wasm"))]
pub mod shared;

use std::sync::Arc;

use usertrail::clock::ManualClock;
use usertrail::error::ErrorCode;
use usertrail::session::SessionConfig;
use usertrail::{OpenOptions, Storage, UserTrail};

/// Runs a future that is ready at once, from synchronous test code:
/// `trail.sessions().create(..).now()` (see [`usertrail::block_on`]).
pub trait Now: std::future::Future + Sized {
    /// The future's output.
    fn now(self) -> Self::Output {
        usertrail::block_on(self)
    }
}
impl<F: std::future::Future> Now for F {}

/// A fixed start time for tests: 2023-11-14T22:13:20Z.
pub const T0: i64 = 1_700_000_000_000;
/// One minute, in ms.
pub const MIN: i64 = 60_000;

/// The one way tests open an engine: `options` (storage and settings), on
/// a manual clock reading `start`, which the test moves.
pub fn open_at(start: i64, options: OpenOptions) -> (UserTrail, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(start));
    let trail = UserTrail::open(options.clock(clock.clone())).unwrap();
    (trail, clock)
}

/// An in-memory engine with session settings `config`, at [`T0`].
pub fn engine(config: SessionConfig) -> (UserTrail, Arc<ManualClock>) {
    open_at(T0, OpenOptions::new(Storage::Memory).sessions(config))
}

/// An engine on a copy of `bytes`, with `config` and `clock`.
pub fn reopen(bytes: Vec<u8>, config: SessionConfig, clock: Arc<ManualClock>) -> UserTrail {
    UserTrail::open(
        OpenOptions::new(Storage::Bytes(bytes))
            .clock(clock)
            .sessions(config),
    )
    .unwrap()
}

/// The code of a result's error, or "OK".
pub fn code<T>(r: usertrail::Result<T>) -> &'static str {
    r.map(|_| "OK").unwrap_or_else(|e| e.code())
}

/// How many sessions rows there are.
pub fn rows(trail: &UserTrail) -> i64 {
    trail
        .store()
        .conn()
        .query_row("SELECT count(*) FROM sessions", [], |r| r.get(0))
        .unwrap()
}

/// The ids of the events `engine` stores.
pub fn ids(engine: &UserTrail) -> std::collections::BTreeSet<String> {
    let conn = engine.store().conn();
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {} FROM events",
            usertrail::tracking::EVENT_ID_TEXT
        ))
        .unwrap();
    let rows = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}

/// Whether `needle` occurs anywhere in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The database's `meta.pages_scrubbed` flag ('1': every page is scrubbed).
pub fn pages_scrubbed(trail: &usertrail::UserTrail) -> String {
    trail
        .store()
        .conn()
        .query_row(
            "SELECT value FROM meta WHERE key = 'pages_scrubbed'",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

/// SQL that takes a database of schema version 18 or later back to what
/// version 17 held: no blocks' rows by name (version 20) nor spans (19), no
/// day rollups, and the session rollup's triggers on the events as version
/// 14 made them. For
/// tests that make an older database from a new one; run it before any
/// `ALTER TABLE`, which checks every trigger.
pub fn before_day_rollups() -> String {
    let v14 = include_str!("../../src/store/migrations/0014_session_rollup.sql");
    let triggers = &v14[v14
        .find("CREATE TRIGGER")
        .expect("migration 14 has triggers")..];
    format!(
        "DROP TRIGGER IF EXISTS event_block_dims_after_block_delete; \
         DROP TRIGGER IF EXISTS event_block_dims_after_block_update; \
         DROP TRIGGER IF EXISTS event_block_dims_after_event_update; \
         DROP TABLE IF EXISTS event_block_dims; \
         DROP TRIGGER IF EXISTS event_block_names_after_block_delete; \
         DROP TRIGGER IF EXISTS event_block_names_after_block_update; \
         DROP TABLE IF EXISTS event_block_names; \
         DROP TRIGGER IF EXISTS event_block_spans_after_block_delete; \
         DROP TRIGGER IF EXISTS event_block_spans_after_block_update; \
         DROP TABLE IF EXISTS event_block_spans; \
         DROP TRIGGER rollup_days_after_user_delete; DROP TRIGGER rollup_days_after_user_rename; \
         DROP TRIGGER rollup_session_hours_after_delete; DROP TRIGGER rollup_session_hours_after_update; \
         DROP TABLE rollup_days; {triggers}"
    )
}
