/// <reference lib="esnext.disposable" />
// Types for usertrail/pipeline.
import type { Consumed, LeaseHolder, MergeableOptions, MergeableQuery, MergeableResult, UserTrail, UserTrailError } from './index.js';

/** What `ship` needs of an engine: its outbox, or its pipeline. */
type Shippable = { tracking: Pick<UserTrail['tracking'], 'outbox'>; pipeline?: Pick<UserTrail['pipeline'], 'collect'> };

/** Options for `ship`. Unknown keys and bad values throw `INVALID_INPUT`. */
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
  /**
   * Called with a `UserTrailError` when a send fails: `UNREACHABLE`, or the collector's code with its HTTP
   * `status`. The batch is kept and retried with backoff (a 401 after a key rotation, a 5xx, …), except that
   * a 413 splits it in halves sent at once, and one event alone too big for the collector is let go (reported
   * here with it).
   */
  onError?: (err: UserTrailError, batch?: unknown) => void;
  /** Stops the loop. */
  signal?: AbortSignal;
  /** The fetch to use; default `globalThis.fetch`. */
  fetch?: typeof fetch;
}

/** A running shipper. */
export interface Shipper {
  /**
   * Sends what is due now; resolves with how many events this call sent. Flushes run one after another (the
   * loop's included), so it resolves once what was due when it was called has been sent.
   */
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
  /** A failed step (retried, backing off), or `REPLICA_BEHIND` when the stream lost entries this partition had not read and it read on without them (`console.warn` without this). */
  onError?: (err: unknown) => void;
  /** Take a snapshot this often, and keep the stream from the last one. */
  snapshotEveryMs?: number;
  onSnapshot?: (bytes: Uint8Array, position: string) => void | Promise<void>;
}

/** A partition worker's loop, until `signal` aborts. */
export declare function runPartition(trail: Pick<UserTrail, 'pipeline'>, options: PartitionOptions): Promise<void>;

/**
 * A fetch handler serving a partition: `POST …/partial` with `{ query, options }` answers
 * `trail.pipeline.partial(query, options)` as JSON; `POST …/export` with `{ subject }` answers the
 * partition's JSON export of the subject. Failures answer `{ error: { code, message, field? } }`: 400 for
 * the request's fault, 404 for a path ending in neither `/partial` nor `/export` (any prefix is
 * served), 405 for another method, 503 while the store is unavailable, 500 otherwise. In Node: `createServer(toNodeListener(partitionHandler(part)))`.
 */
export declare function partitionHandler(trail: Pick<UserTrail, 'pipeline' | 'privacy'>): (request: Request) => Promise<Response>;

/** Options for `acrossPartitions`. */
export interface AcrossPartitionsOptions {
  /** How long each partition may take to answer, in ms (1 to 600000); default 10000. */
  timeoutMs?: number;
}

/** A partition's failure, as the coordinator throws it: a `UserTrailError` whose `partition` is set (its URL, or `p<N>` when no worker held partition N). */
export type PartitionError = UserTrailError & { readonly partition: string };

/** The coordinator over partitions' handlers. */
export interface Coordinator {
  /** The engine given to `acrossPartitions`, which merges (and, sharing the partitions' store, acts for the dashboard's privacy page). */
  readonly trail: Pick<UserTrail, 'pipeline'> & Partial<Pick<UserTrail, 'privacy' | 'experiments' | 'info'>>;
  /**
   * The merged answer of `query`: what one engine holding every event would answer, typed by query
   * (`query('funnel', …)` is a `Promise<Funnel>`). A partition that fails or does not answer in time fails
   * the whole query with a `PartitionError` (`TIMEOUT`, `UNREACHABLE`, or the partition's own code).
   */
  query<Q extends MergeableQuery>(query: Q, options?: MergeableOptions<Q>): Promise<MergeableResult<Q>>;
  /** Every partition's JSON export of `subject`, in the order of the URLs. */
  export(subject: string): Promise<{ subject: string; partitions: unknown[] }>;
}

/**
 * The coordinator: asks every partition (the URLs their `partitionHandler`s serve) and merges with `trail`
 * (any engine). Bad arguments throw `INVALID_INPUT`.
 */
export declare function acrossPartitions(
  urls: string[],
  trail: Pick<UserTrail, 'pipeline'>,
  options?: AcrossPartitionsOptions,
): Coordinator;

/** Options for `discoverPartitions`. */
export interface DiscoverPartitionsOptions {
  /** How long a query may take in all, waiting for holders during a failover, in ms (1 to 600000); default 10000. */
  timeoutMs?: number;
  /** How often to look for a partition's holder while none holds it, in ms; default 100. */
  pollMs?: number;
}

/** The coordinator of `runWorker` workers. */
export interface DiscoveredCoordinator extends Coordinator {
  /** Each partition's lease holder now, `null` where none holds it (a failover). */
  owners(): Promise<(LeaseHolder | null)[]>;
}

/**
 * The coordinator of workers started with `runWorker`: finds each partition's lease holder in Redis (`trail`
 * shares the workers' store and pipeline options) and merges their partials. During a failover a query waits
 * for the new holders and asks again, within `timeoutMs` in all; past it, a `PartitionError` (`TIMEOUT`).
 */
export declare function discoverPartitions(trail: Pick<UserTrail, 'pipeline'>, options?: DiscoverPartitionsOptions): DiscoveredCoordinator;

/** Options for `runWorker`. Unknown keys and bad values throw `INVALID_INPUT`. */
export interface WorkerOptions {
  /** This worker's name: the same on every restart (its partitions come back to it), unique among the workers. Letters, digits, `_ . : -`. */
  name: string;
  /** The base URL where this worker's `handler` is served, as the coordinator and other workers reach it. */
  url: string;
  /**
   * Opens this worker's copy of `partition`: an engine with the same shared store and pipeline options, on its
   * own file. With `snapshot`, the copy starts from those bytes: remove the file and its `-journal` (and any
   * `-wal`, `-shm`), then write them as the file, before opening it.
   */
  open: (partition: number, snapshot: Uint8Array | null) => Promise<UserTrail>;
  /** Copies of each partition (a holder and standbys), 1 to 16; default 2. */
  copies?: number;
  /** How long a lease lasts unless renewed, in ms (500 to 600000); default 3000. A dead worker's partitions are held again after about this. */
  leaseMs?: number;
  /** Entries per step; default 500. */
  max?: number;
  /** Wait this long when a stream is empty; default 100. */
  idleMs?: number;
  /** Stops the worker as `stop()` does. */
  signal?: AbortSignal;
  /**
   * A failure of a copy's step (`partition`), or of the roster (`null`); the worker retries, backing off (a copy
   * failing 3 times in a row gives its lease up). Also `REPLICA_BEHIND` when no copy of a partition was current
   * and this one accepted the loss.
   */
  onError?: (err: unknown, partition: number | null) => void;
  /** A copy's role changed: `'loading'` (from a snapshot), `'standby'`, `'holder'`, `'gone'`. */
  onChange?: (change: { partition: number; role: 'loading' | 'standby' | 'holder' | 'gone'; worker: string }) => void;
  /** The fetch used to load snapshots from other workers; default `globalThis.fetch`. */
  fetch?: typeof fetch;
}

/** A running worker. */
export interface PipelineWorker {
  /** Its id in the roster: `name#incarnation`. */
  readonly id: string;
  /** Serves its copies: `POST /p<N>/partial`, `/p<N>/export`, `/p<N>/snapshot`. For a private network only. */
  handler(request: Request): Promise<Response>;
  /** The copies it holds. */
  state(): { partition: number; role: 'loading' | 'standby' | 'holder'; position: string; token: number }[];
  /** Gives every lease up, leaves the roster, closes the copies. */
  stop(): Promise<void>;
  readonly done: Promise<void>;
}

/**
 * A pipeline worker among several that share the partitions by lease: each partition has `copies` copies
 * (warm standbys), the holder trims and answers; a dead worker's partitions are taken over by their standbys
 * after about `leaseMs`, and workers joining or leaving rebalance. See docs/PIPELINE.md.
 */
export declare function runWorker(trail: Pick<UserTrail, 'pipeline'>, options: WorkerOptions): PipelineWorker;

export { toNodeListener, type NodeRequestInfo } from './node-http.js';
