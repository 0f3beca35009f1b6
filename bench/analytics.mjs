// Analytics half of `./build.sh bench`: 1M events, 10,000 users, 50 event
// names over 90 days, ingested through the JS API into a memory engine on
// the wasm build in Node; then each query the analytics issue sets a target
// for, best of 3.
// Usage: node bench/analytics.mjs <bench pkg usertrail.js>
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';

const [pkgFile] = process.argv.slice(2);
const { UserTrail, initSync } = await import(pathToFileURL(resolve(pkgFile)));
initSync({ module: readFileSync(resolve(pkgFile, '..', 'usertrail_bg.wasm')) });

const DAY = 86_400_000;
const DAYS = 90;
const USERS = 10_000;
const EVENTS = 1_000_000;
const SESSIONS_PER_USER = 10;
const PER_SESSION = EVENTS / USERS / SESSIONS_PER_USER; // 10
const D0 = Date.UTC(2026, 0, 1);
const NOW = D0 + DAYS * DAY;

// A small deterministic PRNG (xorshift32), so every run sees the same data.
let seed = 2463534242;
const rand = (n) => {
  seed ^= seed << 13;
  seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  seed >>>= 0;
  return seed % n;
};

// 50 names: page_view, a 4-step shop funnel, and 45 other actions.
const FUNNEL = ['product_view', 'add_to_cart', 'checkout', 'purchase'];
const OTHER = Array.from({ length: 45 }, (_, i) => `action_${i}`);

/** One session of `PER_SESSION` events: pages alternate with actions, and
 *  some sessions walk down the funnel. */
function* session(user, s) {
  // rand() draws below 2^32, so days and the time of day are drawn apart.
  const start = D0 + rand(DAYS - 1) * DAY + rand(DAY);
  const sid = `s-${user}-${s}`;
  const depth = rand(5); // how far down the funnel this session goes
  let ts = start;
  let step = 0;
  for (let i = 0; i < PER_SESSION; i++) {
    ts += 5_000 + rand(60_000);
    const base = { ts, userId: `user-${user}`, sessionId: sid };
    if (i % 2 === 0) {
      yield { ...base, type: 'page', name: 'page_view', path: `/page/${rand(40)}` };
    } else if (step < depth && step < FUNNEL.length) {
      yield { ...base, type: 'action', name: FUNNEL[step++] };
    } else {
      yield { ...base, type: 'action', name: OTHER[rand(OTHER.length)], properties: { n: i } };
    }
  }
}

const trail = await UserTrail.open({ clock: () => NOW });
let batch = [];
let stored = 0;
const t0 = performance.now();
for (let u = 0; u < USERS; u++) {
  for (let s = 0; s < SESSIONS_PER_USER; s++) {
    for (const e of session(u, s)) {
      batch.push(e);
      if (batch.length === 1000) {
        stored += (await trail.tracking.trackBatch(batch)).length;
        batch = [];
      }
    }
  }
}
if (batch.length) stored += (await trail.tracking.trackBatch(batch)).length;
const ingestMs = performance.now() - t0;

async function best(work, runs = 3) {
  let ms = Infinity;
  let out;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    out = await work();
    ms = Math.min(ms, performance.now() - t);
  }
  return { ms, out };
}

const range = { since: D0, until: NOW };
const a = trail.analytics;
const queries = [
  ['activeUsers day, 90 days', 100, () => a.activeUsers({ ...range, interval: 'day' }), (r) => `${r.buckets.length} days, DAU/MAU ${r.stickiness.ratio.toFixed(3)}`],
  ['topPages', 300, () => a.topPages(range), (r) => `top ${r.pages[0].path}: ${r.pages[0].views} views`],
  ['funnel, 3 steps', 1500, () => a.funnel({ ...range, steps: FUNNEL.slice(0, 3), windowSecs: 3600 }), (r) => r.steps.map((s) => s.count).join(' > ')],
  ['retention, 8 weeks', 500, () => a.retention({ ...range, cohort: 'week', periods: 8 }), (r) => `${r.rows.length} cohorts, week-1 ${r.rows[0].percentages[1]?.toFixed(1)}%`],
  ['paths', 1500, () => a.paths(range), (r) => `${r.total} journeys, ${r.transitions.length} transitions`],
  ['summary', null, () => a.summary(range), (r) => `${r.events} events, ${r.users} users, ${r.sessions} sessions`],
  ['sessionDurations', null, () => a.sessionDurations(range), (r) => `median ${(r.medianMs / 1000).toFixed(0)} s`],
];
const rows = [];
for (const [name, target, run, describe] of queries) {
  const { ms, out } = await best(run);
  rows.push({
    query: name,
    ms: Math.round(ms),
    target: target ? `≤ ${target} ms` : '—',
    met: target ? (ms <= target ? 'yes' : 'NO') : '',
    result: describe(out),
  });
}
console.log(
  `analytics dataset: ${stored.toLocaleString('en-US')} events, ${USERS.toLocaleString('en-US')} users, 50 names, ${DAYS} days; ` +
    `ingested at ${Math.round((stored / ingestMs) * 1000).toLocaleString('en-US')} events/s (wasm, JS API, batches of 1000)`,
);
console.table(rows);

await trail.close();
