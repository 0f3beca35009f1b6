// The fetch-shaped handlers on Node's http through toNodeListener and
// nodeCollector, with a real Redis: docs/PIPELINE.md's one-script pipeline
// run as written; the partition handler's and the collector's answers; the
// coordinator's and the shipper's failures as UserTrailErrors with stable
// codes; a session-wrapped handler with the socket's address.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { UserTrail, UserTrailError } from 'usertrail';
import { collector, nodeCollector, toNodeListener as collectorListener } from 'usertrail/collector';
import { sessionMiddleware, toNodeListener as middlewareListener } from 'usertrail/middleware';
import { acrossPartitions, partitionHandler, ship, toNodeListener } from 'usertrail/pipeline';
import { redisStore } from 'usertrail/redis';
import { RedisServer, createClient, freePort } from './redis-server.mjs';

let redis;
let client;
before(async () => {
  redis = await RedisServer.start();
  client = await createClient({ url: redis.url }).on('error', () => {}).connect();
});
after(async () => {
  await client.quit();
  await redis.stop();
});

async function listen(listener) {
  const server = createServer(listener);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `http://127.0.0.1:${server.address().port}` };
}

const post = (url, body, headers = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });

/** `fn` rejects with a UserTrailError; returns it. */
async function failure(fn) {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof UserTrailError, `not a UserTrailError: ${err?.stack ?? err}`);
    return err;
  }
  assert.fail('it did not fail');
}

test("docs/PIPELINE.md's one-script pipeline runs as written", async () => {
  const doc = readFileSync(join(process.env.ROOT, 'docs/PIPELINE.md'), 'utf8');
  const block = doc.match(/## Every stage in one Node script\n[\s\S]*?```js\n([\s\S]*?)```/)?.[1];
  assert.ok(block, 'no js block under "## Every stage in one Node script"');
  const file = new URL('./pipeline-example.mjs', import.meta.url);
  writeFileSync(file, block);
  const { stdout } = await promisify(execFile)(process.execPath, [file.pathname], {
    env: { ...process.env, REDIS_URL: redis.url },
    timeout: 60_000,
  });
  assert.equal(stdout, 'queued 7 events\nleft to send 0\nview: 3, add_to_cart: 3, purchase: 1\n');
});

test("docs/PIPELINE.md's workers and coordinator run as written: a worker killed with -9, the coordinator answers whole", { timeout: 120_000 }, async () => {
  const doc = readFileSync(join(process.env.ROOT, 'docs/PIPELINE.md'), 'utf8');
  const section = doc.match(/## Workers that fail over by themselves\n([\s\S]*?)\n### Operations/)?.[1] ?? '';
  const [worker, coordinator] = [...section.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.ok(worker && coordinator, 'two js blocks under "## Workers that fail over by themselves"');
  const workerFile = new URL('./docs-worker.mjs', import.meta.url);
  const coordinatorFile = new URL('./docs-coordinator.mjs', import.meta.url);
  writeFileSync(workerFile, worker);
  writeFileSync(coordinatorFile, coordinator);
  const own = await RedisServer.start();
  const data = mkdtempSync(join(tmpdir(), 'ut-docs-workers-'));
  const env = { ...process.env, REDIS_URL: own.url, DATA_DIR: data, PORT: '0' };
  const workers = ['a', 'b'].map((name) => spawn(process.execPath, [workerFile.pathname], { env: { ...env, WORKER_NAME: name }, stdio: ['ignore', 'pipe', 'inherit'] }));
  const ask = async () => (await promisify(execFile)(process.execPath, [coordinatorFile.pathname], { env, timeout: 30_000 })).stdout;
  const until = async (want) => {
    for (let i = 0; i < 200; i++) {
      const out = await ask().catch(() => '');
      if (out.includes(want)) return out;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail(`the coordinator never printed ${want}`);
  };
  const redisOwn = await createClient({ url: own.url }).on('error', () => {}).connect();
  try {
    await until('held: 4 of 4');
    // Three events into the streams, as a collector appends them.
    const hub = await UserTrail.open({ shared: redisStore(redisOwn), tracking: { pipeline: { partitions: 4 } } });
    const device = await UserTrail.open({ tracking: { outbox: true } });
    for (const userId of ['ann', 'bob', 'cy']) await device.tracking.track({ name: 'view', userId });
    const batch = await device.tracking.outbox.take(10);
    await hub.pipeline.collect(batch.events);
    // (A partition may be between holders for a moment while the workers
    // rebalance: the query waits for it, the count of holders does not.)
    assert.match(await until('events: 3'), /^held: [0-4] of 4\nevents: 3\n$/);
    // Kill -9 a worker: the coordinator's next answer waits for the
    // standbys to take its partitions over, and is whole.
    workers[0].kill('SIGKILL');
    await once(workers[0], 'exit');
    const started = Date.now();
    const during = await ask();
    assert.match(during, /\nevents: 3\n$/, 'whole, after waiting for the new holders');
    assert.ok(Date.now() - started < 15_000);
    // SIGTERM: the worker gives its leases up and exits by itself.
    workers[1].kill('SIGTERM');
    const [code] = await once(workers[1], 'exit');
    assert.equal(code, 0);
    await Promise.all([hub.close(), device.close()]);
  } finally {
    for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
    await redisOwn.quit();
    await own.stop();
    rmSync(data, { recursive: true, force: true });
  }
});

test("docs/PIPELINE.md's collectors behind one port run as written: two processes, every event in the streams once", { timeout: 60_000 }, async () => {
  const doc = readFileSync(join(process.env.ROOT, 'docs/PIPELINE.md'), 'utf8');
  const block = doc.match(/## Collectors that scale out\n[\s\S]*?```js\n([\s\S]*?)```/)?.[1];
  assert.ok(block, 'a js block under "## Collectors that scale out"');
  const file = new URL('./docs-collectors.mjs', import.meta.url);
  writeFileSync(file, block);
  const own = await RedisServer.start();
  const key = 'a-write-key-of-16+chars';
  const child = spawn(process.execPath, [file.pathname], { env: { ...process.env, REDIS_URL: own.url, COLLECTORS: '2', PORT: '0', WRITE_KEY: key }, stdio: ['ignore', 'pipe', 'inherit'] });
  const redisOwn = await createClient({ url: own.url }).on('error', () => {}).connect();
  try {
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    for (let i = 0; i < 200 && (out.match(/on port/g) ?? []).length < 2; i++) await new Promise((r) => setTimeout(r, 50));
    const lines = [...out.matchAll(/collector (\d+) on port (\d+)/g)];
    assert.equal(lines.length, 2, out);
    assert.notEqual(lines[0][1], lines[1][1], 'two processes');
    assert.equal(lines[0][2], lines[1][2], 'one port');
    const url = `http://127.0.0.1:${lines[0][2]}/collect`;
    // 20 batches on fresh connections: the primary spreads them.
    const device = await UserTrail.open({ tracking: { outbox: true } });
    await device.tracking.trackBatch(Array.from({ length: 200 }, (_, i) => ({ name: 'view', userId: `u${i}` })));
    for (let b = 0; b < 20; b++) {
      const batch = await device.tracking.outbox.take(10);
      const res = await post(url, { events: batch.events }, { authorization: `Bearer ${key}`, connection: 'close' });
      assert.equal(res.status, 202);
      await res.arrayBuffer();
      await device.tracking.outbox.ack(batch.batchId);
    }
    let stored = 0;
    for (let p = 0; p < 4; p++) stored += await redisOwn.xLen(`ut:{p${p}}:events`);
    assert.equal(stored, 200);
    assert.equal((await redisOwn.clientList()).filter((c) => c.cmd !== 'client').length >= 2, true, 'both collectors hold a connection to Redis');
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    assert.equal(code, 0, 'the primary and its collectors exit by themselves');
    await device.close();
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await redisOwn.quit();
    await own.stop();
  }
});

test('toNodeListener is one function, exported where the handlers are', () => {
  assert.equal(collectorListener, toNodeListener);
  assert.equal(middlewareListener, toNodeListener);
  for (const bad of [undefined, 'handler', {}]) {
    assert.throws(() => toNodeListener(bad), (e) => e instanceof UserTrailError && e.code === 'INVALID_INPUT' && e.field === 'handler');
  }
});

test('a partition handler on node:http answers typed errors; the coordinator throws them as UserTrailErrors naming the partition', async () => {
  const part = await UserTrail.open({ shared: redisStore(client, { prefix: 'nh-part' }), tracking: { pipeline: { partitions: 1 } } });
  await part.tracking.track({ name: 'view', userId: 'ann' });
  const { server, url } = await listen(toNodeListener(partitionHandler(part)));
  const hub = await UserTrail.open();
  try {
    const get = await fetch(`${url}/partial`);
    assert.equal(get.status, 405);
    assert.equal((await get.json()).error.code, 'METHOD_NOT_ALLOWED');
    const elsewhere = await post(`${url}/nothing`, {});
    assert.deepEqual([elsewhere.status, (await elsewhere.json()).error.code], [404, 'NOT_FOUND']);
    const notJson = await post(`${url}/partial`, '{nope');
    assert.deepEqual([notJson.status, (await notJson.json()).error], [400, { code: 'INVALID_INPUT', message: 'the body is not JSON', field: 'body' }]);
    const ok = await post(`${url}/partial`, { query: 'summary', options: {} });
    assert.equal(ok.status, 200);
    assert.equal((await ok.json()).query, 'summary');

    const across = acrossPartitions([url], hub);
    assert.equal((await across.query('summary')).events, 1);
    // Finding 3: the error has a code, names the partition apart from its
    // message, and the list of mergeable queries includes experimentResults.
    const bad = await failure(() => across.query('journeys'));
    assert.equal(bad.code, 'INVALID_INPUT');
    assert.equal(bad.field, 'query');
    assert.equal(bad.partition, url);
    assert.equal(bad.status, 400);
    assert.match(bad.message, /experimentResults/);
    assert.doesNotMatch(bad.message, /\d+partial/, 'the URL is not run into the text');
    const badOption = await failure(() => across.query('summary', { since: 'yesterday' }));
    assert.deepEqual([badOption.code, badOption.status], ['INVALID_INPUT', 400]);

    // A partition that cannot be reached, and one that does not answer.
    const closed = `http://127.0.0.1:${await freePort()}`;
    const unreachable = await failure(() => acrossPartitions([url, closed], hub).query('summary'));
    assert.deepEqual([unreachable.code, unreachable.partition], ['UNREACHABLE', closed]);
    const silent = await listen(() => {}); // never answers
    const late = await failure(() => acrossPartitions([silent.url], hub, { timeoutMs: 200 }).query('summary'));
    assert.deepEqual([late.code, late.partition], ['TIMEOUT', silent.url]);
    silent.server.closeAllConnections();
    silent.server.close();
    const broken = await listen((req, res) => res.writeHead(502).end('<html>bad gateway</html>'));
    const gateway = await failure(() => acrossPartitions([broken.url], hub).query('summary'));
    assert.deepEqual([gateway.code, gateway.status], ['INTERNAL', 502]);
    broken.server.close();

    for (const [urls, options, field] of [
      [[], {}, 'urls'],
      ['http://x', {}, 'urls'],
      [[url], { timeout: 5 }, 'timeout'],
      [[url], { timeoutMs: 0 }, 'timeoutMs'],
      [[url], null, 'options'],
    ]) {
      assert.throws(() => acrossPartitions(urls, hub, options), (e) => e instanceof UserTrailError && e.code === 'INVALID_INPUT' && e.field === field, field);
    }
  } finally {
    server.close();
    await part.close();
    await hub.close();
  }
});

test('nodeCollector on node:http: 202 with results, 401, 413 closing the connection', async () => {
  const hub = await UserTrail.open({ shared: redisStore(client, { prefix: 'nh-collect' }), tracking: { pipeline: { partitions: 2 } } });
  const KEY = 'node-handlers-key-0123';
  const { server, url } = await listen(nodeCollector(hub, { writeKeys: [KEY], maxBodyBytes: 2048 }));
  try {
    const event = { eventId: '0194c2b1-0000-7000-8000-000000000001', ts: Date.now(), type: 'action', name: 'view', userId: 'ann' };
    const ok = await post(url, { events: [event, { ...event, eventId: 'nope' }] }, { authorization: `Bearer ${KEY}` });
    assert.equal(ok.status, 202);
    const { results } = await ok.json();
    assert.equal(results[0].status, 'accepted', JSON.stringify(results));
    assert.deepEqual([results[1].status, results[1].error.code], ['rejected', 'INVALID_INPUT']);
    const nokey = await post(url, { events: [event] });
    assert.deepEqual([nokey.status, (await nokey.json()).error.code], [401, 'UNAUTHORIZED']);
    const big = await post(url, { events: [{ ...event, properties: { pad: 'x'.repeat(4000) } }] }, { authorization: `Bearer ${KEY}` });
    assert.equal(big.status, 413);
    assert.equal(big.headers.get('connection'), 'close');
    assert.equal((await big.json()).error.code, 'PAYLOAD_TOO_LARGE');
    // The same through toNodeListener(collector(…)).
    const same = await listen(toNodeListener(collector(hub)));
    const r = await post(same.url, { events: [{ ...event, eventId: '0194c2b1-0000-7000-8000-000000000002' }] });
    assert.equal(r.status, 202);
    same.server.close();
  } finally {
    server.close();
    await hub.close();
  }
});

test('the shipper reports a UserTrailError: UNREACHABLE, or the collector\'s code and status', async () => {
  const device = await UserTrail.open({ tracking: { outbox: true } });
  await device.tracking.track({ name: 'view', userId: 'ann' });
  const hub = await UserTrail.open({ shared: redisStore(client, { prefix: 'nh-ship' }), tracking: { pipeline: { partitions: 1 } } });
  const { server, url } = await listen(nodeCollector(hub, { writeKeys: ['the-right-key-0123456'] }));
  try {
    const until = async (list) => {
      for (let i = 0; i < 200 && list.length === 0; i++) await new Promise((r) => setTimeout(r, 25));
      return list[0];
    };
    const closed = `http://127.0.0.1:${await freePort()}/`;
    const downErrors = [];
    const down = ship(device, { url: closed, onError: (e) => downErrors.push(e) });
    const err = await until(downErrors);
    await down.stop();
    assert.ok(err instanceof UserTrailError, String(err));
    assert.equal(err.code, 'UNREACHABLE');
    const stats = await device.tracking.outbox.stats();
    assert.equal(stats.queued + stats.leased, 1, 'kept for later');

    const other = await UserTrail.open({ tracking: { outbox: true } });
    await other.tracking.track({ name: 'view', userId: 'bob' });
    const seen = [];
    const refused = ship(other, { url, headers: { authorization: 'Bearer wrong-key-0123456789' }, onError: (e) => seen.push(e) });
    const final = await until(seen);
    await refused.stop();
    await other.close();
    assert.ok(final instanceof UserTrailError, String(final));
    assert.deepEqual([final.code, final.status], ['UNAUTHORIZED', 401]);

    for (const [options, field] of [
      [{ url, maxBatch: 0 }, 'maxBatch'],
      [{ url, intervalMs: -1 }, 'intervalMs'],
      [{ url, onError: 'log' }, 'onError'],
      [{ url: 'ftp://x' }, 'url'],
      [{ url, retries: 3 }, 'retries'],
    ]) {
      assert.throws(() => ship(device, options), (e) => e instanceof UserTrailError && e.code === 'INVALID_INPUT' && e.field === field, field);
    }
  } finally {
    server.close();
    await device.close();
    await hub.close();
  }
});

test('a session-wrapped handler on node:http: the socket address reaches clientIp, each cookie is its own header, a throw is a 500 with a code', async () => {
  const trail = await UserTrail.open();
  const handle = sessionMiddleware(trail, { secure: false, clientIp: (_request, info) => info.remoteAddress })(async (request, { session }) => {
    if (new URL(request.url).pathname === '/throw') throw new UserTrailError('CONFLICT', 'on purpose');
    await session.set('n', 1);
    const headers = new Headers({ 'content-type': 'application/json' });
    headers.append('set-cookie', 'other=1; Path=/');
    return new Response(JSON.stringify({ ip: session.record.client.ip }), { headers });
  });
  const { server, url } = await listen(toNodeListener(handle));
  const odd = await listen(toNodeListener(async () => 'not a response'));
  try {
    const res = await fetch(url);
    assert.deepEqual(await res.json(), { ip: '127.0.0.0' }, 'the socket address, masked');
    const cookies = res.headers.getSetCookie();
    assert.equal(cookies.length, 2);
    assert.ok(cookies.some((c) => c.startsWith('ut.sid=')) && cookies.includes('other=1; Path=/'));
    const thrown = await fetch(`${url}/throw`);
    assert.deepEqual([thrown.status, (await thrown.json()).error.code], [500, 'CONFLICT']);
    const notResponse = await fetch(odd.url);
    assert.deepEqual([notResponse.status, (await notResponse.json()).error.code], [500, 'INTERNAL']);
  } finally {
    server.close();
    odd.server.close();
    await trail.close();
  }
});

test('toNodeListener holds up: a cancelled body, a handler that waits before reading, a client that leaves, odd targets and methods', async () => {
  const { request: httpRequest } = await import('node:http');
  const { Agent } = await import('node:http');
  let peak = 0;
  const { server, url } = await listen(
    toNodeListener(async (request) => {
      const path = new URL(request.url).pathname;
      if (path === '/cancel') {
        await request.body.cancel();
        return new Response('no thanks', { status: 415 });
      }
      if (path === '/slow') {
        await new Promise((r) => setTimeout(r, 500)); // an auth check, say, before the body is read
        peak = process.memoryUsage().arrayBuffers;
        await request.body.cancel();
        return new Response('later', { status: 413 });
      }
      if (path === '/stream') {
        let n = 0;
        const body = new ReadableStream({
          pull(c) {
            n++;
            c.enqueue(new Uint8Array(1 << 20));
          },
          cancel() {
            body.cancelled = true;
          },
        });
        globalThis.__stream = { body, pulled: () => n };
        return new Response(body);
      }
      return Response.json({ url: request.url, method: request.method });
    }),
  );
  try {
    // A keep-alive connection whose chunked body the handler cancelled: the server lives on.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const post = (path, bytes) =>
      new Promise((resolve, reject) => {
        const req = httpRequest(`${url}${path}`, { method: 'POST', agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode));
        });
        req.on('error', reject);
        for (let i = 0; i < bytes / 65536; i++) req.write(Buffer.alloc(65536));
        req.end();
      });
    assert.equal(await post('/cancel', 4 << 20), 415);
    assert.equal((await fetch(`${url}/after`)).status, 200, 'still serving');
    agent.destroy();

    // 200 MB from another process to a handler that waits: what is read ahead stays small.
    const before = process.memoryUsage().arrayBuffers;
    const sender = `
      const req = require('node:http').request(process.argv[1], { method: 'POST' }, (res) => { console.log(res.statusCode); process.exit(0); });
      req.on('error', () => { console.log('closed'); process.exit(0); });
      const chunk = Buffer.alloc(1 << 20);
      (async () => { for (let i = 0; i < 200; i++) if (!req.write(chunk)) await new Promise((r) => req.once('drain', r)); req.end(); })();`;
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', sender, `${url}/slow`], { timeout: 30_000 });
    assert.match(stdout, /413|closed/);
    assert.ok(peak - before < 16 << 20, `read ahead ${(peak - before) >> 20} MB`);

    // A client that leaves mid-download: the body is cancelled, nothing keeps pulling.
    const ac = new AbortController();
    const res = await fetch(`${url}/stream`, { signal: ac.signal });
    const reader = res.body.getReader();
    await reader.read();
    ac.abort();
    for (let i = 0; i < 100 && !globalThis.__stream.body.cancelled; i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(globalThis.__stream.body.cancelled, 'the response body was cancelled');

    const raw = async (text) => {
      const { connect } = await import('node:net');
      const socket = connect(new URL(url).port, '127.0.0.1');
      socket.write(text);
      let out = '';
      for await (const chunk of socket) out += chunk;
      return out;
    };
    assert.match(await raw('GET http://evil.example/p?q=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'), /"url":"http:\/\/a\/p\?q=1"/);
    assert.match(await raw('GET / HTTP/1.1\r\nHost: u@evil\r\nConnection: close\r\n\r\n'), /^HTTP\/1.1 400[\s\S]*INVALID_INPUT/);
    assert.match(await raw('TRACE / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'), /^HTTP\/1.1 405[\s\S]*METHOD_NOT_ALLOWED/);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test('the coordinator checks what partitions answer: shapes, redirects, slow bodies, not-found', async () => {
  const routes = {
    '/null/partial': (res) => res.writeHead(200, { 'content-type': 'application/json' }).end('null'),
    '/other/partial': (res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"query":"funnel"}'),
    '/moved/partial': (res) => res.writeHead(307, { location: 'http://127.0.0.1:1/stolen' }).end(),
    '/gone/partial': (res) => res.writeHead(404, { 'content-type': 'text/plain' }).end('no such page'),
    '/drip/partial': (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"query":');
      setTimeout(() => res.end('"summary"}'), 1500);
    },
  };
  const { server, url } = await listen((req, res) => (routes[req.url] ? routes[req.url](res) : res.writeHead(500).end()));
  const hub = await UserTrail.open();
  try {
    for (const [path, code, status] of [
      ['null', 'STORAGE_ERROR', 200],
      ['other', 'STORAGE_ERROR', 200],
      ['moved', 'INTERNAL', 307],
      ['gone', 'NOT_FOUND', 404],
      ['drip', 'TIMEOUT'],
    ]) {
      const err = await failure(() => acrossPartitions([`${url}/${path}/`], hub, { timeoutMs: 700 }).query('summary'));
      assert.deepEqual([err.code, err.partition, err.status], [code, `${url}/${path}/`, status], path);
    }
  } finally {
    server.closeAllConnections();
    server.close();
    await hub.close();
  }
});

test('the shipper keeps what the collector refuses: a 413 halves the batches, a 401 is retried, nothing is dropped', async () => {
  let posts = [];
  let mode = 'small';
  const { server, url } = await listen(async (req, res) => {
    let n = 0;
    for await (const chunk of req) n += chunk.length;
    posts.push(n);
    if (mode === 'key') return res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":{"code":"UNAUTHORIZED","message":"no"}}');
    if (n > 60_000) return res.writeHead(413, { 'content-type': 'application/json' }).end('{"error":{"code":"PAYLOAD_TOO_LARGE","message":"big"}}');
    res.writeHead(202, { 'content-type': 'application/json' }).end('{"results":[]}');
  });
  const device = await UserTrail.open({ tracking: { outbox: { cap: 10_000 } } });
  try {
    for (let i = 0; i < 200; i++) await device.tracking.track({ name: 'view', userId: `u${i}`, properties: { pad: 'x'.repeat(1000) } });
    const errors = [];
    const shipper = ship(device, { url, maxBatch: 200, intervalMs: 50, onError: (e) => errors.push(e) });
    await shipper.flush();
    await shipper.stop();
    const stats = await device.tracking.outbox.stats();
    assert.deepEqual([stats.queued, stats.leased, stats.dropped], [0, 0, 0], 'all sent, in halves, at once');
    assert.equal(errors.length, 0, 'a 413 that halving solves is not an error');
    assert.ok(posts.some((n) => n > 60_000) && posts.filter((n) => n <= 60_000).length >= 4, `halves followed: ${posts}`);
    for (let i = 0; i < 10; i++) await device.tracking.track({ name: 'view', userId: `v${i}` });

    mode = 'key';
    const before = await device.tracking.outbox.stats();
    posts = [];
    const keyErrors = [];
    const again = ship(device, { url, intervalMs: 50, onError: (e) => keyErrors.push(e) });
    for (let i = 0; i < 100 && keyErrors.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    await again.stop();
    const after = await device.tracking.outbox.stats();
    assert.equal(after.queued + after.leased, before.queued + before.leased, 'a refused key drops nothing');
    if (posts.length) assert.deepEqual([keyErrors[0].code, keyErrors[0].status], ['UNAUTHORIZED', 401]);
  } finally {
    server.close();
    await device.close();
  }
});
