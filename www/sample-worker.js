// Generates 90 days of sample traffic (about 200k events) through the public
// API, off the page's thread. This worker connects to the same engine as the
// page; its calls go to whichever tab holds the database.
import { connect, uuidv7 } from '/pkg/browser.js';
import { PRODUCTS } from './products.js';
import { EXPERIMENT } from './config.js';

const TARGET_EVENTS = 200_000;
const BATCH = 2000;
const DAY = 86_400_000;
const AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36',
  'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0',
];

/** A seeded generator (mulberry32), so every run draws the same shop. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One user's visits: sessions of page views and shop actions. */
function* visits(rand, now, userId, live) {
  const ua = AGENTS[Math.floor(rand() * AGENTS.length)];
  const firstAgo = live ? 0 : Math.floor(rand() * 89) + 1;
  let day = now - firstAgo * DAY;
  const returns = Math.floor(-Math.log(1 - rand()) * 8); // loyal tea drinkers
  for (let s = 0; s <= returns; s++) {
    if (s > 0) day += Math.ceil(-Math.log(1 - rand()) * 5) * DAY;
    let ts = live ? now - Math.floor(rand() * 25 * 60_000) - 5 * 60_000 : Math.floor(day / DAY) * DAY + Math.floor((8 + rand() * 15) * 3_600_000);
    if (ts > now - 60_000) break;
    const sessionId = `${userId}-s${s}`;
    const ev = (type, name, path, properties) => {
      ts += Math.floor(8_000 + rand() * 90_000);
      return { eventId: uuidv7(ts), type, name, path, properties, userId, sessionId, ts, userAgent: ua };
    };
    const page = (path) => ev('page', 'page_view', path);
    yield page('/');
    const browsed = 1 + Math.floor(rand() * 4);
    let added = null;
    for (let i = 0; i < browsed; i++) {
      const p = PRODUCTS[Math.floor(rand() * rand() * PRODUCTS.length)];
      yield page(`/product/${p.id}`);
      yield ev('action', 'product_view', `/product/${p.id}`, { product: p.id });
      if (!added && rand() < 0.22) {
        added = p;
        yield ev('action', 'add_to_cart', `/product/${p.id}`, { product: p.id });
      }
    }
    if (!added) continue;
    yield page('/cart');
    if (rand() > 0.55) continue;
    yield ev('action', 'checkout', '/cart', { items: 1, total: added.price });
    for (let step = 1; step <= 3; step++) {
      yield page(`/checkout/${step}`);
      if (step === 3 && rand() > 0.72) break;
      yield ev('action', 'checkout_step', `/checkout/${step}`, { step });
      if (step === 3) yield ev('action', 'purchase', '/checkout/3', { order: `S${ts.toString(36)}`, total: added.price, items: 1 });
    }
  }
}

async function generate(options, post, target = TARGET_EVENTS) {
  const started = Date.now();
  const trail = await connect(options);
  const rand = rng(20261128);
  const now = Date.now();
  const events = [];
  const users = [];
  for (let i = 0; events.length < target; i++) {
    const userId = `sample-${String(i).padStart(5, '0')}`;
    users.push(userId);
    for (const e of visits(rand, now, userId, i % 60 === 0)) events.push(e);
  }
  const total = events.length;
  // Progress counts each user's consent as one step, then each event.
  const steps = users.length + total;
  post({ type: 'progress', phase: 'consent', done: 0, total: steps });
  // Sample users said yes to analytics (the shop requires it), in parallel batches.
  for (let i = 0; i < users.length; i += 250) {
    await Promise.all(users.slice(i, i + 250).map((u) => trail.privacy.grant(u, { purposes: ['analytics'], source: 'sample data' })));
    post({ type: 'progress', phase: 'consent', done: Math.min(users.length, i + 250), total: steps });
  }
  const granted = Date.now();
  const statuses = {};
  for (let i = 0; i < total; i += BATCH) {
    const results = await trail.tracking.trackBatch(events.slice(i, i + BATCH), { partial: true });
    for (const r of results) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    post({ type: 'progress', phase: 'events', done: users.length + Math.min(total, i + BATCH), total: steps });
  }
  // The A/B test ran today: exposure, then (or not) an add to cart.
  const tested = users.slice(0, 800);
  const variants = await Promise.all(tested.map((u) => trail.experiments.assign(EXPERIMENT, u)));
  const conversions = [];
  tested.forEach((userId, i) => {
    if (rand() < (variants[i] === 'green' ? 0.16 : 0.11)) {
      conversions.push({ eventId: uuidv7(), type: 'action', name: 'add_to_cart', path: '/product/sencha', properties: { product: 'sencha', variant: variants[i] }, userId, ts: Date.now() });
    }
  });
  await trail.tracking.trackBatch(conversions, { partial: true });
  await trail.close();
  post({ type: 'done', events: total + conversions.length + tested.length, tracked: total, users: users.length, ms: Date.now() - started, consentMs: granted - started, statuses });
}

self.onmessage = ({ data }) => {
  if (data?.type !== 'start') return;
  // `events` (a bench's size, e.g. 1M) defaults to about 200k.
  const target = Number.isSafeInteger(data.events) && data.events > 0 ? data.events : TARGET_EVENTS;
  generate(data.options, (m) => self.postMessage(m), target).catch((err) =>
    self.postMessage({ type: 'error', code: err?.code ?? err?.name ?? 'Error', message: String(err?.message ?? err) }),
  );
};
