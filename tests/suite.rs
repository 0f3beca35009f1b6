//! Every integration test that runs natively and in Node, as one binary.
//!
//! Each file beside this one is a module of this crate, not a crate of its
//! own: one link natively and, on wasm, one module for wasm-bindgen and Node
//! to load instead of one per file (each of those cost about 8 s of a CI
//! run, most of them spent on tests that take milliseconds). `opfs.rs` (a
//! Chromium worker) and `durable_object.rs` (workerd) stay crates of their
//! own, since they run in other hosts. `Cargo.toml` lists the three.
//!
//! Tests of different files now run side by side on the native test
//! threads; each already keeps to its own data (a fresh engine, a Redis
//! prefix of its own), and the Redis server and cluster the helpers start
//! are shared by all of them.

#[macro_use]
mod common;

mod alloc_peak;
mod analytics;
mod anonymize;
mod consent;
mod errors;
mod experiments;
mod file;
mod journeys;
mod layers;
mod leaks;
mod media;
mod merge;
mod operators;
mod pipeline;
mod pipeline_leases;
mod prefs;
mod privacy;
mod projection;
mod properties;
mod retention;
mod rights;
mod rights_linked;
mod sessions;
mod sessions_redis;
mod shared_store;
mod store;
mod tracking;
mod useragent_accuracy;

/// A test file left out of the list above would never run (`autotests` is
/// off): every `tests/*.rs` is a module here or a target in `Cargo.toml`.
#[test]
#[cfg(not(target_family = "wasm"))]
fn every_test_file_is_in_the_suite() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let this = include_str!("suite.rs");
    let manifest = include_str!("../Cargo.toml");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Some(stem) = name.strip_suffix(".rs") else {
            continue;
        };
        let module = this.lines().any(|l| l == format!("mod {stem};"));
        let target = manifest.contains(&format!("path = \"tests/{name}\""));
        if !module && !target {
            missing.push(name);
        }
    }
    assert!(missing.is_empty(), "not in tests/suite.rs: {missing:?}");
}
