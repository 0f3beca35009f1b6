//! Native half of `./build.sh bench`: times the shared workloads in
//! `usertrail::bench` and prints one JSON line per figure. `bench/run.mjs`
//! times the same workloads on wasm in Node and prints both with their ratio.
//!
//! Each figure is the best of [`RUNS`] runs, so that both sides report a warm,
//! steady state (V8 tiers hot wasm functions up only after many calls).

use std::sync::Arc;
use std::time::Instant;

use usertrail::bench;
use usertrail::clock::ManualClock;
use usertrail::{OpenOptions, Storage, UserTrail};

/// Rows written by the insert workload and read by the lookup one (the same
/// sizes as bench/run.mjs).
const ROWS: u32 = 20_000;
/// Lookups timed.
const LOOKUPS: u32 = 100_000;
/// Engines opened and migrated.
const OPENS: u32 = 200;
/// Runs per workload; the fastest is reported.
const RUNS: usize = 5;
/// Live sessions in the engine before sessions are timed.
const LIVE_SESSIONS: u32 = 100_000;
/// Sessions created per timed run (on top of the live ones).
const CREATES: u32 = 10_000;
/// Validations per timed run.
const VALIDATES: u32 = 100_000;
/// Reads of a user's 50 preferences per timed run.
const PREF_READS: u32 = 10_000;
/// Event batches ingested, and events per batch: 1M events.
const INGEST_BATCHES: u32 = 1_000;
/// Events per ingest batch.
const INGEST_BATCH: u32 = 1_000;

/// Times `work` [`RUNS`] times and prints the fastest run.
fn report(
    name: &str,
    ops: u32,
    mut work: impl FnMut() -> usertrail::Result<()>,
) -> usertrail::Result<()> {
    let mut best = f64::INFINITY;
    for _ in 0..RUNS {
        let t = Instant::now();
        work()?;
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
    }
    println!(r#"{{"name":"{name}","ops":{ops},"ms":{best:.3}}}"#);
    Ok(())
}

fn engine() -> usertrail::Result<UserTrail> {
    UserTrail::open(
        OpenOptions::new(Storage::Memory).clock(Arc::new(ManualClock::new(1_700_000_000_000))),
    )
}

fn main() -> usertrail::Result<()> {
    report("open_migrate", OPENS, || {
        (0..OPENS).try_for_each(|_| bench::open_migrate(Arc::new(ManualClock::new(0))))
    })?;

    report("insert", ROWS, || bench::insert(&mut engine()?, ROWS))?;

    let mut trail = engine()?;
    bench::insert(&mut trail, ROWS)?;
    report("point_lookup", LOOKUPS, || {
        assert!(bench::point_lookup(&trail, ROWS, LOOKUPS)? > 0);
        Ok(())
    })?;

    let trail = engine()?;
    let mut tokens = bench::create_sessions(&trail, LIVE_SESSIONS)?;
    report("session_create", CREATES, || {
        tokens.extend(bench::create_sessions(&trail, CREATES)?);
        Ok(())
    })?;
    report("session_validate", VALIDATES, || {
        assert_eq!(
            bench::validate_sessions(&trail, &tokens, VALIDATES)?,
            VALIDATES
        );
        Ok(())
    })?;

    let trail = engine()?;
    bench::prefs_fixture(&trail, "alice")?;
    report("prefs_get_all_50", PREF_READS, || {
        assert_eq!(
            bench::prefs_get_all(&trail, "alice", PREF_READS)?,
            50 * PREF_READS as usize
        );
        Ok(())
    })?;

    // One run: 1M events through track_batch, in batches of 1000.
    let trail = engine()?;
    let t = Instant::now();
    let stored = bench::ingest(&trail, INGEST_BATCHES, INGEST_BATCH)?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    println!(r#"{{"name":"ingest","ops":{stored},"ms":{ms:.3}}}"#);
    let bytes = bench::database_bytes(&trail)?;
    println!(
        r#"{{"name":"bytes_per_event","value":{:.1}}}"#,
        bytes as f64 / stored as f64
    );
    Ok(())
}
