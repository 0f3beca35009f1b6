// storage: { file } in Node: a real SQLite file through the engine's host
// file VFS. Durable commits, one holder at a time, and a crash test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs, { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { once } from 'node:events';

import { UserTrail } from 'usertrail';

import { code } from './helpers.mjs';

const { fileHost, lockIdentity, lockOwner, releaseLock } = await import(join(process.env.ROOT, 'pkg', 'node-fs.js'));
// The lock's timing, of the module the installed package's engine uses.
const { lockLease } = await import(new URL('node-fs.js', import.meta.resolve('usertrail')));

const here = new URL('.', import.meta.url).pathname;
const scratch = () => join(mkdtempSync(join(tmpdir(), 'usertrail-file-')), 'trail.db');
const sqlite3 = (file, sql) => execFileSync('sqlite3', [file, sql]).toString().trim();

// A child's output, by lines: `lines(n)` waits (bounded) until it printed n.
const outputLines = (child) => {
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  return async (n) => {
    for (let i = 0; i < 3000 && out.split('\n').length <= n; i++) await new Promise((r) => setTimeout(r, 10));
    return out.split('\n');
  };
};

// The file's lock, as if its holder had not touched it for longer than the stale age.
const backdateLock = (file) => {
  const [name] = readdirSync(`${file}.lock`);
  const stale = (Date.now() - lockLease.staleMs - 1_000) / 1000;
  fs.utimesSync(`${file}.lock/${name}`, stale, stale);
};

test('a file engine keeps its data across close and reopen, and sqlite3 opens the file', async () => {
  const file = scratch();
  const trail = await UserTrail.open({ storage: { file }, clock: () => 1_700_000_000_000 });
  await trail.tracking.trackBatch(Array.from({ length: 100 }, (_, i) => ({ name: 'click', userId: 'ann', properties: { i } })));
  await trail.prefs.set('ann', 'appearance.theme', 'dark');
  await trail.close();
  assert.equal(existsSync(`${file}.lock`), false, 'the lock goes with the engine');
  assert.equal(sqlite3(file, 'PRAGMA integrity_check'), 'ok');
  assert.equal(sqlite3(file, 'SELECT count(*) FROM events'), '100');
  // The same clock: at 2026's wall clock, retention would drop these 2023 events.
  const again = await UserTrail.open({ storage: { file }, clock: () => 1_700_000_000_000 });
  assert.equal((await again.tracking.count({ userId: 'ann' })), 100);
  assert.equal((await again.prefs.get('ann', 'appearance.theme')).value, 'dark');
  await again.close();
});

test('one engine holds a file: a second one, here or in another process, gets BUSY', async () => {
  const file = scratch();
  const trail = await UserTrail.open({ storage: { file } });
  const same = await UserTrail.open({ storage: { file }, busyTimeoutMs: 50 }).then(() => null, (e) => e);
  assert.equal(same?.code, 'BUSY');
  assert.match(same.message, /trail\.db: held by this process .*touched its lock \d+ s ago/, 'the error says who holds it');
  const other = () =>
    execFileSync(process.execPath, ['--input-type=module', '-e', `
      import { UserTrail } from 'usertrail';
      try { (await UserTrail.open({ storage: { file: ${JSON.stringify(file)} } })).close(); console.log('opened'); }
      catch (err) { console.log(err.code, err.message); }`], { cwd: here }).toString().trim();
  assert.match(other(), new RegExp(`^BUSY .*held by process ${process.pid} on this host; it touched its lock`));
  await trail.close();
  assert.equal(other(), 'opened');
});

test('a dead holder’s lock is taken over by exactly one of the processes that find it at once, retrying as a busy wait does', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'usertrail-lock-'));
  // The id of a process that has ended.
  const dead = spawnSync(process.execPath, ['-e', '']).pid;
  const ROUNDS = 40;
  const PROCESSES = 4;
  for (let i = 0; i < ROUNDS; i++) {
    const lock = join(dir, `db${i}.lock`);
    if (i % 4 === 0) {
      // A lock file of an older usertrail (its text a dead process id, or empty).
      writeFileSync(lock, i % 8 === 0 ? String(dead) : '');
    } else {
      // A lock folder whose holder died; one a crash left empty.
      mkdirSync(lock);
      if (i % 4 !== 3) writeFileSync(join(lock, `${dead}.${lockIdentity(fs)}.x1`), String(dead));
    }
  }
  // What a process killed while it made its lock left (a while ago: a
  // staging folder is judged by its age, its pid may be of another
  // namespace), and what one making its lock now has (kept).
  const abandoned = join(dir, `db0.lock.${dead}-abc123`);
  mkdirSync(abandoned);
  const old = (Date.now() - lockLease.staleMs - 1_000) / 1000;
  fs.utimesSync(abandoned, old, old);
  const making = join(dir, `db1.lock.${dead}-def456`);
  mkdirSync(making);
  const start = Date.now() + 1500;
  const racers = Array.from({ length: PROCESSES }, () => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', `
      import fs from 'node:fs';
      import { dirname } from 'node:path';
      const { fileHost } = await import(${JSON.stringify(join(process.env.ROOT, 'pkg', 'node-fs.js'))});
      const host = fileHost(fs, dirname);
      while (Date.now() < ${start});
      const won = [];
      for (let i = 0; i < ${ROUNDS}; i++) {
        let got = false;
        for (let k = 0; k < 20 && !got; k++) got = host.lockFile(${JSON.stringify(dir)} + '/db' + i);
        won.push(got);
      }
      console.log(JSON.stringify(won));
      // Alive until every racer is done: a lock whose holder exited is a
      // dead holder's, for the next to take.
      process.stdin.resume();
      process.stdin.on('end', () => process.exit(0));`], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    const done = new Promise((resolve) => child.stdout.on('data', (d) => (out += d).includes('\n') && resolve()));
    return { child, done, exit: once(child, 'exit'), result: () => ({ pid: child.pid, won: JSON.parse(out) }) };
  });
  await Promise.all(racers.map((r) => r.done));
  const results = racers.map((r) => r.result());
  for (const r of racers) r.child.stdin.end();
  for (const r of racers) assert.equal((await r.exit)[0], 0);
  for (let i = 0; i < ROUNDS; i++) {
    const winners = results.filter((r) => r.won[i]);
    assert.equal(winners.length, 1, `lock ${i}: taken by ${winners.length} processes`);
    assert.equal(lockOwner(fs, join(dir, `db${i}`)), winners[0].pid);
  }
  assert.deepEqual(readdirSync(dir).filter((f) => !/^db\d+\.lock$/.test(f)), [`db1.lock.${dead}-def456`], 'nothing of the takeovers is left, and a staging folder in use is kept');
});

test('a lock held from another host or process namespace (a container sharing the volume) by an earlier version, that does not touch its lock, is never taken over', async () => {
  const file = scratch();
  (await UserTrail.open({ storage: { file } })).close();
  // Its pid means nothing here: this process's own, and one that has ended.
  const dead = spawnSync(process.execPath, ['-e', '']).pid;
  for (const pid of [process.pid, dead]) {
    mkdirSync(`${file}.lock`);
    const entry = `${file}.lock/${pid}.0123456789ab-4026531999.x1`;
    writeFileSync(entry, String(pid));
    assert.equal(fileHost(fs, dirname).lockFile(file), false, `pid ${pid}`);
    const err = await UserTrail.open({ storage: { file }, busyTimeoutMs: 50 }).then(() => null, (e) => e);
    assert.equal(err?.code, 'BUSY');
    assert.match(err.message, /held by process \d+ of another container or host; an earlier usertrail's lock, .*remove .*trail\.db\.lock/);
    releaseLock(fs, file);
    assert.ok(existsSync(entry), 'not ours to release');
    rmSync(`${file}.lock`, { recursive: true });
  }
  (await UserTrail.open({ storage: { file } })).close();
});

test('a lock its holder stopped touching is taken over, whoever the holder is; one touched lately is held', async () => {
  const file = scratch();
  (await UserTrail.open({ storage: { file } })).close();
  const dead = spawnSync(process.execPath, ['-e', '']).pid;
  const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)']);
  const stale = (Date.now() - lockLease.staleMs - 1_000) / 1000;
  const holders = {
    // a container sharing the volume, SIGKILLed while it held the file
    'another process namespace': `${dead}.0123456789ab-4026531999`,
    // a worker thread terminated while it held the file; an earlier
    // process with this one's id (a container restarted)
    'this process': `${process.pid}.${lockIdentity(fs)}`,
    // a process stopped, or whose id was given again to another
    'a live process here': `${sleeper.pid}.${lockIdentity(fs)}`,
  };
  const saved = { ...lockLease };
  lockLease.beatMs = 200;
  try {
    for (const [who, prefix] of Object.entries(holders)) {
      mkdirSync(`${file}.lock`);
      const entry = `${file}.lock/${prefix}.r0123456789ab`;
      writeFileSync(entry, '1');
      assert.equal(await code(() => UserTrail.open({ storage: { file }, busyTimeoutMs: 50 })), 'BUSY', `${who}, touched now`);
      assert.ok(existsSync(entry), `${who}: held`);
      fs.utimesSync(entry, stale, stale);
      const start = performance.now();
      const trail = await UserTrail.open({ storage: { file }, busyTimeoutMs: 50 });
      // Its holder may be alive, only stopped: two beats for it to learn
      // that it lost the lock, before this engine reads or writes.
      assert.ok(performance.now() - start >= 2 * lockLease.beatMs, `${who}: waited two beats`);
      assert.equal(existsSync(entry), false, `${who}: taken over`);
      assert.equal(lockOwner(fs, file), process.pid);
      await trail.tracking.track({ name: 'took', userId: 'ann' });
      await trail.close();
      assert.equal(existsSync(`${file}.lock`), false);
    }
  } finally {
    Object.assign(lockLease, saved);
    sleeper.kill();
  }
  assert.equal(sqlite3(file, "SELECT count(*) FROM events WHERE name = 'took'"), '3');
});

test('an engine touches its lock while it holds the file, at its reads and writes and on a timer when idle', async () => {
  const file = scratch();
  const saved = { ...lockLease };
  lockLease.beatMs = 20;
  const trail = await UserTrail.open({ storage: { file } });
  try {
    const [name] = readdirSync(`${file}.lock`);
    const entry = `${file}.lock/${name}`;
    const old = (Date.now() - 3_600_000) / 1000;
    const touched = () => fs.statSync(entry).mtimeMs > Date.now() - 60_000;
    // Idle: the timer (bounded wait, 20 ms a beat).
    fs.utimesSync(entry, old, old);
    for (let i = 0; i < 200 && !touched(); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(touched(), 'the timer touched it');
    // Busy: a write touches it, with the timer not run.
    lockLease.beatMs = 0;
    fs.utimesSync(entry, old, old);
    await trail.tracking.track({ name: 'x', userId: 'ann' });
    assert.ok(touched(), 'the write touched it');
    // So another process, finding it, waits.
    assert.equal(await code(() => UserTrail.open({ storage: { file }, busyTimeoutMs: 50 })), 'BUSY');
  } finally {
    Object.assign(lockLease, saved);
    await trail.close();
  }
  assert.equal(existsSync(`${file}.lock`), false);
});

for (const [durability, base] of [['normal', 'trail.db'], ['full', 'trail.db'], ['normal', 'trail-wal'], ['full', 'trail-journal']]) test(`durability ${durability}, a file named ${base}: a holder stopped past the stale age loses the file to another process, and then fails its writes instead of making them`, async () => {
  const file = join(dirname(scratch()), base);
  // The holder: writes, then (stopped and resumed) tries again when told.
  const child = spawn(process.execPath, ['--input-type=module', '-e', `
    import fs from 'node:fs';
    import { UserTrail } from 'usertrail';
    const { lockLease } = await import(new URL('node-fs.js', import.meta.resolve('usertrail')));
    const trail = await UserTrail.open({ storage: { file: ${JSON.stringify(file)} }, durability: '${durability}' });
    await trail.tracking.trackBatch(Array.from({ length: 10 }, () => ({ name: 'before', userId: 'ann' })));
    console.log('ready');
    process.stdin.once('data', async () => {
      lockLease.beatMs = 0; // resumed long after its last beat
      const err = await trail.tracking.trackBatch([{ name: 'after', userId: 'ann' }]).then(() => null, (e) => e);
      await trail.close();
      console.log(JSON.stringify({ code: err?.code, message: err?.message }));
      process.exit(0);
    });`], { cwd: here, stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  const saved = { ...lockLease };
  lockLease.beatMs = 100; // the takeover's wait: two beats
  const lines = outputLines(child);
  try {
    assert.equal((await lines(1))[0], 'ready');
    process.kill(child.pid, 'SIGSTOP');
    // As if it had been stopped for longer than the stale age.
    backdateLock(file);
    const trail = await UserTrail.open({ storage: { file }, busyTimeoutMs: 50, durability });
    assert.equal(await trail.tracking.count({ names: ['before'] }), 10, 'what it acknowledged is here');
    await trail.tracking.trackBatch(Array.from({ length: 5 }, () => ({ name: 'mine', userId: 'bob' })));
    process.kill(child.pid, 'SIGCONT');
    child.stdin.write('go\n');
    const result = JSON.parse((await lines(2))[1]);
    assert.equal(result.code, 'STORAGE_ERROR');
    assert.match(result.message, new RegExp(`another process took .*${base}'s lock over`));
    assert.equal(lockOwner(fs, file), process.pid, 'its close left this lock alone');
    await trail.tracking.trackBatch([{ name: 'mine', userId: 'bob' }]);
    await trail.close();
  } finally {
    Object.assign(lockLease, saved);
    child.kill('SIGCONT');
    child.kill();
    await exited;
  }
  assert.equal(sqlite3(file, 'PRAGMA integrity_check'), 'ok');
  assert.equal(sqlite3(file, "SELECT name, count(*) FROM events GROUP BY name ORDER BY name"), 'before|10\nmine|6');
});

test('whoever takes a lock after a takeover of a holder that may be alive waits two beats on its own clock, as the taker would have', async () => {
  const file = scratch();
  (await UserTrail.open({ storage: { file } })).close();
  const saved = { ...lockLease };
  lockLease.beatMs = 300;
  const dead = spawnSync(process.execPath, ['-e', '']).pid;
  const fence = `${file}.lock-fence`;
  try {
    // The taker was killed while it waited: its own lock is a dead
    // holder's, taken at once, but the wait it owed is still owed. Or
    // another process found the lock gone between the takedown and the
    // taker's own lock. Or the fence was being written (empty).
    for (const [how, text] of [['killed taker', 'usertrail lock fence\n'], ['slipped in', 'usertrail lock fence\n'], ['being written', '']]) {
      if (how === 'killed taker') {
        mkdirSync(`${file}.lock`);
        writeFileSync(`${file}.lock/${dead}.${lockIdentity(fs)}.r0123456789ab`, String(dead));
      }
      writeFileSync(fence, text);
      const start = performance.now();
      const trail = await UserTrail.open({ storage: { file }, busyTimeoutMs: 50 });
      assert.ok(performance.now() - start >= 2 * lockLease.beatMs, `${how}: waited two beats`);
      assert.equal(existsSync(fence), false, `${how}: then the fence goes`);
      await trail.close();
    }
    // What stands at the fence's name but is not a fence (a note, a
    // database someone named so, a folder, a FIFO) is left alone, and
    // nothing waits.
    writeFileSync(fence, 'my notes\n');
    let t0 = performance.now();
    (await UserTrail.open({ storage: { file } })).close();
    assert.ok(performance.now() - t0 < 2 * lockLease.beatMs, 'no wait for a note');
    assert.equal(readFileSync(fence, 'utf8'), 'my notes\n', 'a note at the name is kept');
    rmSync(fence);
    const db = readFileSync(file);
    writeFileSync(fence, db);
    let start = performance.now();
    (await UserTrail.open({ storage: { file } })).close();
    assert.ok(performance.now() - start < 2 * lockLease.beatMs, 'no wait for a file that is not a fence');
    assert.deepEqual(readFileSync(fence), db, 'a database at the name is kept whole');
    // ...and a takeover that needs a fence there refuses, saying why.
    mkdirSync(`${file}.lock`);
    const entry = `${file}.lock/${process.pid}.0123456789ab-4026531999.r0123456789ab`;
    writeFileSync(entry, '1');
    const stale = (Date.now() - lockLease.staleMs - 1_000) / 1000;
    fs.utimesSync(entry, stale, stale);
    const err = await UserTrail.open({ storage: { file }, busyTimeoutMs: 50 }).then(() => null, (e) => e);
    assert.equal(err?.code, 'STORAGE_ERROR');
    assert.match(err.message, /trail\.db\.lock-fence is not usertrail's: move it/);
    assert.deepEqual(readFileSync(fence), db);
    rmSync(fence);
    // A link at the fence's name is not written through: the link goes,
    // the fence takes its place, what it pointed to is unchanged.
    const precious = join(dirname(file), 'precious.txt');
    writeFileSync(precious, 'precious data');
    symlinkSync(precious, fence);
    start = performance.now();
    const trail = await UserTrail.open({ storage: { file }, busyTimeoutMs: 50 });
    assert.ok(performance.now() - start >= 2 * lockLease.beatMs, 'the takeover waited');
    await trail.close();
    assert.equal(readFileSync(precious, 'utf8'), 'precious data');
    assert.equal(existsSync(fence), false);
    // A FIFO at the name is neither waited on nor read.
    execFileSync('mkfifo', [fence]);
    start = performance.now();
    (await UserTrail.open({ storage: { file } })).close();
    assert.ok(performance.now() - start < 2 * lockLease.beatMs, 'no wait on a FIFO');
    rmSync(fence);
  } finally {
    Object.assign(lockLease, saved);
  }
});

test('a lock released while another looks at it is no takeover: nothing is fenced, nothing waits', () => {
  const file = scratch();
  const lock = `${file}.lock`;
  const entry = `${lock}/${process.pid}.${lockIdentity(fs)}.r0123456789ab`;
  mkdirSync(lock);
  writeFileSync(entry, '1');
  // Its holder (alive: this process) releases it between the look at the
  // folder and the look at its file.
  const racing = {
    ...fs,
    constants: fs.constants,
    lstatSync(path, ...rest) {
      if (path === entry && existsSync(entry)) {
        rmSync(lock, { recursive: true });
      }
      return fs.lstatSync(path, ...rest);
    },
  };
  const start = performance.now();
  assert.equal(fileHost(racing, dirname).lockFile(file), true);
  assert.ok(performance.now() - start < 2_000, 'no wait');
  assert.equal(existsSync(`${file}.lock-fence`), false, 'no fence');
  releaseLock(fs, file);
});

test('a fence older than the stale age (its takers all died, or it is another user\'s) is not waited on', async () => {
  const file = scratch();
  (await UserTrail.open({ storage: { file } })).close();
  writeFileSync(`${file}.lock-fence`, 'usertrail lock fence\n');
  const old = (Date.now() - lockLease.staleMs - 1_000) / 1000;
  fs.utimesSync(`${file}.lock-fence`, old, old);
  const start = performance.now();
  (await UserTrail.open({ storage: { file } })).close();
  assert.ok(performance.now() - start < 2 * lockLease.beatMs, 'no wait');
  assert.equal(existsSync(`${file}.lock-fence`), false, 'removed');
});

test('a lock file of an older usertrail naming no possible process (a file of digits) is taken over', async () => {
  const file = scratch();
  (await UserTrail.open({ storage: { file } })).close();
  writeFileSync(`${file}.lock`, '99999999999');
  (await UserTrail.open({ storage: { file }, busyTimeoutMs: 50 })).close();
  assert.equal(existsSync(`${file}.lock`), false);
});

test('a database named as a lock of an older usertrail is no lock: opening its neighbour refuses, and keeps it', async () => {
  const file = scratch();
  (await UserTrail.open({ storage: { file } })).close();
  const db = readFileSync(file);
  writeFileSync(`${file}.lock`, db);
  const err = await UserTrail.open({ storage: { file }, busyTimeoutMs: 50 }).then(() => null, (e) => e);
  assert.equal(err?.code, 'STORAGE_ERROR');
  assert.match(err.message, /trail\.db\.lock is neither a lock nor absent/);
  assert.deepEqual(readFileSync(`${file}.lock`), db);
});

test('a holder whose host slept (its monotonic clock stood still) checks its lock by the wall clock before it writes', async () => {
  const file = scratch();
  const child = spawn(process.execPath, ['--input-type=module', '-e', `
    import { UserTrail } from 'usertrail';
    const { lockLease } = await import(new URL('node-fs.js', import.meta.resolve('usertrail')));
    // Its timer beats once a minute (it would stand still too: libuv's
    // timers run on the monotonic clock); its reads and writes every 100 ms.
    lockLease.beatMs = 60_000;
    const trail = await UserTrail.open({ storage: { file: ${JSON.stringify(file)} } });
    lockLease.beatMs = 100;
    await new Promise((r) => setTimeout(r, 150));
    // This write beats; just after it the monotonic clock stands still, as
    // while a host sleeps.
    await trail.tracking.track({ name: 'before', userId: 'ann' });
    const frozen = performance.now();
    performance.now = () => frozen;
    console.log('ready');
    process.stdin.once('data', async () => {
      const err = await trail.tracking.track({ name: 'after', userId: 'ann' }).then(() => null, (e) => e);
      console.log(JSON.stringify({ code: err?.code ?? null }));
      process.exit(0);
    });`], { cwd: here, stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  const lines = outputLines(child);
  const saved = { ...lockLease };
  lockLease.beatMs = 100;
  try {
    assert.equal((await lines(1))[0], 'ready');
    process.kill(child.pid, 'SIGSTOP');
    backdateLock(file);
    const trail = await UserTrail.open({ storage: { file }, busyTimeoutMs: 50 });
    await trail.tracking.track({ name: 'mine', userId: 'bob' });
    child.kill('SIGCONT');
    child.stdin.write('go\n');
    assert.deepEqual(JSON.parse((await lines(2))[1]), { code: 'STORAGE_ERROR' }, 'it found its lock gone');
    await trail.close();
  } finally {
    Object.assign(lockLease, saved);
    child.kill('SIGCONT');
    child.kill();
    await exited;
  }
  assert.equal(sqlite3(file, 'PRAGMA integrity_check'), 'ok');
  assert.equal(sqlite3(file, 'SELECT name FROM events ORDER BY name'), 'before\nmine');
});

test('a lock that cannot be taken (not busy: a lock of a foreign shape) says why, with the path', async () => {
  const file = scratch();
  (await UserTrail.open({ storage: { file } })).close();
  symlinkSync(dirname(file), `${file}.lock`);
  const err = await UserTrail.open({ storage: { file } }).then(() => null, (e) => e);
  assert.equal(err?.code, 'STORAGE_ERROR');
  assert.match(err.message, /the file's lock could not be taken \(.*trail\.db\.lock is neither a lock nor absent\)/);
  rmSync(`${file}.lock`);
  (await UserTrail.open({ storage: { file } })).close();
});

test('an open that waited for the lock reads the file renamed over the old one meanwhile', async () => {
  const file = scratch();
  const seed = async (path, userId) => {
    const t = await UserTrail.open({ storage: { file: path } });
    await t.tracking.track({ name: 'seed', userId });
    await t.close();
  };
  await seed(file, 'old');
  const replacement = `${file}.new`;
  await seed(replacement, 'new');
  // This process holds the file, as `usertrail vacuum` does while it swaps it.
  assert.equal(fileHost(fs, dirname).lockFile(file), true);
  const child = spawn(process.execPath, ['--input-type=module', '-e', `
    import { UserTrail } from 'usertrail';
    console.log('opening');
    const t = await UserTrail.open({ storage: { file: ${JSON.stringify(file)} }, busyTimeoutMs: 10000 });
    const found = { old: await t.tracking.count({ userId: 'old' }), new: await t.tracking.count({ userId: 'new' }) };
    await t.tracking.track({ name: 'after', userId: 'waiter' });
    await t.close();
    console.log(JSON.stringify(found));`], { cwd: here, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  while (!out.includes('opening') && child.exitCode === null) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 300)); // it waits for the lock
  assert.equal(child.exitCode, null, 'the open waits while the file is held');
  renameSync(replacement, file);
  releaseLock(fs, file);
  const [status] = await once(child, 'exit');
  assert.equal(status, 0);
  assert.deepEqual(JSON.parse(out.split('\n')[1]), { old: 0, new: 1 }, 'it read the file now at the name');
  const t = await UserTrail.open({ storage: { file } });
  assert.equal(await t.tracking.count({ userId: 'waiter' }), 1, 'its write is in the file at the name');
  await t.close();
});

for (const [durability, runs] of [['full', 50], ['normal', 30]]) {
  test(`durability ${durability}: killed at random points ${runs} times, the file stays whole and keeps every acknowledged batch`, async () => {
    const file = scratch();
    (await UserTrail.open({ storage: { file }, durability })).close();
    let acknowledged = 0;
    for (let run = 0; run < runs; run++) {
      const child = spawn(process.execPath, ['file-writer.mjs', file, String(run), durability], { cwd: here, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      // Wait for the first acknowledged batch, then kill at a random moment.
      while (!out.includes('\n') && child.exitCode === null) await new Promise((r) => setTimeout(r, 5));
      assert.equal(child.exitCode, null, `the writer died on its own: ${err}`);
      await new Promise((r) => setTimeout(r, Math.random() * 150));
      child.kill('SIGKILL');
      await once(child, 'exit');
      const acked = out.split('\n').filter(Boolean).map(Number);
      const last = acked.at(-1);
      acknowledged += acked.length;

      // Rolls back a hot journal, or recovers the write-ahead log.
      const trail = await UserTrail.open({ storage: { file }, durability });
      for (let i = 0; i <= last; i++) {
        assert.equal((await trail.tracking.count({ userId: `r${run}-b${i}` })), 50, `run ${run}: batch ${i} was acknowledged`);
      }
      const next = await trail.tracking.count({ userId: `r${run}-b${last + 1}` });
      assert.ok(next === 0 || next === 50, `run ${run}: batch ${last + 1} is all or nothing, found ${next}`);
      assert.equal((await trail.tracking.count({ userId: `r${run}-b${last + 2}` })), 0);
      await trail.close();
      assert.equal(sqlite3(file, 'PRAGMA integrity_check'), 'ok', `run ${run}`);
    }
    assert.ok(acknowledged >= runs);
  });
}

test('durability: normal writes a write-ahead log, full a rollback journal; a file moves between them; bad values are refused', async () => {
  const file = scratch();
  const at = () => 1_700_000_000_000;
  const normal = await UserTrail.open({ storage: { file }, durability: 'normal', clock: at });
  await normal.tracking.track({ name: 'one', userId: 'ann' });
  assert.equal(existsSync(`${file}-wal`), true, 'normal keeps a write-ahead log');
  await normal.close();
  assert.equal(existsSync(`${file}-wal`), false, 'checkpointed and removed at close');
  const full = await UserTrail.open({ storage: { file }, durability: 'full', clock: at });
  await full.tracking.track({ name: 'two', userId: 'ann' });
  assert.equal(existsSync(`${file}-wal`), false);
  assert.equal(await full.tracking.count({ userId: 'ann' }), 2);
  await full.close();
  assert.equal(sqlite3(file, 'PRAGMA journal_mode'), 'delete');
  for (const bad of ['off', 'FULL', 1, true, { level: 'full' }, "normal'; DROP TABLE events; --"]) {
    assert.equal(await code(() => UserTrail.open({ storage: { file }, durability: bad })), 'INVALID_INPUT', String(bad));
  }
  assert.equal(existsSync(`${file}.lock`), false, 'a refused open leaves no lock behind');
  const again = await UserTrail.open({ storage: { file }, clock: at });
  assert.equal(await again.tracking.count({ userId: 'ann' }), 2);
  await again.close();
});

// Erasure on a file costs the subject's rows, not a rewrite, and still leaves
// no byte of the subject in the file or its log: pages are scrubbed on their
// way through the host file VFS (tests/privacy.rs has the control showing
// SQLite's own pages would keep stale copies).
for (const durability of ['full', 'normal']) {
  test(`durability ${durability}: erase at scale rewrites nothing and leaves no byte of the subject in the files`, async () => {
    const file = scratch();
    const trail = await UserTrail.open({ storage: { file }, durability, clock: () => 1_700_000_000_000 });
    for (let b = 0; b < 6; b++) {
      const batch = [];
      for (let j = 0; j < 2000; j++) {
        const i = b * 2000 + j;
        const who = i % 4 === 0 ? 'subject-ann' : `other-${i % 997}`;
        batch.push({ name: 'click', userId: who, sessionId: `${who}-session-${i % 7}`, ts: 1_699_000_000_000 - i * 60_000, properties: { i, who } });
      }
      await trail.tracking.trackBatch(batch);
    }
    const r = await trail.privacy.erase('subject-ann', { reason: 'user request' });
    assert.equal(r.counts.events, 3000);
    assert.equal(r.vacuumed, false);
    for (const f of [file, `${file}-wal`, `${file}-journal`]) {
      if (!existsSync(f)) continue;
      const bytes = readFileSync(f);
      if (f === file) assert.ok(bytes.length > 2_000_000, `${bytes.length} bytes`);
      assert.equal(bytes.indexOf('subject-ann'), -1, `${f} holds the subject`);
      assert.ok(f !== file || bytes.indexOf('other-996') !== -1, 'the others are there');
    }
    assert.equal(await trail.tracking.count({ userId: 'subject-ann' }), 0);
    assert.equal(await trail.tracking.count({ userId: 'other-1' }), 10);
    await trail.close();
    assert.equal(sqlite3(file, 'PRAGMA integrity_check'), 'ok');
  });
}
