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
 * answer has the shape asked for.
 */
async function ask(url, path, body, timeoutMs, check) {
  const fail = (code, message, status) => {
    const e = new UserTrailError(code, `usertrail/pipeline: partition ${url} ${message}`);
    e.partition = url;
    if (status !== undefined) e.status = status;
    return e;
  };
  const signal = AbortSignal.timeout(timeoutMs);
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
  return parsed;
}

const ACROSS_KNOWN = new Set(['timeoutMs']);

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
  const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
  const all = (path, body, check) => Promise.all(urls.map((u) => ask(u, path, body, timeoutMs, check)));
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
