// Wasm half of `./build.sh bench`: times the workloads in `usertrail::bench`
// on the wasm build in Node, then prints them beside the native figures.
// Usage: node bench/run.mjs <native.jsonl> <bench pkg usertrail.js>
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';

const [nativeFile, pkgFile] = process.argv.slice(2);
// Loaded as the package loads it: the web target, initialised from bytes.
const { Bench, UserTrail, initSync } = await import(pathToFileURL(resolve(pkgFile)));
initSync({ module: readFileSync(resolve(pkgFile, '..', 'usertrail_bg.wasm')) });

// The same sizes and run count as benches/native.rs.
const ROWS = 20_000;
const LOOKUPS = 100_000;
const OPENS = 200;
const RUNS = 5;
const LIVE_SESSIONS = 100_000;
const CREATES = 10_000;
const VALIDATES = 100_000;

/** The fastest of RUNS runs of `work`, in ms: a warm, steady-state figure. */
function best(work) {
  let ms = Infinity;
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    work();
    ms = Math.min(ms, performance.now() - t);
  }
  return ms;
}

/** `best` for async work. */
async function bestAsync(work) {
  let ms = Infinity;
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await work();
    ms = Math.min(ms, performance.now() - t);
  }
  return ms;
}

const wasm = {};
wasm.open_migrate = { ops: OPENS, ms: best(() => Bench.openMigrate(OPENS)) };
wasm.insert = {
  ops: ROWS,
  ms: best(() => {
    const b = new Bench();
    b.insert(ROWS);
    b.free();
  }),
};
const bench = new Bench();
bench.insert(ROWS);
wasm.point_lookup = { ops: LOOKUPS, ms: best(() => bench.pointLookup(ROWS, LOOKUPS)) };
bench.free();

const sessions = new Bench();
sessions.createSessions(LIVE_SESSIONS);
wasm.session_create = { ops: CREATES, ms: best(() => sessions.createSessions(CREATES)) };
wasm.session_validate = {
  ops: VALIDATES,
  ms: best(() => {
    if (sessions.validateSessions(VALIDATES) !== VALIDATES) throw new Error('a session did not validate');
  }),
};
sessions.free();

// A user's 50 preferences through the JS API (trail.prefs.getAll).
const PREF_READS = 10_000;
{
  const trail = await UserTrail.open({ clock: () => 1_700_000_000_000 });
  for (let i = 0; i < 41; i++) {
    const key = `bench.option_${String(i).padStart(2, '0')}`;
    await trail.prefs.define({ key, category: `bench${i % 4}`, type: 'number', default: 0, min: 0, max: 1000 });
    await trail.prefs.set('alice', key, i * 10);
  }
  await trail.prefs.set('alice', 'appearance.theme', 'dark');
  wasm.prefs_get_all_50 = {
    ops: PREF_READS,
    ms: await bestAsync(async () => {
      for (let i = 0; i < PREF_READS; i++) if ((await trail.prefs.getAll('alice')).length !== 50) throw new Error('not 50');
    }),
  };
  await trail.close();
}

// The cost of one calling convention (every method returns a Promise):
// 100,000 validates through the JS API, one await each, against the same
// validates in one call into wasm (Bench.validateSessions, no Promise).
{
  const trail = await UserTrail.open({ clock: () => 1_700_000_000_000 });
  const tokens = [];
  for (let i = 0; i < 1000; i++) tokens.push((await trail.sessions.create({ userId: `u${i}` })).token);
  wasm.validate_js_api = {
    ops: VALIDATES,
    ms: await bestAsync(async () => {
      for (let i = 0; i < VALIDATES; i++) if (!(await trail.sessions.validate(tokens[i % 1000]))) throw new Error('invalid');
    }),
  };
  await trail.close();
}

// 1M events through the JS API (trail.tracking.trackBatch), batches of 1000,
// 10,000 users, 50 names: the same events as usertrail::bench::ingest_event.
const INGEST_BATCHES = 1_000;
const INGEST_BATCH = 1_000;
{
  const trail = await UserTrail.open({ clock: () => 1_700_000_000_000 });
  const event = (i) => ({
    type: 'action',
    name: `event_${i % 50}`,
    userId: `user-${i % 10_000}`,
    path: `/page/${i % 40}`,
    properties: { i, plan: i % 3 === 0 ? 'pro' : 'free' },
  });
  const t = performance.now();
  let stored = 0;
  for (let b = 0; b < INGEST_BATCHES; b++) {
    const batch = [];
    for (let i = 0; i < INGEST_BATCH; i++) batch.push(event(b * INGEST_BATCH + i));
    stored += (await trail.tracking.trackBatch(batch)).length;
  }
  wasm.ingest = { ops: stored, ms: performance.now() - t };
  wasm.bytesPerEvent = (await trail.export()).length / stored;
  await trail.close();
}

const native = Object.fromEntries(
  readFileSync(nativeFile, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
    .map((r) => [r.name, r]),
);

const perSec = (r) => Math.round((r.ops / r.ms) * 1000).toLocaleString('en-US');
const rows = Object.entries(wasm).filter(([, w]) => typeof w === 'object').map(([name, w]) => {
  const n = native[name];
  return {
    workload: name,
    ops: w.ops,
    'native ops/s': n ? perSec(n) : '?',
    'wasm ops/s': perSec(w),
    'wasm/native time': n ? `${(w.ms / n.ms).toFixed(2)}x` : '?',
  };
});
console.table(rows);
const getAll = wasm.prefs_get_all_50;
const viaApi = wasm.validate_js_api;
const inWasm = wasm.session_validate;
console.log(
  `one calling convention: sessions.validate through the async JS API ${perSec(viaApi)}/s ` +
    `(${((viaApi.ms * 1000) / viaApi.ops).toFixed(2)} µs per call) against ${perSec(inWasm)}/s inside one wasm call ` +
    `(${((inWasm.ms * 1000) / inWasm.ops).toFixed(2)} µs): the JS boundary (argument checks, the record's conversion, ` +
    `the Promise) costs ${(((viaApi.ms - inWasm.ms) * 1000) / viaApi.ops).toFixed(2)} µs per call`,
);
console.log(`prefs.getAll with 50 preferences: ${((getAll.ms * 1000) / getAll.ops).toFixed(1)} µs per call on wasm (JS API)`);
console.log(
  `database bytes per event at 1M events: native ${native.bytes_per_event?.value ?? '?'}, wasm ${wasm.bytesPerEvent.toFixed(1)}`,
);
