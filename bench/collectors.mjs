// Collectors that scale out (`./build.sh bench`): 1, 2 and 4 collector
// processes behind one port (node:cluster, bench/collector-cluster.mjs),
// one Redis (AOF everysec), 4 partition streams. Senders POST batches of
// 500 events over 8 keep-alive connections as fast as they go. Reported:
// events/s, and events per CPU-second of the collector processes against
// the engine's own ingest (`trackBatch`) per CPU-second: how much of a
// core's worth of engine a collector process turns into pipeline. All on
// the same 2 cores, so events/s flattens past 2 processes; the per-core
// figure is the one that carries to a bigger machine.
// Usage: node bench/collectors.mjs <pkg/index.js>
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Agent } from 'node:http';
import { request } from 'node:http';

import { createClient } from 'redis';

import { RedisServer } from '../tests/js/redis-server.mjs';

const [pkg] = process.argv.slice(2);
const pkgDir = dirname(resolve(pkg));
const { UserTrail } = await import(pathToFileURL(resolve(pkg)));

const EVENTS = Number(process.env.COLLECTOR_EVENTS ?? 200_000);
const BATCH = 500;
const SENDERS = 8;
/** Batches sent before timing, so that every process's JIT and wasm tiers are warm. */
const WARM = 8 * SENDERS;
const PARTITIONS = 4;
const DAY = 86_400_000;
const T = Date.now() - 10 * DAY;
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

// The events, as a device's outbox leases them.
const device = await UserTrail.open({ tracking: { outbox: { cap: EVENTS + 1 } } });
for (let i = 0; i < EVENTS; i += 1000) {
  const batch = [];
  for (let j = i; j < Math.min(EVENTS, i + 1000); j++) batch.push({ name: ['view', 'add', 'buy'][j % 3], userId: `user-${(j * 7919) % 10_000}`, ts: T + j * 10 });
  await device.tracking.trackBatch(batch);
}
const events = [];
for (;;) {
  const b = await device.tracking.outbox.take(10_000);
  if (!b) break;
  events.push(...b.events);
  await device.tracking.outbox.ack(b.batchId);
}
await device.close();
const bodies = [];
for (let i = 0; i < events.length; i += BATCH) bodies.push(JSON.stringify({ events: events.slice(i, i + BATCH) }));

// The engine alone, per CPU-second of this process.
let engineRate;
let enginePerCpu;
{
  const trail = await UserTrail.open();
  const inputs = events.map((e) => ({ eventId: e.eventId, name: e.name, userId: e.userId, ts: e.ts }));
  const [t0, c0] = [performance.now(), cpuMs()];
  for (let i = 0; i < inputs.length; i += 1000) await trail.tracking.trackBatch(inputs.slice(i, i + 1000));
  const [wall, cpu] = [performance.now() - t0, cpuMs() - c0];
  engineRate = EVENTS / (wall / 1000);
  enginePerCpu = EVENTS / (cpu / 1000);
  await trail.close();
}

const redis = await RedisServer.start(['--appendfsync', 'everysec']);
const client = await createClient({ url: redis.url }).on('error', () => {}).connect();

function post(port, agent, body) {
  return new Promise((res, rej) => {
    const req = request({ host: '127.0.0.1', port, path: '/collect', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (r) => {
      r.resume();
      r.on('end', () => (r.statusCode === 202 ? res() : rej(new Error(`collector: ${r.statusCode}`))));
    });
    req.on('error', rej);
    req.end(body);
  });
}

const rows = [];
for (const n of [1, 2, 4]) {
  const prefix = `col${n}`;
  const child = spawn(process.execPath, [fileURLToPath(new URL('./collector-cluster.mjs', import.meta.url)), redis.url, prefix, String(n), String(PARTITIONS), pkgDir], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const next = () => new Promise((r) => lines.once('line', r));
  const port = Number((await next()).split(' ')[1]);
  const usage = async () => {
    child.stdin.write('usage\n');
    return Number((await next()).split(' ')[1]);
  };
  const agent = new Agent({ keepAlive: true, maxSockets: SENDERS });
  let i = 0;
  const sendAll = (upto) =>
    Promise.all(
      Array.from({ length: SENDERS }, async () => {
        while (i < upto) await post(port, agent, bodies[i++]);
      }),
    );
  await sendAll(WARM);
  const c0 = await usage();
  const t0 = performance.now();
  await sendAll(bodies.length);
  const wall = performance.now() - t0;
  const cpu = (await usage()) - c0;
  let stored = 0;
  for (let p = 0; p < PARTITIONS; p++) stored += await client.xLen(`${prefix}:{p${p}}:events`);
  if (stored !== EVENTS) throw new Error(`${n} collectors: ${stored} of ${EVENTS} in the streams`);
  const sent = EVENTS - WARM * BATCH;
  const perCpu = sent / (cpu / 1000);
  rows.push({ processes: n, 'events/s': Math.round(sent / (wall / 1000)), 'collector CPU-s': +(cpu / 1000).toFixed(1), 'events per collector CPU-s': Math.round(perCpu), 'of the engine per CPU-s': `${((100 * perCpu) / enginePerCpu).toFixed(0)}%` });
  agent.destroy();
  child.stdin.end();
  await once(child, 'exit');
}

console.log(`collectors behind one port (node:cluster): ${EVENTS.toLocaleString('en-US')} events in batches of ${BATCH} over ${SENDERS} keep-alive connections (the first ${WARM} batches warm up, untimed), ${PARTITIONS} partition streams on one Redis (AOF everysec); the engine alone: ${Math.round(engineRate).toLocaleString('en-US')} events/s, ${Math.round(enginePerCpu).toLocaleString('en-US')} per CPU-s; 2 cores for everything (goal: 70% of the engine per core)`);
console.table(rows);
mkdirSync('target/bench', { recursive: true });
writeFileSync('target/bench/collectors.json', JSON.stringify({ events: EVENTS, engineRate, enginePerCpu, rows }, null, 2));
await client.quit();
await redis.stop();
