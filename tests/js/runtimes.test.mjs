// The same package in other hosts: Deno, and Cloudflare's workerd.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SCHEMA_VERSION } from './schema.mjs';
import { bin, here, honoModules, startWorkerd, usertrailModules } from './workerd.mjs';

const expected = { schemaVersion: SCHEMA_VERSION, createdAt: 1234, code: 'NOT_A_DATABASE' };

test('Deno imports the package and opens an engine', () => {
  const out = execFileSync(bin('deno'), ['run', '--quiet', '--allow-read', '--allow-env', 'runtimes/deno.mjs'], {
    cwd: here,
    env: { ...process.env, DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' },
  }).toString();
  assert.deepEqual(JSON.parse(out), expected);
});

test('Deno opens a file-backed engine, writes, reopens and reads', () => {
  const out = execFileSync(
    bin('deno'),
    ['run', '--quiet', '--allow-read', '--allow-write', '--allow-env', 'runtimes/deno-file.mjs'],
    { cwd: here, env: { ...process.env, DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' } },
  ).toString();
  assert.deepEqual(JSON.parse(out), { events: 20, code: 'BUSY', bytes: true });
});

test('Deno without the permissions to read /proc or signal processes holds a file against another such Deno', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'usertrail-deno-'));
  const file = join(dir, 'trail.db');
  const env = { ...process.env, DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' };
  const args = (mode) => ['run', '--quiet', `--allow-read=${here},${dir}`, `--allow-write=${dir}`, '--allow-env', 'runtimes/deno-hold.mjs', mode, file];
  const holder = spawn(bin('deno'), args('hold'), { cwd: here, env, stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    await new Promise((resolve, reject) => {
      holder.stdout.on('data', (d) => String(d).includes('ready') && resolve());
      holder.once('exit', (c) => reject(new Error(`the holder exited ${c}`)));
    });
    assert.equal(execFileSync(bin('deno'), args('open'), { cwd: here, env }).toString().trim(), 'BUSY');
  } finally {
    holder.stdin.end();
    await new Promise((resolve) => (holder.exitCode !== null ? resolve() : holder.once('exit', resolve)));
  }
  assert.equal(execFileSync(bin('deno'), args('open'), { cwd: here, env }).toString().trim(), 'opened', 'released at its close');
});

test('workerd runs the package from a compiled WebAssembly.Module', async (t) => {
  const { url, stderr } = await startWorkerd(t, [
    '(name = "worker.mjs", esModule = embed "runtimes/workerd.mjs")',
    ...usertrailModules(),
  ]);
  const body = await (await fetch(url + '/')).text();
  assert.deepEqual(JSON.parse(body), expected, stderr());
});

test('Hono on workerd: sessions over HTTP through the middleware', async (t) => {
  const { url, stderr } = await startWorkerd(
    t,
    [
      '(name = "worker.mjs", esModule = embed "runtimes/workerd-hono.mjs")',
      ...usertrailModules(),
      ...honoModules(),
    ],
    { config: 'workerd-hono.capnp' },
  );
  let cookie = null;
  const call = async (path, method = 'GET') => {
    const res = await fetch(url + path, { method, headers: cookie ? { cookie } : {} });
    const set = res.headers.getSetCookie();
    for (const c of set) cookie = c.includes('Max-Age=0') ? null : c.split(';')[0];
    assert.equal(res.status, 200, stderr());
    return { set, body: await res.json() };
  };
  const peek = await call('/peek');
  assert.deepEqual([peek.body.isNew, peek.set], [true, []], 'nothing stored until set');
  const first = await call('/count');
  assert.match(first.set[0], /^ut\.sid=[^;]+; Path=\/; HttpOnly; SameSite=Lax; Max-Age=1800$/);
  const second = await call('/count');
  assert.deepEqual([second.body.n, second.body.id], [2, first.body.id], 'the cookie validates');
  const before = cookie;
  const login = await call('/login?user=ann', 'POST');
  assert.deepEqual([login.body.userId, login.body.n], ['ann', 2]);
  assert.notEqual(cookie, before, 'login rotates');
  const out = await call('/logout', 'POST');
  assert.match(out.set[0], /Max-Age=0/);
  await call('/count');
  cookie = cookie.slice(0, -2) + (cookie.endsWith('AA') ? 'BB' : 'AA');
  assert.equal((await call('/peek')).body.isNew, true, 'a tampered cookie is a fresh session');
  await call('/count');
  await call('/advance?ms=1860000', 'POST');
  const expired = await call('/peek');
  assert.equal(expired.body.isNew, true, 'expired by the engine clock: a fresh session');
});
