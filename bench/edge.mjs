// The engine in a Durable Object (`./build.sh bench`): inside one
// SQLite-backed object in workerd, session creates, session validates and
// event writes per second with the database in the object's storage
// (`{ durableObject: ctx.storage }`), against the same engine on 'memory'
// in the same object. Two ways: calls in a loop inside one request (what the
// object itself can do), and one call per HTTP request from 8 clients (what
// a Worker serving requests gets, HTTP included). Also the storage an engine
// database takes in the object: the bytes workerd keeps on disk against the
// engine's own database size, and an erasure's time.
// Usage: node bench/edge.mjs <pkg/index.js>
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';

const [pkg] = process.argv.slice(2);
const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const pkgDir = dirname(resolve(pkg));
const dir = mkdtempSync(join(tmpdir(), 'ut-bench-edge-'));
symlinkSync(pkgDir, join(dir, 'usertrail'));
mkdirSync(join(dir, 'disk'));

const CREATES = 2_000;
const VALIDATES = 10_000;
const TRACKS = 5_000;
const REQUESTS = 2_000;
const CLIENTS = 8;

const worker = `import { DurableObject } from 'cloudflare:workers';
import { UserTrail, init } from 'usertrail';
import wasm from 'usertrail/usertrail_bg.wasm';

const ms = () => performance.now();

export class Bench extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      await init(wasm);
      this.trails = {
        object: await UserTrail.open({ storage: { durableObject: ctx.storage, name: 'bench' } }),
        memory: await UserTrail.open({ storage: 'memory' }),
      };
      this.tokens = { object: [], memory: [] };
    });
  }

  async fetch(request) {
    const url = new URL(request.url);
    const kind = url.searchParams.get('storage');
    const trail = this.trails[kind];
    const n = Number(url.searchParams.get('n') ?? 1);
    const client = { ip: '198.51.100.7', userAgent: 'bench' };
    switch (url.pathname) {
      case '/loop': {
        // Date.now() does not move while a Worker computes: performance.now()
        // does in workerd locally, which is what measures here.
        const out = {};
        let t = ms();
        for (let i = 0; i < ${CREATES}; i++) {
          const s = await trail.sessions.create({ userId: 'u' + (i % 500), ...client });
          this.tokens[kind].push(s.token);
        }
        out.createsPerSec = ${CREATES} / ((ms() - t) / 1000);
        const tokens = this.tokens[kind];
        t = ms();
        for (let i = 0; i < ${VALIDATES}; i++) await trail.sessions.validate(tokens[i % tokens.length], client);
        out.validatesPerSec = ${VALIDATES} / ((ms() - t) / 1000);
        t = ms();
        for (let i = 0; i < ${TRACKS}; i++) {
          await trail.tracking.track({ name: 'page_view', type: 'page', path: '/p/' + (i % 50), userId: 'u' + (i % 500), properties: { i } });
        }
        out.tracksPerSec = ${TRACKS} / ((ms() - t) / 1000);
        return Response.json(out);
      }
      case '/create': {
        const s = await trail.sessions.create({ userId: 'r' + (this.tokens[kind].length % 500), ...client });
        this.tokens[kind].push(s.token);
        return new Response('ok');
      }
      case '/validate': {
        const tokens = this.tokens[kind];
        const s = await trail.sessions.validate(tokens[Math.floor(Math.random() * tokens.length)], client);
        return new Response(s ? 'ok' : 'gone');
      }
      case '/track': {
        await trail.tracking.track({ name: 'page_view', type: 'page', path: '/r', userId: 'r1', properties: { n } });
        return new Response('ok');
      }
      case '/fill': {
        // Events in batches, to measure what the database takes in the object.
        for (let b = 0; b < n; b++) {
          const batch = Array.from({ length: 500 }, (_, i) => ({ name: 'page_view', type: 'page', path: '/f/' + (i % 100), userId: i % 100 === 7 ? 'subject-bench-7' : 'f' + (i % 2000), properties: { note: 'fill', i } }));
          await trail.tracking.trackBatch(batch);
        }
        const info = await trail.info();
        return Response.json({ bytes: info.bytes, events: info.tables.events });
      }
      case '/layout': {
        // The raw cost of the object's key-value API per entry size: commits
        // of 4 entries, then reads, on 256 keys.
        const out = {};
        for (const size of [4096, 4608, 5196, 16384, 65536]) {
          const value = new Uint8Array(size).fill(7);
          const commits = size > 20000 ? 200 : 1000;
          let t = ms();
          for (let i = 0; i < commits; i++) {
            this.ctx.storage.transactionSync(() => {
              for (let j = 0; j < 4; j++) this.ctx.storage.kv.put('layout:' + ((i * 4 + j) % 256), value);
            });
          }
          const putUs = ((ms() - t) * 1000) / (commits * 4);
          t = ms();
          for (let i = 0; i < commits * 4; i++) this.ctx.storage.kv.get('layout:' + (i % 256));
          const getUs = ((ms() - t) * 1000) / (commits * 4);
          out[size] = { putUs, getUs };
        }
        for (let i = 0; i < 256; i++) this.ctx.storage.kv.delete('layout:' + i);
        return Response.json(out);
      }
      case '/erase': {
        const t = ms();
        await trail.privacy.erase(url.searchParams.get('subject') ?? 'subject-bench-7', { reason: 'bench' });
        return Response.json({ ms: ms() - t, platformBytes: this.ctx.storage.sql.databaseSize });
      }
    }
    return new Response('not found', { status: 404 });
  }
}

export default {
  fetch(request, env) {
    return env.BENCH.get(env.BENCH.idFromName('bench')).fetch(request);
  },
};
`;
writeFileSync(join(dir, 'worker.js'), worker);

const modules = [
  '(name = "worker.js", esModule = embed "worker.js")',
  '(name = "usertrail", esModule = "export * from \\"usertrail/index.js\\";")',
  '(name = "usertrail/usertrail_bg.wasm", wasm = embed "usertrail/gen/usertrail_bg.wasm")',
];
const walk = (d) => {
  for (const name of readdirSync(d)) {
    const path = join(d, name);
    if (statSync(path).isDirectory()) {
      if (name !== 'node_modules') walk(path);
    } else if (name.endsWith('.js')) {
      const rel = relative(dir, path);
      modules.push(`(name = "${rel}", esModule = embed "${rel}")`);
    }
  }
};
walk(join(dir, 'usertrail'));

const port = await new Promise((done) => {
  const srv = createServer().listen(0, '127.0.0.1', () => {
    const { port } = srv.address();
    srv.close(() => done(port));
  });
});
writeFileSync(
  join(dir, 'bench.capnp'),
  `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "main", worker = .worker), (name = "disk", disk = (path = "${join(dir, 'disk')}", writable = true))],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);
const worker :Workerd.Worker = (
  modules = [
    ${modules.join(',\n    ')}
  ],
  compatibilityDate = "2026-11-01",
  durableObjectNamespaces = [(className = "Bench", uniqueKey = "usertrail-bench-edge", enableSql = true)],
  durableObjectStorage = (localDisk = "disk"),
  bindings = [(name = "BENCH", durableObjectNamespace = "Bench")],
);
`,
);
const child = spawn(join(root, 'node_modules/.bin/workerd'), ['serve', 'bench.capnp'], { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] });
const base = `http://127.0.0.1:${port}`;
try {
  for (let i = 0; ; i++) {
    try {
      await fetch(base + '/none');
      break;
    } catch (err) {
      if (i > 100 || child.exitCode !== null) throw err;
      await new Promise((r) => setTimeout(r, 100)); // waiting for workerd to listen
    }
  }
  const get = async (path) => {
    const res = await fetch(base + path);
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return res;
  };
  const result = { loop: {}, requests: {} };
  // Warm-up, then the loops, each storage twice, the better of two kept.
  for (const kind of ['memory', 'object', 'memory', 'object']) {
    const r = await (await get(`/loop?storage=${kind}`)).json();
    const prev = result.loop[kind];
    result.loop[kind] = prev ? Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Math.max(v, prev[k])])) : r;
  }
  for (const op of ['create', 'validate', 'track']) {
    for (const kind of ['memory', 'object']) {
      let next = 0;
      const t = performance.now();
      await Promise.all(
        Array.from({ length: CLIENTS }, async () => {
          while (next++ < REQUESTS) await (await get(`/${op}?storage=${kind}`)).text();
        }),
      );
      result.requests[`${op}:${kind}`] = REQUESTS / ((performance.now() - t) / 1000);
    }
  }
  result.layout = await (await get('/layout?storage=object')).json();
  // What 100,000 events take in the object, and an erasure there.
  const fill = await (await get('/fill?storage=object&n=200')).json();
  await new Promise((r) => setTimeout(r, 500)); // workerd's own commit and checkpoint
  const onDisk = (d) => readdirSync(d, { recursive: true }).reduce((sum, rel) => {
    const s = statSync(join(d, rel));
    return s.isDirectory() ? sum : sum + s.size;
  }, 0);
  const disk = onDisk(join(dir, 'disk'));
  const holding = () => readdirSync(join(dir, 'disk'), { recursive: true }).filter((rel) => {
    const path = join(dir, 'disk', rel);
    return !statSync(path).isDirectory() && readFileSync(path).includes('subject-bench-7');
  });
  const before = holding().length;
  const erase = await (await get('/erase?storage=object')).json();
  // Two more erasures: the zeros reuse the space the first one took.
  const again = [];
  for (const subject of ['f8', 'f9']) {
    const e = await (await get(`/erase?storage=object&subject=${subject}`)).json();
    again.push({ ms: e.ms, platformBytes: e.platformBytes, diskBytes: onDisk(join(dir, 'disk')) });
  }
  result.storage = {
    engineBytes: fill.bytes,
    events: fill.events,
    diskBytes: disk,
    ratio: disk / fill.bytes,
    diskAfterEraseBytes: onDisk(join(dir, 'disk')),
    eraseMs: erase.ms,
    filesWithSubjectBefore: before,
    filesWithSubjectAfter: holding(),
    platformBytesAfterErase: erase.platformBytes,
    laterErasures: again,
  };

  const round = (x) => Math.round(x);
  const row = (label, m, o) => `| ${label} | ${round(o).toLocaleString('en-US')} | ${round(m).toLocaleString('en-US')} | ${((o / m) * 100).toFixed(0)}% |`;
  console.log('| inside one object | Durable Object storage | memory | DO / memory |');
  console.log('| --- | --- | --- | --- |');
  for (const [k, label] of [['createsPerSec', 'session creates/s (loop)'], ['validatesPerSec', 'session validates/s (loop)'], ['tracksPerSec', 'events tracked/s, one per call (loop)']]) {
    console.log(row(label, result.loop.memory[k], result.loop.object[k]));
  }
  for (const op of ['create', 'validate', 'track']) {
    console.log(row(`${op}, one per HTTP request, ${CLIENTS} clients (requests/s)`, result.requests[`${op}:memory`], result.requests[`${op}:object`]));
  }
  console.log('\n| entry size | put, µs per entry (4 per transaction) | get, µs | put, µs per KiB |');
  console.log('| --- | --- | --- | --- |');
  for (const [size, { putUs, getUs }] of Object.entries(result.layout)) {
    console.log(`| ${Number(size).toLocaleString('en-US')} B | ${putUs.toFixed(1)} | ${getUs.toFixed(1)} | ${(putUs / (size / 1024)).toFixed(2)} |`);
  }
  const mb = (b) => (b / 1e6).toFixed(1) + ' MB';
  console.log(`\n${result.storage.events.toLocaleString('en-US')} events: engine database ${mb(result.storage.engineBytes)}, workerd's files for the object ${mb(result.storage.diskBytes)} (${result.storage.ratio.toFixed(2)}x); an erasure there took ${round(result.storage.eraseMs)} ms, after which the files take ${mb(result.storage.diskAfterEraseBytes)}; files holding the erased subject's id: ${result.storage.filesWithSubjectBefore} before, ${result.storage.filesWithSubjectAfter.length} after; the platform's databaseSize after it ${mb(result.storage.platformBytesAfterErase)}`);
  for (const e of result.storage.laterErasures) console.log(`a later erasure: ${round(e.ms)} ms, files ${mb(e.diskBytes)}, databaseSize ${mb(e.platformBytes)}`);
  mkdirSync(join(root, 'target/bench'), { recursive: true });
  writeFileSync(join(root, 'target/bench/edge.json'), JSON.stringify(result, null, 2));
} finally {
  child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
