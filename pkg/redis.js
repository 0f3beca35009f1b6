// usertrail/redis: the shared store's transport. The engine (in wasm)
// builds every operation as data, a Lua script with its SHA-1, keys and
// arguments; this runs it on the app's own Redis client and classifies
// failures. Nothing here decides anything about sessions, preferences or
// consent.
//
//   import { createClient } from 'redis';
//   import { redisStore } from 'usertrail/redis';
//   const redis = await createClient({ url }).on('error', (err) => console.error(err)).connect();
//   const trail = await UserTrail.open({ shared: redisStore(redis, { prefix: 'ut' }) });
//
// An engine opened on it follows the store's rights log every `followMs`
// (pkg/index.js runs the timer; the engine decides what to apply).
//
// Works with node-redis clients, clusters and Sentinel clients
// (`createClient`, `createCluster`, `createSentinel`), and with anything that has node-redis's
// `evalSha(sha, { keys, arguments })` and `eval(source, { keys, arguments })`
// (an ioredis adapter is four lines; see docs/SESSIONS.md).

import { UserTrailError } from './gen/error.js';

/** A refused option or argument: `INVALID_INPUT` naming it. */
const invalid = (field, message) => new UserTrailError('INVALID_INPUT', `usertrail/redis: ${message}`, field);

/** `value` (or `fallback` when undefined) if it is an integer from `min` to `max`; else INVALID_INPUT naming `field`. */
function integer(value, fallback, field, min, max, range = `${min} to ${max}`) {
  const n = value ?? fallback;
  if (!Number.isInteger(n) || n < min || n > max) throw invalid(field, `${field} must be an integer from ${range}`);
  return n;
}

const KNOWN = new Set(['prefix', 'timeoutMs', 'followMs', 'onFollowError', 'durableWrites']);

// Error replies that mean "not now" rather than "wrong": a server loading
// its AOF, a cluster failing over, a replica that cannot take writes.
const TRANSIENT = /^(LOADING|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|READONLY|BUSY|NOREPLICAS|MOVED|ASK)\b/;

function failure(code, message, cause) {
  const err = new UserTrailError(code, message);
  err.cause = cause;
  return err;
}

/** Classifies what the client threw: an error reply, or no answer at all. */
function classify(err) {
  const message = String(err?.message ?? err);
  // node-redis marks server replies as ErrorReply; ioredis as ReplyError.
  const reply = err?.constructor?.name === 'ErrorReply' || err?.name === 'ReplyError' || /^[A-Z]+ /.test(message);
  if (reply && !TRANSIENT.test(message)) return failure('STORAGE_ERROR', `Redis answered an error: ${message}`, err);
  return failure('STORE_UNAVAILABLE', `Redis is unavailable: ${message}`, err);
}

/**
 * A shared store over `client` (node-redis `createClient()`/`createCluster()`/`createSentinel()`, or an
 * object with its `evalSha` and `eval`). `options.prefix` starts every key (default 'ut'); `options.timeoutMs`
 * bounds each call (default 2000): past it the call fails with STORE_UNAVAILABLE.
 * `options.durableWrites: { replicas = 1, timeoutMs = 1000 }` makes the writes that must survive a
 * failover (logins, revocations, consent decisions, erasures) wait for that many replicas (Redis WAIT);
 * fewer in time fail the call with STORE_UNAVAILABLE.
 */
export function redisStore(client, options = {}) {
  if (!client || typeof client.evalSha !== 'function' || typeof client.eval !== 'function') {
    throw invalid('client', 'the client must be a node-redis client or cluster, or have evalSha and eval');
  }
  // node-redis (and ioredis) emit 'error' when a connection drops; with no
  // listener, Node turns that into an uncaught exception and the process
  // dies before the middleware can answer its 503. Refused here, at
  // startup, rather than found in production at the first Redis outage.
  if (typeof client.listenerCount === 'function' && client.listenerCount('error') === 0) {
    throw invalid(
      'client',
      "the client has no 'error' listener, so a lost connection would crash the process; " +
        "add one before connecting: createClient({ url }).on('error', (err) => log(err))",
    );
  }
  if (options === null || typeof options !== 'object') throw invalid('options', 'options must be an object');
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) throw invalid(key, `unknown option ${JSON.stringify(key)}`);
  }
  const prefix = options.prefix ?? 'ut';
  if (typeof prefix !== 'string' || !/^[A-Za-z0-9_\-:.]{1,64}$/.test(prefix)) {
    throw invalid('prefix', "prefix must be 1 to 64 of letters, digits, '_', '-', ':' and '.'");
  }
  const timeoutMs = integer(options.timeoutMs, 2000, 'timeoutMs', 1, 600_000);
  // At most 10 s: a place that has not reported for 30 s is taken for gone.
  const followMs = integer(options.followMs, 250, 'followMs', 0, 10_000, '0 (off) to 10000');
  const onFollowError = options.onFollowError;
  if (onFollowError !== undefined && typeof onFollowError !== 'function') {
    throw invalid('onFollowError', 'onFollowError must be a function');
  }
  // Writes that must survive a failover wait for replicas (Redis WAIT); the
  // engine says which writes those are (logins, revocations, consent
  // decisions, erasures) by passing `wait` to run().
  let durableWrites;
  if (options.durableWrites !== undefined) {
    const d = options.durableWrites;
    if (d === null || typeof d !== 'object' || Array.isArray(d)) {
      throw invalid('durableWrites', 'durableWrites must be an object: { replicas, timeoutMs }');
    }
    for (const key of Object.keys(d)) {
      if (key !== 'replicas' && key !== 'timeoutMs') throw invalid(`durableWrites.${key}`, `unknown option ${JSON.stringify(key)}`);
    }
    const replicas = integer(d.replicas, 1, 'durableWrites.replicas', 1, 16);
    const waitMs = integer(d.timeoutMs, 1000, 'durableWrites.timeoutMs', 1, 60_000);
    if (typeof client.duplicate !== 'function' || typeof client.multi !== 'function') {
      throw invalid(
        'durableWrites',
        'durableWrites needs a node-redis client, cluster or Sentinel client (it opens a connection of its own with duplicate() and pipelines with multi())',
      );
    }
    durableWrites = Object.freeze({ replicas, timeoutMs: waitMs });
  }

  // Calls waiting for Redis, each with its deadline. One timer sweeps them
  // (rather than a timer per call, which costs more than the call at tens
  // of thousands of calls a second); it runs only while calls wait.
  const pending = new Set();
  let sweeper = null;
  const sweep = () => {
    const now = performance.now();
    for (const p of pending) {
      if (p.deadline <= now) {
        pending.delete(p);
        p.reject(failure('STORE_UNAVAILABLE', `Redis did not answer within ${timeoutMs} ms`));
      }
    }
    if (pending.size === 0) {
      clearInterval(sweeper);
      sweeper = null;
    }
  };

  function once(call, extraMs = 0) {
    return new Promise((resolve, reject) => {
      const p = { deadline: performance.now() + timeoutMs + extraMs, reject };
      pending.add(p);
      if (!sweeper) {
        sweeper = setInterval(sweep, Math.max(5, Math.min(250, timeoutMs / 4)));
        sweeper.unref?.();
      }
      call().then(
        (value) => {
          if (pending.delete(p)) resolve(value);
        },
        (err) => {
          if (pending.delete(p)) reject(err);
        },
      );
    });
  }

  async function script(sha1, source, params) {
    try {
      return await once(() => client.evalSha(sha1, params));
    } catch (err) {
      if (err?.code) throw err; // our own timeout
      if (!/^NOSCRIPT\b/.test(String(err?.message))) throw classify(err);
    }
    try {
      return await once(() => client.eval(source, params));
    } catch (err) {
      throw err?.code ? err : classify(err);
    }
  }

  const isCluster = Array.isArray(client.masters) && typeof client.nodeClient === 'function';
  const isSentinel = !isCluster && typeof client.acquire === 'function' && typeof client.use === 'function';

  // Durable writes go on a connection of their own, the client's duplicate()
  // made at the first one: WAIT blocks the connection it is sent on until the
  // replicas answer (for durableWrites.timeoutMs when none does), which on the
  // app's connection would hold up every call queued behind it. The script and
  // its WAIT go out as one pipeline on that connection, so WAIT counts exactly
  // the write before it, whatever reconnects or slot moves happen meanwhile.
  let side = null;
  function sideClient() {
    side ??= (async () => {
      const d = client.duplicate();
      d.on('error', () => {}); // failures reach the caller; it reconnects by itself
      await d.connect();
      d.unref?.(); // never what keeps a process alive
      return d;
    })().catch((err) => {
      side = null;
      throw err;
    });
    return side;
  }
  async function release() {
    const d = side;
    side = null;
    if (d) await d.then((c) => (c.close ?? c.quit).call(c), () => {}).catch(() => {});
  }

  const notConfirmed = (detail, cause) =>
    failure('STORE_UNAVAILABLE', `Redis: the write reached the primary but ${detail}, so a failover could lose it; retry it`, cause);

  async function durableRun(sha1, source, keys, args, [replicas, ms]) {
    const params = { keys, arguments: args };
    const wait = ['WAIT', String(replicas), String(ms)];
    const pipeline = async (script) => {
      const d = await sideClient();
      const m = isCluster ? d.multi(keys[0]) : d.multi();
      script(m);
      if (isCluster) m.addCommand(keys[0], false, wait);
      else if (isSentinel) m.addCommand(false, wait);
      else m.addCommand(wait);
      return m.execAsPipeline();
    };
    // [script reply, replicas that acknowledged], or what failed: the script
    // (classified as any call), or only WAIT (the write is unconfirmed).
    const attempt = async (script) => {
      try {
        return await once(() => pipeline(script), ms);
      } catch (err) {
        if (err?.code) throw err; // our own timeout
        const failed = err?.errorIndexes;
        if (Array.isArray(failed) && !failed.includes(0)) {
          throw notConfirmed(`could not be confirmed on a replica (${String(err.replies?.[1]?.message ?? err.message)})`, err);
        }
        throw Array.isArray(failed) ? err.replies?.[0] ?? err : err;
      }
    };
    // A cluster's pipeline neither follows MOVED or ASK nor learns from them
    // (node-redis 6.3), and the script has not run when either comes back:
    // one plain command on the key refreshes the connection's slot map, then
    // the pipeline goes again (a slot being migrated answers ASK for a few
    // ms; past 5 tries, STORE_UNAVAILABLE).
    const redirected = (err) => isCluster && /^(MOVED|ASK)\b/.test(String(err?.message));
    const withRedirects = async (script) => {
      for (let tries = 1; ; tries++) {
        try {
          return await attempt(script);
        } catch (err) {
          if (!redirected(err) || tries === 5) throw err;
          const d = await sideClient();
          await once(() => d.sendCommand(keys[0], true, ['EXISTS', keys[0]])).catch(() => {});
          await new Promise((resolve) => setTimeout(resolve, 10 * tries));
        }
      }
    };
    let replies;
    try {
      replies = await withRedirects((m) => m.evalSha(sha1, params));
    } catch (err) {
      if (err?.code) throw err;
      if (!/^NOSCRIPT\b/.test(String(err?.message))) throw classify(err);
      try {
        replies = await withRedirects((m) => m.eval(source, params));
      } catch (err2) {
        throw err2?.code ? err2 : classify(err2);
      }
    }
    const acked = Number(replies[1]);
    if (!(acked >= replicas)) throw notConfirmed(`${acked} of ${replicas} replica(s) acknowledged it within ${ms} ms`);
    return replies[0];
  }

  async function run(sha1, source, keys, args, wait) {
    return wait ? durableRun(sha1, source, keys, args, wait) : script(sha1, source, { keys, arguments: args });
  }

  return Object.freeze({ prefix, timeoutMs, followMs, onFollowError, durableWrites, run, release });
}

/**
 * The nodes behind `client`: a cluster's masters and replicas (each its own
 * client); or the client and, for a primary, its replicas (each a new
 * connection, closed by `close()`).
 */
async function nodesOf(client) {
  if (Array.isArray(client.masters) && typeof client.nodeClient === 'function') {
    const nodes = [...client.masters, ...(client.replicas ?? [])];
    return { nodes: await Promise.all(nodes.map((n) => client.nodeClient(n))), close: async () => {} };
  }
  const extra = [];
  if (typeof client.duplicate === 'function') {
    const info = String(await client.sendCommand(['INFO', 'replication']));
    for (const m of info.matchAll(/^slave\d+:ip=([^,]+),port=(\d+)/gm)) {
      const replica = client.duplicate({ url: undefined, socket: { host: m[1], port: Number(m[2]) } });
      replica.on('error', () => {});
      await replica.connect();
      extra.push(replica);
    }
  }
  return {
    nodes: [client, ...extra],
    close: async () => {
      await Promise.all(extra.map((r) => r.quit().catch(() => r.disconnect?.())));
    },
  };
}

/**
 * The operator's step after erasures (docs/PRIVACY.md): Redis's append-only file and its snapshots
 * keep every write until they are rewritten, erased subjects' included. This rewrites the AOF of
 * every node behind `client` (a node-redis client or cluster; replicas keep their own) from what
 * the nodes hold now (`BGREWRITEAOF`), waits for each rewrite to end, and with `{ snapshot: true }`
 * also writes a fresh RDB snapshot (`BGSAVE`). Resolves with `{ nodes, ms }`.
 */
export async function rewritePersistence(client, options = {}) {
  if (!client || typeof client.sendCommand !== 'function' && typeof client.nodeClient !== 'function') {
    throw invalid('client', 'rewritePersistence needs a node-redis client or cluster');
  }
  for (const key of Object.keys(options)) {
    if (!['snapshot', 'timeoutMs'].includes(key)) throw invalid(key, `unknown option ${JSON.stringify(key)}`);
  }
  const timeoutMs = options.timeoutMs ?? 120_000;
  const started = performance.now();
  const { nodes, close } = await nodesOf(client);
  const info = async (node) => String(await node.sendCommand(['INFO', 'persistence']));
  const idle = (text, what) => !new RegExp(`${what}_in_progress:1`).test(text) && !/aof_rewrite_scheduled:1/.test(text);
  const wait = async (node, what) => {
    for (;;) {
      if (idle(await info(node), what)) return;
      if (performance.now() - started > timeoutMs) {
        throw failure('STORE_UNAVAILABLE', `Redis did not finish ${what.replace('_', ' ')} within ${timeoutMs} ms`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  for (const node of nodes) {
    try {
      // A rewrite already running would refuse a second one: wait for it.
      await wait(node, 'aof_rewrite');
      await node.sendCommand(['BGREWRITEAOF']);
      await wait(node, 'aof_rewrite');
      if (options.snapshot) {
        await wait(node, 'rdb_bgsave');
        await node.sendCommand(['BGSAVE']);
        await wait(node, 'rdb_bgsave');
      }
    } catch (err) {
      await close();
      throw err?.code ? err : classify(err);
    }
  }
  await close();
  return { nodes: nodes.length, ms: Math.round(performance.now() - started) };
}
