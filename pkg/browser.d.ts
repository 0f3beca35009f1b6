/// <reference lib="esnext.disposable" />
// Types for usertrail/browser (browser.js): the engine for web pages, hosted
// in a dedicated worker on OPFS and shared by the tabs of an origin.
import type { Shipper } from './pipeline.js';
import type { ErrorCode, OpenOptions, UserTrail } from './gen/usertrail.js';

/** A `Worker` where the lib declares it (the DOM lib), else any object with `postMessage`. */
export type WorkerLike = typeof globalThis extends { Worker: { prototype: infer W } } ? W : { postMessage(message: unknown): void };

export { UserTrailError, Tracker, uuidv7 } from './index.js';
export type { TrackerOptions } from './index.js';

/**
 * `T` as seen from a page: every method returns a Promise of what the engine
 * returns, and namespaces (`sessions`, `tracking.outbox`, …) are mirrored.
 */
export type Remote<T> = {
  [K in keyof T as K extends 'free' | typeof Symbol.dispose ? never : K]: T[K] extends (
    ...args: infer A
  ) => infer R
    ? (...args: A) => Promise<Awaited<R>>
    : T[K] extends object
      ? Remote<T[K]>
      : T[K];
};

/** Why a client is not persistent: the code and what the browser lacked. */
export interface NotPersistentReason {
  code: ErrorCode;
  message: string;
}

/**
 * The engine, from a page. It has `UserTrail`'s API with every method
 * returning a Promise, plus what a shared, worker-hosted engine needs to say.
 */
export type BrowserTrail = Omit<Remote<UserTrail>, 'close' | 'closed'> & {
  /** The database name given to `connect`. */
  readonly name: string;
  /**
   * True when the database is on OPFS. False when the browser has no OPFS
   * (private browsing, old Safari) and the engine is in memory: its data
   * lasts only while a tab of the origin is open.
   */
  readonly persistent: boolean;
  /** Why `persistent` is false; null when it is true. */
  readonly reason: NotPersistentReason | null;
  /**
   * Whether this browser sends Global Privacy Control (`navigator.globalPrivacyControl`). A `Tracker`
   * on this client then records it, once per subject, as a withdrawal of `sale_share` and `marketing`,
   * so that subject's events are never handed to a third-party collector.
   */
  readonly globalPrivacyControl: boolean;
  /** True while this tab's worker holds the database and serves the others. */
  readonly leader: boolean;
  /** True after `close()`, or once the worker has failed. */
  readonly closed: boolean;
  /**
   * Closes this tab's connection: its worker stops (closing the engine if it
   * held it, and another tab takes over). Later calls reject with `CLOSED`.
   */
  close(): Promise<void>;
  /** With `transport`: the outbox's shipper (`flush()` sends what is due now). */
  readonly shipper?: Shipper;
};

/** Options for `connect`: the engine's open options, less `storage` and `clock`. */
export interface ConnectOptions extends Omit<OpenOptions, 'storage' | 'clock'> {
  /**
   * The database: 1 to 48 letters, digits, `_` or `-`. Default `'usertrail'`.
   * Its OPFS pool is `usertrail-<name>`, in the directory `.usertrail-<name>`.
   */
  name?: string;
  /**
   * The worker to host the engine in: a `Worker` you made, or the URL of a
   * module script that imports `usertrail/browser-worker`. Default: the
   * package's `browser-worker.js`, next to `browser.js`.
   */
  worker?: WorkerLike | URL | string;
  /**
   * Where the browser has no OPFS: `'memory'` (default) opens a memory engine
   * and reports `persistent: false`; `'error'` rejects with `UNSUPPORTED`.
   */
  fallback?: 'memory' | 'error';
  /** Reject with `TIMEOUT` if no engine answers within this long. Default 15000. */
  timeoutMs?: number;
  /**
   * Ships the engine's outbox to a collector (`usertrail/collector`): `fetch`,
   * `navigator.sendBeacon` while the page is left, backing off while offline; ack on a 2xx.
   * Turns the outbox on. Nothing is lost across reloads or a collector outage.
   */
  transport?: { url: string; headers?: Record<string, string> };
}

/**
 * Connects this page to the engine for `options.name`, starting its worker;
 * a second call for the same name returns the same client. The tabs of an
 * origin share one engine: the first tab's worker opens it (on OPFS) and the
 * others forward their calls to it. When that tab closes, another takes over.
 *
 * ```js
 * import { connect, Tracker } from 'usertrail/browser';
 * const trail = await connect({ name: 'shop' });
 * if (!trail.persistent) showBanner(trail.reason.message);
 * const tracker = new Tracker(trail);
 * tracker.track({ type: 'page', name: 'page_view', path: location.pathname, anonymousId });
 * ```
 *
 * Rejects with a `UserTrailError`: `INVALID_INPUT` for bad options,
 * `UNSUPPORTED` where there is no worker, Web Locks or (with
 * `fallback: 'error'`) OPFS, `BUSY` when the database stays held by something
 * else, `TIMEOUT` when no engine answers within `timeoutMs`, and the engine's own codes (`CORRUPT`, `SCHEMA_TOO_NEW`, …).
 */
export declare function connect(options?: ConnectOptions): Promise<BrowserTrail>;
