// The demo's dashboard on OPFS in headless Chromium, at 1M events (part of
// the scale section of `./build.sh bench`): the demo's own sample worker
// tracks about 1M events into the page's OPFS database, then the dashboard
// is opened again in a new tab and timed from navigation to its first
// render (every tile and chart drawn: `#dashboard[data-updated]`), twice.
// Prints the figures and writes target/bench/dashboard-opfs.json.
//
// Usage: node bench/dashboard-opfs.mjs   (after ./build.sh build)
// Env: DASHBOARD_EVENTS (default 1000000), CHROMIUM (default /usr/bin/chromium).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const { serve } = await import(resolve('www/serve.mjs'));
const EVENTS = Number(process.env.DASHBOARD_EVENTS ?? 1_000_000);
// A person's Chrome: headless Chromium's own user agent is classed as a bot.
const PERSON = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const log = (m) => console.log(`  ${new Date().toISOString().slice(11, 19)} ${m}`);

const server = await serve(0);
const base = `http://127.0.0.1:${server.address().port}/`;
const dir = mkdtempSync(join(tmpdir(), 'usertrail-bench-dashboard-'));
const context = await chromium.launchPersistentContext(dir, {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', `--user-agent=${PERSON}`],
});
try {
  const page = await context.newPage();
  await page.goto(`${base}#/dashboard`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
  await page.waitForSelector('#dashboard[data-updated]', { timeout: 60_000 });
  log(`generating about ${EVENTS.toLocaleString('en-US')} events in the page's OPFS database`);
  await page.evaluate((n) => {
    document.querySelector('#generate').dataset.events = String(n);
  }, EVENTS);
  await page.click('#generate');
  await page.waitForSelector('#sample-status[data-done]', { timeout: 30 * 60_000 });
  const sample = JSON.parse(await page.getAttribute('#sample-status', 'data-result'));
  log(`tracked ${sample.tracked.toLocaleString('en-US')} events in ${(sample.ms / 1000).toFixed(1)} s`);
  await page.waitForFunction(() => Number(document.querySelector('#dashboard')?.dataset.updated) > 0);
  await page.close();

  const renders = [];
  for (let i = 0; i < 2; i++) {
    // A new tab: the engine opens the OPFS database afresh (a cold read).
    const tab = await context.newPage();
    await tab.goto(`${base}#/dashboard`);
    await tab.waitForSelector('#dashboard[data-updated]', { timeout: 10 * 60_000 });
    const r = await tab.evaluate(() => {
      const d = document.querySelector('#dashboard').dataset;
      return {
        firstRenderMs: Number(d.updated) - performance.timeOrigin,
        queriesMs: Number(d.updated) - Number(d.updatedFrom),
        events: Number(document.querySelector('#tile-events')?.dataset.value ?? NaN),
      };
    });
    renders.push(r);
    log(`render ${i + 1}: first render ${r.firstRenderMs.toFixed(0)} ms after navigation (its queries ${r.queriesMs.toFixed(0)} ms)`);
    await tab.close();
  }
  const result = { at: new Date().toISOString(), events: sample.tracked, sample, renders };
  console.table(renders.map((r, i) => ({ tab: i + 1, 'first render ms': r.firstRenderMs.toFixed(0), 'queries ms': r.queriesMs.toFixed(0) })));
  mkdirSync('target/bench', { recursive: true });
  writeFileSync('target/bench/dashboard-opfs.json', JSON.stringify(result, null, 2));
  console.log('written: target/bench/dashboard-opfs.json');
} finally {
  await context.close();
  server.close();
  rmSync(dir, { recursive: true, force: true });
}
