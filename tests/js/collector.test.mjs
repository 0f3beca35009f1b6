// usertrail/collector against bad input over real HTTP on 127.0.0.1:
// malformed JSON, wrong shapes and types, over-size bodies and batches, a
// missing or wrong write key, a slow body. Each gets a clear HTTP error,
// the collector keeps serving, and nothing half-written reaches the
// streams.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect as tcp } from 'node:net';
import { once } from 'node:events';

import express from 'express';
import { Hono } from 'hono';
import { UserTrail, UserTrailError } from 'usertrail';
import { collector, expressCollector, honoCollector } from 'usertrail/collector';
import { redisStore } from 'usertrail/redis';
import { RedisServer, createClient } from './redis-server.mjs';

const KEY = 'sixteen-chars-key-0123';
let redis;
let client;
let hub;
let base;
let server;
const prefix = 'col';

before(async () => {
  redis = await RedisServer.start();
  client = await createClient({ url: redis.url }).on('error', () => {}).connect();
  hub = await UserTrail.open({ shared: redisStore(client, { prefix }), tracking: { pipeline: { partitions: 2 } } });
  const app = express();
  app.all('/collect', expressCollector(hub, { writeKeys: [KEY], maxBodyBytes: 64 * 1024, maxEvents: 50, bodyTimeoutMs: 300 }));
  server = createServer(app);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${server.address().port}`;
});
after(async () => {
  server.close();
  await client.quit();
  await redis.stop();
});

/** A valid forwarded event, as a device's outbox leases it. */
async function events(n) {
  const device = await UserTrail.open({ tracking: { outbox: true } });
  await device.tracking.trackBatch(Array.from({ length: n }, (_, i) => ({ name: 'view', userId: `u${i % 7}`, ip: '198.51.100.23' })));
  return (await device.tracking.outbox.take(1000)).events;
}

const post = (body, headers = { authorization: `Bearer ${KEY}` }) =>
  fetch(`${base}/collect`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
const entries = async () => (await client.xLen(`${prefix}:{p0}:events`)) + (await client.xLen(`${prefix}:{p1}:events`));

test('a good batch is 202 with a result per event, once Redis holds them', async () => {
  const batch = await events(10);
  const before = await entries();
  const res = await post(JSON.stringify({ batchId: 'b1', events: batch }));
  assert.equal(res.status, 202);
  const { results } = await res.json();
  assert.equal(results.length, 10);
  assert.ok(results.every((r) => r.status === 'accepted' && r.partition >= 0 && r.partition < 2));
  assert.equal((await entries()) - before, 10);
  // The IP was masked at the device, and is masked again here either way.
  const stored = await client.xRange(`${prefix}:{p${results[0].partition}}:events`, '-', '+');
  assert.ok(stored.every((e) => !e.message.d.includes('198.51.100.23')));
});

test('bad input gets a clear HTTP error, and nothing half-written', async () => {
  const batch = await events(3);
  const before = await entries();
  const cases = [
    ['no key', () => post(JSON.stringify({ events: batch }), {}), 401],
    ['a wrong key', () => post(JSON.stringify({ events: batch }), { authorization: 'Bearer sixteen-chars-key-0124' }), 401],
    ['a wrong key in x-write-key', () => post(JSON.stringify({ events: batch }), { 'x-write-key': 'x'.repeat(10_000) }), 401],
    ['malformed JSON', () => post('{"events": ['), 400],
    ['not an object', () => post('[1, 2, 3]'), 400],
    ['events not a list', () => post(JSON.stringify({ events: 'all of them' })), 400],
    ['an unknown field', () => post(JSON.stringify({ events: batch, sneaky: true })), 400],
    ['a body over 64 KiB', () => post(JSON.stringify({ events: batch, batchId: 'x'.repeat(70_000) })), 413],
    ['51 events', () => post(JSON.stringify({ events: Array(51).fill(batch[0]) })), 413],
    ['a GET', () => fetch(`${base}/collect`), 405],
    ['invalid UTF-8', () => post(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])), 400],
  ];
  for (const [what, send, status] of cases) {
    const res = await send();
    assert.equal(res.status, status, what);
    const body = await res.json();
    assert.equal(typeof body.error.code, 'string', what);
  }
  assert.equal(await entries(), before, 'nothing was appended');
});

test('bad events are refused one by one; the good ones go through', async () => {
  const [good] = await events(1);
  const res = await post(JSON.stringify({
    events: [
      good,
      { ...good, eventId: 'not-a-uuid' },
      { ...good, eventId: crypto.randomUUID(), ts: -5 },
      { ...good, eventId: crypto.randomUUID(), name: 42 },
      { ...good, eventId: crypto.randomUUID(), type: "'; DROP TABLE events; --" },
      { ...good, eventId: crypto.randomUUID(), sampleRate: 7 },
      { ...good, eventId: crypto.randomUUID(), extra: 'field' },
      'not an event',
    ],
  }));
  assert.equal(res.status, 202);
  const { results } = await res.json();
  assert.deepEqual(results.map((r) => r.status), ['accepted', 'rejected', 'rejected', 'rejected', 'rejected', 'rejected', 'rejected', 'rejected']);
  assert.deepEqual(results.slice(1).map((r) => r.error.code), Array(7).fill('INVALID_INPUT'));
  assert.match(results[1].error.field, /^events\[1\]\.eventId$/);
});

test('a slow body (slow-loris) is cut at the timeout, and others are served meanwhile', async () => {
  const socket = tcp(server.address().port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(`POST /collect HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"ev`);
  // The collector still answers others while that body dribbles.
  const batch = await events(2);
  assert.equal((await post(JSON.stringify({ events: batch }))).status, 202);
  const reply = await new Promise((resolve) => {
    let data = '';
    socket.on('data', (d) => {
      data += d;
      if (data.includes('\r\n\r\n')) resolve(data);
    });
    socket.on('close', () => resolve(data));
  });
  socket.destroy();
  assert.match(reply, /^HTTP\/1\.1 408/);
});

test('options are checked; the Hono and fetch adapters answer the same', async () => {
  assert.throws(() => collector(hub, { writeKey: KEY }), (e) => e instanceof UserTrailError && e.code === 'INVALID_INPUT' && e.field === 'writeKey');
  assert.throws(() => collector(hub, { writeKeys: ['short'] }), /16 characters/);
  assert.throws(() => collector(hub, { maxEvents: 20_000 }), /maxEvents/);
  const app = new Hono();
  app.post('/c', honoCollector(hub));
  const batch = await events(1);
  const res = await app.request('/c', { method: 'POST', body: JSON.stringify({ events: batch }) });
  assert.equal(res.status, 202);
  const handle = collector(hub);
  assert.equal((await handle(new Request('http://x/', { method: 'POST', body: 'nope' }))).status, 400);
});

test('while Redis is down the collector answers 503, and takes the batch again afterwards', async () => {
  const down = await RedisServer.start();
  const c = await createClient({ url: down.url, disableOfflineQueue: true, socket: { reconnectStrategy: () => 50 } }).on('error', () => {}).connect();
  const trail = await UserTrail.open({ shared: redisStore(c, { prefix: 'down', timeoutMs: 300 }) });
  const handle = collector(trail);
  const batch = JSON.stringify({ events: await events(3) });
  await down.kill9();
  const during = await handle(new Request('http://x/', { method: 'POST', body: batch }));
  assert.equal(during.status, 503);
  assert.equal(during.headers.get('retry-after'), '1');
  await down.restart();
  let res;
  for (let i = 0; i < 50; i++) {
    res = await handle(new Request('http://x/', { method: 'POST', body: batch }));
    if (res.status === 202) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(res.status, 202);
  await c.disconnect().catch(() => {});
  await down.stop();
});

// Issue 26, finding 8: behind express.json() (as most apps mount it), the
// collector uses the body the parser read; it used to wait for a stream
// that had already been read and answer 408 "the body did not arrive".
test('behind a body parser the collector uses the parsed body, or says plainly why it cannot', async () => {
  const app = express();
  app.use('/json', express.json({ limit: '1mb' }));
  app.use('/text', express.text({ type: '*/*' }));
  app.use('/form', express.urlencoded({ extended: false }));
  for (const path of ['/json', '/text', '/form', '/plain']) app.post(path, expressCollector(hub, { bodyTimeoutMs: 300 }));
  const srv = createServer(app);
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const at = `http://127.0.0.1:${srv.address().port}`;
  try {
    const batch = JSON.stringify({ events: await events(2) });
    for (const path of ['/json', '/text', '/plain']) {
      const started = Date.now();
      const res = await fetch(`${at}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: batch });
      assert.equal(res.status, 202, path);
      assert.ok(Date.now() - started < 250, `${path} answered at once`);
      assert.deepEqual((await res.json()).results.map((r) => r.status), ['accepted', 'accepted']);
    }
    const form = await fetch(`${at}/form`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'events=1' });
    assert.equal(form.status, 400);
    assert.match((await form.json()).error.message, /mount expressCollector before it/);
    // A parsed body still counts against maxBodyBytes.
    const small = express();
    small.use(express.json({ limit: '5mb' }));
    small.post('/c', expressCollector(hub, { maxBodyBytes: 1024 }));
    const s2 = createServer(small);
    s2.listen(0, '127.0.0.1');
    await once(s2, 'listening');
    const big = await fetch(`http://127.0.0.1:${s2.address().port}/c`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ events: await events(20) }) });
    assert.equal(big.status, 413);
    s2.close();
  } finally {
    srv.close();
  }
});

// Issue 26, finding 6: a 503 does not mean nothing was appended (a command
// already sent to a paused Redis runs when it wakes). The documented
// contract is that a resend is harmless: every event ends up stored once.
test('a batch answered 503 while Redis was paused, then resent, is stored once', async () => {
  const paused = await RedisServer.start();
  const c = await createClient({ url: paused.url, disableOfflineQueue: true, socket: { reconnectStrategy: () => 50 } }).on('error', () => {}).connect();
  const p = 'paused';
  const trail = await UserTrail.open({ shared: redisStore(c, { prefix: p, timeoutMs: 200 }), tracking: { pipeline: { partitions: 1 } } });
  const handle = collector(trail);
  const sent = await events(5);
  const batch = JSON.stringify({ events: sent });
  const stop = (sig) => process.kill(paused.pid, sig);
  stop('SIGSTOP');
  const during = await handle(new Request('http://x/', { method: 'POST', body: batch }));
  assert.equal(during.status, 503);
  stop('SIGCONT');
  // What the paused server then ran, it ran: the stream may hold the batch.
  let res;
  for (let i = 0; i < 50; i++) {
    res = await handle(new Request('http://x/', { method: 'POST', body: batch }));
    if (res.status === 202) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(res.status, 202);
  const appended = await c.xLen(`${p}:{p0}:events`);
  assert.ok(appended === 5 || appended === 10, `${appended} entries`);
  // A partition stores each event once, however many times it was appended.
  const part = await UserTrail.open({ shared: redisStore(c, { prefix: p }), tracking: { pipeline: { partitions: 1 } } });
  await part.pipeline.consume(0, { max: 100 });
  assert.equal(await part.tracking.count({ userId: 'u0' }) + await part.tracking.count({ userId: 'u1' }) + await part.tracking.count({ userId: 'u2' }) + await part.tracking.count({ userId: 'u3' }) + await part.tracking.count({ userId: 'u4' }), 5);
  await c.disconnect().catch(() => {});
  await paused.stop();
});
