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
}

/**
 * A shared store on the app's Redis, for `UserTrail.open({ shared })`: sessions, preferences and
 * consent seen by every process.
 *
 * ```js
 * import { createClient } from 'redis';
 * const redis = await createClient({ url: process.env.REDIS_URL }).connect();
 * const trail = await UserTrail.open({ storage: { file: 'app.db' }, shared: redisStore(redis, { prefix: 'ut' }) });
 * ```
 */
export declare function redisStore(client: ScriptClient, options?: RedisStoreOptions): SharedStore & { readonly prefix: string; readonly timeoutMs: number };
