/// <reference lib="esnext.disposable" />
// Types for the package entry point (index.js). The UserTrail class and the
// option and record interfaces come from the wasm-bindgen output.
export * from './gen/usertrail.js';
import type { ErrorCode, TrackEvent, TrackResult } from './gen/usertrail.js';

/** Every error usertrail throws. Match on `code`, not on `message`. */
export declare class UserTrailError extends Error {
  readonly name: 'UserTrailError';
  /** Stable, machine-readable reason, e.g. `'SCHEMA_TOO_NEW'`. */
  readonly code: ErrorCode;
  /** The option, argument or event field at fault: for `INVALID_INPUT`, `SCHEMA_VIOLATION` (`properties.total`) and `UNKNOWN_DIMENSION` (`dimensions.plan`, `dimension.name`). */
  readonly field?: string;
  /** From the parts that speak HTTP (the coordinator, the shipper): the peer's HTTP status, when it answered. */
  readonly status?: number;
  /** From `acrossPartitions` and `discoverPartitions`: the URL of the partition that failed, or `p<N>` when no worker held partition N. */
  readonly partition?: string;
}

/** A compiled module: `WebAssembly.Module` where the lib declares it (DOM, workers), else any object. */
export type WasmModule = typeof globalThis extends { WebAssembly: { Module: { prototype: infer M } } } ? M : object;

/** What `init` can load the wasm module from: a compiled module, its bytes, or where to fetch them. */
export type InitInput =
  | WasmModule
  | ArrayBuffer
  | ArrayBufferView
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
export declare function initSync(module: WasmModule | ArrayBuffer | ArrayBufferView): void;

/** Options for `Tracker`. */
export interface TrackerOptions {
  /** Flush at most this long after an event is queued; default 1000. */
  flushIntervalMs?: number;
  /** Flush as soon as this many events are queued; default 100. */
  maxBatch?: number;
  /** Events queued at most; past it the oldest are dropped and counted in `dropped`. Default 10,000. */
  maxQueue?: number;
  /**
   * Called when the engine refuses a whole batch (it is kept for the next flush), and for each event
   * it rejects on its own (a `UserTrailError` with its code and field; not retried).
   */
  onError?: (err: unknown, events: TrackEvent[]) => void;
}

/**
 * A queue in front of `trail.tracking.trackBatch`: batches events and, in
 * browsers, flushes when the page is hidden or left.
 *
 * ```js
 * const tracker = new Tracker(trail);
 * tracker.track({ type: 'page', name: 'page_view', path: location.pathname, anonymousId });
 * ```
 */
export declare class Tracker {
  constructor(
    trail: { tracking: { trackBatch(events: TrackEvent[], options: { partial: boolean }): TrackResult[] | Promise<TrackResult[]> } },
    options?: TrackerOptions,
  );
  /** Events waiting to be flushed. */
  readonly pending: number;
  /** Events dropped, ever, because the queue was full. */
  readonly dropped: number;
  /** Queues an event; returns its eventId (a UUIDv7). */
  track(event: TrackEvent): string;
  /** Sends what is queued now, as one batch. */
  flush(): Promise<TrackResult[]>;
  /** Flushes, then stops listening and scheduling. */
  close(): Promise<TrackResult[]>;
}

/** A new UUIDv7 for time `ms` (default now). */
export declare function uuidv7(ms?: number): string;
