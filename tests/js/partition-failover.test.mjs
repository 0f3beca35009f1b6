// Partitions that fail over by themselves, with real processes and a real
// Redis: 4 partitions, two copies each (a holder and a warm standby), on 3
// worker processes (usertrail/pipeline runWorker, tests/js/lease-worker.mjs),
// 2 devices shipping 10,000 events through a collector. Mid-run one worker
// is killed with -9 and not restarted: its partitions are held again by
// their standbys, with nobody acting; then a fourth worker joins and takes
// copies over; then every worker is restarted in turn while events keep
// coming. Each partition's holder is found in Redis (discoverPartitions).
// In the end every event is in exactly one partition, the standby copies
// equal their holders, and merged analytics equal one engine.
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
import { discoverPartitions, runWorker, ship, toNodeListener } from 'usertrail/pipeline';
import { redisStore } from 'usertrail/redis';
import { RedisServer, createClient, freePort } from './redis-server.mjs';
import { UserTrailError } from 'usertrail';

const PARTITIONS = 4;
const PER_DEVICE = 5000;
const JOINING = 500;
const ROLLING = 200;
const LEASE_MS = 3000;
const DAY = 86_400_000;
const T = Date.now() - 10 * DAY;
let redis;
let dir;
const children = new Set();

before(async () => {
  redis = await RedisServer.start();
  dir = mkdtempSync(join(tmpdir(), 'ut-failover-'));
});
after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
});

function startWorker(name, prefix) {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./lease-worker.mjs', import.meta.url)), redis.url, prefix, String(PARTITIONS), name, dir, String(LEASE_MS)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/ready (\d+)/);
      if (m) resolve({ child, name, port: Number(m[1]) });
    });
    child.once('exit', (c) => reject(new Error(`worker ${name} exited ${c}`)));
  });
}

async function stopWorker(w) {
  w.child.kill('SIGTERM');
  await once(w.child, 'exit');
}

/** Serves a fetch handler on 127.0.0.1. */
async function serve(handle) {
  const server = createServer(toNodeListener(handle));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `http://127.0.0.1:${server.address().port}/collect` };
}

/** `n` events of device `d`'s users, from the `from`th on. */
function events(d, from, n) {
  const names = ['view', 'add', 'buy', 'page_view'];
  const out = [];
  for (let i = from; i < from + n; i++) {
    const u = (i * 7 + d) % 60;
    out.push({
      name: names[Math.floor(i / 60) % 4],
      userId: `d${d}-user-${u}`,
      sessionId: `d${d}-user-${u}-s${Math.floor(i / 300)}`,
      ts: T + Math.floor((i / (PER_DEVICE + JOINING + 3 * ROLLING)) * 9 * DAY) + u * 1000,
    });
  }
  return out;
}

async function waitFor(check, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const uuid = (hex) => hex.toLowerCase().replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');
function eventIds(file) {
  const out = execFileSync('sqlite3', [file, 'SELECT hex(event_id) FROM events']).toString().trim();
  return out ? out.split('\n').map(uuid) : [];
}

test('4 partitions × 2 copies on 3 workers: a worker killed with -9 is replaced by its standbys within the lease; a fourth joins; a rolling restart; every event once; merged analytics equal one engine', { timeout: 300_000 }, async () => {
  const prefix = `fo${process.pid}`;
  const client = await createClient({ url: redis.url, disableOfflineQueue: true }).on('error', () => {}).connect();
  const pipeline = { partitions: PARTITIONS };
  const hub = await UserTrail.open({ shared: redisStore(client, { prefix, timeoutMs: 1000 }), tracking: { pipeline } });
  const collect = collector(hub, { writeKeys: ['a-write-key-of-16+chars'] });
  // One engine that ingests every batch the collector took: a 1-partition
  // pipeline on another prefix, for the comparison.
  const whole = await UserTrail.open({ shared: redisStore(client, { prefix: `${prefix}-whole` }), tracking: { pipeline: { partitions: 1 } } });
  const { server, url } = await serve(async (request) => {
    const body = await request.text();
    const res = await collect(new Request(request.url, { method: 'POST', headers: request.headers, body }));
    if (res.status === 202) await whole.pipeline.collect(body);
    return res;
  });
  const across = discoverPartitions(hub, { timeoutMs: 20_000 });
  const names = (owners) => owners.map((h) => h?.worker.split('#')[0] ?? null);

  const workers = new Map();
  for (const w of await Promise.all(['w1', 'w2', 'w3'].map((n) => startWorker(n, prefix)))) workers.set(w.name, w);
  await waitFor(async () => (await across.owners()).every(Boolean), 30_000, 'every partition held');

  // Two devices: outboxes of 5,000 events each, filled as they ship.
  const devices = await Promise.all([1, 2].map(() => UserTrail.open({ tracking: { outbox: { cap: 100_000 } } })));
  const produced = new Set();
  const track = async (from, n) => {
    for (const [i, d] of devices.entries()) {
      for (const r of await d.tracking.trackBatch(events(i + 1, from, n))) produced.add(r.eventId);
    }
  };
  const shippers = devices.map((d) =>
    ship(d, { url, headers: { authorization: 'Bearer a-write-key-of-16+chars' }, maxBatch: 100, intervalMs: 20, onError: () => {} }),
  );
  const queued = async () => (await Promise.all(devices.map((d) => d.tracking.outbox.stats()))).reduce((n, s) => n + s.queued + s.leased, 0);
  await track(0, PER_DEVICE / 2);

  // Mid-run: kill -9 the worker holding the most leases; it stays dead.
  const before = names(await across.owners());
  const victim = ['w1', 'w2', 'w3'].sort((a, b) => before.filter((n) => n === b).length - before.filter((n) => n === a).length)[0];
  assert.ok(before.includes(victim));
  await waitFor(async () => (await queued()) < PER_DEVICE * 0.7, 60_000, 'shipping to start');
  const killedAt = Date.now();
  workers.get(victim).child.kill('SIGKILL');
  await once(workers.get(victim).child, 'exit');
  workers.delete(victim);
  await track(PER_DEVICE / 2, PER_DEVICE / 2);
  // Every partition held again, by the live workers, with nobody acting.
  await waitFor(async () => names(await across.owners()).every((n) => n && n !== victim), 20_000, 'the standbys to take over');
  const recovered = Date.now() - killedAt;
  console.log(`# failover: every partition held again ${recovered} ms after the kill -9 (lease ${LEASE_MS} ms)`);
  assert.ok(recovered <= 10_000, `recovered within 10 s: ${recovered} ms`);

  // A fourth worker joins and takes copies over, while events come.
  workers.set('w4', await startWorker('w4', prefix));
  await track(PER_DEVICE, JOINING);
  await waitFor(async () => {
    const leases = await hub.pipeline.owners();
    return leases.some((l) => l.holder?.worker.startsWith('w4#')) && leases.every((l) => l.holder && l.copies.length === 2);
  }, 60_000, 'the fourth worker to hold a partition');
  console.log(`# join: w4 holds ${names(await across.owners()).filter((n) => n === 'w4').length} of ${PARTITIONS} partitions`);

  // A rolling restart of every live worker, while events keep coming.
  let next = PER_DEVICE + JOINING;
  for (const name of [...workers.keys()]) {
    await stopWorker(workers.get(name));
    await track(next, ROLLING);
    next += ROLLING;
    workers.set(name, await startWorker(name, prefix));
    // Back: every partition held, with 2 copies within 2 s of stream time of
    // the holder (a copy loading is listed at an older position, or 0-0).
    await waitFor(async () => {
      const ms = (id) => Number(id.split('-')[0]);
      return (await hub.pipeline.owners()).every((l) => {
        const at = l.copies.find((c) => c.worker === l.holder?.worker)?.position;
        return at && l.copies.length === 2 && l.copies.every((c) => c.position === at || (c.position !== '0-0' && ms(c.position) + 2000 >= ms(at)));
      });
    }, 60_000, `${name} back`);
  }
  assert.equal(produced.size, 2 * next);

  // Everything shipped and committed by every copy.
  await waitFor(async () => (await queued()) === 0, 120_000, 'the outboxes to drain');
  for (const s of shippers) await s.stop();
  const range = { since: T - DAY, until: T + 11 * DAY };
  await waitFor(async () => (await across.query('summary', range)).events === produced.size, 60_000, 'the holders to catch up');

  while ((await whole.pipeline.consume(0, { max: 2000 })).read > 0);
  for (const [query, options] of [
    ['summary', range],
    ['funnel', { ...range, steps: ['view', 'add', 'buy'], windowSecs: 7 * 86_400 }],
    ['activeUsers', { ...range, interval: 'day' }],
    ['eventBreakdown', range],
    ['sessionDurations', range],
    ['paths', { ...range, steps: 3, limit: 5 }],
    ['patterns', { ...range, length: 2 }],
  ]) {
    const merged = await across.query(query, options);
    const one = await whole.pipeline.merge([await whole.pipeline.partial(query, options)]);
    assert.deepEqual(merged, one, query);
  }

  // Stop the workers, then read the copies: every event exactly once
  // across partitions, and each standby equal to its holder.
  const held = (await hub.pipeline.owners()).map((l) => l.copies.map((c) => c.worker.split('#')[0]));
  for (const w of workers.values()) await stopWorker(w);
  const seen = new Map();
  for (let p = 0; p < PARTITIONS; p++) {
    const [a, b] = held[p].map((n) => eventIds(join(dir, n, `p${p}.db`)).sort());
    assert.deepEqual(a, b, `partition ${p}: the two copies hold the same events`);
    for (const id of a) seen.set(id, (seen.get(id) ?? 0) + 1);
  }
  assert.equal(seen.size, produced.size, 'none lost');
  assert.ok([...seen.values()].every((n) => n === 1), 'none twice');
  server.close();
  await Promise.all([hub.close(), whole.close(), ...devices.map((d) => d.close())]);
  await client.quit();
});

/** `fn` throws or rejects with a UserTrailError; returns it. */
async function failure(fn) {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof UserTrailError, `not a UserTrailError: ${err?.stack ?? err}`);
    return err;
  }
  assert.fail('it did not fail');
}

test('bad worker options, lease calls and handler requests get typed errors; a holder that is gone fails a query whole, within its timeout', { timeout: 60_000 }, async () => {
  const prefix = `fo-bad${process.pid}`;
  const client = await createClient({ url: redis.url, disableOfflineQueue: true }).on('error', () => {}).connect();
  const hub = await UserTrail.open({ shared: redisStore(client, { prefix, timeoutMs: 1000 }), tracking: { pipeline: { partitions: 2 } } });
  const alone = await UserTrail.open();
  const open = () => UserTrail.open({ shared: redisStore(client, { prefix, timeoutMs: 1000 }), tracking: { pipeline: { partitions: 2 } } });
  const good = { name: 'w1', url: 'http://127.0.0.1:1/', open };
  for (const [options, field] of [
    [{ ...good, name: 'w#1' }, 'name'],
    [{ ...good, name: '' }, 'name'],
    [{ ...good, name: 'x'.repeat(101) }, 'name'],
    [{ ...good, url: 'ftp://x/' }, 'url'],
    [{ ...good, url: 'http://x/|y' }, 'url'],
    [{ ...good, open: undefined }, 'open'],
    [{ ...good, copies: 0 }, 'copies'],
    [{ ...good, copies: '2' }, 'copies'],
    [{ ...good, leaseMs: 100 }, 'leaseMs'],
    [{ ...good, partitions: 4 }, 'partitions'],
    [{ ...good, signal: {} }, 'signal'],
    [null, 'options'],
    [Object.defineProperty({ ...good }, 'name', { get() { throw new Error('boom'); }, enumerable: true }), 'name'],
    [new Proxy(good, { ownKeys() { throw new Error('boom'); } }), 'options'],
  ]) {
    const err = await failure(() => runWorker(hub, options));
    assert.deepEqual([err.code, err.field], ['INVALID_INPUT', field], field);
  }
  assert.equal((await failure(() => runWorker(null, good))).field, 'trail');
  assert.equal((await failure(() => discoverPartitions(hub, { timeout: 5 }))).field, 'timeout');
  // Engine calls: partition out of range, hostile ids, unknown keys, both trims.
  const lease = { worker: 'w1#a', url: 'http://127.0.0.1:1/', want: 'own', ttlMs: 3000 };
  for (const [call, field] of [
    [() => hub.pipeline.lease(2, lease), 'partition'],
    [() => hub.pipeline.lease(-1, lease), 'partition'],
    [() => hub.pipeline.lease(0, { ...lease, worker: "x'; DEL *; --|" }), 'worker'],
    [() => hub.pipeline.lease(0, { ...lease, want: 'everything' }), 'want'],
    [() => hub.pipeline.lease(0, { ...lease, ttlMs: -5 }), 'ttlMs'],
    [() => hub.pipeline.lease(0, { ...lease, extra: 1 }), 'extra'],
    [() => hub.pipeline.roster({ worker: 'w', url: 'http://u/', ttlMs: 1e9 }), 'ttlMs'],
    [() => hub.pipeline.plan({ me: 'w', members: [], copies: 0, held: [] }), 'copies'],
    [() => hub.pipeline.plan({ me: 'w', members: [], held: [] }), 'copies'],
    [() => hub.pipeline.plan({ me: 'w', members: [{ worker: 'w' }], copies: 2, held: [] }), 'members[0]'],
    [() => hub.pipeline.consume(0, { trim: 'none', copy: { worker: 'w', token: 0, ttlMs: 3000 } }), 'copy'],
    [() => hub.pipeline.consume(0, { copy: { worker: 'w|x', token: 0, ttlMs: 3000 } }), 'worker'],
    [() => alone.pipeline.owners(), 'shared'],
  ]) {
    const err = await failure(call);
    assert.equal(err.code, 'INVALID_INPUT', String(call));
    assert.ok(err.field?.startsWith(field), `${call}: ${err.field}`);
  }
  // Nothing of that reached Redis.
  assert.deepEqual((await hub.pipeline.owners()).map((l) => [l.holder, l.copies.length]), [[null, 0], [null, 0]]);

  // A worker's handler: only POST, only partitions it holds.
  const worker = runWorker(hub, { ...good, leaseMs: 1000 });
  assert.equal((await worker.handler(new Request('http://w/p0/partial'))).status, 405);
  const other = await worker.handler(new Request('http://w/p7/partial', { method: 'POST', body: '{}' }));
  assert.deepEqual([other.status, (await other.json()).error.code], [404, 'NOT_FOUND']);
  const odd = await worker.handler(new Request("http://w/p0/../../etc/passwd", { method: 'POST', body: '{}' }));
  assert.equal(odd.status, 404);
  await worker.stop();
  assert.deepEqual((await hub.pipeline.owners()).map((l) => l.holder), [null, null], 'a stopped worker holds nothing');

  // No holder: TIMEOUT naming the partition. A holder that is gone (its
  // lease still running): the query asks again until its timeout, then
  // fails whole with UNREACHABLE.
  const none = await failure(() => discoverPartitions(hub, { timeoutMs: 300 }).query('summary'));
  assert.deepEqual([none.code, none.partition], ['TIMEOUT', 'p0']);
  const dead = `http://127.0.0.1:${await freePort()}/`;
  for (const p of [0, 1]) await hub.pipeline.lease(p, { worker: 'ghost#1', url: dead, want: 'own', ttlMs: 60_000 });
  const started = Date.now();
  const gone = await failure(() => discoverPartitions(hub, { timeoutMs: 1500 }).query('summary'));
  assert.equal(gone.code, 'UNREACHABLE');
  assert.ok(gone.partition.startsWith(dead));
  const took = Date.now() - started;
  assert.ok(took >= 1200 && took < 5000, `asked again until the timeout: ${took} ms`);
  await Promise.all([hub.close(), alone.close()]);
  await client.quit();
});

test('in one process: a partition with no current copy is adopted and said so; a query leaves a hung holder once another holds its lease; a worker stops at once while loading a snapshot', { timeout: 90_000 }, async () => {
  const prefix = `fo-edge${process.pid}`;
  const client = await createClient({ url: redis.url, disableOfflineQueue: true }).on('error', () => {}).connect();
  const options = { shared: redisStore(client, { prefix, timeoutMs: 1000 }), tracking: { pipeline: { partitions: 1 } } };
  const hub = await UserTrail.open(options);
  const device = await UserTrail.open({ tracking: { outbox: true } });
  const send = async (n, from) => {
    await device.tracking.trackBatch(Array.from({ length: n }, (_, i) => ({ name: 'view', userId: `u${from + i}` })));
    const b = await device.tracking.outbox.take(1000);
    await hub.pipeline.collect(b.events);
    await device.tracking.outbox.ack(b.batchId);
  };
  // The stream trimmed past 0-0 by a partition that is then lost.
  await send(10, 0);
  const lost = await UserTrail.open(options);
  await lost.pipeline.consume(0);
  await lost.close();

  /** An in-process worker on memory copies, behind its own HTTP server (which `hang` makes silent). */
  const workers = [];
  async function worker(name, extra = {}) {
    const errors = [];
    const w = { name, errors, hang: false };
    const server = createServer(toNodeListener((request) => (w.hang ? new Promise(() => {}) : w.worker.handler(request))));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    w.server = server;
    w.worker = runWorker(hub, {
      name,
      url: `http://127.0.0.1:${server.address().port}/`,
      leaseMs: 500,
      idleMs: 20,
      open: (p, snapshot) => UserTrail.open({ ...options, ...(snapshot ? { storage: { bytes: snapshot } } : {}) }),
      onError: (err) => errors.push(err),
      ...extra,
    });
    workers.push(w);
    return w;
  }
  const holder = async () => (await hub.pipeline.owners())[0].holder;
  const [a, b] = [await worker('a'), await worker('b')];
  await waitFor(async () => (await holder()) !== null, 15_000, 'the partition held again');
  const behind = [...a.errors, ...b.errors].filter((e) => e.code === 'REPLICA_BEHIND');
  assert.equal(behind.length, 1, 'one copy accepted the loss, and said so');
  assert.match(behind[0].message, /no current copy/);
  await send(5, 10);
  const across = discoverPartitions(hub, { timeoutMs: 10_000 });
  await waitFor(async () => (await across.query('summary')).events === 5, 15_000, 'the new events');
  // The other copy loaded the holder's snapshot and is current too.
  await waitFor(async () => {
    const l = (await hub.pipeline.owners())[0];
    return l.copies.length === 2 && l.copies.every((c) => c.position === l.copies[0].position && c.position !== '0-0');
  }, 15_000, 'both copies current');

  // The holder hangs (its HTTP answers nothing); the query started now is
  // answered by the standby once it holds the lease, well within its timeout.
  const h = (await holder()).worker.startsWith('a#') ? a : b;
  const other = h === a ? b : a;
  h.hang = true;
  const started = Date.now();
  const answer = across.query('summary');
  await new Promise((r) => setTimeout(r, 300));
  h.worker.stop(); // gives the lease up; its HTTP still hangs
  assert.equal((await answer).events, 5);
  const took = Date.now() - started;
  assert.ok(took < 5000, `left the hung holder: ${took} ms`);
  assert.ok((await holder()).worker.startsWith(`${other.name}#`));

  // A third worker joins; the stream was trimmed, so its copy loads a
  // snapshot through a fetch that never answers. stop() does not wait for it.
  await send(5, 15);
  await waitFor(async () => (await across.query('summary')).events === 10, 15_000, 'trimmed past');
  let asked = false;
  const c = await worker('c', {
    copies: 2,
    fetch: (url, init) => {
      asked = true;
      return new Promise((_, reject) => init.signal.addEventListener('abort', () => reject(init.signal.reason)));
    },
  });
  await waitFor(async () => asked, 15_000, 'a snapshot asked for');
  const stopping = Date.now();
  await c.worker.stop();
  assert.ok(Date.now() - stopping < 2000, `stopped while loading: ${Date.now() - stopping} ms`);
  await other.worker.stop();
  for (const w of workers) w.server.close();
  await Promise.all([hub.close(), device.close()]);
  await client.quit();
});
