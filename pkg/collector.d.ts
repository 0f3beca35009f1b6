/// <reference lib="esnext.disposable" />
// Types for usertrail/collector.
import type { UserTrail } from './index.js';
import type { toNodeListener } from './node-http.js';

/** Options for the collector. Unknown keys and bad values throw `INVALID_INPUT`. */
export interface CollectorOptions {
  /** Accepted write keys (16+ characters), sent as `Authorization: Bearer <key>` or `X-Write-Key`; compared in constant time. Default: none required. */
  writeKeys?: string[];
  /** The largest body accepted, in bytes (413 past it). Default 1 MiB. */
  maxBodyBytes?: number;
  /** The most events per batch (413 past it), at most 10,000. Default 1000. */
  maxEvents?: number;
  /** A body must arrive within this long (408 past it: slow clients do not hold the collector). Default 10000. */
  bodyTimeoutMs?: number;
  /** Called with unexpected failures (answered 500). Default `console.error`. */
  onError?: (err: unknown, request: Request) => void;
}

type Engine = Pick<UserTrail, 'pipeline'>;

/**
 * A fetch handler that collects batches (`{ events }`, as `tracking.outbox.take()` leases them) into the engine's
 * pipeline: 202 once Redis holds every accepted event, with one result per event.
 *
 * ```js
 * const handle = collector(trail, { writeKeys: [process.env.WRITE_KEY] });
 * ```
 */
export declare function collector(trail: Engine, options?: CollectorOptions): (request: Request) => Promise<Response>;
/** Express/Connect: `app.post('/collect', expressCollector(trail))`. */
export declare function expressCollector(trail: Engine, options?: CollectorOptions): (req: any, res: any, next: (err?: unknown) => void) => void;
/** Node's `http`: `createServer(nodeCollector(trail, options))`, i.e. `toNodeListener(collector(trail, options))`. */
export declare function nodeCollector(trail: Engine, options?: CollectorOptions): ReturnType<typeof toNodeListener>;
/** Hono: `app.post('/collect', honoCollector(trail))`. */
export declare function honoCollector(trail: Engine, options?: CollectorOptions): (c: any) => Promise<Response>;

export { toNodeListener, type NodeRequestInfo } from './node-http.js';
