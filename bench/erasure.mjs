// Erasure against the database's size, in `./build.sh bench`: the packed
// package in Node on a `{ file }` database, grown in stages (1M events, then
// 10M by default). At each stage one more subject, whose 10,000 events
// arrived interleaved with everyone else's through the whole database so
// far, is erased with the default options, timed, and the database file, its
// WAL and its journal are scanned byte by byte for the subject's id. Erasure
// must not rewrite the database (`vacuumed: false`), so its time should not
// grow with the database; a user with 100 events (spread over the stage) is
// erased too. For contrast, the first stage also times an erasure with the
// rewrite (`vacuum: true`), what every erasure cost before.
//
// Usage: node bench/erasure.mjs <pkg/index.js>
// Env: ERASURE_STAGES (default "1000000,10000000"),
//      ERASURE_DURABILITY (default "normal").
import { closeSync, existsSync, mkdirSync, openSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';

const [pkgFile] = process.argv.slice(2);
const { UserTrail } = await import(pathToFileURL(resolve(pkgFile)));

const STAGES = (process.env.ERASURE_STAGES ?? '1000000,10000000').split(',').map(Number);
const DURABILITY = process.env.ERASURE_DURABILITY ?? 'normal';
const PER_SUBJECT = 10_000;
const BATCH = 1000;
const DIR = resolve('target/bench/erasure');
rmSync(DIR, { recursive: true, force: true });
mkdirSync(DIR, { recursive: true });
const file = `${DIR}/trail.db`;

const DAY = 86_400_000;
const D0 = Date.UTC(2026, 0, 1);
const NOW = D0 + 365 * DAY;
const TOTAL = STAGES[STAGES.length - 1];

/** Whether `needle` occurs in the file at `path`, read in 64 MiB chunks. */
function fileHolds(path, needle) {
  if (!existsSync(path)) return false;
  const n = Buffer.from(needle);
  const fd = openSync(path, 'r');
  const chunk = Buffer.alloc(64 << 20);
  let at = 0;
  try {
    for (;;) {
      const got = readSync(fd, chunk, 0, chunk.length, at);
      if (got === 0) return false;
      if (chunk.subarray(0, got).indexOf(n) !== -1) return true;
      if (got < chunk.length) return false;
      at += got - n.length; // overlap, so a match across chunks is found
    }
  } finally {
    closeSync(fd);
  }
}

const trail = await UserTrail.open({ storage: { file }, durability: DURABILITY, clock: () => NOW });
const rows = [];
let ingested = 0;
let ingestMs = 0;
let subject = 0;
let extra = 0; // the subjects' own events so far
const subjects = STAGES.map((_, k) => `subject-${k}`);
const contrast = 'subject-contrast';
for (const [k, size] of STAGES.entries()) {
  // Subject k's events are spread evenly over the first `size` events, so
  // they reach every part of the database that stage ends with; later
  // subjects' over a larger span.
  const t0 = performance.now();
  let batch = [];
  for (let i = ingested; i < size; i++) {
    const ts = D0 + Math.floor((i / TOTAL) * 360 * DAY);
    batch.push({ ts, userId: `user-${i % 50_000}`, sessionId: `s-${i % 500_000}`, type: 'page', name: 'page_view', path: `/p/${i % 40}` });
    for (let s = k; s < STAGES.length; s++) {
      const every = Math.floor(STAGES[s] / PER_SUBJECT);
      if (i % every === 0) {
        batch.push({ ts, userId: subjects[s], sessionId: `${subjects[s]}-s-${i % 50}`, type: 'action', name: 'click', ip: '203.0.113.7', properties: { n: i, note: 'free text' } });
        extra++;
      }
    }
    // A typical user: 100 events over the stage, erased with the subject.
    if (i % Math.floor((size - (STAGES[k - 1] ?? 0)) / 100) === 0) {
      batch.push({ ts, userId: `small-${k}`, type: 'action', name: 'click', properties: { n: i } });
      extra++;
    }
    if (k === 0 && i % Math.floor(size / PER_SUBJECT) === 0) {
      batch.push({ ts, userId: contrast, type: 'action', name: 'click', properties: { n: i } });
      extra++;
    }
    if (batch.length >= BATCH) {
      await trail.tracking.trackBatch(batch);
      batch = [];
    }
  }
  if (batch.length) await trail.tracking.trackBatch(batch);
  ingestMs += performance.now() - t0;
  ingested = size;
  const mb = statSync(file).size / 1e6;
  const database = `${(size + extra).toLocaleString('en-US')} events, ${mb.toFixed(0)} MB`;
  /** Erases `who` with `options`, times it, scans the files, adds a row. */
  const erase = async (who, operation, options = {}, target = '≤ 300 ms') => {
    const t = performance.now();
    const r = await trail.privacy.erase(who, { reason: 'bench', ...options });
    const ms = performance.now() - t;
    const left = [file, `${file}-wal`, `${file}-journal`].filter((f) => fileHolds(f, who));
    rows.push({
      database,
      operation,
      ms: Math.round(ms),
      target,
      met: target === '—' ? '' : ms <= 300 ? 'yes' : 'NO',
      erased: `${r.counts.events} events`,
      vacuumed: r.vacuumed,
      'byte scan': left.length ? `FOUND in ${left.join(', ')}` : 'clean',
    });
  };
  await erase(subjects[subject++], 'erase (default)');
  await erase(`small-${k}`, 'erase a user with 100 events (default)');
  if (k === 0) await erase(contrast, 'erase, vacuum: true (the old default)', { vacuum: true }, '—');
  console.log(`stage ${k + 1}: ${size.toLocaleString('en-US')} events ingested (${(ingestMs / 1000).toFixed(0)} s so far)`);
}
await trail.close();
console.log(`erasure on a { file } database, durability ${DURABILITY}:`);
console.table(rows);
writeFileSync(resolve('target/bench/erasure.json'), JSON.stringify({ durability: DURABILITY, rows }, null, 2));
rmSync(DIR, { recursive: true, force: true });
