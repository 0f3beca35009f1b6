// Storage faults on `storage: { file }`: the host file functions the engine's
// VFS calls (pkg/node-fs.js) wrapped so that the n-th write, fsync or
// truncate fails with EIO or ENOSPC, for every n a scripted workload reaches.
// After each fault: the call got STORAGE_ERROR or STORAGE_FULL, the engine
// is still usable or reopens cleanly, `PRAGMA integrity_check` is ok, and
// every step that returned before the fault is still there.
//
// The wrapper is a test's own host object (`storage: { file, fs }`), so no
// fault code ships in the package. The VFS is registered once per module
// instance, with the first host: every engine of this file uses `faulty`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { UserTrail, UserTrailError } from 'usertrail';

const { fileHost } = await import(join(process.env.ROOT, 'pkg', 'node-fs.js'));

const T0 = 1_700_000_000_000;
const sqlite3 = (file, sql) => execFileSync('sqlite3', [file, sql]).toString().trim();

/** The real host, with a plan: fail the `n`-th call of `op` with `code`. */
const real = fileHost(fs, dirname);
const plan = { op: null, n: 0, code: 'EIO', seen: { write: 0, sync: 0, truncate: 0 }, fired: false };
const faulty = { ...real };
for (const op of ['write', 'sync', 'truncate']) {
  faulty[op] = (...args) => {
    plan.seen[op] += 1;
    if (plan.op === op && plan.seen[op] === plan.n && !plan.fired) {
      plan.fired = true;
      const err = new Error(`${plan.code}: injected fault on ${op} #${plan.n}`);
      err.code = plan.code;
      throw err;
    }
    return real[op](...args);
  };
}
const arm = (op, n, code) => Object.assign(plan, { op, n, code, fired: false, seen: { write: 0, sync: 0, truncate: 0 } });
const disarm = () => Object.assign(plan, { op: null });

const open = (file, durability) => UserTrail.open({ storage: { file, fs: faulty }, durability, clock: () => T0 });

/** The scripted workload: each step does one thing and says how to check it
 *  (given the names of the steps that returned: a later erase or destroy
 *  undoes an earlier step on purpose). */
function workload() {
  const state = {};
  return [
    ['trackBatch a', (t) => t.tracking.trackBatch(Array.from({ length: 20 }, (_, i) => ({ name: 'view', userId: 'a', properties: { i } }))),
      async (t, done, failed) => {
        if (done.has('privacy.erase a')) return;
        const n = await t.tracking.count({ userId: 'a' });
        // An erase deletes and commits, then empties the log (a checkpoint,
        // or a journal truncated by a second, empty commit): a fault there
        // fails the call with the subject already gone (a retry finishes
        // it). Never half of the subject.
        if (failed === 'privacy.erase a') assert.ok(n === 0 || n === 20, `found ${n}`);
        else assert.equal(n, 20);
      }],
    ['sessions.create', async (t) => (state.token = (await t.sessions.create({ userId: 'ann', data: { cart: [1, 2] } })).token),
      // A destroy deletes and commits, then audits the logout in a second
      // commit: a fault there fails the call with the session already gone.
      async (t, done, failed) =>
        done.has('sessions.destroy') || failed === 'sessions.destroy' || assert.notEqual(await t.sessions.validate(state.token), null)],
    ['prefs.set', (t) => t.prefs.set('ann', 'appearance.theme', 'dark'),
      async (t) => assert.equal((await t.prefs.get('ann', 'appearance.theme')).value, 'dark')],
    ['trackBatch b', (t) => t.tracking.trackBatch(Array.from({ length: 200 }, (_, i) => ({ name: 'click', userId: 'b', properties: { i, pad: 'x'.repeat(200) } }))),
      async (t) => assert.equal(await t.tracking.count({ userId: 'b' }), 200)],
    ['privacy.erase a', (t) => t.privacy.erase('a', { reason: 'test' }),
      async (t) => assert.equal(await t.tracking.count({ userId: 'a' }), 0)],
    ['sessions.destroy', (t) => t.sessions.destroy(state.token),
      async (t) => assert.equal(await t.sessions.validate(state.token), null)],
  ];
}

/** Runs the workload on a fresh file, faulting per `plan`; returns what it saw. */
async function run(durability, fault) {
  const dir = fs.mkdtempSync(join(tmpdir(), 'usertrail-faults-'));
  const file = join(dir, 'trail.db');
  disarm();
  let trail = await open(file, durability);
  if (fault) arm(...fault);
  const steps = workload();
  const done = [];
  let failed = null;
  for (const [name, step, check] of steps) {
    try {
      await step(trail);
      done.push([name, check]);
    } catch (err) {
      failed = { name, err };
      break;
    }
  }
  const fired = plan.fired;
  disarm();
  if (failed) {
    const { name, err } = failed;
    assert.ok(err instanceof UserTrailError, `${name}: not a UserTrailError: ${err?.stack ?? err}`);
    const want = fault[2] === 'ENOSPC' ? 'STORAGE_FULL' : 'STORAGE_ERROR';
    assert.equal(err.code, want, `${name}: ${err.message}`);
    // Still usable, or closed and reopened cleanly.
    let usable = true;
    try {
      await trail.tracking.count({ userId: 'b' });
    } catch {
      usable = false;
    }
    if (!usable) {
      try {
        await trail.close();
      } catch {
        // A close after a failed write may itself report the fault.
      }
      trail = await open(file, durability);
    }
  }
  // Every step that returned is still there, in this engine and after a reopen.
  const names = new Set(done.map(([name]) => name));
  const at = `fault ${JSON.stringify(fault)}, failed step ${failed?.name}`;
  for (const [name, check] of done) await check(trail, names, failed?.name).catch((e) => assert.fail(`${at}: ${name} was acknowledged: ${e.message}`));
  await trail.close();
  assert.equal(sqlite3(file, 'PRAGMA integrity_check'), 'ok');
  trail = await open(file, durability);
  for (const [name, check] of done) await check(trail, names, failed?.name).catch((e) => assert.fail(`${at}: ${name} after reopen: ${e.message}`));
  await trail.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return { seen: { ...plan.seen }, fired, failed: failed?.name ?? null, done: done.length };
}

for (const durability of ['full', 'normal']) {
  test(`durability ${durability}: the n-th write, fsync or truncate fails with EIO or ENOSPC, for every n; typed errors, nothing acknowledged is lost, the file stays whole`, async () => {
    // How many of each the workload makes without a fault (after the open).
    const clean = await run(durability, null);
    assert.equal(clean.done, workload().length);
    const counts = clean.seen;
    assert.ok(counts.write > 10, `writes: ${counts.write}`);
    const matrix = [];
    for (const op of ['write', 'sync', 'truncate']) {
      for (const code of ['EIO', 'ENOSPC']) {
        // Every n up to 120, then a spread over the rest (a bounded loop).
        const ns = [];
        for (let n = 1; n <= counts[op]; n += n <= 120 ? 1 : Math.ceil(counts[op] / 60)) ns.push(n);
        let faulted = 0;
        for (const n of ns) {
          const r = await run(durability, [op, n, code]);
          if (r.failed) faulted += 1;
        }
        matrix.push({ op, code, points: ns.length, callsFailed: faulted, of: counts[op] });
      }
    }
    console.log(`fault matrix, durability ${durability}:`);
    console.table(matrix);
    // Faults that fired surfaced somewhere: not every write failure reaches a
    // call (a checkpoint's, after its commit returned), but most do.
    assert.ok(matrix.find((m) => m.op === 'write' && m.code === 'EIO').callsFailed > 0);
  });
}
