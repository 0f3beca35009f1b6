// Middleware half of `./build.sh bench`: the same Express app with
// usertrail/middleware and with express-session (its default MemoryStore),
// 10,000 requests at 50 concurrency on loopback, each reading and writing
// the session. Both run in this process, one after the other.
// Usage: node bench/middleware.mjs <bench pkg usertrail.js>
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';

import express from 'express';
import session from 'express-session';

import { expressSession } from '../pkg/middleware.js';

const [pkgFile] = process.argv.slice(2);
const { UserTrail, initSync } = await import(pathToFileURL(resolve(pkgFile)));
initSync({ module: readFileSync(resolve(pkgFile, '..', 'usertrail_bg.wasm')) });

const REQUESTS = 10_000;
const CONCURRENCY = 50;

function app(middleware, read, write) {
  const a = express();
  a.use(middleware);
  a.get('/', async (req, res) => {
    await write(req, ((await read(req)) ?? 0) + 1);
    res.json({ n: await read(req) });
  });
  return a;
}

async function run(name, handler) {
  const server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${server.address().port}/`;
  const latencies = [];
  let errors = 0;
  const worker = async (count) => {
    let cookie;
    for (let i = 0; i < count; i++) {
      const t = performance.now();
      const res = await fetch(url, { headers: cookie ? { cookie } : {} });
      const set = res.headers.getSetCookie()[0];
      if (set) cookie = set.split(';')[0];
      if (!res.ok) errors++;
      await res.arrayBuffer();
      latencies.push(performance.now() - t);
    }
  };
  // One warm-up pass, then the measured one.
  await Promise.all(Array.from({ length: CONCURRENCY }, () => worker(10)));
  latencies.length = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, () => worker(REQUESTS / CONCURRENCY)));
  const seconds = (performance.now() - t0) / 1000;
  server.close();
  latencies.sort((a, b) => a - b);
  return {
    app: name,
    'requests/s': Math.round(latencies.length / seconds),
    'p50 ms': +latencies[Math.floor(latencies.length * 0.5)].toFixed(2),
    'p99 ms': +latencies[Math.floor(latencies.length * 0.99)].toFixed(2),
    errors,
  };
}

const trail = await UserTrail.open();
const oursApp = app(expressSession(trail, { secure: false }), (req) => req.session.get('n'), (req, n) => req.session.set('n', n));
const theirsApp = app(
  session({ secret: 'bench', resave: false, saveUninitialized: false }),
  (req) => req.session.n,
  (req, n) => { req.session.n = n; },
);
// Each app runs twice, alternating, and the second round is reported: the
// first warms the JIT for the HTTP stack both share.
const OURS = 'express + usertrail/middleware (wasm, memory)';
const THEIRS = 'express + express-session (MemoryStore)';
await run(OURS, oursApp);
await run(THEIRS, theirsApp);
const ours = await run(OURS, oursApp);
const theirs = await run(THEIRS, theirsApp);
console.log(`middleware: ${REQUESTS.toLocaleString('en-US')} requests at ${CONCURRENCY} concurrency on loopback, each reading and writing its session`);
console.table([ours, theirs]);
console.log(
  `ratio usertrail / express-session: ${(ours['requests/s'] / theirs['requests/s']).toFixed(2)}× the throughput, ` +
    `${(ours['p99 ms'] / theirs['p99 ms']).toFixed(2)}× the p99`,
);
await trail.close();
