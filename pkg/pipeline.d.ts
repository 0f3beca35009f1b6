// Types for usertrail/pipeline.
import type { Consumed, MergeableQuery, UserTrail } from './index.js';

/** What `ship` needs of an engine: its outbox, or its pipeline. */
type Shippable = { tracking: Pick<UserTrail['tracking'], 'outbox'>; pipeline?: Pick<UserTrail['pipeline'], 'collect'> };

/** Options for `ship`. Unknown keys throw a `TypeError`. */
export interface ShipOptions {
  /** The collector's URL (`usertrail/collector`). */
  url?: string;
  /** Sent with each batch (a write key: `{ authorization: 'Bearer …' }`). A page being left then uses `fetch` with `keepalive`, not a beacon. */
  headers?: Record<string, string>;
  /** A server engine with the shared store: append to the streams directly instead of over HTTP. */
  pipeline?: boolean;
  /** Events per batch; default 500. */
  maxBatch?: number;
  /** How long to wait between flushes when nothing failed; default 1000. */
  intervalMs?: number;
  /** Called when a send fails (it is retried) or a batch is refused. */
  onError?: (err: unknown, batch?: unknown) => void;
  /** Stops the loop. */
  signal?: AbortSignal;
  /** The fetch to use; default `globalThis.fetch`. */
  fetch?: typeof fetch;
}

/** A running shipper. */
export interface Shipper {
  /** Sends what is due now; resolves with how many events were sent. */
  flush(leaving?: boolean): Promise<number>;
  /** Stops the loop; resolves when it has stopped. */
  stop(): Promise<void>;
  /** Resolves when the loop ends. */
  readonly done: Promise<void>;
}

/** The delay before the `n`th attempt after failures: 3 s doubling, at most 5 min. */
export declare function backoff(n: number): number;

/** Ships an engine's outbox to a collector (or straight into the streams), until stopped. */
export declare function ship(trail: Shippable, options: ShipOptions): Shipper;

/** Options for `runPartition`. */
export interface PartitionOptions {
  partition: number;
  /** Entries per step; default 500. */
  max?: number;
  /** Wait this long when the stream is empty; default 100. */
  idleMs?: number;
  signal?: AbortSignal;
  onStep?: (step: Consumed) => void;
  onError?: (err: unknown) => void;
  /** Take a snapshot this often, and keep the stream from the last one. */
  snapshotEveryMs?: number;
  onSnapshot?: (bytes: Uint8Array, position: string) => void | Promise<void>;
}

/** A partition worker's loop, until `signal` aborts. */
export declare function runPartition(trail: Pick<UserTrail, 'pipeline'>, options: PartitionOptions): Promise<void>;

/** A fetch handler serving a partition's partials (`POST /partial`) and exports (`POST /export`). */
export declare function partitionHandler(trail: Pick<UserTrail, 'pipeline' | 'privacy'>): (request: Request) => Promise<Response>;

/** The coordinator over partitions' handlers. */
export declare function acrossPartitions(
  urls: string[],
  trail: Pick<UserTrail, 'pipeline'>,
): {
  /** The merged answer of `query`: what one engine holding every event would answer. */
  query(query: MergeableQuery, options?: Record<string, unknown>): Promise<unknown>;
  /** Every partition's export of `subject`. */
  export(subject: string): Promise<{ subject: string; partitions: unknown[] }>;
};
