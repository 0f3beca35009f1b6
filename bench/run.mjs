// Wasm half of `./build.sh bench`: times the workloads in `usertrail::bench`
// on the wasm build in Node, then prints them beside the native figures.
// Usage: node bench/run.mjs <native.jsonl> <bench pkg usertrail.js>
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';

const [nativeFile, pkgFile] = process.argv.slice(2);
// Loaded as the package loads it: the web target, initialised from bytes.
const { Bench, initSync } = await import(pathToFileURL(resolve(pkgFile)));
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

const native = Object.fromEntries(
  readFileSync(nativeFile, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
    .map((r) => [r.name, r]),
);

const perSec = (r) => Math.round((r.ops / r.ms) * 1000).toLocaleString('en-US');
const rows = Object.entries(wasm).map(([name, w]) => {
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
