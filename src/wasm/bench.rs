//! Entry points for `bench/run.mjs`: the shared workloads, called from JS,
//! timed by the caller.

use std::sync::Arc;

use wasm_bindgen::prelude::*;

use super::error::js;
use crate::kernel::clock::ManualClock;
use crate::{bench, OpenOptions, Storage, UserTrail};

/// A benchmark fixture: one in-memory engine, and the tokens of the sessions
/// created in it.
#[wasm_bindgen]
pub struct Bench(UserTrail, Vec<String>);

#[wasm_bindgen]
impl Bench {
    /// A fresh in-memory engine on a manual clock.
    #[wasm_bindgen(constructor)]
    pub fn new() -> Result<Bench, JsValue> {
        js(UserTrail::open(
            OpenOptions::new(Storage::Memory).clock(Arc::new(ManualClock::new(1_700_000_000_000))),
        ))
        .map(|t| Bench(t, Vec::new()))
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

    /// See [`bench::create_sessions`]; keeps the tokens.
    #[wasm_bindgen(js_name = createSessions)]
    pub fn create_sessions(&mut self, n: u32) -> Result<(), JsValue> {
        let tokens = js(bench::create_sessions(&self.0, n))?;
        self.1.extend(tokens);
        Ok(())
    }

    /// See [`bench::validate_sessions`], over the tokens kept so far.
    #[wasm_bindgen(js_name = validateSessions)]
    pub fn validate_sessions(&self, n: u32) -> Result<u32, JsValue> {
        js(bench::validate_sessions(&self.0, &self.1, n))
    }

    /// See [`bench::prefs_fixture`]: 50 preferences, all set for `alice`.
    #[wasm_bindgen(js_name = prefsFixture)]
    pub fn prefs_fixture(&self) -> Result<(), JsValue> {
        js(bench::prefs_fixture(&self.0, "alice"))
    }

    /// See [`bench::point_lookup`].
    #[wasm_bindgen(js_name = pointLookup)]
    pub fn point_lookup(&self, rows: u32, n: u32) -> Result<f64, JsValue> {
        js(bench::point_lookup(&self.0, rows, n)).map(|s| s as f64)
    }
}
