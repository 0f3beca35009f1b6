// Rights across a deployment (issue 25): the time from `privacy.erase`
// returning on one app process to every place having applied it, over 100
// erasures, with three app processes (each on its own SQLite file, the
// package's follow timer at its default 250 ms, and at 100 ms) on one Redis.
// Also the cost of the choice between rewriting Redis's persistence and
// crypto-shredding: BGREWRITEAOF time at the dataset sizes measured.
// `node bench/rights.mjs pkg/index.js` after `./build.sh build`; JSON in
// target/bench/rights.json.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from 'redis';

import { RedisServer } from '../tests/js/redis-server.mjs';

const [pkg = 'pkg/index.js'] = process.argv.slice(2);
const pkgDir = resolve(dirname(pkg));
const { rewritePersistence } = await import(join(pkgDir, 'redis.js'));
const ERASURES = Number(process.env.RIGHTS_ERASURES ?? 100);
const app = fileURLToPath(new URL('../tests/js/rights-app.mjs', import.meta.url));

async function start(args) {
  const child = spawn(process.execPath, [app, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, USERTRAIL_PKG: pkgDir } });
  let out = '';
  for await (const chunk of child.stdout) {
    out += chunk;
    const m = out.match(/ready (\d+)/);
    if (m) {
      const port = Number(m[1]);
      const call = async (path, ...a) => {
        const res = await fetch(`http://127.0.0.1:${port}/call`, { method: 'POST', body: JSON.stringify({ path, args: a }) });
        const body = await res.json();
        if (body.error) throw new Error(`${path}: ${body.error.message}`);
        return body.ok;
      };
      return { child, call };
    }
  }
  throw new Error('an app process exited before it was ready');
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

async function run(followMs) {
  const redis = await RedisServer.start(['--appendfsync', 'everysec']);
  const dir = mkdtempSync(join(tmpdir(), 'ut-rights-bench-'));
  const prefix = `rb${followMs}`;
  const apps = [];
  for (const name of ['a', 'b', 'c']) apps.push(await start([redis.url, prefix, join(dir, `${name}.db`), '4', String(followMs)]));
  // Each subject has events on every process and a preference.
  for (let i = 0; i < ERASURES; i++) {
    for (const [n, a] of apps.entries()) {
      await a.call('tracking.trackBatch', [0, 1, 2].map((k) => ({ name: `e${k}`, userId: `subject-${i}`, properties: { at: n } })), { partial: false });
    }
    await apps[0].call('prefs.set', `subject-${i}`, 'appearance.theme', 'dark');
  }
  const times = [];
  const erase = [];
  for (let i = 0; i < ERASURES; i++) {
    const t0 = performance.now();
    const report = await apps[i % 3].call('privacy.erase', `subject-${i}`, { reason: 'bench' });
    const returned = performance.now();
    erase.push(returned - t0);
    for (;;) {
      const r = await apps[i % 3].call('privacy.receipt', report.rights.id);
      if (r.complete) break;
      await new Promise((res) => setTimeout(res, 2));
    }
    times.push(performance.now() - returned);
  }
  for (const a of apps) {
    a.child.kill('SIGTERM');
    await new Promise((r) => a.child.once('exit', r));
  }
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
  return {
    followMs,
    erasures: ERASURES,
    eraseCallMs: { p50: pct(erase, 50), p99: pct(erase, 99) },
    toEveryPlaceMs: { p50: pct(times, 50), p99: pct(times, 99), max: Math.max(...times) },
  };
}

/** BGREWRITEAOF on a Redis holding `sessions` session-like hashes of ~400 bytes. */
async function rewriteCost(sessions) {
  const redis = await RedisServer.start(['--appendfsync', 'everysec']);
  const client = await createClient({ url: redis.url }).on('error', () => {}).connect();
  const batch = 2000;
  for (let i = 0; i < sessions; i += batch) {
    const multi = client.multi();
    for (let j = i; j < Math.min(sessions, i + batch); j++) {
      multi.hSet(`ut:{u${j}}:s:x`, { f: 'ut1', u: `user-${j}`, ip: '203.0.0.0', br: 'Firefox', os: 'Linux', d: 'x'.repeat(300) });
    }
    await multi.exec();
  }
  const info = await client.info('memory');
  const used = Number(/used_memory:(\d+)/.exec(info)[1]);
  const { ms } = await rewritePersistence(client);
  await client.quit();
  await redis.stop();
  return { keys: sessions, usedMemoryMB: +(used / 1e6).toFixed(1), rewriteMs: ms };
}

const results = { runs: [], rewrite: [] };
for (const followMs of [250, 100]) {
  const r = await run(followMs);
  results.runs.push(r);
  console.log(
    `follow every ${followMs} ms: erase returns in p50 ${r.eraseCallMs.p50.toFixed(1)} ms; ` +
      `every place applied ${r.toEveryPlaceMs.p50.toFixed(0)} ms later (p50), ${r.toEveryPlaceMs.p99.toFixed(0)} ms (p99), ` +
      `over ${r.erasures} erasures, 3 app processes`,
  );
}
for (const n of [100_000, 1_000_000]) {
  const r = await rewriteCost(n);
  results.rewrite.push(r);
  console.log(`BGREWRITEAOF with ${n.toLocaleString('en')} keys (${r.usedMemoryMB} MB): ${r.rewriteMs} ms`);
}
mkdirSync('target/bench', { recursive: true });
writeFileSync('target/bench/rights.json', JSON.stringify(results, null, 2));
