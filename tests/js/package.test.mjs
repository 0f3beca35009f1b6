// The packed npm package, imported as a consumer would, in Node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { once } from 'node:events';

import { UserTrail, UserTrailError, init } from 'usertrail';
import { SCHEMA_VERSION } from './schema.mjs';

const pkg = createRequire(import.meta.url)('usertrail/package.json');
const T0 = 1_700_000_000_000;

/** Runs `fn` and returns the UserTrailError it throws (or rejects with). */
async function thrown(fn) {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof UserTrailError, `not a UserTrailError: ${err}`);
    assert.ok(err instanceof Error);
    assert.equal(err.name, 'UserTrailError');
    assert.equal(typeof err.message, 'string');
    return err;
  }
  assert.fail('expected a UserTrailError');
}

test('opens in memory with defaults, no explicit init', async () => {
  const trail = await UserTrail.open();
  assert.equal(trail.version, pkg.version);
  assert.equal(trail.schemaVersion, SCHEMA_VERSION);
  assert.ok(Math.abs(trail.createdAt - Date.now()) < 60_000);
  await trail.close();
});

test('init is idempotent', async () => {
  await init();
  await init();
  const trail = await UserTrail.open({ storage: 'memory' });
  await trail.close();
});

test('the clock option stamps creation time', async () => {
  const trail = await UserTrail.open({ storage: 'memory', clock: () => T0 });
  assert.equal(trail.createdAt, T0);
});

test('export is an SQLite file the sqlite3 CLI opens', async () => {
  const trail = await UserTrail.open({ clock: () => T0 });
  const bytes = await trail.export();
  assert.ok(bytes instanceof Uint8Array);
  assert.equal(new TextDecoder().decode(bytes.subarray(0, 15)), 'SQLite format 3');
  const file = join(mkdtempSync(join(tmpdir(), 'usertrail-')), 'export.sqlite');
  writeFileSync(file, bytes);
  const out = execFileSync('sqlite3', [
    file,
    "PRAGMA integrity_check; PRAGMA user_version; SELECT value FROM meta WHERE key = 'created_at';",
  ]).toString();
  assert.equal(out, `ok\n${SCHEMA_VERSION}\n${T0}\n`);
  assert.deepEqual(readFileSync(file), Buffer.from(bytes));
});

test('bytes round-trip through export and open', async () => {
  const trail = await UserTrail.open({ clock: () => T0 });
  const copy = await UserTrail.open({ storage: { bytes: (await trail.export()) }, clock: () => T0 + 5 });
  assert.equal(copy.createdAt, T0, 'the copy keeps the original creation time');
  assert.equal(copy.schemaVersion, SCHEMA_VERSION);
});

test('bytes that are not a database give NOT_A_DATABASE', async () => {
  for (const bytes of [
    new Uint8Array(0),
    new TextEncoder().encode("'; DROP TABLE meta; --"),
    new Uint8Array(8192).fill(0xff),
  ]) {
    const err = await thrown(() => UserTrail.open({ storage: { bytes } }));
    assert.equal(err.code, 'NOT_A_DATABASE');
  }
});

test('corrupt and truncated bytes give CORRUPT', async () => {
  const trail = await UserTrail.open();
  const good = await trail.export();
  const truncated = good.slice(0, good.length - 100);
  assert.equal((await thrown(() => UserTrail.open({ storage: { bytes: truncated } }))).code, 'CORRUPT');
});

test('a database from a newer schema gives SCHEMA_TOO_NEW', async () => {
  const bytes = await (await UserTrail.open()).export();
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(60, 99); // user_version
  const err = await thrown(() => UserTrail.open({ storage: { bytes } }));
  assert.equal(err.code, 'SCHEMA_TOO_NEW');
  assert.match(err.message, /99/);
});

test('bad options give INVALID_INPUT naming the field', async () => {
  const cases = [
    [{ storage: 'floppy' }, 'storage'],
    [{ storage: { bytes: 'not bytes' } }, 'storage.bytes'],
    [{ storage: { bytes: [1, 2, 3] } }, 'storage.bytes'],
    [{ storage: { bytes: new Uint8Array(1), opfs: {} } }, 'storage'],
    [{ storage: { opfs: { pool: 'p', colour: 'red' } } }, 'storage.opfs.colour'],
    [{ storage: 42 }, 'storage'],
    [{ stroage: 'memory' }, 'stroage'],
    [{ busyTimeoutMs: -1 }, 'busyTimeoutMs'],
    [{ clock: 'noon' }, 'clock'],
    [{ clock: () => Number.NaN }, 'clock'],
    [{ clock: () => -5 }, 'clock'],
    [{ storage: { opfs: { pool: '' } } }, 'storage.opfs.pool'],
  ];
  for (const [options, field] of cases) {
    const err = await thrown(() => UserTrail.open(options));
    assert.equal(err.code, 'INVALID_INPUT', JSON.stringify(options));
    assert.equal(err.field, field, JSON.stringify(options));
  }
});

test('OPFS outside a browser worker gives UNSUPPORTED', async () => {
  const err = await thrown(() => UserTrail.open({ storage: 'opfs' }));
  assert.equal(err.code, 'UNSUPPORTED');
  assert.match(err.message, /dedicated worker/);
});

test('a closed engine throws CLOSED; close is idempotent', async () => {
  const trail = await UserTrail.open();
  assert.equal(trail.closed, false);
  await trail.close();
  await trail.close();
  assert.equal(trail.closed, true);
  assert.equal((await thrown(() => trail.export())).code, 'CLOSED');
  assert.equal((await thrown(() => trail.schemaVersion)).code, 'CLOSED');
  assert.equal(trail.version, pkg.version);
});

test('the installed package and its middleware import in a worker thread', async () => {
  const { Worker } = await import('node:worker_threads');
  const worker = new Worker(new URL('./worker-import.mjs', import.meta.url));
  const [message] = await once(worker, 'message');
  await worker.terminate();
  assert.deepEqual(message, { createdAt: 42, cookie: '__Host-ut.sid' });
});
