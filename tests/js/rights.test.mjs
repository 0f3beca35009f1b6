// Data-subject rights across a whole deployment, with real processes
// (issue 25): three app processes, each with its own SQLite file, on one
// Redis (AOF, uncompressed so that a byte scan means something), a
// collector on HTTP and two partition worker processes. A user's data is
// put everywhere: a session with state, preferences, consent, events with
// an IP, a user agent and a marker (tracked on every app process, shipped
// to the partitions, and sent by a device through the collector), and an
// identified anonymous id. Export on any process returns all of it; one
// app process is killed with -9; erasure on another process leaves, within
// 5 s, no byte of the user's ids, session id, IP or markers in any app
// file, partition file, Redis key or value, nor in the AOF after the
// documented step (`rewritePersistence`); the killed process, restarted,
// holds nothing within 5 s of opening; a control user is untouched.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { UserTrail, UserTrailError } from 'usertrail';
import { collector } from 'usertrail/collector';
import { redisStore, rewritePersistence } from 'usertrail/redis';
import { RedisServer, cli, createClient } from './redis-server.mjs';

const PARTITIONS = 2;
const PREFIX = 'rt';
const here = (f) => fileURLToPath(new URL(f, import.meta.url));
const children = new Set();
let redis;
let client;
let dir;

before(async () => {
  redis = await RedisServer.start(['--rdbcompression', 'no']);
  client = await createClient({ url: redis.url }).on('error', () => {}).connect();
  dir = mkdtempSync(join(tmpdir(), 'ut-rights-'));
});
after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await client?.quit().catch(() => {});
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Starts `script` with `args`; resolves with the child and the port it printed. */
async function start(script, args, word) {
  const child = spawn(process.execPath, [here(script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  let out = '';
  for await (const chunk of child.stdout) {
    out += chunk;
    const m = out.match(new RegExp(`${word} (\\d+)`));
    if (m) return { child, port: Number(m[1]) };
  }
  throw new Error(`${script} exited before it was ready`);
}

/** An app process on file `name`. */
async function app(name) {
  const { child, port } = await start('./rights-app.mjs', [redis.url, PREFIX, join(dir, name), String(PARTITIONS)], 'ready');
  const call = async (path, ...args) => {
    const res = await fetch(`http://127.0.0.1:${port}/call`, { method: 'POST', body: JSON.stringify({ path, args }) });
    const body = await res.json();
    if (body.error) throw Object.assign(new Error(`${path}: ${body.error.message}`), { code: body.error.code });
    return body.ok;
  };
  return { child, call, name };
}

/** Every key under the prefix and what it holds, as text. */
async function redisText() {
  const parts = [];
  for await (const keys of client.scanIterator({ MATCH: `${PREFIX}:*`, COUNT: 1000 })) {
    for (const key of [].concat(keys)) {
      parts.push(key);
      const type = await client.type(key);
      if (type === 'hash') parts.push(JSON.stringify(await client.hGetAll(key)));
      else if (type === 'list') parts.push(JSON.stringify(await client.lRange(key, 0, -1)));
      else if (type === 'set') parts.push(JSON.stringify(await client.sMembers(key)));
      else if (type === 'zset') parts.push(JSON.stringify(await client.zRange(key, 0, -1)));
      else if (type === 'string') parts.push(String(await client.get(key)));
      else if (type === 'stream') parts.push(JSON.stringify(await client.xRange(key, '-', '+')));
    }
  }
  return parts.join('\n');
}

/** Every byte of the files whose names start with one of `names` (a lock folder's files too), as latin1 text. */
function filesText(names) {
  return readdirSync(dir, { recursive: true })
    .filter((f) => names.some((n) => f.startsWith(n)) && statSync(join(dir, f)).isFile())
    .map((f) => readFileSync(join(dir, f)).toString('latin1'))
    .join('\n');
}

function aofText() {
  const aof = join(redis.dir, 'appendonlydir');
  return readdirSync(aof).map((f) => readFileSync(join(aof, f)).toString('latin1')).join('\n');
}

const found = (text, needles) => needles.filter((n) => text.includes(n));

test('a subject\'s rights hold across three app processes, a collector, two partitions and Redis persistence', async () => {
  // The partitions: two worker processes, one partition each.
  const workers = [];
  for (const p of [0, 1]) {
    workers.push(await start('./partition-worker.mjs', [redis.url, PREFIX, String(PARTITIONS), String(p), dir], 'ready'));
  }
  // The collector: an engine on the shared store, on HTTP, in this process.
  const hubClient = await createClient({ url: redis.url }).on('error', () => {}).connect();
  const hub = await UserTrail.open({ shared: redisStore(hubClient, { prefix: PREFIX, followMs: 200 }), tracking: { pipeline: { partitions: PARTITIONS } } });
  const handle = collector(hub, {});
  const http = createServer(async (req, res) => {
    let body = '';
    for await (const c of req) body += c;
    const r = await handle(new Request(`http://x${req.url}`, { method: req.method, body, headers: req.headers }));
    res.writeHead(r.status, { 'content-type': 'application/json' }).end(Buffer.from(await r.arrayBuffer()));
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');

  const [a, b] = [await app('a.db'), await app('b.db')];
  let c = await app('c.db');
  const USER = 'carol-e2e-7', ANON = 'anon-e2e-7', CONTROL = 'dave-e2e-7';
  const IP = '203.0.113.77';
  const UA = 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0';
  const ev = (who, marker, anon, ip = IP) => ({ name: 'page_view', ...(anon ? { anonymousId: who } : { userId: who }), ip, userAgent: UA, properties: { note: marker } });

  // A session with state, logged in, on process a.
  const anonSession = await a.call('sessions.create', { ip: IP, userAgent: UA });
  await a.call('sessions.set', anonSession.token, 'cart', ['marker-cart-7']);
  const session = await a.call('sessions.login', anonSession.token, USER);
  await a.call('prefs.set', USER, 'appearance.theme', 'dark');
  await a.call('privacy.grant', USER, { purposes: ['analytics'], source: 'banner', ip: IP, userAgent: UA });
  await a.call('tracking.identify', ANON, USER);
  await a.call('tracking.track', ev(USER, 'marker-a-7'));
  await b.call('tracking.track', ev(USER, 'marker-b-7'));
  await b.call('tracking.track', ev(ANON, 'marker-anon-7', true));
  await c.call('tracking.track', ev(USER, 'marker-c-7'));
  // The control user, everywhere too.
  for (const p of [a, b, c]) await p.call('tracking.track', ev(CONTROL, 'marker-control-7', false, '192.0.2.5'));
  await a.call('prefs.set', CONTROL, 'appearance.theme', 'light');
  // A device sends through the collector.
  const device = await fetch(`http://127.0.0.1:${http.address().port}/collect`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      events: [{ eventId: crypto.randomUUID(), ts: Date.now(), type: 'action', name: 'tap', userId: USER, client: { ip: '203.0.0.0' }, properties: { note: 'marker-device-7' } }],
    }),
  });
  assert.equal(device.status, 202);
  const { results } = await device.json();
  assert.equal(results[0].status, 'accepted', JSON.stringify(results));

  // Everything reaches the partitions (the app processes ship their outboxes).
  const partitionFiles = ['p0.db', 'p1.db'];
  const shipped = ['marker-a-7', 'marker-b-7', 'marker-c-7', 'marker-anon-7', 'marker-device-7'];
  for (let i = 0; ; i++) {
    const text = filesText(partitionFiles);
    if (shipped.every((m) => text.includes(m))) break;
    if (i >= 400) {
      const have = shipped.filter((m) => text.includes(m));
      const streams = [];
      for (const p of [0, 1]) streams.push(await client.xLen(`${PREFIX}:{p${p}}:events`).catch((e) => String(e)));
      assert.fail(`the events did not reach the partitions: have ${have}, streams ${streams}, outbox of a ${JSON.stringify(await a.call('tracking.outbox.stats'))}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }

  // Export on any process returns all of it.
  const file = await b.call('privacy.export', USER, { format: 'json' });
  const exported = Buffer.from(file.bytes.base64, 'base64').toString();
  const doc = JSON.parse(exported);
  for (const m of shipped) {
    assert.ok(exported.includes(m), `${m} in the export`);
  }
  assert.ok(doc.ids.includes(ANON));
  assert.equal(doc.tables.sharedSessions.length, 1);
  assert.equal(doc.tables.sharedPrefs.length, 1);
  assert.ok(doc.tables.sharedConsentLedger.length >= 1);
  assert.ok(!exported.includes('marker-control-7'));
  const ids = doc.tables.events.map((e) => e.eventId);
  assert.equal(new Set(ids).size, ids.length, 'an event shipped to a partition appears once');
  assert.ok(doc.places.filter((p) => p.included).length >= 6, JSON.stringify(doc.places));

  // Process c is killed before the erasure.
  c.child.kill('SIGKILL');
  await once(c.child, 'exit');
  const needles = [USER, ANON, session.sessionId, IP, '203.0.0.0', 'marker-a-7', 'marker-b-7', 'marker-c-7', 'marker-anon-7', 'marker-device-7', 'marker-cart-7'];

  const started = Date.now();
  const report = await a.call('privacy.erase', USER, { reason: 'user request', waitMs: 5000 });
  assert.ok(report.rights, 'a receipt');
  const pending = report.rights.places.filter((p) => !p.applied).map((p) => p.label);
  assert.deepEqual(pending, ['c.db'], 'only the killed process is pending');

  // Within 5 s, nothing anywhere but in the killed process's file.
  for (;;) {
    const left = [
      ...found(filesText(['a.db', 'b.db', ...partitionFiles]), needles).map((n) => `${n} in a file`),
      ...found(await redisText(), needles).map((n) => `${n} in Redis`),
    ];
    if (left.length === 0) break;
    assert.ok(Date.now() - started < 5000, `after 5 s: ${left.join(', ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  // The documented step: rewrite Redis's persistence.
  assert.deepEqual(found(aofText(), [USER]), [USER], 'before the rewrite the AOF holds the user');
  await rewritePersistence(client);
  assert.deepEqual(found(aofText(), needles), []);

  // The killed process comes back: within 5 s of opening, it holds nothing.
  c = await app('c.db');
  const reopened = Date.now();
  for (;;) {
    const left = found(filesText(['c.db']), needles);
    if (left.length === 0) break;
    assert.ok(Date.now() - reopened < 5000, `c after 5 s: ${left.join(', ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const receipt = await a.call('privacy.receipt', report.rights.id, { waitMs: 5000 });
  assert.ok(receipt.complete, JSON.stringify(receipt));

  // The control user is untouched everywhere.
  for (const p of [a, b, c]) assert.equal(await p.call('tracking.count', { userId: CONTROL }), 1);
  assert.equal((await b.call('prefs.get', CONTROL, 'appearance.theme')).value, 'light');
  assert.ok(filesText(partitionFiles).includes('marker-control-7'));

  for (const p of [a, b, c]) {
    p.child.kill('SIGTERM');
    await once(p.child, 'exit');
  }
  for (const w of workers) {
    w.child.kill('SIGTERM');
    await once(w.child, 'exit');
  }
  http.close();
  await hub.close();
  await hubClient.quit();
});

test('rewritePersistence rewrites every node of a cluster, and refuses what it cannot use', async () => {
  const { startCluster, createCluster } = await import('./redis-server.mjs');
  const cluster = await startCluster();
  const c = await createCluster({ rootNodes: cluster.rootNodes }).on('error', () => {}).connect();
  try {
    // A subject's keys in every slot range, then deleted: the AOFs keep them.
    for (let i = 0; i < 30; i++) await c.set(`rw:{s${i}}:k`, `marker-cluster-${i}`);
    for (let i = 0; i < 30; i++) await c.del(`rw:{s${i}}:k`);
    const aofs = () =>
      cluster.nodes
        .map((n) => {
          const d = join(n.dir, 'appendonlydir');
          return readdirSync(d).map((f) => readFileSync(join(d, f)).toString('latin1')).join('\n');
        })
        .join('\n');
    assert.ok(aofs().includes('marker-cluster-'));
    const { nodes } = await rewritePersistence(c);
    assert.equal(nodes, 3);
    assert.ok(!aofs().includes('marker-cluster-'));
    await assert.rejects(async () => rewritePersistence({}), (e) => e instanceof UserTrailError && e.code === 'INVALID_INPUT');
    await assert.rejects(async () => rewritePersistence(c, { later: true }), (e) => e instanceof UserTrailError && e.field === 'later');
  } finally {
    await c.quit();
    await cluster.stop();
  }
});

test('rewritePersistence reaches a standalone primary\'s replica', async () => {
  const primary = await RedisServer.start(['--rdbcompression', 'no']);
  const replica = await RedisServer.start(['--rdbcompression', 'no', '--replicaof', '127.0.0.1', String(primary.port)]);
  const c = await createClient({ url: primary.url }).on('error', () => {}).connect();
  try {
    // The replica is in sync before anything is written, and done with
    // the rewrite of its AOF that a sync starts (else the rewrite can
    // replace the files while they are read, or drop the line looked for).
    for (let i = 0; ; i++) {
      const synced = /master_link_status:up/.test(cli(replica.port, 'info', 'replication'));
      const persistence = cli(replica.port, 'info', 'persistence');
      const rewriting = /aof_rewrite_in_progress:1|aof_rewrite_scheduled:1/.test(persistence);
      if (synced && !rewriting) break;
      assert.ok(i < 400, 'the replica did not sync');
      await new Promise((r) => setTimeout(r, 25));
    }
    await c.set('rp:secret', 'REPLICA-SECRET-7');
    await c.sendCommand(['WAIT', '1', '2000']);
    await c.del('rp:secret');
    await c.sendCommand(['WAIT', '1', '2000']);
    const aof = (server) => {
      const d = join(server.dir, 'appendonlydir');
      return readdirSync(d).map((f) => readFileSync(join(d, f)).toString('latin1')).join('\n');
    };
    assert.ok(aof(replica).includes('REPLICA-SECRET-7'), 'the replica logged it');
    const { nodes } = await rewritePersistence(c);
    assert.equal(nodes, 2);
    assert.ok(!aof(replica).includes('REPLICA-SECRET-7'));
    assert.ok(!aof(primary).includes('REPLICA-SECRET-7'));
  } finally {
    await c.quit();
    await replica.stop();
    await primary.stop();
  }
});
