// The browser end of the pipeline in headless Chromium: connect({ transport })
// ships the outbox (on OPFS) to a real collector (usertrail/collector on a
// Redis started here). Events tracked while the collector is down are kept,
// survive a page reload, and are sent once it is back; none twice.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';

import { UserTrail } from 'usertrail';
import { collector } from 'usertrail/collector';
import { redisStore } from 'usertrail/redis';
import { launchChromium, packageFile } from './chromium.mjs';
import { RedisServer, createClient } from './redis-server.mjs';

const PAGE = '<!doctype html><html lang="en"><title>usertrail pipeline test</title><body></body></html>';
const prefix = 'bp';

let redis;
let client;
let server;
let context;
let base;
let up = false; // the collector's switch
let attempts = 0;

before(async () => {
  redis = await RedisServer.start();
  client = await createClient({ url: redis.url }).on('error', () => {}).connect();
  const hub = await UserTrail.open({ shared: redisStore(client, { prefix }), tracking: { pipeline: { partitions: 2 } } });
  const collect = collector(hub);
  server = createServer(async (req, res) => {
    const path = decodeURIComponent(req.url.split('?')[0]);
    if (path === '/collect') {
      attempts++;
      // Down: the connection drops, as when the collector or the network is gone.
      if (!up) return req.socket.destroy();
      const body = await new Promise((resolve) => {
        const chunks = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', () => resolve(Buffer.concat(chunks)));
      });
      const response = await collect(new Request(`http://x${path}`, { method: req.method, headers: req.headers, body }));
      res.writeHead(response.status, { 'content-type': 'application/json' });
      return res.end(Buffer.from(await response.arrayBuffer()));
    }
    const [body, type] = path === '/' ? [PAGE, 'text/html'] : (packageFile(path) ?? [null, 'text/html']);
    res.writeHead(body === null ? 404 : 200, { 'content-type': type, 'cache-control': 'no-store' });
    res.end(body ?? 'not found');
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${server.address().port}/`;
  context = await launchChromium('ship');
});

after(async () => {
  await context?.close();
  server?.close();
  await client?.quit();
  await redis?.stop();
});

async function connected(page) {
  await page.goto(base);
  await page.evaluate(async () => {
    const { connect } = await import('/pkg/browser.js');
    window.trail = await connect({ name: 'ship', transport: { url: '/collect' } });
  });
}

async function shipped() {
  const ids = new Set();
  for (const p of [0, 1]) {
    for (const e of await client.xRange(`${prefix}:{p${p}}:events`, '-', '+')) ids.add(JSON.parse(e.message.d).eventId);
  }
  return ids;
}

test('events tracked while the collector is down are sent after it is back, across a reload', { timeout: 120_000 }, async () => {
  const page = await context.newPage();
  await connected(page);
  const ids = await page.evaluate(async () => {
    const results = await window.trail.tracking.trackBatch(
      Array.from({ length: 20 }, (_, i) => ({ name: 'offline_click', anonymousId: 'visitor-1', properties: { i } })),
    );
    return results.map((r) => r.eventId);
  });
  // The shipper tries, and fails, while the collector is down.
  const deadline = Date.now() + 10_000;
  while (attempts === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.ok(attempts > 0, 'the shipper tried');
  assert.equal((await shipped()).size, 0);
  // One read of the stats: two could count an event twice (queued at the
  // first, leased by the shipper's next try at the second).
  const queued = await page.evaluate(async () => {
    const s = await window.trail.tracking.outbox.stats();
    return s.queued + s.leased;
  });
  assert.equal(queued, 20, 'kept in the outbox');

  // A reload: the outbox is on OPFS, and the shipper starts again.
  await page.reload();
  up = true;
  await connected(page);
  const until = Date.now() + 60_000;
  let got = new Set();
  while (Date.now() < until) {
    got = await shipped();
    if (ids.every((id) => got.has(id))) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.ok(ids.every((id) => got.has(id)), `shipped ${got.size} of 20`);
  // Acked: the outbox is empty, and nothing was appended twice.
  await page.waitForFunction(async () => {
    const s = await window.trail.tracking.outbox.stats();
    return s.queued + s.leased === 0;
  }, null, { timeout: 20_000 });
  const entries = (await client.xLen(`${prefix}:{p0}:events`)) + (await client.xLen(`${prefix}:{p1}:events`));
  assert.equal(entries, 20);
  await page.close();
});
