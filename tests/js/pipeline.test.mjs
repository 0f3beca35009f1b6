// The analytics pipeline end to end, with real parts: a Redis started here
// (AOF), a collector on HTTP (usertrail/collector), two devices shipping
// their outboxes to it (usertrail/pipeline `ship`), and two worker
// processes owning two partitions each on SQLite files. A worker is killed
// with -9 mid-run and restarted, and so is Redis; afterwards every event
// produced is in exactly one partition, and analytics merged over the
// partitions equal one engine that ingested everything.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { UserTrail } from 'usertrail';
import { collector } from 'usertrail/collector';
import { acrossPartitions, ship } from 'usertrail/pipeline';
import { redisStore } from 'usertrail/redis';
import { RedisServer, createClient } from './redis-server.mjs';

const PARTITIONS = 4;
const PER_DEVICE = 5000;
const DAY = 86_400_000;
const T = Date.now() - 10 * DAY;
let redis;
let dir;
const children = new Set();

before(async () => {
  redis = await RedisServer.start();
  dir = mkdtempSync(join(tmpdir(), 'ut-pipeline-'));
});
after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
});

function startWorker(owned, prefix) {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./partition-worker.mjs', import.meta.url)), redis.url, prefix, String(PARTITIONS), owned, dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/ready (\d+)/);
      if (m) resolve({ child, port: Number(m[1]), owned });
    });
    child.once('exit', (c) => reject(new Error(`worker exited ${c}`)));
  });
}

/** Serves a fetch handler on 127.0.0.1. */
async function serve(handle) {
  const server = createServer(async (req, res) => {
    const body = ['GET', 'HEAD'].includes(req.method) ? undefined : req;
    const response = await handle(new Request(`http://x${req.url}`, { method: req.method, headers: req.headers, body, duplex: 'half' }));
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(Buffer.from(await response.arrayBuffer()));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `http://127.0.0.1:${server.address().port}/collect` };
}

/** A device: an engine with an outbox, tracking `n` events of its users. */
async function device(d, n) {
  const trail = await UserTrail.open({ tracking: { outbox: { cap: 100_000 } } });
  const names = ['view', 'add', 'buy', 'page_view'];
  const events = [];
  for (let i = 0; i < n; i++) {
    const u = (i * 7 + d) % 60;
    events.push({
      // Each user goes view, add, buy, page_view, view, … over time.
      name: names[Math.floor(i / 60) % 4],
      type: Math.floor(i / 60) % 4 === 3 ? 'page' : 'action',
      path: Math.floor(i / 60) % 4 === 3 ? `/p/${i % 5}` : undefined,
      userId: `d${d}-user-${u}`,
      sessionId: `d${d}-user-${u}-s${Math.floor(i / 300)}`,
      ts: T + Math.floor((i / n) * 9 * DAY) + u * 1000,
    });
  }
  const ids = [];
  for (let i = 0; i < events.length; i += 1000) {
    for (const r of await trail.tracking.trackBatch(events.slice(i, i + 1000))) ids.push(r.eventId);
  }
  return { trail, ids };
}

// Event ids are stored as their 16 bytes: read as hex, shown as UUIDs.
const uuid = (hex) => hex.toLowerCase().replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');

function eventIds(file) {
  const out = execFileSync('sqlite3', [file, 'SELECT hex(event_id) FROM events']).toString().trim();
  return out ? out.split('\n').map(uuid) : [];
}

async function waitFor(check, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    // A check that fails (Redis still restarting) is "not yet".
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('2 devices × 5,000 events → collector → 4 partitions on 2 workers: a worker and Redis killed with -9; none lost, none twice; merged analytics equal one engine', { timeout: 240_000 }, async () => {
  const prefix = `pl${process.pid}`;
  const client = await createClient({ url: redis.url, disableOfflineQueue: true, socket: { reconnectStrategy: () => 100 } }).on('error', () => {}).connect();
  const hub = await UserTrail.open({ shared: redisStore(client, { prefix, timeoutMs: 1000 }), tracking: { pipeline: { partitions: PARTITIONS } } });
  const collect = collector(hub, { writeKeys: ['a-write-key-of-16+chars'] });
  const answers = new Map();
  const { server, url } = await serve(async (request) => {
    const res = await collect(request);
    answers.set(res.status, (answers.get(res.status) ?? 0) + 1);
    return res;
  });
  let workers = await Promise.all([startWorker('0,1', prefix), startWorker('2,3', prefix)]);

  const devices = await Promise.all([device(1, PER_DEVICE), device(2, PER_DEVICE)]);
  const produced = new Set(devices.flatMap((d) => d.ids));
  // Copies of the devices, outboxes full, for the one-engine comparison.
  const copies = await Promise.all(devices.map((d) => d.trail.export()));
  assert.equal(produced.size, 2 * PER_DEVICE);
  const shippers = devices.map((d) =>
    ship(d.trail, { url, headers: { authorization: 'Bearer a-write-key-of-16+chars' }, maxBatch: 100, intervalMs: 100, onError: () => {} }),
  );

  // Mid-run: kill -9 the first worker, and Redis; restart Redis on its AOF,
  // then the worker on the same files.
  await waitFor(async () => (await devices[0].trail.tracking.outbox.stats()).queued < PER_DEVICE * 0.8, 60_000, 'shipping to start');
  workers[0].child.kill('SIGKILL');
  await once(workers[0].child, 'exit');
  await redis.kill9();
  const unsent = (await devices[0].trail.tracking.outbox.stats()).queued;
  assert.ok(unsent > 0, 'the outage falls in the middle of the shipping');
  await new Promise((r) => setTimeout(r, 500));
  await redis.restart();
  workers[0] = await startWorker('0,1', prefix);

  // Everything shipped and consumed.
  await waitFor(async () => {
    const [a, b] = await Promise.all(devices.map((d) => d.trail.tracking.outbox.stats()));
    return a.queued + a.leased + b.queued + b.leased === 0;
  }, 120_000, 'the outboxes to drain');
  for (const s of shippers) await s.stop();
  const streams = () => Promise.all([0, 1, 2, 3].map((p) => client.xLen(`${prefix}:{p${p}}:events`)));
  await waitFor(async () => (await streams()).every((n) => n <= 1), 60_000, 'the partitions to catch up');

  // Merged analytics, over the workers' HTTP, against one engine that
  // ingested every event (a 1-partition pipeline on another prefix).
  const urls = workers.flatMap((w) => w.owned.split(',').map((p) => `http://127.0.0.1:${w.port}/p${p}/`));
  const across = acrossPartitions(urls, hub);
  // One engine that ingested every event, by the same route: the copies'
  // outboxes into a 1-partition pipeline on another prefix.
  const wholePrefix = `${prefix}-whole`;
  const wholeOptions = { shared: redisStore(client, { prefix: wholePrefix }), tracking: { pipeline: { partitions: 1 }, outbox: { cap: 100_000 } } };
  for (const bytes of copies) {
    const copy = await UserTrail.open({ storage: { bytes }, ...wholeOptions });
    const s = ship(copy, { pipeline: true, maxBatch: 1000 });
    await s.flush();
    await s.stop();
    await copy.close();
  }
  const whole = await UserTrail.open(wholeOptions);
  while ((await whole.pipeline.consume(0, { max: 2000 })).read > 0);
  const range = { since: T - DAY, until: T + 11 * DAY };
  for (const [query, options] of [
    ['summary', range],
    ['funnel', { ...range, steps: ['view', 'add', 'buy'], windowSecs: 7 * 86_400 }],
    ['activeUsers', { ...range, interval: 'day' }],
    ['topPages', { ...range, limit: 3 }],
    ['sessionDurations', range],
    ['retention', { ...range, cohort: 'day', periods: 5 }],
    ['paths', { ...range, steps: 3, limit: 5 }],
    ['patterns', { ...range, length: 2 }],
  ]) {
    const merged = await across.query(query, options);
    const one = await whole.pipeline.merge([await whole.pipeline.partial(query, options)]);
    assert.deepEqual(merged, one, query);
  }
  assert.ok(answers.get(503) > 0, `the collector answered 503 during the outage: ${[...answers]}`);
  // And they are about every event.
  assert.equal((await across.query('summary', range)).events, 2 * PER_DEVICE);
  assert.ok((await across.query('funnel', { ...range, steps: ['view', 'add'], windowSecs: 7 * 86_400 })).steps[1].count > 0);

  // Stop the workers, then read their files: every event exactly once.
  for (const w of workers) {
    w.child.kill('SIGTERM');
    await once(w.child, 'exit');
  }
  const seen = new Map();
  for (let p = 0; p < PARTITIONS; p++) {
    for (const id of eventIds(join(dir, `p${p}.db`))) seen.set(id, (seen.get(id) ?? 0) + 1);
  }
  assert.equal(seen.size, produced.size, 'none lost');
  assert.ok([...seen.values()].every((n) => n === 1), 'none twice');
  for (const id of produced) assert.ok(seen.has(id));
  server.close();
  await client.quit();
});
