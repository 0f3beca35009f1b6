//! The JavaScript bindings: the only place with `#[wasm_bindgen]`.
//!
//! One file per exported class; each does conversions only. Business logic
//! lives in the core modules, where it is tested on both targets.

mod clock;
mod error;
mod opfs;
mod options;
mod user_trail;

#[cfg(feature = "bench")]
mod bench;

pub use user_trail::JsUserTrail;

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** Every `code` a `UserTrailError` can carry. Stable across releases. */
export type ErrorCode =
  | 'INVALID_INPUT'
  | 'CLOSED'
  | 'NOT_A_DATABASE'
  | 'CORRUPT'
  | 'SCHEMA_TOO_NEW'
  | 'FOREIGN_DATABASE'
  | 'BUSY'
  | 'STORAGE_FULL'
  | 'CANNOT_OPEN'
  | 'UNSUPPORTED'
  | 'MIGRATION_FAILED'
  | 'STORAGE_ERROR';

/** Where the OPFS pool keeps the database. All fields are optional. */
export interface OpfsOptions {
  /** The database's file name in the pool. Default `'usertrail.db'`. */
  name?: string;
  /** The pool's (and its SQLite VFS's) name. Default `'usertrail'`. */
  pool?: string;
  /** The OPFS directory the pool uses. Default `'.usertrail'`. */
  directory?: string;
}

/**
 * Where the database lives:
 * - `'memory'`: in memory; keep it with `export()`.
 * - `'opfs'` or `{ opfs }`: the origin-private file system (dedicated worker only).
 * - `{ bytes }`: a copy of a database exported earlier, opened in memory.
 */
export type StorageOption =
  | 'memory'
  | 'opfs'
  | { opfs: OpfsOptions }
  | { bytes: Uint8Array };

/** Options for `UserTrail.open`. */
export interface OpenOptions {
  /** Default `'memory'`. */
  storage?: StorageOption;
  /** The time in ms since the epoch; default `Date.now`. For tests. */
  clock?: () => number;
  /** How long to wait for a lock held elsewhere before `BUSY`. Default 2000. */
  busyTimeoutMs?: number;
}
"#;

/// Makes Rust panics readable in the JS console (feature
/// `console_error_panic_hook`, on by default).
#[wasm_bindgen(start)]
fn start() {
    #[cfg(feature = "console_error_panic_hook")]
    console_error_panic_hook::set_once();
}
