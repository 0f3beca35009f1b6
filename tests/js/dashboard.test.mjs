// usertrail/dashboard with real parts: served by an Express app on a SQLite
// file, by one on a shared Redis (started here), and over a 4-partition
// pipeline (two worker processes, Redis streams). Each view is opened in
// real Chromium at 1280 px and on a phone, screenshots go to
// target/dashboard-screenshots/, axe-core finds no violation, no CSP
// violation is reported, and every number on the page is the engine's
// answer for the same options (for the pipeline: the answer of one engine
// holding every event). The privacy page looks a subject up, exports it and
// erases it; the subject never appears in a URL and the audit log names the
// operator. Auth, CSRF and loopback rules are checked over plain HTTP.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, request as httpRequest } from 'node:http';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { Hono } from 'hono';

import { UserTrail, uuidv7 } from 'usertrail';
import { dashboard, expressDashboard, honoDashboard, nodeDashboard, serveDashboard } from 'usertrail/dashboard';
import { acrossPartitions } from 'usertrail/pipeline';
import { redisStore } from 'usertrail/redis';
import { launchChromium } from './chromium.mjs';
import { RedisServer, createClient } from './redis-server.mjs';

const KEY = 'dashboard-test-key-0123456789';
const ROOT = process.env.ROOT ?? fileURLToPath(new URL('../..', import.meta.url));
const SHOTS = join(ROOT, 'target', 'dashboard-screenshots');
const AXE = readFileSync(join(ROOT, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
const VIEWS = ['traffic', 'pages', 'events', 'funnel', 'retention', 'paths', 'sessions', 'experiments', 'realtime', 'privacy'];
const DAY = 86_400_000;
const NOW = Date.now();
const SUBJECT = 'user-0007';

let dir;
let redis;
const closers = [];
const children = new Set();

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ut-dashboard-'));
  mkdirSync(SHOTS, { recursive: true });
  redis = await RedisServer.start();
});
after(async () => {
  for (const c of closers.reverse()) await c().catch(() => {});
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** 40 users over 20 days: page views, a shop's actions with a plan property, some in the last minutes. */
function events() {
  const out = [];
  const products = ['sencha', 'matcha', 'chai'];
  for (let u = 0; u < 40; u++) {
    const userId = `user-${String(u).padStart(4, '0')}`;
    const plan = u % 3 === 0 ? 'pro' : 'free';
    const visits = 1 + (u % 4);
    for (let v = 0; v < visits; v++) {
      let ts = NOW - (19 - ((u + v * 5) % 20)) * DAY - 3_600_000 - u * 60_000;
      if (v === 0 && u % 10 === 0) ts = NOW - 10 * 60_000 - u * 1000; // realtime
      const sessionId = `${userId}-s${v}`;
      const ev = (type, name, path, properties = {}) => {
        ts += 20_000;
        return { eventId: uuidv7(ts), ts, type, name, path, userId, sessionId, properties: { plan, ...properties } };
      };
      out.push(ev('page', 'page_view', '/'));
      const p = products[(u + v) % 3];
      out.push(ev('page', 'page_view', `/product/${p}`), ev('action', 'product_view', `/product/${p}`, { product: p }));
      if ((u + v) % 2 === 0) out.push(ev('action', 'add_to_cart', `/product/${p}`, { product: p }));
      if ((u + v) % 4 === 0) out.push(ev('page', 'page_view', '/checkout'), ev('action', 'purchase', '/checkout', { product: p }));
    }
  }
  return out;
}

/** Consent, events and an experiment in `trail`. */
async function seed(trail, { experiment = true } = {}) {
  for (let u = 0; u < 40; u++) {
    const id = `user-${String(u).padStart(4, '0')}`;
    await trail.privacy.grant(id, { purposes: u % 5 === 0 ? ['analytics'] : ['analytics', 'marketing'], source: 'test' });
    if (u % 7 === 0) await trail.privacy.withdraw(id, { purposes: ['marketing'], source: 'test' });
  }
  const results = await trail.tracking.trackBatch(events(), { partial: true });
  assert.ok(results.every((r) => r.status === 'stored'), JSON.stringify(results.find((r) => r.status !== 'stored')));
  if (experiment) {
    await trail.experiments.define({ key: 'buy_button', variants: [{ name: 'blue', weight: 1 }, { name: 'green', weight: 1 }] });
    for (let u = 0; u < 40; u++) await trail.experiments.assign('buy_button', `user-${String(u).padStart(4, '0')}`);
  }
}

/** Serves `handler` (a Node listener) on 127.0.0.1. */
async function listen(listener) {
  const server = createServer(listener);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  closers.push(() => new Promise((r) => server.close(r)));
  return `http://127.0.0.1:${server.address().port}`;
}

async function expressApp(trail) {
  const app = express();
  app.use('/admin/usertrail', expressDashboard(trail, { auth: { key: KEY, operator: 'ops' } }));
  return `${await listen(app)}/admin/usertrail/`;
}

/** Every number in an answer. */
function numbers(value, out = []) {
  if (typeof value === 'number') out.push(value);
  else if (Array.isArray(value)) for (const v of value) numbers(v, out);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) numbers(v, out);
  return out;
}

/** The engine's own answer to a query the page made. */
function engineAnswer(trail) {
  return (query, options) => {
    if (query === 'experimentResults') {
      const { key, ...rest } = options;
      return trail.experiments.results(key, rest);
    }
    return trail.analytics[query](options);
  };
}

const PARAMS = {
  // In a segment (read by pkg/dashboard/segment.js: a property's text).
  funnel: '?steps=product_view,add_to_cart,purchase&prop=properties.plan&val=pro',
  experiments: '?goal=purchase',
  retention: '?cohort=week&periods=4',
};

/**
 * Opens every view of the dashboard at `url` in Chromium: axe, CSP, screenshots at 1280 px and 390 px,
 * and each number shown checked against `answer` for the options the page used.
 */
async function browseAll(label, url, answer, { privacy }) {
  const ctx = await launchChromium(`dashboard-${label}`);
  closers.push(() => ctx.close());
  const page = await ctx.newPage();
  const problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(String(e)));
  const requested = [];
  page.on('request', (r) => requested.push(r.url()));
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(`${url}#key=${KEY}`);
  await page.waitForSelector('body[data-ready="app"]', { timeout: 20_000 });
  assert.ok(!page.url().includes(KEY), 'the key left the address bar');
  await page.evaluate(AXE);
  let checked = 0;
  for (const view of VIEWS) {
    // The realtime view's minutes slide with the clock: an event can cross
    // into the next minute between the page's query and the engine's
    // answer here (seen on a loaded machine), so that view is shown again,
    // up to three times, until its numbers and the answer agree.
    let shown;
    for (let attempt = 1; ; attempt++) {
      if (attempt > 1) {
        // Away and back: the same address would not load the view again.
        await page.evaluate(() => {
          location.hash = '#/traffic';
        });
        await page.waitForSelector('#view[data-ready="traffic"]', { timeout: 20_000 });
      }
      await page.evaluate((h) => {
        location.hash = h;
      }, `#/${view}${PARAMS[view] ?? ''}`);
      await page.waitForSelector(`#view[data-ready="${view}"]`, { timeout: 20_000 });
      await page.waitForTimeout(50);
      shown = await page.evaluate(() => ({
        queries: JSON.parse(document.getElementById('view').dataset.queries ?? '{}'),
        cells: [...document.querySelectorAll('#view [data-table] [data-value]')].map((c) => ({ table: c.closest('[data-table]').dataset.table, key: c.dataset.key, value: JSON.parse(c.dataset.value) })),
        error: document.querySelector('#view .error')?.textContent ?? null,
      }));
      assert.equal(shown.error, null, `${label} ${view}: ${shown.error}`);
      if (view === 'privacy') break;
      if (view === 'funnel') {
        assert.deepEqual(shown.queries.funnel.options.segment, { property: 'properties.plan', equals: 'pro' });
      }
      // Every number shown is one the engine answered for the same options.
      const expected = [];
      for (const { query, options } of Object.values(shown.queries)) numbers(await answer(query, options), expected);
      const missing = shown.cells.filter((c) => typeof c.value === 'number' && !expected.some((e) => Math.abs(e - c.value) <= 1e-9 * Math.max(1, Math.abs(e))));
      if (view === 'realtime' && missing.length > 0 && attempt < 3) continue;
      for (const c of missing) assert.fail(`${label} ${view}: ${c.table}.${c.key} = ${c.value} is not in the engine's answer`);
      checked += shown.cells.filter((c) => typeof c.value === 'number').length;
      break;
    }
    if (view !== 'privacy') {
      if (view === 'traffic') {
        const s = await answer('summary', shown.queries.summary.options);
        const events = shown.cells.find((c) => c.table === 'summary' && c.value === s.events);
        assert.ok(events && s.events > 0, `${label}: the summary shows ${s.events} events`);
      }
    }
    const axe = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`)));
    assert.deepEqual(axe, [], `${label} ${view} at 1280 px: axe violations`);
    await page.screenshot({ path: join(SHOTS, `${label}-${view}-1280.png`), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(100);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 1, `${label} ${view}: the page is ${overflow} px wider than a phone`);
    const axePhone = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => v.id)));
    assert.deepEqual(axePhone, [], `${label} ${view} on a phone: axe violations`);
    await page.screenshot({ path: join(SHOTS, `${label}-${view}-phone.png`), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });
  }
  assert.ok(checked > 50, `${label}: only ${checked} numbers checked`);
  if (privacy) await privacy(page);
  // The page's first load answers 401 by design: it signs in from the key in the fragment, then reloads nothing.
  const unexpected = problems.filter((p, i) => !(i === 0 && /status of 401/.test(p)));
  assert.deepEqual(unexpected, [], `${label}: console errors (CSP included)`);
  assert.ok(!requested.some((u) => u.includes(SUBJECT)), `${label}: a URL held the subject`);
  return checked;
}

/** Opens the privacy page afresh (by way of another view, so that it renders again). */
async function openPrivacy(page) {
  for (const view of ['traffic', 'privacy']) {
    await page.evaluate((h) => {
      location.hash = h;
    }, `#/${view}`);
    await page.waitForSelector(`#view[data-ready="${view}"]`);
  }
}

/** The privacy page's actions in the browser: look up, export, erase (confirmed), verify. */
async function privacyActions(page) {
  await openPrivacy(page);
  await page.fill('#p-subject', SUBJECT);
  await page.click('form[aria-label="Look a subject up"] button[type=submit]');
  await page.waitForSelector('text=Rows per table');
  const held = await page.evaluate(() => [...document.querySelectorAll('[data-table="Rows per table"] tbody tr')].map((tr) => [tr.cells[0].textContent, JSON.parse(tr.cells[1].dataset.value)]));
  assert.ok(held.some(([t, n]) => t === 'events' && n > 0), `the look-up shows the subject's events: ${JSON.stringify(held)}`);
  for (const format of ['json', 'csv']) {
    await page.selectOption('#p-format', format);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#p-export')]);
    assert.match(download.suggestedFilename(), format === 'csv' ? /\.zip$/ : /\.json$/);
  }
  await page.fill('#e-subject', SUBJECT);
  await page.fill('#e-confirm', 'someone-else');
  await page.check('#e-sure');
  await page.click('form[aria-label="Erase a subject"] button[type=submit]');
  await page.waitForSelector('text=The two entries differ.');
  await page.fill('#e-confirm', SUBJECT);
  await page.fill('#e-reason', 'dashboard test');
  await page.click('form[aria-label="Erase a subject"] button[type=submit]');
  await page.waitForSelector('text=Erased rows per table');
  // The audit log on the page shows the erasure under the operator's name.
  await page.waitForFunction(() => [...document.querySelectorAll('[data-table="Audit log, newest first"] tbody tr')].some((tr) => tr.cells[2].textContent === 'dashboard:ops' && tr.cells[3].textContent === 'erase'));
  await page.screenshot({ path: join(SHOTS, 'sqlite-privacy-erased-1280.png'), fullPage: true });
  await page.click('#p-verify');
  await page.waitForSelector('text=Audit log: intact');
}

test('the dashboard on a SQLite file, in Express: every view in Chromium, the numbers the engine answers, privacy actions audited', async () => {
  const trail = await UserTrail.open({ storage: { file: join(dir, 'app.db') } });
  closers.push(() => trail.close());
  await seed(trail);
  const url = await expressApp(trail);
  await browseAll('sqlite', url, engineAnswer(trail), { privacy: privacyActions });
  // Erased, and audited under the operator's name.
  const file = await trail.privacy.export(SUBJECT, { format: 'json' });
  assert.equal(file.counts.events, 0);
  const audit = await trail.privacy.audit({});
  const byOps = audit.filter((a) => a.actor === 'dashboard:ops').map((a) => a.action);
  assert.ok(byOps.includes('erase'), `audited: ${JSON.stringify(byOps)}`);
  assert.ok(byOps.filter((a) => a === 'export').length >= 3, `look-up and two exports audited: ${JSON.stringify(byOps)}`);
});

test('the dashboard on a shared Redis store: every view, and the privacy page says what Redis cannot count', async () => {
  const client = createClient({ url: redis.url });
  client.on('error', () => {});
  await client.connect();
  closers.push(() => client.quit());
  const trail = await UserTrail.open({ storage: { file: join(dir, 'redis-app.db') }, shared: redisStore(client, { prefix: 'dash' }) });
  closers.push(() => trail.close());
  await seed(trail);
  const url = await expressApp(trail);
  await browseAll('redis', url, engineAnswer(trail), {
    privacy: async (page) => {
      await openPrivacy(page);
      assert.ok(await page.isVisible('text=Consent decisions live in the shared Redis store'));
      assert.ok(await page.isVisible('text=Places sharing the store'));
    },
  });
});

function startWorker(owned, prefix) {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./partition-worker.mjs', import.meta.url)), redis.url, prefix, '4', owned, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/ready (\d+)/);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (c) => reject(new Error(`worker exited ${c}`)));
  });
}

test('the dashboard over a 4-partition pipeline: merged numbers equal one engine holding every event', async () => {
  const client = createClient({ url: redis.url });
  client.on('error', () => {});
  await client.connect();
  closers.push(() => client.quit());
  const prefix = 'dashpipe';
  const [a, b] = await Promise.all([startWorker('0,1', prefix), startWorker('2,3', prefix)]);
  const urls = [0, 1].map((p) => `http://127.0.0.1:${a}/p${p}`).concat([2, 3].map((p) => `http://127.0.0.1:${b}/p${p}`));
  const coordinatorEngine = await UserTrail.open({ shared: redisStore(client, { prefix }), tracking: { pipeline: { partitions: 4 } } });
  closers.push(() => coordinatorEngine.close());
  const all = events();
  const results = await coordinatorEngine.pipeline.collect(all);
  assert.ok(results.every((r) => r.status === 'accepted'), JSON.stringify(results.find((r) => r.status !== 'accepted')));
  const coordinator = acrossPartitions(urls, coordinatorEngine);
  const reference = await UserTrail.open();
  closers.push(() => reference.close());
  await reference.tracking.trackBatch(all, { partial: true });
  // The partitions consume the streams.
  const want = (await reference.analytics.summary()).events;
  for (let i = 0; i < 300 && (await coordinator.query('summary', {})).events !== want; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal((await coordinator.query('summary', {})).events, want);
  const url = `${await listen(nodeDashboard(coordinator, { auth: { key: KEY, operator: 'ops' } }))}/`;
  await browseAll('pipeline', url, engineAnswer(reference), { privacy: null });
  // The same partitions through `usertrail dashboard --partitions`, acting through the shared store.
  const bin = fileURLToPath(new URL('./node_modules/.bin/usertrail', import.meta.url));
  const cli = spawn(bin, ['dashboard', '--partitions', urls.join(','), '--redis', redis.url, '--prefix', prefix], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(cli);
  let out = '';
  const served = await new Promise((resolve, reject) => {
    cli.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/Dashboard: (http:\/\/127\.0\.0\.1:\d+\/)#key=(\S+)/);
      if (m) resolve({ base: m[1], key: m[2] });
    });
    cli.once('exit', (c) => reject(new Error(`exited ${c}: ${out}`)));
  });
  const auth = { authorization: `Bearer ${served.key}` };
  const me = await (await fetch(`${served.base}api/me`, { headers: auth })).json();
  assert.equal(me.source, 'partitions');
  const post = (path, body) => fetch(`${served.base}api/${path}`, { method: 'POST', headers: { ...auth, 'x-csrf-token': me.csrf, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const traffic = await (await post('view', { view: 'traffic', params: {} })).json();
  assert.equal(traffic.answers.summary.events, want);
  const overview = await (await post('privacy', {})).json();
  assert.equal(overview.available, true, JSON.stringify(overview));
  assert.equal(overview.shared, true);
  cli.kill('SIGINT');
  assert.equal((await once(cli, 'exit'))[0], 0);
});

// ---- Auth, CSRF and loopback, over plain HTTP

/** A GET with headers fetch() would not send as given (Host). */
function rawGet(port, path, headers) {
  return new Promise((resolve, reject) => {
    const r = httpRequest({ host: '127.0.0.1', port, path, headers }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    r.on('error', reject);
    r.end();
  });
}

async function signedIn(base) {
  const res = await fetch(`${base}api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: KEY }) });
  assert.equal(res.status, 200);
  const cookie = res.headers.get('set-cookie');
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  const jar = cookie.split(';')[0];
  const me = await (await fetch(`${base}api/me`, { headers: { cookie: jar } })).json();
  return { jar, csrf: me.csrf };
}

test('auth: 401 without a key or with a wrong one, 403 for an action without its CSRF token, strict headers', async () => {
  const trail = await UserTrail.open();
  closers.push(() => trail.close());
  await trail.privacy.grant('ann', { purposes: ['analytics'], source: 'test' });
  const base = await expressApp(trail);
  // No key: the page (with its sign-in form) and the API answer 401.
  const page = await fetch(base);
  assert.equal(page.status, 401);
  const html = await page.text();
  assert.doesNotMatch(html, /<script>(?!<\/script>)|<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
  assert.doesNotMatch(html, /\sstyle=/, 'no inline style');
  const csp = page.headers.get('content-security-policy');
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.equal(page.headers.get('x-frame-options'), 'DENY');
  assert.equal((await fetch(`${base}api/me`)).status, 401);
  // Wrong keys, whatever their length or shared prefix: 401, and the same answer.
  for (const wrong of ['x', KEY.slice(0, -1), `${KEY}x`, KEY.replace(/.$/, 'Z'), 'a'.repeat(600)]) {
    const r = await fetch(`${base}api/me`, { headers: { authorization: `Bearer ${wrong}` } });
    assert.equal(r.status, 401, wrong);
    assert.equal((await r.json()).error.code, 'UNAUTHORIZED');
    const l = await fetch(`${base}api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: wrong }) });
    assert.equal(l.status, 401);
  }
  // Bearer works; signed in, every action needs the CSRF token.
  assert.equal((await fetch(`${base}api/me`, { headers: { authorization: `Bearer ${KEY}` } })).status, 200);
  const { jar, csrf } = await signedIn(base);
  assert.equal((await fetch(base, { headers: { cookie: jar } })).status, 200);
  const post = (path, body, headers = {}) => fetch(`${base}api/${path}`, { method: 'POST', headers: { 'content-type': 'application/json', cookie: jar, ...headers }, body: JSON.stringify(body) });
  const before = (await trail.privacy.export('ann', { format: 'json' })).counts;
  for (const [path, body] of [['privacy/erase', { subject: 'ann', confirm: 'ann' }], ['privacy/lookup', { subject: 'ann' }], ['view', { view: 'traffic' }]]) {
    const none = await post(path, body);
    assert.equal(none.status, 403, path);
    assert.equal((await none.json()).error.code, 'FORBIDDEN');
    assert.equal((await post(path, body, { 'x-csrf-token': 'f'.repeat(64) })).status, 403, path);
    assert.equal((await post(path, body, { 'x-csrf-token': csrf, 'sec-fetch-site': 'cross-site' })).status, 403, path);
  }
  assert.deepEqual((await trail.privacy.export('ann', { format: 'json' })).counts.consents, before.consents, 'nothing erased');
  // Bad input: typed errors, nothing changed.
  for (const [body, field] of [
    [{ subject: 'ann', confirm: 'bob' }, 'confirm'],
    [{ subject: 'x'.repeat(513), confirm: 'x'.repeat(513) }, 'subject'],
    [{ subject: 42, confirm: 42 }, 'subject'],
    [{ subject: "ann' OR 1=1 --", confirm: "ann' OR 1=1 --" }, null],
  ]) {
    const r = await post('privacy/erase', body, { 'x-csrf-token': csrf });
    if (field) {
      assert.equal(r.status, 400, JSON.stringify(body).slice(0, 80));
      const e = (await r.json()).error;
      assert.equal(e.code, 'INVALID_INPUT');
      assert.equal(e.field, field);
    } else {
      assert.equal(r.status, 200); // a subject that holds nothing: erased nothing
    }
  }
  assert.equal((await post('view', { view: 'nope' }, { 'x-csrf-token': csrf })).status, 400);
  assert.equal((await post('view', { view: 'traffic', params: { since: -5 } }, { 'x-csrf-token': csrf })).status, 400);
  assert.equal((await post('view', { view: 'traffic', params: { drop: 'table' } }, { 'x-csrf-token': csrf })).status, 400);
  const notJson = await fetch(`${base}api/view`, { method: 'POST', headers: { cookie: jar, 'x-csrf-token': csrf }, body: '{"view":' });
  assert.equal(notJson.status, 400);
  assert.deepEqual((await trail.privacy.export('ann', { format: 'json' })).counts.consents, before.consents);
  // CSV of a view, with formula-looking text made inert.
  await trail.tracking.track({ name: '=HYPERLINK("x")', userId: 'ann' });
  const csv = await post('csv', { view: 'events', table: 'events' }, { 'x-csrf-token': csrf });
  assert.equal(csv.status, 200);
  assert.match(csv.headers.get('content-disposition'), /attachment; filename="events-events.csv"/);
  const text = await csv.text();
  assert.match(text, /^Event,Events,Users\r\n/);
  assert.match(text, /"'=HYPERLINK\(""x""\)",1,1/);
  // Signing out ends the cookie's session.
  assert.equal((await post('logout', {}, { 'x-csrf-token': csrf })).status, 200);
  assert.equal((await fetch(`${base}api/me`, { headers: { cookie: jar } })).status, 401);
});

test('auth: without auth, only a server listening on loopback alone serves; options are checked', async () => {
  const trail = await UserTrail.open();
  closers.push(() => trail.close());
  // Loopback only: served, as the local operator.
  const local = await listen(nodeDashboard(trail));
  const me = await fetch(`${local}/api/me`);
  assert.equal(me.status, 200);
  assert.equal((await me.json()).operator, 'local');
  // Every interface: refused.
  const server = createServer(nodeDashboard(trail));
  server.listen(0, '0.0.0.0');
  await once(server, 'listening');
  closers.push(() => new Promise((r) => server.close(r)));
  const open = await fetch(`http://127.0.0.1:${server.address().port}/api/me`);
  assert.equal(open.status, 401);
  assert.match((await open.json()).error.message, /loopback/);
  // serveDashboard refuses to start there without auth, and starts with it.
  await assert.rejects(serveDashboard(trail, { host: '0.0.0.0' }), (e) => e.code === 'INVALID_INPUT' && e.field === 'auth');
  const served = await serveDashboard(trail, { host: '0.0.0.0', auth: { key: KEY } });
  closers.push(() => served.close());
  assert.equal((await fetch(served.url.replace('0.0.0.0', '127.0.0.1'))).status, 401);
  // The host's own auth: its answer names the operator.
  const hooked = dashboard(trail, { auth: (req) => (req.headers.get('x-user') === 'alice' ? 'alice' : null) });
  assert.equal((await hooked(new Request('http://h/api/me'))).status, 401);
  const alice = await hooked(new Request('http://h/api/me', { headers: { 'x-user': 'alice' } }));
  assert.equal((await alice.json()).operator, 'alice');
  // Hono, mounted under a base path.
  const app = new Hono();
  app.all('/dash/*', honoDashboard(trail, { basePath: '/dash', auth: { key: KEY } }));
  assert.equal((await app.request('/dash/api/me')).status, 401);
  assert.equal((await app.request('/dash/api/me', { headers: { authorization: `Bearer ${KEY}` } })).status, 200);
  assert.equal((await app.request('/dash/assets/app.js')).status, 200);
  assert.equal((await app.request('/dash/assets/../../etc/passwd')).status, 404);
  // Bad options: INVALID_INPUT naming them.
  for (const [options, field] of [
    [{ auth: { key: 'short' } }, 'auth.key'],
    [{ auth: { key: KEY, role: 'x' } }, 'auth.role'],
    [{ basePath: 'admin' }, 'basePath'],
    [{ colour: 'red' }, 'colour'],
    [{ auth: 42 }, 'auth'],
  ]) {
    assert.throws(() => dashboard(trail, options), (e) => e.code === 'INVALID_INPUT' && e.field === field, JSON.stringify(options));
  }
  assert.throws(() => dashboard({}, {}), (e) => e.code === 'INVALID_INPUT' && e.field === 'source');
});

test('hostile: DNS rebinding, cross-origin actions, bearer guessing, mount-path case and bad Host headers', async () => {
  const trail = await UserTrail.open();
  closers.push(() => trail.close());
  await trail.privacy.grant('ann', { purposes: ['analytics'], source: 'test' });
  // Loopback without auth: a request naming another host (a rebound DNS name) is not served.
  const local = await listen(nodeDashboard(trail));
  const port = new URL(local).port;
  const raw = (path, headers) => rawGet(port, path, headers);
  assert.equal((await raw('/api/me', { host: `localhost:${port}` })).status, 200);
  assert.equal((await raw('/api/me', { host: `[::1]:${port}` })).status, 200);
  const rebound = await raw('/api/me', { host: `rebind.attacker.example:${port}`, 'sec-fetch-site': 'same-origin' });
  assert.equal(rebound.status, 401);
  // An action whose Origin is another origin: refused even with the token.
  const { csrf } = await (await fetch(`${local}/api/me`)).json();
  const cross = await fetch(`${local}/api/privacy/erase`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': csrf, origin: 'http://evil.example' }, body: JSON.stringify({ subject: 'ann', confirm: 'ann' }) });
  assert.equal(cross.status, 403);
  assert.equal((await trail.privacy.status('ann')).purposes.analytics.granted, true, 'nothing erased');
  // Bearer guesses count against the same limit as sign-ins: the 21st, even right, is refused for a minute.
  const keyed = dashboard(trail, { auth: { key: KEY } });
  for (let i = 0; i < 20; i++) {
    assert.equal((await keyed(new Request('http://127.0.0.1/api/me', { headers: { authorization: `Bearer wrong-${i}` } }))).status, 401);
  }
  const limited = await keyed(new Request('http://127.0.0.1/api/me', { headers: { authorization: `Bearer ${KEY}` } }));
  assert.equal(limited.status, 429);
  assert.equal((await limited.json()).error.code, 'RATE_LIMITED');
  // Express: one state whatever the mount path's case, so another casing does not reset the limit.
  const app = express();
  app.use('/admin/usertrail', expressDashboard(trail, { auth: { key: KEY } }));
  const base = await listen(app);
  const login = (path, key) => fetch(`${base}${path}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key }) });
  for (let i = 0; i < 20; i++) assert.equal((await login('/admin/usertrail', `wrong-key-${i}`)).status, 401);
  assert.equal((await login('/Admin/UserTrail', KEY)).status, 429);
  // A Host header that cannot be a URL: a JSON 400, not Express's error page.
  const expressPort = new URL(base).port;
  const bad = await rawGet(expressPort, '/admin/usertrail/api/me', { host: 'a b' });
  assert.equal(bad.status, 400);
  assert.equal(JSON.parse(bad.text).error.code, 'INVALID_INPUT');
});
