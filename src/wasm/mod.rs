//! The JavaScript bindings: the only place with `#[wasm_bindgen]`.
//!
//! One file per exported class; each does conversions only. Business logic
//! lives in the core modules, where it is tested on both targets.

mod clock;
mod error;
mod open_options;
mod opfs;
mod options;
mod sessions;
mod user_trail;

#[cfg(feature = "bench")]
mod bench;

pub use sessions::JsSessions;
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
  | 'STORAGE_ERROR'
  | 'SESSION_NOT_FOUND'
  | 'SESSION_EXPIRED'
  | 'CONFLICT'
  | 'PAYLOAD_TOO_LARGE'
  | 'KEY_MISSING'
  | 'DECRYPTION_FAILED';

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
  /** Session settings. */
  sessions?: SessionSettings;
  /** How IP addresses are masked before they are stored. */
  ipMask?: IpMask;
}

/** Trailing bits zeroed in stored IP addresses. */
export interface IpMask {
  /** 0 to 32; default 16 (the last 2 bytes). */
  v4Bits?: number;
  /** 0 to 128; default 80. */
  v6Bits?: number;
}

/** A key that seals session state: 32 bytes, with an id for rotation. */
export interface SessionKey {
  id: string;
  key: Uint8Array;
}

/** Engine-wide session settings. */
export interface SessionSettings {
  /** Idle timeout; default 1800 (30 min). */
  idleTimeoutSecs?: number;
  /** Absolute timeout; default 43200 (12 h). */
  absoluteTimeoutSecs?: number;
  /** Activity is written at most once per interval; default 60. */
  touchIntervalSecs?: number;
  /** Over this, the least recently used session of the user is evicted. */
  maxSessionsPerUser?: number;
  /** Binding to user agent and IP network (IPv4 /24, IPv6 /48); default `'warn'`. */
  fingerprint?: 'off' | 'warn' | 'strict';
  /** Session state size limit in bytes of JSON; default 65536. */
  maxStateBytes?: number;
  /** Seal session state with XChaCha20-Poly1305. Newest first: the first key seals, all open. */
  keys?: SessionKey[];
}

/** What a request says about the client. */
export interface ClientContext {
  ip?: string;
  userAgent?: string;
}

/** Options for `sessions.create`. */
export interface CreateSessionOptions extends ClientContext {
  /** Omit for an anonymous session; bind it later with `login`. */
  userId?: string;
  /** Initial state: a JSON object. */
  data?: Record<string, unknown>;
  /** Overrides the engine's idle timeout ("remember me"). */
  idleTimeoutSecs?: number;
  /** Overrides the engine's absolute timeout. */
  absoluteTimeoutSecs?: number;
}

/** Options for state writes. */
export interface WriteOptions {
  /** Fail with `CONFLICT` unless the state is at this version. */
  expectedVersion?: number;
}

/** The device a session was created from, minimised. */
export interface SessionClient {
  /** The IP address with its host part zeroed. */
  ip: string | null;
  /** Browser family and major version, e.g. `'Firefox 121'`, or `'Other'`. */
  browser: string;
  /** OS family, e.g. `'Android'`, or `'Other'`. */
  os: string;
  device: 'desktop' | 'mobile' | 'tablet' | 'bot' | 'unknown';
}

/** A live session. Times are ms since the epoch. */
export interface Session {
  /** Non-secret handle, for listing and revoking. */
  sessionId: string;
  userId: string | null;
  createdAt: number;
  lastSeenAt: number;
  idleExpiresAt: number;
  absoluteExpiresAt: number;
  /** The state's version, for `expectedVersion`. */
  version: number;
  client: SessionClient;
  /** Set under the `'warn'` fingerprint policy when this request's client differs. */
  fingerprintMismatch?: true;
}

/** A session with its secret token, returned by `create`, `rotate` and `login`. */
export interface CreatedSession extends Session {
  token: string;
}
"#;

/// Makes Rust panics readable in the JS console (feature
/// `console_error_panic_hook`, on by default).
#[wasm_bindgen(start)]
fn start() {
    #[cfg(feature = "console_error_panic_hook")]
    console_error_panic_hook::set_once();
}
