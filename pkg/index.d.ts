// Types for the package entry point (index.js). The UserTrail class and the
// option and record interfaces come from the wasm-bindgen output.
export * from './gen/usertrail.js';
import type { ErrorCode } from './gen/usertrail.js';

/** Every error usertrail throws. Match on `code`, not on `message`. */
export declare class UserTrailError extends Error {
  readonly name: 'UserTrailError';
  /** Stable, machine-readable reason, e.g. `'SCHEMA_TOO_NEW'`. */
  readonly code: ErrorCode;
  /** For `INVALID_INPUT`: the option or argument at fault. */
  readonly field?: string;
}

/** What `init` can load the wasm module from. */
export type InitInput =
  | WebAssembly.Module
  | BufferSource
  | URL
  | string
  | Response
  | Promise<Response>;

/**
 * Loads the wasm module; only the first call does anything. `UserTrail.open`
 * calls it for you, except where the host gives you a compiled module
 * (Cloudflare workerd): call `await init(module)` there first.
 */
export declare function init(input?: InitInput): Promise<void>;

/** Loads the wasm module synchronously from a compiled module or its bytes. */
export declare function initSync(module: WebAssembly.Module | BufferSource): void;
