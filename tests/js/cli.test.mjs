// The `usertrail` command line, as `npx usertrail` runs it (the package's
// bin in node_modules/.bin): every command on a fixture database, its
// --json output parsed, its exit codes, a file held by a running engine
// read from a snapshot, and Ctrl-C in the middle of a migration and of a
// vacuum leaving a file that passes `PRAGMA integrity_check`.
import { after, before, test } from 'node:test';
import { once } from 'node:events';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

import { UserTrail, uuidv7 } from 'usertrail';
import { SCHEMA_VERSION } from './schema.mjs';

const BIN = fileURLToPath(new URL('./node_modules/.bin/usertrail', import.meta.url));
const MIGRATIONS = join(process.env.ROOT, 'src', 'store', 'migrations');
let dir;
let db;

/** Runs the command; resolves with its exit code, stdout and stderr. */
function run(...args) {
  const r = spawnSync(BIN, args, { cwd: dir, encoding: 'utf8', env: { ...process.env, USERTRAIL_PROGRESS: '' }, timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const json = (...args) => {
  const r = run(...args, '--json');
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.err}`);
  return JSON.parse(r.out);
};

const sha = (file) => createHash('sha256').update(readFileSync(file)).digest('hex');

function integrity(file) {
  const conn = new Database(file);
  try {
    return conn.pragma('integrity_check', { simple: true });
  } finally {
    conn.close();
  }
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ut-cli-'));
  db = join(dir, 'fixture.db');
  const r = run('sample', db, '--users', '120', '--days', '20', '--json');
  assert.equal(r.code, 0, r.err);
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('help, version and bad arguments: exit 2 with a message', () => {
  const help = run('help');
  assert.equal(help.code, 0);
  for (const c of ['dashboard', 'info', 'verify', 'export', 'erase', 'vacuum', 'migrate', 'import', 'query', 'sample', 'Exit codes']) assert.match(help.out, new RegExp(c));
  assert.match(run('--version').out, /^\d+\.\d+\.\d+/);
  // Sample data goes into an existing file only when asked.
  const into = run('sample', db, '--users', '3');
  assert.equal(into.code, 2, into.err);
  assert.match(into.err, /exists: sample would add made-up users and events to it; pass --force/);
  const bare = run();
  assert.equal(bare.code, 2);
  assert.match(bare.err, /Usage:/);
  for (const args of [['frobnicate'], ['info'], ['info', db, 'extra'], ['export', db, 'user-1', 'out.json'], ['export', db, '--', '--odd', '--out', 'x.json'], ['info', db, '--colour'], ['query', db, 'nope'], ['query', db, 'traffic', '--since', 'yesterday'], ['query', db, 'traffic', '--json', '--csv'], ['sample', join(dir, 'not-yet.db'), '--users', '-3'], ['export', db, 'x', '--format', 'xml'], ['erase', db, 'x'], ['query', db, 'funnel'], ['query', db, 'funnel', '--steps', 'one'], ['query', db, 'traffic', '--since', '2026-12-01', '--until', '2026-11-01']]) {
    const r = run(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, /^usertrail: /);
    assert.doesNotMatch(r.err, /^usertrail: usertrail:/, 'the name once');
  }
  const missing = run('info', join(dir, 'nope.db'));
  assert.equal(missing.code, 1);
  assert.match(missing.err, /no such file \(CANNOT_OPEN\)/, 'the code ERRORS.md gives a missing path');
  writeFileSync(join(dir, 'text.db'), 'not a database at all, just some text that is long enough to pass a header check');
  assert.equal(run('info', join(dir, 'text.db')).code, 1);
});

test('info, verify and query: JSON a script can read, equal to the engine’s own answers, the file untouched', async () => {
  const before = sha(db);
  const info = json('info', db);
  assert.equal(info.walBytes, 0, 'no -wal beside it');
  // Sessions' retention counts from their expiry: '0h' is said so.
  assert.equal(info.retention.sessions, '0h');
  assert.match(run('info', db).out, /Retention +events 13mo, sessions until expiry, audit 3y/);
  assert.equal(info.schemaVersion, SCHEMA_VERSION);
  assert.equal(info.schemaVersionOnDisk, SCHEMA_VERSION);
  assert.ok(info.tables.events > 500, JSON.stringify(info.tables));
  assert.equal(info.tables.experiments, 1);
  assert.ok(info.tables.rollup_user_hours > 0 && info.tables.rollup_session_hours > 0, JSON.stringify(info.tables));
  // `sample` closed its engine after storing 20 days: the close wrote the
  // day rows of the whole days.
  assert.ok(info.tables.rollup_days >= 15, JSON.stringify(info.tables));
  assert.ok(info.bytes > 0 && info.pageSize === 4096);
  const verify = json('verify', db);
  assert.equal(verify.ok, true);
  assert.ok(verify.audit.checked > 0 && verify.ledger.checked > 0);
  // The same numbers as the engine, for the same options.
  const trail = await UserTrail.open({ storage: { bytes: readFileSync(db) } });
  try {
    const day = (ms) => new Date(ms).toISOString().slice(0, 10);
    const traffic = json('query', db, 'traffic', '--since', day(Date.now() - 40 * 86_400_000), '--until', day(Date.now() + 86_400_000));
    assert.deepEqual(traffic.answers.summary, await trail.analytics.summary(traffic.queries.summary.options));
    assert.deepEqual(traffic.answers.activeUsers, await trail.analytics.activeUsers(traffic.queries.activeUsers.options));
    const funnel = json('query', db, 'funnel', '--steps', 'product_view,add_to_cart,purchase', '--segment', 'properties.plan=pro');
    assert.deepEqual(funnel.queries.funnel.options.segment, { property: 'properties.plan', equals: 'pro' });
    // A stored field is text, even when it looks like a number; a property
    // quoted is text too.
    const named = json('query', db, 'events', '--segment', 'name=1');
    assert.deepEqual(named.queries.eventBreakdown.options.segment, { property: 'name', equals: '1' });
    const quoted = json('query', db, 'events', '--segment', 'properties.items="3"');
    assert.deepEqual(quoted.queries.eventBreakdown.options.segment, { property: 'properties.items', equals: '3' });
    const counted = json('query', db, 'events', '--segment', 'properties.items=3');
    assert.deepEqual(counted.queries.eventBreakdown.options.segment, { property: 'properties.items', equals: 3 });
    assert.deepEqual(funnel.answers.funnel, await trail.analytics.funnel(funnel.queries.funnel.options));
    const experiments = json('query', db, 'experiments', '--goal', 'purchase');
    assert.deepEqual(experiments.answers['experiment:buy_button'], await trail.experiments.results('buy_button', { goal: 'purchase' }));
  } finally {
    await trail.close();
  }
  const csv = run('query', db, 'pages', '--csv');
  assert.equal(csv.code, 0);
  assert.match(csv.out, /^Page,Views,Unique viewers,Mean time on page \(ms\)\r\n\/,/);
  const several = run('query', db, 'traffic', '--csv');
  assert.equal(several.code, 2);
  assert.match(several.err, /pick one with --table \(summary, stickiness, activeUsers\)/);
  const units = run('query', db, 'funnel', '--steps', 'product_view,purchase', '--csv');
  assert.match(units.out, /^Step,Users,From previous \(ratio 0-1\),From start \(ratio 0-1\),Median time from previous \(ms\)\r\n/);
  const table = run('query', db, 'retention', '--cohort', 'week', '--periods', '3');
  assert.equal(table.code, 0);
  assert.match(table.out, /Retention by cohort/);
  assert.equal(sha(db), before, 'reading changed the file');
});

test('export in every format, erase with its receipt, then nothing left to export', () => {
  const subject = 'sample-1-000003';
  for (const format of ['json', 'ndjson', 'csv', 'sqlite']) {
    const out = join(dir, `s3.${format}`);
    const r = json('export', db, subject, '--format', format, '--out', out);
    assert.equal(r.format, format);
    assert.ok(r.counts.events > 0, JSON.stringify(r.counts));
    assert.equal(readFileSync(out).byteLength, r.bytes);
  }
  const text = run('export', db, subject, '--out', join(dir, 's4.json'));
  assert.match(text.out, /^exported [\d,]+ rows \(/m);
  const again = run('export', db, subject, '--out', join(dir, 's3.json'));
  assert.equal(again.code, 2, 'an existing file is not overwritten');
  const receipt = json('erase', db, subject, '--yes', '--reason', 'test');
  assert.equal(receipt.subject, subject);
  assert.ok(receipt.counts.events > 0);
  assert.ok(receipt.auditHead.seq > 0);
  const after = json('export', db, subject, '--out', join(dir, 's3-after.json'));
  assert.equal(after.counts.events, 0);
  const audit = new Database(db, { readonly: true }).prepare("SELECT actor, action FROM audit_log WHERE action = 'erase' ORDER BY seq DESC LIMIT 1").get();
  assert.match(audit.actor, /^cli:/);
  assert.equal(json('verify', db).ok, true);
});

test('verify exits 3 on an edited audit log; import restores a backup and tracks NDJSON events', () => {
  const copy = join(dir, 'edited.db');
  writeFileSync(copy, readFileSync(db));
  const conn = new Database(copy);
  conn.prepare('UPDATE audit_log SET actor = ? WHERE seq = (SELECT min(seq) FROM audit_log)').run('mallory');
  conn.close();
  const r = run('verify', copy, '--json');
  assert.equal(r.code, 3);
  assert.equal(JSON.parse(r.out).audit.ok, false);
  // A backup restored as a new file.
  const restored = join(dir, 'restored.db');
  const imp = json('import', restored, db);
  assert.equal(imp.schemaVersion, SCHEMA_VERSION);
  assert.equal(json('info', restored).tables.events, json('info', db).tables.events);
  assert.equal(run('import', restored, db).code, 2, 'an existing file needs --force');
  assert.equal(run('import', restored, join(dir, 'text.db'), '--force').code, 1, 'not a database: refused');
  assert.equal(json('info', restored).tables.events, json('info', db).tables.events, 'left as it was');
  // Events, one per line; a bad line is skipped and reported.
  const lines = [];
  for (let i = 0; i < 50; i++) lines.push(JSON.stringify({ eventId: uuidv7(), name: 'imported', userId: `imp-${i % 5}` }));
  lines.splice(10, 0, '{not json');
  lines.push(JSON.stringify({ name: '' }));
  writeFileSync(join(dir, 'events.ndjson'), `${lines.join('\n')}\n`);
  const events = json('import', restored, join(dir, 'events.ndjson'));
  assert.equal(events.lines, 52);
  assert.equal(events.notJson, 1);
  assert.equal(events.statuses.stored, 50);
  assert.equal(events.statuses.rejected, 1);
  assert.deepEqual(events.rejected.map((r) => [r.line, r.code, r.field]), [[52, 'INVALID_INPUT', 'name']]);
  const twice = json('import', restored, join(dir, 'events.ndjson'));
  assert.equal(twice.statuses.duplicate, 50, 'importing again skips them by eventId');
});

test('a file held by a running engine: read from a snapshot, writes refused with exit 4', async () => {
  const held = join(dir, 'held.db');
  writeFileSync(held, readFileSync(db));
  const child = spawn(process.execPath, ['--input-type=module', '-e', `
    import { UserTrail } from 'usertrail';
    const t = await UserTrail.open({ storage: { file: ${JSON.stringify(held)} } });
    await t.tracking.track({ name: 'held', userId: 'h' });
    console.log('ready');
    setInterval(() => t.tracking.track({ name: 'tick', userId: 'h' }), 5);
  `], { cwd: fileURLToPath(new URL('.', import.meta.url)), stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise((resolve, reject) => {
      child.stdout.on('data', (d) => String(d).includes('ready') && resolve());
      child.once('exit', (c) => reject(new Error(`exited ${c}`)));
    });
    const info = run('info', held, '--json');
    assert.equal(info.code, 0, info.err);
    assert.match(info.err, /held by process \d+: reading a snapshot/);
    assert.equal(JSON.parse(info.out).snapshot, true);
    assert.ok(JSON.parse(info.out).tables.events > json('info', db).tables.events, 'the snapshot has the running engine’s commits');
    for (const args of [['erase', held, 'h', '--yes'], ['vacuum', held], ['migrate', held], ['sample', held]]) {
      const r = run(...args);
      assert.equal(r.code, 4, `${args[0]}: ${r.err}`);
      assert.match(r.err, new RegExp(`held by process ${child.pid} on this host; it touched its lock \\d+ s ago, and one not touched for 30 s is taken over: stop it first`));
    }
    // The dashboard on it: a snapshot, said on the page, and read-only.
    const dash = spawn(BIN, ['dashboard', held], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    after(() => dash.exitCode === null && dash.kill('SIGKILL'));
    let printed = '';
    const served = await new Promise((resolve, reject) => {
      dash.stdout.on('data', (d) => {
        printed += d;
        const m = printed.match(/Dashboard: (http:\/\/127\.0\.0\.1:\d+\/)#key=(\S+)[\s\S]*Ctrl-C stops it/);
        if (m) resolve({ base: m[1], key: m[2] });
      });
      dash.once('exit', (c) => reject(new Error(`exited ${c}: ${printed}`)));
    });
    const auth = { authorization: `Bearer ${served.key}` };
    const me = await (await fetch(`${served.base}api/me`, { headers: auth })).json();
    assert.match(me.notice, /snapshot of held\.db .* process \d+ holds the file/);
    assert.equal(me.readOnly, true);
    const erase = await fetch(`${served.base}api/privacy/erase`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ subject: 'h', confirm: 'h' }) });
    assert.equal(erase.status, 400);
    assert.equal((await erase.json()).error.code, 'UNSUPPORTED');
    dash.kill('SIGINT');
    assert.equal((await new Promise((resolve) => dash.once('exit', resolve))), 0);
  } finally {
    child.kill('SIGKILL');
  }
});

test('hostile files: an app that opens the file while vacuum runs loses no write (the lock is held until the copy takes its place)', async () => {
  const file = join(dir, 'vacuum-race.db');
  // Large enough (15 MB) that the vacuum holds the file for a while.
  assert.equal(run('sample', file, '--users', '3000', '--days', '30').code, 0);
  // An app opens the file, writes an event and closes, every few
  // milliseconds, while vacuums are tried until one finds the file free
  // (a vacuum that meets the app exits 4, BUSY). An open that meets the
  // vacuum waits for the file (the busy timeout): when it gets it, the file
  // at the name is the vacuumed copy, and its write must land there.
  const written = [];
  let busy = 0;
  let vacuumed = 0;
  let last = '';
  const vacuums = (async () => {
    for (let attempt = 0; attempt < 30 && vacuumed === 0; attempt++) {
      const cli = spawn(BIN, ['vacuum', file, '--json'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, USERTRAIL_PROGRESS: '' } });
      let err = '';
      cli.stderr.on('data', (d) => (err += d));
      const [status] = await once(cli, 'exit');
      if (status === 0) vacuumed++;
      else assert.equal(status, 4, err);
      last = err;
    }
  })();
  let done = false;
  vacuums.finally(() => (done = true));
  for (let i = 0; i < 20_000 && !done; i++) {
    let trail;
    try {
      trail = await UserTrail.open({ storage: { file } });
    } catch (e) {
      assert.equal(e.code, 'BUSY', e.message);
      busy++;
      await new Promise((r) => setTimeout(r, 1));
      continue;
    }
    const id = `race-${i}`;
    await trail.tracking.track({ name: 'race', userId: id });
    await trail.close();
    written.push(id);
    await new Promise((r) => setTimeout(r, 5));
  }
  await vacuums;
  assert.equal(vacuumed, 1, `no vacuum found the file free: ${last}`);
  assert.ok(written.length > 10, `the app wrote on (${written.length} writes, ${busy} refused)`);
  assert.equal(existsSync(`${file}.lock`), false);
  assert.equal(integrity(file), 'ok');
  const trail = await UserTrail.open({ storage: { file } });
  const lost = [];
  for (const id of written) if ((await trail.tracking.count({ userId: id })) !== 1) lost.push(id);
  await trail.close();
  assert.deepEqual(lost, [], `of ${written.length} writes`);
});

test('hostile files: the copies a killed vacuum or import left are removed by the next one', () => {
  const file = join(dir, 'left-behind.db');
  writeFileSync(file, readFileSync(db));
  const dead = spawnSync(process.execPath, ['-e', '']).pid;
  const left = [`${file}.vacuum-${dead}`, `${file}.vacuum-${dead}-journal`, `${file}.import-${dead}`];
  for (const p of left) writeFileSync(p, 'x'.repeat(1000));
  mkdirSync(`${file}.vacuum-${dead}.lock`);
  writeFileSync(`${file}.vacuum-${dead}.lock/${dead}.x.y`, String(dead));
  // A live process's copy is its own business.
  const live = `${file}.vacuum-${process.pid}`;
  writeFileSync(live, 'x');
  json('vacuum', file);
  for (const p of [...left, `${file}.vacuum-${dead}.lock`]) assert.equal(existsSync(p), false, p);
  assert.equal(existsSync(live), true);
  assert.equal(integrity(file), 'ok');
});

/** A database as version 9 left it, holding `n` events: for migrate (10 and 11 rewrite the events). */
function version9(file, n) {
  const conn = new Database(file);
  conn.pragma('page_size = 4096');
  for (const f of readdirSync(MIGRATIONS).filter((f) => /^\d{4}_.*\.sql$/.test(f)).sort()) {
    if (Number(f.slice(0, 4)) > 9) break;
    conn.exec(readFileSync(join(MIGRATIONS, f), 'utf8'));
  }
  conn.prepare("INSERT INTO meta (key, value) VALUES ('created_at', ?), ('created_by', '0.1.0')").run(String(Date.now()));
  conn.pragma('application_id = 1431589452');
  conn.pragma('user_version = 9');
  const insert = conn.prepare(`INSERT INTO events (event_id, ts, type, name, user_id, session_id, path, properties, sample_rate, received_at)
    VALUES (?, ?, 'page', 'page_view', ?, ?, ?, ?, 1.0, ?)`);
  const t0 = Date.now() - 30 * 86_400_000;
  conn.transaction(() => {
    for (let i = 0; i < n; i++) {
      const ts = t0 + i * 1000;
      insert.run(uuidv7(ts), ts, `u${i % 5000}`, `s${i % 20000}`, `/page/${i % 300}`, JSON.stringify({ i, filler: 'x'.repeat(40) }), ts);
    }
  })();
  conn.close();
}

/** Starts the command, sends SIGINT once it has drawn progress, and resolves with its exit code and stderr. */
function interrupt(...args) {
  const child = spawn(BIN, args, { cwd: dir, env: { ...process.env, USERTRAIL_PROGRESS: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  let sent = false;
  child.stderr.on('data', (d) => {
    err += d;
    if (!sent && /ETA/.test(err)) {
      sent = true;
      child.kill('SIGINT');
    }
  });
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, err, sent })));
}

test('migrate and vacuum: progress with a rate and an estimate, Ctrl-C leaves the file sound, then they finish', async () => {
  // Enough events for the migration and the vacuum to draw progress before
  // they finish; each step's time grows with them.
  const N = 200_000;
  const big = join(dir, 'big.db');
  version9(big, N);
  const original = sha(big);
  // Ctrl-C in the middle of the migration: the file stays at version 9, sound.
  const stopped = await interrupt('migrate', big);
  assert.equal(stopped.sent, true, `no progress drawn: ${stopped.err}`);
  assert.equal(stopped.code, 130, stopped.err);
  assert.match(stopped.err, /\d+(\.\d)? [KMG]?B\/s ETA \d+:\d\d/);
  assert.match(stopped.err, /migration stopped; .* stays at schema version 9/);
  assert.equal(existsSync(`${big}.lock`), false, 'the lock is released');
  assert.equal(integrity(big), 'ok');
  const conn = new Database(big, { readonly: true });
  assert.equal(conn.pragma('user_version', { simple: true }), 9);
  assert.equal(conn.prepare('SELECT count(*) AS n FROM events').get().n, N);
  conn.close();
  assert.equal(sha(big), original, 'rolled back to the same bytes');
  // Then the whole migration.
  const done = json('migrate', big);
  assert.deepEqual([done.from, done.to, done.migrated], [9, SCHEMA_VERSION, true]);
  // Then it packed the blocks analytics reads: one per complete 4,096 event ids.
  assert.equal(done.blocks, Math.floor(N / 4096));
  const tables = json('info', big).tables;
  assert.deepEqual([tables.events, tables.event_blocks], [N, Math.floor(N / 4096)]);
  // A file already at this version without its blocks (an app migrated it on open): packed all the same.
  const c1 = new Database(big);
  c1.exec('DELETE FROM event_blocks');
  c1.close();
  const again = json('migrate', big);
  assert.deepEqual([again.from, again.to, again.migrated, again.blocks], [SCHEMA_VERSION, SCHEMA_VERSION, false, Math.floor(N / 4096)]);
  assert.equal(json('migrate', big).blocks, 0, 'nothing left to pack');
  // Blocks packed before event types were kept (format 1, a file from
  // before schema version 15) are packed again; progress counts blocks to
  // the end, not the bytes the packing writes.
  const c3 = new Database(big);
  c3.exec('UPDATE event_blocks SET format = 1');
  c3.close();
  assert.equal(json('info', big).blocksToPack, Math.floor(N / 4096));
  const repack = spawnSync(BIN, ['migrate', big], { cwd: dir, encoding: 'utf8', env: { ...process.env, USERTRAIL_PROGRESS: '1' }, timeout: 120_000 });
  assert.equal(repack.status, 0, repack.stderr);
  assert.match(repack.stdout, new RegExp(`at schema version ${SCHEMA_VERSION} already; ${Math.floor(N / 4096)} blocks of events packed`));
  const bars = repack.stderr.split(/[\r\n]+/).filter((l) => l.startsWith('migrate ['));
  assert.ok(bars.length > 0, repack.stderr);
  assert.match(bars.at(-1), / blocks/, `the last bar counts blocks: ${bars.at(-1)}`);
  assert.doesNotMatch(repack.stderr, /\] +0 blocks/, 'no empty bar');
  const c4 = new Database(big, { readonly: true });
  assert.equal(c4.prepare('SELECT count(*) AS n FROM event_blocks WHERE format < 2').get().n, 0);
  c4.close();
  assert.equal(json('info', big).blocksToPack, 0);
  // Free pages to give back, then Ctrl-C in the middle of the vacuum: unchanged.
  const c2 = new Database(big);
  c2.exec('DELETE FROM events WHERE id % 2 = 0');
  c2.close();
  const beforeVacuum = sha(big);
  const v = await interrupt('vacuum', big);
  assert.equal(v.sent, true, `no progress drawn: ${v.err}`);
  assert.equal(v.code, 130, v.err);
  assert.match(v.err, /vacuum stopped; .* is unchanged/);
  assert.equal(sha(big), beforeVacuum);
  assert.equal(integrity(big), 'ok');
  assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('big.db.')), [], 'no copy or lock left behind');
  const vacuumed = json('vacuum', big);
  assert.ok(vacuumed.after < vacuumed.before * 0.8, JSON.stringify(vacuumed));
  assert.equal(integrity(big), 'ok');
  assert.equal(json('info', big).tables.events, N / 2);
  assert.equal(json('verify', big).ok, true);
});

test('dashboard: prints the URL and key, serves the file on 127.0.0.1, stops at Ctrl-C', async () => {
  const child = spawn(BIN, ['dashboard', db], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const url = await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/Dashboard: (http:\/\/127\.0\.0\.1:\d+\/)#key=(\S+)[\s\S]*Ctrl-C stops it/);
      if (m) resolve({ base: m[1], key: m[2] });
    });
    child.once('exit', (c) => reject(new Error(`exited ${c}: ${out}`)));
  });
  after(() => child.exitCode === null && child.kill('SIGKILL'));
  assert.match(out, new RegExp(`Key: ${url.key}`));
  assert.equal((await fetch(`${url.base}api/me`)).status, 401);
  const me = await fetch(`${url.base}api/me`, { headers: { authorization: `Bearer ${url.key}` } });
  assert.equal(me.status, 200);
  const { csrf } = await me.json();
  const view = await fetch(`${url.base}api/view`, { method: 'POST', headers: { authorization: `Bearer ${url.key}`, 'x-csrf-token': csrf, 'content-type': 'application/json' }, body: JSON.stringify({ view: 'traffic', params: {} }) });
  assert.equal(view.status, 200);
  assert.ok((await view.json()).answers.summary.events > 0);
  child.kill('SIGINT');
  const [code] = await new Promise((resolve) => child.once('exit', (...a) => resolve(a)));
  assert.equal(code, 0);
  assert.equal(existsSync(`${db}.lock`), false);
});

/** Writes events to `file` in another process and kills it with -9 mid-way: leaves a -wal (or a live journal) and a dead lock. */
async function killedWriter(file, durability) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', `
    import { UserTrail } from 'usertrail';
    const t = await UserTrail.open({ storage: { file: ${JSON.stringify(file)} }, durability: ${JSON.stringify(durability)} });
    for (let i = 0; i < 30; i++) await t.tracking.trackBatch(Array.from({ length: 50 }, (_, j) => ({ name: 'killed', userId: 'k' + j })));
    console.log('ready');
    setInterval(() => {}, 1000);
  `], { cwd: fileURLToPath(new URL('.', import.meta.url)), stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => String(d).includes('ready') && resolve());
    child.once('exit', (c) => reject(new Error(`exited ${c}`)));
  });
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
}

test('hostile files: a dead writer’s WAL is read from a recovered copy, not merged into the file; restoring over it clears it', async () => {
  const file = join(dir, 'dead-writer.db');
  writeFileSync(file, readFileSync(db));
  await killedWriter(file, 'normal');
  assert.ok(existsSync(`${file}-wal`), 'a -wal was left');
  const before = [sha(file), sha(`${file}-wal`)];
  const info = run('info', file, '--json');
  assert.equal(info.code, 0, info.err);
  assert.match(info.err, /recovered copy/);
  assert.ok(JSON.parse(info.out).tables.events >= json('info', db).tables.events + 1500, 'the -wal’s events are read');
  assert.equal(JSON.parse(info.out).walBytes, statSync(`${file}-wal`).size, 'the -wal’s size is reported apart');
  assert.equal(JSON.parse(info.out).fileBytes, statSync(file).size);
  assert.deepEqual([sha(file), sha(`${file}-wal`)], before, 'reading changed the file or its -wal');
  // Restoring a backup over it: the old -wal must not be replayed into the restored file.
  const backup = join(dir, 'backup-for-restore.db');
  writeFileSync(backup, readFileSync(db));
  const restored = json('import', file, backup, '--force');
  assert.equal(restored.schemaVersion, SCHEMA_VERSION);
  assert.equal(existsSync(`${file}-wal`), false);
  assert.equal(existsSync(`${file}.lock`), false, 'the dead writer’s lock is gone');
  assert.equal(integrity(file), 'ok');
  assert.equal(json('info', file).tables.events, json('info', db).tables.events);
});

test('hostile files: a migration a killed engine left in its -wal is the version info and migrate report', async () => {
  const file = join(dir, 'migrated-in-wal.db');
  version9(file, 100);
  await killedWriter(file, 'normal');
  assert.ok(statSync(`${file}-wal`).size > 0, 'a -wal was left');
  // The file's own header still says 9; the -wal's committed header says this version.
  assert.equal(readFileSync(file).readUInt32BE(60), 9);
  const info = json('info', file);
  assert.equal(info.schemaVersionOnDisk, SCHEMA_VERSION);
  assert.doesNotMatch(run('info', file).out, /run usertrail migrate/);
  const m = json('migrate', file);
  assert.deepEqual([m.from, m.to, m.migrated], [SCHEMA_VERSION, SCHEMA_VERSION, false]);
  // A -wal whose frames do not chain (bytes damaged after its header) is not believed.
  const torn = join(dir, 'torn-wal.db');
  version9(torn, 100);
  await killedWriter(torn, 'normal');
  const wal = readFileSync(`${torn}-wal`);
  wal[32 + 24 + 10] ^= 0xff;
  writeFileSync(`${torn}-wal`, wal);
  assert.equal(json('info', torn).schemaVersionOnDisk, 9);
  // A -wal that is not a regular file is not read: a FIFO would block the
  // command for ever, a directory made it fail with EISDIR.
  rmSync(`${torn}-wal`);
  assert.equal(spawnSync('mkfifo', [`${torn}-wal`]).status, 0);
  const fifo = run('info', torn, '--json');
  assert.equal(fifo.code, 0, fifo.err);
  assert.equal(JSON.parse(fifo.out).schemaVersionOnDisk, 9);
  rmSync(`${torn}-wal`);
  mkdirSync(`${torn}-wal`);
  const folder = run('info', torn, '--json');
  assert.equal(folder.code, 0, folder.err);
  assert.equal(JSON.parse(folder.out).schemaVersionOnDisk, 9);
  rmSync(`${torn}-wal`, { recursive: true });
  // Nor is a -journal: the engine's own open of it blocked export and
  // migrate for ever (and SIGTERM could not stop them). Now they finish,
  // with a typed error.
  assert.equal(spawnSync('mkfifo', [`${torn}-journal`]).status, 0);
  for (const args of [['export', torn, 'someone', '--out', join(dir, 'fifo-export.json')], ['migrate', torn]]) {
    const r = spawnSync(BIN, [...args, '--json'], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.signal, null, `${args[0]} hung on a FIFO -journal`);
    assert.notEqual(r.status, 0, `${args[0]}: ${r.stdout}`);
    assert.match(r.stderr, /CANNOT_OPEN|STORAGE_ERROR|not a regular file/, r.stderr);
    assert.match(r.stderr, /torn-wal\.db-journal/, `${args[0]}: the message names the journal: ${r.stderr}`);
  }
  rmSync(`${torn}-journal`);
});

test('hostile files: a symbolic link shares the lock of its file; vacuum keeps WAL mode; --out into a missing directory audits nothing; -- ends the flags', async () => {
  const held = join(dir, 'linked.db');
  writeFileSync(held, readFileSync(db));
  const link = join(dir, 'link-to-linked.db');
  const { symlinkSync } = await import('node:fs');
  symlinkSync(held, link);
  const child = spawn(process.execPath, ['--input-type=module', '-e', `
    import { UserTrail } from 'usertrail';
    const t = await UserTrail.open({ storage: { file: ${JSON.stringify(held)} } });
    console.log('ready');
    setInterval(() => t.tracking.track({ name: 'tick', userId: 'h' }), 20);
  `], { cwd: fileURLToPath(new URL('.', import.meta.url)), stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise((resolve, reject) => {
      child.stdout.on('data', (d) => String(d).includes('ready') && resolve());
      child.once('exit', (c) => reject(new Error(`exited ${c}`)));
    });
    const r = run('erase', link, 'sample-1-000001', '--yes');
    assert.equal(r.code, 4, r.err);
    // And the engine itself: opening the link is BUSY, as opening the file is.
    await assert.rejects(UserTrail.open({ storage: { file: link } }), (e) => e.code === 'BUSY');
  } finally {
    child.kill('SIGKILL');
  }
  // A file in WAL mode stays in WAL mode through a vacuum.
  const wal = join(dir, 'wal-mode.db');
  const t = await UserTrail.open({ storage: { file: wal }, durability: 'normal' });
  await t.tracking.trackBatch(Array.from({ length: 200 }, (_, i) => ({ name: 'w', userId: `w${i}` })));
  await t.close();
  assert.equal(readFileSync(wal)[18], 2);
  json('vacuum', wal);
  assert.equal(readFileSync(wal)[18], 2, 'the vacuum kept WAL mode');
  assert.equal(integrity(wal), 'ok');
  // An export to a directory that does not exist is refused before it is audited.
  const audited = () => new Database(db, { readonly: true }).prepare("SELECT count(*) AS n FROM audit_log WHERE action = 'export'").get().n;
  const exportsBefore = audited();
  const missing = run('export', db, 'sample-1-000002', '--out', join(dir, 'no', 'such', 'dir.json'));
  assert.equal(missing.code, 2, missing.err);
  assert.equal(audited(), exportsBefore);
  // A subject that looks like a flag, after `--`.
  const odd = run('export', db, '--out', join(dir, 'odd.json'), '--json', '--', '--odd-subject');
  assert.equal(odd.code, 0, odd.err);
  assert.equal(JSON.parse(odd.out).counts.events, 0);
});
