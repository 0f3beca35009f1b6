// The scale section of `./build.sh bench`: one engine on a file (the wasm
// package in Node, durability `normal`) ingests up to 10M events in batches
// of 1,000, and DuckDB gets the same events in a file. At each size (1M, 4M,
// 10M by default) both are closed and every dashboard query is timed from a
// fresh process (bench/scale-query.mjs): the first query after opening
// (cold) and each query warm, with the process's memory; then the first
// query again from another fresh process (a second restart). usertrail's
// close after ingest writes its day rollups, and is timed beside DuckDB's. Results are printed and written to
// target/bench/scale.json.
//
// Usage: node bench/scale.mjs <pkg/index.js>
// Env: SCALE_SIZES (default 1000000,4000000,10000000), SCALE_DIR (default
// target/bench/scale; needs about 4 GB at 10M), SCALE_KEEP=1 keeps the files.
import { randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { DuckDBInstance } from '@duckdb/node-api';

const [pkgFile] = process.argv.slice(2);
const { UserTrail } = await import(pathToFileURL(resolve(pkgFile)));

const SIZES = (process.env.SCALE_SIZES ?? '1000000,4000000,10000000').split(',').map(Number);
const DIR = resolve(process.env.SCALE_DIR ?? 'target/bench/scale');
const BATCH = 1000;
const DAY = 86_400_000;
const DAYS = 90;
const D0 = Date.UTC(2026, 0, 1);
const NOW = D0 + DAYS * DAY;
const TOTAL = Math.max(...SIZES);
const USERS = Math.max(100, Math.round(TOTAL / 100));
const FUNNEL = ['product_view', 'add_to_cart', 'checkout', 'purchase'];
const OTHER = Array.from({ length: 45 }, (_, i) => `action_${i}`);
rmSync(DIR, { recursive: true, force: true });
mkdirSync(DIR, { recursive: true });
const utFile = `${DIR}/usertrail.db`;
const duckFile = `${DIR}/events.duckdb`;
const log = (m) => console.log(`  ${new Date().toISOString().slice(11, 19)} ${m}`);

// The events, generated batch by batch (10M objects would not fit in a
// Node heap): the same shape as bench/peers.mjs, sessions of up to 10
// events, half of them page views, funnels of random depth.
let seed = 2463534242;
const rand = (n) => {
  seed ^= seed << 13;
  seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  seed >>>= 0;
  return seed % n;
};
let user = 0;
let pending = [];
function nextBatch() {
  while (pending.length < BATCH) {
    const u = user;
    user = (user + 1) % USERS;
    const s = randomUUID();
    let ts = D0 + rand(DAYS - 1) * DAY + rand(DAY);
    const depth = rand(5);
    let step = 0;
    for (let i = 0; i < 10; i++) {
      ts += 5_000 + rand(60_000);
      const base = { eventId: randomUUID(), ts, userId: `user-${u}`, sessionId: `s-${s}` };
      if (i % 2 === 0) pending.push({ ...base, type: 'page', name: 'page_view', path: `/page/${rand(40)}` });
      else if (step < depth && step < FUNNEL.length) pending.push({ ...base, type: 'action', name: FUNNEL[step++] });
      else pending.push({ ...base, type: 'action', name: OTHER[rand(OTHER.length)], properties: { n: i } });
    }
  }
  const batch = pending.slice(0, BATCH);
  pending = pending.slice(BATCH);
  return batch;
}

let instance = await DuckDBInstance.create(duckFile);
let duck = await instance.connect();
await duck.run(`CREATE TABLE events (event_id VARCHAR, ts BIGINT, type VARCHAR, name VARCHAR,
  user_id VARCHAR, session_id VARCHAR, path VARCHAR)`);

/** A fresh process timing one side at the current size. */
function measure(side, file) {
  const out = execFileSync(
    process.execPath,
    [resolve('bench/scale-query.mjs'), side, side === 'ut' ? pkgFile : '-', file, String(D0), String(NOW)],
    { encoding: 'utf8', maxBuffer: 1 << 20 },
  );
  return JSON.parse(out.trim().split('\n').at(-1));
}

const results = { at: new Date().toISOString(), users: USERS, days: DAYS, sizes: [] };
let ingested = 0;
let ingestMs = 0;
let trail = await UserTrail.open({ storage: { file: utFile }, durability: 'normal', clock: () => NOW });
for (const size of SIZES) {
  log(`ingesting up to ${size.toLocaleString('en-US')} events`);
  const appender = await duck.createAppender('events');
  while (ingested < size) {
    const batch = nextBatch();
    const t = performance.now();
    await trail.tracking.trackBatch(batch);
    ingestMs += performance.now() - t;
    for (const e of batch) {
      appender.appendVarchar(e.eventId);
      appender.appendBigInt(BigInt(e.ts));
      appender.appendVarchar(e.type);
      appender.appendVarchar(e.name);
      appender.appendVarchar(e.userId);
      appender.appendVarchar(e.sessionId);
      if (e.path) appender.appendVarchar(e.path);
      else appender.appendNull();
      appender.endRow();
    }
    ingested += batch.length;
    if (ingested % 1_000_000 === 0) log(`  ${ingested.toLocaleString('en-US')}`);
  }
  appender.closeSync();
  // Closing writes the day rows of the whole days stored (analytics::days):
  // timed, with DuckDB's close (its checkpoint) beside it.
  let t = performance.now();
  await trail.close();
  const utCloseMs = performance.now() - t;
  t = performance.now();
  duck.closeSync();
  instance.closeSync();
  const dkCloseMs = performance.now() - t;
  log(`measuring at ${size.toLocaleString('en-US')}: usertrail`);
  const ut = measure('ut', utFile);
  log(`measuring at ${size.toLocaleString('en-US')}: DuckDB`);
  const dk = measure('duck', duckFile);
  // Each again in a fresh process: the first query after a restart (a
  // second one: the ingesting engine's close wrote the rollups' day rows).
  log(`measuring at ${size.toLocaleString('en-US')}: both again, after a restart`);
  const utAgain = measure('ut', utFile);
  const dkAgain = measure('duck', duckFile);
  const bytes = (f) => ['', '-wal'].map((x) => (existsSync(f + x) ? statSync(f + x).size : 0)).reduce((a, b) => a + b);
  results.sizes.push({
    events: size,
    ingestPerSec: (ingested / ingestMs) * 1000,
    closeMs: { usertrail: utCloseMs, duckdb: dkCloseMs },
    bytesPerEvent: { usertrail: bytes(utFile) / size, duckdb: bytes(duckFile) / size },
    usertrail: ut,
    duckdb: dk,
    afterRestart: { usertrail: utAgain, duckdb: dkAgain },
  });
  const rows = [
    { work: 'close after ingest', usertrail: utCloseMs, duckdb: dkCloseMs },
    { work: 'open', usertrail: ut.openMs, duckdb: dk.openMs },
    { work: 'first query (summary), cold, first process after ingest', usertrail: ut.coldSummaryMs, duckdb: dk.coldSummaryMs },
    { work: 'first query (summary), cold, a second process', usertrail: utAgain.coldSummaryMs, duckdb: dkAgain.coldSummaryMs },
    ...Object.keys(ut.warm).map((k) => ({ work: `${k}, warm`, usertrail: ut.warm[k], duckdb: dk.warm[k] })),
  ].map((r) => ({
    work: r.work,
    'usertrail ms': r.usertrail.toFixed(1),
    'DuckDB ms': r.duckdb.toFixed(1),
    ratio: (r.usertrail / r.duckdb).toFixed(2),
  }));
  console.log(
    `scale: ${size.toLocaleString('en-US')} events; usertrail ingest ${Math.round((ingested / ingestMs) * 1000).toLocaleString('en-US')}/s; ` +
      `RSS usertrail ${ut.rssMb.toFixed(0)} MB (baseline ${ut.baselineRssMb.toFixed(0)}, SQLite cache up to 32), ` +
      `DuckDB ${dk.rssMb.toFixed(0)} MB (baseline ${dk.baselineRssMb.toFixed(0)})`,
  );
  console.table(rows);
  if (size !== SIZES.at(-1)) {
    // Both reopened to append the next events.
    trail = await UserTrail.open({ storage: { file: utFile }, durability: 'normal', clock: () => NOW });
    instance = await DuckDBInstance.create(duckFile);
    duck = await instance.connect();
  }
}
mkdirSync('target/bench', { recursive: true });
writeFileSync('target/bench/scale.json', JSON.stringify(results, null, 2));
console.log('written: target/bench/scale.json');
if (!process.env.SCALE_KEEP) rmSync(DIR, { recursive: true, force: true });
