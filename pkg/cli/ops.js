// The command line's long operations: run in a worker thread, so that the
// main thread keeps drawing the progress bar and can stop them at Ctrl-C.
// Each reports progress as `{ done, total, unit }` and resolves with a
// plain object for the main thread to print.

import fs from 'node:fs';
import { dirname } from 'node:path';
import { UserTrail, uuidv7 } from '../index.js';
import { fileHost } from '../node-fs.js';

/**
 * The file functions of the engine's file VFS, counting the bytes written
 * to the files `watch` picks (for a progress bar that follows the writes).
 */
function countingHost(watch, onWrite) {
  const host = fileHost(fs, dirname);
  const watched = new Set();
  return {
    ...host,
    open(path, ...rest) {
      const fd = host.open(path, ...rest);
      if (watch(path)) watched.add(fd);
      return fd;
    },
    write(fd, buf, offset) {
      host.write(fd, buf, offset);
      if (watched.has(fd)) onWrite(buf.length);
    },
    close(fd) {
      watched.delete(fd);
      return host.close(fd);
    },
  };
}

/** Progress reports at most every 50 ms. */
function throttled(report) {
  let last = 0;
  return (p, force = false) => {
    const now = Date.now();
    if (force || now - last >= 50) {
      last = now;
      report(p);
    }
  };
}

/** A compacted copy at `into`, written through the file VFS (`VACUUM INTO`). */
async function vacuum({ file, into, durability }, report) {
  // One open: the file VFS keeps the functions of the first open in this thread.
  let total = 0;
  let done = 0;
  const tick = throttled(report);
  const counting = countingHost(
    (p) => p === into,
    (n) => {
      done += n;
      tick({ done: Math.min(done, total), total, unit: 'bytes' });
    },
  );
  // The file's lock outlives this engine: the command holds it until the
  // copy has taken the file's place, so that nothing is written to the file
  // in between (it removes the lock after the rename, or on a failure).
  const host = { ...counting, unlockFile: (path) => (path === file ? undefined : counting.unlockFile(path)) };
  const trail = await UserTrail.open({ durability, storage: { file, fs: host } });
  try {
    const info = await trail.info();
    total = (info.pageCount - info.freePages) * info.pageSize;
    await trail.privacy.vacuum({ into });
  } finally {
    await trail.close();
  }
  // The copy has a rollback journal: opened as the file was (WAL or not), it takes the file's journal mode.
  const copy = await UserTrail.open({ durability, storage: { file: into, fs: host } });
  await copy.close();
  return { before: fs.statSync(file).size, after: fs.statSync(into).size };
}

/** Opens the file, which migrates it; progress follows the bytes written to it and its journal. */
async function migrate({ file, durability }, report) {
  const size = fs.statSync(file).size;
  let done = 0;
  // Bytes while the schema migrates; once packing starts, blocks only (the
  // packing writes through the same file, and its bytes are not the
  // migration's: they would draw a bar that stops part way).
  let packing = false;
  const tick = throttled(report);
  const trail = await UserTrail.open({
    durability,
    storage: {
      file,
      fs: countingHost(
        (p) => p === file || p === `${file}-journal` || p === `${file}-wal`,
        (n) => {
          done += n;
          if (!packing) tick({ done, total: 2 * size, unit: 'bytes' });
        },
      ),
    },
  });
  const version = trail.schemaVersion;
  let blocks = 0;
  packing = true;
  // The schema is migrated: say so before the first step, so Ctrl-C from
  // here says what it keeps (a signal only: nothing is drawn for it).
  tick({ done: 0, total: 0, unit: 'blocks', signalOnly: true }, true);
  try {
    // The packed blocks of events analytics reads (schema version 13): a
    // file from before has none, and one from before 15 has them without
    // event types (packed again here). A transaction per step, so stopping
    // keeps what is packed.
    for (;;) {
      const step = await trail.tracking.packBlocks({ max: 16 });
      blocks += step.packed;
      if (step.remaining === 0 || step.packed === 0) break;
      tick({ done: blocks, total: blocks + step.remaining, unit: 'blocks' }, blocks === step.packed);
    }
  } finally {
    await trail.close();
  }
  return { schemaVersion: version, blocks };
}

/** A subject's export, written to `out`. */
async function exportSubject({ file, bytes, subject, format, out, actor, durability }, report) {
  const trail = await UserTrail.open(bytes ? { storage: { bytes } } : { storage: { file, fs: fileHost(fs, dirname) }, durability });
  try {
    const tick = throttled(report);
    const f = await trail.privacy.export(subject, {
      format,
      actor,
      onProgress: (p) => tick({ done: p.tablesDone, total: p.tablesTotal, unit: 'tables', rows: p.rows }),
    });
    fs.writeFileSync(out, f.bytes, { flag: 'wx' });
    return { out, format: f.format, bytes: f.bytes.byteLength, counts: f.counts };
  } finally {
    await trail.close();
  }
}

/** A seeded generator (mulberry32): the same data for the same seed. */
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

const PRODUCTS = ['sencha', 'matcha', 'earl-grey', 'assam', 'oolong', 'rooibos', 'chai', 'jasmine'];
const DAY = 86_400_000;

/** One user's visits over `days` before `now`: page views and a shop's actions. */
function* visits(rand, now, days, userId) {
  let day = now - Math.floor(rand() * days) * DAY;
  const returns = Math.floor(-Math.log(1 - rand()) * 3);
  for (let s = 0; s <= returns && day < now; s++) {
    let ts = Math.floor(day / DAY) * DAY + Math.floor((8 + rand() * 12) * 3_600_000);
    if (ts > now - 60_000) ts = now - 60_000 - Math.floor(rand() * 3_600_000);
    const sessionId = `${userId}-s${s}`;
    const plan = rand() < 0.3 ? 'pro' : 'free';
    const ev = (type, name, path, properties = {}) => {
      ts += Math.floor(5_000 + rand() * 60_000);
      return { eventId: uuidv7(ts), type, name, path, properties: { plan, ...properties }, userId, sessionId, ts };
    };
    yield ev('page', 'page_view', '/');
    for (let i = 0, n = 1 + Math.floor(rand() * 3); i < n; i++) {
      const p = PRODUCTS[Math.floor(rand() * rand() * PRODUCTS.length)];
      yield ev('page', 'page_view', `/product/${p}`);
      yield ev('action', 'product_view', `/product/${p}`, { product: p });
      if (rand() < 0.3) {
        yield ev('action', 'add_to_cart', `/product/${p}`, { product: p });
        if (rand() < 0.5) {
          yield ev('page', 'page_view', '/checkout');
          yield ev('action', 'purchase', '/checkout', { product: p });
        }
        break;
      }
    }
    day += Math.ceil(1 + rand() * 6) * DAY;
  }
}

/** Sample data: users with consent decisions, their visits, and an experiment. */
async function sample({ file, users, days, seed, durability }, report) {
  // A new file: no sync per commit (a killed process still leaves a sound file); sample data is not precious.
  const trail = await UserTrail.open({ storage: { file, fs: fileHost(fs, dirname) }, durability });
  try {
    const rand = rng(seed);
    const now = Date.now();
    const events = [];
    const ids = [];
    for (let i = 0; i < users; i++) {
      const userId = `sample-${seed}-${String(i).padStart(6, '0')}`;
      ids.push(userId);
      for (const e of visits(rand, now, days, userId)) events.push(e);
    }
    const total = ids.length + events.length;
    const tick = throttled(report);
    for (let i = 0; i < ids.length; i++) {
      // Most say yes to analytics; some say no to marketing under the newer policy.
      await trail.privacy.grant(ids[i], { purposes: ['analytics'], source: 'sample data' });
      if (rand() < 0.4) await trail.privacy.withdraw(ids[i], { purposes: ['marketing'], source: 'sample data' });
      else if (rand() < 0.3) await trail.privacy.grant(ids[i], { purposes: ['marketing'], source: 'sample data' });
      tick({ done: i + 1, total, unit: 'steps' });
    }
    let stored = 0;
    for (let i = 0; i < events.length; i += 2000) {
      const results = await trail.tracking.trackBatch(events.slice(i, i + 2000), { partial: true });
      stored += results.filter((r) => r.status === 'stored').length;
      tick({ done: ids.length + Math.min(events.length, i + 2000), total, unit: 'steps' });
    }
    await trail.experiments.define({ key: 'buy_button', variants: [{ name: 'blue', weight: 1 }, { name: 'green', weight: 1 }] });
    const tested = ids.slice(0, Math.min(400, ids.length));
    const conversions = [];
    for (const userId of tested) {
      const variant = await trail.experiments.assign('buy_button', userId);
      if (rand() < (variant === 'green' ? 0.2 : 0.12)) conversions.push({ type: 'action', name: 'purchase', path: '/checkout', properties: { variant }, userId });
    }
    await trail.tracking.trackBatch(conversions, { partial: true });
    report({ done: total, total, unit: 'steps' });
    return { users: ids.length, events: stored + conversions.length + tested.length, experiments: 1 };
  } finally {
    await trail.close();
  }
}

/** Events from an NDJSON file (one `TrackEvent` per line), in batches; lines the engine refuses are counted, the first 20 named. */
async function importEvents({ file, source, durability }, report) {
  // Each non-empty line, with its number in the file.
  const lines = fs
    .readFileSync(source, 'utf8')
    .split('\n')
    .map((text, n) => [text, n + 1])
    .filter(([text]) => text.trim() !== '');
  const trail = await UserTrail.open({ storage: { file, fs: fileHost(fs, dirname) }, durability });
  const statuses = {};
  const rejected = [];
  let bad = 0;
  try {
    const tick = throttled(report);
    for (let i = 0; i < lines.length; i += 1000) {
      const batch = [];
      for (const [text, line] of lines.slice(i, i + 1000)) {
        try {
          const e = JSON.parse(text);
          if (e === null || typeof e !== 'object' || Array.isArray(e)) throw new Error('not an object');
          batch.push({ event: e, line });
        } catch {
          bad++;
          if (bad <= 5) report({ warning: `line ${line} is not a JSON object: skipped` });
        }
      }
      const results = await trail.tracking.trackBatch(batch.map((b) => b.event), { partial: true });
      results.forEach((r, k) => {
        statuses[r.status] = (statuses[r.status] ?? 0) + 1;
        if (r.status === 'rejected' && rejected.length < 20) rejected.push({ line: batch[k].line, code: r.error?.code, field: r.error?.field?.replace(/^events\[\d+\]\.?/, '') || undefined, message: r.error?.message });
      });
      tick({ done: Math.min(lines.length, i + 1000), total: lines.length, unit: 'events' });
    }
  } finally {
    await trail.close();
  }
  return { lines: lines.length, notJson: bad, statuses, rejected };
}

/** Runs one operation: what the worker thread does. */
export function run(data, report) {
  switch (data.op) {
    case 'vacuum':
      return vacuum(data, report);
    case 'migrate':
      return migrate(data, report);
    case 'export':
      return exportSubject(data, report);
    case 'sample':
      return sample(data, report);
    case 'import-events':
      return importEvents(data, report);
    default:
      return Promise.reject(new Error(`unknown operation ${data.op}`));
  }
}
