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
  for (const key of Object.keys(options)) {
    if (!SHIP_KNOWN.has(key)) throw new TypeError(`usertrail/pipeline: unknown option ${JSON.stringify(key)}`);
  }
  const direct = options.pipeline === true;
  if (!direct && (typeof options.url !== 'string' || !/^https?:\/\//.test(options.url) && !options.url.startsWith('/'))) {
    throw new TypeError('usertrail/pipeline: url must be an http(s) URL or a path, or pass pipeline: true');
  }
  const maxBatch = options.maxBatch ?? 500;
  const intervalMs = options.intervalMs ?? 1000;
  const onError = options.onError ?? ((err) => console.warn('usertrail/pipeline: shipping failed:', err?.message ?? err));
  const doFetch = options.fetch ?? globalThis.fetch;
  const controller = new AbortController();
  options.signal?.addEventListener('abort', () => controller.abort(), { once: true });
  let failures = 0;

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
    const res = await doFetch(options.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(options.headers ?? {}) },
      body,
      keepalive: leaving,
    });
    await res.arrayBuffer().catch(() => {});
    if (res.ok) return true;
    // A batch the collector will never take (malformed, too big, refused
    // key) is reported, and not retried for ever.
    if ([400, 401, 413].includes(res.status)) {
      onError(new Error(`the collector refused the batch: HTTP ${res.status}`), batch);
      return true;
    }
    throw new Error(`the collector answered HTTP ${res.status}`);
  }

  /** Sends what is due now, batch after batch. Resolves with how many events were sent. */
  async function flush(leaving = false) {
    let sent = 0;
    for (;;) {
      const batch = await trail.tracking.outbox.take(maxBatch);
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

/**
 * A partition worker's loop: `trail.pipeline.consume(partition)` until
 * `signal` aborts, waiting `idleMs` when the stream is empty and backing
 * off on errors (Redis down: it carries on once Redis is back, from the
 * position it committed). With `snapshotEveryMs` and `onSnapshot(bytes,
 * position)`, snapshots are taken and the stream kept from the last one.
 */
export async function runPartition(trail, options) {
  const { partition, max = 500, idleMs = 100, signal, onStep, onError, snapshotEveryMs, onSnapshot } = options;
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
 * with `{ subject }` its export of the subject (JSON).
 */
export function partitionHandler(trail) {
  return async (request) => {
    const { pathname } = new URL(request.url);
    try {
      const body = await request.json();
      if (request.method === 'POST' && pathname.endsWith('/partial')) {
        return Response.json(await trail.pipeline.partial(body.query, body.options ?? {}));
      }
      if (request.method === 'POST' && pathname.endsWith('/export')) {
        const file = await trail.privacy.export(body.subject, { format: 'json' });
        return new Response(file.bytes, { headers: { 'content-type': 'application/json' } });
      }
      return Response.json({ error: { code: 'NOT_FOUND', message: 'POST /partial or /export' } }, { status: 404 });
    } catch (err) {
      return Response.json({ error: { code: err?.code ?? 'INVALID_INPUT', message: String(err?.message ?? err) } }, { status: 400 });
    }
  };
}

async function postAll(urls, path, body) {
  return Promise.all(
    urls.map(async (url) => {
      const res = await fetch(new URL(path, url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      if (!res.ok) throw new Error(`${url}${path}: HTTP ${res.status}: ${await res.text()}`);
      return res.json();
    }),
  );
}

/**
 * The coordinator: asks every partition (their `partitionHandler` URLs) for
 * its partial of `query` and merges them with `trail` (any engine): the
 * answer one engine holding every event would give.
 */
export function acrossPartitions(urls, trail) {
  return {
    async query(query, options = {}) {
      return trail.pipeline.merge(await postAll(urls, 'partial', { query, options }));
    },
    /** Every partition's export of `subject`, as `{ subject, partitions: [...] }`. */
    async export(subject) {
      return { subject, partitions: await postAll(urls, 'export', { subject }) };
    },
  };
}
