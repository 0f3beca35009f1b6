// Runs a Rust test file built for wasm (wasm-bindgen --target web output in
// `dir/gen/suite.js`) inside a SQLite-backed Durable Object in workerd, with
// the object's `ctx.storage` as `globalThis.__usertrailStorage`, printing
// what wasm-bindgen-test prints. Used by `./build.sh test` for
// tests/durable_object.rs: node tests/js/workerd-tests.mjs <dir>
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, relative, resolve } from 'node:path';

const dir = resolve(process.argv[2]);
const workerd = join(process.env.ROOT ?? process.cwd(), 'node_modules', '.bin', 'workerd');

const harness = `import { DurableObject } from 'cloudflare:workers';
import * as suite from './gen/suite.js';
import module from './gen/suite_bg.wasm';

export class Harness extends DurableObject {
  async fetch() {
    const out = [];
    const print = (...args) => out.push(args.join(' '));
    globalThis.global = globalThis;
    globalThis.__wbgtest_og_console_log = print;
    globalThis.__wbgtest_og_console_error = print;
    globalThis.__wbg_test_output_writeln = print;
    globalThis.__wbg_test_invoke = (f) => f();
    globalThis.__usertrailStorage = this.ctx.storage;
    const exports = suite.initSync({ module });
    const handlers = {};
    for (const method of ['debug', 'log', 'info', 'warn', 'error']) {
      console[method] = (...args) => handlers['on_console_' + method]?.(args);
      handlers['on_console_' + method] = suite['__wbgtest_console_' + method];
    }
    const cx = new suite.WasmBindgenTestContext(false);
    const tests = Object.keys(exports).filter((name) => name.startsWith('__wbgt_'));
    const ok = await cx.run(tests.map((name) => exports[name]));
    return Response.json({ ok, out });
  }
}

export default {
  fetch(request, env) {
    return env.HARNESS.get(env.HARNESS.idFromName('suite')).fetch(request);
  },
};
`;
writeFileSync(join(dir, 'harness.mjs'), harness);

const modules = ['(name = "harness.mjs", esModule = embed "harness.mjs")'];
const walk = (d) => {
  for (const name of readdirSync(d)) {
    const path = join(d, name);
    const rel = relative(dir, path);
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith('.js')) modules.push(`(name = "${rel}", esModule = embed "${rel}")`);
    else if (name.endsWith('.wasm')) modules.push(`(name = "${rel}", wasm = embed "${rel}")`);
  }
};
walk(join(dir, 'gen'));

const port = await new Promise((resolve) => {
  const srv = createServer().listen(0, '127.0.0.1', () => {
    const { port } = srv.address();
    srv.close(() => resolve(port));
  });
});
const storage = join(dir, 'storage');
mkdirSync(storage, { recursive: true });
writeFileSync(
  join(dir, 'harness.capnp'),
  `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "main", worker = .worker), (name = "disk", disk = (path = "${storage}", writable = true))],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);
const worker :Workerd.Worker = (
  modules = [
    ${modules.join(',\n    ')}
  ],
  compatibilityDate = "2026-11-01",
  durableObjectNamespaces = [(className = "Harness", uniqueKey = "usertrail-workerd-tests", enableSql = true)],
  durableObjectStorage = (localDisk = "disk"),
  bindings = [(name = "HARNESS", durableObjectNamespace = "Harness")],
);
`,
);
const child = spawn(workerd, ['serve', 'harness.capnp'], { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] });
let status = 1;
try {
  let res = null;
  for (let attempt = 0; attempt < 100 && !res; attempt++) {
    try {
      res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(600_000) });
    } catch (err) {
      if (child.exitCode !== null || err.name === 'TimeoutError') throw err;
      await new Promise((r) => setTimeout(r, 100)); // waiting for workerd to listen
    }
  }
  const { ok, out } = await res.json();
  console.log(out.join('\n'));
  status = ok ? 0 : 1;
} finally {
  child.kill('SIGKILL');
}
process.exit(status);
