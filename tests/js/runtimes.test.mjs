// The same package in other hosts: Deno, and Cloudflare's workerd.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, relative } from 'node:path';
import { SCHEMA_VERSION } from './schema.mjs';

const here = new URL('.', import.meta.url).pathname;
const bin = (name) => join(process.env.ROOT, 'node_modules', '.bin', name);
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

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** Every file of the installed package, as workerd modules. */
function packageModules() {
  const root = join(here, 'node_modules', 'usertrail');
  const modules = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.js')) {
        const rel = relative(here, path);
        modules.push(`(name = "${rel}", esModule = embed "${rel}")`);
      }
    }
  };
  walk(root);
  return modules;
}

/** Every module `entry` reaches by relative imports, as workerd modules named by path. */
function moduleClosure(entry) {
  const seen = new Set();
  const todo = [join(here, entry)];
  while (todo.length) {
    const path = todo.pop();
    if (seen.has(path)) continue;
    seen.add(path);
    const text = readFileSync(path, 'utf8');
    for (const m of text.matchAll(/(?:from|import)\s*["'](\.{1,2}\/[^"']+)["']/g)) {
      todo.push(join(dirname(path), m[1]));
    }
  }
  return [...seen].map((path) => {
    const rel = relative(here, path);
    return `(name = "${rel}", esModule = embed "${rel}")`;
  });
}

/** Starts workerd serving `modules` (the first is the worker); returns its URL. */
async function startWorkerd(t, modules, config = 'workerd.capnp') {
  const port = await freePort();
  writeFileSync(
    join(here, config),
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "main", worker = .worker)],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);
const worker :Workerd.Worker = (
  modules = [
    ${modules.join(',\n    ')}
  ],
  compatibilityDate = "2026-11-01",
);
`,
  );
  const child = spawn(bin('workerd'), ['serve', config], { cwd: here, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  t.after(() => child.kill('SIGKILL'));
  const url = `http://127.0.0.1:${port}`;
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      await fetch(url + '/');
      return { url, stderr: () => stderr };
    } catch {
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100)); // waiting for the server to listen
    }
  }
  assert.fail(`workerd did not answer: ${stderr}`);
}

/** The package's entry points and wasm, under the names a bundler would give them. */
const usertrailModules = () => [
  '(name = "usertrail", esModule = "export * from \\"node_modules/usertrail/index.js\\";")',
  '(name = "usertrail.wasm", wasm = embed "node_modules/usertrail/gen/usertrail_bg.wasm")',
  ...packageModules(),
];

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
      '(name = "usertrail/middleware", esModule = "export * from \\"../node_modules/usertrail/middleware.js\\";")',
      '(name = "hono", esModule = "export * from \\"node_modules/hono/dist/index.js\\";")',
      ...moduleClosure('node_modules/hono/dist/index.js'),
    ],
    'workerd-hono.capnp',
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
