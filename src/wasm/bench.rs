//! Entry points for `bench/run.mjs`: the shared workloads, called from JS,
//! timed by the caller.

use std::sync::Arc;

use wasm_bindgen::prelude::*;

use super::error::js;
use crate::clock::ManualClock;
use crate::{bench, OpenOptions, Storage, UserTrail};

/// A benchmark fixture: one in-memory engine.
#[wasm_bindgen]
pub struct Bench(UserTrail);

#[wasm_bindgen]
impl Bench {
    /// A fresh in-memory engine on a manual clock.
    #[wasm_bindgen(constructor)]
    pub fn new() -> Result<Bench, JsValue> {
        js(UserTrail::open(
            OpenOptions::new(Storage::Memory).clock(Arc::new(ManualClock::new(1_700_000_000_000))),
        ))
        .map(Bench)
    }

    /// See [`bench::open_migrate`].
    #[wasm_bindgen(js_name = openMigrate)]
    pub fn open_migrate(n: u32) -> Result<(), JsValue> {
        for _ in 0..n {
            js(bench::open_migrate(Arc::new(ManualClock::new(0))))?;
        }
        Ok(())
    }

    /// See [`bench::insert`].
    pub fn insert(&mut self, n: u32) -> Result<(), JsValue> {
        js(bench::insert(&mut self.0, n))
    }

    /// See [`bench::point_lookup`].
    #[wasm_bindgen(js_name = pointLookup)]
    pub fn point_lookup(&self, rows: u32, n: u32) -> Result<f64, JsValue> {
        js(bench::point_lookup(&self.0, rows, n)).map(|s| s as f64)
    }
}
