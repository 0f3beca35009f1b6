//! The JavaScript bindings: the only place with `#[wasm_bindgen]`.
//!
//! One file per exported class; each reads and checks its arguments
//! ([`input`]) before it touches the engine, then converts. Business logic
//! lives in the core modules, where it is tested on both targets. Storage
//! media backed by JS live in [`vfs`]; the shared store's transport (the
//! app's Redis client) in `remote`.

mod alloc;
pub use alloc::heap_peak;
mod analytics;
mod clock;
mod error;
mod experiments;
mod input;
mod open_options;
mod output;
mod pipeline;
mod prefs;
mod privacy;
mod proxy;
mod remote;
mod sessions;
mod tracking;
mod user_trail;
mod vfs;

#[cfg(feature = "bench")]
mod bench;

/// Runs the VFS conformance suite of `sqlite-wasm-rs` against the host-file
/// VFS over `fs` (an object of file functions, as `pkg/node-fs.js` makes).
/// For the tests; not part of the JS API.
#[doc(hidden)]
pub fn host_file_conformance(fs: JsValue) -> Result<(), String> {
    vfs::hostfs::conformance(fs.unchecked_into())
}

/// Runs the VFS conformance suite of `sqlite-wasm-rs` against the Durable
/// Object VFS over `host` (the functions `pkg/durable-object.js` makes from
/// a Durable Object's `ctx.storage`). For the tests; not part of the JS API.
#[doc(hidden)]
pub fn durable_object_conformance(host: JsValue) -> Result<(), String> {
    vfs::durable::conformance(host.unchecked_into())
}

pub use analytics::JsAnalytics;
pub use experiments::JsExperiments;
pub use pipeline::JsPipeline;
pub use prefs::JsPrefs;
pub use privacy::{JsPrivacy, JsRetention};
pub use sessions::JsSessions;
pub use tracking::{JsOutbox, JsQuarantine, JsTracking};
pub use user_trail::JsUserTrail;

use wasm_bindgen::prelude::*;

/// The TypeScript types of every record and options object, one file per
/// concern, shipped in the generated `.d.ts`.
#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = concat!(
    include_str!("types/core.d.ts"),
    include_str!("types/analytics.d.ts"),
    include_str!("types/privacy.d.ts"),
    include_str!("types/pipeline.d.ts"),
);

/// Makes Rust panics readable in the JS console (feature
/// `console_error_panic_hook`, on by default).
#[wasm_bindgen(start)]
fn start() {
    #[cfg(feature = "console_error_panic_hook")]
    console_error_panic_hook::set_once();
}
