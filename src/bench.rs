//! Benchmark workloads, shared by the native harness (`benches/native.rs`)
//! and the wasm one (`bench/run.mjs`), so both time the same code.
//!
//! Timing is done by each harness; these functions only do the work. Later
//! issues add their hot paths here.

use crate::{OpenOptions, Result, Storage, UserTrail};

/// Opens and migrates a fresh in-memory engine, then closes it.
pub fn open_migrate(clock: crate::kernel::clock::SharedClock) -> Result<()> {
    UserTrail::open(OpenOptions::new(Storage::Memory).clock(clock))?.close()
}

/// Inserts `n` key/value rows, one statement each, in one transaction.
pub fn insert(trail: &mut UserTrail, n: u32) -> Result<()> {
    let tx = trail.store_mut().conn_mut().transaction()?;
    {
        let mut stmt =
            tx.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")?;
        for i in 0..n {
            stmt.execute((format!("bench:{i}"), i.to_string()))?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Looks up `n` keys written by [`insert`] with `rows` rows; returns a checksum
/// so the work cannot be optimised away.
pub fn point_lookup(trail: &UserTrail, rows: u32, n: u32) -> Result<u64> {
    let conn = trail.store().conn();
    let mut stmt = conn.prepare_cached("SELECT value FROM meta WHERE key = ?1")?;
    let mut sum = 0u64;
    for i in 0..n {
        let key = format!("bench:{}", (u64::from(i) * 7919 % u64::from(rows.max(1))));
        let v: String = stmt.query_row([key], |r| r.get(0))?;
        sum += v.len() as u64;
    }
    Ok(sum)
}

/// Creates `n` anonymous sessions, each in its own transaction as a request
/// would; returns their tokens.
pub fn create_sessions(trail: &UserTrail, n: u32) -> Result<Vec<String>> {
    let sessions = trail.sessions();
    (0..n)
        .map(|_| {
            crate::kernel::block::block_on(
                sessions.create(crate::session::CreateOptions::default()),
            )
            .map(|issued| issued.token)
        })
        .collect()
}

/// Validates `n` of `tokens`, spread over all of them; returns how many were
/// valid (all, unless the clock moved).
pub fn validate_sessions(trail: &UserTrail, tokens: &[String], n: u32) -> Result<u32> {
    let sessions = trail.sessions();
    let client = crate::session::ClientContext::default();
    let mut valid = 0;
    for i in 0..n as usize {
        let token = &tokens[i * 7919 % tokens.len()];
        valid +=
            u32::from(crate::kernel::block::block_on(sessions.validate(token, &client))?.is_some());
    }
    Ok(valid)
}

/// The ingest workload's `i`-th event: one of 50 names, one of 10,000
/// users, a small properties object.
pub fn ingest_event(i: u32) -> crate::tracking::EventInput {
    let mut properties = serde_json::Map::new();
    properties.insert("i".into(), i.into());
    properties.insert(
        "plan".into(),
        if i.is_multiple_of(3) { "pro" } else { "free" }.into(),
    );
    crate::tracking::EventInput {
        event_type: Some(crate::tracking::EventType::Action),
        name: format!("event_{}", i % 50),
        user_id: Some(format!("user-{}", i % 10_000)),
        path: Some(format!("/page/{}", i % 40)),
        properties: Some(properties),
        ..crate::tracking::EventInput::default()
    }
}

/// Stores `batches` batches of `size` events each through `track_batch`;
/// returns how many were stored.
pub fn ingest(trail: &UserTrail, batches: u32, size: u32) -> Result<u64> {
    let tracking = trail.tracking();
    let mut stored = 0;
    for b in 0..batches {
        let batch = (0..size).map(|i| ingest_event(b * size + i)).collect();
        stored += tracking.track_batch(batch, false)?.len() as u64;
    }
    Ok(stored)
}

/// The database's size in bytes.
pub fn database_bytes(trail: &UserTrail) -> Result<u64> {
    let conn = trail.store().conn();
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    Ok((pages * size) as u64)
}

/// Defines preferences until there are 50, and sets all of them for `user`.
pub fn prefs_fixture(trail: &UserTrail, user: &str) -> Result<()> {
    let prefs = trail.prefs();
    for i in 0..41 {
        let def = crate::prefs::PrefDefinition {
            key: format!("bench.option_{i:02}"),
            category: format!("bench{}", i % 4),
            pref_type: crate::prefs::PrefType::Number,
            default: 0.into(),
            values: None,
            min: Some(0.0),
            max: Some(1000.0),
            max_length: None,
            max_bytes: None,
            format: None,
            description: None,
            purpose: None,
        };
        prefs.define(&def)?;
        crate::kernel::block::block_on(prefs.set(user, &def.key, &(i * 10).into(), "bench"))?;
    }
    crate::kernel::block::block_on(prefs.set(user, "appearance.theme", &"dark".into(), "bench"))?;
    Ok(())
}

/// Reads all of `user`'s preferences `n` times; returns how many values it read.
pub fn prefs_get_all(trail: &UserTrail, user: &str, n: u32) -> Result<usize> {
    let prefs = trail.prefs();
    let mut read = 0;
    for _ in 0..n {
        read += crate::kernel::block::block_on(prefs.get_all(user, None))?.len();
    }
    Ok(read)
}
