//! Native half of `./build.sh bench`: times the shared workloads in
//! `usertrail::bench` and prints one JSON line per figure. `bench/run.mjs`
//! times the same workloads on wasm in Node and prints both with their ratio.

use std::sync::Arc;
use std::time::Instant;

use usertrail::bench;
use usertrail::clock::ManualClock;
use usertrail::{OpenOptions, Storage, UserTrail};

/// Rows written by the insert workload and read by the lookup one.
const ROWS: u32 = 20_000;
/// Lookups timed.
const LOOKUPS: u32 = 100_000;
/// Engines opened and migrated.
const OPENS: u32 = 200;

fn report(name: &str, ops: u32, started: Instant) {
    let ms = started.elapsed().as_secs_f64() * 1e3;
    println!(r#"{{"name":"{name}","ops":{ops},"ms":{ms:.3}}}"#);
}

fn main() -> usertrail::Result<()> {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));

    let t = Instant::now();
    for _ in 0..OPENS {
        bench::open_migrate(clock.clone())?;
    }
    report("open_migrate", OPENS, t);

    let mut trail = UserTrail::open(OpenOptions::new(Storage::Memory).clock(clock))?;
    let t = Instant::now();
    bench::insert(&mut trail, ROWS)?;
    report("insert", ROWS, t);

    let t = Instant::now();
    let sum = bench::point_lookup(&trail, ROWS, LOOKUPS)?;
    report("point_lookup", LOOKUPS, t);
    assert!(sum > 0);
    Ok(())
}
