/// <reference lib="esnext.disposable" />
// Types for usertrail/redis.
import type { SharedStore } from './gen/usertrail.js';

/** What `redisStore` needs of a client: node-redis's `evalSha` and `eval`. */
export interface ScriptClient {
  evalSha(sha1: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

/** Options for `redisStore`. */
export interface RedisStoreOptions {
  /** Every key the engine writes starts with `<prefix>:`. Default `'ut'`. */
  prefix?: string;
  /** Each call fails with `STORE_UNAVAILABLE` past this; default 2000. */
  timeoutMs?: number;
  /**
   * How often an engine opened on this store follows the store's rights log (erasures, anonymisations,
   * rectifications and withdrawals exercised on any process; other processes' export requests), in ms,
   * at most 10000 (a place silent for 30 s is taken for gone). `0` turns the timer off: call
   * `trail.privacy.follow()` yourself, at least every 10 s. Default 250.
   */
  followMs?: number;
  /**
   * Called with each failure of the timer's follow (Redis down, say); it retries at the next tick.
   * Default: `console.warn`, at most once a minute while failures last.
   */
  onFollowError?: (err: unknown) => void;
  /**
   * Writes that must survive a Redis failover: logins, session revocations (logout, destroy, evict),
   * consent decisions and erasures. Each waits, after its script, for `replicas` replicas to
   * acknowledge it (Redis `WAIT`, sent with the script on a connection of their own) within `timeoutMs`; fewer in time fail the
   * call with `STORE_UNAVAILABLE` (the middleware answers 503; the write is on the primary and may or
   * may not survive a failover, so retry it). Costs one round trip to the replicas per such write.
   * Redis replicates asynchronously: without this, a failover can lose writes the primary acknowledged
   * just before it died (docs/SESSIONS.md, "Failover"). Defaults: `replicas` 1, `timeoutMs` 1000.
   * Needs a node-redis client, cluster or Sentinel client: the writes go on a connection of their own
   * (`duplicate()`, closed by `trail.close()`), each script and its `WAIT` as one pipeline (`multi()`).
   */
  durableWrites?: { replicas?: number; timeoutMs?: number };
}

/** A node-redis client or cluster, for `rewritePersistence`. */
export interface CommandClient {
  sendCommand?(args: string[]): Promise<unknown>;
  masters?: unknown[];
  replicas?: unknown[];
  nodeClient?(node: unknown): unknown;
}

/**
 * The operator's step after erasures: rewrites the append-only file of every node behind `client`
 * (masters and replicas) from what the nodes hold now (`BGREWRITEAOF`), so that no old write of an
 * erased subject survives in it, and waits for each rewrite; with `{ snapshot: true }` also writes a
 * fresh RDB snapshot (`BGSAVE`). See docs/PRIVACY.md, "Redis persistence, snapshots and backups".
 *
 * ```js
 * await trail.privacy.erase(userId, { reason: 'user request', waitMs: 5000 });
 * await rewritePersistence(redis); // then, or once a day for the day's erasures
 * ```
 */
export declare function rewritePersistence(
  client: CommandClient,
  options?: { snapshot?: boolean; timeoutMs?: number },
): Promise<{ nodes: number; ms: number }>;

/**
 * A shared store on the app's Redis, for `UserTrail.open({ shared })`: sessions, preferences and
 * consent seen by every process.
 *
 * ```js
 * import { createClient } from 'redis';
 * const redis = await createClient({ url: process.env.REDIS_URL })
 *   .on('error', (err) => console.error('redis', err)) // without it, a lost connection crashes the process
 *   .connect();
 * const trail = await UserTrail.open({ storage: { file: 'app.db' }, shared: redisStore(redis, { prefix: 'ut' }) });
 * ```
 */
export declare function redisStore(
  client: ScriptClient,
  options?: RedisStoreOptions,
): SharedStore & { readonly prefix: string; readonly timeoutMs: number; readonly followMs: number };
