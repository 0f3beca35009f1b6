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
        stored += trail.tracking.trackBatch(batch).length;
        batch = [];
      }
    }
  }
}
if (batch.length) stored += trail.tracking.trackBatch(batch).length;
const ingestMs = performance.now() - t0;

function best(work, runs = 3) {
  let ms = Infinity;
  let out;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    out = work();
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
const rows = queries.map(([name, target, run, describe]) => {
  const { ms, out } = best(run);
  return {
    query: name,
    ms: Math.round(ms),
    target: target ? `≤ ${target} ms` : '—',
    met: target ? (ms <= target ? 'yes' : 'NO') : '',
    result: describe(out),
  };
});
console.log(
  `analytics dataset: ${stored.toLocaleString('en-US')} events, ${USERS.toLocaleString('en-US')} users, 50 names, ${DAYS} days; ` +
    `ingested at ${Math.round((stored / ingestMs) * 1000).toLocaleString('en-US')} events/s (wasm, JS API, batches of 1000)`,
);
console.table(rows);

// Privacy: three people with 10,000 events each join the million; export
// one, then erase each (vacuum-equivalent scrub included).
const SUBJECTS = 3;
for (let k = 0; k < SUBJECTS; k++) {
  const who = `subject-${k}`;
  trail.tracking.identify(`anon-${who}`, who);
  for (let b = 0; b < 10; b++) {
    const events = Array.from({ length: 1000 }, (_, i) => ({
      ts: D0 + rand(DAYS * DAY),
      userId: who,
      anonymousId: `anon-${who}`,
      type: 'action',
      name: OTHER[rand(OTHER.length)],
      ip: '203.0.113.7',
      properties: { n: b * 1000 + i, note: 'free text' },
    }));
    trail.tracking.trackBatch(events);
  }
}
const p = trail.privacy;
const exported = ['json', 'csv', 'sqlite'].map((format) => {
  const { ms, out } = best(() => p.export('subject-0', { format }));
  return { format, ms, out };
});
const erases = [];
for (let k = 0; k < SUBJECTS; k++) {
  const t = performance.now();
  const r = p.erase(`subject-${k}`, { reason: 'bench' });
  erases.push({ ms: performance.now() - t, events: r.counts.events });
}
const worstErase = Math.max(...erases.map((e) => e.ms));
console.log('privacy: a subject with 10,000 events among 1.03M (wasm, JS API)');
console.table([
  ...exported.map(({ format, ms, out }) => ({
    operation: `export ${format}`,
    ms: Math.round(ms),
    target: format === 'json' ? '≤ 300 ms' : '—',
    met: format === 'json' ? (ms <= 300 ? 'yes' : 'NO') : '',
    result: `${out.counts.events} events, ${(out.bytes.length / 1e6).toFixed(1)} MB`,
  })),
  {
    operation: 'erase (worst of 3)',
    ms: Math.round(worstErase),
    target: '≤ 500 ms',
    met: worstErase <= 500 ? 'yes' : 'NO',
    result: erases.map((e) => `${e.events} events in ${Math.round(e.ms)} ms`).join(', '),
  },
]);
trail.close();
