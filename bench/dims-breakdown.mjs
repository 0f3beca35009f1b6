// Breakdowns by a dimension, and queries filtered by one, on a file whose events set two: 1,000,000
// events of 20,000 users (`plan`: 3 values, `country`: 20), 50 names,
// in batches of 2,000 (durability `normal`). Prints the ingest time, the
// bytes per event once checkpointed and those of the blocks' dimensions
// (`event_block_dims`, read with better-sqlite3), then, from a fresh engine on the file, the first
// and two warm runs of `eventBreakdown({ by: 'plan' })` and of a 3-step
// funnel with `breakdown: 'country'`, and of a summary, a funnel and paths
// filtered by `dimension: { name: 'plan', value: 'pro' }`, and of a summary and a funnel
// in the segment of users whose first plan was `pro`; with `--without` first, the same
// after the blocks' dimensions are deleted (each block's values then read
// from its events' rows, as an engine does before `usertrail migrate`).
// A build from before schema version 21 (no blocks' dimensions) runs it
// too: its breakdowns and filters by a dimension read every event's row from SQLite.
//
// Usage: node bench/dims-breakdown.mjs <pkg dir> <file> [--without]   (the file is replaced)
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import fs from 'node:fs';
// Before the ingest, so that a missing package fails at once.
const Database = (await import('better-sqlite3')).default;

const [pkg, file, flag] = process.argv.slice(2);
if (!pkg || !file || (flag && flag !== '--without')) {
  console.error('usage: node bench/dims-breakdown.mjs <pkg dir> <file> [--without]');
  process.exit(2);
}
const EVENTS = 1_000_000;
for (const f of [file, `${file}-wal`, `${file}-shm`]) fs.rmSync(f, { force: true });
const { UserTrail } = await import(pathToFileURL(resolve(pkg, 'index.js')));
const start = 1767225600000;
let now = start;
const clock = () => now;
let ut = await UserTrail.open({ storage: { file }, durability: 'normal', clock });
await ut.tracking.defineDimension({ name: 'plan', type: 'string' });
await ut.tracking.defineDimension({ name: 'country', type: 'string' });
const steps = ['page_view', 'product_view', 'add_to_cart', 'checkout', 'purchase'];
const names = Array.from({ length: 50 }, (_, i) => steps[i] ?? `action_${i}`);
const plans = ['free', 'pro', 'team'];
const countries = Array.from({ length: 20 }, (_, i) => `c${i}`);
let seed = 7;
const rand = (n) => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed % n;
};
let t = performance.now();
for (let b = 0; b < EVENTS / 2000; b++) {
  const batch = [];
  for (let i = 0; i < 2000; i++) {
    const u = rand(20_000);
    now += 600;
    batch.push({
      name: names[rand(10) < 6 ? rand(5) : rand(50)],
      type: 'action',
      userId: `user-${u}`,
      sessionId: `s-${u}-${b >> 4}`,
      ts: now,
      dimensions: { plan: plans[u % 3], country: countries[u % 20] },
    });
  }
  await ut.tracking.trackBatch(batch);
}
const ingestMs = performance.now() - t;
await ut.close();
const bytes = fs.statSync(file).size;
const db = new Database(file);
// A build from before schema version 21 keeps no blocks' dimensions.
const kept = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'event_block_dims'").get().n > 0;
const dimsBytes = kept ? db.prepare('SELECT coalesce(sum(length(data)), 0) AS n FROM event_block_dims').get().n : null;
if (flag === '--without' && kept) db.exec('DELETE FROM event_block_dims');
db.close();
ut = await UserTrail.open({ storage: { file }, durability: 'normal', clock });
const range = { since: start, until: now + 1 };
const pro = { ...range, dimension: { name: 'plan', value: 'pro' } };
const queries = {
  byPlan: () => ut.analytics.eventBreakdown({ ...range, by: 'plan' }),
  funnelByCountry: () =>
    ut.analytics.funnel({ ...range, steps: ['product_view', 'add_to_cart', 'checkout'], windowSecs: 3600, breakdown: 'country' }),
  // Filtered by a dimension: the blocks' dimensions since stop 63 (before,
  // every event's row read from SQLite).
  summaryOfPro: () => ut.analytics.summary(pro),
  funnelOfPro: () => ut.analytics.funnel({ ...pro, steps: ['product_view', 'add_to_cart', 'checkout'], windowSecs: 3600 }),
  pathsOfPro: () => ut.analytics.paths(pro),
  // Users whose first event had plan `pro` (a segment): the blocks since
  // stop 63 (before, SQLite grouped every event by user).
  summaryOfFirstPro: () => ut.analytics.summary({ ...range, segment: { property: 'dimensions.plan', equals: 'pro' } }),
  funnelOfFirstPro: () =>
    ut.analytics.funnel({ ...range, segment: { property: 'dimensions.plan', equals: 'pro' }, steps: ['product_view', 'add_to_cart', 'checkout'], windowSecs: 3600 }),
};
const times = {};
for (const [name, q] of Object.entries(queries)) {
  times[name] = [];
  for (let i = 0; i < 3; i++) {
    t = performance.now();
    await q();
    times[name].push(Math.round(performance.now() - t));
  }
}
await ut.close();
console.log(
  JSON.stringify({
    pkg,
    events: EVENTS,
    without: flag === '--without',
    ingestMs: Math.round(ingestMs),
    bytesPerEvent: +(bytes / EVENTS).toFixed(1),
    dimsBytesPerEvent: dimsBytes === null ? null : +(dimsBytes / EVENTS).toFixed(2),
    ms: times,
  }),
);
