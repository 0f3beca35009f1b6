// Serving modules in a local workerd for the tests: the installed package as
// workerd modules, a module's relative-import closure, and a workerd process
// (started on a free loopback port, killed when the test ends).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, relative } from 'node:path';

export const here = new URL('.', import.meta.url).pathname;
export const bin = (name) => join(process.env.ROOT, 'node_modules', '.bin', name);

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** Every file of the installed package, as workerd modules. */
export function packageModules() {
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
export function moduleClosure(entry) {
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

/** The package's entry points and wasm, under the names a bundler would give them. */
export const usertrailModules = () => [
  '(name = "usertrail", esModule = "export * from \\"node_modules/usertrail/index.js\\";")',
  '(name = "usertrail.wasm", wasm = embed "node_modules/usertrail/gen/usertrail_bg.wasm")',
  '(name = "usertrail/usertrail_bg.wasm", wasm = embed "node_modules/usertrail/gen/usertrail_bg.wasm")',
  ...packageModules(),
];

/** Hono and `usertrail/middleware`, for a Hono app. */
export const honoModules = () => [
  '(name = "usertrail/middleware", esModule = "export * from \\"../node_modules/usertrail/middleware.js\\";")',
  '(name = "hono", esModule = "export * from \\"node_modules/hono/dist/index.js\\";")',
  ...moduleClosure('node_modules/hono/dist/index.js'),
];

/**
 * Starts workerd serving `modules` (the first is the worker's main module);
 * `worker` adds fields to the worker (Durable Object namespaces, bindings),
 * `services` more services. Returns its URL, its stderr so far, and `kill()`.
 */
export async function startWorkerd(t, modules, { config = 'workerd.capnp', worker = '', services = '', port } = {}) {
  port ??= await freePort();
  writeFileSync(
    join(here, config),
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "main", worker = .worker)${services ? `, ${services}` : ''}],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);
const worker :Workerd.Worker = (
  modules = [
    ${modules.join(',\n    ')}
  ],
  compatibilityDate = "2026-11-01",
  ${worker}
);
`,
  );
  const child = spawn(bin('workerd'), ['serve', config], { cwd: here, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  t.after(kill);
  const url = `http://127.0.0.1:${port}`;
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      await fetch(url + '/');
      return { url, port, stderr: () => stderr, kill };
    } catch {
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100)); // waiting for the server to listen
    }
  }
  assert.fail(`workerd did not answer: ${stderr}`);
}
