// The shared-store half of `./build.sh bench`, on one real Redis started
// here (127.0.0.1, AOF with appendfsync everysec, as a production Redis):
// 1. the same Express app behind 3 server processes, each request reading
//    and writing its session, with usertrail/middleware + usertrail/redis
//    and with express-session + connect-redis; clients hop between the 3
//    processes; requests/s and p99, measured side by side (each twice,
//    alternating; the second round reported);
// 2. sessions.validate and prefs.getAll through Redis from one process:
//    per second, and round trips per call from Redis's own INFO
//    commandstats.
// Usage: node bench/redis.mjs <pkg/index.js>
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';

import { createClient } from 'redis';

import { RedisServer } from '../tests/js/redis-server.mjs';

const [pkg] = process.argv.slice(2);
const { UserTrail } = await import(pathToFileURL(resolve(pkg)));
const { redisStore } = await import(pathToFileURL(resolve(pkg, '..', 'redis.js')));

const PROCESSES = 3;
const CONCURRENCY = 48;
const REQUESTS = 12_000;
const VALIDATES = 20_000;
const IN_FLIGHT = 32;

const redis = await RedisServer.start(['--appendfsync', 'everysec']);
const cli = (...args) => execFileSync('redis-cli', ['-p', String(redis.port), ...args]).toString();

async function startApps(kind) {
  const apps = [];
  for (let i = 0; i < PROCESSES; i++) {
    const child = spawn(process.execPath, [fileURLToPath(new URL('./redis-app.mjs', import.meta.url)), kind, redis.url, pkg], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const port = await new Promise((res, rej) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        const m = out.match(/listening (\d+)/);
        if (m) res(Number(m[1]));
      });
      child.once('exit', (c) => rej(new Error(`${kind} app exited ${c}`)));
    });
    apps.push({ child, url: `http://127.0.0.1:${port}/` });
  }
  return apps;
}

/** CPU seconds a process used so far (user + system), from /proc. */
function cpuOf(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks
}
const redisCpu = () => {
  const info = cli('info', 'cpu');
  return Number(info.match(/used_cpu_user:([\d.]+)/)[1]) + Number(info.match(/used_cpu_sys:([\d.]+)/)[1]);
};

async function load(name, apps, requests) {
  const cpu0 = apps.map((a) => cpuOf(a.child.pid));
  const redis0 = redisCpu();
  const latencies = [];
  let errors = 0;
  let wrong = 0;
  const client = async (c, count) => {
    let cookie;
    for (let i = 0; i < count; i++) {
      const app = apps[(c + i) % apps.length]; // every request on another process
      const t = performance.now();
      const res = await fetch(app.url, { headers: cookie ? { cookie } : {} });
      const set = res.headers.getSetCookie()[0];
      if (set) cookie = set.split(';')[0];
      if (!res.ok) errors++;
      const body = await res.json().catch(() => ({}));
      if (body.n !== i + 1) wrong++;
      latencies.push(performance.now() - t);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, c) => client(c, requests / CONCURRENCY)));
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  const appCpu = apps.reduce((sum, a, i) => sum + cpuOf(a.child.pid) - cpu0[i], 0);
  return {
    app: name,
    'app CPU µs/req': Math.round((appCpu / latencies.length) * 1e6),
    'Redis CPU µs/req': Math.round(((redisCpu() - redis0) / latencies.length) * 1e6),
    'requests/s': Math.round(latencies.length / seconds),
    'p50 ms': +latencies[Math.floor(latencies.length * 0.5)].toFixed(2),
    'p99 ms': +latencies[Math.floor(latencies.length * 0.99)].toFixed(2),
    errors,
    'lost updates': wrong,
  };
}

const OURS = `express + usertrail/middleware + usertrail/redis, ${PROCESSES} processes`;
const THEIRS = `express + express-session + connect-redis, ${PROCESSES} processes`;
const results = {};
for (const [kind, name] of [['ours', OURS], ['theirs', THEIRS], ['ours', OURS], ['theirs', THEIRS]]) {
  const apps = await startApps(kind);
  await load(name, apps, CONCURRENCY * 10); // warm-up
  results[name] = await load(name, apps, REQUESTS);
  for (const a of apps) a.child.kill('SIGKILL');
}
console.log(
  `shared sessions: ${REQUESTS.toLocaleString('en-US')} requests at ${CONCURRENCY} concurrency, each on another of ${PROCESSES} ` +
    'processes than the last, each reading and writing its session, one Redis (AOF, everysec), 2 cores for everything',
);
console.table(Object.values(results));
const ours = results[OURS];
const theirs = results[THEIRS];
console.log(
  `ratio usertrail / express-session+connect-redis: ${(ours['requests/s'] / theirs['requests/s']).toFixed(2)}× the throughput, ` +
    `${(ours['p99 ms'] / theirs['p99 ms']).toFixed(2)}× the p99`,
);

// 2. One process, calls straight through the engine.
const client = await createClient({ url: redis.url }).on('error', () => {}).connect();
const trail = await UserTrail.open({ shared: redisStore(client, { prefix: 'calls' }) });
const tokens = [];
for (let i = 0; i < 1000; i++) tokens.push((await trail.sessions.create({ userId: `user-${i}` })).token);
for (let i = 0; i < 41; i++) {
  const key = `bench.option_${String(i).padStart(2, '0')}`;
  await trail.prefs.define({ key, category: `bench${i % 4}`, type: 'number', default: 0, min: 0, max: 1000 });
  await trail.prefs.set('alice', key, i * 10);
}
await trail.prefs.set('alice', 'appearance.theme', 'dark');

function scriptCalls() {
  const stats = cli('info', 'commandstats');
  let n = 0;
  for (const cmd of ['evalsha', 'eval']) n += Number(stats.match(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`))?.[1] ?? 0);
  return n;
}

async function measure(name, count, call) {
  // Warm (scripts loaded), then counted from zero.
  await call(0);
  cli('config', 'resetstat');
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < count) await call(next++);
    }),
  );
  const ms = performance.now() - t0;
  const trips = scriptCalls();
  return {
    call: name,
    calls: count,
    'per second': Math.round((count / ms) * 1000),
    'round trips per call (INFO commandstats)': +(trips / count).toFixed(3),
  };
}

const rows = [
  await measure(`sessions.validate (${IN_FLIGHT} in flight)`, VALIDATES, async (i) => {
    if (!(await trail.sessions.validate(tokens[i % tokens.length]))) throw new Error('invalid');
  }),
  await measure(`prefs.getAll, 50 preferences (${IN_FLIGHT} in flight)`, VALIDATES, async () => {
    if ((await trail.prefs.getAll('alice')).length !== 50) throw new Error('not 50');
  }),
];
console.log('through Redis from one process (the clock does not move, so no validate is due a touch):');
console.table(rows);
await trail.close();
await client.quit();
await redis.stop();
