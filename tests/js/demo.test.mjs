// The demo in headless Chromium: the package's one import in a browser
// dedicated worker, OPFS persistence across a reload, and a second tab.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { SCHEMA_VERSION } from './schema.mjs';

const { serve } = await import(join(process.env.ROOT, 'www', 'serve.mjs'));

let server;
let context;
let base;

before(async () => {
  server = await serve(0);
  base = `http://127.0.0.1:${server.address().port}/`;
  context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'usertrail-chromium-')), {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
});

after(async () => {
  await context?.close();
  server?.close();
});

async function ready(page) {
  await page.waitForSelector('#status[data-state="ready"]', { timeout: 20_000 });
  return page.evaluate(() => ({
    persistent: document.getElementById('status').dataset.persistent === 'true',
    schema: document.getElementById('schema').textContent,
    createdAt: Number(document.getElementById('created').dataset.ms),
    reason: document.getElementById('reason').dataset.code ?? null,
  }));
}

test('the demo opens the engine on OPFS, and it persists across a reload', async () => {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(base);
  const first = await ready(page);
  assert.deepEqual({ ...first, createdAt: undefined }, { persistent: true, schema: String(SCHEMA_VERSION), createdAt: undefined, reason: null });
  assert.ok(first.createdAt > 0);

  await page.reload();
  const again = await ready(page);
  assert.equal(again.persistent, true);
  assert.equal(again.createdAt, first.createdAt, 'the reopened database is the same one');
  assert.deepEqual(errors, []);

  // While this tab holds the pool, a second tab gets BUSY, and says so.
  const second = await context.newPage();
  await second.goto(base);
  const other = await ready(second);
  assert.equal(other.persistent, false);
  assert.equal(other.reason, 'BUSY');
  assert.match(await second.textContent('#storage'), /not persistent/);
  await second.close();
  await page.close();
});

test('the database downloads as an SQLite file', async () => {
  const page = await context.newPage();
  await page.goto(base);
  await ready(page);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  const chunks = [];
  for await (const chunk of await download.createReadStream()) chunks.push(chunk);
  const bytes = Buffer.concat(chunks);
  assert.equal(bytes.subarray(0, 15).toString(), 'SQLite format 3');
  await page.close();
});

test('in a page, the Tracker flushes when the page is hidden or left', async () => {
  const page = await context.newPage();
  await page.goto(base);
  const counts = await page.evaluate(async () => {
    const { Tracker, UserTrail } = await import('/pkg/index.js');
    const trail = await UserTrail.open({ storage: 'memory' });
    const tracker = new Tracker(trail, { flushIntervalMs: 3_600_000, maxBatch: 1000 });
    const count = () => trail.tracking.count({ userId: 'u' });
    tracker.track({ name: 'a', userId: 'u' });
    tracker.track({ name: 'b', userId: 'u' });
    const settle = () => new Promise((r) => setTimeout(r, 0)); // lets the flush's promise run
    const before = count();
    Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
    document.dispatchEvent(new Event('visibilitychange'));
    const pendingWhenHidden = tracker.pending;
    await settle();
    const hidden = count();
    tracker.track({ name: 'c', userId: 'u' });
    window.dispatchEvent(new PageTransitionEvent('pagehide'));
    const pendingWhenLeft = tracker.pending;
    await settle();
    return { before, pendingWhenHidden, hidden, pendingWhenLeft, left: count() };
  });
  assert.deepEqual(counts, { before: 0, pendingWhenHidden: 0, hidden: 2, pendingWhenLeft: 0, left: 3 });
  await page.close();
});
