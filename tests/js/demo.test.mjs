// The demo (www/) in headless Chromium, as a newcomer would use it: the shop,
// the dashboard over sample traffic, preferences, consent, the privacy centre,
// two tabs, offline use, and an axe-core accessibility check of every view.
// Each test saves a screenshot under target/e2e-screenshots/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const ROOT = process.env.ROOT;
const { serve } = await import(join(ROOT, 'www', 'serve.mjs'));
const AXE = readFileSync(join(ROOT, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
const SHOTS = join(ROOT, 'target', 'e2e-screenshots');
const FUNNEL = ['product_view', 'add_to_cart', 'checkout', 'purchase'];
mkdirSync(SHOTS, { recursive: true });

let server;
let base;
const contexts = [];

before(async () => {
  server = await serve(0);
  base = `http://127.0.0.1:${server.address().port}/`;
});

after(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  server?.close();
});

/** A person's Chrome: headless Chromium says HeadlessChrome, which is classed
 *  as a bot, and analytics leave bots out (docs/ANALYTICS.md). */
const PERSON = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

/** A browser profile of its own: its own OPFS, localStorage and service worker. */
async function profile() {
  const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'usertrail-demo-')), {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 900 },
    acceptDownloads: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', `--user-agent=${PERSON}`],
  });
  contexts.push(context);
  return context;
}

/** Opens the demo at `hash` and waits for the engine; records page errors. */
async function visit(context, hash = '#/') {
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && page.errors.push(m.text()));
  await page.goto(base + hash);
  await ready(page);
  return page;
}

async function ready(page) {
  await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
}

async function consent(page, choice) {
  await page.waitForSelector('#consent:not([hidden])');
  await page.click(choice === 'accept' ? '#consent-accept' : '#consent-reject');
  await page.waitForSelector('#consent', { state: 'hidden' });
}

async function screenshot(page, name) {
  const path = join(SHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log(`# screenshot: ${path}`);
}

/** Runs axe-core on the page; fails on serious or critical violations. */
async function accessible(page, what) {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ content: AXE });
  const violations = await page.evaluate(async () => {
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')})`);
  });
  assert.deepEqual(violations, [], `accessibility of ${what}`);
}

/** Events of this visitor (anonymous id, or user), from the page. */
const myEvents = (page) => page.evaluate(() => trail.tracking.count(app.userId ? { userId: app.userId } : { anonymousId: app.anonymousId }));
const flush = (page) => page.evaluate(() => app.tracker.flush());

// One profile for the shop, the dashboard, the privacy centre and two tabs.
let shop;

test('browse, add to cart, check out, reload: the cart and events stay, and the funnel counts the purchase', async () => {
  shop = await profile();
  const page = await visit(shop);
  await accessible(page, 'the shop with the consent banner');
  await consent(page, 'accept');
  // By keyboard: the first product link, then its buy button.
  await page.focus('a[data-product="sencha"]');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#add-to-cart');
  await accessible(page, 'a product page');
  await page.focus('#add-to-cart');
  await page.keyboard.press('Enter');
  await page.waitForSelector('text=is in your cart');
  await page.click('a[href="#/"]');
  await page.click('a[data-product="chai"]');
  await page.click('#add-to-cart');
  await page.waitForSelector('text=is in your cart');
  assert.equal(await page.textContent('#cart-count'), '2');
  await flush(page);
  const before = await myEvents(page);
  assert.ok(before >= 6, `page views, product views and adds are tracked (${before})`);

  await page.reload();
  await ready(page);
  assert.equal(await page.textContent('#cart-count'), '2', 'the cart is in session state, on OPFS');
  assert.ok((await myEvents(page)) >= before, 'the events are still there');

  await page.click('a[href="#/cart"]');
  await page.waitForSelector('#checkout');
  await accessible(page, 'the cart');
  await page.click('#checkout');
  await page.fill('#f-fullName', 'Ann Example');
  await page.fill('#f-street', '1 Tea Lane');
  await page.fill('#f-city', 'Leeds');
  await accessible(page, 'checkout');
  await page.click('#checkout-next');
  await page.waitForSelector('#f-method');
  await page.click('#checkout-next');
  await page.waitForSelector('text=Review');
  await page.click('#checkout-next');
  await page.waitForSelector('text=is placed');
  await flush(page);

  await page.reload();
  await ready(page);
  assert.equal(await page.textContent('#cart-count'), '0');
  const funnel = await page.evaluate((steps) => trail.analytics.funnel({ steps, since: 0 }), FUNNEL);
  assert.deepEqual(funnel.steps.map((s) => s.count), [1, 1, 1, 1], 'one visitor went all the way');
  await page.goto(`${base}#/dashboard`);
  await page.waitForSelector('#dashboard[data-updated]');
  assert.match(await page.textContent('#funnel-text'), /100 % went on to purchase/);
  await screenshot(page, '1-shop-checkout-dashboard');
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('sample traffic fills the charts, and the tiles agree with trail.analytics', async () => {
  const page = await visit(shop, '#/dashboard');
  await page.click('#generate');
  await page.waitForSelector('#sample-status[data-done]', { timeout: 240_000 });
  const result = JSON.parse(await page.getAttribute('#sample-status', 'data-result'));
  console.log(`# sample traffic: ${result.events} events, ${result.users} users, ${(result.ms / 1000).toFixed(1)} s (consent ${(result.consentMs / 1000).toFixed(1)} s)`);
  assert.ok(result.events >= 190_000, `about 200k events (${result.events})`);
  assert.deepEqual(result.statuses, { stored: result.tracked }, 'every sample event stored: none rejected or dropped');

  // A refresh whose queries all began after the generator finished.
  const done = Number(await page.getAttribute('#sample-status', 'data-done'));
  await page.waitForFunction((t) => Number(document.querySelector('#dashboard').dataset.updatedFrom) > t, done);
  for (const id of ['dau', 'pages', 'funnel', 'durations', 'realtime']) {
    const box = await page.locator(`#chart-${id}`).boundingBox();
    assert.ok(box && box.width > 100 && box.height > 100, `chart ${id} is drawn`);
  }
  assert.ok((await page.locator('#retention tbody tr').count()) >= 12, 'a retention row per weekly cohort');
  assert.equal(await page.locator('#ab tbody tr').count(), 2);
  assert.match(await page.textContent('#ab-verdict'), /p = 0\.\d{3}/);
  assert.ok((await page.locator('#journeys li').count()) > 0);

  // The tiles show what trail.analytics returns for the same range.
  const check = await page.evaluate(async () => {
    const d = document.querySelector('#dashboard').dataset;
    const q = { since: Number(d.since), until: Number(d.until), timezone: Number(d.timezone) };
    const tile = (id) => Number(document.querySelector(`#tile-${id}`).dataset.value);
    const summary = await trail.analytics.summary(q);
    const durations = await trail.analytics.sessionDurations(q);
    return {
      tiles: [tile('users'), tile('events'), tile('sessions'), tile('events-per-user'), tile('median-session')],
      api: [summary.users, summary.events, summary.sessions, summary.eventsPerUser, durations.medianMs],
    };
  });
  assert.deepEqual(check.tiles, check.api);
  assert.ok(check.api[0] > 1000 && check.api[1] >= 190_000, `the dashboard is meaningful: ${check.api}`);
  // No card's content is wider than the card, at a laptop's width and a
  // narrow window's (the A/B and Next steps tables once cut off their last
  // column at 1280 px).
  for (const width of [1280, 1024, 390]) {
    await page.setViewportSize({ width, height: 900 });
    const overflowing = () =>
      [...document.querySelectorAll('.card')]
        .filter((c) => c.offsetParent !== null && c.scrollWidth > c.clientWidth + 1)
        .map((c) => `${c.querySelector('h2')?.textContent ?? c.className}: ${c.scrollWidth} > ${c.clientWidth}`);
    // Charts redraw for the new width on their next resize observation.
    await page
      .waitForFunction(() => ![...document.querySelectorAll('.card')].some((c) => c.offsetParent !== null && c.scrollWidth > c.clientWidth + 1), null, { timeout: 5_000 })
      .catch(() => {});
    const wide = await page.evaluate(overflowing);
    assert.deepEqual(wide, [], `cards overflow at ${width} px`);
  }
  await page.setViewportSize({ width: 1280, height: 900 });
  await accessible(page, 'the dashboard');
  await screenshot(page, '2-dashboard-sample-traffic');
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('export downloads a file with the user’s events, as JSON and as SQLite', async () => {
  const page = await visit(shop, '#/privacy');
  await page.waitForSelector('#download-json');
  await accessible(page, 'the privacy centre');
  const anonymousId = await page.evaluate(() => app.anonymousId);
  const read = async (selector) => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click(selector)]);
    const chunks = [];
    for await (const chunk of await download.createReadStream()) chunks.push(chunk);
    return { name: download.suggestedFilename(), bytes: Buffer.concat(chunks) };
  };
  const json = await read('#download-json');
  assert.equal(json.name, 'my-teapot-data.json');
  const data = JSON.parse(json.bytes.toString('utf8'));
  const text = JSON.stringify(data);
  assert.ok(text.includes(anonymousId), 'the export is about this visitor');
  assert.ok(text.includes('"purchase"') && text.includes('"add_to_cart"'), 'with their events');
  assert.ok(!text.includes('sample-00001'), 'and nobody else’s');
  const sqlite = await read('#download-sqlite');
  assert.equal(sqlite.bytes.subarray(0, 15).toString(), 'SQLite format 3');
  await page.click('#verify');
  await page.waitForSelector('#verify-result.ok');
  await screenshot(page, '3-privacy-centre');
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('two tabs open at once both work, on one engine', async () => {
  for (const p of shop.pages()) await p.close(); // exactly these two tabs
  const a = await visit(shop);
  const b = await visit(shop, '#/product/oolong');
  // Earlier tabs of this profile may still be closing: then one of these takes over.
  const leaders = async () => (await a.evaluate(() => trail.leader)) + (await b.evaluate(() => trail.leader));
  for (let i = 0; i < 50 && (await leaders()) !== 1; i++) await a.waitForTimeout(100);
  assert.equal(await leaders(), 1, 'one tab holds the database');
  await b.click('#add-to-cart');
  await b.waitForSelector('text=is in your cart');
  await a.click('a[href="#/cart"]');
  await a.waitForSelector('tr[data-line="oolong"]');
  const counts = [await a.evaluate(() => trail.tracking.count({ userId: 'sample-00001' })), await b.evaluate(() => trail.tracking.count({ userId: 'sample-00001' }))];
  assert.equal(counts[0], counts[1]);
  assert.ok(counts[0] > 0);
  await screenshot(b, '4-second-tab');
  assert.deepEqual([...a.errors, ...b.errors], []);
  await a.close();
  await b.close();
});

test('erase me: the visitor’s events are gone, and the sample users remain', async () => {
  const page = await visit(shop, '#/privacy');
  await page.waitForSelector('#erase-me');
  const before = await page.evaluate(async () => ({
    id: app.anonymousId,
    mine: await trail.tracking.count({ anonymousId: app.anonymousId }),
    sample: await trail.tracking.count({ userId: 'sample-00001' }),
    users: (await trail.analytics.summary({ since: 0 })).users,
  }));
  assert.ok(before.mine > 0 && before.sample > 0, JSON.stringify(before));
  await page.click('#erase-me');
  await page.waitForSelector('#confirm[open]');
  await accessible(page, 'the erase confirmation');
  await page.click('#confirm-erase');
  await page.waitForFunction((id) => app.anonymousId !== id, before.id);
  await page.waitForSelector('#my-events');
  const after = await page.evaluate(async (id) => ({
    mine: await trail.tracking.count({ anonymousId: id }),
    exported: (await trail.privacy.export(id, { format: 'json' })).counts.events ?? 0,
    sample: await trail.tracking.count({ userId: 'sample-00001' }),
    users: (await trail.analytics.summary({ since: 0 })).users,
    audit: (await trail.privacy.audit({ action: 'erase' })).length,
  }), before.id);
  assert.deepEqual({ mine: after.mine, exported: after.exported }, { mine: 0, exported: 0 }, 'nothing of the visitor is left');
  assert.equal(after.sample, before.sample, 'sample users are untouched');
  assert.equal(after.users, before.users - 1);
  assert.equal(after.audit, 1, 'the erasure is audited');
  await page.waitForSelector('#consent:not([hidden])'); // a new visitor is asked again
  await screenshot(page, '5-after-erase');
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('log in binds and rotates the session; devices can be revoked; log out', async () => {
  const context = await profile();
  const page = await visit(context, '#/privacy');
  await consent(page, 'accept');
  const anonymous = await page.evaluate(() => ({ token: app.token, id: app.anonymousId }));
  await page.fill('#login-name', 'ann');
  await page.press('#login-name', 'Enter');
  await page.waitForSelector('#logout:not([hidden])');
  assert.match(await page.textContent('#user'), /ann/);
  const after = await page.evaluate(async (old) => ({
    token: app.token,
    stored: localStorage.getItem('teapot.token'),
    old: await trail.sessions.validate(old),
    user: (await trail.sessions.validate(app.token)).userId,
    linked: await trail.tracking.count({ userId: 'ann' }),
  }), anonymous.token);
  assert.notEqual(after.token, anonymous.token, 'the token rotated');
  assert.equal(after.stored, after.token);
  assert.equal(after.old, null, 'the old token is dead');
  assert.equal(after.user, 'ann');
  assert.ok(after.linked > 0, 'the anonymous events now belong to ann');

  // Another device signs in as ann; it shows up, and can be revoked.
  await page.evaluate(() => trail.sessions.create({ userId: 'ann', userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1' }));
  await page.click('a[href="#/"]');
  await page.click('a[href="#/privacy"]');
  await page.waitForSelector('#devices');
  assert.equal(await page.locator('#devices tbody tr').count(), 2);
  await accessible(page, 'the privacy centre, logged in');
  await screenshot(page, '9-devices');
  await page.locator('#devices tbody tr', { hasNotText: 'this one' }).getByRole('button').click();
  await page.waitForFunction(() => document.querySelectorAll('#devices tbody tr').length === 1);
  assert.match(await page.textContent('#devices tbody tr'), /this one/);

  await page.click('#logout');
  await page.waitForSelector('#login-form:not([hidden])');
  assert.equal(await page.evaluate(async (t) => trail.sessions.validate(t), after.token), null, 'logout destroyed the session');
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('the theme and the language apply at once and survive a reload', async () => {
  const context = await profile();
  const page = await visit(context, '#/preferences');
  await consent(page, 'accept');
  await page.waitForSelector('#pref-locale');
  assert.equal(await page.getAttribute('html', 'data-theme'), 'system');
  assert.match(await page.textContent('#view'), /default/, 'notification settings show their defaults');
  await page.check('input[name="appearance.theme"][value="dark"]');
  await page.waitForFunction(() => document.documentElement.dataset.theme === 'dark');
  await page.selectOption('#pref-locale', 'de');
  await page.waitForFunction(() => document.documentElement.lang === 'de');
  assert.equal(await page.textContent('a[data-i18n="nav.shop"]'), 'Laden');
  await accessible(page, 'preferences in the dark theme');
  await page.reload();
  await ready(page);
  assert.equal(await page.getAttribute('html', 'data-theme'), 'dark');
  assert.equal(await page.getAttribute('html', 'lang'), 'de');
  assert.equal(await page.textContent('a[data-i18n="nav.shop"]'), 'Laden');
  await page.goto(`${base}#/`);
  await accessible(page, 'the shop in the dark theme');
  await screenshot(page, '6-dark-theme-german');
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('declining analytics consent: new clicks are not counted, and a policy change asks again', async () => {
  const context = await profile();
  const page = await visit(context);
  await consent(page, 'accept');
  await page.click('a[data-product="earl-grey"]');
  await page.waitForSelector('#add-to-cart');
  await page.click('a[href="#/privacy"]');
  await page.click('#change-consent');
  await page.click('#consent-reject');
  await page.waitForSelector('#consent', { state: 'hidden' });
  await flush(page);
  const counted = await myEvents(page);
  assert.ok(counted >= 3, 'counted while consent was given');
  await page.click('a[href="#/"]');
  await page.click('a[data-product="kettle"]');
  await page.click('#add-to-cart');
  await page.waitForSelector('text=is in your cart');
  await flush(page);
  assert.equal(await myEvents(page), counted, 'nothing more is counted');
  assert.ok((await page.evaluate(() => trail.privacy.droppedWithoutConsent())) >= 3, 'the engine dropped them');

  // A new policy version: the banner is back, and says why.
  await page.click('a[href="#/privacy"]');
  await page.click('#bump-policy');
  await ready(page);
  await page.waitForSelector('#consent[data-reconsent="true"]:not([hidden])');
  assert.match(await page.textContent('#consent-version'), /version 2/);
  await screenshot(page, '7-consent-declined-reasked');
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('after the first load the shop works offline, and says where it stores', async () => {
  const context = await profile();
  const page = await visit(context);
  await consent(page, 'accept');
  await page.evaluate(() => navigator.serviceWorker.ready);
  assert.equal(await page.getAttribute('#storage-badge', 'data-state'), 'opfs');
  await context.setOffline(true);
  await page.reload();
  await ready(page);
  await page.click('a[data-product="cups"]');
  await page.waitForSelector('#add-to-cart');
  assert.equal(await page.getAttribute('#storage-badge', 'data-state'), 'opfs');
  await context.setOffline(false);
  await screenshot(page, '8-offline');
  await page.close();
});
