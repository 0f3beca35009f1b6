// Partition failover, timed over repeated kills (`./build.sh bench`): one
// Redis (AOF everysec), 4 partitions with 2 copies each on 3 worker
// processes (tests/js/lease-worker.mjs, runWorker on SQLite files, lease
// 3000 ms), events flowing all along. FAILOVER_KILLS times (default 10):
// kill -9 the worker holding the most leases, time until every partition is
// held by a live worker again, and how long a coordinator's query started
// at the kill takes (it waits for the new holders); then restart the worker
// under its name and time until every partition has its 2 copies again.
// At the end every accepted event is counted once in the merged summary.
// Usage: node bench/failover.mjs <pkg/index.js>
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';

import { createClient } from 'redis';

import { RedisServer } from '../tests/js/redis-server.mjs';

const [pkg] = process.argv.slice(2);
const pkgDir = dirname(resolve(pkg));
const { UserTrail } = await import(pathToFileURL(resolve(pkg)));
const { redisStore } = await import(pathToFileURL(join(pkgDir, 'redis.js')));
const { discoverPartitions } = await import(pathToFileURL(join(pkgDir, 'pipeline.js')));

const KILLS = Number(process.env.FAILOVER_KILLS ?? 10);
const PARTITIONS = 4;
const LEASE_MS = 3000;
const prefix = 'fobench';
const redis = await RedisServer.start(['--appendfsync', 'everysec']);
const dir = mkdtempSync(join(tmpdir(), 'ut-bench-failover-'));
const client = await createClient({ url: redis.url, disableOfflineQueue: true }).on('error', () => {}).connect();
const hub = await UserTrail.open({ shared: redisStore(client, { prefix, timeoutMs: 1000 }), tracking: { pipeline: { partitions: PARTITIONS } } });
const across = discoverPartitions(hub, { timeoutMs: 30_000 });

function start(name) {
  const child = spawn(process.execPath, [fileURLToPath(new URL('../tests/js/lease-worker.mjs', import.meta.url)), redis.url, prefix, String(PARTITIONS), name, dir, String(LEASE_MS)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, USERTRAIL_PKG: pkgDir },
  });
  return new Promise((res, rej) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (/ready \d+/.test(out)) res(child);
    });
    child.once('exit', (c) => rej(new Error(`worker ${name} exited ${c}`)));
  });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const step = (what) => console.error(`  ${new Date().toISOString().slice(11, 19)} ${what}`);
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
};
// Every partition held, with 2 copies within 2 s of stream time of the
// holder (a copy loading a snapshot is listed at an older position, or 0-0).
const whole = async () => {
  const ms = (id) => Number(id.split('-')[0]);
  return (await hub.pipeline.owners()).every((l) => {
    const at = l.copies.find((c) => c.worker === l.holder?.worker)?.position;
    return at && l.copies.length === 2 && l.copies.every((c) => c.position === at || (c.position !== '0-0' && ms(c.position) + 2000 >= ms(at)));
  });
};
async function until(check, ms, what) {
  const deadline = Date.now() + ms;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(20);
  }
}

const workers = new Map();
// Whatever happens, no worker outlives the bench.
process.on('exit', () => {
  for (const w of workers.values()) if (w.exitCode === null) w.kill('SIGKILL');
});
for (const name of ['w1', 'w2', 'w3']) workers.set(name, await start(name));
await until(whole, 60_000, 'every partition with 2 copies');
step('3 workers up');

// Events all along: 100 every 50 ms, from a device's outbox into the streams.
const device = await UserTrail.open({ tracking: { outbox: { cap: 1_000_000 } } });
let accepted = 0;
let flowing = true;
const T = Date.now() - 86_400_000;
const flow = (async () => {
  let i = 0;
  while (flowing) {
    const batch = [];
    for (let j = 0; j < 100; j++, i++) batch.push({ name: ['view', 'add', 'buy'][i % 3], userId: `user-${i % 500}`, ts: T + i });
    await device.tracking.trackBatch(batch);
    for (;;) {
      const b = await device.tracking.outbox.take(1000);
      if (!b) break;
      try {
        const results = await hub.pipeline.collect(b.events);
        accepted += results.filter((r) => r.status === 'accepted').length;
        await device.tracking.outbox.ack(b.batchId);
      } catch {
        await device.tracking.outbox.nack(b.batchId);
        break;
      }
    }
    await sleep(50);
  }
})();

const recovered = [];
const queries = [];
const rejoined = [];
for (let k = 0; k < KILLS; k++) {
  const holders = (await hub.pipeline.owners()).map((l) => l.holder.worker.split('#')[0]);
  const victim = [...workers.keys()].sort((a, b) => holders.filter((n) => n === b).length - holders.filter((n) => n === a).length)[0];
  const t0 = performance.now();
  workers.get(victim).kill('SIGKILL');
  const query = across.query('summary').then(() => performance.now() - t0, (err) => { console.error('query failed', err?.code, err?.message); return NaN; });
  await until(async () => (await hub.pipeline.owners()).every((l) => l.holder && !l.holder.worker.startsWith(`${victim}#`)), 30_000, 'failover');
  recovered.push(performance.now() - t0);
  queries.push(await query);
  const dead = workers.get(victim);
  if (dead.exitCode === null && dead.signalCode === null) await once(dead, 'exit');
  const t1 = performance.now();
  workers.set(victim, await start(victim));
  await until(whole, 60_000, 'the restarted worker back');
  rejoined.push(performance.now() - t1);
  step(`kill ${k + 1}: ${victim}, held again in ${Math.round(recovered.at(-1))} ms; a query from the kill ${Math.round(queries.at(-1))} ms; back with 2 current copies each ${Math.round(rejoined.at(-1))} ms after the restart`);
}
flowing = false;
await flow;
await until(async () => (await across.query('summary', { since: 0 })).events === accepted, 60_000, 'every accepted event committed');
const merged = (await across.query('summary', { since: 0 })).events;

for (const w of workers.values()) {
  w.kill('SIGTERM');
  await once(w, 'exit');
}
const row = (what, xs) => ({ what, p50: Math.round(quantile(xs, 0.5)), p99: Math.round(quantile(xs, 0.99)), max: Math.round(Math.max(...xs)) });
console.log(`failover: ${KILLS} kills -9 of the worker holding the most leases, 4 partitions × 2 copies on 3 workers (SQLite files), lease ${LEASE_MS} ms, ~2,000 events/s flowing; ${accepted.toLocaleString('en-US')} events accepted, ${merged.toLocaleString('en-US')} in the merged summary (goal: every partition held again within 10,000 ms)`);
console.table([
  row('kill -9 → every partition held by a live worker (ms)', recovered),
  row('a query started at the kill → its whole answer (ms)', queries),
  row('restart → every partition with 2 current copies again (ms)', rejoined),
]);
mkdirSync('target/bench', { recursive: true });
writeFileSync('target/bench/failover.json', JSON.stringify({ kills: KILLS, leaseMs: LEASE_MS, accepted, merged, recovered, queries, rejoined }, null, 2));
if (merged !== accepted) throw new Error(`merged ${merged} of ${accepted}`);
await Promise.all([hub.close(), device.close()]);
await client.quit();
await redis.stop();
rmSync(dir, { recursive: true, force: true });
