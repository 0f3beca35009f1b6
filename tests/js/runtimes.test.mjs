// The same package in other hosts: Deno, and Cloudflare's workerd.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, relative } from 'node:path';
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

test('workerd runs the package from a compiled WebAssembly.Module', async (t) => {
  const port = await freePort();
  const modules = [
    '(name = "worker.mjs", esModule = embed "runtimes/workerd.mjs")',
    // Bare specifiers resolve to these names, as a bundler would arrange.
    '(name = "usertrail", esModule = "export * from \\"node_modules/usertrail/index.js\\";")',
    '(name = "usertrail.wasm", wasm = embed "node_modules/usertrail/gen/usertrail_bg.wasm")',
    ...packageModules(),
  ];
  writeFileSync(
    join(here, 'workerd.capnp'),
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
  const child = spawn(bin('workerd'), ['serve', 'workerd.capnp'], { cwd: here, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  t.after(() => child.kill('SIGKILL'));

  let body;
  for (let attempt = 0; attempt < 100 && body === undefined; attempt++) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/`);
      body = await res.text();
    } catch {
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100)); // waiting for the server to listen
    }
  }
  assert.ok(body !== undefined, `workerd did not answer: ${stderr}`);
  assert.deepEqual(JSON.parse(body), expected, stderr);
});
