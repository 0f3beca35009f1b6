// A dashboard refreshed while events come, on the scale bench's file (run
// `bench/scale.mjs` with SCALE_KEEP=1 first; 10M events of 100,000 users
// by default): from one engine on the file, durability `normal`, the first
// and a warm run of a summary in a segment on the first page (`path`, a
// field the blocks do not keep) and on the name, of `topPages`,
// `sessionDurations` and a 3-step funnel; then five rounds of an ingest of
// 100 events (new sessions of known users, now) followed by each query
// again. The segments' users and the blocks' numbering are kept across
// the ingests (stop 64), where a build before found them again from every
// block. Prints a table and writes target/bench/live.json. The file
// gains 500 events.
//
// Usage: node bench/live.mjs <pkg/index.js> <file>
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [pkgFile, file] = process.argv.slice(2);
if (!pkgFile || !file) {
  console.error('usage: node bench/live.mjs <pkg/index.js> <file>');
  process.exit(2);
}
const { UserTrail } = await import(pathToFileURL(resolve(pkgFile)));
// The scale bench's range (bench/scale.mjs: 90 days from 2026-01-01).
const since = Date.UTC(2026, 0, 1);
const until = since + 90 * 86_400_000;
const trail = await UserTrail.open({ storage: { file }, durability: 'normal', clock: () => until });
const q = { since, until };
const queries = {
  'summary, segment on path': () => trail.analytics.summary({ ...q, segment: { property: 'path', equals: '/page/3' } }),
  'summary, segment on name': () => trail.analytics.summary({ ...q, segment: { property: 'name', equals: 'page_view' } }),
  topPages: () => trail.analytics.topPages({ ...q, limit: 10 }),
  sessionDurations: () => trail.analytics.sessionDurations(q),
  funnel: () => trail.analytics.funnel({ ...q, steps: ['product_view', 'add_to_cart', 'checkout'], windowSecs: 3600 }),
};
const timed = async (f) => {
  const t = performance.now();
  await f();
  return performance.now() - t;
};
const results = Object.fromEntries(Object.keys(queries).map((k) => [k, { first: 0, warm: 0, afterIngest: [] }]));
for (const [name, f] of Object.entries(queries)) results[name].first = await timed(f);
for (const [name, f] of Object.entries(queries)) results[name].warm = await timed(f);
for (let round = 0; round < 5; round++) {
  const events = Array.from({ length: 100 }, (_, i) => ({
    eventId: randomUUID(),
    ts: until - 1000 * (i + 1),
    userId: `user-${(round * 100 + i) * 37 % 100_000}`,
    sessionId: `s-live-${round}-${i % 10}`,
    type: 'page',
    name: 'page_view',
    path: `/page/${i % 40}`,
  }));
  await trail.tracking.trackBatch(events);
  // Each query after the ingest, the first one paying for what the ingest
  // made stale.
  for (const [name, f] of Object.entries(queries)) results[name].afterIngest.push(await timed(f));
}
await trail.close();
const ms = (x) => x.toFixed(1);
console.table(
  Object.entries(results).map(([work, r]) => ({
    work,
    'first ms': ms(r.first),
    'warm ms': ms(r.warm),
    'after each ingest of 100, ms': r.afterIngest.map(ms).join(' '),
  })),
);
mkdirSync('target/bench', { recursive: true });
writeFileSync('target/bench/live.json', `${JSON.stringify({ at: new Date().toISOString(), file, results }, null, 2)}\n`);
console.log('written: target/bench/live.json');
