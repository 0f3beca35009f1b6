// The pipeline half of `./build.sh bench`, with real parts on this machine:
// one Redis (AOF, everysec), a collector on HTTP (usertrail/collector) in
// this process, 4 partitions on 2 worker processes (bench/pipeline-worker.mjs,
// SQLite files). Side by side, in one run:
// 1. the engine's own ingest (`trackBatch`, batches of 1000, one engine);
// 2. the pipeline end to end: batches POSTed as fast as 4 senders go, from
//    the first POST to the last event committed in a partition;
// 3. lag from the collector's 202 to the commit in a partition, at half
//    the pipeline's maximum rate: p50 and p99;
// 4. a funnel and DAU merged over the 4 partitions (over their HTTP)
//    against the same queries on one engine holding every event.
// Usage: node bench/pipeline.mjs <pkg/index.js>
import { spawn, execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';

import { createClient } from 'redis';

import { RedisServer } from '../tests/js/redis-server.mjs';

const [pkg] = process.argv.slice(2);
const { UserTrail } = await import(pathToFileURL(resolve(pkg)));
const { redisStore } = await import(pathToFileURL(resolve(pkg, '..', 'redis.js')));
const { collector } = await import(pathToFileURL(resolve(pkg, '..', 'collector.js')));
const { acrossPartitions } = await import(pathToFileURL(resolve(pkg, '..', 'pipeline.js')));

const EVENTS = Number(process.env.PIPELINE_EVENTS ?? 100_000);
const BATCH = 500;
const SENDERS = 4;
const PARTITIONS = 4;
const DAY = 86_400_000;
const T = Date.now() - 30 * DAY;

const redis = await RedisServer.start(['--appendfsync', 'everysec']);
const dir = mkdtempSync(join(tmpdir(), 'ut-bench-pipeline-'));
const client = await createClient({ url: redis.url }).on('error', () => {}).connect();

// The events, as a device's outbox leases them: tracked once on a device.
async function forwarded(n, offset) {
  const device = await UserTrail.open({ tracking: { outbox: { cap: n + 1 } } });
  const names = ['view', 'add', 'buy', 'page_view'];
  for (let i = 0; i < n; i += 1000) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + 1000); j++) {
      const u = (j * 7919 + offset) % 10_000;
      batch.push({ name: names[Math.floor(j / 10_000 + u) % 4], userId: `user-${u}`, ts: T + Math.floor((j / n) * 28 * DAY) });
    }
    await device.tracking.trackBatch(batch);
  }
  const out = [];
  for (;;) {
    const b = await device.tracking.outbox.take(10_000);
    if (!b) break;
    out.push(...b.events);
    await device.tracking.outbox.ack(b.batchId);
  }
  await device.close();
  return out;
}

function worker(owned, prefix) {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./pipeline-worker.mjs', import.meta.url)), redis.url, prefix, String(PARTITIONS), owned, dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((res, rej) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/ready (\d+)/);
      if (m) res({ child, urls: owned.split(',').map((p) => `http://127.0.0.1:${m[1]}/p${p}/`) });
    });
    child.once('exit', (c) => rej(new Error(`worker exited ${c}`)));
  });
}

async function serve(handle) {
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const response = await handle(new Request(`http://x${req.url}`, { method: req.method, headers: req.headers, body: Buffer.concat(chunks) }));
    res.writeHead(response.status, { 'content-type': 'application/json' });
    res.end(Buffer.from(await response.arrayBuffer()));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `http://127.0.0.1:${server.address().port}/collect` };
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

// 1. The engine's own ingest, on the same events.
const step = (what) => console.error(`  ${new Date().toISOString().slice(11, 19)} ${what}`);
const events = await forwarded(EVENTS, 0);
step('events made');
let ingestRate;
{
  const trail = await UserTrail.open();
  const inputs = events.map((e) => ({ eventId: e.eventId, name: e.name, userId: e.userId, ts: e.ts }));
  const t0 = performance.now();
  for (let i = 0; i < inputs.length; i += 1000) await trail.tracking.trackBatch(inputs.slice(i, i + 1000));
  ingestRate = EVENTS / ((performance.now() - t0) / 1000);
  await trail.close();
}

// 2. The pipeline end to end, as fast as it goes.
const prefix = 'bench';
const hub = await UserTrail.open({ shared: redisStore(client, { prefix }), tracking: { pipeline: { partitions: PARTITIONS } } });
const { server, url } = await serve(collector(hub, { maxEvents: BATCH }));
const workers = await Promise.all([worker('0,1', prefix), worker('2,3', prefix)]);
const urls = workers.flatMap((w) => w.urls);
const across = acrossPartitions(urls, hub);
const committed = async () => (await across.query('summary', { since: T - DAY, until: Date.now() + DAY })).events;
// Drained: every stream trimmed to empty (a partition trims what it committed).
const drained = async () => {
  for (let p = 0; p < PARTITIONS; p++) if ((await client.xLen(`${prefix}:{p${p}}:events`)) > 0) return false;
  return true;
};

async function send(list, paced) {
  const sent = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: SENDERS }, async () => {
      for (;;) {
        const i = next;
        next += BATCH;
        if (i >= list.length) return;
        if (paced) {
          const due = t0 + (i / paced) * 1000;
          const wait = due - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        }
        const body = JSON.stringify({ events: list.slice(i, i + BATCH) });
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        if (res.status !== 202) throw new Error(`collector: ${res.status} ${await res.text()}`);
        await res.arrayBuffer();
        sent.push([list[i].eventId, Date.now()]);
      }
    }),
  );
  return sent;
}

step('the engine alone timed');
let t0 = performance.now();
await send(events, 0);
step('sent');
while (!(await drained())) await new Promise((r) => setTimeout(r, 10));
const pipelineSecs = (performance.now() - t0) / 1000;
const pipelineRate = EVENTS / pipelineSecs;
step('committed');

// 3. Lag at half the maximum rate: 202 → committed (the partition's receivedAt).
const lagEvents = await forwarded(Math.min(EVENTS, Math.floor(pipelineRate * 10)), 7);
const rate = pipelineRate / 2;
const sent = await send(lagEvents, rate);
while (!(await drained())) await new Promise((r) => setTimeout(r, 10));
const total = await committed();
if (total !== EVENTS + lagEvents.length) throw new Error(`committed ${total} of ${EVENTS + lagEvents.length}`);

// 4. Merged queries over the partitions, against one engine holding everything.
const range = { since: T - DAY, until: T + 30 * DAY };
const funnel = { ...range, steps: ['view', 'add', 'buy'], windowSecs: 7 * 86_400 };
const dau = { ...range, interval: 'day' };
const timed = async (f) => {
  const t = performance.now();
  const out = await f();
  return [performance.now() - t, out];
};
const [mergedFunnelMs] = await timed(() => across.query('funnel', funnel));
const [mergedDauMs] = await timed(() => across.query('activeUsers', dau));
const one = await UserTrail.open();
const all = [...events, ...lagEvents].map((e) => ({ eventId: e.eventId, name: e.name, userId: e.userId, ts: e.ts }));
for (let i = 0; i < all.length; i += 1000) await one.tracking.trackBatch(all.slice(i, i + 1000));
const [oneFunnelMs] = await timed(() => one.analytics.funnel(funnel));
const [oneDauMs] = await timed(() => one.analytics.activeUsers(dau));

for (const w of workers) {
  w.child.kill('SIGTERM');
  await once(w.child, 'exit');
}
server.close();

// Lag, from the partitions' files (receivedAt is when the partition committed).
const committedAt = new Map();
for (let p = 0; p < PARTITIONS; p++) {
  // Event ids are stored as their 16 bytes: read as hex, keyed as UUIDs.
  const rows = execFileSync('sqlite3', ['-separator', ' ', join(dir, `p${p}.db`), 'SELECT hex(event_id), received_at FROM events'], { maxBuffer: 1 << 28 })
    .toString()
    .trim()
    .split('\n');
  for (const row of rows) {
    const [hex, at] = row.split(' ');
    committedAt.set(hex.toLowerCase().replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5'), Number(at));
  }
}
const lags = [];
for (const [first, acceptedAt] of sent) {
  const at = committedAt.get(first);
  if (at !== undefined) lags.push(Math.max(0, at - acceptedAt));
}
lags.sort((a, b) => a - b);

console.log(`pipeline: ${EVENTS.toLocaleString('en-US')} events in batches of ${BATCH} from ${SENDERS} senders, collector on HTTP, ${PARTITIONS} partitions on 2 worker processes (SQLite files), one Redis (AOF everysec); 2 cores for everything`);
console.table([
  { what: 'the engine alone: trackBatch ingest', 'events/s': Math.round(ingestRate) },
  { what: 'the pipeline: first POST to last commit', 'events/s': Math.round(pipelineRate), 'of the engine alone': `${((100 * pipelineRate) / ingestRate).toFixed(0)}%` },
]);
console.log(`lag from 202 to committed, at half that rate (${Math.round(rate).toLocaleString('en-US')} events/s, ${lagEvents.length.toLocaleString('en-US')} events): p50 ${quantile(lags, 0.5)} ms, p99 ${quantile(lags, 0.99)} ms (goal: p99 under 2000 ms)`);
console.table([
  { query: 'funnel, 3 steps', 'merged over 4 partitions (HTTP) ms': Math.round(mergedFunnelMs), 'one engine ms': Math.round(oneFunnelMs) },
  { query: 'daily active users', 'merged over 4 partitions (HTTP) ms': Math.round(mergedDauMs), 'one engine ms': Math.round(oneDauMs) },
]);
await hub.close();
await one.close();
await client.quit();
await redis.stop();
rmSync(dir, { recursive: true, force: true });
