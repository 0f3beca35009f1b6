// usertrail/pipeline: the loops and the HTTP of the analytics pipeline. The
// rules are the engine's (`trail.pipeline`, `trail.tracking.outbox`); this
// moves bytes and calls.
//
// - ship(trail, { url, headers }): sends an engine's outbox to a collector
//   (fetch; sendBeacon while a page is left), acks on 2xx, nacks otherwise,
//   backs off while offline. With { pipeline: true }, a server engine with
//   the shared store appends straight to the streams instead.
// - runPartition(trail, { partition }): a partition worker's loop.
// - partitionHandler(trail): a fetch handler serving a partition's partial
//   answers and exports; acrossPartitions(urls, trail) fans out and merges.
// - runWorker(trail, { name, url, open }): a worker among several that
//   share the partitions by lease, fail over and rebalance by themselves;
//   discoverPartitions(trail) finds each partition's holder in Redis.

import { UserTrailError } from './gen/error.js';

export { toNodeListener } from './node-http.js';

/** A refused option or argument: `INVALID_INPUT` naming it. */
const invalid = (field, message) => new UserTrailError('INVALID_INPUT', `usertrail/pipeline: ${message}`, field);

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });

/** 3 s doubling to 5 min: the delay before attempt `n` (from 1). */
export const backoff = (n) => Math.min(300_000, 3000 * 2 ** Math.max(0, n - 1));

/** The code of a peer's answer whose body names none. Redirects are not followed: `INTERNAL`. */
const BY_STATUS = { 401: 'UNAUTHORIZED', 403: 'UNAUTHORIZED', 404: 'NOT_FOUND', 405: 'METHOD_NOT_ALLOWED', 408: 'TIMEOUT', 413: 'PAYLOAD_TOO_LARGE', 503: 'STORE_UNAVAILABLE', 504: 'TIMEOUT' };

/**
 * The `UserTrailError` for a peer's non-2xx answer: the code its body gives
 * (`{ error: { code, message, field? } }`, as every handler here answers),
 * else one for its status. `status` is set on it.
 */
async function answered(who, res) {
  const text = await res.text().catch(() => '');
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: the status decides
  }
  const e = body?.error ?? {};
  const code = typeof e.code === 'string' && /^[A-Z_]{2,40}$/.test(e.code) ? e.code : (BY_STATUS[res.status] ?? (res.status >= 500 || res.status < 400 ? 'INTERNAL' : 'INVALID_INPUT'));
  const message = typeof e.message === 'string' ? e.message : text.slice(0, 200);
  const err = new UserTrailError(code, `usertrail/pipeline: ${who} answered HTTP ${res.status}: ${message}`, typeof e.field === 'string' ? e.field : undefined);
  err.status = res.status;
  return err;
}

/** `signal`, when given, is an AbortSignal, or `INVALID_INPUT`. */
function checkSignal(signal) {
  if (signal !== undefined && (signal === null || typeof signal.addEventListener !== 'function' || typeof signal.aborted !== 'boolean')) {
    throw invalid('signal', 'signal must be an AbortSignal');
  }
}

/** An integer option within its range, or `INVALID_INPUT`. */
function int(name, value, min, max) {
  if (!Number.isInteger(value) || value < min || value > max) throw invalid(name, `${name} must be an integer from ${min} to ${max}`);
  return value;
}

const SHIP_KNOWN = new Set(['url', 'headers', 'pipeline', 'maxBatch', 'intervalMs', 'onError', 'signal', 'fetch']);

/**
 * Sends `trail`'s outbox (open it with `tracking: { outbox: true }`) until
 * `signal` aborts: leases a batch, POSTs `{ batchId, events }` to `url`,
 * acks it on a 2xx and nacks it otherwise (the engine backs the batch off;
 * this loop also waits, doubling, while sends fail). Nothing is lost across
 * restarts or a collector outage (the outbox is in the engine's database),
 * and a batch sent twice is harmless (event ids). Returns `{ stop, done,
 * flush }`: `flush()` sends what is due now; in a page being left it uses
 * `navigator.sendBeacon`, whose batch stays leased and is sent again if the
 * beacon did not arrive.
 */
export function ship(trail, options = {}) {
  if (options === null || typeof options !== 'object') throw invalid('options', 'options must be an object');
  for (const key of Object.keys(options)) {
    if (!SHIP_KNOWN.has(key)) throw invalid(key, `unknown option ${JSON.stringify(key)}`);
  }
  const direct = options.pipeline === true;
  if (!direct && (typeof options.url !== 'string' || !/^https?:\/\//.test(options.url) && !options.url.startsWith('/'))) {
    throw invalid('url', 'url must be an http(s) URL or a path, or pass pipeline: true');
  }
  const maxBatch = int('maxBatch', options.maxBatch ?? 500, 1, 10_000);
  const intervalMs = int('intervalMs', options.intervalMs ?? 1000, 1, 3_600_000);
  for (const key of ['onError', 'fetch']) {
    if (options[key] !== undefined && typeof options[key] !== 'function') throw invalid(key, `${key} must be a function`);
  }
  checkSignal(options.signal);
  const onError = options.onError ?? ((err) => console.warn('usertrail/pipeline: shipping failed:', err?.message ?? err));
  const doFetch = options.fetch ?? globalThis.fetch;
  const controller = new AbortController();
  options.signal?.addEventListener('abort', () => controller.abort(), { once: true });
  let failures = 0;
  let size = maxBatch; // at most half of a batch the collector refused as too large

  async function send(batch, leaving) {
    if (direct) {
      await trail.pipeline.collect(batch.events);
      return true;
    }
    const body = JSON.stringify({ batchId: batch.batchId, events: batch.events });
    if (leaving && typeof navigator !== 'undefined' && navigator.sendBeacon && !options.headers) {
      // No answer to a beacon: the batch stays leased, and is sent again
      // once its lease ends unless this arrived (a resend is harmless).
      navigator.sendBeacon(options.url, new Blob([body], { type: 'application/json' }));
      return null;
    }
    return post(batch, batch.events, body, leaving);
  }

  /**
   * POSTs `events` of `batch` (its JSON `body`). A 413 splits them in
   * halves sent at once (and later batches are that small): one event
   * alone too big for the collector is reported and let go, since it will
   * never be taken. Any other refusal (a rotated write key, a misconfigured
   * or failing collector) throws: the batch is kept and retried with backoff.
   */
  async function post(batch, events, body, leaving) {
    let res;
    try {
      res = await doFetch(options.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(options.headers ?? {}) },
        body,
        keepalive: leaving,
      });
    } catch (err) {
      throw new UserTrailError('UNREACHABLE', `usertrail/pipeline: the collector ${options.url} could not be reached: ${err?.message ?? err}`);
    }
    if (res.ok) {
      await res.arrayBuffer().catch(() => {});
      return true;
    }
    const err = await answered(`the collector ${options.url}`, res);
    if (res.status !== 413) throw err;
    if (events.length === 1) {
      onError(err, { ...batch, events });
      return true;
    }
    const half = Math.ceil(events.length / 2);
    size = Math.min(size, half);
    for (const part of [events.slice(0, half), events.slice(half)]) {
      await post(batch, part, JSON.stringify({ batchId: batch.batchId, events: part }), leaving);
    }
    return true;
  }

  /**
   * Sends what is due now, batch after batch; resolves with how many events
   * this call sent. Flushes run one after another (the loop's included), so
   * a flush resolves once what was due when it was called has been sent;
   * a page being left does not wait.
   */
  let chain = Promise.resolve();
  function flush(leaving = false) {
    if (leaving) return flushNow(true);
    const run = chain.then(() => flushNow(false));
    chain = run.catch(() => {});
    return run;
  }

  async function flushNow(leaving) {
    let sent = 0;
    for (;;) {
      const batch = await trail.tracking.outbox.take(size);
      if (!batch) return sent;
      let ok;
      try {
        ok = await send(batch, leaving);
      } catch (err) {
        await trail.tracking.outbox.nack(batch.batchId).catch(() => {});
        throw err;
      }
      if (ok === null) return sent; // a beacon: nothing more while leaving
      await trail.tracking.outbox.ack(batch.batchId);
      sent += batch.events.length;
      failures = 0;
    }
  }

  const done = (async () => {
    while (!controller.signal.aborted) {
      try {
        await flush();
        await sleep(intervalMs, controller.signal);
      } catch (err) {
        failures++;
        onError(err);
        await sleep(backoff(failures), controller.signal);
      }
    }
  })();
  const leave = () => void flush(true).catch(() => {});
  if (typeof addEventListener === 'function' && typeof document !== 'undefined') {
    addEventListener('pagehide', leave);
    addEventListener('online', () => { failures = 0; });
  }
  return {
    flush,
    done,
    stop() {
      controller.abort();
      if (typeof removeEventListener === 'function') removeEventListener('pagehide', leave);
      return done;
    },
  };
}

const PARTITION_KNOWN = new Set(['partition', 'max', 'idleMs', 'signal', 'onStep', 'onError', 'snapshotEveryMs', 'onSnapshot']);

/**
 * A partition worker's loop: `trail.pipeline.consume(partition)` until
 * `signal` aborts, waiting `idleMs` when the stream is empty and backing
 * off on errors (Redis down: it carries on once Redis is back, from the
 * position it committed). With `snapshotEveryMs` and `onSnapshot(bytes,
 * position)`, snapshots are taken and the stream kept from the last one.
 * If the stream lost entries the partition had not read (past the stream's
 * cap, or a snapshot older than what the stream keeps), it reads on from
 * what the stream holds and reports `REPLICA_BEHIND` through `onError`
 * (or `console.warn`): those entries are lost.
 */
export async function runPartition(trail, options) {
  if (options === null || typeof options !== 'object') throw invalid('options', 'options must be an object');
  for (const key of Object.keys(options)) {
    if (!PARTITION_KNOWN.has(key)) throw invalid(key, `unknown option ${JSON.stringify(key)}`);
  }
  const { partition, max = 500, idleMs = 100, signal, onStep, onError, snapshotEveryMs, onSnapshot } = options;
  int('partition', partition, 0, 65_535);
  checkSignal(signal);
  int('max', max, 1, 10_000);
  int('idleMs', idleMs, 1, 60_000);
  if (snapshotEveryMs !== undefined) int('snapshotEveryMs', snapshotEveryMs, 1, 86_400_000);
  for (const [key, f] of Object.entries({ onStep, onError, onSnapshot })) {
    if (f !== undefined && typeof f !== 'function') throw invalid(key, `${key} must be a function`);
  }
  const trim = snapshotEveryMs ? 'snapshot' : 'committed';
  let failures = 0;
  let lastSnapshot = 0;
  while (!signal?.aborted) {
    try {
      const step = await trail.pipeline.consume(partition, { max, trim });
      failures = 0;
      onStep?.(step);
      if (snapshotEveryMs && onSnapshot && Date.now() - lastSnapshot >= snapshotEveryMs) {
        const { bytes, position } = await trail.pipeline.snapshot(partition);
        await onSnapshot(bytes, position);
        lastSnapshot = Date.now();
      }
      if (step.read === 0) await sleep(idleMs, signal);
    } catch (err) {
      if (err?.code === 'REPLICA_BEHIND') {
        // The stream lost entries this partition never read (its cap, or a
        // snapshot older than the stream's start): they cannot be read any
        // more. Read on from what the stream holds, and say so, always.
        try {
          const from = await trail.pipeline.acceptLoss(partition);
          const lost = new UserTrailError('REPLICA_BEHIND', `usertrail/pipeline: partition ${partition}'s stream no longer held entries it had not read; it reads on from ${from}, and those entries are lost`);
          if (onError) onError(lost);
          else console.warn(lost.message);
          continue;
        } catch (e) {
          err = e;
        }
      }
      failures++;
      onError?.(err);
      await sleep(Math.min(5000, 50 * 2 ** failures), signal);
    }
  }
}

/**
 * A fetch handler for a partition: `POST /partial` with `{ query, options }`
 * answers the partition's partial of an analytics query; `POST /export`
 * with `{ subject }` its export of the subject (JSON). Errors answer
 * `{ error: { code, message, field? } }`: 400 for the request's fault, 503
 * while the store is unavailable, 500 otherwise.
 */
export function partitionHandler(trail) {
  return async (request) => {
    const { pathname } = new URL(request.url);
    if (request.method !== 'POST') return problem(405, 'METHOD_NOT_ALLOWED', 'POST /partial or /export');
    let body;
    try {
      body = await request.json();
    } catch {
      return problem(400, 'INVALID_INPUT', 'the body is not JSON', 'body');
    }
    try {
      if (pathname.endsWith('/partial')) {
        return Response.json(await trail.pipeline.partial(body?.query, body?.options ?? {}));
      }
      if (pathname.endsWith('/export')) {
        const file = await trail.privacy.export(body?.subject, { format: 'json' });
        return new Response(file.bytes, { headers: { 'content-type': 'application/json' } });
      }
      return problem(404, 'NOT_FOUND', 'POST /partial or /export');
    } catch (err) {
      const code = typeof err?.code === 'string' ? err.code : 'INTERNAL';
      const status = code === 'INVALID_INPUT' ? 400 : code === 'STORE_UNAVAILABLE' || code === 'BUSY' ? 503 : 500;
      return problem(status, code, String(err?.message ?? err), err?.field);
    }
  };
}

function problem(status, code, message, field) {
  return Response.json({ error: { code, message, ...(field ? { field } : {}) } }, { status });
}

/**
 * A partition's answer, or the partition's failure as a `UserTrailError`
 * naming its URL (`partition`) and, when it answered, its HTTP `status`.
 * The timeout covers the whole answer, its body included; redirects are not
 * followed (a query is not sent anywhere else); `check` says whether an
 * answer has the shape asked for. A partial is answered as its JSON text
 * (checked), which `merge` takes as it is.
 */
async function ask(url, path, body, timeoutMs, check, moved) {
  const fail = (code, message, status) => {
    const e = new UserTrailError(code, `usertrail/pipeline: partition ${url} ${message}`);
    e.partition = url;
    if (status !== undefined) e.status = status;
    return e;
  };
  // `moved`: the coordinator saw the partition change holders meanwhile.
  const signal = moved ? AbortSignal.any([AbortSignal.timeout(timeoutMs), moved]) : AbortSignal.timeout(timeoutMs);
  const late = () => fail('TIMEOUT', `did not answer within ${timeoutMs} ms`);
  let res;
  try {
    res = await fetch(new URL(path, url.endsWith('/') ? url : `${url}/`), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      redirect: 'manual',
      signal,
    });
  } catch (err) {
    throw signal.aborted ? late() : fail('UNREACHABLE', `could not be reached: ${err?.message ?? err}`);
  }
  if (!res.ok) {
    let e;
    try {
      e = await answered(`partition ${url}`, res);
    } catch {
      throw late();
    }
    if (signal.aborted) throw late();
    e.partition = url;
    throw e;
  }
  let text;
  try {
    text = await res.text();
  } catch (err) {
    throw signal.aborted ? late() : fail('UNREACHABLE', `broke off its answer: ${err?.message ?? err}`);
  }
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw fail('STORAGE_ERROR', 'answered something that is not JSON', res.status);
  }
  if (!check(parsed)) throw fail('STORAGE_ERROR', `answered JSON that is not ${path === 'export' ? 'an export' : 'a partial of this query'}`, res.status);
  // A partial goes to `merge` as the text it came as: read there as it is,
  // not walked and written again.
  return path === 'partial' ? text : parsed;
}

const ACROSS_KNOWN = new Set(['timeoutMs']);

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The coordinator's calls over `all(path, body, check)`, which asks every partition. */
function coordinator(trail, all) {
  return {
    /** The engine that merges: the dashboard's privacy page acts through it. */
    trail,
    async query(query, queryOptions = {}) {
      return trail.pipeline.merge(await all('partial', { query, options: queryOptions }, (p) => isObject(p) && p.query === query));
    },
    /** Every partition's export of `subject`, as `{ subject, partitions: [...] }`. */
    async export(subject) {
      return { subject, partitions: await all('export', { subject }, isObject) };
    },
  };
}

/**
 * The coordinator: asks every partition (their `partitionHandler` URLs) for
 * its partial of `query` and merges them with `trail` (any engine): the
 * answer one engine holding every event would give. A partition that fails
 * or does not answer within `timeoutMs` (default 10000) fails the whole
 * query with a `UserTrailError` (`TIMEOUT`, `UNREACHABLE`, or the
 * partition's own code) whose `partition` names it: never a partial answer
 * presented as whole.
 */
export function acrossPartitions(urls, trail, options = {}) {
  if (!Array.isArray(urls) || urls.length === 0 || !urls.every((u) => typeof u === 'string')) {
    throw invalid('urls', 'acrossPartitions needs a non-empty array of URLs');
  }
  if (options === null || typeof options !== 'object') throw invalid('options', 'options must be an object');
  for (const key of Object.keys(options)) {
    if (!ACROSS_KNOWN.has(key)) throw invalid(key, `unknown option ${JSON.stringify(key)}`);
  }
  const timeoutMs = int('timeoutMs', options.timeoutMs ?? 10_000, 1, 600_000);
  for (const u of urls) {
    let ok = false;
    try {
      ok = ['http:', 'https:'].includes(new URL(u).protocol);
    } catch {
      // not a URL
    }
    if (!ok) throw invalid('urls', `acrossPartitions needs http(s) URLs; ${JSON.stringify(u.slice(0, 100))} is not one`);
  }
  return coordinator(trail, (path, body, check) => Promise.all(urls.map((u) => ask(u, path, body, timeoutMs, check))));
}

/** An http(s) URL with a trailing slash, or `INVALID_INPUT` naming `field`. */
function baseUrl(field, value) {
  let ok = false;
  try {
    ok = typeof value === 'string' && ['http:', 'https:'].includes(new URL(value).protocol);
  } catch {
    // not a URL
  }
  if (!ok || value.length > 2000 || value.includes('|')) throw invalid(field, `${field} must be an http(s) URL (at most 2000 characters, no '|')`);
  return value.endsWith('/') ? value : `${value}/`;
}

/** Codes after which a coordinator looks for a partition's holder again. */
const MOVED = new Set(['UNREACHABLE', 'STORE_UNAVAILABLE', 'NOT_FOUND', 'REPLICA_BEHIND', 'CLOSED', 'TIMEOUT', 'BUSY']);

const DISCOVER_KNOWN = new Set(['timeoutMs', 'pollMs']);

/** Reads `options` (an object, only `known` keys) into a plain object; a throwing getter or proxy is `INVALID_INPUT`. */
function readOptions(options, known) {
  if (options === null || typeof options !== 'object') throw invalid('options', 'options must be an object');
  const out = {};
  let keys;
  try {
    keys = Object.keys(options);
  } catch {
    throw invalid('options', 'options could not be read: listing its keys threw');
  }
  for (const key of keys) {
    if (!known.has(key)) throw invalid(key, `unknown option ${JSON.stringify(key)}`);
    try {
      out[key] = options[key];
    } catch {
      throw invalid(key, `${key} could not be read: reading it threw`);
    }
  }
  return out;
}

/**
 * The coordinator of workers started with `runWorker`: finds each
 * partition's lease holder in Redis (`trail` shares the workers' store and
 * pipeline options) and merges their partials, as `acrossPartitions` does.
 * During a failover a query waits for the new holders (looking every
 * `pollMs`, default 100) and asks them, within `timeoutMs` (default 10000)
 * in all; a holder that stops answering while another takes its lease is
 * left at once. Past the timeout it fails with the last partition's error
 * (`TIMEOUT`, `UNREACHABLE`, …; `partition` names its URL, or `p<N>` when
 * no worker holds it): never a partial answer presented as whole.
 */
export function discoverPartitions(trail, options = {}) {
  if (!trail?.pipeline || typeof trail.pipeline.owners !== 'function') throw invalid('trail', 'discoverPartitions needs an engine with the shared store');
  const o = readOptions(options, DISCOVER_KNOWN);
  const timeoutMs = int('timeoutMs', o.timeoutMs ?? 10_000, 1, 600_000);
  const pollMs = int('pollMs', o.pollMs ?? 100, 1, 60_000);

  /** Every partition's holder, or the failure once `deadline` passed. */
  async function leases(deadline) {
    for (;;) {
      let found;
      try {
        found = await trail.pipeline.owners();
      } catch (err) {
        if (!MOVED.has(err?.code) || Date.now() + pollMs >= deadline) throw err;
      }
      if (found) return found.map((l) => l.holder);
      await sleep(pollMs);
    }
  }

  async function all(path, body, check) {
    const deadline = Date.now() + timeoutMs;
    let holders = await leases(deadline);
    const asking = new Map(); // partition -> { token, moved: AbortController }
    let done = false;
    // While asks are out: a partition whose holder changed is asked anew.
    const watch = (async () => {
      while (!done) {
        await sleep(pollMs);
        if (done || asking.size === 0) continue;
        const now = await trail.pipeline.owners().catch(() => null);
        if (!now || done) continue;
        holders = now.map((l) => l.holder);
        for (const [p, a] of asking) if (holders[p]?.token !== a.token) a.moved.abort();
      }
    })();
    async function one(p) {
      for (;;) {
        const h = holders[p];
        if (!h) {
          if (Date.now() + pollMs >= deadline) {
            const e = new UserTrailError('TIMEOUT', `usertrail/pipeline: no worker held partition ${p}'s lease within ${timeoutMs} ms`);
            e.partition = `p${p}`;
            throw e;
          }
          await sleep(pollMs);
          holders = await leases(deadline);
          continue;
        }
        const moved = new AbortController();
        asking.set(p, { token: h.token, moved });
        try {
          return await ask(`${h.url}p${p}/`, path, body, Math.max(1, deadline - Date.now()), check, moved.signal);
        } catch (err) {
          if ((!moved.signal.aborted && !MOVED.has(err?.code)) || Date.now() + pollMs >= deadline) throw err;
          if (!moved.signal.aborted) {
            await sleep(pollMs);
            holders = await leases(deadline);
          }
        } finally {
          asking.delete(p);
        }
      }
    }
    try {
      return await Promise.all(holders.map((_, p) => one(p)));
    } finally {
      done = true; // the watcher ends at its next look; nobody waits for it
      void watch;
    }
  }

  return {
    ...coordinator(trail, all),
    /** Each partition's holder now (`null` where none holds it), waiting for none. */
    async owners() {
      return (await trail.pipeline.owners()).map((l) => l.holder);
    },
  };
}

const WORKER_KNOWN = new Set(['name', 'url', 'open', 'copies', 'leaseMs', 'max', 'idleMs', 'signal', 'onError', 'onChange', 'fetch']);

/**
 * A pipeline worker among several that share the partitions by lease (see
 * docs/PIPELINE.md, "Workers that fail over by themselves"). `trail` is an
 * engine with the shared store and the pipeline's options (memory is
 * enough); `open(partition, snapshot)` opens this worker's copy of a
 * partition (an engine with the same store and options, on its own file),
 * starting from `snapshot`'s bytes when given (write them over the file,
 * and remove its `-wal` and `-shm`, first). Each partition has `copies`
 * copies (default 2: a holder and a standby) on the workers that rank
 * highest for it; the holder's lease lasts `leaseMs` (default 3000) unless
 * renewed, so a worker killed with -9 has its partitions held again within
 * about that. Returns `{ id, handler, state(), stop(), done }`: `handler` is
 * the fetch handler serving this worker's copies at `url` (`/p<N>/partial`,
 * `/p<N>/export`, `/p<N>/snapshot`; for a private network only: it hands
 * out whole partitions), and `stop()` gives every lease up, leaves the
 * roster and closes the copies.
 */
export function runWorker(trail, options) {
  if (!trail?.pipeline || typeof trail.pipeline.roster !== 'function') throw invalid('trail', 'runWorker needs an engine with the shared store');
  const o = readOptions(options, WORKER_KNOWN);
  const { name, open, signal, onError = (err, p) => console.warn(`usertrail/pipeline: worker, partition ${p}:`, err?.message ?? err), onChange } = o;
  if (typeof name !== 'string' || !/^[A-Za-z0-9_.:-]{1,100}$/.test(name)) {
    throw invalid('name', "name must be 1 to 100 of letters, digits, '_', '.', ':' and '-' (the same on every restart of this worker, and no other worker's)");
  }
  const url = baseUrl('url', o.url);
  for (const [key, f] of Object.entries({ open, onError, onChange, fetch: o.fetch })) {
    if (f !== undefined && typeof f !== 'function') throw invalid(key, `${key} must be a function`);
  }
  if (typeof open !== 'function') throw invalid('open', 'open(partition, snapshot) must be a function returning an engine');
  const copies = int('copies', o.copies ?? 2, 1, 16);
  const leaseMs = int('leaseMs', o.leaseMs ?? 3000, 500, 600_000);
  const max = int('max', o.max ?? 500, 1, 10_000);
  const idleMs = int('idleMs', o.idleMs ?? 100, 1, 60_000);
  checkSignal(signal);
  const doFetch = o.fetch ?? globalThis.fetch;
  const tickMs = Math.max(100, Math.floor(leaseMs / 4));
  const id = `${name}#${Math.random().toString(36).slice(2, 10)}`;
  const stopping = new AbortController();
  signal?.addEventListener('abort', () => stopping.abort(), { once: true });
  /** partition -> the copy: { engine, ready, position, lease, token, want, failures, noHolderSince, acceptLoss, stop, loop } */
  const held = new Map();

  // The host's callbacks never break the loops.
  const report = (err, p) => {
    try {
      onError(err, p);
    } catch {
      // the host's onError threw: nothing more to do
    }
  };
  const notify = (change) => {
    try {
      onChange?.(change);
    } catch (err) {
      report(err, change.partition);
    }
  };
  const role = (h) => (!h.ready ? 'loading' : h.token ? 'holder' : 'standby');
  const changed = (p, h, was) => {
    const now = role(h);
    if (now !== was) notify({ partition: p, role: now, worker: id });
  };
  /** Records the copy and asks its lease for what it wants (a failing copy gives the lease up). */
  async function renew(p, h) {
    // A copy failing its steps leaves (its entry goes, so that no worker
    // waits for it); one behind the mark is recorded as loading.
    const want = h.failures >= 3 ? 'leave' : !h.ready ? 'loading' : h.want;
    h.lease = await h.engine.pipeline.lease(p, { worker: id, url, want, ttlMs: leaseMs });
    h.token = h.lease.holder?.worker === id ? h.lease.holder.token : 0;
    h.lastLease = Date.now();
  }

  /**
   * A copy behind the stream's trim mark: loads the holder's snapshot
   * (its entry renewed meanwhile, so that trims wait for it); with no
   * holder for longer than a lease, it is stuck, and the plan may have it
   * accept the loss.
   */
  async function resync(p, h) {
    const holder = h.lease?.holder;
    if (!holder || holder.worker === id) {
      h.noHolderSince ??= Date.now();
      if (h.acceptLoss) {
        const from = await h.engine.pipeline.acceptLoss(p);
        h.acceptLoss = false;
        h.noHolderSince = null;
        report(new UserTrailError('REPLICA_BEHIND', `usertrail/pipeline: partition ${p} had no current copy anywhere; this copy reads on from ${from}, and what its stream lost before that is lost`), p);
        return;
      }
      await sleep(tickMs, h.stop.signal);
      await renew(p, h);
      return;
    }
    h.noHolderSince = null;
    // The copy's entry is kept (at 0-0, through the worker's own engine)
    // until the new copy is open and has recorded itself.
    const keep = setInterval(() => void trail.pipeline.lease(p, { worker: id, url, want: 'loading', ttlMs: leaseMs }).catch(() => {}), tickMs);
    try {
      let res;
      try {
        res = await doFetch(`${holder.url}p${p}/snapshot`, {
          method: 'POST',
          signal: AbortSignal.any([h.stop.signal, AbortSignal.timeout(Math.max(60_000, leaseMs))]),
        });
      } catch (err) {
        throw new UserTrailError('UNREACHABLE', `usertrail/pipeline: the holder of partition ${p} (${holder.url}) could not be reached for a snapshot: ${err?.message ?? err}`);
      }
      if (!res.ok) throw await answered(`the holder of partition ${p} (${holder.url})`, res);
      const bytes = new Uint8Array(await res.arrayBuffer());
      const old = h.engine;
      h.engine = null;
      await old?.close();
      h.engine = await open(p, bytes);
      h.position = await h.engine.pipeline.position(p);
      await renew(p, h);
    } finally {
      clearInterval(keep);
    }
  }

  /** One copy's loop: its lease every tick, and its stream. */
  async function copyLoop(p, h) {
    while (!h.stop.signal.aborted) {
      const was = role(h);
      try {
        if (!h.engine) {
          h.engine = await open(p, null);
          h.position = await h.engine.pipeline.position(p);
        }
        if (Date.now() - h.lastLease >= tickMs) await renew(p, h);
        const step = await h.engine.pipeline.consume(p, { max, copy: { worker: id, token: h.token, ttlMs: leaseMs } });
        h.ready = true;
        h.position = step.position;
        h.failures = 0;
        h.noHolderSince = null;
        changed(p, h, was);
        if (step.read === 0) await sleep(idleMs, h.stop.signal);
      } catch (err) {
        if (err?.code === 'FENCED') {
          h.token = 0;
          h.lastLease = 0;
          changed(p, h, was);
          continue;
        }
        try {
          if (err?.code !== 'REPLICA_BEHIND') throw err;
          h.ready = false;
          h.token = 0;
          changed(p, h, was);
          await resync(p, h);
        } catch (e) {
          if (h.stop.signal.aborted) break; // a download the stop cut short
          h.failures++;
          if (h.failures >= 3) h.lastLease = 0; // give the lease up now
          report(e, p);
          await sleep(Math.min(5000, 50 * 2 ** h.failures), h.stop.signal);
        }
      }
    }
    // Leaving: the lease given up and the copy's entry gone, so that
    // another takes over now rather than when the lease runs out.
    if (h.engine) {
      await h.engine.pipeline.lease(p, { worker: id, url, want: 'leave', ttlMs: leaseMs }).catch(() => {});
      await h.engine.close().catch(() => {});
      h.engine = null;
    }
    notify({ partition: p, role: 'gone', worker: id });
  }

  function start(p) {
    const h = { engine: null, ready: false, position: '0-0', lease: null, token: 0, want: 'standby', lastLease: 0, failures: 0, noHolderSince: null, acceptLoss: false, stop: new AbortController() };
    held.set(p, h);
    notify({ partition: p, role: 'loading', worker: id });
    h.loop = copyLoop(p, h).finally(() => held.delete(p));
  }

  const done = (async () => {
    let failures = 0;
    while (!stopping.signal.aborted) {
      try {
        const members = await trail.pipeline.roster({ worker: id, url, ttlMs: leaseMs });
        const now = Date.now();
        const mine = [...held]
          .filter(([, h]) => !h.stop.signal.aborted)
          .map(([partition, h]) => ({ partition, ready: h.ready, position: h.position, lease: h.lease, stuck: h.noHolderSince !== null && now - h.noHolderSince >= 2 * leaseMs }));
        const plan = await trail.pipeline.plan({ me: id, members, copies, held: mine });
        for (const p of plan.open) if (!held.has(p)) start(p);
        for (const { partition, want, acceptLoss } of plan.want) {
          const h = held.get(partition);
          if (!h) continue;
          h.acceptLoss = acceptLoss;
          if (h.want !== want) {
            h.want = want;
            h.lastLease = 0; // ask now
          }
        }
        // Dropped in the background: the roster is renewed meanwhile.
        for (const p of plan.drop) held.get(p)?.stop.abort();
        failures = 0;
        await sleep(tickMs, stopping.signal);
      } catch (err) {
        failures++;
        report(err, null);
        await sleep(Math.min(5000, 50 * 2 ** failures), stopping.signal);
      }
    }
    const loops = [...held.values()].map((h) => {
      h.stop.abort();
      return h.loop;
    });
    await Promise.all(loops);
    await trail.pipeline.roster({ worker: id, url, ttlMs: 0 }).catch(() => {});
  })();

  async function handler(request) {
    const m = new URL(request.url).pathname.match(/\/p(\d{1,4})\/(partial|export|snapshot)$/);
    if (request.method !== 'POST') return problem(405, 'METHOD_NOT_ALLOWED', 'POST /p<N>/partial, /p<N>/export or /p<N>/snapshot');
    const h = m && held.get(Number(m[1]));
    if (!m) return problem(404, 'NOT_FOUND', 'POST /p<N>/partial, /p<N>/export or /p<N>/snapshot');
    if (!h?.engine) return problem(404, 'NOT_FOUND', `this worker holds no copy of partition ${m[1]}`);
    if (!h.ready) return problem(503, 'REPLICA_BEHIND', `this worker's copy of partition ${m[1]} is loading`);
    if (m[2] === 'snapshot') {
      try {
        const { bytes, position } = await h.engine.pipeline.snapshot(Number(m[1]));
        return new Response(bytes, { headers: { 'content-type': 'application/vnd.sqlite3', 'x-usertrail-position': position } });
      } catch (err) {
        return problem(503, typeof err?.code === 'string' ? err.code : 'INTERNAL', String(err?.message ?? err));
      }
    }
    return partitionHandler(h.engine)(new Request(new URL(m[2], 'http://partition/'), { method: 'POST', body: await request.arrayBuffer(), headers: request.headers }));
  }

  return {
    /** This worker's id in the roster: `name#incarnation`. */
    id,
    handler,
    /** The copies this worker holds: `[{ partition, role, position }]` (`role`: 'holder', 'standby', 'loading'). */
    state() {
      return [...held].map(([partition, h]) => ({ partition, role: role(h), position: h.position, token: h.token }));
    },
    stop() {
      stopping.abort();
      return done;
    },
    done,
  };
}
